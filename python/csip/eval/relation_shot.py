"""Zero-shot and k-shot relation recognition from layouts, with C-SIP's banner tower as the prompt.

C-SIP trains an image tower ``g_v∘f_v`` and a banner tower ``g_u∘f_u`` into one space. Here each
predicate's **prototype** is the mean of the L2-normalised banner-tower embeddings of a set of
layouts, L2-normalised again; an image is classified by the cosine of its (L2-normalised) image
embedding to each prototype. No classifier is trained on image labels. The layouts come from:

- **zero-shot**: the canonical layouts of :mod:`csip.eval.layouts` (drawn from each predicate's
  definition on a canvas of the cache's image size), their banners computed by ``csip_core.sfb``
  with the cache's own descriptor (forces, angles, normalisation: what the cache's banners are);
- **k-shot** (k ∈ :data:`KS`): k labelled banners per class from the train split (labels on
  layouts, none on images), drawn without replacement with the evaluation's seed, over
  :data:`EPISODES` draws (the accuracies are the mean over the draws). A class with fewer than k
  labelled train items uses all it has, and the table's notes say so; a class with none has no
  prototype and is never predicted (:func:`sample_shots`).

Scores are reported as Acc@n (n = 1..5) on the labelled test items, over the nine predicates and
over the six classes a symmetric banner can tell apart (:func:`csip.eval.layouts.merged_classes`:
left/right, above/under and in front of/behind merged). A merged class's score is its best
member's score (cosine, probe logit); the class prior ranks merged classes by their summed train
frequency.

Beside them, per row: the **linear probe** on the row's image features (the SRR probe, same
settings and seed, so the same numbers as the SRR table), and the **layout side** alone: the
test items' own banners through the banner tower, classified by the same prototypes (an upper
bound of what the image side can reach through the prototypes). Zero-shot accuracy on the val
split is the check of the canonical layouts (they are never tuned on test).

Rows: every C-SIP checkpoint (a checkpoint file or run directory: an exported encoder has no
banner tower and is skipped, with a note), each beside a **random-init** twin (both towers of
the same config with seeded random weights); other encoders are skipped with a note; a *class
prior* reference row ranks the classes by train frequency.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..base.files import json_ready
from ..data import PREDICATES
from ..descriptor import DescriptorParams, sfb
from .layouts import canonical_layouts, merged_classes
from .report import markdown_table, pct, sorted_rows
from .srr import CLASS_PRIOR, DEFAULT_NS, ProbeConfig, accuracy_at_n, srr_indices, train_probe
from .task import Task, TaskContext, TaskTable, row_features, row_ids

#: Shots per class of the k-shot prototypes.
KS: tuple[int, ...] = (1, 4, 16)
#: Draws of the k-shot items (the accuracies are their mean).
EPISODES = 5
#: The prototype sources, in table order.
SOURCES: tuple[str, ...] = ("zero-shot", *(f"{k}-shot" for k in KS))
#: The methods of the image side's table: the prototype sources and the probe.
METHODS: tuple[str, ...] = (*SOURCES, "probe")


# --------------------------------------------------------------------------- the maths


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` ``(n, E)`` divided by their L2 norm (a zero row stays zero)."""
    x = np.asarray(x, np.float64)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def prototypes(emb: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Per class, the L2-normalised mean of the L2-normalised rows of ``emb`` ``(n, E)`` whose
    label (``(n,)`` in ``0..n_classes-1``) is that class → ``(n_classes, E)``; NaN for a class
    without rows."""
    e = l2_normalize(emb)
    y = np.asarray(labels, np.int64)
    out = np.full((n_classes, e.shape[1]), np.nan)
    for c in range(n_classes):
        if np.any(y == c):
            out[c] = e[y == c].mean(0)
    ok = ~np.isnan(out[:, 0])
    out[ok] = l2_normalize(out[ok])
    return out


def cosine_scores(queries: np.ndarray, protos: np.ndarray) -> np.ndarray:
    """Cosine of each query ``(N, E)`` to each prototype ``(C, E)`` → ``(N, C)``; ``-inf`` for a
    prototype that is missing (NaN)."""
    s = l2_normalize(queries) @ np.nan_to_num(protos, nan=0.0).T
    s[:, np.isnan(protos).any(1)] = -np.inf
    return s


def merge_scores(scores: np.ndarray, of: np.ndarray, n_merged: int) -> np.ndarray:
    """Scores ``(N, C)`` of the classes → ``(N, M)`` of the merged classes (``of`` ``(C,)``: the
    merged class of each class): the best member's score."""
    return np.stack([scores[:, of == m].max(1) for m in range(n_merged)], 1)


def prior_scores(y_train: np.ndarray, n: int, n_classes: int, of: np.ndarray | None = None) -> np.ndarray:
    """Class-prior scores ``(n, C)`` (or ``(n, M)`` merged by ``of``: summed frequencies): train
    frequencies, ties broken by class index (a tiny decreasing offset)."""
    counts = np.bincount(np.asarray(y_train, np.int64), minlength=n_classes).astype(np.float64)
    if of is not None:
        counts = np.bincount(of, weights=counts, minlength=int(of.max()) + 1)
    return np.tile(counts - 1e-6 * np.arange(len(counts)), (n, 1))


def sample_shots(labels: np.ndarray, k: int, n_classes: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Positions (into ``labels``, ``(n,)``) of ``k`` items per class drawn without replacement by
    ``rng``, class by class, and notes on the classes that have fewer: such a class gives all its
    items (its note says how many), a class with none gives no prototype (its note says it is never
    predicted). ``ValueError`` for ``k < 1``."""
    if int(k) < 1:
        raise ValueError(f"k-shot needs k >= 1, got {k}")
    y = np.asarray(labels, np.int64)
    picks, notes = [], []
    for c in range(n_classes):
        have = np.flatnonzero(y == c)
        if len(have) < k:
            notes.append(f"{k}-shot: {PREDICATES[c] if n_classes == len(PREDICATES) else c!r} has "
                         + (f"{len(have)} labelled train items, all used" if len(have) else
                            "no labelled train item: no prototype, never predicted"))
        picks.append(have if len(have) <= k else rng.choice(have, size=int(k), replace=False))
    return np.sort(np.concatenate(picks)).astype(np.int64), notes


def accuracies(scores: np.ndarray, labels: np.ndarray, of: np.ndarray, ns: Sequence[int]) -> tuple[dict, dict]:
    """Acc@n over the classes and over the merged classes (``of``: the merged class of each
    class) of ``scores`` ``(N, C)`` for true classes ``labels`` ``(N,)``; a ``-inf`` score (no
    prototype) ranks last."""
    y = np.asarray(labels, np.int64)
    merged = merge_scores(scores, of, int(of.max()) + 1)
    return (accuracy_at_n(np.maximum(scores, -1e30), y, ns), accuracy_at_n(np.maximum(merged, -1e30), of[y], ns))


# --------------------------------------------------------------------------- the towers


def load_csip_model(source: str | Path):
    """Both towers of a C-SIP checkpoint file or run directory → ``(CSIPModel, model config)``
    (eval mode, CPU), or ``(None, why)`` when ``source`` holds no banner tower
    (:func:`csip.models.towers.load_towers` and :func:`~csip.models.towers.towers_config`)."""
    from ..models.towers import NoBannerTower, load_towers, towers_config

    try:
        return load_towers(source), towers_config(source)
    except NoBannerTower as exc:
        return None, str(exc)


def random_twin(config: dict, seed: int):
    """A C-SIP model of ``config`` (both towers) with seeded random weights, in eval mode."""
    from ..models.towers import random_towers

    return random_towers(config, seed)


def embed_banners(model, banners: np.ndarray, device: str = "cpu", batch: int = 512) -> np.ndarray:
    """Banner-tower embeddings ``(n, E)`` float64 of banners ``(n, R, K)``
    (:func:`csip.models.towers.embed_banners`)."""
    from ..models import towers

    return towers.embed_banners(model, banners, batch, device).astype(np.float64)


@torch.no_grad()
def image_embeddings(model, pre: np.ndarray, device: str = "cpu") -> np.ndarray:
    """The image tower's shared-space embedding ``g_v`` of f_v features ``(n, D)`` → ``(n, E)``."""
    head = model.image_head.to(device)
    return head(torch.as_tensor(np.asarray(pre, np.float32)).to(device)).float().cpu().numpy().astype(np.float64)


def canonical_banners(size: int, desc: Mapping) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The canonical layouts' banners ``(L, R, K)`` (``csip_core.sfb`` with the cache's descriptor
    ``desc``, as in its manifest), their labels ``(L,)`` and names."""
    params = DescriptorParams.from_json(dict(desc))
    lays = [(PREDICATES.index(p), lay) for p, ls in canonical_layouts(size).items() for lay in ls]
    banners = np.stack([sfb(lay.mask_a, lay.mask_b, params) for _, lay in lays])
    return banners, np.array([c for c, _ in lays], np.int64), tuple(lay.name for _, lay in lays)


# --------------------------------------------------------------------------- rows and table


@dataclass(frozen=True)
class ShotRow:
    """One row: Acc@n per method (``image``: image queries, :data:`METHODS`; ``banner``: the test
    items' banners as queries, :data:`SOURCES`), over 9 and 6 classes (``…6``), and the zero-shot
    Acc@1 on val (9 / 6 classes). None where the row did not run."""

    name: str
    group: str
    model: str
    status: str
    note: str
    image: dict[str, dict[int, float]] | None = None
    image6: dict[str, dict[int, float]] | None = None
    banner: dict[str, dict[int, float]] | None = None
    banner6: dict[str, dict[int, float]] | None = None
    val_zero: tuple[float, float] | None = None
    features: str | None = None

    METRICS = ("image", "image6", "banner", "banner6")

    def to_json(self) -> dict:
        return json_ready(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, d: Mapping) -> ShotRow:
        kw = dict(d)
        for key in cls.METRICS:
            if kw.get(key) is not None:
                kw[key] = {m: {int(n): v for n, v in acc.items()} for m, acc in kw[key].items()}
        if kw.get("val_zero") is not None:
            kw["val_zero"] = tuple(kw["val_zero"])
        return cls(**kw)


@dataclass(frozen=True)
class ZeroshotTable(TaskTable):
    """The task's table: settings, split sizes, the canonical layouts' names, notes, rows."""

    ns: tuple[int, ...]
    ks: tuple[int, ...]
    episodes: int
    classes: tuple[str, ...]
    merged: tuple[str, ...]
    layouts: tuple[str, ...]
    n_train: int
    n_val: int
    n_test: int
    notes: tuple[str, ...]
    rows: tuple[ShotRow, ...]
    markdown: str
    ROW = ShotRow


@dataclass
class _Split:
    """The labelled items of the task: positions and labels per split, the class mapping."""

    idx: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    of: np.ndarray
    ns: tuple[int, ...]
    seed: int


def _shot_protos(u_train: np.ndarray, sp: _Split, notes: set[str]) -> dict[str, list[np.ndarray]]:
    """Prototypes of every k-shot source: one per episode, drawn with the eval seed."""
    out = {}
    for k in KS:
        rng = np.random.default_rng([sp.seed, k])
        out[f"{k}-shot"] = []
        for _ in range(EPISODES):
            pick, msg = sample_shots(sp.y["train"], k, len(PREDICATES), rng)
            notes.update(msg)
            out[f"{k}-shot"].append(prototypes(u_train[pick], sp.y["train"][pick], len(PREDICATES)))
    return out


def _mean_acc(queries: np.ndarray, protos: list[np.ndarray], y: np.ndarray, sp: _Split) -> tuple[dict, dict]:
    """Acc@n (9, 6 classes) of ``queries`` by each prototype set of ``protos``, averaged."""
    accs = [accuracies(cosine_scores(queries, p), y, sp.of, sp.ns) for p in protos]
    return ({n: float(np.mean([a[0][n] for a in accs])) for n in sp.ns},
            {n: float(np.mean([a[1][n] for a in accs])) for n in sp.ns})


def _probe_acc(feats: Mapping[str, np.ndarray], sp: _Split, probe: ProbeConfig) -> tuple[dict, dict]:
    """Acc@n (9, 6 classes) of the SRR probe trained on ``feats["train"]`` (val: epoch selection)."""
    has_val = len(sp.y["val"]) > 0
    model, _ = train_probe(feats["train"], sp.y["train"], len(PREDICATES), probe,
                           feats["val"] if has_val else None, sp.y["val"] if has_val else None)
    with torch.no_grad():
        logits = model(torch.as_tensor(np.asarray(feats["test"], np.float32))).numpy()
    return accuracies(logits.astype(np.float64), sp.y["test"], sp.of, sp.ns)


def row_scores(model, feats: Mapping[str, np.ndarray], banners: Mapping[str, np.ndarray], zero: np.ndarray,
               sp: _Split, probe: ProbeConfig, device: str, notes: set[str]) -> dict:
    """Every number of one row. ``feats``: the row's image features per split (what its SRR probe
    reads: f_v, or g_v∘f_v with ``--features embed``: then ``feats["embedded"]`` is True);
    ``banners``: the items' banners per split and ``"canonical"`` ``(L, R, K)``; ``zero``: the
    canonical layouts' labels ``(L,)``."""
    emb = {s: feats[s] if feats.get("embedded") else image_embeddings(model, feats[s], device)
           for s in ("val", "test")}
    u = {s: embed_banners(model, banners[s], device) for s in ("train", "test", "canonical")}
    protos = {"zero-shot": [prototypes(u["canonical"], zero, len(PREDICATES))], **_shot_protos(u["train"], sp, notes)}
    out: dict = {"image": {}, "image6": {}, "banner": {}, "banner6": {}}
    for src in SOURCES:
        out["image"][src], out["image6"][src] = _mean_acc(emb["test"], protos[src], sp.y["test"], sp)
        out["banner"][src], out["banner6"][src] = _mean_acc(u["test"], protos[src], sp.y["test"], sp)
    out["image"]["probe"], out["image6"]["probe"] = _probe_acc(feats, sp, probe)
    if len(sp.y["val"]):
        v9, v6 = _mean_acc(emb["val"], protos["zero-shot"], sp.y["val"], sp)
        out["val_zero"] = (v9[1], v6[1])
    return out


def _features_of(ctx: TaskContext, spec, model, sp: _Split) -> dict:
    """The row's image features per split: the evaluation's own (``ctx.tables``) for a trained
    row, else (the random twin) f_v computed here."""
    if model is None:
        t = ctx.tables[spec.name]
        return {s: t.rows(sp.idx[s]) for s in sp.idx} | {"embedded": row_features(spec) == "embed"}
    from ..models import ImageTower
    from .features import extract

    tower = ImageTower(model.image_encoder, model.image_head, {})
    t = extract(tower, ctx.cache, np.concatenate(list(sp.idx.values())), batch_size=ctx.cfg.batch_size,
                device=ctx.device, workers=ctx.cfg.workers, features=ctx.cfg.features)
    return {s: t.rows(sp.idx[s]) for s in sp.idx} | {"embedded": ctx.cfg.features == "embed"}


def _split(cache, seed: int, ns: Sequence[int]) -> _Split:
    idx = srr_indices(cache)
    labels = np.asarray(cache.labels)
    return _Split(idx, {s: labels[i].astype(np.int64) for s, i in idx.items()}, merged_classes()[1], tuple(ns), seed)


def _csip_rows(ctx: TaskContext, spec, sp: _Split, banners: dict, zero: np.ndarray, probe: ProbeConfig,
               notes: set[str]) -> list[ShotRow]:
    """The rows of one C-SIP encoder: itself, and its random-init twin (or one skipped row)."""
    model, config = load_csip_model(spec.source)
    if model is None:  # then ``config`` says why
        return [ShotRow(*row_ids(spec)[:3], "skipped", str(config), features=row_features(spec))]
    dev = ctx.device
    rows = [ShotRow(*row_ids(spec), **row_scores(model, _features_of(ctx, spec, None, sp), banners, zero, sp, probe,
                                                 dev, notes), features=row_features(spec))]
    twin = random_twin(config, ctx.cfg.seed)
    feats = _features_of(ctx, spec, twin, sp)
    rows.append(ShotRow(f"random-init C-SIP towers ({spec.name})", "random init", spec.model, "ok",
                        f"both towers of {spec.name}'s config, seed {ctx.cfg.seed}",
                        **row_scores(twin, feats, banners, zero, sp, probe, dev, notes), features=ctx.cfg.features))
    return rows


def relation_shot_task(ctx: TaskContext, probe: ProbeConfig, ns: Sequence[int] = DEFAULT_NS) -> ZeroshotTable:
    """The whole table over the encoder rows of ``ctx`` (see the module docstring)."""
    cache = ctx.cache
    sp = _split(cache, ctx.cfg.seed, ns)
    can, zero, names = canonical_banners(cache.image_size, cache.descriptor)
    banners = {s: np.asarray(cache.sfb[sp.idx[s]]) for s in ("train", "test")} | {"canonical": can}
    names6, of = merged_classes()
    notes: set[str] = set()
    rows = [ShotRow(CLASS_PRIOR, "reference", "", "ok", "classes ranked by train frequency (merged: summed)",
                    image={m: accuracy_at_n(prior_scores(sp.y["train"], len(sp.y["test"]), len(PREDICATES)),
                                            sp.y["test"], sp.ns) for m in METHODS},
                    image6={m: accuracy_at_n(prior_scores(sp.y["train"], len(sp.y["test"]), len(PREDICATES), of),
                                             of[sp.y["test"]], sp.ns) for m in METHODS})]
    for spec in ctx.specs:
        if spec.status == "ok" and spec.name in ctx.tables and spec.group == "C-SIP":
            rows += _csip_rows(ctx, spec, sp, banners, zero, probe, notes)
        elif spec.status == "ok":
            rows.append(ShotRow(*row_ids(spec)[:3], "skipped", f"no banner tower ({spec.group} encoder)",
                                features=row_features(spec)))
        else:
            rows.append(ShotRow(*row_ids(spec), features=row_features(spec)))
    table = ZeroshotTable(tuple(ns), KS, EPISODES, tuple(PREDICATES), names6, names, int(len(sp.idx["train"])),
                      int(len(sp.idx["val"])), int(len(sp.idx["test"])), tuple(sorted(notes)),
                      tuple(sorted_rows(rows)), "")
    return dataclasses.replace(table, markdown=shot_markdown(table))


# --------------------------------------------------------------------------- Markdown


def _cells(r: ShotRow, key: str, methods: Sequence[str], n: int) -> list[str]:
    acc = getattr(r, key) if r.status == "ok" else None
    return [pct((acc or {}).get(m, {}).get(n), 1) for m in methods]


def _summary(table: ZeroshotTable, key: str, n: int) -> str:
    """Acc@n per method (columns), one line per row."""
    body = [[r.group, r.name, *_cells(r, key, METHODS, n), r.note] for r in table.rows]
    return markdown_table(["Training", "Encoder", *METHODS, "Note"], ["---", "---", *["---:"] * len(METHODS), "---"],
                          body)


def _at_n(table: ZeroshotTable, key: str) -> str:
    """Acc@1..5 of every (row, method)."""
    body = []
    for r in table.rows:
        if r.status != "ok":
            continue
        for m in (METHODS if r.group != "reference" else METHODS[:1]):
            acc = (getattr(r, key) or {}).get(m, {})
            body.append([r.name, m if r.group != "reference" else "(any)", *[pct(acc.get(n), 1) for n in table.ns]])
    return markdown_table(["Encoder", "Method", *[f"Acc@{n}" for n in table.ns]],
                          ["---", "---", *["---:"] * len(table.ns)], body)


def _layout_side(table: ZeroshotTable) -> str:
    """Acc@1 of the test items' own banners through the banner tower, beside the images'."""
    body = []
    for r in table.rows:
        if r.status != "ok" or r.group == "reference":
            continue
        body.append([r.name, *[f"{pct(r.banner[s][1], 1)} / {pct(r.image[s][1], 1)}" for s in SOURCES],
                     *[f"{pct(r.banner6[s][1], 1)} / {pct(r.image6[s][1], 1)}" for s in SOURCES],
                     pct(r.val_zero[0], 1) if r.val_zero else "—"])
    return markdown_table(["Encoder", *[f"{s} (9)" for s in SOURCES], *[f"{s} (6)" for s in SOURCES],
                           "val zero-shot (9)"], ["---", *["---:"] * (2 * len(SOURCES) + 1)], body)


def _image_adds(table: ZeroshotTable) -> str:
    """One sentence per C-SIP row: what the images add to (or lose from) the layout side, in
    Acc@1 points, and what the probe gains by reading images (it can tell mirror pairs apart)."""
    out = []
    for r in table.rows:
        if r.status != "ok" or r.group != "C-SIP":
            continue
        d = [100 * (r.image[s][1] - r.banner[s][1]) for s in ("zero-shot", f"{table.ks[-1]}-shot")]
        d6 = [100 * (r.image6[s][1] - r.banner6[s][1]) for s in ("zero-shot", f"{table.ks[-1]}-shot")]
        gap = 100 * (r.image["probe"][1] - r.image["zero-shot"][1])
        out.append(f"- {r.name}: images minus own banners, Acc@1 points: zero-shot {d[0]:+.1f} (9 classes), "
                   f"{d6[0]:+.1f} (6); {table.ks[-1]}-shot {d[1]:+.1f} (9), {d6[1]:+.1f} (6). "
                   f"Probe minus zero-shot (9 classes): {gap:+.1f}.")
    return "\n".join(out)


def shot_markdown(table: ZeroshotTable) -> str:
    """The task's section of the report (how to read it: ``docs/layouts.md``)."""
    notes = "".join(f"- {n}\n" for n in table.notes)
    return (f"## Relation recognition from layouts — prototypes of banner-tower embeddings, Acc@n (%); "
            f"train {table.n_train}, val {table.n_val}, test {table.n_test} labelled items\n\n"
            f"Zero-shot: {len(table.layouts)} canonical layouts; k-shot: k ∈ {list(table.ks)} labelled train "
            f"banners per class, mean of {table.episodes} draws; probe: the SRR linear probe on the same "
            "features. 6 classes: " + ", ".join(table.merged) + ".\n\n"
            f"### Acc@1, 9 classes\n\n{_summary(table, 'image', 1)}\n\n"
            f"### Acc@1, 6 classes\n\n{_summary(table, 'image6', 1)}\n\n"
            f"### Acc@1..{max(table.ns)}, 9 classes\n\n{_at_n(table, 'image')}\n\n"
            f"### Acc@1..{max(table.ns)}, 6 classes\n\n{_at_n(table, 'image6')}\n\n"
            "### Layout side: Acc@1 of the test items' own banners / of their images, same prototypes\n\n"
            f"{_layout_side(table)}\n\nWhat the image side adds (negative: the images fall short of the "
            f"banners):\n\n{_image_adds(table)}\n" + (f"\nNotes:\n\n{notes}" if notes else ""))


class ZeroShot(Task):
    """Zero-shot / k-shot relation recognition from layouts (C-SIP rows only; see the module)."""

    name = "zeroshot"
    title = "Relation recognition from layouts"
    table_type = ZeroshotTable
    reference_rows = (CLASS_PRIOR,)
    in_all = False  # opt-in (--task zeroshot), as crossmodal: `all` stays the paper's tasks

    def missing(self, cache, cfg) -> str | None:
        if not cache.has_labels:
            return f"{self.title} needs relation labels, and the cache {cache.path} has none"
        idx = srr_indices(cache)
        if len(idx["train"]) == 0 or len(idx["test"]) == 0:
            return (f"{self.title} needs labelled train and test items; the cache {cache.path} has "
                    f"{len(idx['train'])} labelled train and {len(idx['test'])} labelled test items")
        return None

    def items(self, ctx: TaskContext) -> np.ndarray:
        return np.concatenate(list(srr_indices(ctx.cache).values()))

    def run(self, ctx: TaskContext) -> ZeroshotTable:
        cfg = ctx.cfg
        lr = cfg.probe_lr or (1e-2 if cfg.probe == "linear" else 1e-3)
        return relation_shot_task(ctx, ProbeConfig(kind=cfg.probe, epochs=cfg.probe_epochs, lr=lr, seed=cfg.seed))

    def markdown(self, table: ZeroshotTable) -> str:
        return shot_markdown(table)


__all__ = ["EPISODES", "KS", "METHODS", "SOURCES", "ZeroShot", "ShotRow", "ZeroshotTable", "accuracies",
           "canonical_banners", "cosine_scores", "embed_banners", "l2_normalize", "load_csip_model", "merge_scores",
           "prior_scores", "prototypes", "random_twin", "relation_shot_task", "row_scores", "sample_shots"]
