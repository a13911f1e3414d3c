"""Projection heads g_v, g_u and the logit scale of the contrastive loss.

Both heads map their encoder's features into one shared space (``embed_dim``, 128 by default)
where embeddings are L2-normalised, so that ``v @ u.T`` is a matrix of cosines.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ProjectionHead(nn.Module):
    """g: ``(B, in_dim)`` → L2-normalised ``(B, out_dim)``.

    ``hidden=None`` gives one linear layer (CLIP's projection); an int gives Linear → GELU →
    Linear (SimCLR's). ``normalize=False`` returns the raw projection.
    """

    def __init__(self, in_dim: int, out_dim: int = 128, hidden: int | None = None, normalize: bool = True):
        super().__init__()
        self.normalize = normalize
        if hidden:
            self.proj = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))
        else:
            self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        z = self.proj(x)
        # normalise in float32: bf16 norms are coarse and the cosines feed a softmax at scale ~100
        return F.normalize(z.float(), dim=-1) if self.normalize else z


class LogitScale(nn.Module):
    """The multiplier s of ``logits = s · cos``; s = exp(log_s), ``log_s`` learned or fixed.

    Initialised at ``init`` (1/0.07 ≈ 14.3, as in CLIP) and clamped at ``max_scale`` (100): the
    clamp is applied in the forward pass, so the parameter is never modified in place, and its
    gradient is zero while clamped. Pitfall avoided: the authors' scripts multiplied
    unnormalised features by exp(0.07) ≈ 1.07 — here the cosines are true cosines and the scale
    is 1/τ.
    """

    def __init__(self, init: float = 1 / 0.07, learnable: bool = True, max_scale: float = 100.0):
        super().__init__()
        if not 0 < init <= max_scale:
            raise ValueError(f"logit scale init {init} must be in (0, {max_scale}]")
        self.log_scale = nn.Parameter(torch.tensor(math.log(init)), requires_grad=learnable)
        self.max_log = math.log(max_scale)

    def forward(self) -> torch.Tensor:
        """The scalar s (float32, 0-dim)."""
        return self.log_scale.float().clamp(max=self.max_log).exp()
