"""The paper protocol's summary: every number beside the paper's (Servant et al., ORASIS 2025,
Tables 2 and 3; Fig. 4 is a plot without printed values) and the difference.

Means over the seeds; points (×100). A cell reads ``ours (paper, Δ)``; ``—`` where a row did
not run (no weights given, no dataset configured) or the paper has no such row. An evaluation
flagged "not meaningful" (a split too small for its k, answers or labels of one class; see
:mod:`csip.eval.report`) has its flag printed under the table its numbers are in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from ..eval.report import NOT_MEANINGFUL
from ..eval.results import EvalResults
from .layouts_report import layouts_markdown

#: Table 2 of the paper: (training group, model) -> {dataset: (NDCG@10, NDCG@25)}.
PAPER_TABLE2: dict[tuple[str, str], dict[str, tuple[float, float]]] = {
    ("pre-trained", "resnet18"): {"spatialsense": (58.3, 59.1), "unrel": (68.7, 67.5)},
    ("pre-trained", "resnet50"): {"spatialsense": (58.4, 58.9), "unrel": (69.2, 68.1)},
    ("pre-trained", "vit_b_16"): {"spatialsense": (58.8, 57.8), "unrel": (69.8, 68.2)},
    ("pre-trained", "clip"): {"spatialsense": (60.6, 61.1), "unrel": (64.4, 64.9)},
    ("supervised", "resnet18"): {"spatialsense": (59.2, 58.3), "unrel": (64.7, 64.1)},
    ("supervised", "2d"): {"spatialsense": (73.3, 72.1), "unrel": (77.5, 76.0)},
    ("supervised", "drnet"): {"spatialsense": (65.3, 64.4), "unrel": (70.6, 69.8)},
    ("supervised", "resnet18+2d"): {"spatialsense": (73.6, 72.3), "unrel": (78.3, 76.9)},
    ("C-SIP", "resnet18"): {"spatialsense": (63.7, 63.2), "unrel": (69.6, 69.3)},
    ("C-SIP", "2d"): {"spatialsense": (76.0, 74.5), "unrel": (80.9, 79.8)},
    ("C-SIP", "drnet"): {"spatialsense": (69.5, 68.6), "unrel": (75.0, 73.9)},
    ("C-SIP", "resnet18+2d"): {"spatialsense": (76.3, 75.6), "unrel": (81.5, 80.5)},
}

#: Table 3 of the paper: the image inputs' (group, model) fused with the text -> accuracy (%).
PAPER_TABLE3: dict[tuple[tuple[str, str], ...], tuple[str, float]] = {
    (): ("Text-only (BERT)", 54.64),
    (("pre-trained", "resnet18"),): ("ResNet18 + BERT (baseline)", 70.23),
    (("C-SIP", "resnet18"),): ("ResNet18/C-SIP + BERT", 72.06),
    (("pre-trained", "resnet18"), ("C-SIP", "resnet18")): ("ResNet18 + ResNet18/C-SIP + BERT", 75.91),
    (("pre-trained", "resnet50"), ("C-SIP", "resnet18")): ("ResNet50 + ResNet18/C-SIP + BERT", 77.10),
}

#: Display names of the models in the tables.
MODEL_NAMES = {"resnet18": "ResNet18", "resnet50": "ResNet50", "vit_b_16": "ViT-B/16", "clip": "CLIP (image)",
               "2d": "2D", "drnet": "DRNet", "resnet18+2d": "ResNet18+2D"}
GROUP_ORDER = ("pre-trained", "random init", "supervised", "C-SIP")


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def _cell(ours: float | None, paper: float | None, digits: int = 1) -> str:
    if ours is None:
        return "—" if paper is None else f"— ({paper:.{digits}f})"
    if paper is None:
        return f"{ours:.{digits}f}"
    return f"{ours:.{digits}f} ({paper:.{digits}f}, {ours - paper:+.{digits}f})"


def table2(results: dict[str, Sequence[EvalResults]]) -> list[dict]:
    """Table 2's rows: per (group, model), the mean over seeds of NDCG@10 and @25 on each
    dataset (``results``: dataset -> its evaluations, one per seed), beside the paper's."""
    keys: dict[tuple[str, str], None] = {}
    for evals in results.values():
        for res in evals:
            for r in res.cbir.rows if res.cbir else ():
                if r.group != "reference" and r.status == "ok":
                    keys[(r.group, r.model)] = None
    keys.update(dict.fromkeys(PAPER_TABLE2))
    rows = []
    for group, model in sorted(keys, key=lambda k: (GROUP_ORDER.index(k[0]) if k[0] in GROUP_ORDER else 9,
                                                    list(MODEL_NAMES).index(k[1]) if k[1] in MODEL_NAMES else 99)):
        row = {"group": group, "model": model}
        for dataset, evals in results.items():
            for k in (10, 25):
                ours = _mean(
                    100 * (r.ndcg or {}).get(k, math.nan)
                    for res in evals
                    for r in (res.cbir.rows if res.cbir else ())
                    if (r.group, r.model) == (group, model) and r.status == "ok"
                )
                paper = PAPER_TABLE2.get((group, model), {}).get(dataset)
                row[f"{dataset}@{k}"] = {"ours": ours, "paper": None if paper is None else paper[0 if k == 10 else 1]}
        rows.append(row)
    return rows


def table3(evals: Sequence[EvalResults]) -> list[dict]:
    """Table 3's rows: each VQA row's mean accuracy over seeds, beside the paper's row of the
    same inputs (text only; ImageNet ResNet18 + text; ResNet18/C-SIP + text; and the pairs)."""
    by_inputs: dict[tuple, list[float]] = {}
    names: dict[tuple, str] = {}
    for res in evals:
        if res.vqa is None:
            continue
        groups = {r.name: (r.group, r.model) for r in res.cbir.rows} if res.cbir else {}
        spec_of = {e["name"]: (e["group"], e["model"]) for e in res.header.get("encoders", [])}
        for r in res.vqa.rows:
            if r.status != "ok" or r.accuracy is None:
                continue
            key = tuple(spec_of.get(n) or groups.get(n) or ("?", n) for n in r.inputs[1:])
            by_inputs.setdefault(key, []).append(100 * r.accuracy)
            names.setdefault(key, r.name)
    rows = []
    for key in dict.fromkeys([*PAPER_TABLE3, *by_inputs]):
        paper = PAPER_TABLE3.get(key)
        rows.append({"inputs": [list(k) for k in key], "name": paper[0] if paper else names.get(key, str(key)),
                     "ours": _mean(by_inputs.get(key, [])), "paper": None if paper is None else paper[1]})
    return rows


def srr(evals: Sequence[EvalResults]) -> list[dict]:
    """Fig. 4's numbers: Acc@1..5 per (group, model), mean over seeds (the paper prints none)."""
    acc: dict[tuple[str, str], dict[int, list[float]]] = {}
    for res in evals:
        for r in res.srr.rows if res.srr else ():
            if r.status == "ok" and r.acc:
                for n, a in r.acc.items():
                    acc.setdefault((r.group, r.model or r.name), {}).setdefault(int(n), []).append(100 * a)
    return [{"group": g, "model": m, "acc": {str(n): _mean(v) for n, v in sorted(d.items())}}
            for (g, m), d in acc.items()]


#: The summary's sections and the task whose flags each carries.
_FLAGGED = {"table2": "cbir", "srr": "srr", "table3": "vqa"}


def flags(evaluations: Mapping) -> list[dict]:
    """The evaluations' "not meaningful" flags (:mod:`csip.eval.report`), carried into the
    summary: ``[{"evaluation": "unrel seed 0", "task": "cbir", "flag": why}]``
    (``evaluations``: step name -> the runner's outcome, with ``results``)."""
    out = []
    for name, ev in evaluations.items():
        for task in _FLAGGED.values():
            flag = getattr(getattr(ev.results, task, None), "not_meaningful", None)
            if flag:
                out.append({"evaluation": name, "task": task, "flag": flag})
    return out


def _flag_lines(doc: dict, section: str) -> list[str]:
    return [f"> {NOT_MEANINGFUL} ({f['evaluation']}, {f['task'].upper()}): {f['flag']}"
            for f in doc.get("flags", []) if f["task"] == _FLAGGED[section]]


def _with_flags(doc: dict, section: str) -> list[str]:
    lines = _flag_lines(doc, section)
    return ["", *lines] if lines else []


def markdown(doc: dict) -> str:
    """``summary.md`` of the paper protocol from its ``summary.json`` document."""
    s = doc["settings"]
    lines = ["# csip run — the paper's protocol (Tables 2 and 3, Figs. 3 and 4)", "",
             f"Seeds {', '.join(map(str, s['seeds']))}; {s['train']['image_size']} px crops, batch "
             f"{s['train']['batch_size']}, {s['train']['epochs']} epochs, learning rate chosen on val among "
             f"{', '.join(f'{x:g}' for x in s['train']['lrs'])} ({s['train']['select']}). SpatialSense split: "
             f"{s['spatialsense']['splits']}. Each cell: ours (paper, difference), points, mean over seeds.", ""]
    datasets = doc["datasets"]
    lines += ["## Table 2 — CBIR, NDCG@k", "",
              "| training | model | " + " | ".join(f"{d} NDCG@{k}" for d in datasets for k in (10, 25)) + " |",
              "|---|---|" + "---:|" * (2 * len(datasets))]
    for r in doc["table2"]:
        cells = [_cell(r[f"{d}@{k}"]["ours"], r[f"{d}@{k}"]["paper"]) for d in datasets for k in (10, 25)]
        lines.append(f"| {r['group']} | {MODEL_NAMES.get(r['model'], r['model'])} | " + " | ".join(cells) + " |")
    lines += _with_flags(doc, "table2")
    lines += ["", "## Fig. 4 — SRR Acc@n on SpatialSense test (%; the paper gives a plot, no values)", ""]
    if doc["srr"]:
        lines += ["| training | model | " + " | ".join(f"Acc@{n}" for n in range(1, 6)) + " |",
                  "|---|---|" + "---:|" * 5]
        for r in doc["srr"]:
            lines.append(f"| {r['group']} | {MODEL_NAMES.get(r['model'], r['model'])} | "
                         + " | ".join(_cell(r["acc"].get(str(n)), None) for n in range(1, 6)) + " |")
        lines += _with_flags(doc, "srr")
    lines += ["", "## Table 3 — VQA on GQA verify-rel, accuracy (%)", ""]
    if doc["table3"] and any(r["ours"] is not None for r in doc["table3"]):
        lines += ["| inputs | accuracy |", "|---|---:|"]
        lines += [f"| {r['name']} | {_cell(r['ours'], r['paper'], 2)} |" for r in doc["table3"]]
        text = (s.get("weights") or {}).get("text_encoder") or "the bundled MiniLM (all-MiniLM-L6-v2)"
        lines += ["", f"Rows are named as in the paper, whose text encoder is BERT; ours use {text}."]
        lines += _with_flags(doc, "table3")
    else:
        lines.append("Not run: no GQA configured (or no ResNet18 among the encoders).")
    lines += ["", *layouts_markdown(doc.get("layouts") or {}, "dataset")]
    lines += ["", "## Learning rates chosen on val", "", "| training | lr kept | val metric per lr |", "|---|---:|---|"]
    for name, t in doc["trainings"].items():
        per = ", ".join(f"{lr}: {'—' if v is None else f'{v:.4f}'}" for lr, v in t["by_lr"].items())
        lines.append(f"| {name} | {t['lr']:g} | {per} |")
    figs = doc.get("figures", {})
    if figs:
        lines += ["", "## Figures", ""] + [f"- {k}: `{v}`" for k, v in figs.items()]
    lines += ["", "## The evaluations behind each number", "", "```"] + doc["eval_commands"] + ["```"]
    t = doc["timings_s"]
    lines += ["", "Wall time per stage: " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items())]
    return "\n".join(lines)


__all__ = ["MODEL_NAMES", "PAPER_TABLE2", "PAPER_TABLE3", "flags", "markdown", "srr", "table2", "table3"]
