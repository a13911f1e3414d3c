"""The three tasks run over a cache and a set of encoders' features (what ``csip eval`` calls).

Each ``*_task`` function takes the cache, the :class:`~csip.eval.features.FeatureTable` of each
encoder (by row name) and the :class:`~csip.eval.baselines.EncoderSpec` list (skipped rows stay
in the table with their note), and returns the task's typed table (:mod:`csip.eval.results`:
settings, counts, rows in report order and ``markdown``, the task's table). Figures are drawn by
:func:`sfb_examples_figure`, :func:`retrieval_figure` and :func:`acc_plot`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data import PREDICATES
from ..viz.figures import acc_at_n_plot, retrieval_grid, sfb_figure
from . import report
from .baselines import EncoderSpec, model_display
from .cbir import DEFAULT_KS, ndcg, top_k
from .features import FeatureTable
from .results import CbirResult, CbirTable, HeadFit, ProbeFit, SrrResult, SrrTable, VqaResult, VqaTable
from .srr import DEFAULT_NS, ProbeConfig, class_prior_accuracy, evaluate_probe
from .vqa import TextEncoder, VQAConfig, train_eval_vqa

#: The reference rows the tasks add beside the encoders (no encoder row may take their names).
RANDOM_RANKING, CLASS_PRIOR, TEXT_ONLY = "random ranking", "class prior", "text only"
REFERENCE_ROWS = (RANDOM_RANKING, CLASS_PRIOR, TEXT_ONLY)


def _ids(spec: EncoderSpec) -> tuple[str, str, str, str, str]:
    """(name, group, model, status, note): how every row names its encoder."""
    return spec.name, spec.group, spec.model, spec.status, spec.note


def _features(spec: EncoderSpec) -> str | None:
    return spec.info.get("features") or None  # "pre" (f_v) or "embed" (g_v∘f_v); set when features ran


def split_indices(cache, split: str | None) -> np.ndarray:
    """Cache positions of ``split`` (``"all"`` or None: every item)."""
    return cache.indices(None if split in (None, "all") else split)


# --------------------------------------------------------------------------- CBIR


def cbir_indices(cache, split: str = "test", gallery: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(query positions, gallery positions or None)`` of the CBIR protocol."""
    q = split_indices(cache, split)
    g = None if gallery is None else split_indices(cache, gallery)
    return q, g


def cbir_task(cache, tables: dict[str, FeatureTable], specs: Sequence[EncoderSpec], split: str = "test",
              gallery: str | None = None, ks: Sequence[int] = DEFAULT_KS, chunk: int = 1024,
              device: str | None = None, seed: int = 0) -> CbirTable:
    """NDCG@k of every encoder, plus a *random ranking* reference row (seeded random features:
    what NDCG is worth without any information, which is far from 0 because banner cosines
    are all positive)."""
    q_idx, g_idx = cbir_indices(cache, split, gallery)
    if len(q_idx) < 2 and g_idx is None:
        raise ValueError(f"CBIR needs at least 2 items in the {split} split, found {len(q_idx)}")
    q_sfb = np.asarray(cache.sfb[q_idx])
    g_sfb = None if g_idx is None else np.asarray(cache.sfb[g_idx])
    kw = dict(ks=ks, chunk=chunk, device=device)
    if g_idx is not None:
        kw.update(gallery_sfb=g_sfb, query_ids=q_idx, gallery_ids=g_idx)

    def score(table_q: np.ndarray, table_g: np.ndarray | None) -> dict[int, float]:
        extra = {} if g_idx is None else {"gallery_features": table_g}
        return ndcg(table_q, q_sfb, **kw, **extra)

    rows: list[CbirResult] = []
    rng = np.random.default_rng(seed)
    rq = rng.standard_normal((len(q_idx), 64)).astype(np.float32)
    rg = None if g_idx is None else rng.standard_normal((len(g_idx), 64)).astype(np.float32)
    if g_idx is not None:  # the same item gets the same random vector as query and as gallery item
        pos = {int(p): i for i, p in enumerate(g_idx)}
        for i, p in enumerate(q_idx):
            if int(p) in pos:
                rq[i] = rg[pos[int(p)]]
    rows.append(CbirResult(RANDOM_RANKING, "reference", "", "ok", f"random features, seed {seed}", score(rq, rg)))
    for spec in specs:
        if spec.status != "ok" or spec.name not in tables:
            rows.append(CbirResult(*_ids(spec), None, _features(spec)))
            continue
        t = tables[spec.name]
        nd = score(t.rows(q_idx), None if g_idx is None else t.rows(g_idx))
        rows.append(CbirResult(*_ids(spec), nd, _features(spec)))
    info = {"split": split, "gallery": gallery, "ks": tuple(ks), "n_queries": int(len(q_idx)),
            "n_gallery": int(len(g_idx) if g_idx is not None else len(q_idx)),
            "relevance": "cos(sFB(q), sFB(p)), banners flattened, as stored (normalize=%s)" % cache.normalize}
    ordered = tuple(report.sorted_rows(rows))  # rows were appended in encoder order
    md = report.task_heading("cbir", info) + "\n\n" + report.cbir_table(ordered, ks)
    return CbirTable(**info, rows=ordered, markdown=md)


# --------------------------------------------------------------------------- SRR


def srr_indices(cache) -> dict[str, np.ndarray]:
    """Labelled cache positions per split: ``{"train", "val", "test"}``."""
    labels = np.asarray(cache.labels)
    return {s: cache.indices(s)[labels[cache.indices(s)] >= 0] for s in ("train", "val", "test")}


def srr_task(cache, tables: dict[str, FeatureTable], specs: Sequence[EncoderSpec],
             probe: ProbeConfig | None = None, ns: Sequence[int] = DEFAULT_NS) -> SrrTable:
    """Acc@n of a probe per encoder (see :mod:`csip.eval.srr`), plus a *class prior* reference
    row (classes ranked by train frequency)."""
    probe = probe or ProbeConfig()
    n_classes = len(PREDICATES)
    idx = srr_indices(cache)
    labels = np.asarray(cache.labels)
    y = {s: labels[i] for s, i in idx.items()}
    if len(idx["train"]) == 0 or len(idx["test"]) == 0:
        raise ValueError(f"SRR needs labelled train and test items (train {len(idx['train'])}, test {len(idx['test'])})")
    rows: list[SrrResult] = [SrrResult(CLASS_PRIOR, "reference", "", "ok", "classes ranked by train frequency",
                                       class_prior_accuracy(y["train"], y["test"], n_classes, ns))]
    for spec in specs:
        if spec.status != "ok" or spec.name not in tables:
            rows.append(SrrResult(*_ids(spec), None, None, _features(spec)))
            continue
        t = tables[spec.name]
        res = evaluate_probe(t.rows(idx["train"]), y["train"], t.rows(idx["test"]), y["test"], n_classes, probe,
                             t.rows(idx["val"]) if len(idx["val"]) else None,
                             y["val"] if len(idx["val"]) else None, ns)
        rows.append(SrrResult(*_ids(spec), res["acc"], ProbeFit(res["best_epoch"], res["val_acc"]), _features(spec)))
    info = {"probe": probe.to_json(), "ns": tuple(ns), "n_classes": n_classes, "classes": tuple(PREDICATES),
            "n_train": int(len(idx["train"])), "n_val": int(len(idx["val"])), "n_test": int(len(idx["test"])),
            "test_class_counts": tuple(np.bincount(y["test"], minlength=n_classes).tolist())}
    ordered = tuple(report.sorted_rows(rows))  # rows were appended in encoder order
    md = report.task_heading("srr", info) + "\n\n" + report.srr_table(ordered, ns)
    return SrrTable(**info, rows=ordered, markdown=md)


# --------------------------------------------------------------------------- VQA


def vqa_questions(cache) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """``(texts, item positions (Q,), answers bool (Q,), split of each question's item (Q,))``."""
    qs = cache.questions()
    texts = [str(q["text"]) for q in qs]
    items = np.asarray([int(q["index"]) for q in qs], dtype=np.int64)
    answers = np.asarray([bool(q["answer"]) for q in qs], dtype=bool)
    split = np.asarray(cache.split)[items].astype(np.int64) if len(items) else np.zeros(0, np.int64)
    return texts, items, answers, split


def vqa_task(cache, tables: dict[str, FeatureTable], specs: Sequence[EncoderSpec], text_encoder: TextEncoder,
             config: VQAConfig | None = None, image_names: Sequence[str] = (),
             encoder_names: Sequence[str] | None = None) -> VqaTable:
    """Table 3's rows: text only; each encoder + text; each ``image_names`` encoder + each C-SIP
    encoder + text (two image encoders fused with the text). ``encoder_names``: which encoders
    get an "E + text" row (default: all that are ok)."""
    config = config or VQAConfig()
    texts, items, answers, split = vqa_questions(cache)
    eval_note = ""
    if not (split == 2).any() and (split == 1).any():  # e.g. GQA's train + val: score on val
        split = np.where(split == 1, 2, split)
        eval_note = "No test split in the cache: the validation questions are the test set (no epoch selection)."
    text = text_encoder.encode(texts)  # (Q, T); each distinct text embedded once
    ok = [s for s in specs if s.status == "ok" and s.name in tables]
    by_name = {s.name: s for s in specs}
    rows: list[VqaResult] = []

    def run(name: str, inputs: list[str], note: str = "") -> None:
        ims = [tables[n].rows(items) for n in inputs]
        res = train_eval_vqa(text, ims, answers, split, config)
        head = HeadFit(res["val_accuracy"], res["best_epoch"], res["n_train"], res["n_val"], res["n_test"],
                       res["test_yes_rate"])
        rows.append(VqaResult(name, ("text", *inputs), "ok", note, res["accuracy"],
                              tuple(by_name[n].group for n in inputs), head))

    run(TEXT_ONLY, [])
    for s in specs:
        if encoder_names is not None and s.name not in encoder_names:
            continue
        if s.status == "ok" and s.name in tables:
            run(f"{s.name} + text", [s.name], f"{s.group} {model_display(s.model)}" if s.group in ("supervised", "C-SIP") else "")
        else:
            rows.append(VqaResult(f"{s.name} + text", ("text", s.name), s.status, s.note, None))
    csip = [s for s in ok if s.group == "C-SIP"]
    for im in image_names:
        for c in csip:
            if im != c.name:
                run(f"{im} + {c.name} + text", [im, c.name], "two image encoders fused with the text")
    n_tr, n_va, n_te = (int((split == s).sum()) for s in (0, 1, 2))
    info = {"head": config.to_json(), "text_encoder": str(text_encoder.path), "text_dim": int(text.shape[1]),
            "n_questions": int(len(texts)), "n_distinct_texts": int(len(set(texts))),
            "n_train": n_tr, "n_val": n_va, "n_test": n_te,
            "test_yes_rate": float(answers[split == 2].mean()) if n_te else None,
            "image_encoders_for_pairs": tuple(image_names)}
    md = report.task_heading("vqa", info) + "\n\n" + report.vqa_table(rows)
    if not csip or not image_names:
        md += ("\n\nNo image + C-SIP + text rows: " + ("no C-SIP encoder." if not csip else
               "no 'image' encoder (give --imagenet-resnet18/--imagenet-resnet50, or --vqa-image NAME)."))
    if eval_note:
        md += "\n\n" + eval_note
    if n_te:
        md += f"\n\nTest answers: {100 * info['test_yes_rate']:.1f}% yes (majority class: " \
              f"{100 * max(info['test_yes_rate'], 1 - info['test_yes_rate']):.2f}%)."
    return VqaTable(**info, eval_note=eval_note or None, rows=tuple(rows), markdown=md)


# --------------------------------------------------------------------------- figures


def item_view(cache, i: int, caption: str = "") -> dict:
    """What the figures draw of cache item ``i``: image (S, S, 3), both masks, sFB, caption."""
    m = cache.masks(int(i))
    return {"image": np.asarray(cache.images[int(i)]).transpose(1, 2, 0), "mask_a": m[0], "mask_b": m[1],
            "sfb": np.asarray(cache.sfb[int(i)]), "caption": caption}


def label_name(cache, i: int) -> str:
    lab = int(cache.labels[int(i)])
    return PREDICATES[lab] if 0 <= lab < len(PREDICATES) else "?"


def sfb_examples_figure(cache, path: str | Path, n: int = 4, split: str = "test") -> Path:
    """Fig. 2: ``n`` items of ``split`` (one per relation label first, for variety): image with
    both masks, each mask, and the sFB."""
    idx = split_indices(cache, split)
    if len(idx) == 0:
        idx = cache.indices(None)
    labels = np.asarray(cache.labels)[idx]
    pick: list[int] = []
    seen: set[int] = set()
    for p, lab in zip(idx, labels):
        if int(lab) not in seen:
            seen.add(int(lab))
            pick.append(int(p))
        if len(pick) == n:
            break
    for p in idx:
        if len(pick) >= n:
            break
        if int(p) not in pick:
            pick.append(int(p))
    rows = [item_view(cache, p, f"#{p} {cache.ids[p]} ({label_name(cache, p)})") for p in pick]
    return sfb_figure(rows, cache.forces, path, title="symmetric Force Banners (A orange, B blue)")


def retrieval_figure(cache, table: FeatureTable, path: str | Path, name: str, split: str = "test",
                     gallery: str | None = None, n_queries: int = 3, k: int = 4, seed: int = 0) -> Path:
    """Fig. 3: ``n_queries`` seeded random queries of ``split`` and their top-``k`` items by
    feature cosine, each with its sFB; captions give the feature cosine and the relevance."""
    q_idx, g_idx = cbir_indices(cache, split, gallery)
    g_idx = q_idx if g_idx is None else g_idx
    rng = np.random.default_rng(seed)
    qs = np.sort(rng.choice(q_idx, size=min(n_queries, len(q_idx)), replace=False))
    gpos = {int(p): j for j, p in enumerate(g_idx)}
    top, scores = top_k(table.rows(qs), table.rows(g_idx), k, exclude=[gpos.get(int(p)) for p in qs])
    sfb_g = np.asarray(cache.sfb[g_idx]).reshape(len(g_idx), -1)
    out = []
    for qi, p in enumerate(qs):
        sq = np.asarray(cache.sfb[int(p)]).reshape(-1)
        res = []
        for j, s in zip(top[qi], scores[qi]):
            gp = int(g_idx[j])
            sg = sfb_g[j]
            rel = float(sq @ sg / max(np.linalg.norm(sq) * np.linalg.norm(sg), 1e-12))
            res.append(item_view(cache, gp, f"#{gp} {label_name(cache, gp)}\ncos {s:.2f}  rel {rel:.2f}"))
        out.append({"query": item_view(cache, int(p), f"query #{int(p)} {label_name(cache, int(p))}"), "results": res})
    return retrieval_grid(out, cache.forces, path, title=f"CBIR with {name}: query (red) and top {k}")


_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
            "tab:gray", "tab:olive", "tab:cyan"]


def acc_plot(srr: SrrTable, path: str | Path) -> Path:
    """Fig. 4: Acc@n per encoder; solid C-SIP, dashed supervised, dotted baselines; one colour
    per Table 1 model where the model is shared."""
    styles = {"C-SIP": "solid", "supervised": "dashed"}
    colours: dict[str, str] = {}
    curves = []
    for r in srr.rows:
        if r.status != "ok" or not r.acc:
            continue
        key = r.model or r.name
        if key not in colours:
            colours[key] = _COLOURS[len(colours) % len(_COLOURS)]
        label = r.name if r.group in ("reference", "pre-trained") else f"{r.name} ({r.group})"
        curves.append({"name": label, "ns": list(srr.ns), "values": [r.acc[n] for n in srr.ns],
                       "style": styles.get(r.group, "dotted"),
                       "color": "black" if r.group == "reference" else colours[key]})
    return acc_at_n_plot(curves, path, title="SRR: Acc@n (solid C-SIP, dashed supervised, dotted baselines)")


__all__ = ["acc_plot", "cbir_indices", "cbir_task", "item_view", "retrieval_figure", "sfb_examples_figure",
           "split_indices", "srr_indices", "srr_task", "vqa_questions", "vqa_task"]
