"""Slow, independent reference for the force histogram / force banner / sFB of ``csip_core``.

Written from the formulas of DESIGN.md §2 (and Matsakis & Wendling 1999), *not* from the Rust
code. Everything here is plain numpy + mpmath and is meant to be obviously right, not fast.

Conventions (the classical ones, shared with the engine):

* image coordinates: row ``y`` (0 at the top), column ``x``; θ = 0 points to +x, θ = π/2 points
  *up* (towards row 0);
* ``F^{AB}(θ)`` is large when A lies in direction θ of B; ``F^{BA}(θ) = F^{AB}(θ + π)``;
* segment force, for I (length x) then J (length z) with a gap y between them on one line::

      f_r = G(x+y+z) − G(x+y) − G(y+z) + G(y)
      G(s) = s^(2−r) / ((1−r)(2−r))   (r ∉ {1, 2}),   s·ln s  (r = 1),   −ln s  (r = 2)
      f_0 = x·z

* pixel-pair kernel ``k_r(d) = G(d+1) − 2G(d) + G(d−1)`` for d ≥ 2 (unit-interval double integral
  of 1/t^r), and the regularised ``k_r(0) = k_r(1) = 1`` for touching / overlapping pixels;
* ``F_r^{AB}(θ) = corr · [Σ_lines Σ_{a after b} k_r(d) + ½ Σ_{A∩B} k_r(0)]`` with
  ``corr = |cos θ|^(r−1)`` (x-major lines, |cos θ| ≥ |sin θ|) or ``|sin θ|^(r−1)`` (y-major).

Digitisation of the reference
-----------------------------
For a direction θ, the lines of the reference are "rounded lines": for x-major directions each
line has one pixel per column and the pixel of column ``x`` sits at row
``L − round(tan θ · (x − x0))`` (rounding half away from zero); y-major directions swap the roles
of rows and columns. ``anchor="zero"`` puts the anchor ``(y0, x0)`` at pixel (0, 0) of the
array (a Bresenham-like digitisation anchored at the array origin, which is *not* the engine's
choice); ``anchor="bbox"`` puts it at the centre of the union bounding box of A and B, which is
what the engine documents. Exact diagonals (|tan θ| = 1) always use the true digital diagonals
(integer shift, no anchor), as the engine does. Any such family is a partition of the pixels, and along the axis
directions (θ = 0, π/2, π, 3π/2) all of them reduce to rows / columns, so the reference and
the engine must then agree to rounding error. At oblique angles two digitisations differ a
little (a few ‰ to ~1 % relative L2 for objects of 20–60 px); see ``digitisation_spread``.
"""

from __future__ import annotations

import math
from functools import cache

import mpmath as mp
import numpy as np

MP_DPS = 50


# ----------------------------------------------------------------------------- closed forms


def _G(s, r):
    """Primitive G (mpmath, exact decimal of the float r). ``s`` > 0."""
    s = mp.mpf(s)
    if r == 1:
        return s * mp.log(s)
    if r == 2:
        return -mp.log(s)
    r = mp.mpf(r)
    return mp.power(s, 2 - r) / ((1 - r) * (2 - r))


def segment_force(r: float, x: int, y: int, z: int) -> float:
    """Closed-form force f_r between segments of lengths x and z, gap y ≥ 1 (50-digit mpmath)."""
    assert x >= 1 and z >= 1 and y >= 1
    with mp.workdps(MP_DPS):
        if r == 0:
            return float(x * z)
        v = _G(x + y + z, r) - _G(x + y, r) - _G(y + z, r) + _G(y, r)
        return float(v)


def kernel_exact(r: float, d: int) -> float:
    """Pixel-pair kernel k_r(d) (50-digit mpmath); k(0) = k(1) = 1 (regularised)."""
    if d <= 1:
        return 1.0
    with mp.workdps(MP_DPS):
        return float(_G(d + 1, r) - 2 * _G(d, r) + _G(d - 1, r))


@cache
def _kernel_block(r: float, block: int) -> np.ndarray:
    lo, hi = block * 256, block * 256 + 256
    with mp.workdps(30):
        Gs = [None] * (hi - lo + 2)
        for i, s in enumerate(range(lo - 1, hi + 1)):
            Gs[i] = _G(s, r) if s >= 1 else None
        out = np.empty(hi - lo)
        for j, d in enumerate(range(lo, hi)):
            if d <= 1:
                out[j] = 1.0
            else:
                out[j] = float(Gs[j + 2] - 2 * Gs[j + 1] + Gs[j])
    return out


def kernel_array(r: float, dmax: int) -> np.ndarray:
    """k_r(0..dmax) as float64 (mpmath at 30 digits, cached per r)."""
    r = float(r)
    nblocks = dmax // 256 + 1
    return np.concatenate([_kernel_block(r, b) for b in range(nblocks)])[: dmax + 1]


# ----------------------------------------------------------------------- digital line geometry


def _round_half_away(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def _is_x_major(theta: float) -> bool:
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    return c >= s * (1.0 - 1e-12)


def line_weight(theta: float) -> float:
    """|cos θ| for x-major directions, |sin θ| for y-major ones (corr = weight^(r−1))."""
    return abs(math.cos(theta)) if _is_x_major(theta) else abs(math.sin(theta))


def _anchor(a: np.ndarray, b: np.ndarray, anchor: str | tuple) -> tuple[float, float]:
    if anchor == "zero":
        return 0.0, 0.0
    if anchor == "bbox":
        u = (a != 0) | (b != 0)
        rr, cc = np.nonzero(u)
        return (rr.min() + rr.max()) / 2.0, (cc.min() + cc.max()) / 2.0
    y0, x0 = anchor
    return float(y0), float(x0)


def signed_pair_counts(a, b, theta: float, anchor="zero"):
    """Pair counts along the digital lines of direction θ.

    Returns ``(counts, P)`` where ``counts[P + Δ]`` is the number of (a ∈ A, b ∈ B) pixel pairs on
    a common line whose position difference, counted positively in direction θ, is Δ
    (Δ > 0: a lies after b in direction θ; Δ = 0: a and b are the same pixel).
    """
    a = np.asarray(a) != 0
    b = np.asarray(b) != 0
    y0, x0 = _anchor(a, b, anchor)
    ra, ca = np.nonzero(a)
    rb, cb = np.nonzero(b)
    c, s = math.cos(theta), math.sin(theta)
    if abs(abs(c) - abs(s)) < 1e-12:
        # exact diagonal: true digital diagonals (integer shift), whatever the anchor — a
        # half-integer anchor with rounding would put a kink in the middle of each line
        y0, x0 = 0.0, 0.0
        c, s = math.copysign(1.0, c), math.copysign(1.0, s)
    if _is_x_major(theta):
        t = s / c
        La = ra + _round_half_away(t * (ca - x0))
        Lb = rb + _round_half_away(t * (cb - x0))
        pa, pb = ca, cb
        sign = 1 if c > 0 else -1
    else:
        t = c / s
        # y_up = -(row - y0); column = L + round(t * y_up)
        La = ca - _round_half_away(t * (-(ra - y0)))
        Lb = cb - _round_half_away(t * (-(rb - y0)))
        pa, pb = -ra, -rb
        sign = 1 if s > 0 else -1
    La = La.astype(np.int64)
    Lb = Lb.astype(np.int64)
    Lmin = min(La.min(), Lb.min())
    Lmax = max(La.max(), Lb.max())
    pmin = min(pa.min(), pb.min())
    pmax = max(pa.max(), pb.max())
    nL, nP = Lmax - Lmin + 1, pmax - pmin + 1
    A = np.zeros((nL, nP))
    B = np.zeros((nL, nP))
    np.add.at(A, (La - Lmin, pa - pmin), 1.0)
    np.add.at(B, (Lb - Lmin, pb - pmin), 1.0)
    assert A.max() <= 1 and B.max() <= 1, "digital lines must hold one pixel per position"
    n = 2 * nP
    X = np.fft.irfft((np.fft.rfft(A, n, axis=1) * np.conj(np.fft.rfft(B, n, axis=1))).sum(0), n)
    # X[Δ mod n] = Σ_L Σ_p A[L, p+Δ] B[L, p]   (Δ = pos_a − pos_b)
    P = nP - 1
    raw = np.concatenate([X[n - P:], X[: P + 1]])  # Δ = −P .. P
    cnt = np.rint(raw)
    assert np.all(np.abs(cnt - raw) < 1e-3)
    if sign < 0:
        cnt = cnt[::-1]
    return cnt, P


def ref_force(a, b, r: float, theta: float, anchor="zero") -> float:
    """Reference F_r^{AB}(θ)."""
    cnt, P = signed_pair_counts(a, b, theta, anchor)
    k = kernel_array(r, P)
    val = float(np.dot(cnt[P + 1:], k[1:]) + 0.5 * cnt[P] * k[0])
    return line_weight(theta) ** (r - 1.0) * val


def ref_banner(a, b, forces, n_dirs=360, anchor="zero") -> np.ndarray:
    """Reference force banner (R, n_dirs), θ_k = 2πk/n_dirs."""
    forces = [float(r) for r in forces]
    out = np.zeros((len(forces), n_dirs))
    for j in range(n_dirs):
        theta = 2.0 * math.pi * j / n_dirs
        cnt, P = signed_pair_counts(a, b, theta, anchor)
        w = line_weight(theta)
        for i, r in enumerate(forces):
            k = kernel_array(r, P)
            out[i, j] = w ** (r - 1.0) * (np.dot(cnt[P + 1:], k[1:]) + 0.5 * cnt[P] * k[0])
    return out


def ref_sfb(a, b, forces, n_angles=180, normalize="none", anchor="zero") -> np.ndarray:
    """Reference symmetric banner (R, n_angles), θ_k = πk/n_angles, float64."""
    fb = ref_banner(a, b, forces, 2 * n_angles, anchor)
    xi = 0.5 * (fb[:, :n_angles] + fb[:, n_angles:])
    if normalize == "max":
        m = xi.max(axis=1, keepdims=True)
        xi = np.divide(xi, m, out=np.zeros_like(xi), where=m > 0)
    return xi


# ------------------------------------------------------------- run-based closed-form forces


def _runs(line: np.ndarray):
    """Runs of True in a 1-D bool array as (start, length)."""
    v = np.concatenate([[False], line, [False]]).astype(np.int8)
    d = np.diff(v)
    starts = np.nonzero(d == 1)[0]
    ends = np.nonzero(d == -1)[0]
    return list(zip(starts.tolist(), (ends - starts).tolist()))


def axis_closed_form(a, b, r: float, direction: str) -> float:
    """F_r^{AB} along an axis direction from segment closed forms (no kernel tabulation).

    ``direction`` ∈ {"right" (θ=0), "up" (θ=π/2), "left" (θ=π), "down" (θ=3π/2)}.
    Requires A and B disjoint and, on every line of that direction, every A run separated from
    every B run by at least one empty pixel (asserted).
    """
    a = np.asarray(a) != 0
    b = np.asarray(b) != 0
    assert not (a & b).any()
    if direction in ("right", "left"):
        lines_a, lines_b = a, b
        forward = direction == "right"
    else:
        # lines are columns; 'up' = towards row 0, so flip rows to make 'up' increasing
        lines_a, lines_b = a.T[:, ::-1], b.T[:, ::-1]
        forward = direction == "up"
    total = 0.0
    for la, lb in zip(lines_a, lines_b):
        if not forward:
            la, lb = la[::-1], lb[::-1]
        for sa, na in _runs(la):
            for sb, nb in _runs(lb):
                if sa > sb:  # A run after the B run
                    gap = sa - (sb + nb)
                    assert gap >= 1, "segments must be separated by at least one empty pixel"
                    total += segment_force(r, nb, gap, na)
                else:
                    assert sb - (sa + na) >= 1
    return total


def digitisation_spread(a, b, forces, n_angles, anchors) -> float:
    """Max over r of the relative L2 distance between reference sFBs with different anchors."""
    banners = [ref_sfb(a, b, forces, n_angles, "none", anchor=an) for an in anchors]
    worst = 0.0
    for x in banners[1:]:
        for i in range(len(forces)):
            num = np.linalg.norm(x[i] - banners[0][i])
            den = np.linalg.norm(banners[0][i])
            worst = max(worst, num / den)
    return worst


# ------------------------------------------------------------------------------ mask makers


def blob(rng: np.random.Generator, h: int, w: int, cy: float, cx: float, radius: float,
         roughness: float = 0.25) -> np.ndarray:
    """A star-shaped blob (random low-order harmonics of the radius) in an (h, w) canvas."""
    yy, xx = np.mgrid[0:h, 0:w]
    ang = np.arctan2(yy - cy, xx - cx)
    rad = np.full_like(ang, radius, dtype=float)
    for k in range(1, 5):
        amp = roughness * radius * rng.uniform(0, 1) / k
        rad += amp * np.cos(k * ang + rng.uniform(0, 2 * np.pi))
    m = np.hypot(yy - cy, xx - cx) <= np.maximum(rad, 0.5)
    if not m.any():
        m[int(np.clip(round(cy), 0, h - 1)), int(np.clip(round(cx), 0, w - 1))] = True
    return m


def _dilate4(m: np.ndarray) -> np.ndarray:
    g = m.copy()
    g[1:] |= m[:-1]
    g[:-1] |= m[1:]
    g[:, 1:] |= m[:, :-1]
    g[:, :-1] |= m[:, 1:]
    return g


def random_pair(seed: int, size: int = 40, overlap: str = "any"):
    """Two random non-empty masks of up to ~``size`` px in a canvas of about 0.5–1.6·size.

    overlap: "any", "separate" (≥ 3 px apart), "touch" (some 4-adjacent pixels, no shared
    pixel), "overlap" (shared pixels), "axis_gap" (no shared pixel and no 4-adjacent A/B pixels,
    so every A run and B run on a row or a column are ≥ 1 empty pixel apart) or "noise"
    (scattered random pixels).
    """
    rng = np.random.default_rng(seed)
    size = max(int(size), 4)
    if overlap == "noise":
        H = int(rng.integers(2, size + 1))
        W = int(rng.integers(2, size + 1))
        while True:
            a = rng.random((H, W)) < rng.uniform(0.05, 0.5)
            b = rng.random((H, W)) < rng.uniform(0.05, 0.5)
            if a.any() and b.any():
                return a, b
    for _ in range(500):
        H = int(rng.integers(size // 2, int(size * 1.6) + 1))
        W = int(rng.integers(size // 2, int(size * 1.6) + 1))
        ra = rng.uniform(1.5, max(2.0, size / 4))
        rb = rng.uniform(1.5, max(2.0, size / 4))
        a = blob(rng, H, W, rng.uniform(0, H), rng.uniform(0, W), ra)
        b = blob(rng, H, W, rng.uniform(0, H), rng.uniform(0, W), rb)
        if overlap == "touch":
            b = b & ~a
            if not b.any():
                continue
            if not (_dilate4(a) & b).any():
                continue
        elif overlap == "axis_gap":
            b = b & ~_dilate4(a)
            if not b.any():
                continue
        elif overlap == "overlap":
            if not (a & b).any():
                continue
        elif overlap == "separate":
            g = _dilate4(_dilate4(_dilate4(a)))
            if (g & b).any():
                continue
        return a, b
    # tiny canvases: fall back to two single pixels with the requested relation
    a = np.zeros((5, 7), bool)
    b = np.zeros((5, 7), bool)
    a[2, 5] = True
    b[2, {"touch": 4, "overlap": 5}.get(overlap, 1)] = True
    return a, b


def oblique_pair(seed: int, overlap: bool):
    """Two blobs 20–60 px across (areas ≥ 200 px) in a 60–130 px canvas, for oblique checks."""
    rng = np.random.default_rng(seed)
    while True:
        H, W = (int(v) for v in rng.integers(60, 130, 2))
        ra, rb = rng.uniform(10, 30, 2)
        a = blob(rng, H, W, rng.uniform(0, H), rng.uniform(0, W), ra)
        b = blob(rng, H, W, rng.uniform(0, H), rng.uniform(0, W), rb)
        if a.sum() < 200 or b.sum() < 200:
            continue
        if (a & b).any() == overlap:
            return a, b


def place(m: np.ndarray, shape, offset) -> np.ndarray:
    """Copy mask ``m`` into a zero canvas of ``shape`` at (row, col) ``offset``."""
    out = np.zeros(shape, dtype=m.dtype)
    y, x = offset
    out[y:y + m.shape[0], x:x + m.shape[1]] = m
    return out


def axis_pair_counts(a, b):
    """Digitisation-free r = 0 forces at the four axis directions, from direct pair counting.

    Returns {0: F_0(0), 90: F_0(π/2), 180: F_0(π), 270: F_0(3π/2)}: pairs (a, b) on a common row
    (column) with a after b in that direction, plus ½·|A∩B|.
    """
    a = (np.asarray(a) != 0).astype(np.int64)
    b = (np.asarray(b) != 0).astype(np.int64)
    half = 0.5 * float((a & b).sum())
    # right: a at column > b's column on the same row
    cb_before = np.cumsum(b, axis=1) - b          # B pixels strictly left of each column
    right = float((a * cb_before).sum())
    ca_before = np.cumsum(a, axis=1) - a
    left = float((b * ca_before).sum())
    rb_below = np.cumsum(b[::-1], axis=0)[::-1] - b  # B pixels strictly below (larger row)
    up = float((a * rb_below).sum())
    ra_below = np.cumsum(a[::-1], axis=0)[::-1] - a
    down = float((b * ra_below).sum())
    return {0: right + half, 90: up + half, 180: left + half, 270: down + half}
