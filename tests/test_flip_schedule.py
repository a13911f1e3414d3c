"""The flip schedule: which items of a training batch are horizontally flipped is fixed by
(seed, epoch, step) and changes with each of them (:func:`csip.cache.order.flip_mask`, as the
BatchReader's docstring states). Read back from the batches themselves (an image equal to the
unflipped one mirrored), not from ``flip_mask``, so that a schedule that ignored its epoch (every
epoch flipping the same positions) or its step fails here."""

from __future__ import annotations

import itertools

import pytest
import torch

from cache_helpers import RandomSource
from csip.cache import build
from csip.cache.batches import batches
from csip.cache.order import flip_mask
from csip.descriptor import DescriptorParams

pytest.importorskip("csip_core._csip_core", reason="the Rust extension is not built")

S, BATCH = 16, 16


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("flips") / "c"
    build(RandomSource(n=64, seed=3, size=24), out, image_size=S, desc=DescriptorParams.make("-1:1:0.5", 8, "max"),
          workers=0, chunk=64, progress=False, spec="python:cache_helpers:make_source")
    return out


def _realized_flips(cache_dir, seed: int, epoch: int) -> list[tuple[bool, ...]]:
    """Per step of the epoch, which positions of the batch came out mirrored (by comparing each
    image with the same item read without flips)."""
    kw = dict(split=None, batch_size=BATCH, seed=seed, epoch=epoch, keys=("image", "index"))
    out = []
    for got, plain in zip(batches(cache_dir, flip=True, **kw), batches(cache_dir, flip=False, **kw)):
        assert torch.equal(got["index"], plain["index"])
        mirrored = [torch.equal(g, p.flip(-1)) and not torch.equal(g, p) for g, p in zip(got["image"], plain["image"])]
        kept = [torch.equal(g, p) for g, p in zip(got["image"], plain["image"])]
        assert all(m != k for m, k in zip(mirrored, kept)), "an image neither kept nor mirrored"
        out.append(tuple(mirrored))
    return out


def test_the_flipped_items_change_with_epoch_and_seed_and_repeat_exactly(cache_dir):
    e0, e1, other_seed = (_realized_flips(cache_dir, 0, 0), _realized_flips(cache_dir, 0, 1),
                          _realized_flips(cache_dir, 1, 0))
    assert len(e0) == len(e1) == 64 // BATCH
    assert _realized_flips(cache_dir, 0, 0) == e0  # fixed by (seed, epoch, step)
    # P(two independent 16-item masks equal) = 2^-16 per step; over 4 steps: 2^-64
    assert e0 != e1, "epoch 1 flips the same positions as epoch 0: the schedule ignores its epoch"
    assert e0 != other_seed, "seed 1 flips the same positions as seed 0"
    assert len(set(e0)) > 1, "every step of the epoch flips the same positions: the schedule ignores its step"
    flipped = sum(map(sum, e0 + e1 + other_seed))
    assert 0.25 < flipped / (3 * 64) < 0.75  # about half (binomial(192, 1/2): 0.5 ± 0.036 s.d.)


def test_flip_mask_differs_for_every_seed_epoch_and_step():
    """Every (seed, epoch, step) of a 4 × 4 × 4 grid gets its own 64-item mask (two equal ones by
    chance: 2016 pairs × 2^-64), the same on each call."""
    grid = list(itertools.product(range(4), range(4), range(4)))
    masks = {key: tuple(flip_mask(*key, 64).tolist()) for key in grid}
    assert len(set(masks.values())) == len(grid)
    assert all(tuple(flip_mask(*key, 64).tolist()) == m for key, m in masks.items())
