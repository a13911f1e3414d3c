"""Checked option values for the dataset adapters (``-O key=value`` on the command line).

``-O`` values arrive parsed as JSON where they are JSON (``-O n=5``, ``-O flag=false``) and as
strings otherwise, so ``-O positives_only=False`` is the string ``"False"``, which ``bool()``
reads as true; ``int(float("inf"))`` raises ``OverflowError``; ``int(64.9)`` quietly gives 64.
These readers accept what a person means and refuse the rest with a ``ValueError`` that names
the option (``csip precompute`` prints it in one line, exit code 2).
"""

from __future__ import annotations

import math
from typing import Any

from ..base.checks import is_integer

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def option_bool(value: Any, name: str) -> bool:
    """``True``/``False``, ``1``/``0``, or the strings true/false, yes/no, on/off, 1/0 (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"option {name}={value!r}: expected true or false")


def option_int(value: Any, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """An integer (also an integral float or a numeric string) in ``[lo, hi]``."""
    v: Any = value
    if isinstance(v, str):
        try:
            v = float(v.strip())
        except ValueError:
            v = None
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v = int(v)
    if not is_integer(v):
        raise ValueError(f"option {name}={value!r}: expected an integer")
    _check_range(v, value, name, lo, hi)
    return v


def option_float(value: Any, name: str, lo: float | None = None, hi: float | None = None) -> float:
    """A finite number (also a numeric string) in ``[lo, hi]``."""
    try:
        v = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v):
        raise ValueError(f"option {name}={value!r}: expected a finite number")
    _check_range(v, value, name, lo, hi)
    return v


def _check_range(v: float, value: Any, name: str, lo: float | None, hi: float | None) -> None:
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        bounds = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        raise ValueError(f"option {name}={value!r}: must lie in {bounds}")


__all__ = ["option_bool", "option_float", "option_int"]
