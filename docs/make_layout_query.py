#!/usr/bin/env python
"""The README's layout-query figure, ``docs/layout_query.png``, from the built-in synthetic scenes.

    PYTHONPATH=python python docs/make_layout_query.py --work /tmp/layout-fig   # ~1 min on 2 cores

Builds a small synthetic cache (600 scenes, 64 px, banners of 9 force levels × 36 angles),
trains a small C-SIP (the box encoder ``2d``, 30 epochs; every size printed) and runs
``csip search --layout "A=0.05,0.35,0.4,0.65 B=0.6,0.35,0.95,0.65"`` (A left of B) on the whole
cache: the layout, its banner and the top 6 images with A and B outlined. Rerunning reuses the
cache and the run in ``--work``. The same cache and run give the cross-modal numbers of
``csip eval --task crossmodal --cache WORK/cache --checkpoint csip=WORK/run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

LAYOUT = "A=0.05,0.35,0.4,0.65 B=0.6,0.35,0.95,0.65"


def build(work: Path) -> tuple[Path, Path]:
    """The cache and the trained run in ``work`` (made when missing)."""
    from csip.cache import build as build_cache
    from csip.data.synthetic import SyntheticSource
    from csip.descriptor import DescriptorParams
    from csip.train.config import TrainConfig
    from csip.train.run import train

    cache, run = work / "cache", work / "run"
    if not (cache / "manifest.json").is_file():
        build_cache(SyntheticSource(n=600, seed=0), cache, spec="synthetic", n=None, seed=0, image_size=64,
                    desc=DescriptorParams.make("-2:2:0.5", 36, "max"), workers=0, chunk=256, progress=False)
    if not (run / "checkpoints" / "final.pt").is_file():
        train(TrainConfig(out=str(run), cache=str(cache), model="2d", epochs=30, batch_size=32, workers=0,
                          progress=False, feature_dim=32, embed_dim=16, spatial_channels=8, log_every=1000,
                          device="cpu", seed=0))
    return cache, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="Directory for the cache and the run.")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("layout_query.png"))
    args = ap.parse_args()
    torch.manual_seed(0)
    cache, run = build(args.work)
    from csip.search.api import SearchRequest, draw, search

    req = SearchRequest(cache, run, layout=LAYOUT, k=6, device="cpu")
    outcome = search(req)
    for r in outcome.results:
        print(f"{r['rank']}  #{r['index']:<4} {r['label']!s:<16} cos {r['score']:.3f}  rel {r['relevance']:.3f}")
    print("wrote", draw(args.out, req, outcome))


if __name__ == "__main__":
    main()
