"""The spatial encoder f_u: a small CNN over the symmetric Force Banner.

The banner ``sfb`` has shape ``(B, R, K)``: ``R`` force levels (rows) by ``K`` directions
θ_k = kπ/K over ``[0, π)`` (columns). The θ axis is periodic with period π (the symmetric banner
satisfies ξ(θ + π) = ξ(θ)), so convolutions wrap around along θ (circular padding) while the
r axis, which is not periodic, is zero-padded.

Pitfall of the authors' released script, not repeated here: ``padding_mode="circular"`` with
``padding=0`` pads nothing at all. Here the padding is explicit (:func:`circular_theta_pad`)
and tested: the output at the θ border depends on the input at the opposite border, and a
circular shift of the banner by ``stride`` columns shifts the feature map by one column.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def circular_theta_pad(x: torch.Tensor, pad_r: int, pad_theta: int) -> torch.Tensor:
    """Pad ``x`` of shape ``(B, C, R, K)``: circularly along θ (last axis), with zeros along r.

    Returns ``(B, C, R + 2·pad_r, K + 2·pad_theta)``.
    """
    if pad_theta:
        x = torch.cat([x[..., -pad_theta:], x, x[..., :pad_theta]], dim=-1)
    if pad_r:
        x = F.pad(x, (0, 0, pad_r, pad_r))  # zeros on the r axis only
    return x


class ThetaCircularConv2d(nn.Conv2d):
    """A ``Conv2d`` with circular padding along θ (width) and zero padding along r (height).

    Takes ``(B, C_in, R, K)``, gives ``(B, C_out, ⌊(R + 2p − k)/s⌋ + 1, ⌊(K + 2p − k)/s⌋ + 1)``
    with ``p = k // 2``; with an odd kernel and ``K`` divisible by the stride, shifting the
    input by ``s`` columns (circularly) shifts the output by exactly one column.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0)
        self.pad = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return super().forward(circular_theta_pad(x, self.pad, self.pad))


class SpatialEncoder(nn.Module):
    """f_u: two θ-circular conv layers over the banner, then a pooled grid and a linear layer.

    Input: ``sfb`` float ``(B, R, K)`` (or ``(B, 1, R, K)``). Output: features ``(B, out_dim)``.

    Layers: conv 3×3 stride 2 (1 → ``channels``), GELU, conv 3×3 stride 2 (``channels`` →
    ``2·channels``), GELU, adaptive average pooling to a ``pool`` grid (r × θ), flatten,
    linear to ``out_dim``, GELU. No batch norm: the encoder then behaves identically in train
    and eval mode and under data parallelism (per-process batch statistics would otherwise
    make a sharded batch differ from the whole one). The pooled grid keeps where along θ the
    forces lie (the direction of the relation), which global pooling would throw away.
    """

    def __init__(
        self,
        n_levels: int,
        n_angles: int,
        channels: int = 32,
        out_dim: int = 256,
        pool: tuple[int, int] = (4, 12),
    ):
        super().__init__()
        self.n_levels = int(n_levels)
        self.n_angles = int(n_angles)
        self.out_dim = int(out_dim)
        self.conv1 = ThetaCircularConv2d(1, channels, 3, stride=2)
        self.conv2 = ThetaCircularConv2d(channels, 2 * channels, 3, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(pool)
        self.fc = nn.Linear(2 * channels * pool[0] * pool[1], out_dim)

    def conv_features(self, sfb: torch.Tensor) -> torch.Tensor:
        """The map after the two conv layers, ``(B, 2·channels, R', K')`` (K' = ⌈⌈K/2⌉/2⌉)."""
        x = sfb if sfb.dim() == 4 else sfb.unsqueeze(1)
        if x.shape[-2:] != (self.n_levels, self.n_angles):
            raise ValueError(
                f"SpatialEncoder built for banners of {self.n_levels} levels × {self.n_angles} angles, "
                f"got {tuple(x.shape[-2:])}"
            )
        x = F.gelu(self.conv1(x))
        return F.gelu(self.conv2(x))

    def forward(self, sfb: torch.Tensor) -> torch.Tensor:
        """``(B, R, K)`` banner → ``(B, out_dim)`` features."""
        x = self.pool(self.conv_features(sfb)).flatten(1)
        return F.gelu(self.fc(x))
