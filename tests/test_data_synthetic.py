"""The built-in synthetic scenes: determinism, label/geometry consistency, balanced questions, and
the properties version 2 of the generator adds (mask-decided contact, boxes inside boxes that are
not "in", concave shapes, occluders)."""

from __future__ import annotations

import collections
import pickle
import re

import numpy as np
import pytest

from csip.data import PREDICATES, box_of
from csip.data.synthetic import SHAPES, SyntheticSource, compose_scene, generate
from csip.data.synthetic.masks import dilate as _dilate
from csip.data.synthetic.shapes import new_shape, render

N = 240  # scenes checked by the statistical tests (about 1.5 s)


@pytest.fixture(scope="module")
def composed():
    return [compose_scene(0, i) for i in range(N)]


@pytest.fixture(scope="module")
def scenes(composed):
    return [c.sample for c in composed]


def _centroid(m):
    ys, xs = np.nonzero(m)
    return xs.mean(), ys.mean()


def test_deterministic_and_order_independent():
    src = SyntheticSource(n=20, seed=5)
    forward = [src.load(i) for i in range(20)]
    backward = [src.load(i) for i in reversed(range(20))][::-1]
    clone = pickle.loads(pickle.dumps(src))
    for a, b, c in zip(forward, backward, (clone.load(i) for i in range(20))):
        for x in (b, c):
            assert a.id == x.id and a.label == x.label and a.questions == x.questions
            assert (
                np.array_equal(a.image, x.image)
                and np.array_equal(a.mask_a, x.mask_a)
                and np.array_equal(a.mask_b, x.mask_b)
            )
    other = SyntheticSource(n=20, seed=6).load(0)
    assert not np.array_equal(other.image, forward[0].image)


def test_generate_with_workers_matches_sequential():
    par = list(generate(6, seed=2, workers=2, size=64))
    seq = [SyntheticSource(n=6, seed=2, size=64).load(i) for i in range(6)]
    assert [s.id for s in par] == [s.id for s in seq]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(par, seq))


def test_sample_fields(scenes):
    for s in scenes[:40]:
        assert s.image.shape == (128, 128, 3) and s.image.dtype == np.uint8
        assert s.mask_a.any() and s.mask_b.any()
        assert not (s.mask_a & s.mask_b).any()  # occlusion removes the hidden part
        assert s.box_a == box_of(s.mask_a) and s.box_b == box_of(s.mask_b)
        assert s.source == "synthetic" and s.names[0] != s.names[1]
    small = SyntheticSource(n=2, size=64).load(1)
    assert small.image.shape == (64, 64, 3)


def test_variety(scenes):
    labels = collections.Counter(None if s.label is None else PREDICATES[s.label] for s in scenes)
    assert set(PREDICATES) <= set(labels), labels
    assert labels[None] < 0.15 * N
    shapes = collections.Counter(n.split()[1] for s in scenes for n in s.names)
    assert set(SHAPES) <= set(shapes)
    assert len(SHAPES) >= 6


def _apart(m1, m2, px=3):
    """The masks are more than ``px`` px apart (Chebyshev)."""
    return not (_dilate(m1, px) & m2).any()


def test_label_matches_geometry(composed):
    for c in composed:
        s, lay = c.sample, c.layout
        if s.label is None:
            continue
        p = PREDICATES[s.label]
        (xa, ya), (xb, yb) = _centroid(s.mask_a), _centroid(s.mask_b)
        touching = (_dilate(s.mask_a, 1) & s.mask_b).any()
        no_overlap = not (lay.a.full & lay.b.full).any()
        if p == "to the left of":
            assert xa < xb and no_overlap and _apart(s.mask_a, s.mask_b), s.id
        elif p == "to the right of":
            assert xa > xb and no_overlap and _apart(s.mask_a, s.mask_b), s.id
        elif p == "above":
            assert ya < yb and no_overlap and _apart(s.mask_a, s.mask_b), s.id
        elif p == "under":
            assert ya > yb and no_overlap and (touching or _apart(s.mask_a, s.mask_b)), s.id
        elif p == "on":
            assert ya < yb and touching and no_overlap, s.id
        elif p == "next to":
            assert not _apart(s.mask_a, s.mask_b) and abs(xa - xb) > abs(ya - yb) and no_overlap, s.id
        elif p == "in":
            inside = (lay.a.full & lay.b.filled).sum()
            assert inside >= 0.95 * lay.a.full.sum() and lay.a_in_front, s.id
            assert lay.a.full.sum() <= 0.5 * lay.b.filled.sum(), s.id
        elif p in ("in front of", "behind"):
            assert lay.a_in_front == (p == "in front of"), s.id
            overlap = (lay.a.full & lay.b.full).sum()
            assert overlap >= 0.08 * min(lay.a.full.sum(), lay.b.full.sum()), s.id
            # the object behind has a hidden part right next to the front one
            front, back = (s.mask_a, s.mask_b) if p == "in front of" else (s.mask_b, s.mask_a)
            assert (_dilate(front, 1) & back).any(), s.id


def test_contact_is_read_from_masks_not_boxes(composed):
    """Version 2, change 1: separated objects ("to the left of", "above", ...) whose boxes touch or
    overlap, i.e. a box gap that contact scenes also have."""
    def box_gap(s):
        (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = s.box_a, s.box_b
        return max(bx0 - ax1, ax0 - bx1, by0 - ay1, ay0 - by1)

    sep = [c.sample for c in composed if c.sample.label is not None
           and PREDICATES[c.sample.label] in ("to the left of", "to the right of", "above", "under")]
    sep = [s for s in sep if _apart(s.mask_a, s.mask_b)]
    close = [s for s in sep if box_gap(s) <= 2]
    assert len(close) >= 0.1 * len(sep) and close, (len(close), len(sep))


def test_boxes_inside_boxes_that_are_not_in(composed):
    """Version 2, change 2: A's box inside B's box while the label is "in front of" / "behind"."""
    def inside(s):
        (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = s.box_a, s.box_b
        return bx0 <= ax0 and by0 <= ay0 and ax1 <= bx1 and ay1 <= by1

    depth = [c.sample for c in composed if c.sample.label is not None
             and PREDICATES[c.sample.label] in ("in front of", "behind")]
    assert sum(inside(s) for s in depth) >= 5, len(depth)


def test_occluders_hide_part_of_one_object_and_keep_the_contact_zone(composed):
    occluded = [c for c in composed if c.occluder is not None]
    assert 0.15 * N <= len(occluded) <= 0.5 * N, len(occluded)
    for c in occluded:
        lay, occ = c.layout, c.occluder
        x, y = (lay.a, lay.b) if occ.hides_a else (lay.b, lay.a)
        x_in_front = lay.a_in_front == occ.hides_a
        before = x.full if x_in_front else x.full & ~y.full  # x's visible mask before the occluder
        assert np.array_equal(x.visible, before & ~occ.mask), c.sample.id
        hidden = (before & occ.mask).sum()
        assert 0.1 * before.sum() <= hidden <= 0.45 * before.sum(), c.sample.id
        assert _apart(occ.mask, y.visible, 2), c.sample.id  # never near the other object
    assert all(c.occluder is None for c in (compose_scene(0, i, p_occluder=0.0) for i in range(40)))


def test_every_shape_lies_within_its_extent():
    rng = np.random.default_rng(0)
    size = 96
    for kind in SHAPES:
        for _ in range(20):
            s = new_shape(rng, kind, rng.uniform(8, 30))
            s.cx = s.cy = size / 2
            m, f = render(s, size)
            assert m.any() and not (m & ~f).any(), kind
            ys, xs = np.nonzero(f)
            dist = np.hypot(xs + 0.5 - s.cx, ys + 0.5 - s.cy)
            assert dist.max() <= s.extent, (kind, dist.max(), s.extent)


def test_concave_shapes_leave_part_of_their_box_empty():
    rng = np.random.default_rng(1)
    for kind in ("crescent", "L-shape"):
        s = new_shape(rng, kind, 20.0)
        s.cx = s.cy = 32.0
        m, f = render(s, 64)
        x0, y0, x1, y1 = box_of(m)
        assert m.sum() < 0.75 * (x1 - x0) * (y1 - y0), kind
        assert np.array_equal(m, f), kind  # a bite or a corner is not a hole: "in" does not count it


def test_options_record_the_generator_and_reject_bad_probabilities():
    opts = SyntheticSource(n=3).options()
    assert opts["generator"] == 2 and opts["p_occluder"] == 0.5
    for bad, message in ((dict(p_occluder=1.5), r"option p_occluder=1.5: must lie in \[0.0, 1.0\]"),
                         (dict(distractors=10**8), r"option distractors=100000000: must lie in \[0, 64\]"),
                         (dict(distractors=-5), r"option distractors=-5: must lie in \[0, 64\]"),
                         (dict(size=200000), r"option size=200000: must lie in \[32, 4096\]"),
                         (dict(size=float("inf")), r"option size=inf: expected an integer"),
                         (dict(size=64.9), r"option size=64.9: expected an integer")):
        with pytest.raises(ValueError, match=message):  # before any scene: 10^8 distractors never ended
            SyntheticSource(n=3, **bad)
    assert SyntheticSource(n=3, size=64.0).size == 64


_Q = re.compile(
    r"^Is the (.+?) ("
    + "|".join(sorted(map(re.escape, PREDICATES), key=len, reverse=True))
    + r") the (.+?)( in the image| here)?\?$"
)


def test_questions_balanced_and_consistent(scenes):
    answers = collections.Counter()
    per_pred = collections.defaultdict(list)
    for s in scenes:
        assert len(s.questions) in (0, 2)
        if s.questions:
            assert {q.answer for q in s.questions} == {True, False}
        masks = {s.names[0]: s.mask_a, s.names[1]: s.mask_b}
        for q in s.questions:
            m = _Q.match(q.text)
            assert m, q.text
            x, p, y = m.group(1), m.group(2), m.group(3)
            assert {x, y} == set(s.names)
            answers[q.answer] += 1
            per_pred[p].append(q.answer)
            (cx, cy), (ox, oy) = _centroid(masks[x]), _centroid(masks[y])
            if p == "to the left of":
                assert (cx < ox) == q.answer, (s.id, q)
            elif p == "to the right of":
                assert (cx > ox) == q.answer, (s.id, q)
            elif p == "above" and q.answer:
                assert cy < oy, (s.id, q)
            elif p == "under" and q.answer:
                assert cy > oy, (s.id, q)
            if q.answer and s.label is not None and x == s.names[0]:
                assert p == PREDICATES[s.label] or p in ("to the left of", "to the right of", "above", "under")
    assert answers[True] == answers[False] and answers[True] > 0.8 * N
    for p, v in per_pred.items():  # no predicate gives its answer away
        assert 0.25 <= np.mean(v) <= 0.75, (p, np.mean(v))


def test_colour_and_shape_independent_of_label(scenes):
    # every label that appears often enough is seen with several shapes and colours for A
    by_label = collections.defaultdict(list)
    for s in scenes:
        if s.label is not None:
            by_label[s.label].append(s.names[0].split())
    for lab, names in by_label.items():
        if len(names) >= 15:
            assert len({c for c, _ in names}) >= 5 and len({k for _, k in names}) >= 4, PREDICATES[lab]
