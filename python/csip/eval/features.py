"""Frozen features of cache items, computed once per encoder and shared by every task.

:func:`extract` runs an encoder (anything with ``features(batch)`` and ``uses``, see
:mod:`csip.eval.baselines`) over a set of cache positions and returns a :class:`FeatureTable`,
whose ``rows(positions)`` gives the features of any of those items in any order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Subset

from ..base.checks import default_device
from ..base.errors import EvalError
from ..cache import CacheDataset
from ..models.encoder import encode


class FeatureTable:
    """Features ``(M, D)`` float32 of the cache items at sorted, distinct ``indices`` ``(M,)``."""

    def __init__(self, indices: np.ndarray, features: np.ndarray):
        idx = np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1 or (idx.size and np.any(np.diff(idx) <= 0)):
            raise ValueError("indices must be sorted and distinct")
        f = np.asarray(features, dtype=np.float32)
        if f.shape[0] != idx.shape[0]:
            raise ValueError(f"{f.shape[0]} feature rows for {idx.shape[0]} indices")
        self.indices, self.features = idx, f

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def rows(self, positions: Sequence[int] | np.ndarray) -> np.ndarray:
        """Features of cache items ``positions`` ``(n,)`` → ``(n, D)``; KeyError for an item not held."""
        pos = np.asarray(positions, dtype=np.int64)
        at = np.searchsorted(self.indices, pos)
        at_c = np.minimum(at, max(len(self.indices) - 1, 0))
        if pos.size and (len(self.indices) == 0 or np.any(self.indices[at_c] != pos)):
            missing = pos[(at >= len(self.indices)) | (self.indices[at_c] != pos)]
            raise KeyError(f"features of cache items {missing[:5].tolist()} were not computed")
        return self.features[at_c]


#: What ``--features`` may name: the pre-projection features f_v, or the shared embedding g_v∘f_v.
FEATURE_KINDS = ("pre", "embed")


def check_finite(table: FeatureTable, row: str, source: str = "") -> None:
    """:class:`~csip.base.errors.EvalError` naming the encoder ``row`` and its ``source`` (the
    checkpoint) when any of its features is NaN or infinite (weights that are NaN, a diverged
    run): nothing ranks or probes them, since they would still give a number (NaN distances sort
    somewhere)."""
    bad = ~np.isfinite(table.features).all(axis=1)
    if bad.any():
        first = int(table.indices[np.argmax(bad)])
        where = f" ({source})" if source else ""
        raise EvalError(f"encoder row {row!r}{where}: its features are not finite (NaN or inf) for "
                        f"{int(bad.sum())} of {len(bad)} items (first: cache item {first}); its weights are "
                        "broken (a diverged or damaged checkpoint?), so no number is computed from them")


def uses_embedding(encoder, features: str) -> bool:
    """Whether ``features`` (one of :data:`FEATURE_KINDS`) ranks ``encoder`` by its shared-space
    embedding: only for ``"embed"`` and an encoder with a projection head (a C-SIP tower). Other
    encoders (random-init, supervised, pre-trained) have no such space and keep f_v (their
    embedding would be the L2-normalised f_v: the same cosines)."""
    if features not in FEATURE_KINDS:
        raise ValueError(f"features must be one of {', '.join(FEATURE_KINDS)}, got {features!r}")
    return features == "embed" and getattr(encoder, "head", None) is not None


def extract(encoder, cache, indices: Sequence[int] | np.ndarray, batch_size: int = 256,
            device: str | torch.device | None = None, workers: int = 0, features: str = "pre") -> FeatureTable:
    """Features of ``encoder`` for the cache items ``indices`` (deduplicated and sorted).

    ``cache``: a :class:`csip.cache.Cache`; items are read as :class:`~csip.cache.CacheDataset`
    yields them (uint8 image, boxes). Uses :func:`csip.models.encoder.encode` (bf16 autocast on CUDA,
    float32 results). ``features``: ``"pre"`` (f_v, ``(N, D)``) or ``"embed"`` (g_v∘f_v,
    ``(N, E)``, L2-normalised, for encoders that have it: :func:`uses_embedding`).
    """
    idx = np.unique(np.asarray(indices, dtype=np.int64))
    ds = Subset(CacheDataset(cache), idx.tolist())
    feats = encode(encoder, ds, batch_size=int(batch_size), device=device or default_device(), workers=int(workers),
                   embed=uses_embedding(encoder, features))
    if feats.shape[0] == 0:
        feats = np.zeros((0, int(getattr(encoder, "out_dim", 0))), np.float32)
    return FeatureTable(idx, feats)


__all__ = ["FEATURE_KINDS", "FeatureTable", "check_finite", "default_device", "extract", "uses_embedding"]
