"""Training throughput: images/s through the real input pipelines vs the model-bound ceiling.

All numbers come from the same run, the same model and the same training step
(:func:`csip.train.forward_loss` + backward + AdamW step, flips included):

- **ceiling**: the step on one random batch already on the device (no loading, no copy; flip
  masks on the device too);
- **dataloader** (``--loader dataloader``): today's path, :func:`csip.train.batch_feed` over a
  dataset that is no ``CacheDataset``: a ``DataLoader`` with ``--workers`` processes (one
  ``__getitem__`` per item, collate, pinned memory), :func:`csip.train.to_device`, flips by
  :func:`csip.train.hflip_batch` with a CPU mask;
- **batched** (``--loader batched``): :func:`csip.train.batch_feed` over the ``CacheDataset``,
  i.e. :class:`csip.cache.batches.BatchReader` with ``--reader-threads`` threads (whole
  batches by ``np.take`` into a pinned ring, side-stream copies, flips on the device).

Both pipelines read the same cache (``--cache``; otherwise ``--n`` synthetic scenes precomputed
at the image size into a temporary folder, which needs the Rust extension) in the order
:class:`csip.train.EpochBatchSampler` gives, epoch after epoch. ``--loader both`` (the default)
measures both in one run. Each ratio pipeline / ceiling says how much its input side costs
(1.0: the model is the bound).

Examples::

    python benches/bench_train.py                           # CPU: 64 px, batch 32, ResNet18
    python benches/bench_train.py --device cuda             # GPU: 224 px, batch 256, bf16, both loaders
    python benches/bench_train.py --device cuda --loader batched --reader-threads 2 --json out.json
    python benches/bench_train.py --device cuda --model resnet18+2d --compile --cache /data/cache
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from bench_cache import cache_or_synthetic, warm_page_cache  # noqa: E402

from csip.cache.batches import default_reader_threads  # noqa: E402
from csip.cache.order import flip_mask, hflip_batch
from csip.models import build_model, default_model_config  # noqa: E402
from csip.train.data import batch_feed, default_loader_workers, open_cache
from csip.train.objectives import make_objective  # noqa: E402
from csip.train.schedule import param_groups
from csip.train.step import batch_keys, forward_loss, to_device


def endless(feed) -> itertools.chain:
    """The batches of ``feed`` (:func:`csip.train.batch_feed`), epoch 0, 1, 2, ... one after another."""
    return itertools.chain.from_iterable(feed(epoch, 0) for epoch in itertools.count())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--supervised", action="store_true")
    ap.add_argument("--image-size", type=int, default=None, help="default: 224 on CUDA, 64 on CPU")
    ap.add_argument("--batch-size", type=int, default=None, help="default: 256 on CUDA, 32 on CPU")
    ap.add_argument("--n", type=int, default=None,
                    help="synthetic scenes precomputed when no --cache (default: 3000 on CUDA, 600 on CPU)")
    ap.add_argument("--loader", choices=("dataloader", "batched", "both"), default="both",
                    help="which input pipeline(s) to time beside the ceiling")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default: 30 CUDA, 8 CPU)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 10 CUDA, 2 CPU)")
    ap.add_argument("--workers", type=int, default=None,
                    help="DataLoader workers; default: training's on CUDA (csip.train.default_loader_workers), "
                         "2 on CPU")
    ap.add_argument("--reader-threads", type=int, default=None,
                    help="batched reader threads; default: training's (csip.cache.batches.default_reader_threads)")
    ap.add_argument("--cache", default=None, help="a cache (csip precompute) instead of precomputed synthetic scenes")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--no-amp", action="store_true", help="float32 on CUDA (default: bf16 autocast)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", default=None, help="write the results here too")
    a = ap.parse_args()

    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = dev.type == "cuda"
    size = a.image_size or (224 if cuda else 64)
    bs = a.batch_size or (256 if cuda else 32)
    steps = a.steps or (30 if cuda else 8)
    warm = a.warmup if a.warmup is not None else (10 if cuda else 2)
    workers = a.workers if a.workers is not None else (default_loader_workers(True) if cuda else 2)
    amp = cuda and not a.no_amp
    if a.threads:
        torch.set_num_threads(a.threads)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    reader_threads = a.reader_threads if a.reader_threads is not None else default_reader_threads(cuda)
    cache, tmp = cache_or_synthetic(a.cache, a.n or (3000 if cuda else 600), size, "csip-bench-")
    ds, info = open_cache(cache, None)
    size, r, k = info["image_size"], info["n_levels"], info["n_angles"]
    if len(ds) < bs:
        raise SystemExit(f"need at least one batch of {bs} items, the cache has {len(ds)}")
    warm_page_cache(cache)  # for both pipelines

    torch.manual_seed(0)
    config = default_model_config(a.model, r, k, supervised=a.supervised, image_size=size)
    model = build_model(config).to(dev)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-4, **({"fused": True} if cuda else {"foreach": True}))
    net = torch.compile(model) if a.compile else model
    objective = make_objective("supervised" if a.supervised else "csip")
    keys = batch_keys(model, objective)

    def step(batch: dict) -> torch.Tensor:
        loss, _ = forward_loss(net, batch, objective, amp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    def timed(batches) -> tuple[float, torch.Tensor]:
        """Images/s of ``steps`` steps on ``batches`` (an iterator of device batches), after ``warm``."""
        for _ in range(warm):
            step(next(batches))
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = step(next(batches))
        sync()
        return steps * bs / (time.perf_counter() - t0), loss

    # ---- ceiling: one random batch already on the device, flip masks there too
    g = torch.Generator().manual_seed(1)
    fixed = {"image": torch.randint(0, 256, (bs, 3, size, size), dtype=torch.uint8, generator=g),
             "sfb": torch.rand(bs, r, k, generator=g),
             "boxes": torch.sort(torch.rand(bs, 2, 4, generator=g), -1)[0],
             "label": torch.randint(-1, 9, (bs,), generator=g)}
    fixed = to_device(fixed, dev, keys, cuda)
    masks = [flip_mask(0, 0, i, bs).to(dev) for i in range(max(warm, steps))]
    ceiling, loss = timed(hflip_batch(fixed, masks[i % len(masks)]) for i in itertools.count())

    # ---- the pipelines, each as training feeds it (csip.train.batch_feed)
    rates: dict[str, float] = {}
    loaders = ("dataloader", "batched") if a.loader == "both" else (a.loader,)
    for name in loaders:
        if name == "dataloader":  # a dataset that is no CacheDataset takes the DataLoader path
            feed = batch_feed(torch.utils.data.Subset(ds, range(len(ds))), bs, 0, 0, 1, dev, keys, workers,
                              True, cuda)
        else:
            feed = batch_feed(ds, bs, 0, 0, 1, dev, keys, reader_threads, True, cuda)
        rates[name], loss = timed(endless(feed))
        del feed
        gc.collect()  # the DataLoader's workers end before the next pipeline is timed
        print(f"{name}: {rates[name]:,.0f} images/s (ceiling {ceiling:,.0f})", file=sys.stderr, flush=True)

    res = {
        "device": torch.cuda.get_device_name(dev) if cuda else f"cpu ({torch.get_num_threads()} threads)",
        "model": a.model, "supervised": a.supervised, "image_size": size, "batch_size": bs, "banner": [r, k],
        "amp_bf16": amp, "channels_last": cuda, "compile": a.compile, "steps": steps,
        "data": a.cache or f"synthetic cache, {len(ds)} scenes",
        "ceiling_images_per_s": round(ceiling, 1),
        "last_loss": float(loss.detach()),
    }
    if "dataloader" in rates:
        res.update(dataloader_workers=workers, dataloader_images_per_s=round(rates["dataloader"], 1),
                   dataloader_ratio=round(rates["dataloader"] / ceiling, 3))
    if "batched" in rates:
        res.update(batched_reader_threads=reader_threads, batched_images_per_s=round(rates["batched"], 1),
                   batched_ratio=round(rates["batched"] / ceiling, 3))
    print(json.dumps(res, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
