"""Another build of ``csip_core`` (e.g. main's), timed in a child process beside the current one
in the same run: a PyO3 extension loads once per process, so two builds of the same module
cannot share one interpreter.

The child is this file run as a script (not a multiprocessing child, which would re-import the
benchmark, and the current ``csip_core`` with it): it puts ``core_dir`` (a folder holding a
``csip_core`` package with its compiled extension) first on ``sys.path``, reads the masks of
:func:`scaling_workers.save_masks`, and for each request line ``n prefault`` on stdin times one
``sfb_batch`` call exactly as :func:`time_batch` does in the parent, answering one JSON line.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def time_batch(core, a: np.ndarray, b: np.ndarray, n: int, chunk_size: int,
               out: np.ndarray | None = None) -> tuple[float, float, float, str]:
    """One ``core.sfb_batch`` call on ``n`` threads: (wall s, the process's CPU s (every
    thread), the calling thread's share of that CPU time, sha256 of the banners)."""
    t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
    got = core.sfb_batch(a, b, n_threads=n, chunk_size=chunk_size, out=out)
    t1, c1, p1 = time.perf_counter(), time.thread_time(), time.process_time()
    return (t1 - t0, p1 - p0, (c1 - c0) / max(p1 - p0, 1e-9),
            hashlib.sha256(got.tobytes()).hexdigest())


class Baseline:
    """The build in ``core_dir`` in a child process; ``time(n, prefault)`` is its
    :func:`time_batch` on the masks in ``mask_dir`` (``prefault``: into an already written
    ``out`` array of the banners' ``shape`` (N, R, K), else into a fresh one)."""

    def __init__(self, core_dir: str, mask_dir: Path, chunk_size: int, shape: tuple[int, ...]):
        self._proc = subprocess.Popen(
            [sys.executable, __file__, str(Path(core_dir).resolve()), str(mask_dir),
             str(chunk_size), ",".join(map(str, shape))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.file = self._reply()

    def _reply(self):
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the baseline child exited ({self._proc.wait()})")
        return json.loads(line)

    def time(self, n: int, prefault: bool) -> tuple[float, float, float, str]:
        self._proc.stdin.write(f"{n} {int(prefault)}\n")
        self._proc.stdin.flush()
        return tuple(self._reply())

    def close(self) -> None:
        self._proc.stdin.close()
        self._proc.wait(timeout=10)


def _serve(core_dir: str, mask_dir: str, chunk_size: int, shape: tuple[int, ...]) -> None:
    sys.path.insert(0, core_dir)
    from scaling_workers import load_masks

    import csip_core

    a, b = (np.ascontiguousarray(m) for m in load_masks(Path(mask_dir)))
    print(json.dumps(csip_core.__file__), flush=True)
    for line in sys.stdin:
        n, prefault = map(int, line.split())
        out = np.ones(shape, np.float32) if prefault else None
        print(json.dumps(time_batch(csip_core, a, b, n, chunk_size, out)), flush=True)


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], int(sys.argv[3]),
           tuple(int(x) for x in sys.argv[4].split(",")))
