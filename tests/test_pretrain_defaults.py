"""``csip pretrain`` takes its options' defaults from :class:`csip.train.TrainConfig` (one source)."""

from __future__ import annotations

import dataclasses

from csip.commands.pretrain import pretrain
from csip.train.config import (
    KEPT_ON_RESUME,
    RUN_DEFINING_FIELDS,
    SYNTHETIC_DEFAULTS,
    TrainConfig,
    option_value,
    param_of,
)

#: Options named differently from their TrainConfig field.
RENAMED = {"image_size": "synthetic_image_size", "compile_": "compile"}
#: Options whose default depends on another option (--cache) and is resolved in the command.
RESOLVED = {"epochs", "batch_size"}


def test_every_option_default_is_the_config_default():
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    meta = {f.name: f for f in dataclasses.fields(TrainConfig)}
    checked = 0
    for p in pretrain.params:
        name = RENAMED.get(p.name, p.name)
        if name not in fields or name in RESOLVED or fields[name] is dataclasses.MISSING:
            continue
        default = option_value(meta[name], p.default)  # as the config holds it (--cache: () -> None)
        assert default == fields[name], f"--{p.name.replace('_', '-')}: {p.default!r} vs TrainConfig {fields[name]!r}"
        checked += 1
    assert checked >= 25  # lr, weight decay, widths, save/log frequency, synthetic sizes, ...
    assert {p.name: p.default for p in pretrain.params}["save_every"] == TrainConfig(out="").save_every == 500


def test_epochs_and_batch_default_to_the_config_or_the_synthetic_sizes():
    ps = {p.name: p for p in pretrain.params}
    assert ps["epochs"].default is None and ps["batch_size"].default is None  # resolved from --cache
    cfg = TrainConfig(out="x")
    assert (cfg.epochs, cfg.batch_size) == (20, 256)
    assert (SYNTHETIC_DEFAULTS["epochs"], SYNTHETIC_DEFAULTS["batch_size"]) == (3, 64)


def test_resume_checks_every_run_defining_option():
    """An option that fixes what a run computes, typed with another value on ``--resume``, is
    refused (csip.commands.resume_check, which reads the fields declared ``defines_run``)
    rather than silently replaced by the stored value: each such field is set by one option of
    the command, and every option of the command names a field or is one of the command's own."""
    renamed = dict(RENAMED, fixed_logit_scale="learn_logit_scale")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    params = {p.name for p in pretrain.params}
    defining = {p for p in params if renamed.get(p, p) in RUN_DEFINING_FIELDS}
    assert {param_of(fields[renamed.get(p, p)]) for p in defining} == defining  # the metadata names the option
    assert len(defining) >= 22
    assert {param_of(fields[f]) for f in KEPT_ON_RESUME} <= params
    assert params - {renamed.get(p, p) for p in params} - set(renamed) == set()
    assert {p for p in params if renamed.get(p, p) not in fields} == {"export_dir"}
