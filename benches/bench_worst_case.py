#!/usr/bin/env python
"""Worst case of the sFB engine: fragmented (noise) masks, beside ordinary ones, old vs new.

    python benches/bench_worst_case.py --old /tmp/old_ext          # noise 256², 512², 1024²
    python benches/bench_worst_case.py --old /tmp/old_ext --big    # and 5000² (new engine only)

Workloads, each one ``csip_core.sfb`` call per pair (default 57 × 180 banner, one thread):

- ``noise N²``: ``A = rng.random((N, N)) < 0.5; B = ~A`` (issue 14 §3), one pair;
- ``ellipses 128²``: 64 pairs of random filled ellipses (the scaling benchmark's masks);
- ``COCO fixture``: the pairs of the COCO-format fixture of ``bench_precompute.py`` (polygon
  objects of COCO-like sizes in 640×480 images, cropped as the workers crop them).

``--old DIR`` names a directory holding another build of the ``csip_core`` package (e.g. main's
extension copied with its ``__init__`` files): each workload then runs in a subprocess per
engine, alternating old and new, and the table shows both and their ratio, measured in the
same run. Times are per pair: CPU seconds of the process (robust on a shared machine) and
wall seconds, the best of ``--repeats``. Masks are generated once, passed to the subprocesses
as ``.npz`` (no pickle), and the banners of old and new are compared bit for bit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NEW = ROOT / "python"


def noise(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.random((n, n)) < 0.5
    return a[None], (~a)[None]


def ellipses(n: int = 64, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    sys.path.insert(0, str(ROOT / "benches"))
    from bench_sfb_scaling import ellipse_pairs

    return ellipse_pairs(n, size, seed=1)


def coco_pairs(n: int, tmp: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    sys.path.insert(0, str(ROOT / "benches"))
    sys.path.insert(0, str(NEW))
    from bench_precompute import write_coco_fixture

    from csip.cache.writer import resolve_source

    ann = write_coco_fixture(tmp, n)
    src = resolve_source(f"coco:{ann}", images=str(tmp / "images"))
    pairs = []
    for i in range(len(src)):
        try:
            s = src.load_cropped(i)
        except Exception:  # noqa: BLE001 - items the source skips
            continue
        pairs.append((np.ascontiguousarray(s.mask_a), np.ascontiguousarray(s.mask_b)))
    return pairs


def save(path: Path, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    arrays = {}
    for i, (a, b) in enumerate(pairs):
        arrays[f"a{i}"], arrays[f"b{i}"] = a, b
    np.savez(path, **arrays)


WORKER = r"""
import hashlib, json, sys, time
import numpy as np
import csip_core
data = np.load(sys.argv[1], allow_pickle=False)
n = len(data.files) // 2
pairs = [(data[f"a{i}"], data[f"b{i}"]) for i in range(n)]
repeats = int(sys.argv[2])
best_cpu = best_wall = float("inf")
for _ in range(repeats):
    h = hashlib.sha256()
    c0, w0 = time.process_time(), time.perf_counter()
    for a, b in pairs:
        h.update(csip_core.sfb(a, b).tobytes())
    best_cpu = min(best_cpu, time.process_time() - c0)
    best_wall = min(best_wall, time.perf_counter() - w0)
print(json.dumps({"cpu": best_cpu / n, "wall": best_wall / n, "pairs": n,
                  "digest": h.hexdigest(), "engine": csip_core.__file__}))
"""


def run(engine: Path, npz: Path, repeats: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(engine), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", WORKER, str(npz), str(repeats)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", type=Path, default=None,
                    help="directory with another build of the csip_core package")
    ap.add_argument("--big", action="store_true", help="also noise 5000² (new engine only)")
    ap.add_argument("--sizes", default="256,512,1024", help="noise sizes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--coco-n", type=int, default=40, help="COCO fixture images")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-worst-"))
    work: list[tuple[str, list, int, bool]] = []  # name, pairs, repeats, run the old engine
    a, b = ellipses()
    work.append(("ellipses 128² (64 pairs)", list(zip(a, b)), args.repeats, True))
    coco = coco_pairs(args.coco_n, tmp / "coco")
    work.append((f"COCO fixture ({len(coco)} pairs)", coco, args.repeats, True))
    for n in [int(s) for s in args.sizes.split(",")]:
        a, b = noise(n)
        work.append((f"noise {n}²", [(a[0], b[0])], args.repeats if n <= 512 else 1, True))
    if args.big:
        a, b = noise(5000)
        work.append(("noise 5000²", [(a[0], b[0])], 1, False))
    print(f"one thread, best of {args.repeats} (1 for noise above 512²); milliseconds per "
          f"pair; {os.cpu_count()} cores\n")
    if args.old:
        print("| workload | main CPU | new CPU | new / main (CPU) | main wall | new wall | same banners |")
        print("|---|---:|---:|---:|---:|---:|:---:|")
    else:
        print("| workload | new CPU | new wall |")
        print("|---|---:|---:|")
    for name, pairs, repeats, with_old in work:
        npz = tmp / "pairs.npz"
        save(npz, pairs)
        new = run(NEW, npz, repeats)
        if args.old and with_old:
            old = run(args.old, npz, repeats)
            same = "yes" if old["digest"] == new["digest"] else "**NO**"
            print(f"| {name} | {ms(old['cpu'])} | {ms(new['cpu'])} | "
                  f"{new['cpu'] / old['cpu']:.3f} | {ms(old['wall'])} | {ms(new['wall'])} | {same} |",
                  flush=True)
        elif args.old:
            print(f"| {name} | (not run) | {ms(new['cpu'])} | | | {ms(new['wall'])} | |", flush=True)
        else:
            print(f"| {name} | {ms(new['cpu'])} | {ms(new['wall'])} |", flush=True)


def ms(seconds: float) -> str:
    return f"{1e3 * seconds:.3f}"


if __name__ == "__main__":
    main()
