"""Both towers of a C-SIP checkpoint: the image tower g_v∘f_v and the banner tower g_u∘f_u.

Evaluation usually loads the image tower alone (:func:`csip.models.encoder.load_encoder`). The
banner tower is what turns a spatial layout into a query (``csip search --layout``) and what
cross-modal retrieval (:mod:`csip.eval.crossmodal`) measures against the images. Only a C-SIP
checkpoint (a file or run directory of ``csip pretrain`` with the C-SIP objective) holds one: a
supervised model, an exported encoder (image tower only), a random-init or pre-trained row has
none, and :func:`load_towers` refuses it with :class:`NoBannerTower`, one line naming the path.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..base.errors import BadFile
from .build import build_model, image_tower
from .checkpoint import load_checkpoint
from .composite import CSIPModel
from .encoder import EXPORT_WEIGHTS, run_checkpoint


class NoBannerTower(BadFile):
    """A checkpoint (or export, or baseline) that has no banner tower g_u∘f_u."""


def load_towers(path: str | Path, map_location: str | torch.device = "cpu") -> CSIPModel:
    """The whole C-SIP model of a checkpoint file or run directory, ``eval()`` mode: use
    ``encode_image(batch)`` ``(B, E)`` and ``encode_spatial(sfb (B, R, K))`` ``(B, E)``, both
    L2-normalised in the shared space. :class:`NoBannerTower` for anything that is not a C-SIP
    checkpoint (its kind named); ``FileNotFoundError`` / :class:`BadFile` as
    :func:`~csip.models.checkpoint.load_checkpoint` raises them."""
    path = Path(path)
    if path.is_dir():
        if (path / EXPORT_WEIGHTS).is_file():
            raise NoBannerTower(f"{path}: an exported encoder holds the image tower only, no banner tower "
                                "(give the run directory or its checkpoint)")
        picked = run_checkpoint(path)
        if picked is None:
            raise FileNotFoundError(f"{path}: neither a checkpoint nor a run directory")
        path = picked
    state = load_checkpoint(path, "cpu")
    config = state["model_config"]
    kind = config.get("kind")
    if kind != "csip":
        raise NoBannerTower(f"{path}: a {kind} checkpoint has no banner tower (only C-SIP checkpoints have one)")
    model = build_model(config)
    model.load_state_dict(state["model"])
    return model.to(map_location).eval()


def random_towers(model_config: dict, seed: int = 0) -> CSIPModel:
    """A C-SIP model of ``model_config`` with seeded random weights (the random-init reference of
    the banner-tower tasks), ``eval()`` mode. The torch RNG outside is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = build_model(dict(model_config, kind="csip"))
    return model.eval()


def image_side(model: CSIPModel, model_config: dict):
    """The image tower of ``model`` as evaluation runs it (:class:`~csip.models.ImageTower`,
    sharing its modules): ``extract(..., features="embed")`` gives g_v∘f_v ``(N, E)``."""
    return image_tower(model, model_config)


@torch.no_grad()
def embed_banners(model: CSIPModel, sfb, batch_size: int = 256, device: str | torch.device = "cpu"):
    """Banner-tower embeddings g_u∘f_u of banners ``sfb`` float ``(N, R, K)`` → float32 numpy
    ``(N, E)``, L2-normalised (in float32: the banners are small and the towers tiny)."""
    import numpy as np  # numpy only here: this module is imported by torch-only callers too

    model = model.to(device).eval()
    x = np.array(sfb, dtype=np.float32)  # a writable copy for torch (the cache maps banners read-only)
    out = [model.encode_spatial(torch.from_numpy(x[i:i + batch_size]).to(device)).float().cpu()
           for i in range(0, len(x), int(batch_size))]
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def towers_config(path: str | Path) -> dict:
    """The model config of a C-SIP checkpoint file or run directory (:class:`NoBannerTower`
    for another kind), read without building the model."""
    path = Path(path)
    picked = run_checkpoint(path) if path.is_dir() and not (path / EXPORT_WEIGHTS).is_file() else path
    if picked is None or picked.is_dir():
        raise NoBannerTower(f"{path}: an exported encoder holds the image tower only, no banner tower")
    config = load_checkpoint(picked, mmap=True)["model_config"]
    if config.get("kind") != "csip":
        raise NoBannerTower(f"{path}: a {config.get('kind')} checkpoint has no banner tower")
    return config


__all__ = ["NoBannerTower", "embed_banners", "image_side", "load_towers", "random_towers", "towers_config"]
