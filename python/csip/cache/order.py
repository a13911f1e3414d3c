"""The order of training items and their flips: which items form each batch of an epoch, on
each process, and which are mirrored. Shared by the cache's batched loader
(:mod:`csip.cache.batches`) and the training loop (:mod:`csip.train`, which re-exports these
names), so that both give the same batches from (seed, epoch, step) alone."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ..data import PREDICATES


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the ``n`` items in ``epoch``: a permutation fixed by (seed, epoch)."""
    return np.random.default_rng([int(seed), int(epoch), 0x5EED]).permutation(n)


class EpochBatchSampler:
    """Batches of indices for one epoch: this process's slice of each global batch.

    Global batch ``b`` of the epoch is ``perm[b·G:(b+1)·G]`` with ``perm`` =
    :func:`epoch_permutation` and G the global batch size; process ``rank`` of ``world`` takes
    the ``rank``-th of its ``world`` equal parts. The incomplete last batch is dropped (all
    contrastive batches have the same size). ``start`` skips the batches already consumed.
    """

    def __init__(self, n: int, global_batch: int, seed: int, epoch: int, rank: int = 0, world: int = 1,
                 start: int = 0):
        if global_batch % world:
            raise ValueError(f"global batch {global_batch} is not divisible by {world} processes")
        self.n, self.global_batch, self.seed, self.epoch = n, global_batch, seed, epoch
        self.rank, self.world, self.start = rank, world, start
        self.local = global_batch // world

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Move to ``epoch``, skipping its first ``start`` batches (a DataLoader built on this
        sampler, with persistent workers, picks the change up at its next ``iter``)."""
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return max(0, self.n // self.global_batch - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        perm = epoch_permutation(self.n, self.seed, self.epoch)
        for b in range(self.start, self.n // self.global_batch):
            lo = b * self.global_batch + self.rank * self.local
            yield perm[lo:lo + self.local].tolist()


def flip_mask(seed: int, epoch: int, step_in_epoch: int, global_batch: int) -> torch.Tensor:
    """Which items of a global batch are flipped (bool ``(G,)``): fixed by (seed, epoch, step)."""
    rng = np.random.default_rng([int(seed), int(epoch), int(step_in_epoch), 0xF11B])
    return torch.from_numpy(rng.random(global_batch) < 0.5)


def mirror_sfb(sfb: torch.Tensor) -> torch.Tensor:
    """The banner of the horizontally flipped pair: column k → (K − k) mod K (θ ↦ π − θ).

    Exact on the angle grid θ_k = kπ/K (θ is periodic with period π). ``(..., K)`` → same.
    """
    return torch.roll(sfb.flip(-1), 1, dims=-1)


def mirror_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes ``(..., 4)`` (x0, y0, x1, y1) in [0, 1] after a horizontal flip: x ↦ 1 − x."""
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack([1 - x1, y0, 1 - x0, y1], -1)


def mirror_labels(labels: torch.Tensor) -> torch.Tensor:
    """Relation labels after a horizontal flip: "to the left of" ↔ "to the right of"; the other
    predicates (and −1, unknown) are unchanged by a mirror."""
    left, right = PREDICATES.index("to the left of"), PREDICATES.index("to the right of")
    return torch.where(labels == left, torch.full_like(labels, right),
                       torch.where(labels == right, torch.full_like(labels, left), labels))


def hflip_batch(batch: dict[str, torch.Tensor], mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Flip the items selected by ``mask`` (bool ``(B,)``): image, boxes and banner together,
    and the relation label (left ↔ right) for the supervised baseline."""
    out = dict(batch)
    m = mask.to(next(iter(batch.values())).device)
    if "image" in batch:
        img = batch["image"]
        out["image"] = torch.where(m.view(-1, 1, 1, 1), img.flip(-1), img)
    if "boxes" in batch:
        out["boxes"] = torch.where(m.view(-1, 1, 1), mirror_boxes(batch["boxes"]), batch["boxes"])
    if "sfb" in batch:
        out["sfb"] = torch.where(m.view(-1, 1, 1), mirror_sfb(batch["sfb"]), batch["sfb"])
    if "label" in batch:
        out["label"] = torch.where(m, mirror_labels(batch["label"]), batch["label"])
    return out
