"""The Markdown of ``csip eval``: the whole report (``report.md``) and the table helpers the tasks
draw their tables with.

Rows are typed rows (:mod:`csip.eval.task`): ``name``, ``group`` (one of
:data:`csip.eval.baselines.GROUPS`), ``model``, ``status`` (``"ok"``/``"skipped"``/``"failed"``),
``note``, and the task's numbers in [0, 1]. Tables print percentages like the paper's, the best
value of each column in bold (reference rows excluded from the contest), unless the column
measures nothing on the items at hand (a table flagged "not meaningful": a split too small
for a cut-off, answers or labels all of one class; no bold there). Each task renders its
own table (:meth:`csip.eval.task.Task.markdown`); the report puts the sections one after the
other, in report order. ``results.json`` is written by :mod:`csip.eval.results`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from .baselines import GROUPS, model_display

if TYPE_CHECKING:  # annotations only
    from .results import EvalResults

#: What a table shows for a number that is not there (a skipped row, NaN).
DASH = "—"
#: The words that flag a degenerate table (in its section and in the study summary).
NOT_MEANINGFUL = "not meaningful"


def pct(v: Any, digits: int) -> str:
    """``v`` in [0, 1] as a percentage with ``digits`` decimals; :data:`DASH` for None or NaN."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return DASH
    return f"{100.0 * float(v):.{digits}f}"


def sorted_rows(rows: Sequence) -> list:
    """By group (:data:`GROUPS`' order); rows of one group keep their order."""
    order = {g: i for i, g in enumerate(GROUPS)}
    return sorted(rows, key=lambda r: order.get(r.group, len(order)))


def _model_cell(r) -> str:
    return model_display(r.model) if r.group not in ("reference", "pre-trained") else ""


def markdown_table(header: list[str], align: list[str], body: list[list[str]]) -> str:
    """A Markdown table: ``header`` cells, ``align`` markers (``"---"``, ``"---:"``), ``body``
    rows (``|`` in a cell escaped)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(lines)


def bold_best(rows: list, values: list[list[float | None]]) -> list[set[int]]:
    """Per column of ``values`` (one list per row), the row positions holding its maximum
    (non-reference, ok rows only)."""
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


def metric_table(rows: Sequence, key: str, cols: Sequence[int], label: str, digits: int,
                 plain: Collection[int] = ()) -> str:
    """The table of rows with a ``{cut-off: value}`` field ``key`` (NDCG@k, Acc@n): one column
    per cut-off in ``cols``, headed ``label`` + cut-off, rows by group, best values bold except
    in the columns of the cut-offs in ``plain`` (those :func:`not_meaningful_line` flags)."""
    rows = sorted_rows(rows)
    vals = [[(getattr(r, key) or {}).get(c) if r.status == "ok" else None for c in cols] for r in rows]
    best = [set() if c in plain else b for c, b in zip(cols, bold_best(rows, vals))] if vals else []
    body = []
    for i, r in enumerate(rows):
        cells = []
        for j, v in enumerate(vals[i]):
            s = pct(v, digits)
            cells.append(f"**{s}**" if i in best[j] and s != DASH else s)
        body.append([r.group, r.name, _model_cell(r), *cells, r.note])
    header = ["Training", "Encoder", "Model", *[f"{label}{c}" for c in cols], "Note"]
    return markdown_table(header, ["---", "---", "---", *["---:"] * len(cols), "---"], body)


def not_meaningful_line(flag: str | None) -> str:
    """The line a task's section opens with when its table measures nothing (``flag``: why,
    e.g. a query split too small for NDCG@25, or test answers all of one class); ``""`` when
    ``flag`` is None. Such a table prints no value in bold."""
    return "" if not flag else f"> {NOT_MEANINGFUL}: {flag}\n\n"


def markdown_report(results: EvalResults) -> str:
    """The whole report: a header (cache, seed) and one section per task that ran, in report order."""
    c = results.header.get("cache", {})
    out = [f"# csip eval — {c.get('path', '')}", "",
           f"cache: {c.get('source', '')}, {c.get('items', '?')} items, splits {c.get('splits', {})}, "
           f"sFB {c.get('sfb_shape', '')}, images {c.get('image_size', '')} px; seed {results.header.get('seed')}", ""]
    for t in results.tables.values():
        if t is not None and t.markdown:
            out += [t.markdown, ""]
    return "\n".join(out)


__all__ = ["DASH", "NOT_MEANINGFUL", "bold_best", "markdown_report", "markdown_table", "metric_table",
           "not_meaningful_line", "pct", "sorted_rows"]
