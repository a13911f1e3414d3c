"""The study's results: flat Table 2 rows, verdicts, the Fig. 4 plot, Table 3 and the budget check.

Everything here is arithmetic on the evaluations' typed results
(:class:`~csip.eval.results.EvalResults`) and the runs' ``best.json``; nothing is trained or
evaluated. The rows made here are the summary's JSON document (Acc@n keyed by strings).

Row of Table 2 (``summary.json["rows"]``), one per (encoder, training, seed)::

    {"encoder": "resnet18", "training": "random-init" | "supervised" | "c-sip", "seed": 0,
     "ndcg@10": 0.93, "ndcg@25": 0.91,          # fractions in [0, 1], on the eval split
     "features": "pre" | "embed",               # what was ranked (f_v or g_v∘f_v)
     "srr_acc": {"1": ..., "5": ...}, "vqa_accuracy": 0.7,
     "checkpoint": path, "selected": {epoch, step, metric, value} | None,
     "val_acc": supervised val accuracy at the selected checkpoint | None,
     "best_val_acc": the best over epochs | None,
     "alt": {"features": the other kind, "ndcg@10": ..., "ndcg@25": ...} | absent}

Verdict per encoder and baseline X: ``margin`` = mean(C-SIP) − mean(X) of NDCG@10 (points,
×100); ``spread`` = the larger of the two rows' max − min over seeds; C-SIP "beats X by more
than the spread" when margin > spread (no claim with one seed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..eval.results import EvalResults
from ..viz.figures import acc_at_n_plot
from .config import TRAININGS

#: eval results' ``group`` of each training.
GROUP_OF = {"random-init": "random init", "supervised": "supervised", "c-sip": "C-SIP"}
#: How each training is named in tables.
DISPLAY = {"random-init": "random init", "supervised": "supervised (relation labels)", "c-sip": "C-SIP"}


def spread_stats(values: Sequence[float]) -> dict:
    """mean, min, max, range (max − min) and sample std (ddof = 1; 0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"values": list(values), "mean": mean, "min": min(values), "max": max(values),
            "range": max(values) - min(values), "std": std}


def _get(d: dict | None, k: int) -> float | None:
    """``d[str(k)]`` as a float, for the summary rows' ``srr_acc`` (JSON: string keys)."""
    v = (d or {}).get(str(k))
    return None if v is None else float(v)


def table2_rows(encoder: str, seed: int, results: EvalResults, runs: dict[str, dict]) -> list[dict]:
    """The three Table 2 rows of one evaluation (``results``) and the runs that it judged
    (``runs``: training → {"checkpoint", "best", "alt"})."""
    out = []
    for training in TRAININGS:
        m = results.model(GROUP_OF[training])
        cb, sr, vq = m.cbir, m.srr, m.vqa
        if cb is None:
            continue
        run = runs.get(training, {})
        best = run.get("best") or None
        rec = (best or {}).get("record", {})
        row = {"encoder": encoder, "training": training, "seed": seed,
               "ndcg@10": _float((cb.ndcg or {}).get(10)), "ndcg@25": _float((cb.ndcg or {}).get(25)),
               "features": cb.features or "pre",
               "srr_acc": None if sr is None or sr.acc is None else {str(n): a for n, a in sr.acc.items()},
               "vqa_accuracy": None if vq is None else vq.accuracy,
               "checkpoint": run.get("checkpoint"),
               "selected": None if best is None else {k: best[k] for k in ("epoch", "step", "metric", "value")},
               "val_acc": rec.get("val_acc") if training == "supervised" else None,
               "best_val_acc": run.get("best_val_acc")}
        if run.get("alt"):
            row["alt"] = run["alt"]
        out.append(row)
    return out


def _float(v) -> float | None:
    return None if v is None else float(v)


def verdicts(rows: list[dict], k: int = 10) -> dict:
    """Per encoder: C-SIP against each baseline on NDCG@k (points), with margin, spread,
    paired per-seed differences and whether the margin exceeds the spread."""
    out: dict[str, dict] = {}
    for enc in dict.fromkeys(r["encoder"] for r in rows):
        per = {t: {r["seed"]: 100 * r[f"ndcg@{k}"] for r in rows
                   if r["encoder"] == enc and r["training"] == t and r[f"ndcg@{k}"] is not None} for t in TRAININGS}
        c = per["c-sip"]
        v: dict = {}
        for base in ("random-init", "supervised"):
            x = per[base]
            seeds = sorted(set(c) & set(x))
            if not seeds:
                continue
            cs, xs = spread_stats([c[s] for s in seeds]), spread_stats([x[s] for s in seeds])
            margin, spread = cs["mean"] - xs["mean"], max(cs["range"], xs["range"])
            paired = [c[s] - x[s] for s in seeds]
            v[f"vs {base}"] = {"seeds": seeds, "c-sip_mean": cs["mean"], "baseline_mean": xs["mean"],
                               "margin": margin, "spread": spread, "paired_differences": paired,
                               "beats_by_more_than_spread": (margin > spread) if len(seeds) > 1 else None,
                               "no_overlap": cs["min"] > xs["max"], "c-sip_ahead_every_seed": min(paired) > 0}
        both = [d["beats_by_more_than_spread"] for d in v.values()]
        v["beats_both_by_more_than_spread"] = None if (len(both) < 2 or None in both) else all(both)
        out[enc] = v
    return out


def mean_table(rows: list[dict]) -> list[dict]:
    """Per (encoder, training): means and spreads over seeds of NDCG@10/@25, SRR Acc@1 and VQA."""
    out = []
    for enc in dict.fromkeys(r["encoder"] for r in rows):
        for t in TRAININGS:
            sel = [r for r in rows if r["encoder"] == enc and r["training"] == t]
            if not sel:
                continue
            e = {"encoder": enc, "training": t, "seeds": [r["seed"] for r in sel], "features": sel[0]["features"]}
            for key, get in (("ndcg@10", lambda r: r["ndcg@10"]), ("ndcg@25", lambda r: r["ndcg@25"]),
                             ("srr_acc@1", lambda r: _get(r.get("srr_acc"), 1)),
                             ("vqa_accuracy", lambda r: r.get("vqa_accuracy")),
                             ("val_acc", lambda r: r.get("val_acc"))):
                vals = [get(r) for r in sel]
                e[key] = None if (not vals or None in vals) else spread_stats([100 * v for v in vals])
            out.append(e)
    return out


def references(results_by_eval: dict[tuple[str, int], EvalResults]) -> dict:
    """The tasks' references, averaged over evaluations: random ranking (CBIR), class prior
    (SRR), text only (VQA); points."""
    cb, sr, vq = [], [], []
    for res in results_by_eval.values():
        r = res.cbir.row_of("reference") if res.cbir else None
        if r:
            cb.append(100 * float(r.ndcg[10]))
        r = res.srr.row_of("reference") if res.srr else None
        if r:
            sr.append(100 * float(r.acc[1]))
        r = next((x for x in res.vqa.rows if x.name == "text only"), None) if res.vqa else None
        if r and r.accuracy is not None:
            vq.append(100 * r.accuracy)

    def mean(v):
        return sum(v) / len(v) if v else None

    return {"cbir_random_ranking_ndcg@10": mean(cb), "srr_class_prior_acc@1": mean(sr), "vqa_text_only": mean(vq)}


def table3(results_by_eval: dict[tuple[str, int], EvalResults]) -> list[dict]:
    """VQA rows averaged over seeds: one per (encoder, inputs' trainings), plus text only."""
    text_only: dict[int, float] = {}  # one value per seed: every encoder's evaluation of a seed has the same
    acc: dict[tuple[str, str], list[float]] = {}
    for (enc, seed), res in results_by_eval.items():
        for r in res.vqa.rows if res.vqa else ():
            if r.status != "ok" or r.accuracy is None:
                continue
            if not r.groups:
                text_only.setdefault(seed, 100 * r.accuracy)
            else:
                acc.setdefault((enc, " + ".join(r.groups) + " + text"), []).append(100 * r.accuracy)
    rows = [{"encoder": "", "inputs": "text only", **spread_stats(list(text_only.values()))}] if text_only else []
    return rows + [{"encoder": e, "inputs": name, **spread_stats(v)} for (e, name), v in acc.items()]


def fig4(rows: list[dict], path: Path, prior: dict[int, float] | None = None) -> Path:
    """Fig. 4: SRR Acc@1..5 (mean over seeds) per encoder; C-SIP solid, supervised dashed,
    random init dotted; the class prior (Acc@n by n) in black."""
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    styles = {"c-sip": "solid", "supervised": "dashed", "random-init": "dotted"}
    curves = []
    for i, enc in enumerate(dict.fromkeys(r["encoder"] for r in rows)):
        for t in TRAININGS:
            sel = [r["srr_acc"] for r in rows if r["encoder"] == enc and r["training"] == t and r.get("srr_acc")]
            if not sel:
                continue
            ns = sorted(int(n) for n in sel[0])
            vals = [sum(_get(a, n) for a in sel) / len(sel) for n in ns]
            curves.append({"name": f"{enc} {DISPLAY[t]}", "ns": ns, "values": vals, "style": styles[t],
                           "color": colours[i % len(colours)]})
    if prior:
        ns = sorted(prior)
        curves.append({"name": "class prior", "ns": ns, "values": [float(prior[n]) for n in ns], "style": "dotted",
                       "color": "black"})
    return acc_at_n_plot(curves, path, title="SRR Acc@n, mean over seeds (solid C-SIP, dashed supervised)")


def budget_rows(pairs: dict[tuple[str, str], tuple[dict | None, dict | None]], metric: str) -> list[dict]:
    """The budget check: per (encoder, training), the best val ``metric`` (and, supervised, val
    accuracy) with the chosen epochs and with twice as many (seed 0); points."""
    out = []
    for (enc, t), (at1, at2) in pairs.items():
        def pick(b, key):
            if not b:
                return None
            v = b.get("record", {}).get(key) if key != metric else b.get("value")
            return None if v is None else 100 * float(v)

        r = {"encoder": enc, "training": t, "metric": metric, "at_budget": pick(at1, metric),
             "at_2x_budget": pick(at2, metric), "epoch_at_budget": (at1 or {}).get("epoch"),
             "epoch_at_2x": (at2 or {}).get("epoch")}
        if t == "supervised":
            r["val_acc_at_budget"], r["val_acc_at_2x"] = pick(at1, "val_acc"), pick(at2, "val_acc")
        r["gain"] = None if None in (r["at_budget"], r["at_2x_budget"]) else r["at_2x_budget"] - r["at_budget"]
        out.append(r)
    return out


__all__ = ["DISPLAY", "GROUP_OF", "budget_rows", "fig4", "mean_table", "references", "spread_stats", "table2_rows",
           "table3", "verdicts"]
