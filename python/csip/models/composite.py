"""Whole models built from the parts: C-SIP (two towers), supervised baseline, and the
exported image tower (:class:`ImageTower`) that evaluation loads.

Config dicts (plain JSON types) describe each model so that a checkpoint or an export can
rebuild it without the training code's arguments; see :func:`csip.models.build_model`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .heads import LogitScale, ProjectionHead
from .spatial import SpatialEncoder


class CSIPModel(nn.Module):
    """C-SIP: image tower (f_v, g_v) and spatial tower (f_u, g_u) plus the logit scale.

    ``forward(batch)`` → ``(v, u, s)``: L2-normalised image embeddings ``(B, E)``, spatial
    embeddings ``(B, E)`` (from ``batch["sfb"]``, ``(B, R, K)``) and the scalar logit scale.
    """

    def __init__(self, image_encoder: nn.Module, spatial_encoder: SpatialEncoder, embed_dim: int = 128,
                 head_hidden: int | None = 512, logit_scale: LogitScale | None = None):
        super().__init__()
        self.image_encoder = image_encoder
        self.spatial_encoder = spatial_encoder
        self.image_head = ProjectionHead(image_encoder.out_dim, embed_dim, head_hidden)
        self.spatial_head = ProjectionHead(spatial_encoder.out_dim, embed_dim, head_hidden)
        self.logit_scale = logit_scale if logit_scale is not None else LogitScale()

    def encode_image(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """L2-normalised image embeddings ``(B, E)``."""
        return self.image_head(self.image_encoder(batch))

    def encode_spatial(self, sfb: torch.Tensor) -> torch.Tensor:
        """L2-normalised spatial embeddings ``(B, E)`` of banners ``(B, R, K)``."""
        return self.spatial_head(self.spatial_encoder(sfb))

    def forward(self, batch: Mapping[str, torch.Tensor]):  # noqa: D102
        return self.encode_image(batch), self.encode_spatial(batch["sfb"]), self.logit_scale()


class SupervisedModel(nn.Module):
    """Supervised baseline: the same image encoder + a linear classifier over ``n_classes``.

    ``forward(batch)`` → logits ``(B, n_classes)``. No spatial tower (the banner is not used).
    """

    def __init__(self, image_encoder: nn.Module, n_classes: int = 9):
        super().__init__()
        self.image_encoder = image_encoder
        self.classifier = nn.Linear(image_encoder.out_dim, n_classes)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:  # noqa: D102
        return self.classifier(self.image_encoder(batch).float())


class ImageTower(nn.Module):
    """What evaluation loads: the trained image encoder f_v and, for C-SIP, its head g_v.

    - ``features(batch)`` → ``(B, D)``: f_v's output, **before** the projection head. This is
      the representation evaluation should use (CBIR cosines, SRR probes, VQA fusion): as in
      SimCLR/CLIP practice, the pre-projection features keep more information than the
      contrastive space, which the head specialises to the banner-matching task.
    - ``embed(batch)`` / ``forward(batch)`` → ``(B, E)``: L2-normalised embedding in the shared
      image–spatial space (C-SIP only; for a supervised model, the L2-normalised features).

    ``batch`` is a mapping with ``"image"`` (uint8 ``(B, 3, S, S)``) and/or ``"boxes"``
    (``(B, 2, 4)``, normalised); a bare tensor is taken as the image. ``uses`` names the keys
    read; ``config`` is the model config; ``image_size`` the training crop size (or None).
    """

    def __init__(self, image_encoder: nn.Module, head: nn.Module | None, config: dict):
        super().__init__()
        self.image_encoder = image_encoder
        self.head = head
        self.config = config
        self.uses = tuple(image_encoder.uses)
        self.out_dim = image_encoder.out_dim
        self.image_size = config.get("image_size")

    @staticmethod
    def _batch(batch) -> Mapping[str, torch.Tensor]:
        return {"image": batch} if isinstance(batch, torch.Tensor) else batch

    def features(self, batch) -> torch.Tensor:  # noqa: D102
        return self.image_encoder(self._batch(batch)).float()

    def embed(self, batch) -> torch.Tensor:  # noqa: D102
        return self.embedding_of(self.image_encoder(self._batch(batch)))

    def embedding_of(self, features: torch.Tensor) -> torch.Tensor:
        """The shared-space embedding of f_v's output ``(B, D)`` → ``(B, E)`` (g_v, or the
        L2-normalised features without a head): both views from one encoder pass."""
        if self.head is None:
            return torch.nn.functional.normalize(features.float(), dim=-1)
        return self.head(features)

    def forward(self, batch) -> torch.Tensor:  # noqa: D102
        return self.embed(batch)
