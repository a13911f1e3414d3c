#!/usr/bin/env python
"""Benchmark of the csip_core sFB engine (Python face). Prints Markdown tables.

    python benches/bench_sfb.py            # latency, throughput vs size/threads, n_angles, R
    python benches/bench_sfb.py --quick    # smaller budgets (smoke run, ~15 s)
    python benches/bench_sfb.py --rss      # stream 10,000 pairs at 128² and report peak RSS

Masks are "realistic" pairs of star-shaped blobs (a larger and a smaller object, touching,
overlapping or apart, like a person on a horse or a cup next to a plate), generated
deterministically and vectorised, chunk by chunk, so that generation stays out of the timings.
Timings are wall-clock medians (latency) or the best pass over a time budget (throughput);
1- and 2-thread passes are interleaved so that background load hits both alike.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time

import numpy as np

import csip_core

# ----------------------------------------------------------------------------------- masks


def _template(rng: np.random.Generator, rad: float) -> np.ndarray:
    """A star-shaped blob of mean radius ``rad`` (random low harmonics), centred in its box."""
    half = int(np.ceil(1.55 * rad)) + 1
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    ang = np.arctan2(yy, xx)
    rr = np.full(ang.shape, rad, dtype=np.float32)
    for k in range(1, 5):
        rr += np.float32(0.25 * rad * rng.uniform(0, 1) / k) * np.cos(k * ang + rng.uniform(0, 6.3))
    m = np.hypot(yy, xx) <= np.maximum(rr, 1.0)
    return m


def _paste(canvas: np.ndarray, t: np.ndarray, cy: int, cx: int) -> None:
    h = t.shape[0] // 2
    size = canvas.shape[0]
    y0, x0 = cy - h, cx - h
    ys, xs = max(0, -y0), max(0, -x0)
    ye, xe = min(t.shape[0], size - y0), min(t.shape[1], size - x0)
    if ye > ys and xe > xs:
        canvas[y0 + ys:y0 + ye, x0 + xs:x0 + xe] |= t[ys:ye, xs:xe]
    if not canvas.any():
        canvas[min(max(cy, 0), size - 1), min(max(cx, 0), size - 1)] = True


def make_pairs(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs of blobs in ``size``×``size`` canvases: bool arrays (n, size, size) each.

    Each pair is a larger object (mean radius 15–30 % of the canvas) and a smaller one (30–90 %
    of its radius) at a random bearing, from overlapping to well apart. Shapes come from a bank
    of 48 random templates per call, so generation is cheap next to the engine.
    """
    rng = np.random.default_rng(seed)
    radii = rng.uniform(0.15, 0.30, 48) * size
    bank = [_template(rng, r) for r in radii]
    A = np.zeros((n, size, size), dtype=bool)
    B = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        ia, ib = rng.integers(0, 48, 2)
        ta = bank[ia]
        scale = rng.uniform(0.3, 0.9)
        tb = bank[ib]
        # shrink B's template by subsampling (cheap, keeps a blob shape)
        step = max(1, int(round(1.0 / scale * radii[ib] / radii[ia])))
        tb = tb[::step, ::step]
        ra, rb = radii[ia], radii[ib] / step
        cya, cxa = (rng.uniform(0.3, 0.7, 2) * size).astype(int)
        bearing = rng.uniform(0, 2 * np.pi)
        dist = (ra + rb) * rng.uniform(0.6, 1.5)
        cyb = int(np.clip(cya - dist * np.sin(bearing), 0, size - 1))
        cxb = int(np.clip(cxa + dist * np.cos(bearing), 0, size - 1))
        _paste(A[i], ta, cya, cxa)
        _paste(B[i], tb, cyb, cxb)
    return A, B


# --------------------------------------------------------------------------------- helpers


def rss_mib() -> float:
    """Current resident set size (Linux /proc), MiB; falls back to the peak."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mib()


def peak_rss_mib() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 2**10


def median_latency(fn, budget: float, min_reps: int = 3, max_reps: int = 200) -> float:
    fn()  # warm-up
    times = []
    t_end = time.perf_counter() + budget
    while len(times) < min_reps or (time.perf_counter() < t_end and len(times) < max_reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def throughput(A, B, n_threads, budget: float, **kw):
    """Rate of ``sfb_batch`` on (A, B) over ~``budget`` seconds.

    Returns ``(pairs/s of the best pass, process CPU seconds per pair over all passes)`` (a
    tuple of such pairs when ``n_threads`` is a tuple: passes of the thread counts are then
    interleaved so that background load hits them alike). Best-of (as ``timeit`` does) because
    this box's 2 cores are shared with other jobs; the CPU time (all threads) is immune to it.
    """
    counts = n_threads if isinstance(n_threads, tuple) else (n_threads,)
    for t in counts:
        csip_core.sfb_batch(A[:2], B[:2], n_threads=t, **kw)  # warm-up (pool start)
    best = {t: float("inf") for t in counts}
    cpu = {t: 0.0 for t in counts}
    t_end = time.perf_counter() + budget
    reps = 0
    while reps < 2 or time.perf_counter() < t_end:
        for t in counts:
            c0, t0 = _cpu(), time.perf_counter()
            csip_core.sfb_batch(A, B, n_threads=t, **kw)
            best[t] = min(best[t], time.perf_counter() - t0)
            cpu[t] += _cpu() - c0
        reps += 1
    res = tuple((len(A) / best[t], cpu[t] / (reps * len(A))) for t in counts)
    return res if isinstance(n_threads, tuple) else res[0]


def table(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def forces_grid(n: int) -> np.ndarray:
    return np.round(np.linspace(-2.24, 2.24, n), 12)


# ------------------------------------------------------------------------------ benchmarks


def bench_default(args) -> None:
    b = 0.4 if args.quick else 1.5
    load_before = os.getloadavg()[0]
    print(f"# csip_core {getattr(csip_core, '__version__', '?')} — sFB benchmark\n")
    print(f"{platform.platform()}, Python {platform.python_version()}, "
          f"{os.cpu_count()} logical CPUs visible; R = 57 force levels, K = 180 angles "
          "unless stated; times are wall clock.\n")

    A, B = make_pairs(16, 128, seed=1)
    rows = []
    for i in range(4):
        c0 = _cpu()
        reps = [0]

        def call(i=i, reps=reps):
            reps[0] += 1
            csip_core.sfb(A[i], B[i])

        lat = median_latency(call, b / 2 if i == 0 else b / 4, max_reps=100)
        rows.append([i, int(A[i].sum()), int(B[i].sum()), f"{lat * 1e3:.2f}",
                     f"{(_cpu() - c0) / reps[0] * 1e3:.2f}"])
    print("## Latency, one pair, 128×128, one thread (`csip_core.sfb`, R = 57, K = 180)\n")
    print(table(["pair", "area A", "area B", "median wall ms", "CPU ms"], rows))
    print()

    rows = []
    for size in args.sizes:
        n = {64: 128, 128: 64, 224: 32, 512: 16}.get(size, 16)
        A, B = make_pairs(n, size, seed=size)
        (p1, c1), (p2, c2) = throughput(A, B, (1, 2), 3 * b)
        rows.append([f"{size}²", n, f"{p1:.0f}", f"{p2:.0f}", f"{p2 / p1:.2f}×",
                     f"{c1 * 1e3:.2f}", f"{c2 * 1e3:.2f}"])
    print("## `sfb_batch` throughput vs canvas size and threads (R = 57, K = 180)\n")
    print(table(["size", "pairs/pass", "pairs/s 1 thr", "pairs/s 2 thr", "speedup",
                 "CPU ms/pair 1 thr", "CPU ms/pair 2 thr"], rows))
    print()

    A, B = make_pairs(16, 128, seed=7)
    rows = []
    for k in (90, 180, 360):
        p, c = throughput(A, B, 1, b / 2, n_angles=k)
        rows.append([k, f"{1e3 / p:.2f}", f"{c * 1e3:.2f}"])
    print("## Time vs number of angles (128², R = 57, one thread)\n")
    print(table(["n_angles", "wall ms/pair (best pass)", "CPU ms/pair"], rows))
    print()
    rows = []
    for r in (15, 57, 113):
        p, c = throughput(A, B, 1, b / 2, forces=forces_grid(r))
        rows.append([r, f"{1e3 / p:.2f}", f"{c * 1e3:.2f}"])
    print("## Time vs number of force levels (128², K = 180, one thread)\n")
    print(table(["force levels R", "wall ms/pair (best pass)", "CPU ms/pair"], rows))
    print()
    load_after = os.getloadavg()[0]
    print(f"Load average (1 min) before / after: {load_before:.2f} / {load_after:.2f} on "
          f"{os.cpu_count()} CPUs.")
    if max(load_before, load_after) > (os.cpu_count() or 1):
        print("**Warning:** the machine was oversubscribed by other jobs during this run: wall "
              "times are inflated and the thread speedup is not meaningful; the CPU-time "
              "columns are the robust ones.")


def bench_rss(args) -> None:
    n_total, size, chunk = args.rss_pairs, 128, args.chunk
    forces = csip_core.DEFAULT_FORCES
    R, K = len(forces), 180
    sink = None
    if args.rss_out:
        sink = np.lib.format.open_memmap(args.rss_out, mode="w+", dtype=np.float32,
                                         shape=(n_total, R, K))
    out = np.empty((chunk, R, K), dtype=np.float32)
    # warm the engine (thread pool, kernel tables) before measuring
    A, B = make_pairs(4, size, seed=0)
    csip_core.sfb_batch(A, B, n_threads=args.threads)
    rss_before = rss_mib()
    peak_before = peak_rss_mib()
    t0 = time.perf_counter()
    gen = 0.0
    check = 0.0
    for start in range(0, n_total, chunk):
        m = min(chunk, n_total - start)
        tg = time.perf_counter()
        A, B = make_pairs(m, size, seed=1000 + start)
        gen += time.perf_counter() - tg
        dst = sink[start:start + m] if sink is not None else out[:m]
        res = csip_core.sfb_batch(A, B, n_threads=args.threads, chunk_size=64, out=dst)
        check += float(res[:, :, 0].sum())
        del A, B
    el = time.perf_counter() - t0
    if sink is not None:
        sink.flush()
    rss_after = rss_mib()
    peak = peak_rss_mib()
    print(f"# csip_core streaming RSS check: {n_total} pairs at {size}², R = {R}, K = {K}, "
          f"chunks of {chunk}, {args.threads} threads, output "
          f"{'memmap ' + args.rss_out if sink is not None else 'one reused chunk buffer'}\n")
    print(table(
        ["RSS before loop (MiB)", "peak RSS before (MiB)", "peak RSS (MiB)", "RSS after (MiB)",
         "pairs/s (incl. mask gen)", "mask gen s", "checksum"],
        [[f"{rss_before:.1f}", f"{peak_before:.1f}", f"{peak:.1f}", f"{rss_after:.1f}",
          f"{n_total / el:.1f}", f"{gen:.1f}", f"{check:.4g}"]]))
    per_chunk = chunk * size * size * 2 / 2**20
    print(f"\nOne chunk of masks (bool, A+B) is {per_chunk:.1f} MiB and one chunk of output "
          f"{chunk * R * K * 4 / 2**20:.1f} MiB; the whole output would be "
          f"{n_total * R * K * 4 / 2**20:.0f} MiB.")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller time budgets")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 224, 512])
    p.add_argument("--rss", action="store_true", help="streaming peak-RSS mode only")
    p.add_argument("--rss-pairs", type=int, default=10_000)
    p.add_argument("--chunk", type=int, default=256, help="pairs per chunk in --rss mode")
    p.add_argument("--threads", type=int, default=2, help="threads in --rss mode")
    p.add_argument("--rss-out", default=None,
                   help="write the --rss output to this .npy memmap (default: discard)")
    args = p.parse_args(argv)
    if args.rss:
        bench_rss(args)
    else:
        bench_default(args)


if __name__ == "__main__":
    main()
