"""Loader throughput alone (no model): today's DataLoader vs the batched reader, in one run.

Both read the training batches of a cache split in the same order
(:class:`csip.train.EpochBatchSampler`), from a warm page cache (one untimed epoch first):

- **dataloader W**: ``DataLoader(CacheDataset, batch_sampler=EpochBatchSampler, num_workers=W)``
  (persistent workers, pinned memory and prefetch as training used them): one
  ``__getitem__`` per item, then the collate;
- **batched T**: :class:`csip.cache.batches.BatchReader` with ``T`` background threads (0: read in
  this thread): one ``np.take`` per array and batch into preallocated buffers.

On the CPU (``--device cpu``, the default) both stop at host batches: the DataLoader's collated
tensors, the reader's batches in its reused host buffers (``reuse=True``, no flips), so the
figures compare the host side alone. With ``--device cuda`` both also copy each batch to the GPU
and flip it there, as training does (DataLoader: :func:`csip.train.to_device` +
:func:`csip.train.hflip_batch`; reader: pinned ring, side-stream copies, flips on the device);
the clock stops after a final synchronize.

Example (the issue's setting: 224 px, batch 256)::

    csip precompute run synthetic --n 3000 --image-size 224 --out /tmp/bl-cache
    python benches/bench_loader.py --cache /tmp/bl-cache --workers 0 2 --threads 0 1 2

Without ``--cache`` a synthetic cache of ``--n`` items at ``--image-size`` is precomputed into a
temporary folder first (needs the Rust extension).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from bench_cache import cache_or_synthetic, warm_page_cache  # noqa: E402

from csip.cache import BatchReader, Cache, CacheDataset  # noqa: E402
from csip.cache.order import EpochBatchSampler, flip_mask, hflip_batch
from csip.train.step import to_device  # noqa: E402

ALL_KEYS = ("image", "sfb", "boxes", "label", "index")


def dataloader_rate(path: Path, split: str, bs: int, workers: int, epochs: int, device: torch.device,
                    keys: tuple[str, ...]) -> float:
    """Images/s of today's path over ``epochs`` timed epochs (after one untimed)."""
    cuda = device.type == "cuda"
    ds = CacheDataset(path, split=split)
    sampler = EpochBatchSampler(len(ds), bs, seed=0, epoch=0)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, num_workers=workers, pin_memory=cuda,
                                         persistent_workers=workers > 0, prefetch_factor=4 if workers else None)

    def one_epoch(epoch: int) -> int:
        sampler.set_epoch(epoch)
        k = 0
        for step, raw in enumerate(loader):
            if cuda:
                b = to_device(raw, device, keys, True)
                b = hflip_batch(b, flip_mask(0, epoch, step, bs))
            k += bs
        return k

    return _timed_rate(one_epoch, epochs, device)


def batched_rate(path: Path, split: str, bs: int, threads: int, epochs: int, device: torch.device,
                 keys: tuple[str, ...]) -> float:
    """Images/s of the batched reader over ``epochs`` timed epochs (after one untimed)."""
    cuda = device.type == "cuda"
    reader = BatchReader(path, split, bs, seed=0, keys=keys, device=device, flip=cuda, channels_last=cuda,
                         threads=threads, reuse=True)

    def one_epoch(epoch: int) -> int:
        k = 0
        for _ in reader.epoch(epoch):
            k += bs
        return k

    return _timed_rate(one_epoch, epochs, device)


def _timed_rate(one_epoch, epochs: int, device: torch.device) -> float:
    """Images/s of ``one_epoch(e)`` (which returns its image count) over epochs 1..``epochs``,
    after an untimed epoch 0 (warm-up: page cache, threads, CUDA context)."""
    one_epoch(0)
    _sync(device)
    t0 = time.perf_counter()
    k = sum(one_epoch(e) for e in range(1, epochs + 1))
    _sync(device)
    return k / (time.perf_counter() - t0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=None, help="a cache directory (default: a synthetic one, precomputed)")
    ap.add_argument("--n", type=int, default=3000, help="items of the synthetic cache (no --cache)")
    ap.add_argument("--image-size", type=int, default=224, help="image size of the synthetic cache (no --cache)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per configuration (one untimed first)")
    ap.add_argument("--workers", type=int, nargs="*", default=[0, 2], help="DataLoader worker counts")
    ap.add_argument("--threads", type=int, nargs="*", default=[0, 1, 2], help="batched reader thread counts")
    ap.add_argument("--keys", default=",".join(ALL_KEYS),
                    help="arrays the batched reader reads (the DataLoader always reads all); "
                         "ResNet18 C-SIP training reads image,sfb")
    ap.add_argument("--device", default="cpu", help="cpu (host side only) or cuda (copy + flip on the GPU too)")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="torch intra-op threads (default 1: with 2 on 2 busy cores, a collate's torch.stack "
                         "took 70x longer)")
    ap.add_argument("--repeat", type=int, default=1, help="measure every configuration this many times, in turn")
    ap.add_argument("--json", default=None, help="write the results here too")
    a = ap.parse_args()

    torch.set_num_threads(a.torch_threads)
    dev = torch.device(a.device)
    keys = tuple(k for k in a.keys.split(",") if k)
    path, tmp = cache_or_synthetic(a.cache, a.n, a.image_size, "csip-bench-loader-")
    c = Cache(path)
    n = len(c.indices(a.split))
    if n < a.batch_size:
        raise SystemExit(f"split {a.split!r} has {n} items, fewer than one batch of {a.batch_size}")
    warm_page_cache(path)

    rates: dict[str, list[float]] = {}
    for _ in range(a.repeat):
        for w in a.workers:
            r = dataloader_rate(path, a.split, a.batch_size, w, a.epochs, dev, keys if dev.type == "cuda" else ALL_KEYS)
            rates.setdefault(f"dataloader_workers_{w}", []).append(round(r, 1))
            print(f"dataloader, {w} workers: {r:,.0f} images/s", file=sys.stderr, flush=True)
        for t in a.threads:
            r = batched_rate(path, a.split, a.batch_size, t, a.epochs, dev, keys)
            rates.setdefault(f"batched_threads_{t}", []).append(round(r, 1))
            print(f"batched, {t} threads: {r:,.0f} images/s", file=sys.stderr, flush=True)

    res = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu (host side only)",
        "cache": a.cache or f"synthetic, {a.n} items", "split": a.split, "items": n, "image_size": c.image_size,
        "banner": list(c.sfb_shape), "batch_size": a.batch_size, "timed_epochs": a.epochs,
        "batches_per_epoch": n // a.batch_size, "batched_keys": list(keys), "torch_threads": a.torch_threads,
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),  # other work on the machine
        "images_per_s": rates,
        "best_images_per_s": {k: max(v) for k, v in rates.items()},
    }
    dl = max((max(v) for k, v in rates.items() if k.startswith("dataloader")), default=None)
    bt = max((max(v) for k, v in rates.items() if k.startswith("batched")), default=None)
    if dl and bt:
        res["best_batched_over_best_dataloader"] = round(bt / dl, 2)
    print(json.dumps(res, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
