"""The engine never aborts the process nor ignores Ctrl-C (issue 12 §4).

Requests too large for memory raise ``ValueError`` naming the limit (or ``MemoryError``)
instead of aborting with "memory allocation failed"; a long ``sfb`` or ``sfb_batch`` call
stops on SIGINT with ``KeyboardInterrupt`` within a fraction of a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import csip_core

FORCES = [0.0, 1.0]


def _pair(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    a = np.zeros((n, n), bool)
    b = np.zeros((n, n), bool)
    a[2:6, 2:6] = True
    b[9:14, 8:15] = True
    return a, b


def test_kernel_table_too_large_names_the_limit():
    with pytest.raises(ValueError, match=r"kernel table of 57 x 1000000001 values exceeds the limit"):
        csip_core.kernel_table(max_distance=10**9)
    assert csip_core.kernel_table([0.5], max_distance=10).shape == (1, 11)


def test_resize_mask_too_large_names_the_limit():
    a, _ = _pair()
    with pytest.raises(ValueError, match=r"resized mask of 1000000 x 1000000 pixels exceeds the limit"):
        csip_core.resize_mask(a, 10**6, 10**6)
    # the transposed-layout path checks the same
    with pytest.raises(ValueError, match="limit"):
        csip_core.resize_mask(np.asfortranarray(a), 10**6, 10**6)


def test_resize_rgb_too_large_names_the_limit():
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match=r"resized image of 1000000 x 1000000 pixels exceeds the limit"):
        csip_core.resize_rgb(img, 10**6, 10**6)
    # one side huge: the intermediate image of the two passes is checked too
    with pytest.raises(ValueError, match="intermediate"):
        csip_core.resize_rgb(np.zeros((40000, 8, 3), np.uint8), 1, 10**5)


def test_rle_window_too_large_names_the_limit():
    with pytest.raises(ValueError, match=r"window of 1000000 x 1000000 pixels exceeds the limit"):
        csip_core.rle_window([10**12], 10**6, 10**6, (0, 0, 10**6, 10**6))


def test_rle_window_of_a_mask_beyond_64_bits_names_the_limit():
    """height x width is a checked product: 2^33 x 2^33 wrapped to 0 in 64 bits, which an empty
    RLE "covered", and a 2 x 2 window came back."""
    with pytest.raises(ValueError, match=r"RLE mask of 8589934592 x 8589934592 pixels exceeds the "
                                         r"limit of 1099511627776 pixels"):
        csip_core.rle_window([], 2**33, 2**33, (0, 0, 2, 2))
    with pytest.raises(ValueError, match="exceeds the limit"):
        csip_core.rle_window(b"", 2**32, 2**32, (0, 0, 1, 1))  # 2^64 wraps to 0 too
    # within the limit the runs are checked against the mask's size, as before
    with pytest.raises(ValueError, match=r"RLE covers 0 pixels, expected 1048576x1048576"):
        csip_core.rle_window([], 2**20, 2**20, (0, 0, 2, 2))
    assert csip_core.rle_window([1, 2, 1], 2, 2, (0, 0, 2, 2)).tolist() == [[False, True],
                                                                           [True, False]]


def test_banner_too_large_names_the_limit():
    a, b = _pair()
    forces = np.linspace(-2, 2, 4096)
    with pytest.raises(ValueError, match=r"banner of 4096 x 1048576 values exceeds the limit"):
        csip_core.sfb(a, b, forces=forces, n_angles=2**20)
    with pytest.raises(ValueError, match="limit"):
        csip_core.sfb_batch(a[None], b[None], forces=forces, n_angles=2**20)
    with pytest.raises(ValueError, match="n_angles"):
        csip_core.sfb(a, b, n_angles=2**20 + 1)


def test_non_contiguous_out_is_reported_as_such():
    a, b = _pair()
    A, B = np.stack([a] * 3), np.stack([b] * 3)
    out = np.zeros((3, len(FORCES), 32), np.float32)[:, :, ::2]
    assert out.shape == (3, len(FORCES), 16)
    with pytest.raises(ValueError, match=r"out must be C-contiguous .* got strides"):
        csip_core.sfb_batch(A, B, forces=FORCES, n_angles=16, out=out)
    with pytest.raises(ValueError, match=r"of shape \(3, 2, 16\), got shape"):
        csip_core.sfb_batch(A, B, forces=FORCES, n_angles=16,
                            out=np.zeros((3, len(FORCES), 15), np.float32))


def test_progress_exception_propagates_and_stops():
    a, b = _pair()
    A, B = np.stack([a] * 10), np.stack([b] * 10)
    seen = []

    def progress(done, total):
        seen.append(done)
        raise RuntimeError("stop here")

    for n_threads in (1, 2):
        seen.clear()
        with pytest.raises(RuntimeError, match="stop here"):
            csip_core.sfb_batch(A, B, forces=FORCES, n_angles=8, chunk_size=2,
                                n_threads=n_threads, progress=progress)
        assert seen == [2]


# A call that takes many seconds: fragmented (noise) masks, many angles. Python's own SIGINT
# handler is installed first: a process started from a background job inherits SIGINT ignored
# (as CI may run the suite), and Python then leaves it ignored.
_LONG_CALL = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    import csip_core
    rng = np.random.default_rng(0)
    A = rng.random((1024, 1024)) < 0.5
    B = ~A
    print("ready", flush=True)
    t0 = time.perf_counter()
    try:
        if sys.argv[1] == "sfb":
            csip_core.sfb(A, B, n_angles=3600)
        else:
            csip_core.sfb_batch(A[None], B[None], n_angles=3600, n_threads=2)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(3)
    print(f"finished in {time.perf_counter() - t0:.1f} s", flush=True)
""")


@pytest.mark.parametrize("call", ["sfb", "sfb_batch"])
def test_sigint_interrupts_a_long_call(call):
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-c", _LONG_CALL, call], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        assert proc.poll() is None, "the call ended before the signal"
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        waited = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, (proc.returncode, out, err)
    assert "interrupted" in out
    assert waited < 1.5, f"KeyboardInterrupt arrived {waited:.2f} s after SIGINT"


def _run_script(script: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=timeout)


def test_a_forked_child_computes_a_batch_on_the_thread_count_its_parent_used():
    """The child inherits the parent's pool but none of its threads: it must build its own, not
    wait for ever (it did, with the default n_threads, in any fork-based worker)."""
    r = _run_script("""
        import os, time, numpy as np, csip_core
        rng = np.random.default_rng(0)
        a, b = rng.random((8, 48, 48)) < 0.3, rng.random((8, 48, 48)) < 0.3
        ref = csip_core.sfb_batch(a, b, n_threads=2)
        pid = os.fork()
        if pid == 0:
            os._exit(0 if np.array_equal(csip_core.sfb_batch(a, b, n_threads=2), ref) else 3)
        deadline = time.time() + 30
        while time.time() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                print("child", os.waitstatus_to_exitcode(status))
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            print("child hung")
    """)
    assert r.stdout.strip() == "child 0", r.stdout + r.stderr


def test_a_request_the_memory_cannot_hold_is_a_memory_error_not_an_abort():
    """Under a 3 GB address-space limit (as in a container), sizes below the value limits
    that still need more memory than there is raise MemoryError instead of aborting."""
    r = _run_script("""
        import resource, numpy as np
        resource.setrlimit(resource.RLIMIT_AS, (3_000_000_000, 3_000_000_000))
        import csip_core
        a = np.zeros((64, 64), bool); a[5:10, 5:10] = True
        b = np.zeros((64, 64), bool); b[40:50, 40:50] = True
        calls = [lambda: csip_core.resize_rgb(np.zeros((8, 8, 3), np.uint8), 46000, 46000),
                 lambda: csip_core.sfb(a, b, forces=np.zeros(5000), n_angles=50000),
                 lambda: csip_core.force_banner(a, b, forces=np.zeros(300000), n_dirs=800)]
        for call in calls:
            try:
                call()
                print("no error")
            except MemoryError as exc:
                print("MemoryError:", exc)
    """)
    assert r.returncode == 0, r.stderr[-2000:]  # 134 (abort) before
    lines = r.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("MemoryError: could not allocate") for line in lines), r.stdout


def test_a_union_box_beyond_the_limits_is_refused_before_it_is_copied():
    """The union box of a pair is checked before its dense copy is made (2^31 pixels at most, no
    side over 2^28): a broadcast mask of 50000 x 50000 pixels (no memory) made the engine copy
    2.5 GB, and aborted the process where memory was short. Within the limits, a copy the memory
    cannot hold is a MemoryError, not an abort. Run under a 2 GB address-space limit."""
    r = _run_script("""
        import resource, numpy as np
        resource.setrlimit(resource.RLIMIT_AS, (2_000_000_000, 2_000_000_000))
        import csip_core
        big = np.broadcast_to(True, (50_000, 50_000))     # 2.5e9 pixels > 2^31
        fits = np.broadcast_to(True, (46_000, 46_000))    # 2.1e9 pixels: within, yet 2.1 GB
        calls = [lambda: csip_core.sfb(big, big),
                 lambda: csip_core.sfb_batch([(big, big)], n_threads=1),
                 lambda: csip_core.force_banner(big, big, forces=[0.0], n_dirs=4),
                 lambda: csip_core.sfb(fits, fits, forces=[0.0], n_angles=4)]
        for call in calls:
            try:
                call()
                print("no error")
            except (ValueError, MemoryError) as exc:
                print(type(exc).__name__ + ":", exc)
    """)
    assert r.returncode == 0, r.stderr[-2000:]  # -6 (SIGABRT: allocation failed) before
    lines = r.stdout.splitlines()
    limit = "of 50000 x 50000 pixels exceeds the limit of 2147483648 pixels"
    assert lines[:3] == [
        f"ValueError: the union box of a and b {limit}",
        f"ValueError: the union box of masks_a[0][0] and masks_a[0][1] {limit}",
        f"ValueError: the union box of a and b {limit}",
    ], r.stdout
    assert lines[3] == "MemoryError: could not allocate the encoding of a (2116000000 items of 1 bytes)", r.stdout


def test_a_union_box_side_beyond_the_limit_is_refused():
    """A pair 2^28 + 1 pixels apart on one row (zero pages: no memory touched) is refused by the
    union box's side, before its copy, naming the limit."""
    n = 2**28 + 1
    a, b = np.zeros((1, n), bool), np.zeros((1, n), bool)
    a[0, 0] = b[0, -1] = True
    with pytest.raises(ValueError, match=r"the union box of a and b of 1 x 268435457 pixels has a "
                                         r"side longer than the limit of 268435456 pixels"):
        csip_core.sfb(a, b, forces=[0.0], n_angles=4)


def test_batch_plans_are_sized_for_the_pair_not_the_canvas():
    """sfb_batch sizes each pair's plan after cropping to the pair's union box, as sfb does: two
    3-pixel objects 10 px apart on a 1 x 5,000,000 canvas were refused ("kernel table ... exceeds
    the limit"; the batch sized its plan for the canvas), which sfb computes in milliseconds."""
    n = 5_000_000
    a, b = np.zeros((1, n), bool), np.zeros((1, n), bool)
    a[0, 3_000_000:3_000_003] = True
    b[0, 3_000_013:3_000_016] = True
    small_a, small_b = _pair(40)
    want = [csip_core.sfb(a, b), csip_core.sfb(small_a, small_b)]
    for n_threads in (1, 2):
        stacked = csip_core.sfb_batch(a[None], b[None], n_threads=n_threads)
        assert stacked[0].tobytes() == want[0].tobytes()
        listed = csip_core.sfb_batch([(a, b), (small_a, small_b)], n_threads=n_threads)
        assert [x.tobytes() for x in listed] == [w.tobytes() for w in want]


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_thread_pools_are_bounded():
    """A process keeps the pools of the 4 thread counts it used last (csip_core's MAX_POOLS):
    after batches at 2 to 33 threads and 1000, then at 2, 3, 4 and 5, at most 2 + 3 + 4 + 5
    pool threads are alive (1,562 stayed before, one pool per count ever used), and every batch,
    on a new, reused or rebuilt pool, gives the one-thread banners."""
    r = _run_script("""
        import os, time, numpy as np, csip_core
        alive = lambda: len(os.listdir("/proc/self/task"))
        rng = np.random.default_rng(0)
        a, b = rng.random((6, 24, 24)) < 0.3, rng.random((6, 24, 24)) < 0.3
        ref = csip_core.sfb_batch(a, b, n_threads=1, n_angles=16)
        before = alive()
        same = True
        for n in list(range(2, 34)) + [1000] + [2, 3, 4, 5, 5, 2]:
            same &= np.array_equal(csip_core.sfb_batch(a, b, n_threads=n, n_angles=16), ref)
        deadline = time.time() + 20  # retired pools' threads end shortly after
        while alive() - before > 14 and time.time() < deadline:
            time.sleep(0.05)
        print(same, alive() - before)
    """, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    same, extra = r.stdout.split()
    assert same == "True"
    assert int(extra) <= 2 + 3 + 4 + 5, f"{extra} threads more than before the batches"


def test_a_forked_child_retiring_pools_does_not_touch_its_parents():
    """The pools a child inherits are never dropped: a child that uses more thread counts than
    the pools it keeps (retiring its own) still finishes, and the parent's pools still work."""
    r = _run_script("""
        import os, time, numpy as np, csip_core
        rng = np.random.default_rng(1)
        a, b = rng.random((5, 32, 32)) < 0.3, rng.random((5, 32, 32)) < 0.3
        ref = csip_core.sfb_batch(a, b, n_threads=1)
        for n in (2, 3, 4, 5):
            csip_core.sfb_batch(a, b, n_threads=n)  # the parent's four pools
        pid = os.fork()
        if pid == 0:
            ok = all(np.array_equal(csip_core.sfb_batch(a, b, n_threads=n), ref)
                     for n in (2, 6, 7, 8, 9, 10, 3, 2))
            os._exit(0 if ok else 3)
        deadline = time.time() + 30
        while time.time() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                print("child", os.waitstatus_to_exitcode(status))
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            print("child hung")
        print("parent", all(np.array_equal(csip_core.sfb_batch(a, b, n_threads=n), ref)
                            for n in (2, 3, 4, 5)))
    """)
    assert r.stdout.split() == ["child", "0", "parent", "True"], r.stdout + r.stderr
