"""The torch face of a cache: :class:`CacheDataset` (imports torch; :mod:`.reader` does not)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .reader import Cache
from .union import CacheUnion


class CacheDataset(Dataset):
    """A torch ``Dataset`` over a cache (or one of its splits), reading by memory map.

    Each item is a dict ``{"image": uint8 (3,S,S), "sfb": float32 (R,K), "boxes": float32 (2,4),
    "label": int64 scalar, "index": int64 scalar}`` (``index`` is the position in the whole
    cache), plus ``"masks": uint8 (2,S,S)`` with ``with_masks=True``. ``path`` may be a
    :class:`~csip.cache.union.CacheUnion` (``index`` is then the row in the union);
    ``labelled_only``: only the items with a relation label (a supervised run's). No decoding: the arrays
    are sliced from memory maps, opened lazily in each process (safe with DataLoader workers,
    fork or spawn).
    """

    def __init__(self, path: str | os.PathLike | Cache | CacheUnion, split: str | None = None,
                 with_masks: bool = False, labelled_only: bool = False):
        self.cache = path if isinstance(path, (Cache, CacheUnion)) else Cache(path)
        self.split = split
        self.with_masks = bool(with_masks)
        self.labelled_only = bool(labelled_only)
        self.indices = self.cache.indices(split)
        if labelled_only:
            self.indices = self.indices[np.asarray(self.cache.labels[self.indices]) >= 0]

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} out of range for {n} items")
        j = int(self.indices[i])
        c = self.cache
        item = {
            "image": torch.from_numpy(np.array(c.images[j])),
            "sfb": torch.from_numpy(np.array(c.sfb[j])),
            "boxes": torch.from_numpy(np.array(c.boxes[j])),
            "label": torch.tensor(int(c.labels[j]), dtype=torch.int64),
            "index": torch.tensor(j, dtype=torch.int64),
        }
        if self.with_masks:
            item["masks"] = torch.from_numpy(c.masks(j).astype(np.uint8))
        return item
