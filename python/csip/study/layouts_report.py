"""The banner tower's results in a study's summary: cross-modal retrieval (:mod:`csip.eval.crossmodal`)
and relation recognition from layouts (:mod:`csip.eval.relation_shot`), for every C-SIP row and
its random-tower reference, mean over seeds.

Both presets (:mod:`csip.study.synthetic`, :mod:`csip.study.paper`) call :func:`layouts_section`
with their evaluations; the rows are keyed by the evaluation's label (the encoder in the built-in
study, the dataset in the paper's protocol) and the row name without its ``-seed<k>`` suffix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..eval.results import EvalResults

#: Acc@1 methods of the zeroshot table, in column order.
SHOT_METHODS = ("zero-shot", "1-shot", "4-shot", "16-shot", "probe")
RECALL_KS = (1, 5, 10)


def _key(name: str) -> str:
    return re.sub(r"-seed\d+", "", name)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _crossmodal_values(row) -> dict[str, float] | None:
    if row.status != "ok" or row.banner_to_image is None:
        return None
    out = {f"b2i@{k}": 100 * row.banner_to_image[k] for k in RECALL_KS if k in row.banner_to_image}
    out |= {f"i2b@{k}": 100 * row.image_to_banner[k] for k in RECALL_KS if k in row.image_to_banner}
    for side, v in (("b2i_ndcg10", row.ndcg_banner_to_image), ("i2b_ndcg10", row.ndcg_image_to_banner)):
        if v is not None:
            out[side] = 100 * v
    return out


def _shot_values(row) -> dict[str, float] | None:
    if row.status != "ok" or row.image is None:
        return None
    out = {}
    for classes, table in (("9", row.image), ("6", row.image6 or {})):
        for m in SHOT_METHODS:
            if m in table and 1 in table[m]:
                out[f"{m}/{classes}"] = 100 * table[m][1]
    return out


def _collect(evaluations: Iterable[tuple[str, EvalResults]], task: str, values) -> list[dict]:
    """Per (label, row key): the group and each value's mean over the evaluations (seeds), with
    the number of seeds behind it."""
    acc: dict[tuple[str, str], dict] = {}
    for label, res in evaluations:
        table = res.tables.get(task) if res.tables else None
        if table is None:
            continue
        for row in table.rows:
            v = values(row)
            if v is None:
                continue
            slot = acc.setdefault((label, _key(row.name)), {"group": row.group, "values": {}, "seeds": 0})
            slot["seeds"] += 1
            for name, x in v.items():
                slot["values"].setdefault(name, []).append(x)
    return [{"label": label, "row": key, "group": s["group"], "seeds": s["seeds"],
             **{name: _mean(xs) for name, xs in s["values"].items()}} for (label, key), s in acc.items()]


def layouts_section(evaluations: Iterable[tuple[str, EvalResults]]) -> dict:
    """``{"crossmodal": [...], "zeroshot": [...]}`` for ``summary.json`` (points, mean over seeds);
    empty lists where the evaluations did not run the task."""
    evaluations = list(evaluations)
    return {"crossmodal": _collect(evaluations, "crossmodal", _crossmodal_values),
            "zeroshot": _collect(evaluations, "zeroshot", _shot_values)}


def _cell(v) -> str:
    return "—" if v is None else f"{v:.1f}"


def layouts_markdown(section: dict, label_name: str = "encoder") -> list[str]:
    """The two tables of :func:`layouts_section` as Markdown lines (none when both are empty)."""
    lines: list[str] = []
    cm = section.get("crossmodal") or []
    if cm:
        lines += ["## Layouts: cross-modal retrieval (banner tower ↔ image tower)", "",
                  "Recall@k of the item itself (%), banner → image and image → banner over the test split, "
                  "and NDCG@10 with the CBIR relevance; mean over seeds. Random towers and chance are the "
                  "references.", "",
                  f"| {label_name} | row | B→I R@1 | R@5 | R@10 | I→B R@1 | R@5 | R@10 | NDCG@10 B→I | I→B |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in cm:
            lines.append(f"| {r['label']} | {r['row']} | " + " | ".join(
                _cell(r.get(k)) for k in ("b2i@1", "b2i@5", "b2i@10", "i2b@1", "i2b@5", "i2b@10",
                                          "b2i_ndcg10", "i2b_ndcg10")) + " |")
        lines.append("")
    zs = section.get("zeroshot") or []
    if zs:
        lines += ["## Layouts: relation recognition without image labels (Acc@1, %)", "",
                  "Each image goes to the predicate whose banner-tower prototype is nearest: canonical layouts "
                  "(zero-shot) or k labelled train banners per class (k-shot); beside it the linear probe "
                  "trained on image labels. 9 predicates / 6 classes (mirror pairs merged: the symmetric "
                  "banner cannot tell them apart). Mean over seeds.", "",
                  f"| {label_name} | row | zero-shot 9 / 6 | 1-shot | 4-shot | 16-shot | linear probe 9 / 6 |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for r in zs:
            cells = [f"{_cell(r.get(f'{m}/9'))} / {_cell(r.get(f'{m}/6'))}" for m in SHOT_METHODS]
            lines.append(f"| {r['label']} | {r['row']} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


__all__ = ["layouts_markdown", "layouts_section"]
