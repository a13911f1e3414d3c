"""How long must the study's trainings be? Best val metrics against epochs and learning rate.

Trains each (encoder, training, lr, epochs) once (seed 0) on the study's cache and prints the
best val CBIR NDCG@10 (the study's selection metric), the epoch it was reached, the supervised
val accuracy at that epoch and the wall time: the evidence behind ``csip.study.StudyConfig``'s
``epochs`` and ``lr`` (chosen on val, never on test)::

    python benches/study_budget.py --out /tmp/budget --encoders resnet18,2d --lrs 5e-4,1e-3,2e-3 --epochs 6,12,24

Writes ``OUT/budget.json`` (every run's val curve) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from csip.study import StudyConfig
from csip.study.stages import build_cache, train_config, train_run
from csip.train.metrics import read_metrics
from csip.train.selection import read_best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/tmp/csip-budget")
    ap.add_argument("--encoders", default="resnet18,2d")
    ap.add_argument("--lrs", default="5e-4,1e-3,2e-3")
    ap.add_argument("--epochs", default="6,12,24")
    ap.add_argument("--features", default="embed", choices=["embed", "pre"])
    ap.add_argument("--device", default=None)
    ap.add_argument("--n", type=int, default=StudyConfig.n)
    ap.add_argument("--width", type=int, default=StudyConfig.width)
    args = ap.parse_args()
    out = Path(args.out)
    cfg = StudyConfig(out=str(out), n=args.n, width=args.width, features=args.features, device=args.device,
                      progress=False)
    cache = out / "cache"
    build_cache(cfg, cache)
    results = []
    print("| encoder | training | lr | epochs | best val NDCG@10 | best epoch | sup. val acc there | max val acc | s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for enc in args.encoders.split(","):
        for lr in (float(x) for x in args.lrs.split(",")):
            for ep in (int(x) for x in args.epochs.split(",")):
                for variant, sup in (("supervised", True), ("c-sip", False)):
                    cfg.lr = lr
                    rd = out / "runs" / f"{enc}-{variant}-lr{lr:g}-e{ep}"
                    t0 = time.perf_counter()
                    train_run(train_config(cfg, rd, cache, enc, sup, 0, ep))
                    dt = time.perf_counter() - t0
                    best = read_best(rd) or {}
                    val = read_metrics(rd, "val")
                    accs = [r["val_acc"] for r in val if "val_acc" in r]
                    rec = {"encoder": enc, "training": variant, "lr": lr, "epochs": ep, "seconds": dt,
                           "best": best, "curve": val}
                    results.append(rec)
                    acc = best.get("record", {}).get("val_acc")
                    print(f"| {enc} | {variant} | {lr:g} | {ep} | {100 * best.get('value', float('nan')):.2f} | "
                          f"{best.get('epoch')} | {'' if acc is None else f'{100 * acc:.1f}'} | "
                          f"{'' if not accs else f'{100 * max(accs):.1f}'} | {dt:.0f} |", flush=True)
    (out / "budget.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
