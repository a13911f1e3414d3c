"""A third training objective, written as a plug-in would be: one file, registered at run time.

It regresses the two boxes' centres (4 numbers in [0, 1]) from the image encoder's features
with a mean squared error: no banner, no label. Its val metrics are ``val_loss`` and
``val_error`` (the mean absolute error of the centres); its model is the image encoder plus
one linear head, which evaluation ignores (only ``image_encoder`` is loaded)."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn

from csip.models.build import build_image_encoder
from csip.train.objectives.base import Forward, Objective, ValScores

NAME = "toy-centres"
TARGET = f"{__name__}:CentreRegression"
VAL_METRICS = ("val_loss", "val_error")


def centres(boxes: torch.Tensor) -> torch.Tensor:
    """``(B, 2, 4)`` boxes (x0, y0, x1, y1) → ``(B, 4)``: A's centre then B's."""
    return torch.cat([(boxes[:, 0, :2] + boxes[:, 0, 2:]) / 2, (boxes[:, 1, :2] + boxes[:, 1, 2:]) / 2], dim=1)


class CentreModel(nn.Module):
    """The image encoder and a linear head onto the 4 centre coordinates."""

    def __init__(self, image_encoder: nn.Module):
        super().__init__()
        self.image_encoder = image_encoder
        self.regressor = nn.Linear(image_encoder.out_dim, 4)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.regressor(self.image_encoder(batch).float())


class _ErrorScores(ValScores):
    def __init__(self) -> None:
        super().__init__()
        self.error = 0.0

    def add(self, out: Forward, batch: Mapping[str, torch.Tensor]) -> None:
        super().add(out, batch)
        self.error += float((out.logits.float() - centres(batch["boxes"].float())).abs().mean(1).sum())

    def record(self) -> dict[str, float]:
        return {**super().record(), "val_error": self.error / self.n} if self.n else {}


class CentreRegression(Objective):
    name = NAME
    model_kind = "toy-centres"
    target_keys = ("boxes",)
    val_metrics = VAL_METRICS
    described_as = "--objective toy-centres"

    def build_model(self, model_config: dict, weights: str | None = None) -> nn.Module:
        ie = copy.deepcopy(model_config["image_encoder"])
        return CentreModel(build_image_encoder(ie.pop("name"), weights=weights, **ie))

    def forward(self, net: nn.Module, batch: Mapping[str, torch.Tensor], training: bool) -> Forward:
        pred = net(batch)
        return Forward(torch.nn.functional.mse_loss(pred.float(), centres(batch["boxes"].float())), logits=pred)

    def val_scores(self) -> ValScores:
        return _ErrorScores()
