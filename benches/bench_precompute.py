#!/usr/bin/env python
"""End-to-end benchmark of ``csip precompute`` (pairs/s), with the time split by stage.

    python benches/bench_precompute.py                 # synthetic + COCO fixture, 2000 items each
    python benches/bench_precompute.py --n 300 --quick # smaller
    python benches/bench_precompute.py --only coco --workers 2 --image-size 224

Two datasets:

- ``synthetic``: the built-in scenes (:mod:`csip.data.synthetic`, default options);
- ``coco``: a COCO-format fixture this script writes itself into a temporary folder: ``--n``
  640×480 JPEG images (quality 90, smooth colour fields plus noise), each with 2 or 3
  polygon objects of COCO-like sizes, read through :class:`csip.data.coco.CocoSource`.

For each: (1) the whole pipeline (:func:`csip.cache.writer.build` with ``--workers`` worker
processes, default one per core, each doing load, crop/resize and sFB) timed by the wall clock,
and (2) each stage alone, in this process, one stage at a time, as CPU milliseconds per item
(``time.process_time``, so a busy shared machine distorts them less than wall time):
load/decode (image decode, and conversion of the window kept), masks (the rest of the
source's ``load_cropped``/``load``: polygon/RLE decoding, choosing the two objects),
crop+resize (crop, pad, resize of the image and of the masks, bit-packing), sFB (``sfb_batch``
on one thread, as in a worker), transfer (pickling a prepared item to the main process and back),
write (a chunk written and hashed) and consolidate (chunks -> final arrays).
The machine's load average is printed: on shared machines, wall-clock figures move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import csip  # noqa: F401
except ImportError:  # a source tree that was never installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from csip.cache.chunks import list_chunks, write_chunk
from csip.cache.prepare import PreparedItem, add_banners, prepare_sample
from csip.cache.writer import build, resolve_source
from csip.descriptor import DescriptorParams

# ----------------------------------------------------------------------------- COCO fixture


def write_coco_fixture(root: Path, n: int, seed: int = 0) -> Path:
    """``n`` 640×480 JPEGs with 2–3 polygon objects each, and ``instances.json``; returns its path."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    h, w = 480, 640
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # smooth colour fields + noise: decodes like a photo (not a flat image); a few fields and
    # noise tiles, combined differently per image, keep the writing quick
    fields = [
        np.stack(
            [
                127 + 60 * np.sin(xx / rng.uniform(20, 90) + rng.uniform(0, 6)) * np.cos(yy / rng.uniform(20, 90))
                for _ in range(3)
            ],
            axis=-1,
        ).astype(np.int16)
        for _ in range(4)
    ]
    noise = [rng.integers(-20, 21, size=(h, w, 3), dtype=np.int16) for _ in range(4)]
    images, anns = [], []
    aid = 1
    for i in range(n):
        f = fields[i % 4]
        z = np.roll(noise[(i // 4) % 4], shift=(int(rng.integers(0, h)), int(rng.integers(0, w))), axis=(0, 1))
        img = np.clip(f + z, 0, 255).astype(np.uint8)
        name = f"{i:06d}.jpg"
        Image.fromarray(img).save(img_dir / name, quality=90)
        images.append({"id": i + 1, "file_name": name, "height": h, "width": w})
        for _ in range(int(rng.integers(2, 4))):
            cx, cy = rng.uniform(80, w - 80), rng.uniform(80, h - 80)
            rad = rng.uniform(30, 150)
            k = int(rng.integers(8, 24))
            ang = np.sort(rng.uniform(0, 2 * np.pi, size=k))
            rr = rad * rng.uniform(0.6, 1.0, size=k)
            px = np.clip(cx + rr * np.cos(ang), 0, w - 1)
            py = np.clip(cy + rr * np.sin(ang), 0, h - 1)
            poly = np.stack([px, py], axis=1).reshape(-1).round(2).tolist()
            anns.append(
                {
                    "id": aid,
                    "image_id": i + 1,
                    "category_id": int(rng.integers(1, 4)),
                    "segmentation": [poly],
                    "area": float(np.pi * rad * rad),
                    "bbox": [float(px.min()), float(py.min()), float(px.max() - px.min()), float(py.max() - py.min())],
                    "iscrowd": 0,
                }
            )
            aid += 1
    cats = [{"id": 1, "name": "person"}, {"id": 2, "name": "horse"}, {"id": 3, "name": "cup"}]
    path = root / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


# ----------------------------------------------------------------------------- measures


def stage_times(src, n: int, image_size: int, desc: DescriptorParams, decode=None) -> dict[str, float]:
    """CPU milliseconds per item of each stage (all threads of this process), one stage at a time."""
    idx = list(range(min(n, len(src))))
    out: dict[str, float] = {}
    if decode is not None:
        t0 = time.process_time()
        for i in idx:
            decode(i)
        out["load/decode"] = (time.process_time() - t0) / len(idx) * 1e3
    load = getattr(src, "load_cropped", None) or src.load  # what the workers call
    # as in a worker: each sample is prepared as soon as it is loaded, then dropped
    t_load = t_prepare = 0.0
    items = []
    for i in idx:
        t0 = time.process_time()
        try:
            sample = load(i)
        except Exception:  # noqa: BLE001 - skipped items are part of the real pipeline too
            t_load += time.process_time() - t0
            continue
        t1 = time.process_time()
        items.append(prepare_sample(sample, i, image_size))
        del sample
        t_load += t1 - t0
        t_prepare += time.process_time() - t1
    t_load = t_load / len(idx) * 1e3
    if decode is not None:
        out["masks"] = max(0.0, t_load - out["load/decode"])
    else:
        out["load (generate scene + masks)"] = t_load
    out["crop+resize"] = t_prepare / len(items) * 1e3
    pairs_px = float(np.mean([it.sfb_a.size for it in items]))
    t0 = time.process_time()
    items = [it for it in add_banners(items, desc, n_threads=1) if isinstance(it, PreparedItem)]
    out["sFB"] = (time.process_time() - t0) / len(items) * 1e3
    t0 = time.process_time()
    items = [pickle.loads(pickle.dumps(it, protocol=pickle.HIGHEST_PROTOCOL)) for it in items]
    out["transfer (pickle both ways)"] = (time.process_time() - t0) / len(items) * 1e3
    sfb = np.stack([it.sfb for it in items])
    tmp = Path(tempfile.mkdtemp(prefix="bench-write-"))
    try:
        t0 = time.process_time()
        write_chunk(tmp, 0, 0, len(items), items, sfb, [], "bench", image_size, desc.shape)
        out["write (chunk, hashed)"] = (time.process_time() - t0) / len(items) * 1e3
        from csip.cache.assemble import consolidate

        run = {"params": {"n_items": len(items), "image_size": image_size, "source": {"spec": "bench"},
                          "descriptor": desc.to_json(), "chunk": len(items)},
               "params_hash": "bench", "n_chunks": 1}
        t0 = time.process_time()
        consolidate(tmp, dict(list_chunks(tmp)), run, keep_chunks=True, verify=True)
        out["consolidate (verify + copy + hash)"] = (time.process_time() - t0) / len(items) * 1e3
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["sum"] = sum(v for k, v in out.items() if not k.startswith("_"))
    out["_pairs_sfb"] = pairs_px
    return out


def end_to_end(src, spec: str, n: int, image_size: int, desc, workers: int | None, chunk: int) -> dict:
    import resource

    def cpu() -> float:
        a = resource.getrusage(resource.RUSAGE_SELF)
        b = resource.getrusage(resource.RUSAGE_CHILDREN)  # the loader processes, once reaped
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    tmp = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    try:
        c0 = cpu()
        t0 = time.perf_counter()
        res = build(src, tmp / "c", spec=spec, n=n, image_size=image_size, desc=desc, workers=workers,
                    chunk=chunk, progress=False)
        wall = time.perf_counter() - t0
        cpu_s = cpu() - c0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"wall_s": wall, "pairs_per_s": n / wall, "cpu_ms_per_item": cpu_s / n * 1e3, "stats": res["stats"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="items per dataset (end to end)")
    ap.add_argument("--stage-n", type=int, default=200, help="items for the per-stage timings")
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    ap.add_argument("--chunk", type=int, default=512, help="items per chunk (csip precompute's default)")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--n-angles", type=int, default=180)
    ap.add_argument("--only", choices=["synthetic", "coco"], default=None)
    ap.add_argument("--quick", action="store_true", help="n=300, stage-n=100, chunk=128")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    if args.quick:
        args.n, args.stage_n, args.chunk = 300, 100, 128
    desc = DescriptorParams.make("default", args.n_angles, "max")
    print(f"# csip precompute benchmark\n\ncores: {os.cpu_count()}, load average at start: "
          f"{os.getloadavg()[0]:.2f}, workers: {args.workers or 'one per core'}, chunk: {args.chunk}, image size: "
          f"{args.image_size}, sFB {desc.shape}\n")
    results = {}
    todo = [args.only] if args.only else ["synthetic", "coco"]
    tmp_root = Path(tempfile.mkdtemp(prefix="bench-coco-"))
    try:
        for name in todo:
            decode = None
            if name == "synthetic":
                spec = "synthetic"
                src = resolve_source("synthetic", n=args.n, seed=0)
            else:
                try:
                    from csip.data.common import read_rgb
                except ImportError:
                    print("COCO adapter (csip.data.coco) not available: skipped\n")
                    continue
                t0 = time.perf_counter()
                ann = write_coco_fixture(tmp_root, args.n)
                print(f"(COCO fixture: {args.n} JPEGs 640x480 written in {time.perf_counter() - t0:.1f} s)\n")
                spec = f"coco:{ann}"
                img_dir = tmp_root / "images"
                src = resolve_source(spec, images=str(img_dir))
                # the workers decode each JPEG and convert only the union box of its two objects
                windows = {}
                for i in range(min(args.stage_n, len(src))):
                    try:
                        windows[i] = src.load(i).union_box()
                    except Exception:  # noqa: BLE001 - skipped items
                        pass

                def decode(i, img_dir=img_dir, windows=windows):
                    return read_rgb(img_dir / f"{i:06d}.jpg", crop=windows.get(i))

            stages = stage_times(src, args.stage_n, args.image_size, desc, decode)
            e2e = end_to_end(src, spec, min(args.n, len(src)), args.image_size, desc, args.workers, args.chunk)
            results[name] = {"stages_ms_per_item": stages, "end_to_end": e2e}
            cores = os.cpu_count() or 1
            print(f"## {name}\n")
            print(
                f"end to end: **{e2e['pairs_per_s']:.0f} pairs/s** ({min(args.n, len(src))} items in "
                f"{e2e['wall_s']:.1f} s, load average now {os.getloadavg()[0]:.2f}); CPU of the whole "
                f"pipeline (main + loader processes): {e2e['cpu_ms_per_item']:.2f} ms/item, i.e. "
                f"**{cores * 1e3 / e2e['cpu_ms_per_item']:.0f} pairs/s** on {cores} idle cores\n"
            )
            print("| stage | CPU ms / item | share |\n|---|---:|---:|")
            for k, v in stages.items():
                if k in ("sum",) or k.startswith("_"):
                    continue
                print(f"| {k} | {v:.2f} | {100 * v / stages['sum']:.0f}% |")
            print(f"| **sum** | **{stages['sum']:.2f}** | |")
            print(
                f"\nmean sFB input (masks' union-box crop): {stages['_pairs_sfb']:.0f} px; "
                f"CPU-bound ceiling on {cores} cores "
                f"(cores / total CPU per item): **{cores * 1e3 / stages['sum']:.0f} pairs/s**\n"
            )
            st = e2e["stats"]
            print(
                "pipeline counters (s; load/prepare summed over workers): "
                + ", ".join(
                    f"{k}={st[k]}"
                    for k in (
                        "load_s",
                        "prepare_s",
                        "wait_s",
                        "sfb_s",
                        "write_s",
                        "consolidate_s",
                        "finish_s",
                        "wall_s",
                    )
                    if k in st
                )
                + "\n"
            )
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
