"""Checkpoints of training runs, and the trained image encoder for evaluation.

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

For evaluation, :func:`load_encoder` returns a :class:`csip.models.ImageTower` (image encoder
f_v and, for C-SIP, its projection head g_v) from a checkpoint file or from a directory written
by :func:`export_encoder` (``model.safetensors`` + ``config.json``). Use
``tower.features(batch)`` — the features before the projection head — as the frozen
representation (see :func:`encode`).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch.utils.data import DataLoader

from .errors import BadFile
from .models import ImageTower, build_image_encoder, build_model, image_tower
from .models.heads import ProjectionHead
from .weights_io import safetensors_load, torch_load

FORMAT = "csip-checkpoint"
VERSION = 1
EXPORT_WEIGHTS = "model.safetensors"
EXPORT_CONFIG = "config.json"
EXPORT_FORMAT = "csip-encoder"


# --------------------------------------------------------------------------- atomic I/O


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


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically with ``torch.save``."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


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


# --------------------------------------------------------------------------- RNG states


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy, torch (CPU) and CUDA RNG states as tensors and plain types."""
    py = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((int(py[0]), tuple(int(x) for x in py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), int(n["pos"]), int(n["has_gauss"]), float(n["cached_gaussian"]))
    )
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available():
        cuda = [s.cpu() for s in state["cuda"]]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


# --------------------------------------------------------------------------- models


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def _tower_from(model_config: dict, model_state: dict[str, torch.Tensor], map_location):

    model = build_model(model_config)
    model.load_state_dict(model_state)
    tower = image_tower(model, model_config)
    return tower.to(map_location).eval()


def _tower_state(model_config: dict, model_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    keep = ("image_encoder.", "image_head.") if model_config["kind"] == "csip" else ("image_encoder.",)
    rename = {"image_head.": "head."}
    out = {}
    for k, v in model_state.items():
        if k.startswith(keep):
            for a, b in rename.items():
                if k.startswith(a):
                    k = b + k[len(a):]
            out[k] = v.detach().cpu().contiguous()
    return out


def _export_config(path: Path) -> dict[str, Any]:
    """The ``config.json`` of an exported encoder in ``path``; :class:`BadFile` when it is not
    one (another library's model directory also holds a ``model.safetensors``)."""
    try:
        config = json.loads((path / EXPORT_CONFIG).read_text())
    except (OSError, ValueError) as exc:
        raise BadFile(f"{path}: no readable {EXPORT_CONFIG} beside {EXPORT_WEIGHTS} [{exc}]") from None
    if not isinstance(config, dict) or config.get("format") != EXPORT_FORMAT or "model_config" not in config:
        raise BadFile(f"{path} is not an encoder exported by csip ({EXPORT_CONFIG} has no format {EXPORT_FORMAT!r})")
    return config


def run_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint that stands for run directory ``run_dir``: ``checkpoints/best.pt`` (chosen
    on val with ``--select``), else ``checkpoints/final.pt``, else ``checkpoints/last.pt`` (an
    unfinished run); ``None`` when it holds none of them."""
    for name in ("best.pt", "final.pt", "last.pt"):
        if (Path(run_dir) / "checkpoints" / name).is_file():
            return Path(run_dir) / "checkpoints" / name
    return None


def load_encoder(path: str | Path, map_location: str | torch.device = "cpu"):
    """The trained image tower, ready for evaluation (``eval()`` mode, on ``map_location``).

    ``path``: a checkpoint file of ``csip pretrain``, a run directory (its
    ``checkpoints/best.pt`` when the run selected one on val (``--select``), else
    ``checkpoints/final.pt``, else ``checkpoints/last.pt``), or a directory written by
    :func:`export_encoder`. Returns a :class:`csip.models.ImageTower`: ``tower.features(batch)``
    gives the pre-projection features ``(B, D)`` that evaluation should use,
    ``tower.embed(batch)`` the L2-normalised shared-space embedding ``(B, E)``; ``tower.uses``
    lists the batch keys it reads (``"image"``: uint8 ``(B, 3, S, S)``, ``"boxes"``: ``(B, 2, 4)``).
    """

    path = Path(path)
    if path.is_dir():
        if (path / EXPORT_WEIGHTS).is_file():
            config = _export_config(path)
            mc = config["model_config"]
            ie = dict(mc["image_encoder"])
            enc = build_image_encoder(ie.pop("name"), **ie)
            head = ProjectionHead(enc.out_dim, mc["embed_dim"], mc.get("head_hidden", 512)) if mc["kind"] == "csip" else None
            tower = ImageTower(enc, head, mc)
            tower.load_state_dict(safetensors_load(path / EXPORT_WEIGHTS, "exported encoder weights"))
            return tower.to(map_location).eval()
        picked = run_checkpoint(path)
        if picked is None:
            raise FileNotFoundError(f"{path}: neither an exported encoder ({EXPORT_WEIGHTS}) nor a run directory")
        path = picked
    state = load_checkpoint(path, "cpu")
    return _tower_from(state["model_config"], state["model"], map_location)


def export_encoder(ckpt: str | Path, out_dir: str | Path) -> Path:
    """Write the image tower of checkpoint ``ckpt`` as ``out_dir/model.safetensors`` +
    ``out_dir/config.json`` (model config, training data description, step). Returns ``out_dir``.
    """

    state = load_checkpoint(ckpt, "cpu")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = _tower_state(state["model_config"], state["model"])
    atomic_write(out_dir / EXPORT_WEIGHTS, lambda tmp: save_file(tensors, tmp))
    config = {
        "format": EXPORT_FORMAT,
        "version": VERSION,
        "model_config": state["model_config"],
        "data": state.get("data", {}),
        "step": state.get("step"),
        "epoch": state.get("epoch"),
        "features": "tower.features(batch): image encoder output before the projection head",
    }
    atomic_write(out_dir / EXPORT_CONFIG, lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2)))
    return out_dir


@torch.no_grad()
def encode(encoder, dataset, batch_size: int = 256, device: str | torch.device | None = None,
           embed: bool = False, workers: int = 0) -> np.ndarray:
    """Frozen features of every item of ``dataset`` → float32 ``(N, D)``, in dataset order.

    ``encoder``: an :class:`~csip.models.ImageTower` (e.g. from :func:`load_encoder`);
    ``dataset``: items with ``"image"`` / ``"boxes"`` as the cache yields them. ``embed=True``
    gives the L2-normalised shared-space embeddings instead of the pre-projection features.
    bf16 autocast on CUDA; results are returned in float32.
    """

    if device is None:
        device = next(encoder.parameters()).device
    device = torch.device(device)
    encoder = encoder.to(device).eval()
    uses = tuple(getattr(encoder, "uses", ("image", "boxes")))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        pin_memory=device.type == "cuda")
    out = []
    for batch in loader:
        b = {k: torch.as_tensor(batch[k]).to(device, non_blocking=True) for k in uses}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            f = encoder.embed(b) if embed else encoder.features(b)
        out.append(f.float().cpu())
    if not out:
        return np.zeros((0, encoder.out_dim), dtype=np.float32)
    return torch.cat(out).numpy()


__all__ = [
    "FORMAT",
    "VERSION",
    "atomic_write",
    "capture_rng_state",
    "encode",
    "export_encoder",
    "load_checkpoint",
    "load_encoder",
    "restore_rng_state",
    "run_checkpoint",
    "save_checkpoint",
    "unwrap",
]
