#!/usr/bin/env python
"""What the readers' checks of a cache cost (:mod:`csip.cache.validate`), beside an epoch's reads.

    python benches/bench_cache_check.py --cache DIR            # an existing cache
    python benches/bench_cache_check.py --n 5000 --image-size 224   # builds a synthetic one first

Measured on the same cache, in this run (wall clock; the page cache warm, as after precompute;
``--cold`` asks the kernel to drop this cache's pages first, which needs root):

- ``open``: ``Cache(DIR, check=False)``: manifest, sizes, array headers (every opening);
- ``sums``: sha256 of every file (:func:`check_sums`), and ``values``: ranges of banners, boxes,
  labels, splits (:func:`check_values`): what the first opening of a cache that has no stamp
  pays (a cache built by ``csip precompute`` is stamped by its writer, so not even once);
- ``stamped``: ``Cache(DIR)`` with a valid stamp (every later opening);
- baseline ``epoch reads``: every item of the train split read once through
  :class:`CacheDataset` (what any epoch does at the least, before any model runs).

The 100,000-item figures are extrapolated linearly from the measured bytes (sums) and items
(values): both are linear passes over the files.

Measured on the 2-core development machine (load average < 0.5), synthetic caches, warm page
cache: 5,000 items at 224 px (1.02 GB): sums 0.57 s (1.8 GB/s), values 0.05 s, stamped open
0.4 ms; 100,000 items at 64 px (5.46 GB, built for real): sums 2.9 s, values 0.8 s, stamped
open 0.4 ms, beside a 2D-model CPU training epoch of about 220 s (360 images/s). A 224 px
100,000-item cache: about 12 s for the first check (extrapolated), once per copy of a cache.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _drop_pages(path: Path) -> None:
    for p in path.iterdir():
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cold", action="store_true", help="drop the cache's pages before each sums/values pass")
    args = ap.parse_args()

    from csip.cache import Cache, CacheDataset
    from csip.cache import validate as V

    tmp = None
    cache = args.cache
    if cache is None:
        from click.testing import CliRunner

        from csip.cli import main as cli

        tmp = tempfile.TemporaryDirectory(prefix="bench-cache-check-")
        cache = Path(tmp.name) / "cache"
        t0 = time.perf_counter()
        r = CliRunner().invoke(cli, ["precompute", "synthetic", "--n", str(args.n), "--image-size",
                                     str(args.image_size), "--out", str(cache), "--no-progress"])
        assert r.exit_code == 0, r.output
        print(f"built {cache} in {time.perf_counter() - t0:.1f} s")
    c = Cache(cache, check=False)
    man = c.manifest
    n = len(c)
    nbytes = sum(int(f["bytes"]) for f in man["files"].values())
    print(f"cache: {n} items, {c.image_size} px, sFB {tuple(c.sfb_shape)}, {nbytes / 1e9:.3f} GB; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    def cold() -> None:
        if args.cold:
            _drop_pages(c.path)

    t_open = _best(lambda: Cache(cache, check=False), args.repeat)

    def sums() -> None:
        cold()
        V.check_sums(c.path, man)

    def values() -> None:
        cold()
        V.check_values(c.path, man)

    t_sums = _best(sums, args.repeat)
    t_values = _best(values, args.repeat)
    V.validate(c.path, man, force=True)  # leaves a valid stamp
    t_stamped = _best(lambda: Cache(cache), args.repeat)

    ds = CacheDataset(c, split="train")

    def epoch_reads() -> None:
        for i in range(len(ds)):
            ds[i]

    t_epoch = _best(epoch_reads, 1)
    full = t_sums + t_values
    print(f"{'open (sizes, headers)':<34}{t_open * 1e3:10.1f} ms")
    print(f"{'sums (sha256 of every file)':<34}{t_sums:10.3f} s   {nbytes / t_sums / 1e9:.2f} GB/s")
    print(f"{'values (ranges)':<34}{t_values:10.3f} s")
    print(f"{'stamped open (every later one)':<34}{t_stamped * 1e3:10.1f} ms")
    print(f"{'baseline: epoch reads (train)':<34}{t_epoch:10.3f} s   ({len(ds)} items)")
    print(f"first check / epoch reads: {full / t_epoch:.2f}; stamped open / epoch reads: {t_stamped / t_epoch:.5f}")
    scale = 100_000 / n
    print(f"extrapolated to 100,000 items: first check {full * scale:.1f} s (sums {t_sums * scale:.1f} s, "
          f"values {t_values * scale:.1f} s); epoch reads {t_epoch * scale:.1f} s; stamped open "
          f"{t_stamped * 1e3:.1f} ms (does not grow with N beyond one stat per file)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
