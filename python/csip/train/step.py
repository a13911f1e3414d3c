"""One forward pass and its loss, as training, validation and ``benches/bench_train.py`` run it.

A batch is a dict of tensors on the device (``to_device``) holding only the keys the step reads
(:func:`batch_keys`): the image encoder's inputs (``"image"`` uint8 ``(B, 3, S, S)``, ``"boxes"``
``(B, 2, 4)``) plus ``"sfb"`` ``(B, R, K)`` for C-SIP or ``"label"`` ``(B,)`` for the supervised
baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch

from ..models.checkpoint import unwrap
from .loss import supervised_loss


def batch_keys(model: torch.nn.Module, supervised: bool) -> tuple[str, ...]:
    """The item keys a training step reads: the image encoder's inputs, plus the banner
    (C-SIP) or the label (supervised)."""
    return tuple(unwrap(model).image_encoder.uses) + (("label",) if supervised else ("sfb",))


def to_device(batch: Mapping[str, Any], device: torch.device, keys, channels_last: bool) -> dict:
    """Move the ``keys`` of a collated batch to ``device`` (non-blocking from pinned memory);
    images in ``channels_last`` when asked."""
    out = {}
    for k in keys:
        t = torch.as_tensor(batch[k])
        t = t.to(device, non_blocking=True)
        if k == "image" and channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        out[k] = t
    return out


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


def forward(net: torch.nn.Module, batch: Mapping[str, torch.Tensor], clip: Callable, supervised: bool,
            amp: bool) -> Forward:
    """One forward pass of ``net`` and its loss; bf16 autocast if ``amp`` (on the batch's device
    type). ``clip(v, u, logit_scale)`` is the contrastive loss: a :class:`~csip.train.loss.ClipLoss`
    in training (gathered across processes), the local :func:`~csip.train.loss.clip_loss` in
    validation (which runs on one process)."""
    device_type = next(iter(batch.values())).device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
        if supervised:
            logits = net(batch)
            return Forward(supervised_loss(logits, batch["label"]), logits=logits)
        v, u, scale = net(batch)
        return Forward(clip(v, u, scale), scale, v, u)


def forward_loss(net: torch.nn.Module, batch: Mapping[str, torch.Tensor], clip: Callable, supervised: bool,
                 amp: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`forward` → ``(loss, logit_scale or None)``: what a training step needs."""
    out = forward(net, batch, clip, supervised, amp)
    return out.loss, out.logit_scale


__all__ = ["Forward", "batch_keys", "forward", "forward_loss", "to_device"]
