"""Typed reads from the records of an annotation file, with errors that say where.

A dataset's JSON is read into plain dicts and lists; an adapter that indexes them directly
fails on a missing key or a value of the wrong type with a bare ``KeyError: 'url'``, or worse,
goes on with a wrong value: ``"20" + "180"`` is ``"20180"``, ``bool("false")`` is ``True``.
:class:`Records` reads each value with the type the adapter needs and raises
:class:`~csip.base.errors.BadFile` naming the file, the record's place in it (``[3].annotations[0]
.subject``) and the key, which ``csip precompute`` prints as one line with exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..base.checks import is_integer, is_number
from ..base.errors import BadFile

_REQUIRED = object()


def _kind(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:80]


class Records:
    """The typed readers of one annotation file ``path`` (``what``: e.g. "SpatialSense annotations")."""

    def __init__(self, path: str | Path, what: str):
        self.path, self.what = Path(path), what

    def error(self, where: str, why: str) -> BadFile:
        """The :class:`BadFile` for the record at ``where`` (``""``: the whole document)."""
        return BadFile(f"{self.what} {self.path}: {where or 'the document'} {why}")

    def obj(self, value: Any, where: str) -> dict:
        """``value`` when it is a JSON object."""
        if not isinstance(value, dict):
            raise self.error(where, f"is {_kind(value)}, expected an object")
        return value

    def seq(self, value: Any, where: str) -> list:
        """``value`` when it is a JSON list."""
        if not isinstance(value, list):
            raise self.error(where, f"is {_kind(value)}, expected a list")
        return value

    def record(self, rec: dict, key: str, where: str) -> dict:
        """A required field that is a JSON object."""
        return self.obj(self._field(rec, key, where, lambda v: True, ""), f"{where}.{key}")

    def _field(self, rec: dict, key: str, where: str, ok: Any, expected: str, default: Any = _REQUIRED) -> Any:
        """``rec[key]`` when ``ok(rec[key])``; ``default`` when the key is missing (or holds the
        ``default`` object itself, e.g. ``null`` for a default of ``None``); else the error naming
        the key, its value and ``expected``."""
        if key not in rec:
            if default is _REQUIRED:
                raise self.error(where, f"has no {key!r}")
            return default
        v = rec[key]
        if not (default is not _REQUIRED and v is default) and not ok(v):
            raise self.error(where, f"has {key} {_kind(v)}, expected {expected}")
        return v

    def text(self, rec: dict, key: str, where: str, default: Any = _REQUIRED) -> str:
        """A string field (a missing optional one gives ``default``)."""
        return self._field(rec, key, where, lambda v: isinstance(v, str), "a string", default)

    def ident(self, rec: dict, key: str, where: str, default: Any = _REQUIRED) -> str:
        """An identifier: a string or an integer, as a string."""
        v = self._field(rec, key, where, lambda v: is_integer(v) or isinstance(v, str), "an integer or a string",
                        default)
        return v if v is default else str(v)

    def integer(self, rec: dict, key: str, where: str, minimum: int | None = None) -> int:
        """An integer field, at least ``minimum``."""
        floor = "" if minimum is None else f" >= {minimum}"
        return self._field(rec, key, where, lambda v: is_integer(v) and (minimum is None or v >= minimum),
                           f"an integer{floor}")

    def number(self, rec: dict, key: str, where: str) -> float:
        """A number field (:func:`is_number`)."""
        return float(self._field(rec, key, where, is_number, "a number"))

    def flag(self, rec: dict, key: str, where: str, default: bool) -> bool:
        """A JSON ``true``/``false`` field (``default`` when missing)."""
        return self._field(rec, key, where, lambda v: isinstance(v, bool), "true or false", default)

    def box(self, rec: dict, key: str, where: str) -> tuple[float, float, float, float]:
        """A list of four numbers (:func:`is_number`), as floats in the file's order."""
        v = self._field(rec, key, where, lambda v: isinstance(v, list) and len(v) == 4 and all(map(is_number, v)),
                        "a list of 4 numbers")
        return tuple(float(x) for x in v)  # type: ignore[return-value]

__all__ = ["Records", "is_integer", "is_number"]
