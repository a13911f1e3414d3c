"""Results of ``csip eval``: ``results.json`` (every number, setting and seed) and Markdown tables.

Rows are the typed rows of :mod:`csip.eval.results`: ``name``, ``group`` (one of
:data:`csip.eval.baselines.GROUPS`), ``model``, ``status`` (``"ok"``/``"skipped"``/``"failed"``),
``note``, and the task's numbers in [0, 1]: ``ndcg`` ``{k: value}`` (CBIR), ``acc``
``{n: value}`` (SRR), ``accuracy`` (VQA). Tables print percentages like the paper's, the best
value of each column in bold (reference rows excluded from the contest). This module and
:mod:`csip.eval.results` are where JSON is made (:func:`write_json`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any


from .baselines import GROUPS, model_display

if TYPE_CHECKING:  # results.py imports this module (json_ready); the types only annotate here
    from .results import CbirResult, EvalResults, SrrResult, VqaResult

DASH = "—"


def _pct(v: Any, digits: int) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return DASH
    return f"{100.0 * float(v):.{digits}f}"


def sorted_rows(rows: Sequence[CbirResult | SrrResult]) -> list:
    """By group (:data:`GROUPS`' order); rows of one group keep their order."""
    order = {g: i for i, g in enumerate(GROUPS)}
    return sorted(rows, key=lambda r: order.get(r.group, len(order)))


def _model_cell(r: CbirResult | SrrResult) -> str:
    return model_display(r.model) if r.group not in ("reference", "pre-trained") else ""


def _table(header: list[str], align: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(lines)


def _bold_best(rows: list, values: list[list[float | None]]) -> list[set[int]]:
    """Per column, the row positions holding its maximum (non-reference, ok rows only)."""
    best: list[set[int]] = []
    for j in range(len(values[0]) if values else 0):
        cands = [(values[i][j], i) for i, r in enumerate(rows)
                 if getattr(r, "group", None) != "reference" and r.status == "ok" and values[i][j] is not None]
        if not cands:
            best.append(set())
            continue
        m = max(v for v, _ in cands)
        best.append({i for v, i in cands if v == m})
    return best


def _metric_table(rows: Sequence[CbirResult | SrrResult], key: str, cols: Sequence[int], label: str,
                  digits: int) -> str:
    rows = sorted_rows(rows)
    vals = [[(getattr(r, key) or {}).get(c) if r.status == "ok" else None for c in cols] for r in rows]
    best = _bold_best(rows, vals)
    body = []
    for i, r in enumerate(rows):
        cells = []
        for j, v in enumerate(vals[i]):
            s = _pct(v, digits)
            cells.append(f"**{s}**" if i in best[j] and s != DASH else s)
        body.append([r.group, r.name, _model_cell(r), *cells, r.note])
    header = ["Training", "Encoder", "Model", *[f"{label}{c}" for c in cols], "Note"]
    return _table(header, ["---", "---", "---", *["---:"] * len(cols), "---"], body)


def cbir_table(rows: Sequence[CbirResult], ks: Sequence[int]) -> str:
    """Markdown table of NDCG@k (percent, like the paper's Table 2)."""
    return _metric_table(rows, "ndcg", ks, "NDCG@", 1)


def srr_table(rows: Sequence[SrrResult], ns: Sequence[int]) -> str:
    """Markdown table of Acc@n (percent; the numbers behind Fig. 4)."""
    return _metric_table(rows, "acc", ns, "Acc@", 1)


def vqa_table(rows: Sequence[VqaResult]) -> str:
    """Markdown table of VQA accuracy (percent, like the paper's Table 3)."""
    vals = [[r.accuracy if r.status == "ok" else None] for r in rows]
    best = _bold_best(list(rows), vals)
    body = []
    for i, r in enumerate(rows):
        s = _pct(vals[i][0], 2)
        body.append([r.name, f"**{s}**" if best and i in best[0] and s != DASH else s, r.note])
    return _table(["Inputs", "Accuracy", "Note"], ["---", "---:", "---"], body)


def markdown_report(results: EvalResults) -> str:
    """The whole report: a header (cache, seed) and one section per task that ran."""
    c = results.header.get("cache", {})
    out = [f"# csip eval — {c.get('path', '')}", "",
           f"cache: {c.get('source', '')}, {c.get('items', '?')} items, splits {c.get('splits', {})}, "
           f"sFB {c.get('sfb_shape', '')}, images {c.get('image_size', '')} px; seed {results.header.get('seed')}", ""]
    for t in (results.cbir, results.srr, results.vqa):
        if t is not None and t.markdown:
            out += [t.markdown, ""]
    return "\n".join(out)


def task_heading(task: str, info: dict) -> str:
    """A one-paragraph heading for a task's table (what was measured, on which items)."""
    if task == "cbir":
        gal = info.get("gallery") or info.get("split")
        return (f"## CBIR — NDCG@k (%), queries: {info.get('split')} split ({info.get('n_queries')}), "
                f"gallery: {gal} ({info.get('n_gallery')}), query excluded; relevance cos(sFB(q), sFB(p))")
    if task == "srr":
        return (f"## SRR — {info.get('probe', {}).get('kind', 'linear')} probe on frozen features, Acc@n (%) "
                f"over {info.get('n_classes', 9)} classes; train {info.get('n_train')}, "
                f"val {info.get('n_val')}, test {info.get('n_test')} labelled items")
    if task == "vqa":
        return (f"## VQA — yes/no questions, accuracy (%); text encoder {info.get('text_encoder', '')}; "
                f"questions train {info.get('n_train')}, val {info.get('n_val')}, test {info.get('n_test')}")
    return f"## {task}"


__all__ = ["cbir_table", "json_ready", "markdown_report", "srr_table", "task_heading", "vqa_table", "write_json"]
