"""Reading weight files (torch checkpoints, ``.safetensors``) with errors that name the file.

``torch.load`` and ``safetensors`` fail on a truncated, empty or foreign file with messages such
as "PytorchStreamReader failed reading zip archive", "cannot load it: 101" or "Error while
deserializing header", which do not say which file is at fault or what to do. These readers
raise :class:`~csip.base.errors.BadFile` (a ``ValueError``) with the path, the file's size and the
library's own first line instead. Loading stays ``weights_only`` (no pickled code runs).
:func:`loading_model` does the same for a model directory read by ``transformers`` (``--clip``,
``--text-encoder``): any failure to load it, a pickle-bearing ``pytorch_model.bin`` included,
is one :class:`BadFile` line naming it.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from .errors import BadFile, CsipInputError

#: Weight files a model directory may hold (transformers' names and torch's usual suffixes).
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def _why(exc: BaseException, limit: int = 200) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    first = first if len(first) <= limit else first[: limit - 3] + "..."
    return f"{type(exc).__name__}: {first}".rstrip(": ")


def _weight_files(path: Path) -> str:
    """The weight files of the model directory ``path`` with their sizes, for a message."""
    try:
        found = sorted(p for p in path.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file())
    except OSError:
        return "unreadable directory"
    return ", ".join(f"{p.name} {p.stat().st_size} bytes" for p in found) or "no weight file"


@contextlib.contextmanager
def loading_model(path: str | Path, what: str, model: str = "a model") -> Iterator[None]:
    """Within the block (``from_pretrained`` of the directory ``path``), any error of the
    libraries (a pickle-bearing or truncated ``pytorch_model.bin``, a corrupt ``.safetensors``,
    a missing or foreign ``config.json``) becomes :class:`BadFile`, one line naming ``what``
    (the option, e.g. ``--clip``), ``path``, the ``model`` expected there and its weight files;
    csip's own errors pass.
    Nothing is unpickled: transformers loads ``.bin`` files ``weights_only``."""
    try:
        yield
    except CsipInputError:
        raise
    except Exception as exc:  # every library's loading error, whatever its type  # noqa: BLE001
        path = Path(path)
        hint = (" (it holds pickled objects, which are never unpickled: save the weights as .safetensors)"
                if isinstance(exc, pickle.UnpicklingError) else "")
        raise BadFile(f"{what} {path}: cannot load {model} from it ({_weight_files(path)}){hint} "
                      f"[{_why(exc)}]") from None


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
