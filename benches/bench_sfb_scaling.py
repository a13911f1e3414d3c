#!/usr/bin/env python
"""How csip_core.sfb_batch scales with threads, what limits it (the code or the machine), and
what that projects for many cores.

    python benches/bench_sfb_scaling.py                   # 1, 2 and all cores
    python benches/bench_sfb_scaling.py --threads 1,2,16  # e.g. on a 16-core machine
    python benches/bench_sfb_scaling.py --baseline /tmp/main_core  # beside another build


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

To tell the code from the machine in one run, beside each thread count ``n`` (interleaved with
the thread runs, so that background load hits them alike):
- the **process ceiling** (``scaling_workers.py``): ``n`` independent single-thread processes on
  ``n`` shares of the pairs, started together (barrier → last finish). Their speed-up is what
  the machine allows (clocks under all-core load, SMT siblings, caches, memory); the
  **code efficiency** is the batch's speed-up over theirs. ``per-core rate``: how fast each
  process ran beside the others, against alone (1.00: the machine lost nothing); ``clock probe
  rate``: the same for a pure-Python integer loop without memory traffic, so that a drop of
  both is the clock (all-core turbo) or SMT, and a drop of the per-core rate alone is memory.
- the **load-imbalance bound** (``scaling_balance.py``): pairs per thread, the max/mean of the
  single-thread per-pair times, and the efficiency that the hand-out of pairs alone allows
  (the engine's guided claims; static shares for comparison), with perfect hardware.
- **prefaulted out**: the batch into an already written ``out`` array, which takes the
  page faults of a fresh output array (10 pages per default banner) out of the threads' work.
- **CPU s**: the process's CPU time for the batch, every thread together (least over the
  repeats); it holds on a loaded machine: what a pool run spends beyond the 1-thread run's CPU
  time is overhead (waiting threads spinning, contention), not the pairs' work.
- with ``--baseline DIR`` (a folder holding a ``csip_core`` package, e.g. main's build), that
  build's speed-ups in a child process, and whether its banners are the same bytes.
The machine is described first (``scaling_machine.py``): logical CPUs, usable CPUs, physical
cores and SMT siblings.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from scaling_balance import efficiency
from scaling_baseline import Baseline, time_batch
from scaling_machine import describe
from scaling_workers import ProcessCeiling, save_masks

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


def per_pair_times(a: np.ndarray, b: np.ndarray, repeats: int) -> np.ndarray:
    """Single-thread time of each pair (s, best of ``repeats`` one-pair calls)."""
    best = np.full(len(a), np.inf)
    for _ in range(repeats):
        for i in range(len(a)):
            t0 = time.perf_counter()
            csip_core.sfb_batch(a[i:i + 1], b[i:i + 1], n_threads=1)
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default=None,
                    help="comma-separated thread counts (default: 1,2,all cores)")
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chunk-size", type=int, default=64)
    ap.add_argument("--no-processes", action="store_true",
                    help="skip the process ceiling (independent single-thread processes)")
    ap.add_argument("--baseline", default=None, metavar="DIR",
                    help="also time the csip_core package in DIR (e.g. main's build)")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    counts = ([int(t) for t in args.threads.split(",")] if args.threads
              else sorted({1, 2, cores}))
    if 1 not in counts:
        counts = [1] + counts
    counts = sorted(set(counts))
    for line in describe():
        print(line)
    a, b = ellipse_pairs(args.pairs, args.size)
    print(f"csip_core {csip_core.__file__}")
    print(f"{args.pairs} pairs of {args.size}² ellipses, best of {args.repeats} "
          f"(interleaved), chunk_size {args.chunk_size}\n")
    ref = csip_core.sfb_batch(a, b, n_threads=1, chunk_size=args.chunk_size)
    pair_times = per_pair_times(a, b, 3)
    with tempfile.TemporaryDirectory() as tmp:
        masks = save_masks(Path(tmp), a, b)
        with (nullcontext() if args.no_processes
              else ProcessCeiling(masks, counts, args.chunk_size)) as procs:
            base = (Baseline(args.baseline, masks, args.chunk_size, ref.shape)
                    if args.baseline else None)
            try:
                r = _measure(a, b, ref, counts, args, procs, base)
            finally:
                if base is not None:
                    base.close()
    print()
    _report(r, counts, args, pair_times, base, cores)


def _measure(a, b, ref, counts, args, procs, base) -> dict:
    """Every timing, best of ``args.repeats``, the counts interleaved within each repeat."""
    inf = float("inf")
    r = {k: {n: inf for n in counts}
         for k in ("batch", "prefault", "base", "base_pf", "proc", "cpu", "base_cpu", "probe")}
    r["share"] = {n: [] for n in counts}
    r["elapsed"] = {}
    r["base_same"] = True
    written = np.ones(ref.shape, np.float32)
    for n in counts:  # warm-up: every pool started, every worker's share copied
        csip_core.sfb_batch(a[:n], b[:n], n_threads=n)
        if base is not None:
            base.time(n, False)
    want = hashlib.sha256(ref.tobytes()).hexdigest()
    for k in range(args.repeats):
        for n in counts:
            for key, out in (("batch", None), ("prefault", written)):
                wall, cpu, share, digest = time_batch(csip_core, a, b, n, args.chunk_size, out)
                assert digest == want, f"{n} threads: banners differ"
                r[key][n] = min(r[key][n], wall)
                if out is None:
                    r["share"][n].append(share)
                    r["cpu"][n] = min(r["cpu"][n], cpu)
            if base is not None:
                for key, pf in (("base", False), ("base_pf", True)):
                    wall, cpu, _, base_digest = base.time(n, pf)
                    r[key][n] = min(r[key][n], wall)
                    if not pf:
                        r["base_cpu"][n] = min(r["base_cpu"][n], cpu)
                    r["base_same"] &= base_digest == want
            if procs is not None:
                run = procs.run(n)
                if run.wall < r["proc"][n]:
                    r["proc"][n], r["elapsed"][n] = run.wall, run.elapsed
                probe = float(np.mean(procs.run(n, "probe").elapsed))
                r["probe"][n] = min(r["probe"][n], probe)
        # what a run cut short (a timeout) still leaves: speed-ups so far, per count
        print(f"repeat {k + 1}/{args.repeats}: batch "
              + ", ".join(f"{r['batch'][1] / r['batch'][n]:.2f}x" for n in counts)
              + ("" if procs is None else "; processes "
                 + ", ".join(f"{r['proc'][1] / r['proc'][n]:.2f}x" for n in counts)),
              flush=True)
    # fixed cost per call: one pair, one force level, one angle (argument handling, output,
    # plan lookup, starting and joining the pool)
    r["fixed"] = min(_timed(lambda n=n: csip_core.sfb_batch(a[:1], b[:1], forces=[0.0],
                                                             n_angles=1, n_threads=n))
                     for n in counts for _ in range(20))
    return r


def _report(r, counts, args, pair_times, base, cores) -> None:
    batch, pf = r["batch"], r["prefault"]
    speedups = {n: batch[1] / batch[n] for n in counts}
    hdr = ("| threads | best time (s) | ms / pair | speed-up | efficiency | prefaulted out | "
           "CPU s (all threads) |")
    sep = "|---:|---:|---:|---:|---:|---:|---:|"
    if base is not None:
        hdr += " baseline: best time (s) | speed-up | prefaulted out | CPU s |"
        sep += "---:|---:|---:|---:|"
    print(hdr)
    print(sep)
    for n in counts:
        row = (f"| {n} | {batch[n]:.4f} | {1e3 * batch[n] / args.pairs:.3f} | "
               f"{speedups[n]:.2f}x | {speedups[n] / n:.0%} | {pf[1] / pf[n]:.2f}x | "
               f"{r['cpu'][n]:.4f} |")
        if base is not None:
            row += (f" {r['base'][n]:.4f} | {r['base'][1] / r['base'][n]:.2f}x | "
                    f"{r['base_pf'][1] / r['base_pf'][n]:.2f}x | {r['base_cpu'][n]:.4f} |")
        print(row)
    if base is not None:
        print(f"baseline: {base.file}; 1-thread time {r['base'][1]:.4f} s "
              f"(current {batch[1]:.4f} s); banners "
              + ("bit-identical" if r["base_same"] else "DIFFER"))
    print()
    _report_ceiling(r, counts, speedups, pair_times)
    f = amdahl_fit(speedups)
    if f is None:
        print("serial fraction: needs a thread count above 1")
        return
    print(f"Amdahl fit over n > 1: serial fraction f = {f:.4f} ({100 * f:.2f} %)")
    for n in (16, 64):
        print(f"  projected speed-up on {n} cores: {amdahl(max(f, 0.0), n):.1f}x")
    pool = [n for n in counts if n > 1]
    # CPU time of the calling thread over the CPU time of all threads, in a pool run: the work
    # done on the calling thread, serial with the workers unless it overlaps them; CPU times,
    # so unlike the wall-time fit it holds on a loaded machine
    f_cpu = float(np.median([x for n in pool for x in r["share"][n]]))
    print(f"calling thread's share of the CPU time in pool runs (median): f_cpu = "
          f"{f_cpu:.4f} ({100 * f_cpu:.2f} %), which projects "
          + ", ".join(f"{amdahl(f_cpu, n):.1f}x on {n}" for n in (2, 16, 64)))
    fixed = r["fixed"]
    print(f"fixed per-call cost (1 pair, 1 level, 1 angle): {1e3 * fixed:.3f} ms = "
          f"{100 * fixed / batch[1]:.3f} % of the 1-thread batch")
    if cores < max(counts):
        print(f"note: {max(counts)} threads on {cores} cores: those speed-ups are capped by "
              "the cores, and the fit is meaningful only over counts up to the cores")


def _report_ceiling(r, counts, speedups, pair_times) -> None:
    """The process ceiling, the code efficiency and the load-imbalance bound per count."""
    times = pair_times.tolist()
    mean, top = float(np.mean(pair_times)), float(np.max(pair_times))
    print(f"per-pair single-thread time: mean {1e3 * mean:.3f} ms, max {1e3 * top:.3f} ms "
          f"(max/mean {top / mean:.2f}), best of 3 one-pair calls")
    proc = r["proc"]
    have = all(np.isfinite(proc[n]) for n in counts)
    print("| n | pairs / thread | balance bound: guided (engine) | static shares | "
          + ("processes: speed-up | per-core rate | clock probe rate | batch speed-up | "
             "code efficiency |" if have else "batch speed-up |"))
    print("|---:|---:|---:|---:|" + ("---:|---:|---:|---:|---:|" if have else "---:|"))
    for n in counts:
        row = (f"| {n} | {len(times) / n:.1f} | {efficiency(times, n, 'guided'):.1%} | "
               f"{efficiency(times, n, 'static'):.1%} |")
        if have:
            sp = proc[1] / proc[n]
            rate = proc[1] / sum(r["elapsed"][n])
            probe = r["probe"][1] / r["probe"][n]
            row += (f" {sp:.2f}x | {rate:.2f} | {probe:.2f} | {speedups[n]:.2f}x | "
                    f"{speedups[n] / sp:.1%} |")
        else:
            row += f" {speedups[n]:.2f}x |"
        print(row)
    if have:
        print("(processes: one single-thread process per share k::n, barrier → last finish; "
              "per-core rate: 1-process time / Σ the n processes' own times; clock probe rate: "
              "the same for a pure-Python integer loop (no memory traffic: clocks and SMT, not "
              "memory); code efficiency: batch speed-up / process speed-up. If the processes "
              "fall as the batch does, the limit is the machine, not the engine.)")
    print()


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
