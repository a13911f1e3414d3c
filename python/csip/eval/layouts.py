"""Canonical layouts: per predicate, a few pairs of binary masks (A, B) drawn from the predicate's
geometric definition, the "prompts" of zero-shot relation recognition (:mod:`csip.eval.relation_shot`).

Torch-free. A layout is two objects on an ``S × S`` canvas (``S``: the cache's image size), each
with its **full** mask and a depth order; the masks the banner reads are the **visible** ones: the
object behind loses the pixels the front one covers (the occlusion "bite"). Image rows grow
downwards; ``θ`` is the direction from B's centroid to A's (0° = right, 90° = up), as in
:mod:`csip.data.synthetic.relations`, whose rules these layouts follow (A = subject, B = referent):

Sizes are in a 64-unit frame scaled by ``S / 64``; contact and the "next to" gap are exact pixels.

- ``above``: A over B, apart (a gap of 14–18 units between them), θ within 15° of 90°, no
  overlap. Three layouts: equal widths, A offset sideways, A wider than B.
- ``under``: the three ``above`` layouts with A and B exchanged (A below B, apart), plus one by
  contact: B resting on A (the first ``on`` layout, exchanged).
- ``to the left of`` / ``to the right of``: A beside B, apart (a gap of 17–20 units), θ within 15°
  of 180° / 0°; three layouts (similar sizes, a disk beside a box, a tall A beside a small B);
  ``right`` is ``left`` with A and B exchanged.
- ``next to``: side by side (θ within 30° of horizontal), no overlap, 1–2 empty pixel columns between
  the masks (within 3 px, Chebyshev: the synthetic rule; a fixed pixel gap at every S).
- ``on``: A rests on B: A's bottom row touches B's top row (8-neighbourhood), no overlap, A's
  centroid above B's, within B's width (a box on a table, a disk on a box, a plank on a post).
- ``in``: A wholly inside B's silhouette, at most a quarter of B's area, A in front: B's visible
  mask has A's shape cut out of it (a box in a disk, a disk in a box, a box at the bottom of a box).
- ``in front of``: the full masks overlap (25–50 % of the smaller one), A in front: B's visible
  mask has a bite the shape of the overlap; A is not inside B (at most half of A lies in B's outline).
- ``behind``: the ``in front of`` layouts with A and B exchanged (A is the bitten one).

Every layout's label by the synthetic scenes' own rules (:func:`csip.data.synthetic.relations.relations`)
is its predicate; ``tests/test_eval_relation_shot.py`` checks it and the rules above.

What a 2-D layout cannot express (see ``docs/layouts.md``):

- depth without occlusion: "in front of" / "behind" between objects that do not overlap in the
  image (a car in front of a distant house) — only occlusion carries depth in two masks;
- "in" versus "in front of" when the front object lies wholly inside the other's outline: the
  masks are the same (the synthetic rules call it "in"); containment in 3-D (in a cup, seen
  from the side) is not 2-D containment;
- which object is A: the symmetric banner of (A, B) equals that of (B, A), so "to the left of" /
  "to the right of", "above" / "under" and "in front of" / "behind" have the same banners, and
  so have "on" and "under" by contact (B on A). The order survives in the masks (who is bitten,
  who is on top), not in the banner;
- support and gravity ("on" a wall, "on" a horse's back seen from the side): "on" is only
  "touching, from above".

>>> lay = canonical_layouts(64)
>>> sorted(lay) == sorted(PREDICATES)
True
>>> all(l.mask_a.shape == (64, 64) for ls in lay.values() for l in ls)
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..data import PREDICATES

#: Smallest canvas the layouts are drawn on (their thinnest parts stay a few pixels wide).
MIN_SIZE = 24

#: The pairs that the symmetric banner cannot tell apart (A and B exchanged), by predicate name.
MIRROR_PAIRS: tuple[tuple[str, str], ...] = (
    ("to the left of", "to the right of"),
    ("above", "under"),
    ("in front of", "behind"),
)


@dataclass(frozen=True)
class Layout:
    """Two objects on a square canvas: full masks bool ``(S, S)`` and whether A is the nearer.

    ``mask_a`` / ``mask_b``: the visible masks (the object behind minus the front one's pixels),
    what a banner and an image's masks show. ``name``: ``"<predicate>/<n>"``."""

    name: str
    full_a: np.ndarray
    full_b: np.ndarray
    a_in_front: bool = True

    @property
    def mask_a(self) -> np.ndarray:
        return self.full_a if self.a_in_front else self.full_a & ~self.full_b

    @property
    def mask_b(self) -> np.ndarray:
        return self.full_b & ~self.full_a if self.a_in_front else self.full_b

    def swapped(self, name: str) -> Layout:
        """The same scene with A and B exchanged (the same depth order of the two objects)."""
        return Layout(name, self.full_b, self.full_a, not self.a_in_front)


class _Canvas:
    """Shapes on an ``S × S`` canvas, in a 64-unit frame scaled by ``S / 64`` (rounded)."""

    def __init__(self, size: int):
        self.size = int(size)
        self.k = self.size / 64.0

    def u(self, v: float) -> int:
        """Frame units → pixels."""
        return int(round(v * self.k))

    def rect(self, r0: float, r1: float, c0: float, c1: float) -> np.ndarray:
        """Rows ``[r0, r1)`` × columns ``[c0, c1)`` (frame units)."""
        return self.rect_px(self.u(r0), self.u(r1), self.u(c0), self.u(c1))

    def rect_px(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        m = np.zeros((self.size, self.size), bool)
        m[max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] = True
        return m

    def disk(self, cy: float, cx: float, rad: float) -> np.ndarray:
        """Pixels whose centre lies within ``rad`` of ``(cy, cx)`` (frame units)."""
        y, x = np.mgrid[0:self.size, 0:self.size]
        k = self.k
        return (y + 0.5 - cy * k) ** 2 + (x + 0.5 - cx * k) ** 2 <= (rad * k) ** 2


def _rows(m: np.ndarray) -> tuple[int, int]:
    r = np.flatnonzero(m.any(1))
    return int(r[0]), int(r[-1]) + 1


def _cols(m: np.ndarray) -> tuple[int, int]:
    c = np.flatnonzero(m.any(0))
    return int(c[0]), int(c[-1]) + 1


def _above(c: _Canvas) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(c.rect(6, 18, 24, 40), c.rect(36, 50, 24, 40)),
            (c.disk(13, 27, 7), c.rect(34, 50, 20, 44)),
            (c.rect(6, 16, 12, 52), c.rect(34, 50, 26, 38))]


def _left(c: _Canvas) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(c.rect(24, 40, 4, 20), c.rect(22, 42, 38, 58)),
            (c.disk(31, 12, 7), c.rect(22, 42, 36, 56)),
            (c.rect(10, 54, 6, 18), c.rect(26, 38, 38, 50))]


def _next_to(c: _Canvas) -> list[tuple[np.ndarray, np.ndarray]]:
    """A's right edge, then a gap of 2 px (1 px for the disk), then B: within 3 px at every size."""
    a1 = c.rect(24, 40, 10, 30)
    a2 = c.disk(32, 20, 9)
    a3 = c.rect(14, 50, 14, 26)
    out = []
    for a, gap, (r0, r1), w in ((a1, 2, (24, 40), 20), (a2, 1, (22, 42), 19), (a3, 2, (26, 46), 16)):
        c0 = _cols(a)[1] + gap
        out.append((a, c.rect_px(c.u(r0), c.u(r1), c0, c0 + c.u(w))))
    return out


def _on(c: _Canvas) -> list[tuple[np.ndarray, np.ndarray]]:
    """B's top row is the row right under A's bottom row: touching, no overlap."""
    out = []
    for a, (h, c0, c1) in ((c.rect(16, 28, 26, 38), (16, 14, 50)), (c.disk(21, 32, 7), (16, 10, 54)),
                           (c.rect(20, 30, 18, 46), (24, 28, 36))):
        r0 = _rows(a)[1]
        out.append((a, c.rect_px(r0, r0 + c.u(h), c.u(c0), c.u(c1))))
    return out


def _in(c: _Canvas) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(c.rect(26, 38, 26, 38), c.disk(32, 32, 22)),
            (c.disk(24, 40, 8), c.rect(8, 56, 8, 56)),
            (c.rect(30, 46, 18, 30), c.rect(16, 48, 12, 52))]


def _in_front(c: _Canvas) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(c.rect(24, 48, 14, 34), c.rect(12, 40, 26, 52)),
            (c.disk(38, 24, 10), c.rect(14, 44, 24, 54)),
            (c.rect(8, 56, 28, 38), c.rect(20, 44, 10, 54))]


def _make(pred: str, pairs, a_in_front: bool = True) -> list[Layout]:
    return [Layout(f"{pred}/{i}", a, b, a_in_front) for i, (a, b) in enumerate(pairs, 1)]


def _swap(pred: str, layouts: list[Layout], start: int = 1) -> list[Layout]:
    return [lay.swapped(f"{pred}/{i}") for i, lay in enumerate(layouts, start)]


def canonical_layouts(size: int) -> dict[str, list[Layout]]:
    """Per predicate of :data:`~csip.data.PREDICATES` (in that order), its canonical layouts on an
    ``size × size`` canvas (the rules are in the module docstring). ``ValueError`` for a canvas
    smaller than :data:`MIN_SIZE` px."""
    if int(size) < MIN_SIZE:
        raise ValueError(f"canonical layouts need a canvas of at least {MIN_SIZE} px, got {size}")
    c = _Canvas(size)
    above, left, on, front = _make("above", _above(c)), _make("to the left of", _left(c)), _make("on", _on(c)), \
        _make("in front of", _in_front(c))
    by: dict[str, Callable[[], list[Layout]]] = {
        "above": lambda: above,
        "behind": lambda: _swap("behind", front),
        "in": lambda: _make("in", _in(c)),
        "in front of": lambda: front,
        "next to": lambda: _make("next to", _next_to(c)),
        "on": lambda: on,
        "to the left of": lambda: left,
        "to the right of": lambda: _swap("to the right of", left),
        "under": lambda: _swap("under", above) + _swap("under", on[:1], len(above) + 1),
    }
    return {p: by[p]() for p in PREDICATES}


def merged_classes(predicates: tuple[str, ...] = PREDICATES) -> tuple[tuple[str, ...], np.ndarray]:
    """The classes a symmetric banner can tell apart: each pair of :data:`MIRROR_PAIRS` becomes one
    class named ``"a / b"``. Returns ``(names, of)``: the merged class names (in the order of
    their first member in ``predicates``) and ``of`` int64 ``(len(predicates),)``, the merged class
    of each predicate."""
    partner = {a: b for a, b in MIRROR_PAIRS} | {b: a for a, b in MIRROR_PAIRS}
    names: list[str] = []
    of = np.empty(len(predicates), np.int64)
    for i, p in enumerate(predicates):
        q = partner.get(p)
        name = p if q is None or q not in predicates else " / ".join(sorted((p, q), key=predicates.index))
        if name not in names:
            names.append(name)
        of[i] = names.index(name)
    return tuple(names), of


__all__ = ["MIN_SIZE", "MIRROR_PAIRS", "Layout", "canonical_layouts", "merged_classes"]
