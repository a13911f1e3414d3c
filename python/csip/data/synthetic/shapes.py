"""Shape families of the synthetic scenes, rasterised at pixel centres from implicit functions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Shape families. ``crescent`` and ``L-shape`` are concave without a hole: their box holds
#: background, so a box says less about where their pixels are than for the convex ones.
SHAPES: tuple[str, ...] = (
    "ellipse", "rectangle", "triangle", "star", "ring", "cross", "blob", "diamond", "crescent", "L-shape",
)

_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(xx, yy)``, float32 ``(size, size)``, cached per process."""
    g = _GRIDS.get(size)
    if g is None:
        c = np.arange(size, dtype=np.float32) + 0.5
        g = (np.broadcast_to(c[None, :], (size, size)).copy(), np.broadcast_to(c[:, None], (size, size)).copy())
        _GRIDS[size] = g
    return g


@dataclass
class Shape:
    """One shape: family, centre (px), radius scale r (px), rotation (rad), aspect, extra params."""

    kind: str
    cx: float
    cy: float
    r: float
    rot: float
    aspect: float
    extra: tuple = ()

    @property
    def extent(self) -> float:
        """Radius (px) of a circle around the centre that holds the whole shape. (Version 1 of
        the generator used ``1.05 r`` for every family, which cut off the corners of rectangles,
        crosses and the widest blobs by up to a few pixels.)"""
        if self.kind == "rectangle":  # half-sides 0.85 r sqrt(a) and 0.85 r / sqrt(a): the corner
            return 0.85 * self.r * math.sqrt(self.aspect + 1.0 / self.aspect) * 1.02
        if self.kind == "L-shape":  # a square of half-side r: the corner
            return self.r * math.sqrt(2.0) * 1.02
        if self.kind == "cross":  # arm tips (r, w): a little beyond r
            return self.r * math.hypot(1.0, self.extra[0]) * 1.02
        if self.kind == "blob":  # radius r (0.85 + the sum of the wobbles' amplitudes) at most
            return self.r * (0.85 + sum(self.extra[:3])) * 1.02
        return self.r * max(self.aspect, 1.0 / self.aspect) ** 0.5 * 1.05


def new_shape(rng: np.random.Generator, kind: str, r: float) -> Shape:
    """A shape of family ``kind`` and radius scale ``r`` (px) with random rotation, aspect and
    family parameters, centred at the origin (callers set ``cx``, ``cy``)."""
    aspect = float(rng.uniform(0.6, 1.6)) if kind in ("ellipse", "rectangle", "diamond") else 1.0
    if kind == "star":
        extra = (int(rng.integers(5, 8)), float(rng.uniform(0.4, 0.55)))
    elif kind == "ring":
        extra = (float(rng.uniform(0.45, 0.65)),)
    elif kind == "cross":
        extra = (float(rng.uniform(0.28, 0.4)),)
    elif kind == "blob":
        extra = tuple(float(v) for v in np.concatenate([rng.uniform(0.0, 0.12, 3), rng.uniform(0, 2 * np.pi, 3)]))
    elif kind == "crescent":  # bite: radius (fraction of r), offset of its centre (fraction of r)
        extra = (float(rng.uniform(0.7, 0.9)), float(rng.uniform(0.35, 0.55)))
    elif kind == "L-shape":  # arm thickness, fraction of the side 2r
        extra = (float(rng.uniform(0.3, 0.45)),)
    else:
        extra = ()
    return Shape(kind, 0.0, 0.0, float(r), float(rng.uniform(0, 2 * np.pi)), aspect, extra)


def render(s: Shape, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise a shape: ``(mask, filled)`` bool ``(size, size)``; ``filled`` closes holes (ring)."""
    mask = np.zeros((size, size), dtype=bool)
    filled = np.zeros((size, size), dtype=bool)
    win, m, f = render_window(s, size)
    if win is not None:
        mask[win] = m
        filled[win] = f
    return mask, filled


def render_window(s: Shape, size: int):
    """Rasterise a shape in its bounding window only (much faster for small shapes):
    ``(window slices, mask, filled)``, or ``(None, None, None)`` when it is off the image."""
    xx, yy = grid(size)
    e = s.extent + 2
    x0, x1 = max(0, int(s.cx - e)), min(size, int(s.cx + e) + 1)
    y0, y1 = max(0, int(s.cy - e)), min(size, int(s.cy + e) + 1)
    if x1 <= x0 or y1 <= y0:
        return None, None, None
    dx = xx[y0:y1, x0:x1] - np.float32(s.cx)
    dy = yy[y0:y1, x0:x1] - np.float32(s.cy)
    c, sn = np.float32(math.cos(s.rot)), np.float32(math.sin(s.rot))
    u = dx * c + dy * sn
    v = -dx * sn + dy * c
    m, f = _implicit(s, u, v)
    return (slice(y0, y1), slice(x0, x1)), m, f


def _implicit(s: Shape, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mask, filled)`` of shape ``s`` at rotated offsets ``(u, v)`` (px) from its centre."""
    r = np.float32(s.r)
    a = np.float32(math.sqrt(s.aspect))
    k = s.kind
    if k == "ellipse":
        m = (u / (r * a)) ** 2 + (v * a / r) ** 2 <= 1
    elif k == "rectangle":
        m = (np.abs(u) <= 0.85 * r * a) & (np.abs(v) <= 0.85 * r / a)
    elif k == "diamond":
        m = np.abs(u) / (r * a) + np.abs(v) * a / r <= 1
    elif k == "triangle":
        m = np.ones_like(u, dtype=bool)
        for j in range(3):
            ang = math.pi / 2 + 2 * math.pi * j / 3
            m &= u * np.float32(math.cos(ang)) + v * np.float32(math.sin(ang)) <= 0.5 * r
    elif k == "ring":
        rho2 = u * u + v * v
        f = rho2 <= r * r
        return f & (rho2 >= (r * np.float32(s.extra[0])) ** 2), f
    elif k == "cross":
        w = r * np.float32(s.extra[0])
        au, av = np.abs(u), np.abs(v)
        m = ((au <= w) & (av <= r)) | ((av <= w) & (au <= r))
    elif k == "star":
        n, inner = s.extra
        rho = np.sqrt(u * u + v * v)
        lim = r * (inner + (1 - inner) * ((1 + np.cos(n * np.arctan2(v, u))) * 0.5) ** 2)
        m = rho <= lim
    elif k == "blob":
        amp, ph = s.extra[:3], s.extra[3:]
        th = np.arctan2(v, u)
        lim = np.full_like(th, 0.85)
        for j in range(3):
            lim += np.float32(amp[j]) * np.cos((j + 2) * th + np.float32(ph[j]))
        m = np.sqrt(u * u + v * v) <= r * lim
    elif k == "crescent":
        bite, off = np.float32(s.extra[0]) * r, np.float32(s.extra[1]) * r
        m = (u * u + v * v <= r * r) & ((u - off) ** 2 + v * v > bite * bite)
    elif k == "L-shape":
        t = np.float32(2 * s.extra[0]) * r
        inside = (np.abs(u) <= r) & (np.abs(v) <= r)
        m = inside & ((u <= -r + t) | (v >= r - t))
    else:  # pragma: no cover - SHAPES is closed
        raise ValueError(k)
    return m, m
