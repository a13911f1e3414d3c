"""Parallel loading of items (decode, masks, crop, resize, banner) that survives crashing workers.

:class:`Loader` runs :func:`csip.cache.prepare.load_item` and then
:func:`csip.cache.prepare.add_banners` in ``workers`` processes (or in this process with
``workers=0``, banners on all cores), a chunk at a time, in small batches. Python exceptions never reach
it (``load_item`` turns them into :class:`~csip.cache.prepare.Skipped`), but a worker can still
die: a crash in native code, the out-of-memory killer. Then the batch that was running is
retried alone in a fresh pool, and if it kills that one too, item by item in single-use
processes: the item that kills its process is skipped as ``"error: loader process died"``, and
the run goes on.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .prepare import PreparedItem, Skipped, add_banners, item_id_of, load_item, worker_init, worker_load_many

DIED = "error: loader process died"


def mp_context():
    """``CSIP_MP_START`` if set, else fork where available (fastest; safe because workers compute
    banners on their own thread and never use the parent's rayon pools)."""
    method = os.environ.get("CSIP_MP_START")
    if method:
        return mp.get_context(method)
    return mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()


class Loader:
    """Loads ranges of items, in worker processes; see the module docstring."""

    def __init__(self, source: Any, image_size: int, workers: int, desc: Any, n_threads: int | None = None):
        self.source = source
        self.image_size = int(image_size)
        self.workers = int(workers)
        self.desc = desc
        self.n_threads = n_threads  # banner threads of the in-process path (workers=0)
        self._ex: ProcessPoolExecutor | None = None
        self.restarts = 0
        if self.workers > 0:
            self._ex = self._new_pool(self.workers)

    def _new_pool(self, n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            n, mp_context=mp_context(), initializer=worker_init,
            initargs=(self.source, self.image_size, self.desc, os.getpid()),  # workers die with this process
        )

    def submit(self, a: int, b: int) -> list[tuple[int, int, Future | None, Any]]:
        """Start loading items ``a..b-1``; returns a handle for :meth:`collect`."""
        if self._ex is None:
            return [(a, b, None, None)]
        bs = max(1, min(32, (b - a) // (self.workers * 4)))
        return [(lo, min(lo + bs, b), *self._submit(list(range(lo, min(lo + bs, b))))) for lo in range(a, b, bs)]

    def _submit(self, indices: list[int]) -> tuple[Future, Any]:
        """The future of one batch and the pool it went to (a pool broken since by another
        batch gives a future that fails like the batches it had, to be recovered alike)."""
        pool = self._ex
        try:
            return pool.submit(worker_load_many, indices), pool
        except BrokenProcessPool as exc:
            fut: Future = Future()
            fut.set_exception(exc)
            return fut, pool

    def collect(self, handle: list[tuple[int, int, Future | None, Any]]) -> list[PreparedItem | Skipped]:
        """Results of a :meth:`submit`, in item order."""
        return [r for batch in self.batches(handle) for r in batch]

    def batches(self, handle: list[tuple[int, int, Future | None, Any]]) -> Iterator[list[PreparedItem | Skipped]]:
        """Results of a :meth:`submit`, batch after batch in item order, each as soon as it and
        those before it are done."""
        for lo, hi, fut, pool in handle:
            if fut is None:
                loaded = [load_item(self.source, i, self.image_size) for i in range(lo, hi)]
                yield add_banners(loaded, self.desc, n_threads=self.n_threads)
                continue
            try:
                yield fut.result()
            except BrokenProcessPool:
                yield self._recover(lo, hi, pool)

    def _restart(self) -> None:
        if self._ex is not None:
            self._ex.shutdown(wait=False, cancel_futures=True)
        self._ex = self._new_pool(self.workers)
        self.restarts += 1

    def _recover(self, lo: int, hi: int, broken: Any) -> list[PreparedItem | Skipped]:
        """A batch whose pool ``broken`` broke (maybe by another batch): retry it alone, then
        item by item. The pool is replaced only if it is still the current one, so that the
        batches already queued on a healthy replacement are never cancelled."""
        if self._ex is broken:
            self._restart()
        assert self._ex is not None
        try:
            return self._ex.submit(worker_load_many, list(range(lo, hi))).result()
        except BrokenProcessPool:
            pass
        self._restart()  # this batch broke the current pool: whatever else it held fails too
        res: list[PreparedItem | Skipped] = []
        for i in range(lo, hi):
            one = self._new_pool(1)
            try:
                res.extend(one.submit(worker_load_many, [i]).result())
            except BrokenProcessPool:
                res.append(Skipped(i, DIED, "the loader process died while loading this item (crash in native code, "
                                            "or out of memory?)", item_id_of(self.source, i)))
            finally:
                one.shutdown(wait=False, cancel_futures=True)
        return res

    def close(self) -> None:
        if self._ex is not None:
            procs = list((getattr(self._ex, "_processes", None) or {}).values())
            results = getattr(self._ex, "_result_queue", None)  # shutdown(wait=False) forgets it
            self._ex.shutdown(wait=False, cancel_futures=True)
            # do not wait for loads that will not be used (an error, Ctrl-C): stop the workers now
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=5)
            if results is not None and not any(p.is_alive() for p in procs):
                _end_result_pipe(results)
            self._ex = None


def _end_result_pipe(results: Any) -> None:
    """Close this process's write end of a pool's result pipe, once its workers are dead.

    A worker terminated while it wrote a result leaves half a message in the pipe, and the
    pool's manager thread then waits for the rest for ever; the interpreter joins that thread
    at exit, so the process would never end (seen: a precompute stopped by SIGTERM while a
    worker was busy). This process holds the last write end: closing it turns that wait into
    an end of file, on which the manager thread gives up and ends."""
    writer = getattr(results, "_writer", None)
    if writer is not None:
        with contextlib.suppress(OSError):
            writer.close()
