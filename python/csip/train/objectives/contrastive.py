"""C-SIP: images and their symmetric Force Banners aligned by a symmetric InfoNCE loss
(:mod:`csip.train.loss`); no relation labels. The model has two towers (image f_v∘g_v,
banner f_u∘g_u) and a learned logit scale (:class:`csip.models.CSIPModel`).

Val metrics: ``val_loss`` (the contrastive loss on val batches) and ``val_top1`` (the fraction
of val images whose nearest banner in their batch is their own)."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import torch

from ..loss import ClipLoss, clip_loss
from .base import Forward, Objective, ValScores


class _ContrastiveScores(ValScores):
    """Val loss and top-1 over batches of at least 2 items (a batch of one has no negative)."""

    def __init__(self) -> None:
        super().__init__()
        self.hits = 0

    def add(self, out: Forward, batch: Mapping[str, torch.Tensor]) -> None:
        v, u = out.image_embedding, out.spatial_embedding
        n = v.shape[0]
        if n < 2:
            return
        self.loss += float(out.loss) * n  # local: rank 0 only
        self.hits += int(((v.float() @ u.float().t()).argmax(1) == torch.arange(n, device=v.device)).sum())
        self.n += n

    def record(self) -> dict[str, float]:
        return {"val_loss": self.loss / self.n, "val_top1": self.hits / self.n} if self.n else {}


class ContrastiveObjective(Objective):
    """The paper's objective: InfoNCE both ways between image and banner embeddings."""

    name = "csip"
    model_kind = "csip"
    target_keys = ("sfb",)
    val_metrics = ("val_loss", "val_top1")
    described_as = "C-SIP"

    def __init__(self, label_smoothing: float = 0.3):
        super().__init__(label_smoothing)
        self._train_loss = ClipLoss(label_smoothing)  # gathers the embeddings across processes
        self._local_loss = functools.partial(clip_loss, label_smoothing=label_smoothing)

    def forward(self, net: torch.nn.Module, batch: Mapping[str, torch.Tensor], training: bool) -> Forward:
        v, u, scale = net(batch)
        loss = (self._train_loss if training else self._local_loss)(v, u, scale)
        return Forward(loss, scale, v, u)

    def val_scores(self) -> ValScores:
        return _ContrastiveScores()


__all__ = ["ContrastiveObjective"]
