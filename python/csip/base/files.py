"""Files written so that a crash never leaves half of one (a temporary file in the same
directory, fsync, then ``os.replace`` onto the name), and strict JSON written that way."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write(path: str | Path, write) -> Path:
    """Call ``write(tmp_path)`` then move the file onto ``path`` atomically (same directory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide checkpoints from co-workers
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path



def _jsonable(obj: Any) -> Any:
    """Dict keys to strings, numpy scalars/arrays to Python, NaN to None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_ready(data: dict) -> dict:
    """``data`` as :func:`write_json` writes it (and ``json.load`` reads it back): string keys,
    lists, Python numbers, NaN as None."""
    return _jsonable(data)


def write_json(path: str | Path, data: dict) -> Path:
    """Write ``data`` as indented strict JSON, atomically (temporary file + rename)."""
    text = json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


__all__ = ["atomic_write", "json_ready", "write_json"]
