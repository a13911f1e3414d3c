"""``csip_core.resize_mask``: area-coverage resizing of binary masks (the masks the cache stores).

The reference below is written from the definition with exact fractions: output pixel (i, j)
stands for the input rectangle [j·W/w, (j+1)·W/w) × [i·H/h, (i+1)·H/h) and is set when the
mask covers at least half of it.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import csip_core


def reference(mask: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    h, w = mask.shape

    def overlaps(n_in: int, n_out: int) -> list[list[tuple[int, Fraction]]]:
        """For each output cell, the input pixels it meets and the length inside it."""
        cells = []
        for j in range(n_out):
            lo, hi = Fraction(j * n_in, n_out), Fraction((j + 1) * n_in, n_out)
            cells.append(
                [
                    (x, min(hi, x + 1) - max(lo, x))
                    for x in range(int(lo), min(n_in, int(hi) + 1))
                    if min(hi, x + 1) > max(lo, x)
                ]
            )
        return cells

    rows, cols = overlaps(h, out_h), overlaps(w, out_w)
    out = np.zeros((out_h, out_w), bool)
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            covered = sum(ly * lx for y, ly in row for x, lx in col if mask[y, x])
            out[i, j] = 2 * covered >= Fraction(h, out_h) * Fraction(w, out_w)
    return out


@pytest.mark.parametrize(
    "shape,size", [((23, 31), (7, 12)), ((40, 17), (13, 5)), ((9, 9), (14, 20)), ((50, 64), (17, 17))]
)
def test_matches_the_exact_reference(shape, size):
    rng = np.random.default_rng(sum(shape) + sum(size))
    blobs = rng.random(shape) < 0.5
    # smooth shapes as well as noise: a disc and a half-plane over the random pixels
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    disc = (yy - shape[0] / 2) ** 2 + (xx - shape[1] / 3) ** 2 < (min(shape) / 3) ** 2
    for m in (blobs, disc, xx > 0.4 * yy + 3):
        np.testing.assert_array_equal(csip_core.resize_mask(m, *size), reference(m, *size))


def test_closed_forms():
    full = np.ones((30, 45), bool)
    assert csip_core.resize_mask(full, 7, 11).all()
    assert not csip_core.resize_mask(np.zeros((30, 45), bool), 7, 11).any()
    # halving: a 2x2 vote, two of four pixels are enough (at least half)
    m = np.array([[1, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0], [1, 1, 1, 1]], bool)
    np.testing.assert_array_equal(csip_core.resize_mask(m, 2, 2), [[True, False], [True, True]])
    # doubling repeats pixels; the same size is the identity
    np.testing.assert_array_equal(csip_core.resize_mask(m, 8, 8), m.repeat(2, 0).repeat(2, 1))
    np.testing.assert_array_equal(csip_core.resize_mask(m, 4, 4), m)


def test_every_layout_and_dtype_gives_the_same_result():
    rng = np.random.default_rng(5)
    m = rng.random((37, 52)) < 0.3
    expect = csip_core.resize_mask(m, 11, 16)
    np.testing.assert_array_equal(expect, reference(m, 11, 16))
    np.testing.assert_array_equal(csip_core.resize_mask(np.asfortranarray(m), 11, 16), expect)
    np.testing.assert_array_equal(csip_core.resize_mask(m.astype(np.uint8) * 7, 11, 16), expect)
    wide = np.zeros((37, 104), bool)
    wide[:, ::2] = m
    np.testing.assert_array_equal(csip_core.resize_mask(wide[:, ::2], 11, 16), expect)
    big = np.zeros((60, 80), bool, order="F")
    big[5:42, 9:61] = m
    np.testing.assert_array_equal(csip_core.resize_mask(big[5:42, 9:61], 11, 16), expect)


def test_bad_input_is_named():
    m = np.ones((4, 4), bool)
    with pytest.raises(ValueError, match="height must be at least 1"):
        csip_core.resize_mask(m, 0, 3)
    with pytest.raises(ValueError, match="width must be at least 1"):
        csip_core.resize_mask(m, 3, -1)
    with pytest.raises(ValueError, match="mask must be a 2-D array"):
        csip_core.resize_mask(np.ones((2, 4, 4), bool), 3, 3)
    with pytest.raises(ValueError, match="must not be empty"):
        csip_core.resize_mask(np.ones((0, 4), bool), 3, 3)
    with pytest.raises(TypeError, match="bool or integer dtype"):
        csip_core.resize_mask(np.ones((4, 4), np.float32), 3, 3)
