#!/usr/bin/env python
"""The paper protocol's scale: the precompute measured on a COCO-sized input without SAM on
this machine, and each stage's GPU time *projected* from it and from published throughputs.

    python benches/bench_protocol.py                # N=300 images 640x480, ~1-2 min on 2 cores
    python benches/bench_protocol.py --n 1000 --image-size 224

Measured (this machine): the precompute rate end to end and per stage (read/decode, masks,
crop+resize, sFB, write; CPU ms per item, from :mod:`bench_precompute`), the cache's size on
disk per item, and the peak RSS of this process and its workers (``resource.getrusage``).

Projected (not measured; labelled so in the output): the paper's sizes (39,000 pretraining
images, 5,400 SpatialSense, 1,071 UnRel, 64,000 GQA questions) times

- the precompute's measured CPU cost per item, spread over ``--cores`` cores (sFB is CPU work:
  a GPU does not speed it up);
- SAM: ``--sam-s-per-image`` s per image for the ViT-H image encoder on one A100 (0.15 s, the
  figure of the SAM paper, Kirillov et al. 2023, section 3), prompts' decoding neglected;
- training: ``--train-images-per-s`` images/s for ResNet18 at 224 px, batch 256, fp32 on one
  datacenter GPU (1,500: an assumed order of magnitude, not a measurement; set your own);
- evaluation: feature extraction at 3x the training rate (forward only), probes and heads
  neglected.

Measured too, on the benchmark's cache: one epoch of ``csip pretrain`` (C-SIP ResNet18 at
torchvision's width, batch ``--batch-size``) and a ``csip eval --task cbir`` of its checkpoint,
each in its own process, with its wall time, images/s and peak RSS (``os.wait4``). No stage
holds a whole cache in memory: the writer keeps one chunk (``--chunk`` items) per worker,
training reads batches through the cache's memory map, evaluation extracts features per batch;
the peak RSS of each stage, beside the cache's size, is the check.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_precompute import stage_times, write_coco_fixture  # noqa: E402

from csip.cache.writer import build, resolve_source  # noqa: E402
from csip.descriptor import DescriptorParams  # noqa: E402

#: The paper's sizes (section 4).
PAPER_SIZES = {"pretraining images (SpatialSense train + COCO subset)": 39_000, "SpatialSense images": 5_400,
               "UnRel images": 1_071, "GQA images (of 64,000 questions)": 20_000}


def peak_rss_mb() -> dict[str, float]:
    """Peak resident set size (MB; Linux reports KiB) of this process and of its waited-for children."""
    return {who: resource.getrusage(w).ru_maxrss / 1024 for who, w in
            (("self", resource.RUSAGE_SELF), ("workers", resource.RUSAGE_CHILDREN))}


def du_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(args, tmp: Path) -> dict:
    """The measured figures: e2e rate, per-stage CPU ms/item, bytes/item on disk, peak RSS."""
    ann = write_coco_fixture(tmp / "coco", args.n)
    spec = f"coco:{ann}"
    src = resolve_source(spec, images=str(tmp / "coco" / "images"))
    desc = DescriptorParams.make("default", args.n_angles, "max")
    stages = stage_times(src, min(args.stage_n, len(src)), args.image_size, desc)
    t0 = time.perf_counter()
    build(src, tmp / "cache", spec=spec, image_size=args.image_size, desc=desc, workers=args.workers,
          chunk=args.chunk, progress=False)
    wall = time.perf_counter() - t0
    return {"items": len(src), "stages": stages, "wall_s": wall, "items_per_s": len(src) / wall,
            "bytes_per_item": du_bytes(tmp / "cache") / len(src), "rss": peak_rss_mb()}


def run_stage(args: list[str]) -> dict:
    """Run ``csip ARGS`` in its own process: wall seconds and its peak RSS (MB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "from csip.cli import main; main()", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"csip {' '.join(args)} failed:\n{err[-2000:]}")
    return {"wall_s": wall, "rss_mb": usage.ru_maxrss / 1024}


def measure_learning(args, tmp: Path, items: int) -> dict:
    """One epoch of C-SIP training on the benchmark cache, then CBIR of its checkpoint."""
    cache, run = tmp / "cache", tmp / "run"
    train = run_stage(["pretrain", "--cache", str(cache), "--out", str(run), "--epochs", "1", "--batch-size",
                       str(args.batch_size), "--model", "resnet18", "--device", "cpu", "--workers", "0",
                       "--no-progress", "--split", "all"])
    train["images_per_s"] = items / train["wall_s"]
    ev = run_stage(["eval", "--cache", str(cache), "--out", str(tmp / "eval"), "--checkpoint", f"c-sip={run}",
                    "--task", "cbir", "--split", "all", "--no-random-init", "--device", "cpu", "--no-figures",
                    "--quiet"])
    ev["images_per_s"] = items / ev["wall_s"]
    return {"train": train, "eval": ev}


def projected(m: dict, args) -> list[tuple[str, float]]:
    """(stage, projected seconds) for the paper's sizes."""
    cpu_ms = m["stages"]["sum"]
    pre = sum(PAPER_SIZES.values()) * cpu_ms / 1e3 / args.cores
    sam = (PAPER_SIZES["SpatialSense images"] + PAPER_SIZES["UnRel images"]
           + PAPER_SIZES["GQA images (of 64,000 questions)"]) * args.sam_s_per_image
    epoch = PAPER_SIZES["pretraining images (SpatialSense train + COCO subset)"] / args.train_images_per_s
    return [("precompute, all four caches (CPU)", pre), ("SAM masks, SpatialSense + UnRel + GQA", sam),
            ("training, one epoch of 39k images (C-SIP)", epoch),
            ("protocol trainings: 4 encoders x 2 trainings x 3 lrs x 10 epochs", 4 * 2 * 3 * 10 * epoch),
            ("evaluation features, SpatialSense test + UnRel, 12 rows",
             12 * (1_146 + 1_071) / (3 * args.train_images_per_s))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="COCO-format images 640x480 (2-3 polygons each)")
    ap.add_argument("--stage-n", type=int, default=100, help="items for the per-stage timings")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--n-angles", type=int, default=180)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--chunk", type=int, default=128)
    ap.add_argument("--cores", type=int, default=16, help="cores of the GPU machine the projection assumes")
    ap.add_argument("--sam-s-per-image", type=float, default=0.15)
    ap.add_argument("--train-images-per-s", type=float, default=1500.0)
    ap.add_argument("--batch-size", type=int, default=32, help="batch of the measured training epoch")
    ap.add_argument("--no-learning", action="store_true", help="skip the measured training and evaluation")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="csip-bench-protocol-"))
    try:
        t0 = time.perf_counter()
        m = measure(args, tmp)
        learn = None if args.no_learning else measure_learning(args, tmp, m["items"])
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# csip protocol benchmark ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {wall:.0f} s)\n")
    print(f"## measured: COCO format, {m['items']} items, {args.image_size} px, banner 57x{args.n_angles}, no SAM\n")
    print(f"end to end: {m['items_per_s']:.1f} items/s ({m['items']} items in {m['wall_s']:.1f} s)\n")
    print("| stage | CPU ms / item |\n|---|---:|")
    for k, v in m["stages"].items():
        if not k.startswith("_"):
            print(f"| {k.replace('generate scene + masks', 'read/decode JPEG + masks')} | {v:.2f} |")
    print(f"\ncache on disk: {m['bytes_per_item'] / 1e3:.1f} kB per item")
    print("peak RSS: " + ", ".join(f"{k} {v:.0f} MB" for k, v in m["rss"].items()))
    print(f"cache size: {m['bytes_per_item'] * m['items'] / 1e6:.1f} MB in all")
    if learn:
        print(f"\n## measured: training and evaluation on this CPU ({m['items']} items, {args.image_size} px)\n")
        print("| stage | wall | images/s | peak RSS |\n|---|---:|---:|---:|")
        stages = ((f"csip pretrain, 1 epoch, C-SIP ResNet18 (width 64), batch {args.batch_size}", learn["train"]),
                  ("csip eval --task cbir of its checkpoint", learn["eval"]))
        for name, r in stages:
            print(f"| {name} | {r['wall_s']:.1f} s | {r['images_per_s']:.1f} | {r['rss_mb']:.0f} MB |")
    print(f"\n## projected (not measured): {args.cores} cores, SAM {args.sam_s_per_image} s/image, "
          f"training {args.train_images_per_s:.0f} images/s\n")
    print("| stage | projected time |\n|---|---:|")
    for name, s in projected(m, args):
        print(f"| {name} | {s / 60:.1f} min |")


if __name__ == "__main__":
    main()
