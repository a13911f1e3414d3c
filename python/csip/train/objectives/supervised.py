"""The supervised baseline: the same image encoder plus a linear classifier, cross-entropy on
the nine relation labels (items labelled −1 are ignored; :func:`csip.train.loss.supervised_loss`).

Val metrics: ``val_loss`` and ``val_acc``, over the labelled val items."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from ..loss import supervised_loss
from .base import Forward, Objective, ValScores


class _LabelScores(ValScores):
    """Val loss and accuracy over the labelled items."""

    def __init__(self) -> None:
        super().__init__()
        self.hits = 0

    def add(self, out: Forward, batch: Mapping[str, torch.Tensor]) -> None:
        known = batch["label"] >= 0
        if not bool(known.any()):
            return
        k = int(known.sum())
        self.loss += float(out.loss) * k
        self.hits += int((out.logits.float()[known].argmax(1) == batch["label"][known]).sum())
        self.n += k

    def record(self) -> dict[str, float]:
        return {"val_loss": self.loss / self.n, "val_acc": self.hits / self.n} if self.n else {}


class SupervisedObjective(Objective):
    """Cross-entropy on the relation labels (``--supervised``)."""

    name = "supervised"
    model_kind = "supervised"
    target_keys = ("label",)
    val_metrics = ("val_loss", "val_acc")
    described_as = "--supervised"
    reads_labels = True

    def forward(self, net: torch.nn.Module, batch: Mapping[str, torch.Tensor], training: bool) -> Forward:
        logits = net(batch)
        return Forward(supervised_loss(logits, batch["label"]), logits=logits)

    def val_scores(self) -> ValScores:
        return _LabelScores()

    def check_data(self, labels: Callable[[], np.ndarray]) -> str | None:
        if not (labels() >= 0).any():
            return "--supervised needs relation labels, and no item of this data has one"
        return None


__all__ = ["SupervisedObjective"]
