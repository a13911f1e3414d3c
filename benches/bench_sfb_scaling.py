#!/usr/bin/env python
"""How csip_core.sfb_batch scales with threads, and what that projects for many cores.

    python benches/bench_sfb_scaling.py                   # 1, 2 and all cores
    python benches/bench_sfb_scaling.py --threads 1,2,16  # e.g. on a 16-core machine

Workload (issue 14): 256 pairs of 128² ellipses (default 57 × 180 banners, chunk_size 64).
Each thread count is timed ``--repeats`` times (default 5), the counts interleaved within each
repeat so that background load hits them alike; the best time of each is kept.

Printed: time and speed-up per thread count, and the serial fraction ``f`` of Amdahl's law
``S(n) = 1 / (f + (1 − f) / n)``, fitted by least squares to ``1/S(n) − 1/n = f (1 − 1/n)``
over the measured counts n > 1, with the speed-up it projects on 16 and 64 cores. Wall times
need an idle machine; beside them, two figures that hold on a loaded one: ``f_cpu``, the
calling thread's share of the CPU time of a pool run (in the engine of main it encoded every
chunk while the workers waited; now it only hands out the batch and waits), and the fixed
cost of a call (one pair, one force level, one angle: argument handling, output allocation,
plan lookup, starting and joining the pool). Neither counts the load imbalance at the end of
a batch (up to one pair per thread), which the wall-time fit does.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import csip_core


def ellipse_pairs(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs of filled ellipses (random centres, radii 8–40 % of the canvas, random
    orientation) in ``size``×``size`` canvases: bool (n, size, size) each."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)

    def ellipse() -> np.ndarray:
        cy, cx = rng.uniform(0.2, 0.8, 2) * size
        ry, rx = rng.uniform(0.08, 0.4, 2) * size
        t = rng.uniform(0, np.pi)
        u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
        v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
        m = (u / rx) ** 2 + (v / ry) ** 2 <= 1.0
        if not m.any():
            m[int(cy), int(cx)] = True
        return m

    a = np.stack([ellipse() for _ in range(n)])
    b = np.stack([ellipse() for _ in range(n)])
    return a, b


def amdahl_fit(speedups: dict[int, float]) -> float | None:
    """Serial fraction f of Amdahl's law fitted to the speed-ups of n > 1 threads."""
    pts = [(n, s) for n, s in speedups.items() if n > 1]
    if not pts:
        return None
    num = sum((1 / s - 1 / n) * (1 - 1 / n) for n, s in pts)
    den = sum((1 - 1 / n) ** 2 for n, _ in pts)
    return num / den


def amdahl(f: float, n: int) -> float:
    return 1.0 / (f + (1.0 - f) / n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default=None,
                    help="comma-separated thread counts (default: 1,2,all cores)")
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chunk-size", type=int, default=64)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    counts = ([int(t) for t in args.threads.split(",")] if args.threads
              else sorted({1, 2, cores}))
    if 1 not in counts:
        counts = [1] + counts
    a, b = ellipse_pairs(args.pairs, args.size)
    print(f"csip_core {csip_core.__file__}")
    print(f"{args.pairs} pairs of {args.size}² ellipses, best of {args.repeats} "
          f"(interleaved), chunk_size {args.chunk_size}, {cores} cores\n")
    ref = csip_core.sfb_batch(a, b, n_threads=1, chunk_size=args.chunk_size)
    best = {n: float("inf") for n in counts}
    caller_share = {n: [] for n in counts}
    for _ in range(args.repeats):
        for n in counts:
            t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
            got = csip_core.sfb_batch(a, b, n_threads=n, chunk_size=args.chunk_size)
            t1, c1, p1 = time.perf_counter(), time.thread_time(), time.process_time()
            best[n] = min(best[n], t1 - t0)
            caller_share[n].append((c1 - c0) / max(p1 - p0, 1e-9))
            assert got.tobytes() == ref.tobytes(), f"{n} threads: banners differ"
    # fixed cost per call: one pair, one force level, one angle (argument handling, output,
    # plan lookup, starting and joining the pool)
    fixed = min(_timed(lambda n=n: csip_core.sfb_batch(a[:1], b[:1], forces=[0.0], n_angles=1,
                                                        n_threads=n)) for n in counts
                for _ in range(20))
    speedups = {n: best[1] / best[n] for n in counts}
    print("| threads | best time (s) | ms / pair | speed-up | efficiency |")
    print("|---:|---:|---:|---:|---:|")
    for n in counts:
        print(f"| {n} | {best[n]:.4f} | {1e3 * best[n] / args.pairs:.3f} | "
              f"{speedups[n]:.2f}x | {speedups[n] / n:.0%} |")
    f = amdahl_fit(speedups)
    print()
    if f is None:
        print("serial fraction: needs a thread count above 1")
        return
    print(f"Amdahl fit over n > 1: serial fraction f = {f:.4f} ({100 * f:.2f} %)")
    for n in (16, 64):
        print(f"  projected speed-up on {n} cores: {amdahl(max(f, 0.0), n):.1f}x")
    pool = [n for n in counts if n > 1]
    if pool:
        # CPU time of the calling thread over the CPU time of all threads, in a pool run:
        # the work done on the calling thread, serial with the workers unless it overlaps
        # them; CPU times, so unlike the wall-time fit it holds on a loaded machine
        f_cpu = float(np.median([x for n in pool for x in caller_share[n]]))
        print(f"calling thread's share of the CPU time in pool runs (median): f_cpu = "
              f"{f_cpu:.4f} ({100 * f_cpu:.2f} %), which projects "
              + ", ".join(f"{amdahl(f_cpu, n):.1f}x on {n}" for n in (2, 16, 64)))
    print(f"fixed per-call cost (1 pair, 1 level, 1 angle): {1e3 * fixed:.3f} ms = "
          f"{100 * fixed / best[1]:.3f} % of the 1-thread batch")
    if cores < max(counts):
        print(f"note: {max(counts)} threads on {cores} cores: those speed-ups are capped by "
              "the cores, and the fit is meaningful only over counts up to the cores")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
