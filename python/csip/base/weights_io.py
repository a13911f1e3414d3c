"""Reading weight files (torch checkpoints, ``.safetensors``) with errors that name the file.

``torch.load`` and ``safetensors`` fail on a truncated, empty or foreign file with messages such
as "PytorchStreamReader failed reading zip archive", "cannot load it: 101" or "Error while
deserializing header", which do not say which file is at fault or what to do. These readers
raise :class:`~csip.base.errors.BadFile` (a ``ValueError``) with the path, the file's size and the
library's own first line instead. Loading stays ``weights_only`` (no pickled code runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from .errors import BadFile


def _why(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _check_size(path: Path, what: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    if path.stat().st_size == 0:
        raise BadFile(f"{path}: the {what} is empty (0 bytes; a write that never finished?)")


def torch_load(path: str | Path, map_location: Any = "cpu", what: str = "checkpoint", mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True, mmap=mmap)``; :class:`BadFile` naming ``path`` when
    the file is empty, truncated, not a torch file or holds objects weights-only loading refuses."""
    path = Path(path)
    _check_size(path, what)
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except (RuntimeError, ValueError, EOFError, OSError, KeyError, AttributeError, TypeError) as exc:
        raise BadFile(f"{path}: cannot read the {what} ({path.stat().st_size} bytes): it is truncated, "
                      f"damaged or not a torch file [{_why(exc)}]") from None
    except Exception as exc:  # pickle.UnpicklingError and other load errors  # noqa: BLE001
        raise BadFile(f"{path}: cannot read the {what} ({path.stat().st_size} bytes): not a torch file "
                      f"of tensors [{_why(exc)}]") from None


def safetensors_load(path: str | Path, what: str = "weights file") -> dict[str, torch.Tensor]:
    """``safetensors.torch.load_file(path)``; :class:`BadFile` naming ``path`` for an empty file
    or a corrupt header or body."""

    path = Path(path)
    _check_size(path, what)
    try:
        return load_file(str(path))
    except Exception as exc:  # SafetensorError is not exported under a stable name  # noqa: BLE001
        raise BadFile(f"{path}: cannot read the {what} ({path.stat().st_size} bytes): corrupt or not a "
                      f".safetensors file [{_why(exc)}]") from None
