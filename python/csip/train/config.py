"""The configuration of one training run: :class:`TrainConfig`, the one source of its defaults.

Each field carries its option metadata (:func:`csip.base.options.option`): the flag of ``csip
pretrain`` that sets it, its bounds, whether it defines the run (``--resume`` takes it from
the checkpoint, and it is part of the run's settings fingerprint) and whether a resume keeps
the run's value unless the option is given again. :meth:`TrainConfig.validate` checks every
value against them; :meth:`TrainConfig.from_options` builds a config from ``csip pretrain``'s
parsed options.

Kept free of torch so that ``csip pretrain`` can read its options' defaults from it without
slowing the command line's start-up; :mod:`csip.train` re-exports it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base.checks import check_device
from ..base.errors import BadOption
from ..base.options import check_fields, fields_where, option
from ..models.registry import TABLE1_MODELS
from .objectives import OBJECTIVES, all_selectable, selectable

#: Defaults of the built-in synthetic run (no ``--cache``): sized to finish in a few minutes
#: on two CPU cores (precompute + training) while still learning something.
SYNTHETIC_DEFAULTS = {"n": 1000, "image_size": 64, "epochs": 3, "batch_size": 64}

#: Val metrics ``TrainConfig.select`` accepts for some objective (their meaning:
#: :mod:`csip.train.selection`; which objective measures which: :mod:`csip.train.objectives`).
SELECTABLE = all_selectable()


def _path_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _caches(value: Any) -> str | tuple[str, ...] | None:
    """``--cache`` (given once, several times or not at all) as the field holds it: None, one
    path string, or a tuple of them (each a directory, a glob or ``@LIST``)."""
    if value is None or isinstance(value, (str, Path)):
        return _path_or_none(value)
    items = tuple(str(v) for v in value)
    return None if not items else items[0] if len(items) == 1 else items


@dataclass
class TrainConfig:
    """Everything a training run depends on (recorded in ``params.json`` and checkpoints)."""

    out: str = option(flag="--out")
    # None: the synthetic scenes; several (a tuple, or a glob, or "@LIST"): their union
    cache: str | tuple[str, ...] | None = option(None, flag="--cache", from_option=_caches)
    split: str | None = option("train", flag="--split", choices=("train", "val", "test"), defines_run=True,
                               from_option=lambda v: None if v == "all" else v)  # None: every item
    model: str = option("resnet18", flag="--model", choices=tuple(TABLE1_MODELS), defines_run=True)
    supervised: bool = option(False, flag="--supervised", defines_run=True)
    # None: "supervised" with --supervised, else "csip"; only another objective is recorded by name,
    # so that the fingerprints of runs made before objectives had names stay as they were
    objective: str | None = option(None, flag="--objective", defines_run=True,  # checked by validate: the
                                   recorded_unless=(None,))  # registry may grow at run time
    # train on the labelled items only; None: so for an objective that reads labels on several
    # caches (a labelled and an unlabelled one), else every item, as runs always did
    labelled_only: bool | None = option(None, flag="--labelled-only", defines_run=True, recorded_unless=(None, False))
    epochs: int = option(20, flag="--epochs", integer=True, minimum=1, defines_run=True)
    batch_size: int = option(256, flag="--batch-size", integer=True, minimum=2, defines_run=True)  # global
    lr: float = option(5e-4, flag="--lr", positive=True, defines_run=True)
    weight_decay: float = option(0.1, flag="--weight-decay", number=True, minimum=0.0, defines_run=True)
    warmup: float = option(0.05, flag="--warmup", number=True, minimum=0.0,
                           defines_run=True)  # < 1: fraction of all steps; >= 1: number of steps
    min_lr_ratio: float = option(0.0, defines_run=True)  # cosine floor, as a fraction of lr
    seed: int = option(0, flag="--seed", integer=True, minimum=0, defines_run=True)
    # cache: reader threads, else DataLoader workers; None: default (csip.train.data.batch_feed)
    workers: int | None = option(None, flag="--workers", integer=True, minimum=0, kept_on_resume=True)
    device: str | None = option(None, flag="--device", kept_on_resume=True)  # None: cuda if available
    compile: bool = option(False, flag="--compile", param="compile_", kept_on_resume=True)
    amp: bool = option(True, flag="--amp", defines_run=True)  # bf16 autocast (CUDA only)
    channels_last: bool = option(True, defines_run=True)  # CUDA only
    embed_dim: int = option(128, flag="--embed-dim", integer=True, minimum=2, defines_run=True)
    feature_dim: int = option(256, flag="--feature-dim", integer=True, minimum=2, defines_run=True)
    # ResNet18 stem channels (encoders with a ResNet); 64 = torchvision's
    width: int = option(64, flag="--width", integer=True, minimum=1, defines_run=True)
    spatial_channels: int = option(32, integer=True, minimum=1, defines_run=True)
    logit_scale: float = option(1 / 0.07, flag="--logit-scale", positive=True, defines_run=True)
    learn_logit_scale: bool = option(True, flag="--fixed-logit-scale", param="fixed_logit_scale",
                                     from_option=lambda fixed: not fixed, defines_run=True)
    label_smoothing: float = option(0.3, flag="--label-smoothing", number=True, minimum=0.0, below=1.0,
                                    defines_run=True)
    flip: bool = option(True, flag="--flip", defines_run=True)  # random horizontal flip with the banner's mirror
    pretrained: str | None = option(None, flag="--pretrained", from_option=_path_or_none,
                                    defines_run=True)  # local ImageNet ResNet18 weights
    # steps between periodic checkpoints, besides epoch ends (0: epoch ends only)
    save_every: int = option(500, flag="--save-every", integer=True, minimum=0, kept_on_resume=True)
    log_every: int = option(10, flag="--log-every", integer=True, minimum=1, kept_on_resume=True)
    tensorboard: bool = option(False, flag="--tensorboard", kept_on_resume=True)
    resume: bool = option(False, flag="--resume")
    # stop after this many global steps (tests, benchmarks)
    max_steps: int | None = option(None, flag="--max-steps", integer=True, minimum=1, defines_run=True)
    progress: bool = option(True, flag="--progress", kept_on_resume=True)
    val_split: str | None = "val"  # evaluated at each epoch end when the cache has it (None: never)
    # val metric that picks checkpoints/best.pt (SELECTABLE; the objective's own and the retrieval ones)
    select: str | None = option(None, flag="--select", defines_run=True)  # checked by check_select
    # (~800 train items: 3 epochs of 12 steps at batch 64)
    synthetic_n: int = option(SYNTHETIC_DEFAULTS["n"], flag="--synthetic-n", integer=True, minimum=2,
                              defines_run=True)
    synthetic_image_size: int = option(SYNTHETIC_DEFAULTS["image_size"], flag="--image-size", param="image_size",
                                       integer=True, minimum=16, defines_run=True)

    @property
    def objective_name(self) -> str:
        """The registered objective this run optimises (:mod:`csip.train.objectives`)."""
        return self.objective or ("supervised" if self.supervised else "csip")

    def validate(self) -> TrainConfig:
        """:class:`~csip.base.errors.BadOption` for a value no run can use (the command line's
        ranges, an objective contradicting ``--supervised``, a device torch cannot use, a
        ``--select`` this run would never measure), before anything is written; ``self`` when
        every value is usable. A resumed run's ``--select`` is checked once the run's own
        options are known (:func:`check_select`)."""
        check_fields(self)
        if self.objective is not None and self.objective not in OBJECTIVES:
            raise BadOption(f"--objective {self.objective!r}: expected one of {', '.join(OBJECTIVES)}")
        if self.objective is not None and self.supervised and self.objective != "supervised":
            raise BadOption(f"--objective {self.objective}: contradicts --supervised")
        check_device(self.device)
        if self.select is not None and not self.resume:
            check_select(self)
        return self

    def canonical(self) -> TrainConfig:
        """The same run in its recorded form: ``objective`` None for C-SIP and supervised
        (``supervised`` says which), the name for any other objective; ``labelled_only``
        resolved (:meth:`reads_labelled_only`)."""
        cfg = self
        if cfg.objective in ("csip", "supervised"):
            cfg = dataclasses.replace(cfg, objective=None, supervised=cfg.objective == "supervised")
        if cfg.labelled_only is None:
            cfg = dataclasses.replace(cfg, labelled_only=cfg.reads_labelled_only())
        return cfg

    def reads_labelled_only(self) -> bool:
        """Whether the run trains on the labelled items only: ``labelled_only`` when set, else
        for an objective that reads labels (the supervised baseline) on several caches, whose
        unlabelled members would otherwise fill most of its batches with items it ignores."""
        if self.labelled_only is not None:
            return self.labelled_only
        if self.cache is None or not OBJECTIVES.get(self.objective_name, ("", (), False))[2]:
            return False
        from ..cache.union import expand_cache_paths  # numpy: not at import (csip --help reads this module)

        try:
            return len(expand_cache_paths(self.cache)) > 1
        except ValueError:  # a glob that matches nothing: the run fails on it when it opens its data
            return False

    @classmethod
    def from_options(cls, params: Mapping[str, Any]) -> TrainConfig:
        """The config of ``csip pretrain``'s parsed options ``params`` (click parameter name ->
        value; the options a field's metadata names with ``param``, converted by its
        ``from_option``). ``epochs`` and ``batch_size`` left out (None) take
        :data:`SYNTHETIC_DEFAULTS` without a cache, else the field defaults."""
        values = option_values(params)
        synthetic = values.get("cache") is None
        for name in ("epochs", "batch_size"):
            if values.get(name) is None:
                values[name] = SYNTHETIC_DEFAULTS[name] if synthetic else _FIELDS[name].default
        return cls(**values).canonical()


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def param_of(field: dataclasses.Field) -> str:
    """The ``csip pretrain`` parameter name of a config field."""
    return field.metadata.get("param") or field.name


def option_value(field: dataclasses.Field, value: Any) -> Any:
    """A parsed option's value as the field holds it."""
    convert = field.metadata.get("from_option")
    return convert(value) if convert is not None else value


def option_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """``{field: value}`` of the fields whose ``csip pretrain`` parameter is in ``params``."""
    return {f.name: option_value(f, params[param_of(f)]) for f in dataclasses.fields(TrainConfig)
            if f.metadata.get("flag") and param_of(f) in params}


def check_select(cfg: TrainConfig) -> None:
    """:class:`BadOption` for a ``--select`` metric the run would never measure, which would end
    the run without a ``best.pt`` and without saying why."""
    flag = f"--select {cfg.select}"
    name = cfg.objective_name
    if cfg.select not in selectable(name):
        if cfg.select not in all_selectable():
            raise BadOption(f"{flag}: expected one of {', '.join(all_selectable())}")
        from .objectives import objective_class  # the classes import torch

        measured_by = [n for n in OBJECTIVES if cfg.select in selectable(n)]
        own = [m for m in OBJECTIVES[name][1] if m != "val_loss"]
        raise BadOption(f"{flag}: only a {objective_class(measured_by[0]).described_as} run measures it (a "
                        f"{objective_class(name).described_as} run has {', '.join(own) or 'val_loss'})")
    if not cfg.val_split or cfg.split is None or cfg.split == cfg.val_split:
        raise BadOption(f"{flag}: the run has no held-out split to measure it on (--split "
                        f"{cfg.split or 'all'} trains on the {cfg.val_split or 'val'} items)")


#: Options that fix what a run computes: ``--resume`` takes them from the checkpoint, not from
#: the command line (the others — workers, device, logging, checkpoint frequency, compile —
#: are the new call's), and with the cache's identity they make a run's settings fingerprint.
RUN_DEFINING_FIELDS = fields_where(TrainConfig, "defines_run")

#: Options that do not define the run and that a resume keeps unless they are given again.
KEPT_ON_RESUME = fields_where(TrainConfig, "kept_on_resume")

#: Run-defining fields left out of the record for some values (None, False: their form in the
#: runs made before the field existed), so that those runs keep their fingerprint.
_RECORDED_UNLESS = {f.name: f.metadata["recorded_unless"] for f in dataclasses.fields(TrainConfig)
                    if f.metadata.get("recorded_unless")}


def _recorded(name: str, value: Any) -> bool:
    return not (name in _RECORDED_UNLESS and any(value is v for v in _RECORDED_UNLESS[name]))


def run_settings(cfg: TrainConfig, cache: dict[str, str] | None) -> dict[str, Any]:
    """What fixes a run's result (:func:`csip.base.fingerprint.fingerprint` of it is the run's
    fingerprint): ``{"config": the RUN_DEFINING_FIELDS of cfg, "cache": cache}``; ``cache`` is the
    data's :func:`csip.base.fingerprint.cache_identity`, None for an in-memory dataset."""
    cfg = cfg.canonical()
    config = {k: getattr(cfg, k) for k in RUN_DEFINING_FIELDS
              if _recorded(k, getattr(cfg, k))}
    return {"config": {k: str(v) if isinstance(v, Path) else v for k, v in config.items()}, "cache": cache}


def resolved_caches(caches: str | Path | tuple | list) -> list[str]:
    """One cache path or several, each resolved (a run records one as a string, several as a list)."""
    return [str(Path(c).resolve()) for c in ([caches] if isinstance(caches, (str, Path)) else caches)]


def stored_run_settings(params: dict[str, Any], asked_cache: str | tuple[str, ...] | None,
                        asked_identity: dict[str, str] | None) -> dict[str, Any]:
    """The settings of the run whose ``params.json`` is ``params``: those it recorded, or, for
    a run made before runs recorded them, those computed from its stored config. Such a run's
    cache counts as ``asked_identity`` when its path is the asked cache's (``asked_cache``), as
    it always did; else as ``{"path": its cache}``."""
    if isinstance(params.get("fingerprint_settings"), dict):
        return params["fingerprint_settings"]
    stored = params.get("config") or {}
    old = stored.get("cache")
    same = old is None or asked_cache is None or resolved_caches(old) == resolved_caches(asked_cache)
    config = {k: stored.get(k) for k in RUN_DEFINING_FIELDS
              if _recorded(k, stored.get(k))}
    return {"config": config, "cache": asked_identity if same else {"path": old}}


__all__ = ["KEPT_ON_RESUME", "RUN_DEFINING_FIELDS", "SELECTABLE", "SYNTHETIC_DEFAULTS", "TrainConfig",
           "check_select", "option_values", "param_of", "resolved_caches", "run_settings", "stored_run_settings"]
