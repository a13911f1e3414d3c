"""Whole training batches read straight from a cache's memory maps: :func:`batches`, :class:`BatchReader`.

A torch ``DataLoader`` over :class:`~csip.cache.CacheDataset` builds every batch from ``B``
``__getitem__`` calls and a collate (~6k images/s in one process at 224 px), and its worker
processes send each batch through shared memory, so a GPU needed ~15 of them. Here each array
of a batch is one ``np.take`` from its memory map (the GIL released during the copy) into a
preallocated buffer — pinned on CUDA, copied to the device without blocking on a side stream —
and the flips are applied on the device. Background threads (not processes) read the next
batches while the current one trains.

The batches are those of the training loop over a ``DataLoader``: the same order
(:class:`csip.cache.order.EpochBatchSampler`: epoch permutation fixed by (seed, epoch), rank ``r`` of
``world`` reading its ``r``-th part of each global batch, the incomplete last batch dropped),
the same contents and the same flips (:func:`csip.cache.order.flip_mask` of (seed, epoch, step), the
rank's slice, applied by :func:`csip.cache.order.hflip_batch`). Each batch is a dict of tensors on
``device``, keys in the order asked::

    {"image": uint8 (b, 3, S, S), "sfb": float32 (b, R, K), "boxes": float32 (b, 2, 4),
     "label": int64 (b,), "index": int64 (b,)}    b = batch_size // world

(``index``: the item's position in the whole cache; never flipped.)

torch is imported on first use, so that ``csip.cache`` (which exports :func:`batches`) stays
importable without it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from ..base.checks import is_integer
from ..base.errors import BadOption
from .reader import Cache
from .union import CacheUnion

if TYPE_CHECKING:
    import torch

#: Keys a batch can hold, and the cache array each one is read from (``index`` is computed).
KEYS = ("image", "sfb", "boxes", "label", "index")
_ARRAY_OF = {"image": "images", "sfb": "sfb", "boxes": "boxes", "label": "labels"}


def default_reader_threads(cuda: bool) -> int:
    """Reader threads of a training process when none are asked for: 2 on CUDA, 0 on the CPU
    (batches read in the training thread: the cores are busy computing).

    Measured (ResNet18, 224 px, batch 256, all five arrays, warm page cache): on 2 shared cores,
    host side only (``benches/bench_loader.py``), ~30k images/s with 0 or 1 thread, ~51k with 2
    (a DataLoader: 5-7k with 0 workers, 7-8k with 2). On an H100 with bf16
    (``benches/bench_train.py``), 1 thread fed 98.6 % and 2 threads 99.7 % of the model-bound rate
    (a DataLoader in the same runs: 2 workers 57 %, 15 workers 50 %).
    """
    return 2 if cuda else 0


class BatchReader:
    """Reads the training batches of a cache split, epoch after epoch (see the module docstring).

    ``batch_size`` is the global batch (all ``world`` processes together); each process gets
    ``batch_size // world`` items per batch. ``keys``: which arrays to read (default all of
    :data:`KEYS`; reading only what the model uses saves bandwidth). ``threads``: background
    reader threads (0: read in the calling thread, just in time; default
    :func:`default_reader_threads`); ``prefetch``: batches read ahead with threads. On CUDA the
    host buffers are a ring of ``prefetch + 1`` pinned slots, reused once their copy to the device
    is done, so a reader holds ~``(prefetch + 1) × b × (3·S² + 4·R·K + 40)`` bytes of pinned memory.
    On the CPU each batch gets fresh tensors (the caller may keep them), unless ``reuse=True``:
    then the batches are views of a ring of host buffers, valid only until the next batch is
    taken (for benchmarks of the host side, and loops that drop each batch before the next; a
    fresh 40 MB tensor per batch costs its page faults, a third of the read time at 224 px).
    ``cache`` may be a :class:`~csip.cache.union.CacheUnion` (several caches as one); ``rows``:
    the cache rows of the dataset to read instead of the whole ``split`` (e.g. its labelled items).
    """

    def __init__(
        self,
        cache: str | os.PathLike | Cache | CacheUnion,
        split: str | None = "train",
        batch_size: int = 256,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        *,
        keys: Sequence[str] | None = None,
        device: str | torch.device | None = None,
        flip: bool = True,
        channels_last: bool = False,
        threads: int | None = None,
        prefetch: int = 3,
        reuse: bool = False,
        rows: np.ndarray | None = None,
    ):
        import torch  # optional (the ml extra): csip.cache imports without torch

        self.cache = cache if isinstance(cache, (Cache, CacheUnion)) else Cache(cache)
        self.keys = tuple(KEYS if keys is None else keys)
        unknown = [k for k in self.keys if k not in KEYS]
        if unknown or not self.keys or len(set(self.keys)) != len(self.keys):
            raise ValueError(f"keys must be distinct names among {list(KEYS)}, got {list(self.keys)}")
        for name, value, lo in (("batch_size", batch_size, 1), ("seed", seed, 0), ("rank", rank, 0),
                                ("world", world, 1), ("prefetch", prefetch, 1), ("threads", threads, 0)):
            _check_int(name, value, lo)
        if not rank < world:
            raise BadOption(f"rank {rank} of world {world}: need 0 <= rank < world")
        if batch_size % world:
            raise BadOption(f"batch_size {batch_size} is not a multiple of world = {world} processes")
        self.split = split
        self.indices = self.cache.indices(split) if rows is None else np.asarray(rows, dtype=np.int64)
        self.n = int(self.indices.shape[0])
        self.batch_size, self.seed, self.rank, self.world = int(batch_size), int(seed), int(rank), int(world)
        self.local = self.batch_size // self.world
        self.device = torch.device(device if device is not None else "cpu")
        self.cuda = self.device.type == "cuda"
        self.flip, self.channels_last = bool(flip), bool(channels_last)
        self.threads = default_reader_threads(self.cuda) if threads is None else int(threads)
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {threads}")
        self.depth = max(int(prefetch), self.threads) if self.threads else 1  # batches in flight
        s, (r, k) = self.cache.image_size, self.cache.sfb_shape
        self._shapes = {"image": ((3, s, s), torch.uint8), "sfb": ((r, k), torch.float32),
                        "boxes": ((2, 4), torch.float32), "label": ((), torch.int64), "index": ((), torch.int64),
                        "flip": ((), torch.bool)}
        self.reuse = self.cuda or bool(reuse)  # CUDA: always (the batches are device copies)
        self._slots: list[dict[str, torch.Tensor]] | None = None  # the ring (reuse), pinned on CUDA
        self._events: list[Any] = []  # per slot, the event of its last copy to the device (CUDA)
        self._stream = None

    def __len__(self) -> int:
        """Batches in one whole epoch."""
        return self.n // self.batch_size

    # -- host side ---------------------------------------------------------------------------

    def _host_buffers(self, pin: bool) -> dict[str, torch.Tensor]:
        import torch  # optional (the ml extra): csip.cache imports without torch

        need = [*self.keys, "flip"] if self.flip else list(self.keys)
        return {k: torch.empty((self.local, *self._shapes[k][0]), dtype=self._shapes[k][1], pin_memory=pin)
                for k in need}

    def _fill(self, out: dict[str, torch.Tensor] | None, arrays: dict[str, np.ndarray], rows: np.ndarray,
              epoch: int, step: int, wait: Any = None) -> dict[str, torch.Tensor]:
        """Read the items ``rows`` (cache rows, in batch order) and the flip mask of ``step`` into
        ``out`` (fresh tensors when None), after ``wait`` (the event of the slot's last copy)."""
        if wait is not None:
            wait.synchronize()  # the slot's previous batch has reached the device
        if out is None:
            out = self._host_buffers(pin=False)
        for k in self.keys:
            dst = out[k].numpy()
            if k == "index":
                dst[:] = rows
            else:
                self.cache.take(arrays[k], rows, dst)
        if self.flip:
            from .order import flip_mask  # imports torch, optional (the ml extra)

            lo = self.rank * self.local
            out["flip"].copy_(flip_mask(self.seed, epoch, step, self.batch_size)[lo:lo + self.local])
        return out

    # -- device side -------------------------------------------------------------------------

    def _deliver(self, host: dict[str, torch.Tensor], slot: int) -> dict[str, torch.Tensor]:
        import torch  # optional (the ml extra): csip.cache imports without torch

        if self.cuda:
            cur = torch.cuda.current_stream(self.device)
            with torch.cuda.stream(self._stream):
                dev = {k: t.to(self.device, non_blocking=True) for k, t in host.items()}
                ev = torch.cuda.Event()
                ev.record(self._stream)
            self._events[slot] = ev
            cur.wait_stream(self._stream)
            for t in dev.values():
                t.record_stream(cur)
        else:
            dev = {k: t.to(self.device) for k, t in host.items()}
        mask = dev.pop("flip", None)
        if self.channels_last and "image" in dev:
            dev["image"] = dev["image"].contiguous(memory_format=torch.channels_last)
        if mask is not None:
            from .order import hflip_batch  # imports torch, optional (the ml extra)

            dev = hflip_batch(dev, mask)
        return dev

    # -- the epoch ---------------------------------------------------------------------------

    def epoch(self, epoch: int, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """The batches of ``epoch`` from its ``start``-th on (a resumed run skips the consumed
        ones); see the module docstring for their contents."""
        import torch  # optional (the ml extra): csip.cache imports without torch

        from .order import EpochBatchSampler  # imports torch, optional (the ml extra)

        _check_int("epoch", epoch, 0), _check_int("start", start, 0)
        sampler = EpochBatchSampler(self.n, self.batch_size, self.seed, epoch, self.rank, self.world, start)
        jobs = [(start + i, self.indices[np.asarray(pos, dtype=np.int64)]) for i, pos in enumerate(sampler)]
        if not jobs:
            return
        arrays = {k: _ARRAY_OF[k] for k in self.keys if k in _ARRAY_OF}  # key -> the cache array's name
        nslots = self.depth + 1
        if self.reuse and self._slots is None:
            self._slots = [self._host_buffers(pin=self.cuda) for _ in range(nslots)]
            self._events = [None] * nslots
        if self.cuda and self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        pool = ThreadPoolExecutor(self.threads, thread_name_prefix="csip-batches") if self.threads else None
        pending: deque[Future] = deque()

        def submit(j: int) -> None:
            slot = j % nslots
            args = (self._slots[slot] if self._slots else None, arrays, jobs[j][1], epoch, jobs[j][0],
                    self._events[slot] if self._slots else None)
            if pool is None:
                fut: Future = Future()
                fut.set_result(self._fill(*args))
                pending.append(fut)
            else:
                pending.append(pool.submit(self._fill, *args))

        try:
            if pool is not None:
                for j in range(min(self.depth, len(jobs))):
                    submit(j)
            for j in range(len(jobs)):
                if pool is None:
                    submit(j)
                host = pending.popleft().result()
                if pool is not None and j + self.depth < len(jobs):
                    submit(j + self.depth)  # into the slot of batch j - 1, once its copy is done
                yield self._deliver(host, j % nslots)
        finally:
            if pool is not None:  # an abandoned epoch: let the reads in flight end before the ring is reused
                pool.shutdown(wait=True, cancel_futures=True)


def _check_int(name: str, value: Any, lo: int) -> None:
    """:class:`~csip.base.errors.BadOption` naming ``name`` unless ``value`` is an integer >= ``lo``
    (``None`` passes: a default); ``32.7`` or ``True`` is not quietly made an integer."""
    if value is not None and not (is_integer(value) and value >= lo):
        raise BadOption(f"{name}={value!r}: expected an integer >= {lo}")


def batches(path: str | os.PathLike | Cache, split: str | None = "train", batch_size: int = 256, seed: int = 0,
            epoch: int = 0, rank: int = 0, world: int = 1, *, start: int = 0, keys: Sequence[str] | None = None,
            device: str | torch.device | None = None, flip: bool = True, channels_last: bool = False,
            threads: int | None = None, prefetch: int = 3) -> Iterator[dict[str, torch.Tensor]]:
    """The training batches of one epoch of the cache at ``path`` (see the module docstring).

    Equal, batch for batch, to what training over a ``DataLoader`` of
    ``CacheDataset(path, split)`` with ``EpochBatchSampler(n, batch_size, seed, epoch, rank,
    world, start)`` feeds the model after :func:`csip.train.to_device` and, with ``flip``,
    :func:`csip.cache.order.hflip_batch` with the rank's slice of ``flip_mask(seed, epoch, step,
    batch_size)``. For several epochs, keep one :class:`BatchReader` (its pinned ring and
    side stream are reused).
    """
    reader = BatchReader(path, split, batch_size, seed, rank, world, keys=keys, device=device, flip=flip,
                         channels_last=channels_last, threads=threads, prefetch=prefetch)
    return reader.epoch(epoch, start)


__all__ = ["KEYS", "BatchReader", "batches", "default_reader_threads"]
