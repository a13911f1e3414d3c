"""The built-in synthetic scenes: determinism, label/geometry consistency, balanced questions."""

from __future__ import annotations

import collections
import pickle
import re

import numpy as np
import pytest

from csip.data import PREDICATES, box_of
from csip.data.synthetic import SHAPES, SyntheticSource, _dilate, generate, make_scene

N = 240  # scenes checked by the statistical tests (about 1.5 s)


@pytest.fixture(scope="module")
def scenes():
    return [make_scene(0, i) for i in range(N)]


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
            assert np.array_equal(a.image, x.image) and np.array_equal(a.mask_a, x.mask_a) and np.array_equal(a.mask_b, x.mask_b)
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


def test_label_matches_geometry(scenes):
    for s in scenes:
        if s.label is None:
            continue
        p = PREDICATES[s.label]
        (xa, ya), (xb, yb) = _centroid(s.mask_a), _centroid(s.mask_b)
        ax0, ay0, ax1, ay1 = s.box_a
        bx0, by0, bx1, by1 = s.box_b
        touching = (_dilate(s.mask_a, 1) & s.mask_b).any()
        if p == "to the left of":
            assert xa < xb and ax1 <= bx0, s.id
        elif p == "to the right of":
            assert xa > xb and ax0 >= bx1, s.id
        elif p == "above":
            assert ya < yb and ay1 <= by0 and not touching, s.id
        elif p == "under":
            assert ya > yb and ay0 >= by1 - 3, s.id
        elif p == "on":
            assert ya < yb and touching, s.id
        elif p == "next to":
            assert (_dilate(s.mask_a, 3) & s.mask_b).any() and abs(xa - xb) > abs(ya - yb), s.id
        elif p == "in":
            assert bx0 <= ax0 and by0 <= ay0 and ax1 <= bx1 and ay1 <= by1, s.id
            assert s.mask_a.sum() < s.mask_b.sum() * 2, s.id
        elif p in ("in front of", "behind"):
            # the object behind has a hidden part right next to the front one
            front, back = (s.mask_a, s.mask_b) if p == "in front of" else (s.mask_b, s.mask_a)
            assert (_dilate(front, 1) & back).any(), s.id


_Q = re.compile(r"^Is the (.+?) (" + "|".join(sorted(map(re.escape, PREDICATES), key=len, reverse=True)) + r") the (.+?)( in the image| here)?\?$")


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
