"""The hardware's own ceiling for a parallel batch: ``n`` independent single-thread processes,
each running ``csip_core.sfb_batch(n_threads=1)`` on its share of the pairs, started together.

Separate processes share nothing but the machine (no pool, no allocator, no address space), so
their speed-up over one process is what the cores, their clocks, SMT siblings, caches and memory
allow; the engine's own speed-up divided by it is the code's efficiency.

Masks go to the children as ``.npy`` files (:func:`save_masks`), read with ``np.load``
(``allow_pickle=False``). The children are started once (spawn) and reused for every ``n``:
worker ``k`` computes pairs ``k, k + n, …`` (copied before the start), waits on the barrier of
``n`` (the parent is the last party), then times its share with ``time.perf_counter``
(CLOCK_MONOTONIC, one clock for every process on Linux).
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TIMEOUT = 600.0  # seconds a barrier or a result may take before the run is abandoned
PROBE_LOOPS = 300_000  # iterations of the clock probe (about 10-20 ms on one core)


def clock_probe(loops: int = PROBE_LOOPS) -> int:
    """A pure-Python integer loop: interpreter work in L1, no memory traffic; its time under
    ``n`` concurrent processes against alone follows the core's clock (turbo under all-core
    load) and SMT sharing, not memory bandwidth."""
    x = 0
    for i in range(loops):
        x += i ^ (x & 7)
    return x


def save_masks(directory: Path, a: np.ndarray, b: np.ndarray) -> Path:
    """Write the stacked masks (bool (N, H, W) each) as ``a.npy`` and ``b.npy``."""
    np.save(directory / "a.npy", a)
    np.save(directory / "b.npy", b)
    return directory


def load_masks(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """The masks of :func:`save_masks`, memory-mapped (read only, no pickle)."""
    return (np.load(directory / "a.npy", mmap_mode="r", allow_pickle=False),
            np.load(directory / "b.npy", mmap_mode="r", allow_pickle=False))


def _worker(k: int, mask_dir: Path, barriers: dict, commands, results, chunk_size: int) -> None:
    """Child ``k``: on ``(n, "batch")``, compute pairs ``k::n`` on one thread, from the barrier
    of ``n``; on ``(n, "probe")``, run :func:`clock_probe` from it."""
    import csip_core

    a_all, b_all = load_masks(mask_dir)
    csip_core.sfb_batch(np.array(a_all[:1]), np.array(b_all[:1]), n_threads=1)  # plan built
    results.put((k, None, None))  # ready
    shares: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    while True:
        command = commands.get()
        if command is None:
            return
        n, kind = command
        if n not in shares:
            shares[n] = (np.ascontiguousarray(a_all[k::n]), np.ascontiguousarray(b_all[k::n]))
        a, b = shares[n]
        barriers[n].wait(TIMEOUT)
        t0 = time.perf_counter()
        if kind == "probe":
            clock_probe()
        else:
            csip_core.sfb_batch(a, b, n_threads=1, chunk_size=chunk_size)
        results.put((k, t0, time.perf_counter()))


@dataclass(frozen=True)
class Run:
    """One start of ``n`` workers: wall time from the first start to the last finish (s), and
    each worker's own time (s, worker order) with its share's pair indices ``k::n``."""

    wall: float
    elapsed: tuple[float, ...]


class ProcessCeiling:
    """``max(counts)`` single-thread worker processes over the masks in ``mask_dir``; ``run(n)``
    starts the first ``n`` together. Use as a context manager (stops and joins them)."""

    def __init__(self, mask_dir: Path, counts: list[int], chunk_size: int = 64):
        ctx = mp.get_context("spawn")
        self._barriers = {n: ctx.Barrier(n + 1) for n in counts}
        self._results = ctx.Queue()
        self._commands = [ctx.Queue() for _ in range(max(counts))]
        self._procs = [
            ctx.Process(target=_worker, daemon=True,
                        args=(k, mask_dir, self._barriers, self._commands[k], self._results,
                              chunk_size))
            for k in range(max(counts))
        ]
        for p in self._procs:
            p.start()
        for _ in self._procs:  # every child imported and warm before anything is timed
            self._results.get(timeout=TIMEOUT)

    def run(self, n: int, kind: str = "batch") -> Run:
        """Start workers ``0..n-1`` on shares ``k::n`` (``kind="probe"``: each runs
        :func:`clock_probe` instead); wait for every one to finish."""
        for k in range(n):
            self._commands[k].put((n, kind))
        self._barriers[n].wait(TIMEOUT)
        got = sorted(self._results.get(timeout=TIMEOUT) for _ in range(n))
        return Run(wall=max(t1 for _, _, t1 in got) - min(t0 for _, t0, _ in got),
                   elapsed=tuple(t1 - t0 for _, t0, t1 in got))

    def __enter__(self) -> ProcessCeiling:
        return self

    def __exit__(self, *exc) -> None:
        for q in self._commands:
            q.put(None)
        for p in self._procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()


if __name__ == "__main__":  # pragma: no cover - a spawn child re-imports this module by name
    sys.exit("scaling_workers.py is a module of benches/bench_sfb_scaling.py")
