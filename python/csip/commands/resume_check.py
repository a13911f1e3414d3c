"""``csip pretrain --resume``: refuse options that contradict the run being resumed.

``--resume`` continues a run with the options stored in its checkpoint
(:func:`csip.train.resume.resumed_config`). An option typed on the command line (not a default)
that defines the run (the model, the epochs, the learning rate, ...: the fields of
:class:`~csip.train.TrainConfig` declared ``defines_run``) and differs from the stored value
would silently be ignored; instead the resume is refused with the list of differences. Options
that do not change what is computed (device, workers, logging, checkpoint frequency) may differ
freely; those not given keep the run's values (the fields declared ``kept_on_resume``,
:func:`kept_options`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import click
from click.core import ParameterSource

from ..base.options import flag_of
from ..train.config import TrainConfig, option_value, param_of, resolved_caches


def _fields(key: str) -> list[dataclasses.Field]:
    """The TrainConfig fields with an option flag and a true ``key`` in their metadata."""
    return [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("flag") and f.metadata.get(key)]


def _typed(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def kept_options(ctx: click.Context, stored: dict[str, Any]) -> dict[str, Any]:
    """``{parameter: the run's value}`` of the ``kept_on_resume`` options not given on this
    command line, from the checkpoint's ``train_config`` ``stored``."""
    return {param_of(f): stored[f.name] for f in _fields("kept_on_resume")
            if f.name in stored and not _typed(ctx, param_of(f))}


def resume_conflicts(ctx: click.Context, stored: dict[str, Any]) -> list[str]:
    """``"--option: VALUE here, STORED in the run"`` for each typed run-defining option (and
    ``--cache``) whose value differs from the checkpoint's ``train_config`` ``stored``."""
    out = []
    checked = [f for f in dataclasses.fields(TrainConfig) if f.name == "cache"] + _fields("defines_run")
    for f in checked:
        name = param_of(f)
        if name not in ctx.params or not _typed(ctx, name) or f.name not in stored:
            continue
        given, old = option_value(f, ctx.params[name]), stored[f.name]
        if f.name == "cache":
            given, old = (None if v is None else resolved_caches(v) for v in (given, old))
        if given != old:
            out.append(f"{flag_of(f)}: {ctx.params[name]!r} here, {stored[f.name]!r} in the run")
    return out
