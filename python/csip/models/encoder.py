"""The trained image encoder: :func:`load_encoder` returns a :class:`csip.models.ImageTower` (image encoder
f_v and, for C-SIP, its projection head g_v) from a checkpoint file or from a directory written
by :func:`export_encoder` (``model.safetensors`` + ``config.json``). Use
``tower.features(batch)`` — the features before the projection head — as the frozen
representation (see :func:`encode`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch.utils.data import DataLoader

from ..base.errors import BadFile
from ..base.files import atomic_write, read_regular_text
from ..base.weights_io import safetensors_load
from .build import MODEL_KINDS, build_image_encoder, build_model, image_tower
from .checkpoint import VERSION, load_checkpoint
from .composite import ImageTower
from .heads import ProjectionHead

EXPORT_WEIGHTS = "model.safetensors"
EXPORT_CONFIG = "config.json"
EXPORT_FORMAT = "csip-encoder"


def _tower_from(model_config: dict, model_state: dict[str, torch.Tensor], map_location):
    """The image tower of a trained model. C-SIP and supervised models are rebuilt whole and
    loaded strictly (every key of the checkpoint checked); a model of another training
    objective (:mod:`csip.train.objectives`) gives its image encoder, and its ``image_head`` when
    it has one, loaded strictly from their keys."""
    if model_config["kind"] in MODEL_KINDS:
        model = build_model(model_config)
        model.load_state_dict(model_state)
        tower = image_tower(model, model_config)
    else:
        tower = _bare_tower(model_config, any(k.startswith("image_head.") for k in model_state))
        tower.load_state_dict(_tower_state(model_config, model_state))
    return tower.to(map_location).eval()


def _bare_tower(mc: dict, with_head: bool) -> ImageTower:
    """An untrained image tower of model config ``mc`` (with its projection head when ``with_head``)."""
    ie = dict(mc["image_encoder"])
    enc = build_image_encoder(ie.pop("name"), **ie)
    head = ProjectionHead(enc.out_dim, mc["embed_dim"], mc.get("head_hidden", 512)) if with_head else None
    return ImageTower(enc, head, mc)


def _tower_state(model_config: dict, model_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tower's keys of a model's state (``image_head.`` renamed ``head.``), on the CPU."""
    keep = ("image_encoder.", "image_head.") if model_config["kind"] != "supervised" else ("image_encoder.",)
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
        config = json.loads(read_regular_text(path / EXPORT_CONFIG))
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
            weights = safetensors_load(path / EXPORT_WEIGHTS, "exported encoder weights")
            tower = _bare_tower(config["model_config"], any(k.startswith("head.") for k in weights))
            tower.load_state_dict(weights)
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


__all__ = ["EXPORT_CONFIG", "EXPORT_FORMAT", "EXPORT_WEIGHTS", "encode", "export_encoder", "load_encoder",
           "run_checkpoint"]
