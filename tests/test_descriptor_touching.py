"""Touching and overlapping objects: finite, non-negative, continuous in r, exact at r = 0.

Regularisation under test (DESIGN.md §2 and the engine's documented choice):
k_r(0) = k_r(1) = 1 for every r, k_r(d) = G(d+1) − 2G(d) + G(d−1) for d ≥ 2; a pixel in both
masks contributes ½·k_r(0) to F^{AB}(θ) and to F^{AB}(θ+π).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import csip_core
from reference_forces import axis_pair_counts, line_weight, random_pair

R_GRID = sorted(set(np.round(np.linspace(-3, 3, 61), 12).tolist()
                    + [0.96, 1.04, 1.0 - 1e-9, 1.0 + 1e-9, 2.0 - 1e-9, 2.0 + 1e-9, 2.24, -2.24]))

CRAFTED = {}


def _crafted():
    if CRAFTED:
        return CRAFTED
    z = lambda: np.zeros((16, 20), dtype=bool)  # noqa: E731
    a, b = z(), z()
    a[4:10, 10:15] = True
    b[4:10, 4:10] = True  # touching along a vertical edge
    CRAFTED["touch edge"] = (a, b)
    a, b = z(), z()
    a[3:8, 3:8] = True
    b[8:12, 8:12] = True  # touching at a corner only
    CRAFTED["touch corner"] = (a, b)
    a, b = z(), z()
    a[2:12, 2:14] = True
    b[5:9, 6:10] = True  # B inside A
    CRAFTED["nested"] = (a, b)
    a, b = z(), z()
    a[2:10, 2:12] = True
    b[6:14, 8:18] = True  # partial overlap
    CRAFTED["partial overlap"] = (a, b)
    a = z()
    a[3:13, 5:15] = True
    CRAFTED["identical"] = (a, a.copy())
    a, b = z(), z()
    a[7, 9] = True
    b[7, 9] = True
    CRAFTED["one shared pixel"] = (a, b)
    a, b = z(), z()
    a[7, 10] = True
    b[7, 9] = True
    CRAFTED["two adjacent pixels"] = (a, b)
    a, b = z(), z()
    a[::2, ::2] = True
    b[1::2, 1::2] = True  # interleaved checkerboards: everything touches diagonally
    CRAFTED["checkerboards"] = (a, b)
    return CRAFTED


def _pairs():
    out = list(_crafted().items())
    for seed in range(4):
        out.append((f"random touch {seed}", random_pair(100 + seed, 30, "touch")))
        out.append((f"random overlap {seed}", random_pair(200 + seed, 30, "overlap")))
    out.append(("random noise", random_pair(7, 20, "noise")))
    return out


PAIRS = _pairs()
IDS = [p[0] for p in PAIRS]


@pytest.mark.parametrize("name,pair", PAIRS, ids=IDS)
def test_finite_nonnegative_everywhere(name, pair):
    a, b = pair
    fb = csip_core.force_banner(a, b, forces=R_GRID, n_dirs=72)
    assert fb.shape == (len(R_GRID), 72) and fb.dtype == np.float64
    assert np.all(np.isfinite(fb)) and np.all(fb >= 0)
    for r in (-3.0, 1.0, 2.0, 3.0):
        fh = csip_core.force_histogram(a, b, r, n_dirs=72)
        assert np.all(np.isfinite(fh)) and np.all(fh >= 0)
    raw = csip_core.sfb(a, b, forces=R_GRID, n_angles=36, normalize="none")
    nrm = csip_core.sfb(a, b, forces=R_GRID, n_angles=36, normalize="max")
    for s in (raw, nrm):
        assert s.dtype == np.float32 and s.shape == (len(R_GRID), 36)
        assert np.all(np.isfinite(s)) and np.all(s >= 0)
    assert np.all(nrm <= 1.0)
    # every row has some mass (objects touch or overlap), so each normalised row peaks at 1
    assert np.all(raw.max(axis=1) > 0)
    np.testing.assert_allclose(nrm.max(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("name,pair", PAIRS, ids=IDS)
def test_continuous_in_r(name, pair):
    """F_r(θ) is a positive combination of k_r(d)·|w|^(r−1) with |∂ ln k_r(d)/∂r| ≤ ln(d+1) and
    |ln w| ≤ ½ ln 2, so |ln F_{r+δ}(θ) − ln F_r(θ)| ≤ δ·(ln(D_max+1) + ½ ln 2). Checked on fine
    r-steps across 1 and 2 (where the general formula is 0/0) and at 1 ± 1e-9, 2 ± 1e-9."""
    a, b = pair
    dmax = max(a.shape)
    lip = math.log(dmax + 1) + 0.5 * math.log(2)
    for lo, hi in ((0.9, 1.1), (1.9, 2.1)):
        rs = np.round(np.arange(lo, hi + 1e-9, 0.01), 12)
        fb = csip_core.force_banner(a, b, forces=rs, n_dirs=72)
        zero = fb == 0
        assert np.all(zero == zero[0]), "support must not depend on r"
        pos = ~zero[0]
        lr = np.log(fb[:, pos])
        assert np.all(np.abs(np.diff(lr, axis=0)) <= 0.01 * lip * (1 + 1e-9) + 1e-12)
    for r0 in (1.0, 2.0):
        fb = csip_core.force_banner(a, b, forces=[r0 - 1e-9, r0, r0 + 1e-9], n_dirs=72)
        pos = fb[1] > 0
        assert np.all(np.abs(np.log(fb[:, pos] / fb[1, pos])) <= 1e-9 * lip + 1e-9)
    s = csip_core.sfb(a, b, forces=[0.99999, 1.0, 1.00001, 1.99999, 2.0, 2.00001],
                      n_angles=36, normalize="none").astype(np.float64)
    for i in (0, 2, 3, 5):
        c = 1 if i < 3 else 4
        np.testing.assert_allclose(s[i], s[c], rtol=1e-5 * lip + 1e-6)


@pytest.mark.parametrize("name,pair", PAIRS, ids=IDS)
def test_r0_exact_pair_counting_on_axes(name, pair):
    """r = 0 along rows/columns: pairs with a after b, plus ½ per shared pixel (exact)."""
    a, b = pair
    want = axis_pair_counts(a, b)
    fh = csip_core.force_histogram(a, b, 0.0, n_dirs=360)
    for deg, v in want.items():
        assert fh[deg] == v, (deg, fh[deg], v)
    fb = csip_core.force_banner(a, b, forces=[0.0, 1.0], n_dirs=4)
    np.testing.assert_array_equal(fb[0], [want[0], want[90], want[180], want[270]])
    s = csip_core.sfb(a, b, forces=[0.0], n_angles=180, normalize="none")
    assert s[0, 0] == np.float32(0.5 * (want[0] + want[180]))
    assert s[0, 90] == np.float32(0.5 * (want[90] + want[270]))
    # equivalently ½ Σ_lines |A∩L|·|B∩L|
    ai, bi = (a != 0).astype(np.int64), (b != 0).astype(np.int64)
    assert s[0, 0] == np.float32(0.5 * float((ai.sum(1) * bi.sum(1)).sum()))
    assert s[0, 90] == np.float32(0.5 * float((ai.sum(0) * bi.sum(0)).sum()))


def test_shared_pixel_half_split_every_direction():
    """One pixel in both masks: F_r(θ) = ½·k_r(0)·corr(θ, r) = ½·w(θ)^(r−1) for every θ and r,
    whatever the digitisation (no other pair exists)."""
    a = np.zeros((9, 9), dtype=bool)
    a[4, 4] = True
    n = 360
    ws = np.array([line_weight(2 * math.pi * k / n) for k in range(n)])
    for r in (-2.24, 0.0, 0.96, 1.0, 2.0, 2.24):
        fh = csip_core.force_histogram(a, a, r, n_dirs=n)
        np.testing.assert_allclose(fh, 0.5 * ws ** (r - 1.0), rtol=1e-12)
    s = csip_core.sfb(a, a, forces=[-2.24, 0.0, 1.0, 2.24], n_angles=180, normalize="none")
    ws2 = ws[:180]
    for i, r in enumerate([-2.24, 0.0, 1.0, 2.24]):
        np.testing.assert_allclose(s[i], 0.5 * ws2 ** (r - 1.0), rtol=1e-6)


def test_shared_pixels_count_for_both():
    """A = B: at θ = 0 every row holds n(n−1)/2 ordered pairs per direction plus ½·n shared
    pixels, so F_0(0) = Σ_rows n²/2, and sfb r=0 = ½ Σ n²."""
    a = np.zeros((6, 10), dtype=bool)
    a[1, 2:7] = True
    a[3, 0:10] = True
    a[4, 4] = True
    rows = a.sum(1)
    want = 0.5 * float((rows ** 2).sum())
    fh = csip_core.force_histogram(a, a, 0.0, n_dirs=4)
    assert fh[0] == want and fh[2] == want
    # touching/overlapping pairs at r = 2.24 with the regularised kernel: one row of n px
    # against itself gives Σ_{d=1}^{n-1} (n−d)·k(d) + ½·n·k(0)
    kt = csip_core.kernel_table([2.24], 10)[0]
    exp = 0.0
    for n_ in rows:
        exp += sum((n_ - d) * kt[d] for d in range(1, n_)) + 0.5 * n_ * kt[0]
    f224 = csip_core.force_histogram(a, a, 2.24, n_dirs=4)[0]
    assert f224 == pytest.approx(exp, rel=1e-12)


def test_touching_row_uses_regularised_kernel():
    """A and B touching on a row (gap 0): F = Σ pairs k_r(d) with k_r(1) = 1."""
    a = np.zeros((1, 8), dtype=bool)
    b = np.zeros((1, 8), dtype=bool)
    b[0, 1:4] = True
    a[0, 4:7] = True
    for r in (-1.0, 0.0, 1.0, 2.0, 2.24, 3.0):
        kt = csip_core.kernel_table([r], 10)[0]
        want = sum(kt[j - i] for i in range(1, 4) for j in range(4, 7))
        assert csip_core.force_histogram(a, b, r, n_dirs=4)[0] == pytest.approx(want, rel=1e-12)
        assert kt[1] == 1.0 and kt[0] == 1.0
