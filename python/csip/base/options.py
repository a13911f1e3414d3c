"""Config fields that carry their own option metadata, and the one check of their values.

Each field of a config dataclass (:class:`csip.train.TrainConfig`, :class:`csip.eval.EvalConfig`,
:class:`csip.study.StudyConfig`) is declared with :func:`option`, which records in the field's
``metadata``: the command-line flag that sets it, its bounds or choices, and whether it defines
a run (its value is part of the run's settings fingerprint) or is kept on resume. The tables
that used to sit beside the dataclasses (flags, minima, choices, run-defining names) are read
off the fields instead (:func:`fields_where`, :func:`flag_of`).

:func:`check_fields` checks every field of a config against its metadata and raises
:class:`~csip.base.errors.BadOption` naming the flag, the value and what was expected, exactly
as the command line refuses it; :func:`check_integer` and :func:`check_number` are the one
"integer in range" and "finite number in range" check, also for values outside configs.

This module imports nothing heavy: ``csip --help`` reads the configs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import Any

from .checks import check_positive_finite
from .errors import BadOption

_MISSING = dataclasses.MISSING


def option(default: Any = _MISSING, *, flag: str | None = None, minimum: float | None = None,
           maximum: float | None = None, below: float | None = None, choices: Iterable[Any] | None = None,
           integer: bool = False, number: bool = False, positive: bool = False, defines_run: bool = False,
           kept_on_resume: bool = False, default_factory: Callable[[], Any] | None = None,
           **metadata: Any) -> Any:
    """A dataclass field with option metadata.

    ``flag``: the command-line option (``"--lr"``), named in messages. ``integer`` (with
    ``minimum``/``maximum``): an ``int``, not a ``bool``; ``number`` (with ``minimum``,
    ``maximum`` or ``below``, an exclusive upper bound): a finite real; ``positive``: a finite
    number > 0; ``choices``: the allowed values. Each check applies to every element of a tuple
    value and lets ``None`` through (a field whose ``None`` means "the default"). ``defines_run``:
    the value fixes what a training run computes (resume takes it from the checkpoint, and it is
    part of the run's fingerprint); ``kept_on_resume``: a resume keeps the run's value unless
    the option is given again. Other keyword arguments are kept in the metadata as they are.
    """
    meta = {"flag": flag, "minimum": minimum, "maximum": maximum, "below": below,
            "choices": None if choices is None else tuple(choices), "integer": integer, "number": number,
            "positive": positive, "defines_run": defines_run, "kept_on_resume": kept_on_resume, **metadata}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def flag_of(field: dataclasses.Field) -> str:
    """The field's command-line flag, or ``--name-with-dashes`` when it has none."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def fields_where(config: Any, key: str) -> tuple[str, ...]:
    """Names of the fields of dataclass ``config`` (a class or an instance) whose metadata has a
    true ``key`` (``"defines_run"``, ``"kept_on_resume"``), in field order."""
    return tuple(f.name for f in dataclasses.fields(config) if f.metadata.get(key))


def check_integer(value: Any, flag: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` when it is an ``int`` (not a ``bool``) in ``[minimum, maximum]``, else
    :class:`BadOption` naming ``flag``: "``--epochs 0: expected an integer >= 1``"."""
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum) \
            or (maximum is not None and value > maximum):
        if minimum is not None and maximum is not None:
            want = f"an integer in [{minimum}, {maximum}]"
        elif minimum is not None:
            want = f"an integer >= {minimum}"
        elif maximum is not None:
            want = f"an integer <= {maximum}"
        else:
            want = "an integer"
        raise BadOption(f"{flag} {value!r}: expected {want}")
    return value


def check_number(value: Any, flag: str, minimum: float | None = None, maximum: float | None = None,
                 below: float | None = None) -> float:
    """``float(value)`` when it is a finite number in ``[minimum, maximum]`` (or ``[minimum,
    below)``; a missing bound is infinite), else :class:`BadOption` naming ``flag``:
    "``--label-smoothing 2.0: must be a finite number in [0.0, 1.0)``"."""
    lo = -math.inf if minimum is None else minimum
    hi, close = (below, ")") if below is not None else (math.inf if maximum is None else maximum,
                                                          ")" if maximum is None else "]")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise BadOption(f"{flag} {value!r}: not a number") from None
    if isinstance(value, bool) or not math.isfinite(v) or v < lo or (v >= hi if close == ")" else v > hi):
        raise BadOption(f"{flag} {value!r}: must be a finite number in [{float(lo)}, {float(hi)}{close}")
    return v


def check_field(field: dataclasses.Field, value: Any) -> None:
    """:class:`BadOption` when ``value`` (or an element of a tuple value) breaks the field's
    metadata; ``None`` always passes."""
    meta, flag = field.metadata, flag_of(field)
    for v in value if isinstance(value, tuple) else (value,):
        if v is None:
            continue
        if meta.get("choices") is not None and v not in meta["choices"]:
            raise BadOption(f"{flag} {v!r}: expected one of {', '.join(map(str, meta['choices']))}")
        if meta.get("integer"):
            check_integer(v, flag, meta.get("minimum"), meta.get("maximum"))
        if meta.get("number"):
            check_number(v, flag, meta.get("minimum"), meta.get("maximum"), meta.get("below"))
        if meta.get("positive"):
            check_positive_finite(v, flag)


def check_fields(config: Any) -> None:
    """Check every field of dataclass instance ``config`` against its metadata (:func:`check_field`)."""
    for field in dataclasses.fields(config):
        check_field(field, getattr(config, field.name))


__all__ = ["check_field", "check_fields", "check_integer", "check_number", "fields_where",
           "flag_of", "option"]
