"""One forward pass and its loss, as training, validation and ``benches/bench_train.py`` run it.

A batch is a dict of tensors on the device (``to_device``) holding only the keys the step reads
(:func:`batch_keys`): the image encoder's inputs (``"image"`` uint8 ``(B, 3, S, S)``, ``"boxes"``
``(B, 2, 4)``) plus the objective's (``"sfb"`` ``(B, R, K)`` for C-SIP, ``"label"`` ``(B,)`` for
the supervised baseline).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..models.checkpoint import unwrap
from .objectives.base import Forward, Objective


def batch_keys(model: torch.nn.Module, objective: Objective) -> tuple[str, ...]:
    """The item keys a training step reads: the image encoder's inputs, plus the objective's."""
    return objective.batch_keys(tuple(unwrap(model).image_encoder.uses))


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


def forward(net: torch.nn.Module, batch: Mapping[str, torch.Tensor], objective: Objective, amp: bool,
            training: bool = True) -> Forward:
    """One forward pass of ``net`` and its loss under ``objective``; bf16 autocast if ``amp`` (on
    the batch's device type). ``training``: the training loss (gathered across processes where the
    objective needs it), else validation's local one (validation runs on one process)."""
    device_type = next(iter(batch.values())).device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
        return objective.forward(net, batch, training)


def forward_loss(net: torch.nn.Module, batch: Mapping[str, torch.Tensor], objective: Objective,
                 amp: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`forward` of a training step → ``(loss, logit_scale or None)``."""
    out = forward(net, batch, objective, amp)
    return out.loss, out.logit_scale


__all__ = ["Forward", "batch_keys", "forward", "forward_loss", "to_device"]
