"""The interface of a training objective: what a run optimises, and how it is judged on val.

An :class:`Objective` says which batch keys it reads beside the image encoder's inputs, builds
the model it trains (the image encoder plus the heads it adds), computes the loss and the
outputs of one batch, accumulates its val metrics, names the metrics a checkpoint may be
selected on, and checks that the data can feed it. The training loop, validation and
checkpoint selection only call these methods: adding an objective is one file and one line
in :data:`csip.train.objectives.OBJECTIVES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar, NamedTuple

import numpy as np
import torch

from ...models.build import build_model
from . import RETRIEVAL_METRICS


class Forward(NamedTuple):
    """What one forward pass gives: the ``loss`` (0-dim) and the outputs it was computed from.

    C-SIP: ``image_embedding`` v and ``spatial_embedding`` u (L2-normalised ``(B, E)``) and
    ``logit_scale`` (0-dim); supervised: ``logits`` ``(B, n_classes)``. The others are None.
    """

    loss: torch.Tensor
    logit_scale: torch.Tensor | None = None
    image_embedding: torch.Tensor | None = None
    spatial_embedding: torch.Tensor | None = None
    logits: torch.Tensor | None = None


class ValScores:
    """A running val metric over batches: ``add(out, batch)`` per batch, then ``record()`` →
    ``{metric: value}`` ({} when no item counted). The base class keeps the mean loss over items."""

    def __init__(self) -> None:
        self.loss, self.n = 0.0, 0

    def add(self, out: Forward, batch: Mapping[str, torch.Tensor]) -> None:
        """Count one batch's loss, weighted by its items."""
        n = int(next(iter(batch.values())).shape[0])
        self.loss += float(out.loss) * n
        self.n += n

    def record(self) -> dict[str, float]:
        """The metrics so far."""
        return {"val_loss": self.loss / self.n} if self.n else {}


class Objective:
    """One training objective. Subclasses set the class attributes and :meth:`forward`.

    ``name``: its registry key (``TrainConfig.objective``); ``model_kind``: the ``kind`` of the
    model config it builds (:func:`csip.models.build.default_model_config`); ``target_keys``: the
    batch keys it reads beside the image encoder's inputs; ``val_metrics``: the keys of its
    ``"kind": "val"`` records (the registry line repeats them); ``described_as``: how messages name a run of it.
    """

    name: ClassVar[str]
    model_kind: ClassVar[str]
    target_keys: ClassVar[tuple[str, ...]]
    val_metrics: ClassVar[tuple[str, ...]] = ("val_loss",)
    described_as: ClassVar[str]
    #: Whether it reads relation labels: a run of it on several caches then trains on their
    #: labelled items only, unless told otherwise (:meth:`csip.train.TrainConfig.reads_labelled_only`).
    reads_labels: ClassVar[bool] = False

    def __init__(self, label_smoothing: float = 0.3):
        self.label_smoothing = label_smoothing

    @classmethod
    def selectable(cls) -> tuple[str, ...]:
        """The val metrics ``best.pt`` may be selected on: the retrieval ones and its own."""
        return (*RETRIEVAL_METRICS, *cls.val_metrics)

    def build_model(self, model_config: dict, weights: str | None = None) -> torch.nn.Module:
        """The model it trains, from a :func:`~csip.models.build.default_model_config` dict of
        its ``model_kind`` (``weights``: local ImageNet weights of the image encoder)."""
        return build_model(model_config, weights=weights)

    def batch_keys(self, image_keys: tuple[str, ...]) -> tuple[str, ...]:
        """The item keys a step reads: the image encoder's (``image_keys``) and :attr:`target_keys`,
        each once."""
        return tuple(dict.fromkeys((*image_keys, *self.target_keys)))

    def forward(self, net: torch.nn.Module, batch: Mapping[str, torch.Tensor], training: bool) -> Forward:
        """The loss and outputs of ``net`` on ``batch`` (already under autocast when asked).
        ``training``: the loss of a training step (gathered across processes where that matters),
        else the local loss of validation, which runs on one process."""
        raise NotImplementedError

    def val_scores(self) -> ValScores:
        """A new accumulator of its val metrics (:attr:`val_metrics`)."""
        return ValScores()

    def check_data(self, labels: Callable[[], np.ndarray]) -> str | None:
        """Why the training data cannot feed this objective, or None. ``labels()`` gives its
        relation labels (int64, −1 unknown), read only when asked."""
        return None


__all__ = ["Forward", "Objective", "ValScores"]
