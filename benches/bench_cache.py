"""The cache a loader or training benchmark reads: the one given, or a synthetic one built in a
temporary directory; read once beforehand so that every pipeline starts from a warm page cache."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from csip.cache.synthetic import build_synthetic_cache

WARMED = ("images.npy", "sfb.npy", "boxes.npy", "labels.npy")


def cache_or_synthetic(cache: str | None, n: int, image_size: int, prefix: str
                       ) -> tuple[Path, tempfile.TemporaryDirectory | None]:
    """``(cache directory, the temporary directory to clean up or None)``: ``cache`` when given,
    else ``n`` synthetic scenes of ``image_size`` px precomputed into a temporary directory."""
    if cache:
        return Path(cache), None
    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    t0 = time.perf_counter()
    path = build_synthetic_cache(Path(tmp.name) / "cache", n, image_size)
    print(f"synthetic cache: {n} scenes of {image_size} px precomputed in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return path, tmp


def warm_page_cache(path: Path) -> None:
    """Read the arrays the loaders read, 64 MiB at a time, so that no pipeline pays the disk."""
    for name in WARMED:
        with open(path / name, "rb") as f:
            while f.read(64 << 20):
                pass
