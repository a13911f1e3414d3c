"""Fragmented masks (noise): the engine's bit-parallel ways of counting pairs (issue 14 §3).

For masks whose lines cross the objects many times the engine counts pixel pairs by
bit-parallel correlation instead of pairing segments; the counts, hence the banners, must be
exactly those of the segment path. Checked here against an independent pair count at the
axis directions, by symmetry and batch identity, and against digests of the banners that the
engine gave before the change (the segment path only).
"""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path

import numpy as np
import pytest

import csip_core
from reference_forces import axis_pair_counts


def _cases():
    rng = np.random.default_rng(2026)
    a = rng.random((64, 64)) < 0.5
    yield "noise64_complement", a, ~a
    a = rng.random((96, 96)) < 0.3
    b = rng.random((96, 96)) < 0.6
    yield "noise96", a, b
    a = rng.random((80, 112)) < 0.5
    b = np.zeros((80, 112), bool)
    b[10:70, 60:100] = True
    yield "noise_beside_solid", a, b


CASES = list(_cases())
IDS = [c[0] for c in CASES]

# sha256 of sfb(a, b), sfb(a, b, normalize="none", n_angles=90) and force_banner(a, b,
# forces=[-1, 0, 0.96, 2], n_dirs=72), computed by the engine of main at 580c68a (segment pairs
# only) on x86-64 with AVX2 and FMA (the dot product's summation order depends on them).
BEFORE = {
    "noise64_complement": "112ac1a0c09c306255a7fcc0ce57d3a9f65f5651fc36274d29cf534c6844c974",
    "noise96": "31e4fc56d6d36e4ad68a47a821242738d5bff46d77b7c07e37ff2c274ac04ab6",
    "noise_beside_solid": "605359027bb784e6e97e356b5abf32cf1032332c0ac637805b3d9b3806430c58",
}


def _has_avx2_fma() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return platform.machine() == "x86_64" and " avx2" in flags and " fma" in flags


@pytest.mark.skipif(not _has_avx2_fma(), reason="digests recorded on x86-64 with AVX2 and FMA")
@pytest.mark.parametrize("name,a,b", CASES, ids=IDS)
def test_banners_bit_identical_to_the_segment_engine(name, a, b):
    h = hashlib.sha256()
    h.update(csip_core.sfb(a, b).tobytes())
    h.update(csip_core.sfb(a, b, normalize="none", n_angles=90).tobytes())
    h.update(csip_core.force_banner(a, b, forces=[-1.0, 0.0, 0.96, 2.0], n_dirs=72).tobytes())
    assert h.hexdigest() == BEFORE[name]


@pytest.mark.parametrize("name,a,b", CASES, ids=IDS)
def test_axis_pair_counts_exact(name, a, b):
    """F_0 at θ = 0, π/2, π, 3π/2 counts pixel pairs: exactly the reference's direct count."""
    fb = csip_core.force_banner(a, b, forces=[0.0], n_dirs=4)[0]
    ref = axis_pair_counts(a, b)
    assert fb.tolist() == [ref[0], ref[90], ref[180], ref[270]]


@pytest.mark.parametrize("name,a,b", CASES, ids=IDS)
def test_symmetric_and_batch_identical(name, a, b):
    s = csip_core.sfb(a, b, normalize="none")
    assert s.tobytes() == csip_core.sfb(b, a, normalize="none").tobytes()
    assert np.isfinite(s).all() and (s >= 0).all()
    for n_threads in (1, 2):
        got = csip_core.sfb_batch([a, a.T.copy()], [b, b.T.copy()], normalize="none",
                                  n_threads=n_threads)
        assert got[0].tobytes() == s.tobytes()
        assert got[1].tobytes() == csip_core.sfb(a.T, b.T, normalize="none").tobytes()


def test_translation_invariance_on_noise():
    rng = np.random.default_rng(5)
    a = rng.random((48, 40)) < 0.5
    b = rng.random((48, 40)) < 0.4
    a[0, 0] = b[-1, -1] = True
    big_a = np.zeros((100, 90), bool)
    big_b = np.zeros((100, 90), bool)
    big_a[31:79, 17:57] = a
    big_b[31:79, 17:57] = b
    assert csip_core.sfb(a, b).tobytes() == csip_core.sfb(big_a, big_b).tobytes()
