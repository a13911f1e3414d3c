"""Small operations on bool masks used to lay out and judge synthetic scenes."""

from __future__ import annotations

import numpy as np


def shift(m: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate a 2-D array by whole pixels, filling with zeros (no wrap-around)."""
    out = np.zeros_like(m)
    h, w = m.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = m[ys, xs]
    return out


def dilate(m: np.ndarray, k: int) -> np.ndarray:
    """Binary dilation by a (2k+1) x (2k+1) square (separable, by shifts): the pixels within
    Chebyshev distance ``k`` of ``m``."""
    out = m.copy()
    for s in range(1, k + 1):
        out[:, s:] |= m[:, :-s]
        out[:, :-s] |= m[:, s:]
    row = out.copy()
    for s in range(1, k + 1):
        out[s:, :] |= row[:-s, :]
        out[:-s, :] |= row[s:, :]
    return out


def centroid(m: np.ndarray) -> tuple[float, float]:
    """Centre of mass ``(x, y)`` of a non-empty mask, in px from the image's top-left corner."""
    ys, xs = np.nonzero(m)
    return float(xs.mean()) + 0.5, float(ys.mean()) + 0.5


def contact(full_a: np.ndarray, fill_a: np.ndarray, full_b: np.ndarray, axis: str, gap: int):
    """Slide A towards B along ``axis`` ("x": A is left or right of B; "y": A above B) until, on
    every row (column) they share, at least ``gap`` empty pixels separate them, and exactly
    ``gap`` on the closest one. Returns the shifted ``(full_a, fill_a)``, or None when they share
    no row (column)."""
    if axis == "y":
        a_t, b_t = full_a.T, full_b.T
    else:
        a_t, b_t = full_a, full_b
    rows = a_t.any(1) & b_t.any(1)
    if not rows.any():
        return None
    w = a_t.shape[1]
    idx = np.arange(w)
    a_r, b_r = a_t[rows], b_t[rows]
    if axis == "y" or centroid(full_a)[0] < centroid(full_b)[0]:  # A before B along the axis
        last_a = np.where(a_r, idx, -1).max(1)
        first_b = np.where(b_r, idx, w).min(1)
        step = int((first_b - last_a - 1).min()) - gap
    else:
        first_a = np.where(a_r, idx, w).min(1)
        last_b = np.where(b_r, idx, -1).max(1)
        step = -(int((first_a - last_b - 1).min()) - gap)
    if axis == "y":
        return shift(full_a, step, 0), shift(fill_a, step, 0)
    return shift(full_a, 0, step), shift(fill_a, 0, step)
