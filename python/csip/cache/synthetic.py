"""The built-in synthetic scenes as a cache, built on demand (``csip pretrain`` without
``--cache``, the study)."""

from __future__ import annotations

from pathlib import Path

from ..descriptor import DescriptorParams
from . import writer as cache_writer  # a module: its usable_cores is looked up at each call
from .format import CacheError


def build_synthetic_cache(out_dir: str | Path, n: int, image_size: int, seed: int = 0, progress: bool = True) -> Path:
    """Precompute ``n`` built-in synthetic scenes into a cache at ``out_dir`` (if not there).

    The same cache as ``csip precompute run synthetic --out DIR --n N --image-size S --seed SEED
    --shard 0/1`` (default banner, one worker per core; the explicit shard keeps a torchrun
    environment from making it a shard). Rerunning resumes an interrupted build. ``progress``:
    the precompute's progress bar.
    """
    out_dir = Path(out_dir)
    if (out_dir / "manifest.json").is_file():
        return out_dir
    try:
        source = cache_writer.resolve_source("synthetic", n=n, seed=seed)
        cache_writer.build(source, out_dir, spec="synthetic", seed=seed, image_size=image_size,
                           desc=DescriptorParams.make(), shard=(0, 1), progress=progress)
    except (CacheError, ValueError) as exc:
        raise CacheError(f"precomputing the synthetic cache in {out_dir} failed: {exc}") from None
    if not (out_dir / "manifest.json").is_file():
        raise CacheError(f"precomputing the synthetic cache in {out_dir} did not finish")
    return out_dir
