"""The relation between the two main objects of a synthetic scene, judged from its geometry.

Rules (A = subject, B = referent; image y grows downwards; ``theta`` is the direction from B's
visible centroid to A's, 0 = right, 90 = up; ``t = size / 128``; "apart" means the visible masks
are more than 3 px apart, Chebyshev distance):

- ``in``: at least 95 % of A's full mask lies in B's filled silhouette (a ring's hole counts, a
  crescent's bite does not), A at most half its area, A not hidden by B.
- ``in front of`` / ``behind``: the full masks overlap by at least 8 % of the smaller one; the
  front one is "in front of" the other.
- ``on``: A touches B (8-neighbourhood), no overlap, theta in [45, 135] and A's bottom within 2t px
  of B's top. ``under`` for the converse (B on A).
- ``next to``: no overlap, masks within 3 px, side by side (theta within 30 deg of horizontal).
- ``to the left of`` / ``to the right of``: theta within 30 deg of 180 / 0, no overlap, apart.
- ``above`` / ``under``: theta within 30 deg of 90 / -90, no overlap, apart.

Contact and separation are decided by the masks alone: two boxes may touch or overlap while their
objects are apart (concave shapes, rotated ones), as in photographs.

The label is the first of these that holds, in the order: in, in front of / behind, on, under
(by contact), next to, to the left / right of, above, under; ``None`` when none holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..sample import PREDICATES, box_of
from .masks import centroid, dilate

_P = {p: i for i, p in enumerate(PREDICATES)}


@dataclass(frozen=True)
class ObjectMasks:
    """One object's masks, bool ``(size, size)``: ``visible`` (what the image shows of it, after
    every occlusion), ``full`` (the whole object) and ``filled`` (full with holes closed)."""

    visible: np.ndarray
    full: np.ndarray
    filled: np.ndarray

    def crop(self, win: tuple[slice, slice]) -> ObjectMasks:
        return ObjectMasks(self.visible[win], self.full[win], self.filled[win])


@dataclass(frozen=True)
class _Geometry:
    """What the rules read, in px and degrees (see the module docstring)."""

    t: float
    overlap: int  # pixels shared by the full masks
    occlusion: float  # overlap over the smaller full mask
    contained: float  # share of A's full mask inside B's filled silhouette
    in_ab: bool
    in_ba: bool
    theta: float
    ca: tuple[float, float]
    cb: tuple[float, float]
    box_a: tuple[int, int, int, int]
    box_b: tuple[int, int, int, int]
    touch: bool
    near: bool


def _is_in(x: ObjectMasks, y: ObjectMasks, x_in_front: bool, overlap: int) -> tuple[bool, float]:
    nx = int(x.full.sum())
    contained = int((x.full & y.filled).sum()) / max(1, nx)
    return contained >= 0.95 and nx <= 0.5 * int(y.filled.sum()) and (x_in_front or overlap == 0), contained


def _measure(a: ObjectMasks, b: ObjectMasks, a_in_front: bool, size: int) -> _Geometry:
    # Work on the union window of all masks (plus a margin for the 3-px dilation): only
    # differences of positions matter, so cropping changes nothing but the cost.
    any_m = a.filled | b.filled | a.visible | b.visible
    rows, cols = np.flatnonzero(any_m.any(1)), np.flatnonzero(any_m.any(0))
    win = (slice(max(0, rows[0] - 4), rows[-1] + 5), slice(max(0, cols[0] - 4), cols[-1] + 5))
    a, b = a.crop(win), b.crop(win)
    overlap = int((a.full & b.full).sum())
    in_ab, contained = _is_in(a, b, a_in_front, overlap)
    in_ba, _ = _is_in(b, a, not a_in_front, overlap)
    ca, cb = centroid(a.visible), centroid(b.visible)
    return _Geometry(
        t=size / 128.0, overlap=overlap,
        occlusion=overlap / max(1, min(int(a.full.sum()), int(b.full.sum()))),
        contained=contained, in_ab=in_ab, in_ba=in_ba,
        theta=math.degrees(math.atan2(cb[1] - ca[1], ca[0] - cb[0])), ca=ca, cb=cb,
        box_a=box_of(a.visible), box_b=box_of(b.visible),
        touch=bool((dilate(a.visible, 1) & b.visible).any()), near=bool((dilate(a.visible, 3) & b.visible).any()),
    )


def _truths(g: _Geometry, a_in_front: bool) -> tuple[dict[str, bool | None], bool]:
    """Truth of each predicate, and whether B is on A."""
    (xa, ya), (xb, yb) = g.ca, g.cb
    ax0, ay0, ax1, ay1 = g.box_a
    bx0, by0, bx1, by1 = g.box_b
    theta, apart = g.theta, g.overlap == 0 and not g.near
    T: dict[str, bool | None] = {p: None for p in PREDICATES}
    T["in"] = True if g.in_ab else (False if g.contained <= 0.5 else None)
    if not (g.in_ab or g.in_ba) and g.occlusion >= 0.08:
        T["in front of"], T["behind"] = a_in_front, not a_in_front
    on_ab = g.touch and g.overlap == 0 and 45 <= theta <= 135 and ay1 <= by0 + 2 * g.t
    on_ba = g.touch and g.overlap == 0 and -135 <= theta <= -45 and by1 <= ay0 + 2 * g.t
    if on_ab:
        T["on"] = True
    elif ya >= yb or not g.near:
        T["on"] = False
    if 60 <= theta <= 120 and apart:
        T["above"] = True
    elif ya >= yb:
        T["above"] = False
    if -120 <= theta <= -60 and (apart or on_ba):
        T["under"] = True
    elif ya <= yb:
        T["under"] = False
    if abs(theta) >= 150 and g.overlap == 0:
        T["to the left of"] = True
    elif xa >= xb:
        T["to the left of"] = False
    if abs(theta) <= 30 and g.overlap == 0:
        T["to the right of"] = True
    elif xa <= xb:
        T["to the right of"] = False
    horizontal = abs(theta) <= 30 or abs(theta) >= 150
    if horizontal and g.near and g.overlap == 0:
        T["next to"] = True
    elif max(bx0 - ax1, ax0 - bx1) > 12 * g.t or max(by0 - ay1, ay0 - by1) > 12 * g.t:
        T["next to"] = False  # boxes that far apart: so are the masks
    return T, on_ba


def _label(T: dict[str, bool | None], g: _Geometry, on_ba: bool) -> str | None:
    """The one predicate that describes the scene, by the priority of the module docstring."""
    if g.in_ab:
        return "in"
    for p in ("in front of", "behind", "on"):
        if T[p] is True:
            return p
    if T["under"] is True and on_ba:
        return "under"
    if T["next to"] is True:
        return "next to"
    apart = not g.near
    for p in ("to the left of", "to the right of", "above", "under"):
        if T[p] is True and apart:
            return p
    return None


def relations(a: ObjectMasks, b: ObjectMasks, a_in_front: bool, size: int) -> tuple[dict[str, bool | None], int | None]:
    """Truth of every predicate "A <p> B" and the scene label, from geometry alone.

    ``a``, ``b``: the two objects' masks; ``a_in_front``: whether A is the nearer of the two.
    Returns ``(truth, label)``: ``truth[p]`` is True / False / None (undetermined, never asked)
    for each of :data:`~csip.data.sample.PREDICATES`; ``label`` is the index of the predicate that
    describes the scene (module docstring), or ``None``.
    """
    g = _measure(a, b, a_in_front, size)
    T, on_ba = _truths(g, a_in_front)
    label = _label(T, g, on_ba)
    return T, (None if label is None else _P[label])
