"""Checks of option values shared by the commands, run before any work or any output is made.

Each raises a :mod:`csip.base.errors` type whose message names the option and the value, so that
:mod:`csip.commands.failures` can print it in one line with exit code 2.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import BadOption, UnwritableOutput


def is_integer(value: Any) -> bool:
    """An ``int`` (or a numpy integer), not a ``bool``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An ``int`` or ``float``, not a ``bool`` (whose JSON is ``true``/``false``). NaN and the
    infinities are numbers here: a geometry value that is not finite skips only its item, where
    the adapter uses it (:func:`csip.data.common.clip_box`), as COCO's polygons do."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_positive_finite(value: float, option: str) -> float:
    """``value`` if it is a finite number > 0 (a learning rate, a temperature), else :class:`BadOption`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise BadOption(f"{option} {value!r}: not a number") from None
    if not math.isfinite(v) or v <= 0:
        raise BadOption(f"{option} {value!r}: must be a finite number > 0")
    return v


def check_device(name: str | None, option: str = "--device") -> str | None:
    """``name`` if torch can run on it here: ``None`` (the default), ``cpu``, ``cuda`` or ``cuda:N``
    with CUDA available and N < the device count. Else :class:`BadOption` saying why."""
    if name is None:
        return None
    import torch  # optional (the ml extra) and slow; csip precompute imports this module

    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise BadOption(f"{option} {name!r}: unknown device; use cpu, cuda or cuda:N") from None
    if dev.type == "cpu":
        return name
    if dev.type != "cuda":
        raise BadOption(f"{option} {name!r}: unsupported device type {dev.type!r}; use cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        why = "this torch has no CUDA support" if torch.version.cuda is None else "no CUDA device is visible"
        raise BadOption(f"{option} {name!r}: CUDA is not available here ({why}); use --device cpu")
    n = torch.cuda.device_count()
    if dev.index is not None and dev.index >= n:
        raise BadOption(f"{option} {name!r}: there are only {n} CUDA device(s) (cuda:0..cuda:{n - 1})")
    return name


def default_device() -> str:
    """``"cuda"`` when torch sees a CUDA device, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def write_probe(directory: str | os.PathLike) -> None:
    """Create and remove a file in ``directory``: the ``OSError`` of a place csip cannot write,
    raised before any work rather than after it. Nothing is left behind."""
    fd, probe = tempfile.mkstemp(prefix=".csip-write-probe-", dir=directory)
    os.close(fd)
    os.unlink(probe)


def check_writable_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Create ``path`` (and its parents) if needed and check that a file can be written in it;
    :class:`UnwritableOutput` naming the option and the OS's reason otherwise. Nothing is left
    behind by the probe."""
    p = Path(path)
    try:
        if p.exists() and not p.is_dir():
            raise UnwritableOutput(f"{option} {p}: exists and is not a directory")
        p.mkdir(parents=True, exist_ok=True)
        write_probe(p)
    except UnwritableOutput:
        raise
    except OSError as exc:
        raise UnwritableOutput(f"{option} {p}: cannot write there ({exc.strerror or exc})") from None
    return p
