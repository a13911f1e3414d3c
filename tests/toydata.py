"""A tiny in-memory stand-in for a cache, for tests and benchmarks of the training code.

:class:`ToyPairs` yields exactly the item dicts of :class:`csip.cache.CacheDataset`::

    {"image": uint8 (3, S, S), "sfb": float32 (R, K), "boxes": float32 (2, 4),
     "label": int64, "index": int64}

Item ``i`` is a pure function of ``(seed, i)``: two filled rectangles A and B on a dark
background, their normalised boxes, and a banner-like array that depends on where A lies
relative to B (a smooth bump around the direction φ of the centres' offset, mod π, sharper for
higher "force levels"; each row scaled to max 1, like the normalised sFB). Not a real sFB —
just enough structure for a model to learn from in a few steps. It is *not* the built-in
synthetic scenes generator (see :mod:`csip.data`), which has real masks and real banners.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch.utils.data import Dataset


class ToyPairs(Dataset):
    """``n`` deterministic toy items (see the module docstring); ``labels`` is the label array."""

    def __init__(self, n: int = 64, image_size: int = 32, n_levels: int = 5, n_angles: int = 16, seed: int = 0,
                 nan_at: int | None = None, delay: float = 0.0):
        self.n, self.s, self.r, self.k, self.seed = n, image_size, n_levels, n_angles, seed
        self.nan_at = nan_at  # item whose banner is NaN (fault-injection tests)
        self.delay = delay  # seconds of sleep per item (to slow a run down in tests)
        self.labels = np.array([self._make(i)[3] for i in range(n)], dtype=np.int64)

    def __len__(self) -> int:
        return self.n

    def _make(self, i: int):
        rng = np.random.default_rng([self.seed, i, 7])
        boxes = np.zeros((2, 4), np.float32)
        for j in range(2):
            w, h = rng.uniform(0.15, 0.45, 2)
            x0, y0 = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
            boxes[j] = (x0, y0, x0 + w, y0 + h)
        ca = (boxes[0, :2] + boxes[0, 2:]) / 2
        cb = (boxes[1, :2] + boxes[1, 2:]) / 2
        dx, dy = ca[0] - cb[0], -(ca[1] - cb[1])  # y up, as θ = π/2 points up
        phi = math.atan2(dy, dx)
        theta = np.arange(self.k) * math.pi / self.k
        sharp = np.linspace(1.0, 6.0, self.r)[:, None]
        sfb = np.exp(sharp * (np.cos(2 * (theta[None, :] - phi)) - 1)).astype(np.float32)
        sfb /= sfb.max(axis=1, keepdims=True)
        if abs(dx) > abs(dy):
            label = 6 if dx < 0 else 7  # "to the left of" / "to the right of"
        else:
            label = 0 if dy > 0 else 8  # "above" / "under"
        if rng.random() < 0.2:
            label = -1
        return boxes, sfb, rng.integers(0, 2**31), label

    def __getitem__(self, i: int) -> dict:
        if self.delay:
            time.sleep(self.delay)
        boxes, sfb, img_seed, label = self._make(i)
        rng = np.random.default_rng(int(img_seed))
        img = rng.integers(0, 40, (3, self.s, self.s), dtype=np.uint8)
        for j, col in enumerate(((220, 60, 60), (60, 60, 220))):
            x0, y0, x1, y1 = (boxes[j] * self.s).round().astype(int)
            img[:, y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)] = np.array(col, np.uint8)[:, None, None]
        if self.nan_at is not None and i == self.nan_at:
            sfb = np.full_like(sfb, np.nan)
        return {
            "image": torch.from_numpy(img),
            "sfb": torch.from_numpy(sfb),
            "boxes": torch.from_numpy(boxes),
            "label": torch.tensor(label, dtype=torch.int64),
            "index": torch.tensor(i, dtype=torch.int64),
        }
