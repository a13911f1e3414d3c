"""Input handling of csip_core: accepted mask dtypes / layouts and errors naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

import csip_core
from reference_forces import random_pair

FORCES = (-1.0, 0.0, 1.0, 2.0)


@pytest.fixture(scope="module")
def pair():
    return random_pair(5, 30, "overlap")


def _all_outputs(a, b):
    return (
        csip_core.sfb(a, b, forces=FORCES, n_angles=24),
        csip_core.sfb(a, b, forces=FORCES, n_angles=24, normalize="none"),
        csip_core.force_banner(a, b, forces=FORCES, n_dirs=24),
        csip_core.force_histogram(a, b, 1.3, n_dirs=24),
    )


def _same(x, y):
    for u, v in zip(x, y):
        assert u.dtype == v.dtype and u.tobytes() == v.tobytes()


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int8, np.uint16, np.int16, np.int32,
                                   np.uint32, np.int64, np.uint64])
def test_integer_and_bool_dtypes(pair, dtype):
    a, b = pair
    ref = _all_outputs(a, b)
    _same(_all_outputs(a.astype(dtype), b.astype(dtype)), ref)


def test_nonzero_is_object(pair):
    a, b = pair
    ref = _all_outputs(a, b)
    a2 = a.astype(np.int32) * 7
    b2 = b.astype(np.int64) * -3
    a3 = a.astype(np.uint8) * 255
    _same(_all_outputs(a2, b2), ref)
    _same(_all_outputs(a3, b.astype(np.uint8)), ref)


def test_mixed_dtypes(pair):
    a, b = pair
    _same(_all_outputs(a.astype(np.uint8), b.astype(np.int64)), _all_outputs(a, b))


def test_fortran_and_noncontiguous(pair):
    a, b = pair
    ref = _all_outputs(a, b)
    _same(_all_outputs(np.asfortranarray(a), np.asfortranarray(b)), ref)
    _same(_all_outputs(np.asfortranarray(a.astype(np.int32)), b), ref)
    # strided views with the same content
    H, W = a.shape
    big_a = np.zeros((2 * H, 3 * W), dtype=np.uint8)
    big_b = np.zeros_like(big_a)
    big_a[::2, ::3] = a
    big_b[::2, ::3] = b
    va, vb = big_a[::2, ::3], big_b[::2, ::3]
    assert not va.flags.c_contiguous and not va.flags.f_contiguous
    _same(_all_outputs(va, vb), ref)
    # negative strides
    ra, rb = a[::-1, ::-1].copy()[::-1, ::-1], b[::-1, ::-1].copy()[::-1, ::-1]
    assert ra.strides[0] < 0
    _same(_all_outputs(ra, rb), ref)
    # a transposed view of a transposed array
    _same(_all_outputs(np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T), ref)


def test_batch_accepts_layouts(pair):
    a, b = pair
    A = np.stack([a, a, b])
    B = np.stack([b, a, a])
    ref = csip_core.sfb_batch(A, B, forces=FORCES, n_angles=12)
    got = csip_core.sfb_batch(np.asfortranarray(A.astype(np.uint8)), B.astype(np.int32)[:, :, :],
                              forces=FORCES, n_angles=12)
    assert ref.tobytes() == got.tobytes()
    big = np.zeros((6,) + A.shape[1:], dtype=bool)
    big[::2] = A
    got2 = csip_core.sfb_batch(big[::2], B, forces=FORCES, n_angles=12)
    assert ref.tobytes() == got2.tobytes()


def test_forces_forms(pair):
    a, b = pair
    ref = csip_core.sfb(a, b, forces=FORCES, n_angles=24)
    for f in (list(FORCES), np.asarray(FORCES), np.asarray(FORCES, dtype=np.float32).astype(float)):
        assert csip_core.sfb(a, b, forces=f, n_angles=24).tobytes() == ref.tobytes()
    one = csip_core.sfb(a, b, forces=[1.0], n_angles=24, normalize="none")
    assert one.shape == (1, 24)


def test_output_shapes(pair):
    a, b = pair
    assert csip_core.force_histogram(a, b, 0.5, n_dirs=1).shape == (1,)
    assert csip_core.force_histogram(a, b, 0.5).shape == (360,)
    assert csip_core.force_banner(a, b, forces=FORCES, n_dirs=7).shape == (len(FORCES), 7)
    assert csip_core.sfb(a, b, forces=FORCES, n_angles=1).shape == (len(FORCES), 1)
    assert csip_core.sfb(a, b, forces=FORCES, n_angles=7).shape == (len(FORCES), 7)


# --------------------------------------------------------------------------------- bad input

GOOD = np.zeros((8, 8), dtype=bool)
GOOD[1:3, 1:3] = True
OTHER = np.zeros((8, 8), dtype=bool)
OTHER[5:7, 4:7] = True
EMPTY = np.zeros((8, 8), dtype=bool)


def _calls():
    """(function, kwargs-builder) for the three single-pair entry points."""
    return [
        ("sfb", lambda a, b, **k: csip_core.sfb(a, b, **k)),
        ("force_banner", lambda a, b, **k: csip_core.force_banner(a, b, **k)),
        ("force_histogram", lambda a, b, **k: csip_core.force_histogram(a, b, 1.0, **k)),
    ]


CALLS = _calls()
CALL_IDS = [c[0] for c in CALLS]

ERR = (ValueError, TypeError)


@pytest.mark.parametrize("name,fn", CALLS, ids=CALL_IDS)
def test_empty_masks(name, fn):
    with pytest.raises(ValueError, match=r"\ba\b"):
        fn(EMPTY, OTHER)
    with pytest.raises(ValueError, match=r"\bb\b"):
        fn(GOOD, EMPTY)


@pytest.mark.parametrize("name,fn", CALLS, ids=CALL_IDS)
def test_shape_mismatch(name, fn):
    with pytest.raises(ValueError, match=r"\bb\b"):
        fn(GOOD, np.ones((8, 9), dtype=bool))


@pytest.mark.parametrize("name,fn", CALLS, ids=CALL_IDS)
def test_not_2d(name, fn):
    with pytest.raises(ERR, match=r"\ba\b"):
        fn(np.ones(8, dtype=bool), np.ones(8, dtype=bool))
    with pytest.raises(ERR, match=r"\ba\b"):
        fn(np.ones((2, 8, 8), dtype=bool), np.ones((2, 8, 8), dtype=bool))
    with pytest.raises(ERR, match=r"\bb\b"):
        fn(GOOD, np.ones((1, 8, 8), dtype=bool))


@pytest.mark.parametrize("name,fn", CALLS, ids=CALL_IDS)
def test_zero_size(name, fn):
    with pytest.raises(ValueError, match=r"\ba\b"):
        fn(np.zeros((0, 5), dtype=bool), np.zeros((0, 5), dtype=bool))
    with pytest.raises(ValueError, match=r"\ba\b"):
        fn(np.zeros((5, 0), dtype=np.uint8), np.zeros((5, 0), dtype=np.uint8))


@pytest.mark.parametrize("name,fn", CALLS, ids=CALL_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
def test_float_dtype_rejected(name, fn, dtype):
    with pytest.raises(ERR, match=r"\ba\b"):
        fn(GOOD.astype(dtype), OTHER)
    with pytest.raises(ERR, match=r"\bb\b"):
        fn(GOOD, OTHER.astype(dtype))


@pytest.mark.parametrize("name,fn", CALLS, ids=CALL_IDS)
def test_not_an_array(name, fn):
    with pytest.raises(ERR, match=r"\ba\b"):
        fn("not a mask", OTHER)
    with pytest.raises(ERR, match=r"\bb\b"):
        fn(GOOD, None)


@pytest.mark.parametrize("bad", [[], [0.0, float("nan")], [float("inf")], [1.0, -float("inf")]])
def test_bad_forces(bad):
    with pytest.raises(ERR, match="forces"):
        csip_core.sfb(GOOD, OTHER, forces=bad)
    with pytest.raises(ERR, match="forces"):
        csip_core.force_banner(GOOD, OTHER, forces=bad)
    with pytest.raises(ERR, match="forces"):
        csip_core.kernel_table(bad, 10)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_bad_r_in_histogram(bad):
    with pytest.raises(ERR, match=r"\br\b"):
        csip_core.force_histogram(GOOD, OTHER, bad)


def test_bad_counts():
    for n in (0, -1):
        with pytest.raises(ERR, match="n_dirs"):
            csip_core.force_histogram(GOOD, OTHER, 1.0, n_dirs=n)
        with pytest.raises(ERR, match="n_dirs"):
            csip_core.force_banner(GOOD, OTHER, n_dirs=n)
        with pytest.raises(ERR, match="n_angles"):
            csip_core.sfb(GOOD, OTHER, n_angles=n)
    with pytest.raises(ERR, match="max_distance"):
        csip_core.kernel_table([1.0], -1)


def test_bad_normalize():
    with pytest.raises(ERR, match="normalize"):
        csip_core.sfb(GOOD, OTHER, normalize="l2-please")


def test_forces_must_be_1d():
    for bad in (np.zeros((2, 2)), [[0.0, 1.0]]):
        with pytest.raises(ERR, match="forces"):
            csip_core.sfb(GOOD, OTHER, forces=bad)
        with pytest.raises(ERR, match="forces"):
            csip_core.force_banner(GOOD, OTHER, forces=bad)


def test_batch_bad_thread_counts():
    A = np.stack([GOOD, GOOD])
    B = np.stack([OTHER, OTHER])
    with pytest.raises(ERR, match="n_threads"):
        csip_core.sfb_batch(A, B, n_threads=0)
