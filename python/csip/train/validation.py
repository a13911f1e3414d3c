"""Held-out metrics at an epoch end, from one pass over the val split.

The pass gives the val loss and accuracy (:func:`csip.train.step.forward`, the training's own
forward and loss) and, when a checkpoint is being selected, the features the selection ranks
(:func:`csip.train.selection.retrieval_scores`): f_v, caught from that same forward pass by a hook on
the image encoder, and its shared-space embedding. Each batch is read and encoded once.

Values are the ones a separate loss pass and retrieval pass gave, bit for bit: same batches,
same order, same autocast. The one exception to "encoded once": with ``channels_last`` images
(CUDA), the loss pass sees channels-last images and the retrieval features contiguous ones, as
evaluation does, so there the image encoder runs a second time on the contiguous batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from ..models.build import image_tower
from .objectives.base import Objective
from .selection import retrieval_scores
from .step import batch_keys, forward, to_device


@contextlib.contextmanager
def _catching_outputs(module: torch.nn.Module) -> Iterator[list[torch.Tensor]]:
    """A list that receives ``module``'s output at each of its forward calls (a forward hook)."""
    caught: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _module, _args, output: caught.append(output))
    try:
        yield caught
    finally:
        handle.remove()


@torch.no_grad()
def validation_record(model: torch.nn.Module, dataset: Dataset, batch_size: int, device: torch.device,
                      objective: Objective, amp: bool, channels_last: bool = False, retrieval: bool = False,
                      k: int = 10) -> dict[str, float]:
    """The val metrics of ``model`` (unwrapped) on ``dataset``, in eval mode, batches in order.

    Always :func:`validate`'s metrics (the objective's ``val_metrics``); with ``retrieval``,
    also ``val_ndcg{k}_pre`` and ``val_ndcg{k}_embed`` (:func:`csip.train.selection.retrieval_scores`;
    needs ≥ 2 items), from the same pass.
    """
    was_training = model.training
    model.eval()
    keys = batch_keys(model, objective)
    tower = image_tower(model, {})
    separate_features = channels_last and "image" in tower.uses  # see the module's docstring
    scores, pre, emb, banners = objective.val_scores(), [], [], []
    with _catching_outputs(model.image_encoder) as caught:
        for raw in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            batch = to_device(raw, device, keys, channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = forward(model, batch, objective, amp, training=False)
                scores.add(out, batch)
                if retrieval:
                    f = caught[-1]  # f_v of the forward pass above
                    if separate_features:
                        f = tower.image_encoder(to_device(raw, device, tower.uses, False))
                    pre.append(f.float().cpu())
                    emb.append(tower.embedding_of(f).float().cpu())
                    banners.append(torch.as_tensor(raw["sfb"]).float())
            caught.clear()
    model.train(was_training)
    record = scores.record()
    if retrieval and len(dataset) >= 2:
        record.update(retrieval_scores(torch.cat(pre).numpy(), torch.cat(emb).numpy(), torch.cat(banners).numpy(), k))
        # The val split used to be read a second time for the retrieval metrics, and every
        # DataLoader iteration draws one number from torch's global RNG. Drawing it here keeps
        # that RNG stream, which checkpoints store, as it was.
        torch.empty((), dtype=torch.int64).random_()
    return record


def validate(model: torch.nn.Module, dataset: Dataset, batch_size: int, device: torch.device, objective: Objective,
             amp: bool, channels_last: bool = False) -> dict[str, float]:
    """Held-out metrics of ``model`` (unwrapped) on ``dataset``, in eval mode, batches in order.

    C-SIP: ``val_loss`` (the contrastive loss, batches of ``batch_size`` as in training, the
    last partial batch included if it has ≥ 2 items) and ``val_top1`` (fraction of images whose
    nearest banner in their batch is their own). Supervised: ``val_loss`` and ``val_acc`` over
    the labelled items.
    """
    return validation_record(model, dataset, batch_size, device, objective, amp, channels_last)


__all__ = ["validate", "validation_record"]
