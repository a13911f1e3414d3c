"""csip_core against closed forms: segment forces, kernel values, stability near r = 1 and 2.

Expected values come from ``reference_forces`` (mpmath at 50 digits, straight from the segment
formula of DESIGN.md §2, never from a tabulated kernel). Along the axis directions
θ = 0, π/2, π, 3π/2 the digital lines are rows / columns for any digitisation, so the engine
must match to rounding error (1e-9 relative).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import csip_core
from reference_forces import (
    axis_closed_form,
    kernel_exact,
    random_pair,
    segment_force,
)

# Many force levels in [-3, 3], with the special / delicate ones.
R_LIST = [-3.0, -2.24, -1.5, -1.0, -0.5, 0.0, 0.5, 0.96, 1.0, 1.04, 1.5, 1.96, 2.0, 2.04,
          2.24, 2.5, 3.0]
AXES = {0: "right", 90: "up", 180: "left", 270: "down"}  # degrees -> direction, n_dirs = 360
RTOL = 1e-9


def _rect(shape, r0, r1, c0, c1):
    m = np.zeros(shape, dtype=bool)
    m[r0:r1, c0:c1] = True
    return m


def _check_axes(a, b, r):
    fh = csip_core.force_histogram(a, b, r, n_dirs=360)
    assert fh.shape == (360,) and fh.dtype == np.float64
    for deg, name in AXES.items():
        want = axis_closed_form(a, b, r, name)
        got = fh[deg]
        if want == 0.0:
            assert got == 0.0, (r, deg, got)
        else:
            assert got == pytest.approx(want, rel=RTOL, abs=0), (r, deg, got, want)


# ---------------------------------------------------------------------- rectangles / segments

RECT_CASES = {
    # name: (A, B) on a 24 x 40 canvas; every A/B run pair on a common row/column >= 1 px apart
    "A right of B, same rows": (_rect((24, 40), 5, 12, 25, 33), _rect((24, 40), 5, 12, 3, 14)),
    "A right of B, partial rows": (_rect((24, 40), 2, 9, 20, 39), _rect((24, 40), 6, 20, 0, 18)),
    "A right of B, gap 1": (_rect((24, 40), 3, 4, 10, 12), _rect((24, 40), 3, 4, 7, 9)),
    "single pixels, gap 1": (_rect((24, 40), 3, 4, 10, 11), _rect((24, 40), 3, 4, 8, 9)),
    "A above B": (_rect((24, 40), 0, 6, 10, 20), _rect((24, 40), 9, 23, 12, 30)),
    "A below-left of B, far": (_rect((24, 40), 18, 24, 0, 9), _rect((24, 40), 0, 4, 30, 40)),
    "A around B on a row": (
        _rect((24, 40), 10, 11, 0, 5) | _rect((24, 40), 10, 11, 30, 40),
        _rect((24, 40), 10, 11, 12, 20),
    ),
}


@pytest.mark.parametrize("name", list(RECT_CASES))
@pytest.mark.parametrize("r", R_LIST)
def test_rectangles_axis_closed_form(name, r):
    a, b = RECT_CASES[name]
    _check_axes(a, b, r)


@pytest.mark.parametrize("seed", range(6))
def test_random_masks_axis_closed_form(seed):
    """Random blobs / noise where no A pixel is 4-adjacent to (or on) a B pixel."""
    a, b = random_pair(seed, 24 if seed % 2 else 36, "axis_gap")
    for r in (-2.24, 0.0, 0.96, 1.0, 1.04, 2.0, 2.24):
        _check_axes(a, b, r)


def test_segment_formula_single_row_exact_values():
    """One row, B = 3 px, gap 2, A = 4 px: hand-checked special cases of f_r."""
    a = np.zeros((1, 12), dtype=np.uint8)
    b = np.zeros((1, 12), dtype=np.uint8)
    b[0, 1:4] = 1
    a[0, 6:10] = 1
    x, y, z = 3, 2, 4
    fh0 = csip_core.force_histogram(a, b, 0.0, n_dirs=4)
    assert fh0[0] == x * z and fh0[2] == 0.0
    f1 = csip_core.force_histogram(a, b, 1.0, n_dirs=4)[0]
    g = lambda s: s * math.log(s)  # noqa: E731
    assert f1 == pytest.approx(g(y) + g(x + y + z) - g(x + y) - g(y + z), rel=RTOL)
    f2 = csip_core.force_histogram(a, b, 2.0, n_dirs=4)[0]
    assert f2 == pytest.approx(math.log((x + y) * (y + z) / (y * (x + y + z))), rel=RTOL)


# ------------------------------------------------------------------------ direction conventions


def _circ_dist(i, j, n):
    d = abs(i - j) % n
    return min(d, n - d)


def test_direction_conventions():
    canvas = (30, 30)
    right = _rect(canvas, 10, 15, 20, 26)
    left = _rect(canvas, 10, 15, 2, 8)
    up = _rect(canvas, 1, 6, 10, 16)
    down = _rect(canvas, 22, 28, 10, 16)
    n = 360
    for r in (-1.0, 0.0, 1.0, 2.0):
        # A right of B: large at theta = 0, exactly zero at theta = pi
        f = csip_core.force_histogram(right, left, r, n_dirs=n)
        assert f[0] > 0 and f[180] == 0.0
        assert _circ_dist(int(np.argmax(f)), 0, n) <= 20
        # every x-major direction pointing left sees no pair at all (strictly inside
        # 135..225 deg, so that the tie |cos| = |sin| convention does not matter)
        assert np.all(f[136:225] == 0.0)
        # A above B (towards row 0): large at theta = pi/2, zero at 3pi/2
        g = csip_core.force_histogram(up, down, r, n_dirs=n)
        assert g[90] > 0 and g[270] == 0.0
        assert _circ_dist(int(np.argmax(g)), 90, n) <= 20
        # y-major directions pointing down (strictly inside 225..315 deg) see nothing
        assert np.all(g[226:315] == 0.0)
        # F^{BA}(theta) = F^{AB}(theta + pi)
        h = csip_core.force_histogram(left, right, r, n_dirs=n)
        np.testing.assert_allclose(h, np.roll(f, n // 2), rtol=1e-12, atol=0)


# -------------------------------------------------------------------- stability near 1 and 2


@pytest.mark.parametrize("r0", [1.0, 2.0])
@pytest.mark.parametrize("eps", [-1e-6, 1e-6, -1e-9, 1e-9])
def test_stability_near_1_and_2(r0, eps):
    """At r = r0 ± ε the engine must (i) match the 50-digit closed form at that exact r
    (1e-9 relative: the naive formula loses ~6 digits there) and (ii) stay within the true
    r-derivative bound of the exact r0 value: |ln F(r0+ε) − ln F(r0)| ≤ |ε|·ln(D_max + 1),
    since ∂k_r(d)/∂r ≥ −ln(d+1)·k_r(d) (for this geometry ln(D_max + 1) ≈ 3.2, so the
    brief's flat "1e-6 relative" would be mathematically wrong for ε = 1e-6)."""
    a = _rect((9, 24), 2, 7, 15, 23)
    b = _rect((9, 24), 3, 9, 1, 9)
    r = r0 + eps
    f = csip_core.force_histogram(a, b, r, n_dirs=4)[0]
    f0 = csip_core.force_histogram(a, b, r0, n_dirs=4)[0]
    assert f == pytest.approx(axis_closed_form(a, b, r, "right"), rel=RTOL)
    assert f0 == pytest.approx(axis_closed_form(a, b, r0, "right"), rel=RTOL)
    dmax = 22
    assert abs(math.log(f / f0)) <= abs(eps) * math.log(dmax + 1) + 1e-12


def test_kernel_table_against_mpmath():
    forces = [-3.0, -2.24, -1.0, 0.0, 0.5, 0.96, 1.0 - 1e-6, 1.0, 1.0 + 1e-6, 1.04, 1.5,
              2.0 - 1e-6, 2.0, 2.0 + 1e-6, 2.24, 3.0]
    dmax = 300
    kt = csip_core.kernel_table(forces, dmax)
    assert isinstance(kt, np.ndarray) and kt.dtype == np.float64
    assert kt.shape == (len(forces), dmax + 1)
    assert np.all(kt[:, 0] == 1.0) and np.all(kt[:, 1] == 1.0)
    assert np.all(kt[forces.index(0.0)] == 1.0)
    ds = list(range(2, 40)) + list(range(40, dmax + 1, 13)) + [dmax]
    for i, r in enumerate(forces):
        for d in ds:
            want = kernel_exact(r, d)
            assert kt[i, d] == pytest.approx(want, rel=RTOL, abs=0), (r, d, kt[i, d], want)


def test_kernel_table_accepts_numpy_and_default_forces():
    kt = csip_core.kernel_table(np.asarray(csip_core.DEFAULT_FORCES), 10)
    assert kt.shape == (57, 11)
    assert np.all(np.isfinite(kt)) and np.all(kt > 0)


def test_kernel_telescopes_to_segment_force():
    """Σ_{i∈I, j∈J} k_r(j − i) equals f_r(x, y, z) for gap y ≥ 1 (the kernel's defining property)."""
    forces = [-2.24, 0.0, 0.96, 1.0, 1.04, 2.0, 2.24]
    kt = csip_core.kernel_table(forces, 60)
    for i, r in enumerate(forces):
        for (x, y, z) in [(1, 1, 1), (3, 1, 5), (7, 4, 2), (20, 3, 30)]:
            s = sum(kt[i, (x + y + q) - p] for p in range(x) for q in range(z))
            assert s == pytest.approx(segment_force(r, x, y, z), rel=RTOL)


# ------------------------------------------------------------------------------ default grid


def test_default_forces():
    f = csip_core.DEFAULT_FORCES
    assert isinstance(f, tuple) and len(f) == 57
    assert all(isinstance(v, float) for v in f)
    assert f[0] == pytest.approx(-2.24, abs=1e-12) and f[-1] == pytest.approx(2.24, abs=1e-12)
    np.testing.assert_allclose(np.diff(f), 0.08, atol=1e-12)
    for v in (0.0, 2.0, -2.0, 0.96, 1.04, 1.0 - 0.04):
        assert min(abs(x - v) for x in f) < 1e-12, v
    # the banner uses the default grid when forces=None
    a = _rect((10, 10), 1, 3, 6, 9)
    b = _rect((10, 10), 5, 9, 1, 4)
    np.testing.assert_array_equal(csip_core.sfb(a, b), csip_core.sfb(a, b, forces=f))
    assert csip_core.sfb(a, b).shape == (57, 180)
    assert csip_core.force_banner(a, b).shape == (57, 360)
