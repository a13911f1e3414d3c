"""Cache items as the tasks and the figures see them: the positions of a split, what a figure
draws of one item, its relation's name, and the banners figure every evaluation draws (Fig. 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import PREDICATES
from ..viz.figures import sfb_figure


def split_indices(cache, split: str | None) -> np.ndarray:
    """Cache positions ``(n,)`` of ``split`` (``"all"`` or None: every item)."""
    return cache.indices(None if split in (None, "all") else split)


def item_view(cache, i: int, caption: str = "") -> dict:
    """What the figures draw of cache item ``i``: image (S, S, 3), both masks, sFB, caption."""
    m = cache.masks(int(i))
    return {"image": np.asarray(cache.images[int(i)]).transpose(1, 2, 0), "mask_a": m[0], "mask_b": m[1],
            "sfb": np.asarray(cache.sfb[int(i)]), "caption": caption}


def label_name(cache, i: int) -> str:
    """The relation of cache item ``i`` (:data:`csip.data.PREDICATES`), ``"?"`` when unlabelled."""
    lab = int(cache.labels[int(i)])
    return PREDICATES[lab] if 0 <= lab < len(PREDICATES) else "?"


def sfb_examples_figure(cache, path: str | Path, n: int = 4, split: str = "test") -> Path:
    """Fig. 2: ``n`` items of ``split`` (one per relation label first, for variety): image with
    both masks, each mask, and the sFB."""
    idx = split_indices(cache, split)
    if len(idx) == 0:
        idx = cache.indices(None)
    labels = np.asarray(cache.labels)[idx]
    pick: list[int] = []
    seen: set[int] = set()
    for p, lab in zip(idx, labels):
        if int(lab) not in seen:
            seen.add(int(lab))
            pick.append(int(p))
        if len(pick) == n:
            break
    for p in idx:
        if len(pick) >= n:
            break
        if int(p) not in pick:
            pick.append(int(p))
    rows = [item_view(cache, p, f"#{p} {cache.ids[p]} ({label_name(cache, p)})") for p in pick]
    return sfb_figure(rows, cache.forces, path, title="symmetric Force Banners (A orange, B blue)")


__all__ = ["item_view", "label_name", "sfb_examples_figure", "split_indices"]
