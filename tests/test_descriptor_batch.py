"""csip_core.sfb_batch: same numbers as per-pair sfb, bit for bit, whatever the input form."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import csip_core
from reference_forces import random_pair

FORCES = (-2.24, -1.0, 0.0, 1.0, 2.0, 2.24)


def _stack(n=11, hw=(24, 28), seed=0):
    A = np.zeros((n,) + hw, dtype=bool)
    B = np.zeros_like(A)
    kinds = ["separate", "touch", "overlap", "noise", "any"]
    for i in range(n):
        a, b = random_pair(seed * 1000 + i, min(hw), kinds[i % len(kinds)])
        h, w = min(a.shape[0], hw[0]), min(a.shape[1], hw[1])
        a, b = a[:h, :w], b[:h, :w]
        if not a.any():
            a[0, 0] = True
        if not b.any():
            b[-1, -1] = True
        A[i, :h, :w] = a
        B[i, :h, :w] = b
    return A, B


def _per_pair(pairs, **kw):
    return np.stack([csip_core.sfb(a, b, **kw) for a, b in pairs])


@pytest.mark.parametrize("normalize", ["max", "none"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_stacked_arrays_bitwise(normalize, n_threads):
    A, B = _stack()
    want = _per_pair(zip(A, B), forces=FORCES, n_angles=36, normalize=normalize)
    got = csip_core.sfb_batch(A, B, forces=FORCES, n_angles=36, normalize=normalize,
                              n_threads=n_threads, chunk_size=4)
    assert got.dtype == np.float32 and got.shape == (len(A), len(FORCES), 36)
    assert got.tobytes() == want.tobytes()


def test_defaults_match_sfb_defaults():
    A, B = _stack(n=3)
    got = csip_core.sfb_batch(A, B)
    want = _per_pair(zip(A, B))
    assert got.shape == (3, 57, 180)
    assert got.tobytes() == want.tobytes()


def test_lists_of_arrays():
    A, B = _stack(n=5)
    la = [np.ascontiguousarray(x) for x in A]
    lb = [x.astype(np.uint8) for x in B]
    got = csip_core.sfb_batch(la, lb, forces=FORCES, n_angles=18)
    want = _per_pair(zip(A, B), forces=FORCES, n_angles=18)
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("n_threads", [None, 1, 2])
def test_pair_list_of_varying_sizes(n_threads):
    pairs = [random_pair(s, 10 + 7 * s, ["separate", "touch", "overlap", "noise"][s % 4])
             for s in range(9)]
    assert len({p[0].shape for p in pairs}) > 3
    want = _per_pair(pairs, forces=FORCES, n_angles=20, normalize="none")
    got = csip_core.sfb_batch(pairs, forces=FORCES, n_angles=20, normalize="none",
                              n_threads=n_threads, chunk_size=2)
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("chunk_size", [1, 3, 64])
def test_progress_and_chunks(chunk_size):
    A, B = _stack(n=10)
    calls = []
    got = csip_core.sfb_batch(A, B, forces=FORCES, n_angles=12, chunk_size=chunk_size,
                              n_threads=2, progress=lambda done, total: calls.append((done, total)))
    want = _per_pair(zip(A, B), forces=FORCES, n_angles=12)
    assert got.tobytes() == want.tobytes()
    assert calls, "progress was never called"
    dones = [c[0] for c in calls]
    assert all(t == 10 for _, t in calls)
    assert all(x < y for x, y in zip(dones, dones[1:])), dones
    assert dones[-1] == 10
    assert len(calls) == -(-10 // chunk_size)


@pytest.mark.parametrize("n_threads", [3, 16])
@pytest.mark.parametrize("n_pairs", [2, 150])
def test_blocks_shrinking_to_single_pairs_cover_the_batch_bitwise(n_threads, n_pairs):
    """The pool's threads claim blocks of pairs that shrink from ⌈N / 2T⌉ to 1 (more threads
    than pairs, or many claims of every size): every pair is computed once, into its own row,
    and progress still comes in order."""
    A, B = _stack(n=n_pairs, hw=(16, 18), seed=3)
    want = _per_pair(zip(A, B), forces=FORCES, n_angles=12)
    calls = []
    got = csip_core.sfb_batch(A, B, forces=FORCES, n_angles=12, n_threads=n_threads,
                              chunk_size=7, progress=lambda done, total: calls.append(done))
    assert got.tobytes() == want.tobytes()
    assert calls == [min(7 * c, n_pairs) for c in range(1, -(-n_pairs // 7) + 1)]


def test_concurrent_batches_share_one_pool():
    """Four Python threads run batches on the same 3-thread pool at once: every pool thread
    takes one job per batch, so the batches queue behind each other's jobs, and each still
    gets its own banners."""
    A, B = _stack(n=40, hw=(16, 18), seed=4)
    want = _per_pair(zip(A, B), forces=FORCES, n_angles=12).tobytes()
    same = []

    def run():
        for _ in range(3):
            got = csip_core.sfb_batch(A, B, forces=FORCES, n_angles=12, n_threads=3,
                                      chunk_size=5)
            same.append(got.tobytes() == want)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert same == [True] * 12


def test_out_preallocated_and_memmap(tmp_path):
    A, B = _stack(n=7)
    want = _per_pair(zip(A, B), forces=FORCES, n_angles=16)
    out = np.full((7, len(FORCES), 16), np.nan, dtype=np.float32)
    res = csip_core.sfb_batch(A, B, forces=FORCES, n_angles=16, out=out, chunk_size=3)
    assert res is out or np.shares_memory(res, out)
    assert out.tobytes() == want.tobytes()
    path = tmp_path / "sfb.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(7, len(FORCES), 16))
    res = csip_core.sfb_batch(A, B, forces=FORCES, n_angles=16, out=mm, n_threads=2, chunk_size=2)
    assert np.shares_memory(res, mm)
    mm.flush()
    del mm, res
    back = np.load(path)
    assert back.tobytes() == want.tobytes()


def test_out_bad_shape_or_dtype():
    A, B = _stack(n=3)
    with pytest.raises((ValueError, TypeError), match="out"):
        csip_core.sfb_batch(A, B, forces=FORCES, n_angles=16,
                            out=np.zeros((3, len(FORCES), 15), np.float32))
    with pytest.raises((ValueError, TypeError), match="out"):
        csip_core.sfb_batch(A, B, forces=FORCES, n_angles=16,
                            out=np.zeros((3, len(FORCES), 16), np.float64))


def test_empty_batch():
    A = np.zeros((0, 8, 8), dtype=bool)
    got = csip_core.sfb_batch(A, A.copy(), forces=FORCES, n_angles=10)
    assert got.shape == (0, len(FORCES), 10) and got.dtype == np.float32


def test_batch_bad_inputs_name_argument():
    A, B = _stack(n=4)
    with pytest.raises((ValueError, TypeError), match="masks_b"):
        csip_core.sfb_batch(A, B[:3])
    with pytest.raises((ValueError, TypeError), match="masks_a"):
        csip_core.sfb_batch(A[0])  # a single 2-D mask is not a batch
    with pytest.raises((ValueError, TypeError), match="masks_a|masks_b"):
        csip_core.sfb_batch(A.astype(np.float32), B)
    empty = A.copy()
    empty[2] = False
    with pytest.raises(ValueError, match="masks_a"):
        csip_core.sfb_batch(empty, B)
    with pytest.raises((ValueError, TypeError), match="n_angles"):
        csip_core.sfb_batch(A, B, n_angles=0)
    with pytest.raises((ValueError, TypeError), match="forces"):
        csip_core.sfb_batch(A, B, forces=[0.0, float("nan")])
    with pytest.raises((ValueError, TypeError), match="chunk_size"):
        csip_core.sfb_batch(A, B, chunk_size=0)


def _child_batch(queue, A, B):
    queue.put(csip_core.sfb_batch(A, B, forces=FORCES, n_angles=12, n_threads=1))


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="needs fork")
def test_one_thread_batches_work_in_a_forked_child():
    """n_threads=1 runs on the calling thread: a process forked after the parent ran batches
    (whose pool threads do not survive the fork) can still compute (precompute's workers)."""
    import multiprocessing as mp

    A, B = _stack(n=5)
    want = csip_core.sfb_batch(A, B, forces=FORCES, n_angles=12, n_threads=1)
    csip_core.sfb_batch(A, B, forces=FORCES, n_angles=12, n_threads=2)  # pools now exist here
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_batch, args=(queue, A, B))
    child.start()
    try:
        got = queue.get(timeout=60)
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    np.testing.assert_array_equal(got, want)
