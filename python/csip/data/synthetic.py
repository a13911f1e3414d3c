"""Built-in synthetic spatial scenes: the default data of every command and of most tests.

Each scene is a square RGB image (``size`` pixels, 128 by default) on a cluttered textured
background, with two main objects A and B (plus up to ``distractors`` smaller ones drawn behind
them), their masks and boxes, a relation label and templated yes/no questions.

Determinism: scene ``i`` of ``SyntheticSource(seed=s)`` is drawn from
``numpy.random.default_rng((s, i))`` alone, so it is the same in every process and whatever the
order in which items are loaded.

How scenes are made
-------------------
- **Shapes** (8 families): ellipse, rectangle, triangle, star, ring, cross, blob, diamond; random
  size, aspect and rotation. Each is rasterised at pixel centres from an implicit function.
- **Appearance**: a named colour (red, green, blue, ...) with a random texture (solid, stripes,
  checker, dots, noise, gradient) mixing it with a darker or lighter shade of itself, so the
  colour name stays true. Shape and colour are drawn independently of the relation.
- **Layout**: a target relation is drawn uniformly from the nine predicates (or, with
  probability ``p_free``, a free layout), objects are placed to realise it (contact is made
  exact by sliding one mask against the other), then the label is **recomputed from the final
  geometry** by :func:`relations` (a few re-draws when it disagrees with the target; the label may
  end ``None`` when the geometry is ambiguous).
- **Occlusion**: one object is in front; its full mask is drawn over the other, and the hidden
  part is removed from the other's mask (``mask_b = full_b & ~full_a`` when A is in front).

Relation rules (A = subject, B = referent; image y grows downwards; angle ``theta`` is the
direction from B's centroid to A's, 0 = right, 90 = up; ``t = size / 128``):

- ``in``: at least 95 % of A's full mask lies in B's filled silhouette (a ring's hole counts), A
  at most half its area, A not hidden by B.
- ``in front of`` / ``behind``: the full masks overlap by at least 8 % of the smaller one; the
  front one is "in front of" the other.
- ``on``: A touches B (8-neighbourhood), no overlap, A's centroid above B's (theta in
  [45, 135]) and A's bottom within 2t px of B's top. ``under`` for the converse (B on A).
- ``next to``: no overlap, masks within 3 px, side by side (theta within 30 deg of horizontal).
- ``to the left of`` / ``to the right of``: theta within 30 deg of 180 / 0, the boxes separated
  horizontally (by at least 8t px for the *label*).
- ``above`` / ``under``: theta within 30 deg of 90 / -90, boxes separated vertically by at least
  4t px, masks more than 3 px apart.

The label is the first of these that holds, in the order: in, in front of / behind, on, under
(by contact), next to, to the left / right of, above, under; ``None`` when none holds (about 5 %
of scenes, mostly free layouts). Labels come out close to uniform over the nine predicates.

For questions, each predicate is also given a truth value in {True, False, None}; "False" is
only claimed when clearly false (e.g. "to the left of" is false when A's centroid is not left of
B's), and ``None`` predicates are never asked. Each scene gets one true and one false question
(in random order) when both exist: "Is the red star to the left of the blue ring?"; false ones
swap the objects or use a predicate that is false, with weights (``_FALSE_WEIGHT``) that keep
every predicate's "yes" rate near one half, so the question text alone gives little away.

Speed: numpy on shape windows, 1-D profiles and pixel lists; about 5 ms of CPU per 128-px scene
(10,000 scenes in about 30 s on two free cores with :func:`generate`).
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .sample import PREDICATES, Question, Sample, box_of

SHAPES: tuple[str, ...] = ("ellipse", "rectangle", "triangle", "star", "ring", "cross", "blob", "diamond")

#: Named colours (RGB) for objects; the name is used in questions.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (40, 165, 60),
    "blue": (35, 75, 215),
    "yellow": (240, 215, 35),
    "orange": (245, 135, 25),
    "purple": (135, 55, 185),
    "pink": (245, 120, 185),
    "cyan": (35, 200, 215),
    "white": (240, 240, 240),
    "black": (20, 20, 20),
    "brown": (125, 75, 35),
}
COLOUR_NAMES = tuple(COLOURS)
TEXTURES = ("solid", "stripes", "checker", "dots", "noise", "gradient")

_P = {p: i for i, p in enumerate(PREDICATES)}
_TEMPLATES = ("Is the {a} {p} the {b}?", "Is the {a} {p} the {b} in the image?", "Is the {a} {p} the {b} here?")

#: Sampling weights of predicates for false questions, set so that each predicate is answered
#: "yes" about half of the time (measured over 2000 scenes): a text-only model gains little.
_FALSE_WEIGHT = {"next to": 3.0, "in front of": 2.6, "behind": 2.6, "in": 0.5, "on": 0.7, "under": 0.8}

_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(xx, yy)``, float32 ``(size, size)``, cached per process."""
    g = _GRIDS.get(size)
    if g is None:
        c = np.arange(size, dtype=np.float32) + 0.5
        g = (np.broadcast_to(c[None, :], (size, size)).copy(), np.broadcast_to(c[:, None], (size, size)).copy())
        _GRIDS[size] = g
    return g


@dataclass
class _Shape:
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
        """Radius of a circle around the centre that holds the shape (px)."""
        return self.r * max(self.aspect, 1.0 / self.aspect) ** 0.5 * 1.05


def _new_shape(rng: np.random.Generator, kind: str, r: float) -> _Shape:
    aspect = float(rng.uniform(0.6, 1.6)) if kind in ("ellipse", "rectangle", "diamond") else 1.0
    if kind == "star":
        extra = (int(rng.integers(5, 8)), float(rng.uniform(0.4, 0.55)))
    elif kind == "ring":
        extra = (float(rng.uniform(0.45, 0.65)),)
    elif kind == "cross":
        extra = (float(rng.uniform(0.28, 0.4)),)
    elif kind == "blob":
        extra = tuple(float(v) for v in np.concatenate([rng.uniform(0.0, 0.12, 3), rng.uniform(0, 2 * np.pi, 3)]))
    else:
        extra = ()
    return _Shape(kind, 0.0, 0.0, float(r), float(rng.uniform(0, 2 * np.pi)), aspect, extra)


def _render(s: _Shape, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise a shape: ``(mask, filled)`` bool ``(size, size)``; ``filled`` closes holes (ring)."""
    mask = np.zeros((size, size), dtype=bool)
    filled = np.zeros((size, size), dtype=bool)
    win, m, f = _render_window(s, size)
    if win is not None:
        mask[win] = m
        filled[win] = f
    return mask, filled


def _render_window(s: _Shape, size: int):
    """Rasterise a shape in its bounding window only (much faster for small shapes):
    ``(window slices, mask, filled)``, or ``(None, None, None)`` when it is off the image."""
    xx, yy = _grid(size)
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
    r = np.float32(s.r)
    a = np.float32(math.sqrt(s.aspect))
    k = s.kind
    if k == "ellipse":
        m = (u / (r * a)) ** 2 + (v * a / r) ** 2 <= 1
        f = m
    elif k == "rectangle":
        m = (np.abs(u) <= 0.85 * r * a) & (np.abs(v) <= 0.85 * r / a)
        f = m
    elif k == "diamond":
        m = np.abs(u) / (r * a) + np.abs(v) * a / r <= 1
        f = m
    elif k == "triangle":
        m = np.ones_like(u, dtype=bool)
        for j in range(3):
            ang = math.pi / 2 + 2 * math.pi * j / 3
            m &= u * np.float32(math.cos(ang)) + v * np.float32(math.sin(ang)) <= 0.5 * r
        f = m
    elif k == "ring":
        rho2 = u * u + v * v
        f = rho2 <= r * r
        m = f & (rho2 >= (r * np.float32(s.extra[0])) ** 2)
    elif k == "cross":
        w = r * np.float32(s.extra[0])
        au, av = np.abs(u), np.abs(v)
        m = ((au <= w) & (av <= r)) | ((av <= w) & (au <= r))
        f = m
    elif k == "star":
        n, inner = s.extra
        rho = np.sqrt(u * u + v * v)
        th = np.arctan2(v, u)
        lim = r * (inner + (1 - inner) * ((1 + np.cos(n * th)) * 0.5) ** 2)
        m = rho <= lim
        f = m
    elif k == "blob":
        amp, ph = s.extra[:3], s.extra[3:]
        rho = np.sqrt(u * u + v * v)
        th = np.arctan2(v, u)
        lim = np.full_like(th, 0.85)
        for j in range(3):
            lim += np.float32(amp[j]) * np.cos((j + 2) * th + np.float32(ph[j]))
        m = rho <= r * lim
        f = m
    else:  # pragma: no cover - SHAPES is closed
        raise ValueError(k)
    return (slice(y0, y1), slice(x0, x1)), m, f


def _shift(m: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate a 2-D array by whole pixels, filling with zeros (no wrap-around)."""
    out = np.zeros_like(m)
    h, w = m.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = m[ys, xs]
    return out


def _dilate(m: np.ndarray, k: int) -> np.ndarray:
    """Binary dilation by a (2k+1) x (2k+1) square (separable, by shifts)."""
    out = m.copy()
    for s in range(1, k + 1):
        out[:, s:] |= m[:, :-s]
        out[:, :-s] |= m[:, s:]
    row = out.copy()
    for s in range(1, k + 1):
        out[s:, :] |= row[:-s, :]
        out[:-s, :] |= row[s:, :]
    return out


def _centroid(m: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(m)
    return float(xs.mean()) + 0.5, float(ys.mean()) + 0.5


def relations(
    vis_a: np.ndarray,
    vis_b: np.ndarray,
    full_a: np.ndarray,
    full_b: np.ndarray,
    fill_a: np.ndarray,
    fill_b: np.ndarray,
    a_in_front: bool,
    size: int,
) -> tuple[dict[str, bool | None], int | None]:
    """Truth of every predicate "A <p> B" and the scene label, from geometry alone.

    Inputs are bool ``(size, size)`` masks: visible (after occlusion), full (unoccluded) and
    filled (holes closed) for A and B, and which object is in front. Returns
    ``(truth, label)``: ``truth[p]`` is True / False / None (undetermined, never asked) for each of
    :data:`PREDICATES`; ``label`` is the index of the one predicate that describes the scene by
    the priority in the module docstring, or ``None``. Rules and thresholds: module docstring.
    """
    t = size / 128.0
    # Work on the union window of all masks (plus a margin for the 3-px dilation): only
    # differences of positions matter below, so cropping changes nothing but the cost.
    any_m = fill_a | fill_b | vis_a | vis_b
    rows, cols = np.flatnonzero(any_m.any(1)), np.flatnonzero(any_m.any(0))
    win = (slice(max(0, rows[0] - 4), rows[-1] + 5), slice(max(0, cols[0] - 4), cols[-1] + 5))
    vis_a, vis_b, full_a, full_b, fill_a, fill_b = (m[win] for m in (vis_a, vis_b, full_a, full_b, fill_a, fill_b))
    na, nb = int(full_a.sum()), int(full_b.sum())
    inter = int((full_a & full_b).sum())
    occl = inter / max(1, min(na, nb))
    cont_ab = int((full_a & fill_b).sum()) / max(1, na)
    cont_ba = int((full_b & fill_a).sum()) / max(1, nb)
    in_ab = cont_ab >= 0.95 and na <= 0.5 * int(fill_b.sum()) and (a_in_front or inter == 0)
    in_ba = cont_ba >= 0.95 and nb <= 0.5 * int(fill_a.sum()) and ((not a_in_front) or inter == 0)
    cxa, cya = _centroid(vis_a)
    cxb, cyb = _centroid(vis_b)
    theta = math.degrees(math.atan2(cyb - cya, cxa - cxb))
    ax0, ay0, ax1, ay1 = box_of(vis_a)
    bx0, by0, bx1, by1 = box_of(vis_b)
    sep_x = max(bx0 - ax1, ax0 - bx1)
    sep_y = max(by0 - ay1, ay0 - by1)
    dil1 = _dilate(vis_a, 1)
    touch = bool((dil1 & vis_b).any())
    near = touch or bool((_dilate(vis_a, 3) & vis_b).any())

    T: dict[str, bool | None] = {p: None for p in PREDICATES}
    # containment
    T["in"] = True if in_ab else (False if cont_ab <= 0.5 else None)
    # occlusion
    if not (in_ab or in_ba) and occl >= 0.08:
        T["in front of"] = a_in_front
        T["behind"] = not a_in_front
    # contact from above / below
    on_ab = touch and inter == 0 and 45 <= theta <= 135 and ay1 <= by0 + 2 * t
    on_ba = touch and inter == 0 and -135 <= theta <= -45 and by1 <= ay0 + 2 * t
    if on_ab:
        T["on"] = True
    elif cya >= cyb or not near:
        T["on"] = False
    # above / under
    free_v = sep_y >= 4 * t and not near
    if 60 <= theta <= 120 and free_v:
        T["above"] = True
    elif cya >= cyb:
        T["above"] = False
    if -120 <= theta <= -60 and (free_v or on_ba):
        T["under"] = True
    elif cya <= cyb:
        T["under"] = False
    # left / right
    if abs(theta) >= 150 and ax1 <= bx0:
        T["to the left of"] = True
    elif cxa >= cxb:
        T["to the left of"] = False
    if abs(theta) <= 30 and ax0 >= bx1:
        T["to the right of"] = True
    elif cxa <= cxb:
        T["to the right of"] = False
    # next to
    horizontal = abs(theta) <= 30 or abs(theta) >= 150
    if horizontal and near and inter == 0:
        T["next to"] = True
    elif sep_x > 12 * t or sep_y > 12 * t:
        T["next to"] = False

    if in_ab:
        label = "in"
    elif T["in front of"] is True:
        label = "in front of"
    elif T["behind"] is True:
        label = "behind"
    elif T["on"] is True:
        label = "on"
    elif T["under"] is True and on_ba:
        label = "under"
    elif T["next to"] is True:
        label = "next to"
    elif T["to the left of"] is True and sep_x >= 8 * t:
        label = "to the left of"
    elif T["to the right of"] is True and sep_x >= 8 * t:
        label = "to the right of"
    elif T["above"] is True:
        label = "above"
    elif T["under"] is True:
        label = "under"
    else:
        label = None
    return T, (None if label is None else _P[label])


def _texture(rng: np.random.Generator, size: int) -> tuple:
    """Draw a random texture: ``(kind, params)``; evaluated at pixels by :func:`_pattern`."""
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    if kind == "solid":
        return (kind,)
    ang = float(rng.uniform(0, np.pi))
    period = float(rng.uniform(3, 9) * size / 128)
    if kind == "stripes":
        return (kind, ang, period, float(rng.uniform(0, 2 * np.pi)))
    if kind == "noise":
        cell = int(rng.integers(2, 6))
        n = -(-size // cell)
        return (kind, cell, rng.random((n, n), dtype=np.float32))
    return (kind, ang, period)


def _pattern(tex: tuple, ys: np.ndarray, xs: np.ndarray, size: int) -> np.ndarray:
    """Texture values in [0, 1] (float32) at pixels ``(ys, xs)`` (1-D integer arrays)."""
    kind = tex[0]
    if kind == "solid":
        return np.zeros(ys.shape, np.float32)
    if kind == "noise":
        _, cell, grid = tex
        return grid[ys // cell, xs // cell]
    x = xs.astype(np.float32) + np.float32(0.5)
    y = ys.astype(np.float32) + np.float32(0.5)
    ang, period = tex[1], np.float32(tex[2])
    if kind == "checker":
        return ((np.floor(x / period) + np.floor(y / period)) % 2).astype(np.float32)
    if kind == "dots":
        w = np.float32(2 * np.pi) / period
        return ((np.sin(x * w) * np.sin(y * w)) > 0.45).astype(np.float32)
    proj = x * np.float32(math.cos(ang)) + y * np.float32(math.sin(ang))
    if kind == "stripes":
        return (np.sin(proj * (np.float32(2 * np.pi) / period) + np.float32(tex[3])) > 0).astype(np.float32)
    # gradient across the object
    p = proj - proj.min()
    return p / max(float(p.max()), 1e-6)


def _appearance(rng: np.random.Generator, colour: str, size: int) -> tuple:
    """(c1, c2, texture): the named colour jittered, a shade of it, and a texture."""
    c1 = np.clip(np.array(COLOURS[colour], np.float32) + rng.uniform(-18, 18, 3), 0, 255).astype(np.float32)
    if colour == "black":
        c2 = c1 + np.float32(rng.uniform(30, 60))
    elif rng.random() < 0.5:
        c2 = c1 * np.float32(rng.uniform(0.5, 0.75))
    else:
        c2 = c1 + (255 - c1) * np.float32(rng.uniform(0.3, 0.5))
    return c1, c2.astype(np.float32), _texture(rng, size)


def _paint(img: np.ndarray, mask: np.ndarray, app) -> None:
    """Paint ``mask`` of ``img`` (float32, channel-first (3, S, S)) with ``c1 + (c2 - c1) * pattern``."""
    c1, c2, tex = app
    ys, xs = np.nonzero(mask)
    p = _pattern(tex, ys, xs, img.shape[1])[None, :]
    img[:, ys, xs] = c1[:, None] + (c2 - c1)[:, None] * p


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A muted gradient with smooth low-frequency variation and clutter (small faint shapes and
    thin lines); float32, channel-first ``(3, size, size)``. Built from outer sums/products of 1-D profiles."""
    c = np.arange(size, dtype=np.float32) + np.float32(0.5)
    ca = rng.uniform(60, 200, 3).astype(np.float32)
    cb = np.clip(ca + rng.uniform(-50, 50, 3), 0, 255).astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    gx = c * np.float32(math.cos(ang) / (size * 1.5))
    gy = c * np.float32(math.sin(ang) / (size * 1.5)) + np.float32(0.5)
    g = np.clip(gy[:, None] + gx[None, :], 0, 1)
    img = ca[:, None, None] + (cb - ca)[:, None, None] * g[None]  # channel-first: fast broadcasting
    # smooth variation: a few random plane waves, sin(ax + by + p) = sin(ax)cos(by + p) + cos(ax)sin(by + p)
    low = np.zeros((size, size), np.float32)
    for _ in range(3):
        fx, fy = rng.uniform(-3, 3, 2) * (2 * np.pi / size)
        px, py = c * np.float32(fx), c * np.float32(fy) + np.float32(rng.uniform(0, 2 * np.pi))
        low += np.cos(py)[:, None] * np.sin(px)[None, :] + np.sin(py)[:, None] * np.cos(px)[None, :]
    img += (low * np.float32(rng.uniform(4, 12)))[None]
    # clutter: faint small shapes
    for _ in range(int(rng.integers(2, 7))):
        s = _new_shape(rng, SHAPES[int(rng.integers(len(SHAPES)))], rng.uniform(0.02, 0.06) * size)
        s.cx, s.cy = rng.uniform(0, size, 2)
        win, m, _ = _render_window(s, size)
        if win is not None:
            sub = img[(slice(None), *win)]
            ys, xs = np.nonzero(m)
            sub[:, ys, xs] = sub[:, ys, xs] * np.float32(0.6) + np.float32(0.4) * rng.uniform(40, 220, (3, 1)).astype(np.float32)
    # clutter: a few thin lines
    for _ in range(int(rng.integers(0, 4))):
        ang = rng.uniform(0, np.pi)
        d = np.abs((c * np.float32(math.sin(ang)) - np.float32(rng.uniform(0, size)))[:, None] + (c * np.float32(math.cos(ang)))[None, :])
        m = d <= rng.uniform(0.4, 1.2)
        ys, xs = np.nonzero(m)
        img[:, ys, xs] = img[:, ys, xs] * np.float32(0.5) + np.float32(0.5) * rng.uniform(40, 220, (3, 1)).astype(np.float32)
    return img


def _place_pair(rng: np.random.Generator, target: str | None, a: _Shape, b: _Shape, size: int) -> bool:
    """Set the centres of A and B to realise ``target`` (before exact contact); False if the pair
    cannot fit the image."""
    ea, eb = a.extent, b.extent
    if target == "in":
        jitter = 0.25 * max(0.0, b.r - ea)
        dx, dy = rng.uniform(-1, 1, 2) * jitter
    elif target in ("in front of", "behind", None):
        ang = rng.uniform(0, 2 * np.pi)
        d = (ea + eb) * (rng.uniform(0.3, 0.75) if target else rng.uniform(0.2, 2.5))
        dx, dy = d * math.cos(ang), -d * math.sin(ang)
    else:
        base = {
            "to the left of": 180.0,
            "to the right of": 0.0,
            "above": 90.0,
            "under": -90.0,
            "next to": 180.0 if rng.random() < 0.5 else 0.0,
            "on": 90.0,
        }[target]
        spread = 12.0 if target in ("next to", "on") else 20.0
        ang = math.radians(base + rng.uniform(-spread, spread))
        gap = 0.0 if target in ("next to", "on") else rng.uniform(0.08, 0.25) * size
        d = ea + eb + gap
        dx, dy = d * math.cos(ang), -d * math.sin(ang)
    # place the pair at a random spot where both fit
    lo_x = max(eb, ea - dx)
    hi_x = min(size - eb, size - ea - dx)
    lo_y = max(eb, ea - dy)
    hi_y = min(size - eb, size - ea - dy)
    if lo_x > hi_x or lo_y > hi_y:
        return False
    b.cx, b.cy = float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y))
    a.cx, a.cy = b.cx + dx, b.cy + dy
    return True


def _contact(full_a: np.ndarray, fill_a: np.ndarray, full_b: np.ndarray, axis: str, gap: int):
    """Slide A towards B along ``axis`` ("x": A is left or right of B; "y": A above B) until the
    closest pixels are ``gap`` px apart with no overlap. Returns the shifted (full_a, fill_a), or
    None when no row/column is shared."""
    if axis == "y":
        a_t, f_t, b_t = full_a.T, fill_a.T, full_b.T
    else:
        a_t, f_t, b_t = full_a, fill_a, full_b
    rows = a_t.any(1) & b_t.any(1)
    if not rows.any():
        return None
    w = a_t.shape[1]
    idx = np.arange(w)
    a_r, b_r = a_t[rows], b_t[rows]
    if axis == "y" or _centroid(full_a)[0] < _centroid(full_b)[0]:  # A before B along the axis
        last_a = np.where(a_r, idx, -1).max(1)
        first_b = np.where(b_r, idx, w).min(1)
        shift = int((first_b - last_a - 1).min()) - gap
    else:
        first_a = np.where(a_r, idx, w).min(1)
        last_b = np.where(b_r, idx, -1).max(1)
        shift = -(int((first_a - last_b - 1).min()) - gap)
    if axis == "y":
        return _shift(full_a, shift, 0), _shift(fill_a, shift, 0)
    return _shift(full_a, 0, shift), _shift(fill_a, 0, shift)


def _name_pair(rng: np.random.Generator) -> tuple[tuple[str, str], tuple[str, str]]:
    ka, kb = (SHAPES[int(i)] for i in rng.integers(len(SHAPES), size=2))
    ca = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
    cb = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
    while (cb, kb) == (ca, ka):
        cb = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
    return (ca, ka), (cb, kb)


def make_scene(seed: int, index: int, size: int = 128, distractors: int = 2, p_free: float = 0.1, retries: int = 6) -> Sample:
    """Scene ``index`` of the stream ``seed``: a :class:`Sample` with image ``uint8 (size, size, 3)``,
    masks, boxes, label (or None) and 0 or 2 questions (one yes, one no). Pure function of its
    arguments."""
    rng = np.random.default_rng((int(seed), int(index)))
    (ca, ka), (cb, kb) = _name_pair(rng)
    target = None if rng.random() < p_free else PREDICATES[int(rng.integers(len(PREDICATES)))]
    min_vis = max(16, int(0.003 * size * size))

    best = None
    for attempt in range(retries):
        if target == "in":
            rb, ra = rng.uniform(0.2, 0.28) * size, rng.uniform(0.055, 0.085) * size
        else:
            ra, rb = rng.uniform(0.08, 0.17, 2) * size
        a = _new_shape(rng, ka, ra)
        b = _new_shape(rng, kb, rb)
        if target == "in" and b.kind == "ring":
            a.r = min(a.r, 0.8 * b.r * b.extra[0])  # fit in the hole or on the band alike
        if not _place_pair(rng, target, a, b, size):
            continue
        full_a, fill_a = _render(a, size)
        full_b, fill_b = _render(b, size)
        if target in ("next to", "on") or (target == "under" and rng.random() < 0.5):
            if target == "under":  # B on A: slide B down onto A, i.e. A up against B from below
                res = _contact(full_b, fill_b, full_a, "y", 0)
                if res is None:
                    continue
                full_b, fill_b = res
            else:
                res = _contact(full_a, fill_a, full_b, "x" if target == "next to" else "y", int(rng.integers(0, 2)))
                if res is None:
                    continue
                full_a, fill_a = res
        if target == "in front of" or target == "in":
            a_front = True
        elif target == "behind":
            a_front = False
        else:
            a_front = bool(rng.random() < 0.5)
        if a_front:
            vis_a, vis_b = full_a, full_b & ~full_a
        else:
            vis_a, vis_b = full_a & ~full_b, full_b
        if vis_a.sum() < min_vis or vis_b.sum() < min_vis:
            continue
        truth, label = relations(vis_a, vis_b, full_a, full_b, fill_a, fill_b, a_front, size)
        best = (a, b, full_a, full_b, fill_a, fill_b, vis_a, vis_b, a_front, truth, label)
        if target is None or (label is not None and PREDICATES[label] == target):
            break
    if best is None:  # could not place (rare): a free layout from a derived stream, same id
        fallback = make_scene(seed, index + 1_000_000_007, size, distractors, 1.0, retries)
        return dataclasses.replace(fallback, id=f"synthetic-{seed}-{index}")
    a, b, full_a, full_b, fill_a, fill_b, vis_a, vis_b, a_front, truth, label = best

    # --- picture
    img = _background(rng, size)
    for _ in range(int(rng.integers(0, distractors + 1))):
        kd = SHAPES[int(rng.integers(len(SHAPES)))]
        cd = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
        if (cd, kd) in ((ca, ka), (cb, kb)):
            continue
        d = _new_shape(rng, kd, rng.uniform(0.05, 0.09) * size)
        d.cx, d.cy = rng.uniform(d.extent, size - d.extent, 2)
        md, _ = _render(d, size)
        _paint(img, md, _appearance(rng, cd, size))
    app_a, app_b = _appearance(rng, ca, size), _appearance(rng, cb, size)
    order = [(full_b, app_b), (full_a, app_a)] if a_front else [(full_a, app_a), (full_b, app_b)]
    for m, app in order:
        _paint(img, m, app)
    img += rng.standard_normal((size, size), dtype=np.float32)[None] * np.float32(3.0)  # sensor-like grain
    image = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 0))

    name_a, name_b = f"{ca} {ka}", f"{cb} {kb}"
    questions = _questions(rng, truth, label, (vis_a, vis_b, full_a, full_b, fill_a, fill_b, a_front, size), name_a, name_b)
    return Sample(
        id=f"synthetic-{seed}-{index}",
        image=image,
        mask_a=vis_a,
        mask_b=vis_b,
        box_a=box_of(vis_a),
        box_b=box_of(vis_b),
        label=label,
        questions=questions,
        source="synthetic",
        names=(name_a, name_b),
    )


def _questions(rng, truth_ab, label, geo, name_a, name_b) -> list[Question]:
    """One true and one false templated question (random order), or none when the scene has no
    clearly true or no clearly false statement."""
    vis_a, vis_b, full_a, full_b, fill_a, fill_b, a_front, size = geo
    truth_ba, _ = relations(vis_b, vis_a, full_b, full_a, fill_b, fill_a, not a_front, size)
    if label is not None:
        true_q = (PREDICATES[label], False)
    else:
        cands = [(p, False) for p in PREDICATES if truth_ab[p] is True] + [(p, True) for p in PREDICATES if truth_ba[p] is True]
        if not cands:
            return []
        true_q = cands[int(rng.integers(len(cands)))]
    p_true, swapped = true_q
    # false: the same predicate with the objects swapped, or a predicate that is false
    rev = truth_ab if swapped else truth_ba
    same = truth_ba if swapped else truth_ab
    others = [(p, swapped) for p in PREDICATES if same[p] is False]
    if rev[p_true] is False and (rng.random() < 0.5 or not others):
        false_q = (p_true, not swapped)
    elif others:
        w = np.array([_FALSE_WEIGHT.get(p, 1.0) for p, _ in others])
        false_q = others[int(rng.choice(len(others), p=w / w.sum()))]
    else:
        return []
    out = []
    for (p, sw), ans in ((true_q, True), (false_q, False)):
        x, y = (name_b, name_a) if sw else (name_a, name_b)
        tpl = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
        out.append(Question(tpl.format(a=x, p=p, b=y), ans))
    if rng.random() < 0.5:
        out.reverse()
    return out


class SyntheticSource:
    """The built-in synthetic scenes as a :class:`~csip.data.source.Source`.

    ``n`` scenes of ``size`` x ``size`` pixels from stream ``seed``; ``distractors`` is the most
    extra shapes per scene; ``p_free`` the share of free (unconstrained, often unlabelled)
    layouts. ``load(i)`` never raises ``SkipItem``.
    """

    name = "synthetic"

    def __init__(self, n: int = 10000, seed: int = 0, size: int = 128, distractors: int = 2, p_free: float = 0.1):
        if n < 0 or size < 32:
            raise ValueError("synthetic: need n >= 0 and size >= 32")
        self.n, self.seed, self.size = int(n), int(seed), int(size)
        self.distractors, self.p_free = int(distractors), float(p_free)

    def __len__(self) -> int:
        return self.n

    def load(self, i: int) -> Sample:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return make_scene(self.seed, i, self.size, self.distractors, self.p_free)

    def options(self) -> dict:
        return {
            "n": self.n,
            "seed": self.seed,
            "size": self.size,
            "distractors": self.distractors,
            "p_free": self.p_free,
            "masks": "exact",
        }


def _load_one(args):
    src, i = args
    return src.load(i)


def generate(n: int, seed: int = 0, workers: int = 1, **opts) -> Iterator[Sample]:
    """Yield scenes ``0 .. n-1`` of stream ``seed`` in order, computed by ``workers`` processes
    (``opts`` go to :class:`SyntheticSource`: size, distractors, p_free)."""
    src = SyntheticSource(n=n, seed=seed, **opts)
    if workers <= 1:
        for i in range(n):
            yield src.load(i)
        return
    with mp.get_context().Pool(workers) as pool:
        yield from pool.imap(_load_one, ((src, i) for i in range(n)), chunksize=64)


__all__ = ["COLOURS", "SHAPES", "SyntheticSource", "generate", "make_scene", "relations"]
