"""The checkpoint format of training runs (the trained encoder's API is :mod:`csip.models.encoder`).

A checkpoint is one ``torch.save`` file holding only tensors and plain Python types, so that it
loads with ``torch.load(weights_only=True)`` (no pickled code runs on load):

=================  ==========================================================================
key                content
=================  ==========================================================================
``format``         ``"csip-checkpoint"``; ``version``: :data:`VERSION`
``model_config``   plain dict for :func:`csip.models.build_model`
``train_config``   the run's options (plain dict)
``data``           what the model was trained on: cache path, banner shape (R, K), image size
``model``          ``state_dict`` of the unwrapped model (no ``module.``/``_orig_mod.`` prefixes)
``optimizer``      AdamW ``state_dict``; ``scheduler``: LR scheduler ``state_dict``
``scaler``         GradScaler ``state_dict`` or None (bf16 autocast needs none)
``epoch``          epoch in progress; ``step_in_epoch``: batches of it already consumed
``step``           global optimiser steps done
``rng``            python / numpy / torch / CUDA RNG states, as tensors and plain types
=================  ==========================================================================

Data order and augmentation are functions of (seed, epoch, step), so those counters plus the
RNG states make a resumed run repeat the uninterrupted one exactly.

Files are written atomically (temporary file in the same directory, fsync, ``os.replace``): a
run killed while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..base.errors import BadFile
from ..base.files import atomic_write
from ..base.weights_io import torch_load

FORMAT = "csip-checkpoint"
VERSION = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically with ``torch.save``.

    Saved through a Python file object, not a path: torch's own file writer reports a full disk
    as "unexpected pos N vs M" (a ``RuntimeError``), where Python's raises the ENOSPC/EDQUOT
    ``OSError`` that :func:`~csip.base.files.atomic_write` turns into one line naming ``path``
    (its temporary file removed, the previous ``path`` intact)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            torch.save(state, f)

    return atomic_write(path, write)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` and check its format.

    ``mmap``: map the tensors' storage from the file instead of reading it (for a caller that
    needs only the checkpoint's plain records, such as its ``train_config``)."""

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    state = torch_load(path, map_location, "checkpoint", mmap=mmap)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise BadFile(f"{path} is not a csip checkpoint (no format {FORMAT!r})")
    if state.get("version") != VERSION:
        raise BadFile(f"{path}: checkpoint version {state.get('version')} (this csip reads {VERSION})")
    return state


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


__all__ = ["FORMAT", "VERSION", "load_checkpoint", "save_checkpoint", "unwrap"]
