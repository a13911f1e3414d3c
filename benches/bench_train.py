"""Training throughput: images/s through the real input pipeline vs the model-bound ceiling.

Both numbers come from the same run, the same model and the same training step
(:func:`csip.train.forward_loss` + backward + AdamW step, flips included):

- **pipeline**: batches read from a cache (``--cache``; otherwise a stand-in with the cache's
  layout: uint8 images, float32 banners and boxes in ``.npy`` memory maps, read item by item like
  :class:`csip.cache.CacheDataset`) by a ``DataLoader`` with ``--workers`` processes, pinned
  memory and non-blocking copies, in the order :class:`csip.train.EpochBatchSampler` gives;
- **ceiling**: the same step on one random batch already on the device (no loading, no copy).

The ratio pipeline / ceiling says how much the input side costs (1.0: the model is the bound).

Examples::

    python benches/bench_train.py                           # CPU: 64 px, batch 32, ResNet18
    python benches/bench_train.py --device cuda             # GPU: 224 px, batch 256, bf16
    python benches/bench_train.py --device cuda --model resnet18+2d --compile --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from csip.loss import ClipLoss  # noqa: E402
from csip.models import build_model, default_model_config  # noqa: E402
from csip.train import (  # noqa: E402
    EpochBatchSampler,
    batch_keys,
    default_loader_workers,
    flip_mask,
    forward_loss,
    hflip_batch,
    param_groups,
    to_device,
)


class MemmapPairs(torch.utils.data.Dataset):
    """Random data in the cache's on-disk layout, read like ``CacheDataset`` (memmap slices)."""

    def __init__(self, root: Path, n: int, size: int, r: int, k: int, seed: int = 0):
        self.root = root
        rng = np.random.default_rng(seed)
        specs = {"images.npy": ((n, 3, size, size), np.uint8), "sfb.npy": ((n, r, k), np.float32),
                 "boxes.npy": ((n, 2, 4), np.float32), "labels.npy": ((n,), np.int64)}
        for name, (shape, dtype) in specs.items():
            mm = np.lib.format.open_memmap(root / name, mode="w+", dtype=dtype, shape=shape)
            step = max(1, (64 << 20) // (int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(dtype).itemsize))
            for i in range(0, n, step):
                j = min(n, i + step)
                if dtype == np.uint8:
                    mm[i:j] = rng.integers(0, 256, (j - i, *shape[1:]), dtype=np.uint8)
                elif name == "boxes.npy":
                    b = np.sort(rng.random((j - i, 2, 2, 2), dtype=np.float32), axis=2)  # (lo, hi) per axis
                    mm[i:j] = np.stack([b[:, :, 0, 0], b[:, :, 0, 1], b[:, :, 1, 0], b[:, :, 1, 1]], -1)
                elif dtype == np.int64:
                    mm[i:j] = rng.integers(-1, 9, j - i)
                else:
                    mm[i:j] = rng.random((j - i, *shape[1:]), dtype=np.float32)
            mm.flush()
            del mm
        self.n = n
        self._mm = None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        if self._mm is None:  # opened lazily in each worker
            self._mm = {k: np.load(self.root / f"{k}.npy", mmap_mode="r") for k in ("images", "sfb", "boxes", "labels")}
        m = self._mm
        return {"image": torch.from_numpy(np.array(m["images"][i])), "sfb": torch.from_numpy(np.array(m["sfb"][i])),
                "boxes": torch.from_numpy(np.array(m["boxes"][i])),
                "label": torch.tensor(int(m["labels"][i])), "index": torch.tensor(i)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--supervised", action="store_true")
    ap.add_argument("--image-size", type=int, default=None, help="default: 224 on CUDA, 64 on CPU")
    ap.add_argument("--batch-size", type=int, default=None, help="default: 256 on CUDA, 32 on CPU")
    ap.add_argument("--levels", type=int, default=57)
    ap.add_argument("--angles", type=int, default=180)
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default: 30 CUDA, 8 CPU)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 10 CUDA, 2 CPU)")
    ap.add_argument("--workers", type=int, default=None,
                    help="default: training's on CUDA (csip.train.default_loader_workers), 2 on CPU")
    ap.add_argument("--cache", default=None, help="a real cache (csip precompute) instead of the stand-in")
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

    tmp = None
    if a.cache:
        from csip.train import open_cache

        ds, info = open_cache(a.cache, None)
        size, r, k = info["image_size"], info["n_levels"], info["n_angles"]
    else:
        r, k = a.levels, a.angles
        tmp = tempfile.TemporaryDirectory(prefix="csip-bench-")
        t0 = time.perf_counter()
        ds = MemmapPairs(Path(tmp.name), bs * (steps + warm), size, r, k)
        print(f"stand-in data: {len(ds)} items of {size} px written in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
    if len(ds) < bs * (steps + warm):
        raise SystemExit(f"need {bs * (steps + warm)} items, the data has {len(ds)}")

    torch.manual_seed(0)
    config = default_model_config(a.model, r, k, supervised=a.supervised, image_size=size)
    model = build_model(config).to(dev)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-4, **({"fused": True} if cuda else {"foreach": True}))
    net = torch.compile(model) if a.compile else model
    clip = ClipLoss(0.3)
    keys = batch_keys(model, a.supervised)

    def step(batch: dict, i: int) -> torch.Tensor:
        batch = hflip_batch(batch, flip_mask(0, 0, i, bs))
        loss, _ = forward_loss(net, batch, clip, a.supervised, amp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    # ---- ceiling: one random batch already on the device
    g = torch.Generator().manual_seed(1)
    fixed = {"image": torch.randint(0, 256, (bs, 3, size, size), dtype=torch.uint8, generator=g),
             "sfb": torch.rand(bs, r, k, generator=g),
             "boxes": torch.sort(torch.rand(bs, 2, 4, generator=g), -1)[0],
             "label": torch.randint(-1, 9, (bs,), generator=g)}
    fixed = to_device(fixed, dev, keys, cuda)
    for i in range(warm):
        step(fixed, i)
    sync()
    t0 = time.perf_counter()
    for i in range(steps):
        loss = step(fixed, i)
    sync()
    ceiling = steps * bs / (time.perf_counter() - t0)

    # ---- pipeline: DataLoader over the cache layout
    sampler = EpochBatchSampler(len(ds), bs, seed=0, epoch=0)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, num_workers=workers, pin_memory=cuda,
                                         prefetch_factor=4 if workers else None, persistent_workers=False)
    it = iter(loader)
    for i in range(warm):
        step(to_device(next(it), dev, keys, cuda), i)
    sync()
    t0 = time.perf_counter()
    for i in range(steps):
        loss = step(to_device(next(it), dev, keys, cuda), i)
    sync()
    pipeline = steps * bs / (time.perf_counter() - t0)
    del it

    res = {
        "device": torch.cuda.get_device_name(dev) if cuda else f"cpu ({torch.get_num_threads()} threads)",
        "model": a.model, "supervised": a.supervised, "image_size": size, "batch_size": bs, "banner": [r, k],
        "amp_bf16": amp, "channels_last": cuda, "compile": a.compile, "workers": workers, "steps": steps,
        "data": a.cache or "memmap stand-in", "pipeline_images_per_s": round(pipeline, 1),
        "ceiling_images_per_s": round(ceiling, 1), "ratio": round(pipeline / ceiling, 3),
        "last_loss": float(loss.detach()),
    }
    print(json.dumps(res, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
