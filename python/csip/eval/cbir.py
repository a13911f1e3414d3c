"""Content-based image retrieval by spatial configuration: NDCG@k (the paper's eq. 7).

For a query ``q``, the gallery items ``p`` (the query itself excluded) are ranked by the cosine
of the encoder's features, ``cos(f(q), f(p))``. The *relevance* of a returned item is the cosine
of the two symmetric Force Banners, flattened: ``rel(q, p) = cos(sFB(q), sFB(p))`` (banners as
the cache stores them: each force level divided by its max over θ, so every row is
scale-invariant and the relevance lies in [0, 1]). Then

    DCG_k(q)  = Σ_{i=1..k} rel(q, p_i) / log2(i + 1)        (p_i: the item at rank i)
    IDCG_k(q) = the same sum over the ideal ranking (all gallery items sorted by relevance)
    NDCG_k    = mean over queries of DCG_k(q) / IDCG_k(q)

A query whose relevances are all zero (IDCG = 0; never the case with real banners) scores 0,
as in scikit-learn's ``ndcg_score``. Ties in the feature cosine are broken by gallery order
(a stable sort), so results are deterministic.

Everything is a few matrix products: queries are processed in chunks of ``chunk`` rows, so
memory is ``O(chunk × G)`` whatever the number of queries.

The task (:class:`Cbir`, registered as ``"cbir"``) runs this over every encoder row: queries
from ``--split``, gallery ``--gallery`` (default: the queries, each left out), cut-offs ``-k``,
plus a *random ranking* reference row; its typed rows and table (:class:`CbirResult`,
:class:`CbirTable`), its Markdown (Table 2) and its figure (the retrieval grid, Fig. 3) are here.
:func:`checkpoint_ndcg` is the same protocol for one checkpoint (``csip run``'s other features).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> sfb = rng.random((30, 4, 6)).astype(np.float32)
>>> res = ndcg(sfb.reshape(30, -1), sfb, ks=(5,))   # ranking by the banners themselves
>>> round(res[5], 6)
1.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..base.files import json_ready
from ..cache import Cache
from ..models.encoder import load_encoder
from ..viz.figures import retrieval_grid
from .features import FeatureTable, check_finite, extract
from .items import item_view, label_name, split_indices
from .report import metric_table, not_meaningful_line, sorted_rows
from .task import Task, TaskContext, TaskTable, by_cutoff, present, row_features, row_ids

DEFAULT_KS: tuple[int, ...] = (10, 25)


def _unit_rows(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """Rows flattened and L2-normalised, float32 on ``device``: ``(N, ...)`` → ``(N, F)``.

    Float64 accumulation is not needed here: cosines are in [-1, 1] and ranks only need the
    order; all-zero rows stay zero (their cosine with anything is 0).
    """
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    t = t.reshape(t.shape[0], -1).to(device=device, dtype=torch.float32)
    return torch.nn.functional.normalize(t, dim=1, eps=1e-12)


def _row_products(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b.T`` as float32 ``(len(a), len(b))``, each entry independent of how the rows are
    chunked: a float32 product's rounding depends on the kernel the BLAS picks for the matrix
    shape, so it is done in float64 and rounded once (the same float32 whatever the chunk)."""
    return (a.double() @ b.double().T).float()


def _discounts(k: int, device: torch.device) -> torch.Tensor:
    """``1 / log2(i + 1)`` for ranks ``i = 1..k``: ``(k,)``."""
    i = torch.arange(1, k + 1, device=device, dtype=torch.float64)
    return (1.0 / torch.log2(i + 1.0)).to(torch.float32)


def ndcg_per_query(
    features: np.ndarray | torch.Tensor,
    sfb: np.ndarray | torch.Tensor,
    ks: Sequence[int] = DEFAULT_KS,
    gallery_features: np.ndarray | torch.Tensor | None = None,
    gallery_sfb: np.ndarray | torch.Tensor | None = None,
    query_ids: np.ndarray | None = None,
    gallery_ids: np.ndarray | None = None,
    chunk: int = 1024,
    device: str | torch.device | None = None,
) -> dict[int, np.ndarray]:
    """NDCG@k of every query: ``{k: float64 (Q,)}``.

    - ``features`` ``(Q, D)`` and ``sfb`` ``(Q, R, K)`` (or ``(Q, R·K)``): the queries.
    - ``gallery_features`` ``(G, D)`` / ``gallery_sfb``: what is searched; by default the
      queries themselves (leave-one-out retrieval within one split, the paper's protocol).
    - ``query_ids`` ``(Q,)`` / ``gallery_ids`` ``(G,)``: item identities (e.g. cache
      positions); a gallery item with the query's id is excluded. Without a gallery, query
      ``i`` excludes gallery item ``i``. With a gallery and no ids, nothing is excluded.
    - ``k`` larger than the gallery items a query sees (the gallery less the items with its id)
      is clipped to them, query by query.
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    fq, sq, fg, sg = _unit_queries_and_gallery(features, sfb, gallery_features, gallery_sfb, dev)
    same = gallery_features is None
    q, g = fq.shape[0], fg.shape[0]
    qid, gid = _identities(same, q, g, query_ids, gallery_ids, dev)
    if (g - 1 if (same or qid is not None) else g) < 1:
        raise ValueError(f"NDCG needs at least one gallery item besides the query (gallery of {g})")
    # ranks past a query's visible items add 0 to its DCG and ideal DCG alike (its own items are
    # masked), so one kmax serves queries in the gallery and queries outside it
    kmax = min(max(ks), g - 1 if same else g)
    disc = _discounts(kmax, dev)
    out = {k: np.empty(q, dtype=np.float64) for k in ks}
    chunk = max(1, int(chunk))
    for start in range(0, q, chunk):
        stop = min(q, start + chunk)
        rows = slice(start, stop)
        self_mask = None if qid is None else qid[rows, None] == gid[None, :]
        dcg, idcg = _dcg_and_ideal(fq[rows], sq[rows], fg, sg, self_mask, disc)
        for k in ks:
            kk = min(k, kmax) - 1
            num, den = dcg[:, kk], idcg[:, kk]
            val = torch.where(den > 0, num / den.clamp_min(1e-30), torch.zeros_like(num))
            out[k][start:stop] = val.double().cpu().numpy()
    return out


def _unit_queries_and_gallery(features, sfb, gallery_features, gallery_sfb,
                              dev: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(fq (Q, D), sq (Q, R·K), fg (G, D), sg (G, R·K))``: queries' and gallery's features and
    banners as unit float32 rows on ``dev`` (the gallery is the queries when none is given);
    ``ValueError`` when their counts or sizes disagree."""
    fq = _unit_rows(features, dev)
    sq = _unit_rows(sfb, dev)
    if fq.shape[0] != sq.shape[0]:
        raise ValueError(f"{fq.shape[0]} feature rows but {sq.shape[0]} banners")
    same = gallery_features is None
    if same != (gallery_sfb is None):
        raise ValueError("give both gallery_features and gallery_sfb, or neither")
    fg = fq if same else _unit_rows(gallery_features, dev)
    sg = sq if same else _unit_rows(gallery_sfb, dev)
    if fg.shape[0] != sg.shape[0]:
        raise ValueError(f"{fg.shape[0]} gallery feature rows but {sg.shape[0]} gallery banners")
    if fq.shape[1] != fg.shape[1] or sq.shape[1] != sg.shape[1]:
        raise ValueError("queries and gallery have different feature or banner sizes")
    return fq, sq, fg, sg


def _identities(same: bool, q: int, g: int, query_ids: np.ndarray | None, gallery_ids: np.ndarray | None,
                dev: torch.device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(qid (Q,), gid (G,))`` int64: the identities that exclude a query's own item from its
    ranking (positions when the gallery is the queries), or ``(None, None)``: nothing excluded."""
    if same:
        return torch.arange(q, device=dev), torch.arange(g, device=dev)
    if query_ids is not None and gallery_ids is not None:
        return (torch.as_tensor(np.asarray(query_ids, dtype=np.int64), device=dev),
                torch.as_tensor(np.asarray(gallery_ids, dtype=np.int64), device=dev))
    return None, None


def _dcg_and_ideal(fq: torch.Tensor, sq: torch.Tensor, fg: torch.Tensor, sg: torch.Tensor,
                   self_mask: torch.Tensor | None, disc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(DCG, IDCG)``, each ``(c, kmax)`` cumulated over ranks 1..kmax (``kmax = len(disc)``),
    of a chunk of ``c`` queries (unit rows ``fq``, ``sq``) against the gallery (``fg``, ``sg``).
    ``self_mask`` ``(c, G)``: gallery items each query must not see (its own), or ``None``."""
    kmax = disc.shape[0]
    sim = _row_products(fq, fg)  # (c, G) ranking scores
    rel = _row_products(sq, sg)  # (c, G) relevance
    if self_mask is not None:
        neg = torch.tensor(float("-inf"), device=sim.device)
        sim = torch.where(self_mask, neg, sim)
        rel_rank = torch.where(self_mask, neg, rel)
    else:
        rel_rank = rel
    order = torch.sort(sim, dim=1, descending=True, stable=True).indices[:, :kmax]
    got = torch.gather(rel, 1, order)  # (c, kmax) relevance in the model's ranking
    ideal = torch.topk(rel_rank, kmax, dim=1, sorted=True).values  # (c, kmax)
    if self_mask is not None:
        # a query whose id matches several gallery items loses them all; pad with 0
        ideal = torch.where(torch.isinf(ideal), torch.zeros_like(ideal), ideal)
        got = torch.where(torch.gather(self_mask, 1, order), torch.zeros_like(got), got)
    return torch.cumsum(got * disc, dim=1), torch.cumsum(ideal * disc, dim=1)


def ndcg(
    features: np.ndarray | torch.Tensor,
    sfb: np.ndarray | torch.Tensor,
    ks: Sequence[int] = DEFAULT_KS,
    **kwargs,
) -> dict[int, float]:
    """Mean NDCG@k over queries: ``{k: float}`` (see :func:`ndcg_per_query` for the arguments)."""
    per = ndcg_per_query(features, sfb, ks, **kwargs)
    return {k: float(v.mean()) if v.size else float("nan") for k, v in per.items()}


def ndcg_bruteforce(features: np.ndarray, sfb: np.ndarray, k: int) -> float:
    """Reference loop implementation (slow; for tests): leave-one-out NDCG@k over all rows."""
    f = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    s = np.asarray(sfb, dtype=np.float64).reshape(len(sfb), -1)

    def cos(a, b):
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        return 0.0 if na == 0 or nb == 0 else float(a @ b / (na * nb))

    n = len(f)
    scores = []
    for qi in range(n):
        others = [j for j in range(n) if j != qi]
        sims = [cos(f[qi], f[j]) for j in others]
        rels = [cos(s[qi], s[j]) for j in others]
        ranked = sorted(range(len(others)), key=lambda t: -sims[t])  # Python's sort is stable
        kk = min(k, len(others))
        dcg = sum(rels[ranked[i]] / np.log2(i + 2) for i in range(kk))
        ideal = sorted(rels, reverse=True)
        idcg = sum(ideal[i] / np.log2(i + 2) for i in range(kk))
        scores.append(dcg / idcg if idcg > 0 else 0.0)
    return float(np.mean(scores))


def top_k(
    query_features: np.ndarray | torch.Tensor,
    gallery_features: np.ndarray | torch.Tensor,
    k: int,
    exclude: Sequence[int | None] | None = None,
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` gallery items closest (cosine) to each query: ``(indices (Q, k), scores (Q, k))``.

    ``exclude[i]``: a gallery row to leave out for query ``i`` (e.g. the query itself), or None.
    Ties are broken by gallery order.
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    fq = _unit_rows(query_features, dev)
    fg = _unit_rows(gallery_features, dev)
    sim = fq @ fg.T
    if exclude is not None:
        for i, j in enumerate(exclude):
            if j is not None and 0 <= int(j) < sim.shape[1]:
                sim[i, int(j)] = float("-inf")
    k = min(int(k), sim.shape[1] - (1 if exclude is not None and any(j is not None for j in exclude) else 0))
    srt = torch.sort(sim, dim=1, descending=True, stable=True)
    return srt.indices[:, :k].cpu().numpy(), srt.values[:, :k].double().cpu().numpy()


# --------------------------------------------------------------------------- the task


#: The reference row of the CBIR table: seeded random features (what NDCG is worth without information).
RANDOM_RANKING = "random ranking"


@dataclass(frozen=True)
class CbirResult:
    """One encoder's CBIR row: NDCG@k per cut-off k (None when the row was not run).
    ``features``: what was ranked, ``"pre"`` (f_v) or ``"embed"`` (g_v∘f_v); None for the
    reference and skipped rows."""

    name: str
    group: str
    model: str
    status: str  # "ok", "skipped" or "failed"
    note: str
    ndcg: dict[int, float] | None
    features: str | None = None

    def to_json(self) -> dict:
        return json_ready({"name": self.name, "group": self.group, "model": self.model, "status": self.status,
                           "note": self.note, "ndcg": self.ndcg, **present([("features", self.features)])})

    @classmethod
    def from_json(cls, d: Mapping) -> CbirResult:
        return cls(d["name"], d["group"], d["model"], d["status"], d["note"], by_cutoff(d.get("ndcg")),
                   d.get("features"))


@dataclass(frozen=True)
class CbirTable(TaskTable):
    """CBIR: NDCG@k of every encoder; queries from ``split``, gallery ``gallery`` (None: the
    query split, the query left out)."""

    split: str
    gallery: str | None
    ks: tuple[int, ...]
    n_queries: int
    n_gallery: int
    relevance: str
    rows: tuple[CbirResult, ...]
    markdown: str
    # the cut-offs k with fewer than k candidates per query (NDCG@k is then NDCG of the whole
    # gallery, 100 with one candidate) and why: the table is flagged, those columns get no bold
    short_ks: tuple[int, ...] | None = None
    not_meaningful: str | None = None
    ROW = CbirResult
    OPTIONAL = ("short_ks", "not_meaningful")


def cbir_indices(cache, split: str = "test", gallery: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(query positions, gallery positions or None)`` of the CBIR protocol."""
    q = split_indices(cache, split)
    g = None if gallery is None else split_indices(cache, gallery)
    return q, g


def _random_ranking(q_idx: np.ndarray, g_idx: np.ndarray | None, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Seeded random features ``(Q, 64)`` of the queries and ``(G, 64)`` of the gallery (None
    without one); an item both query and gallery item gets the same vector in both."""
    rng = np.random.default_rng(seed)
    rq = rng.standard_normal((len(q_idx), 64)).astype(np.float32)
    rg = None if g_idx is None else rng.standard_normal((len(g_idx), 64)).astype(np.float32)
    if g_idx is not None:
        pos = {int(p): i for i, p in enumerate(g_idx)}
        for i, p in enumerate(q_idx):
            if int(p) in pos:
                rq[i] = rg[pos[int(p)]]
    return rq, rg


def short_cutoffs(ks: Sequence[int], q_idx: np.ndarray, g_idx: np.ndarray | None,
                  split: str, gallery: str | None) -> tuple[tuple[int, ...], str | None]:
    """``(the cut-offs k of ks with fewer than k candidates per query, why)``: a query ranks
    the gallery less itself (the query split when ``gallery`` is None), so NDCG@k needs a
    gallery of more than k items; ``((), None)`` when every k is measured."""
    n_g = len(q_idx) if g_idx is None else len(g_idx)
    overlap = g_idx is None or bool(np.isin(q_idx, g_idx).any())
    candidates = n_g - 1 if overlap else n_g
    short = tuple(int(k) for k in ks if k > candidates)
    if not short:
        return (), None
    where = f"the {split} split" if gallery is None else f"the gallery ({gallery} split)"
    need = ", ".join(f"NDCG@{k} needs at least {k + 1 if overlap else k}" for k in short)
    return short, (f"{where} has {n_g} items, {candidates} candidate{'s' if candidates != 1 else ''} per query "
                   f"({need}); these columns rank the whole gallery")


def cbir_task(cache, tables: dict[str, FeatureTable], specs: Sequence, split: str = "test",
              gallery: str | None = None, ks: Sequence[int] = DEFAULT_KS, chunk: int = 1024,
              device: str | None = None, seed: int = 0) -> CbirTable:
    """NDCG@k of every encoder (``tables``: features by row; ``specs``: the rows, skipped ones
    included), plus a *random ranking* reference row (seeded random features: what NDCG is
    worth without any information, which is far from 0 because banner cosines are all
    positive)."""
    q_idx, g_idx = cbir_indices(cache, split, gallery)
    if len(q_idx) < 2 and g_idx is None:
        raise ValueError(f"CBIR needs at least 2 items in the {split} split, found {len(q_idx)}")
    q_sfb = np.asarray(cache.sfb[q_idx])
    kw = dict(ks=ks, chunk=chunk, device=device)
    if g_idx is not None:
        kw.update(gallery_sfb=np.asarray(cache.sfb[g_idx]), query_ids=q_idx, gallery_ids=g_idx)

    def score(table_q: np.ndarray, table_g: np.ndarray | None) -> dict[int, float]:
        extra = {} if g_idx is None else {"gallery_features": table_g}
        return ndcg(table_q, q_sfb, **kw, **extra)

    rows = [CbirResult(RANDOM_RANKING, "reference", "", "ok", f"random features, seed {seed}",
                       score(*_random_ranking(q_idx, g_idx, seed)))]
    for spec in specs:
        if spec.status != "ok" or spec.name not in tables:
            rows.append(CbirResult(*row_ids(spec), None, row_features(spec)))
            continue
        t = tables[spec.name]
        nd = score(t.rows(q_idx), None if g_idx is None else t.rows(g_idx))
        rows.append(CbirResult(*row_ids(spec), nd, row_features(spec)))
    short, flag = short_cutoffs(ks, q_idx, g_idx, split, gallery)
    table = CbirTable(split=split, gallery=gallery, ks=tuple(ks), n_queries=int(len(q_idx)),
                      n_gallery=int(len(g_idx) if g_idx is not None else len(q_idx)),
                      relevance=f"cos(sFB(q), sFB(p)), banners flattened, as stored (normalize={cache.normalize})",
                      rows=tuple(sorted_rows(rows)), markdown="",  # rows were appended in encoder order
                      short_ks=short or None, not_meaningful=flag)
    return dataclasses.replace(table, markdown=cbir_markdown(table))


def cbir_table(rows: Sequence[CbirResult], ks: Sequence[int], plain: Sequence[int] = ()) -> str:
    """Markdown table of NDCG@k (percent, like the paper's Table 2); no bold in ``plain``'s columns."""
    return metric_table(rows, "ndcg", ks, "NDCG@", 1, plain)


def cbir_markdown(table: CbirTable) -> str:
    """The CBIR section of the report: what was measured, on which items, and the table."""
    gal = table.gallery or table.split
    return (f"## CBIR — NDCG@k (%), queries: {table.split} split ({table.n_queries}), "
            f"gallery: {gal} ({table.n_gallery}), query excluded; relevance cos(sFB(q), sFB(p))"
            "\n\n" + not_meaningful_line(table.not_meaningful) + cbir_table(table.rows, table.ks, table.short_ks or ()))


def best_row(rows: Sequence[CbirResult], k: int) -> str | None:
    """The best C-SIP row by NDCG@k, else the best non-reference row."""
    ok = [r for r in rows if r.status == "ok" and r.group != "reference"]
    pool = [r for r in ok if r.group == "C-SIP"] or ok
    return max(pool, key=lambda r: (r.ndcg or {}).get(k, -1.0)).name if pool else None


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


def checkpoint_ndcg(cache_dir: str | Path, checkpoint: str | Path, split: str = "test", features: str = "pre",
                    device: str | None = None, ks: Sequence[int] = DEFAULT_KS) -> dict[int, float]:
    """CBIR NDCG@k (fractions) of one trained encoder (a checkpoint, run directory or export)
    ranked by ``features`` (``"pre"`` or ``"embed"``), with the protocol of the task (queries =
    gallery = ``split``, the query left out): what ``csip run`` reports for the feature kind its
    evaluations did not use."""
    cache = Cache(cache_dir)
    q = cache.indices(split)
    table = extract(load_encoder(checkpoint, map_location="cpu"), cache, q, device=device, features=features)
    check_finite(table, features, str(checkpoint))
    return {k: float(v) for k, v in ndcg(table.rows(q), np.asarray(cache.sfb[q]), ks=ks).items()}


class Cbir(Task):
    """Content-based image retrieval (Table 2): NDCG@k of every encoder, options ``--split``,
    ``--gallery``, ``-k``; figure: the retrieval grid (``--grid-encoder``, ``--grid-k``)."""

    name = "cbir"
    title = "CBIR"
    table_type = CbirTable
    optional = False  # a cache too small for it fails the evaluation, even under --task all
    figure_files = ("fig_retrieval.png",)
    reference_rows = (RANDOM_RANKING,)

    def missing(self, cache, cfg) -> str | None:
        nq = len(cache.indices(None if cfg.split == "all" else cfg.split))
        if nq >= (2 if cfg.gallery is None else 1):
            return None
        hint = "" if cfg.split == "all" else " (try --split all)"
        return f"CBIR needs at least 2 items in the {cfg.split!r} split of {cache.path}, found {nq}{hint}"

    def items(self, ctx: TaskContext) -> np.ndarray:
        q, g = cbir_indices(ctx.cache, ctx.cfg.split, ctx.cfg.gallery)
        return q if g is None else np.concatenate([q, g])

    def run(self, ctx: TaskContext) -> CbirTable:
        cfg = ctx.cfg
        return cbir_task(ctx.cache, ctx.tables, ctx.specs, cfg.split, cfg.gallery, cfg.ks, device=ctx.on_cuda(),
                         seed=cfg.seed)

    def markdown(self, table: CbirTable) -> str:
        return cbir_markdown(table)

    def figures(self, ctx: TaskContext, table: CbirTable) -> dict[str, str]:
        cfg = ctx.cfg
        name = (cfg.grid_encoder or best_row(table.rows, cfg.ks[0])) if ctx.tables else None
        if name is None:
            return {}
        path = retrieval_figure(ctx.cache, ctx.tables[name], ctx.out / "fig_retrieval.png", name, cfg.split,
                                cfg.gallery, k=cfg.grid_k, seed=cfg.seed)
        return {"retrieval": str(path), "retrieval_encoder": name}


__all__ = ["DEFAULT_KS", "RANDOM_RANKING", "Cbir", "CbirResult", "CbirTable", "best_row", "cbir_indices",
           "cbir_markdown", "cbir_table", "cbir_task", "checkpoint_ndcg", "ndcg", "ndcg_bruteforce", "ndcg_per_query",
           "retrieval_figure", "top_k"]
