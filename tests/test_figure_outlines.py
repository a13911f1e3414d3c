"""Fig. 3 outlines A and B in every image: the boundary pixels of each mask in its colour."""

from __future__ import annotations

import numpy as np

from csip.viz import figures
from csip.viz.figures import COLOUR_A, COLOUR_B, boundary, outlined


def _boundary_slow(mask):
    """Independent reference: a mask pixel with a 4-neighbour outside the mask or the image."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    for y in range(h):
        for x in range(w):
            if mask[y, x]:
                nb = [(y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)]
                out[y, x] = any(not (0 <= a < h and 0 <= b < w) or not mask[a, b] for a, b in nb)
    return out


def _masks():
    a = np.zeros((20, 24), bool)
    a[2:9, 3:12] = True
    a[5, 12:15] = True  # a one-pixel spur: all boundary
    b = np.zeros((20, 24), bool)
    b[10:20, 14:24] = True  # touches the image border
    return a, b


def test_boundary_matches_the_slow_reference():
    for m in _masks():
        assert np.array_equal(boundary(m), _boundary_slow(m))
    assert boundary(np.zeros((4, 4), bool)).sum() == 0


def test_outlined_draws_each_boundary_in_its_colour_and_tints_the_inside():
    a, b = _masks()
    img = np.full((20, 24, 3), 100, np.uint8)
    out = outlined(img, a, b)
    assert (out[_boundary_slow(a)] == COLOUR_A).all() and (out[_boundary_slow(b)] == COLOUR_B).all()
    inside = a & ~_boundary_slow(a)
    assert inside.any() and not (out[inside] == COLOUR_A).all(axis=1).any()  # tinted, not painted
    assert (out[~(a | b)] == 100).all()


def test_the_retrieval_grid_draws_the_outlined_images(tmp_path, monkeypatch):
    a, b = _masks()
    drawn = []
    real = figures.outlined
    monkeypatch.setattr(figures, "outlined", lambda *args, **kw: drawn.append(real(*args, **kw)) or drawn[-1])
    item = {"image": np.full((20, 24, 3), 100, np.uint8), "mask_a": a, "mask_b": b, "sfb": None, "caption": "x"}
    path = figures.retrieval_grid([{"query": item, "results": [item, item]}], [0.0, 1.0], tmp_path / "g.png")
    assert path.is_file() and len(drawn) == 3  # the query and both results
    assert all((d[_boundary_slow(b)] == COLOUR_B).all() for d in drawn)
