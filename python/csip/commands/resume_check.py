"""``csip pretrain --resume``: refuse options that contradict the run being resumed.

``--resume`` continues a run with the options stored in its checkpoint (:func:`csip.train.resumed_config`).
An option typed on the command line (not a default) that defines the run (the model, the
epochs, the learning rate, ...) and differs from the stored value would silently be ignored;
instead the resume is refused with the list of differences. Options that do not change what
is computed (device, workers, logging, checkpoint frequency) may differ freely; those not given
keep the run's values (:func:`kept_options`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

_same_value: Callable[[Any], Any] = lambda v: v  # noqa: E731

#: ``csip pretrain`` parameter -> (TrainConfig field, typed value -> stored value): every option
#: whose field is in :data:`csip.train.config.RUN_DEFINING_FIELDS` (a test holds them together).
OPTION_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "cache": ("cache", lambda v: str(Path(v).resolve()) if v is not None else None),
    "split": ("split", lambda v: None if v == "all" else v),
    "model": ("model", _same_value),
    "supervised": ("supervised", bool),
    "epochs": ("epochs", _same_value),
    "batch_size": ("batch_size", _same_value),
    "lr": ("lr", float),
    "weight_decay": ("weight_decay", float),
    "warmup": ("warmup", float),
    "seed": ("seed", int),
    "embed_dim": ("embed_dim", int),
    "feature_dim": ("feature_dim", int),
    "logit_scale": ("logit_scale", float),
    "fixed_logit_scale": ("learn_logit_scale", lambda v: not v),
    "amp": ("amp", bool),
    "width": ("width", int),
    "select": ("select", _same_value),
    "label_smoothing": ("label_smoothing", float),
    "flip": ("flip", bool),
    "pretrained": ("pretrained", lambda v: str(v) if v is not None else None),
    "max_steps": ("max_steps", _same_value),
    "synthetic_n": ("synthetic_n", int),
    "image_size": ("synthetic_image_size", int),
}


#: ``csip pretrain`` parameter -> TrainConfig field of the options that do not define the run:
#: a resume keeps the run's value unless the option is given again (a run made with
#: ``--device cpu --save-every 1`` resumed by ``csip pretrain --out OUT --resume`` stays so).
KEPT_ON_RESUME: dict[str, str] = {
    "device": "device", "workers": "workers", "compile_": "compile", "save_every": "save_every",
    "log_every": "log_every", "tensorboard": "tensorboard", "progress": "progress",
}


def kept_options(ctx: click.Context, stored: dict[str, Any]) -> dict[str, Any]:
    """``{parameter: the run's value}`` of the :data:`KEPT_ON_RESUME` options not given on this
    command line, from the checkpoint's ``train_config`` ``stored``."""
    return {name: stored[field] for name, field in KEPT_ON_RESUME.items()
            if field in stored and not _typed(ctx, name)}


def _typed(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def resume_conflicts(ctx: click.Context, stored: dict[str, Any]) -> list[str]:
    """``"--option: VALUE here, STORED in the run"`` for each typed run-defining option whose
    value differs from the checkpoint's ``train_config`` ``stored``."""
    out = []
    for name, (field, convert) in OPTION_FIELDS.items():
        if not _typed(ctx, name) or field not in stored:
            continue
        given, old = convert(ctx.params[name]), stored[field]
        if field == "cache" and old is not None:
            old = str(Path(old).resolve())
        if given != old:
            flag = "--" + name.replace("_", "-")
            out.append(f"{flag}: {ctx.params[name]!r} here, {stored[field]!r} in the run")
    return out
