"""The epoch-end val pass with checkpoint selection on: one pass against two, in one run.

- **two passes** (what training did before): the val loss pass (:func:`csip.train.validate`)
  and a second read of the split through the image tower for the retrieval features, then
  :func:`csip.train.selection.retrieval_scores`;
- **one pass**: :func:`csip.train.validation.validation_record` with ``retrieval=True``
  (each batch read and encoded once; f_v caught from the loss pass).

Both give the same record (checked here before timing). Each is timed ``--repeats`` times
after one untimed call; the median is reported, and the ratio two/one.

Example (the demo's val split: ResNet18 width 32 at 32 px)::

    csip precompute run synthetic --n 5000 --image-size 32 --out /tmp/bv-cache
    python benches/bench_val_pass.py --cache /tmp/bv-cache --model resnet18 --width 32
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from csip.models import build_model, default_model_config, image_tower  # noqa: E402
from csip.train.data import open_cache  # noqa: E402
from csip.train.objectives import make_objective  # noqa: E402
from csip.train.selection import retrieval_scores  # noqa: E402
from csip.train.validation import (
    validate,  # noqa: E402
    validation_record,  # noqa: E402
)


@torch.no_grad()
def two_passes(model, ds, batch_size, device, supervised) -> dict:
    """The loss pass, then a second read of the split for the retrieval features."""
    rec = validate(model, ds, batch_size, device, make_objective("supervised" if supervised else "csip"), amp=False)
    tower = image_tower(model, {})
    pre, emb, banners = [], [], []
    for raw in DataLoader(ds, batch_size=batch_size, shuffle=False):
        f = tower.image_encoder({key: torch.as_tensor(raw[key]).to(device) for key in tower.uses})
        pre.append(f.float().cpu())
        emb.append(tower.embedding_of(f).float().cpu())
        banners.append(torch.as_tensor(raw["sfb"]).float())
    rec.update(retrieval_scores(torch.cat(pre).numpy(), torch.cat(emb).numpy(), torch.cat(banners).numpy()))
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--supervised", action="store_true")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    device = torch.device("cpu")
    ds, info = open_cache(args.cache, args.split)
    torch.manual_seed(0)
    model = build_model(default_model_config(args.model, info["n_levels"], info["n_angles"],
                                             supervised=args.supervised, image_size=info["image_size"],
                                             width=args.width)).eval()
    batch_size = max(2, min(args.batch_size, len(ds)))
    objective = make_objective("supervised" if args.supervised else "csip")
    one = lambda: validation_record(model, ds, batch_size, device, objective, amp=False, retrieval=True)  # noqa: E731
    two = lambda: two_passes(model, ds, batch_size, device, args.supervised)  # noqa: E731
    assert one() == two(), "the one-pass record differs from the two passes'"
    times = {}
    for name, fn in (("two_passes", two), ("one_pass", one)) * args.repeats:  # interleaved
        t0 = time.perf_counter()
        fn()
        times.setdefault(name, []).append(time.perf_counter() - t0)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(json.dumps({"items": len(ds), "model": args.model, "width": args.width, "supervised": args.supervised,
                      "threads": torch.get_num_threads(), "median_s": med,
                      "two_over_one": med["two_passes"] / med["one_pass"]}, indent=2))


if __name__ == "__main__":
    main()
