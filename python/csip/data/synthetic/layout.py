"""Where the two main objects go, and the occluder that may hide part of one of them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .masks import contact, dilate
from .relations import ObjectMasks
from .shapes import Shape, new_shape, render

#: Direction (degrees, 0 = right, 90 = up) from B to A that realises each directional target.
_DIRECTION = {"to the left of": 180.0, "to the right of": 0.0, "above": 90.0, "under": -90.0, "on": 90.0}


def place_pair(rng: np.random.Generator, target: str | None, a: Shape, b: Shape, size: int, variant: bool) -> bool:
    """Set the centres of A and B to realise ``target`` (before exact contact or gap, see
    :func:`close_in`); False if the pair cannot fit the image.

    ``variant`` picks the harder layout of a target: for "in front of" / "behind", the (small) A
    straddles B's outline, inside B's box; for the directional targets, the objects start touching
    (their extents) and :func:`close_in` then sets a small gap between the masks."""
    ea, eb = a.extent, b.extent
    if target == "in":
        jitter = 0.25 * max(0.0, b.r - ea)
        dx, dy = rng.uniform(-1, 1, 2) * jitter
    elif target in ("in front of", "behind") and variant:
        reach = max(0.0, eb - ea)  # A's centre anywhere its extent stays in B's extent square
        dx, dy = rng.uniform(-1, 1, 2) * reach
    elif target in ("in front of", "behind", None):
        ang = rng.uniform(0, 2 * np.pi)
        d = (ea + eb) * (rng.uniform(0.3, 0.75) if target else rng.uniform(0.2, 2.5))
        dx, dy = d * math.cos(ang), -d * math.sin(ang)
    else:
        base = _DIRECTION[target] if target != "next to" else (180.0 if rng.random() < 0.5 else 0.0)
        spread = 12.0 if target in ("next to", "on") else 20.0
        ang = math.radians(base + rng.uniform(-spread, spread))
        far = target not in ("next to", "on") and not variant
        d = ea + eb + (rng.uniform(0.08, 0.25) * size if far else 0.0)
        dx, dy = d * math.cos(ang), -d * math.sin(ang)
    lo_x, hi_x = max(eb, ea - dx), min(size - eb, size - ea - dx)
    lo_y, hi_y = max(eb, ea - dy), min(size - eb, size - ea - dy)
    if lo_x > hi_x or lo_y > hi_y:
        return False
    b.cx, b.cy = float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y))
    a.cx, a.cy = b.cx + dx, b.cy + dy
    return True


def close_in(rng: np.random.Generator, target: str | None, variant: bool, a: tuple[np.ndarray, np.ndarray],
             b: tuple[np.ndarray, np.ndarray], size: int):
    """Slide one object against the other to realise ``target`` exactly: touching (0–1 px) for
    "next to", "on" and half of "under" (B on A); with ``variant``, a gap of 4–10 px (× size/128)
    between the masks for "to the left / right of", "above" and the other "under" (the masks
are 'apart' from 4 px on, :mod:`.relations`). ``a``, ``b``:
    ``(full, filled)`` masks. Returns the new ``(a, b)``, or None when the slide is impossible."""
    t = size / 128.0
    if target in ("next to", "on"):
        gap, moving_b = int(rng.integers(0, 2)), False
    elif target == "under" and rng.random() < 0.5:
        gap, moving_b = 0, True  # B on A: slide B down onto A
    elif variant and target in ("to the left of", "to the right of", "above", "under"):
        gap, moving_b = int(rng.integers(round(4 * t), round(10 * t) + 1)), target == "under"
    else:
        return a, b
    axis = "x" if target in ("next to", "to the left of", "to the right of") else "y"
    if moving_b:
        res = contact(b[0], b[1], a[0], axis, gap)
        return None if res is None else (a, res)
    res = contact(a[0], a[1], b[0], axis, gap)
    return None if res is None else (res, b)


@dataclass(frozen=True)
class Occluder:
    """A shape in front of everything that hides part of A (``hides_a``) or of B: its mask, bool
    ``(size, size)``."""

    shape: Shape
    mask: np.ndarray
    hides_a: bool


def find_occluder(rng: np.random.Generator, kind: str, a: ObjectMasks, b: ObjectMasks, size: int,
                  min_visible: int, tries: int = 4) -> Occluder | None:
    """An occluder of family ``kind`` (radius 6–11 % of the image) over A or B (even odds) that
    hides 10–45 % of that object's visible pixels, leaves at least ``min_visible`` of them, and
    stays more than 2 px away from the other object: the evidence of contact or separation
    between A and B stays visible. None when ``tries`` placements all fail."""
    hides_a = bool(rng.random() < 0.5)
    x, y = (a, b) if hides_a else (b, a)
    clear = dilate(y.visible, 2)
    ys, xs = np.nonzero(x.visible)
    n_vis = len(ys)
    for _ in range(tries):
        s = new_shape(rng, kind, rng.uniform(0.06, 0.11) * size)
        k = int(rng.integers(n_vis))
        s.cx, s.cy = float(xs[k]) + 0.5, float(ys[k]) + 0.5
        mask, _ = render(s, size)
        hidden = int((mask & x.visible).sum())
        if 0.1 * n_vis <= hidden <= 0.45 * n_vis and n_vis - hidden >= min_visible and not (mask & clear).any():
            return Occluder(s, mask, hides_a)
    return None
