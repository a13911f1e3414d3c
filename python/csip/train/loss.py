"""The C-SIP contrastive loss (symmetric InfoNCE with label smoothing), and the supervised one.

For a batch of N pairs with L2-normalised image embeddings v_i and spatial embeddings u_i, and
logit scale s = 1/τ (see :class:`csip.models.LogitScale`):

    logits_vu[i, k] = s · cos(v_i, u_k)              (image → spatial, eq. 5 of the paper)
    logits_uv[i, k] = s · cos(u_i, v_k)              (spatial → image, eq. 6)
    L = ½ [CE_ε(logits_vu, diag) + CE_ε(logits_uv, diag)]

where CE_ε is the mean cross-entropy against targets smoothed with ε (0.3 by default): the
target of row i puts (1 − ε) + ε/N on column i and ε/N on every other column. The smoothing
steadies training when a batch holds near-identical banners (objects at similar distance and
direction), whose "negatives" are in fact positives.

Data parallel: each process passes its local embeddings and the gathered global ones
(``v_all``, ``u_all``, gathered *with* gradient, see :mod:`csip.base.distributed`) and the offset of
its rows in the global batch; its loss is the mean over its own rows, against all N columns,
so the mean over processes equals the single-process loss on the global batch.

>>> import torch
>>> v = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
>>> loss = clip_loss(v, v, torch.tensor(10.0), label_smoothing=0.0)
>>> float(loss) < 1.0
True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..base import distributed as dist_utils
from ..models.heads import LogitScale


def clip_loss(
    v: torch.Tensor,
    u: torch.Tensor,
    logit_scale: torch.Tensor | float,
    label_smoothing: float = 0.3,
    v_all: torch.Tensor | None = None,
    u_all: torch.Tensor | None = None,
    offset: int = 0,
) -> torch.Tensor:
    """Symmetric InfoNCE: mean of image→spatial and spatial→image smoothed cross-entropies.

    ``v``, ``u``: local L2-normalised embeddings ``(n, E)``; ``v_all``, ``u_all``: the global
    batch ``(N, E)`` (defaults: the local ones, N = n); ``offset``: index of ``v[0]`` in the
    global batch. Computed in float32 whatever the embeddings' dtype, autocast or not. Returns a
    0-dim tensor.
    """
    # autocast would run the products in bf16 (cosines to ~2^-9, logits off by ~0.2 at scale 100)
    with torch.autocast(device_type=v.device.type, enabled=False):
        v, u = v.float(), u.float()
        v_all = v if v_all is None else v_all.float()
        u_all = u if u_all is None else u_all.float()
        s = logit_scale if isinstance(logit_scale, torch.Tensor) else torch.tensor(float(logit_scale))
        s = s.float()
        logits_vu = s * (v @ u_all.t())  # (n, N)
        logits_uv = s * (u @ v_all.t())  # (n, N)
        labels = torch.arange(v.shape[0], device=v.device) + offset
        return 0.5 * (
            F.cross_entropy(logits_vu, labels, label_smoothing=label_smoothing)
            + F.cross_entropy(logits_uv, labels, label_smoothing=label_smoothing)
        )


class ClipLoss(torch.nn.Module):
    """:func:`clip_loss` with a fixed ``label_smoothing``, gathering across processes when
    ``torch.distributed`` is initialised with more than one process.

    ``forward(v, u, logit_scale)`` with local ``(n, E)`` embeddings → this process's loss (its
    rows' mean); average it over processes (DDP's gradient averaging does exactly that) to get
    the global-batch loss.
    """

    def __init__(self, label_smoothing: float = 0.3):
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing

    def forward(self, v: torch.Tensor, u: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:  # noqa: D102

        if dist_utils.world_size() > 1:
            v_all = dist_utils.all_gather_with_grad(v.float())
            u_all = dist_utils.all_gather_with_grad(u.float())
            offset = dist_utils.rank() * v.shape[0]
            return clip_loss(v, u, logit_scale, self.label_smoothing, v_all, u_all, offset)
        return clip_loss(v, u, logit_scale, self.label_smoothing)


def supervised_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the items whose label is known (label −1 = unknown, ignored).

    A batch without any known label gives 0 (with a graph, so backward still runs) instead of
    the 0/0 NaN of ``F.cross_entropy(..., ignore_index=-1)``.
    """
    known = labels >= 0
    if not bool(known.any()):
        return logits.float().sum() * 0.0
    return F.cross_entropy(logits.float()[known], labels[known])


__all__ = ["ClipLoss", "LogitScale", "clip_loss", "supervised_loss"]
