"""Cross-modal retrieval between C-SIP's two towers: banner → image and image → banner.

C-SIP trains the image tower g_v∘f_v and the banner tower g_u∘f_u into one space, so that an
item's image embedding ``v_i`` is closest to its own banner's embedding ``u_i``. Over the items
of ``--split`` (``N`` of them, every one both a query and a gallery item, as CLIP reports
image–text retrieval):

- **banner → image**: query ``u_i``, gallery ``v_1..v_N`` ranked by ``cos(u_i, v_j)``;
  **image → banner**: query ``v_i``, gallery ``u_1..u_N``;
- **Recall@k** (k = 1, 5, 10): the fraction of queries whose own item ``i`` is among the top k.
  Ties are broken by gallery order (the item ranks after the earlier items of equal score);
- **NDCG@10** with CBIR's relevance (:func:`csip.eval.cbir.ndcg`): ``rel(i, j) = cos(sFB(i),
  sFB(j))``, the item itself included in the gallery (relevance 1), so a ranking that returns
  items of the same configuration scores well even when it misses the item itself.

Rows: every C-SIP checkpoint row (both towers loaded, :func:`csip.models.towers.load_towers`); each
random-init row becomes **random C-SIP towers** (seeded, of the model config of the C-SIP rows
of the same model, else the default config) — the reference a trained pair must beat; a
*chance* row gives the recalls of a random ranking, ``k / N``. Rows with no banner tower
(supervised, pre-trained, an exported encoder) are listed as skipped, saying so.

The task (``--task crossmodal``) is not part of ``--task all``: it needs a C-SIP checkpoint
to say anything, and ``all`` (``csip eval``'s default) keeps the tables it has always written.
It computes its own embeddings (the shared space, not the features the other tasks read).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..base.errors import EvalError
from ..base.files import json_ready
from .cbir import ndcg
from .report import DASH, bold_best, markdown_table, pct, sorted_rows
from .task import Task, TaskContext, TaskTable, by_cutoff, row_ids

#: Recall cut-offs and the NDCG cut-off.
RECALL_KS: tuple[int, ...] = (1, 5, 10)
NDCG_K = 10
#: The reference row of a random ranking.
CHANCE = "chance"
#: The two directions, as the table's JSON names them.
DIRECTIONS = ("banner_to_image", "image_to_banner")


def self_ranks(query: np.ndarray | torch.Tensor, gallery: np.ndarray | torch.Tensor, chunk: int = 1024,
               device: str | None = None) -> np.ndarray:
    """The 1-based rank of gallery item ``i`` in the ranking of query ``i`` by cosine:
    ``(N,)`` int64 for ``query`` and ``gallery`` ``(N, E)``. Rank = 1 + the items scoring
    higher + the earlier items scoring equal (ties by gallery order, as a stable sort).
    Cosines in float64, chunks of ``chunk`` queries (memory ``O(chunk × N)``)."""
    dev = torch.device(device or "cpu")
    q = torch.nn.functional.normalize(torch.as_tensor(np.asarray(query), dtype=torch.float64, device=dev), dim=1)
    g = torch.nn.functional.normalize(torch.as_tensor(np.asarray(gallery), dtype=torch.float64, device=dev), dim=1)
    if q.shape != g.shape:
        raise ValueError(f"queries {tuple(q.shape)} and gallery {tuple(g.shape)} must pair one to one")
    n = q.shape[0]
    out = np.empty(n, dtype=np.int64)
    cols = torch.arange(n, device=dev)
    for start in range(0, n, max(1, int(chunk))):
        rows = torch.arange(start, min(n, start + chunk), device=dev)
        sim = q[rows] @ g.T  # (c, N)
        own = sim[torch.arange(len(rows), device=dev), rows][:, None]
        earlier = cols[None, :] < rows[:, None]
        out[start:start + len(rows)] = (1 + (sim > own).sum(1) + ((sim == own) & earlier).sum(1)).cpu().numpy()
    return out


def recalls(ranks: np.ndarray, ks: Sequence[int] = RECALL_KS) -> dict[int, float]:
    """``{k: fraction of ranks <= k}``."""
    r = np.asarray(ranks)
    return {int(k): float(np.mean(r <= k)) for k in ks}


def crossmodal_scores(u: np.ndarray, v: np.ndarray, sfb: np.ndarray, ks: Sequence[int] = RECALL_KS,
                      ndcg_k: int = NDCG_K, device: str | None = None) -> dict[str, dict]:
    """Both directions for banner embeddings ``u`` ``(N, E)``, image embeddings ``v`` ``(N, E)``
    and banners ``sfb`` ``(N, R, K)`` of the same items: ``{direction: {"recall": {k: R@k},
    "ndcg": NDCG@ndcg_k}}`` (directions: :data:`DIRECTIONS`)."""
    out = {}
    for name, (q, g) in zip(DIRECTIONS, ((u, v), (v, u))):
        nd = ndcg(q, sfb, ks=(ndcg_k,), gallery_features=g, gallery_sfb=sfb, device=device)[ndcg_k]
        out[name] = {"recall": recalls(self_ranks(q, g, device=device), ks), "ndcg": float(nd)}
    return out


@dataclass(frozen=True)
class CrossmodalRow:
    """One row: Recall@k and NDCG@10 in both directions (None where the row did not run)."""

    name: str
    group: str
    model: str
    status: str
    note: str
    banner_to_image: dict[int, float] | None = None
    image_to_banner: dict[int, float] | None = None
    ndcg_banner_to_image: float | None = None
    ndcg_image_to_banner: float | None = None

    def to_json(self) -> dict:
        return json_ready(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, d: Mapping) -> CrossmodalRow:
        kw = dict(d)
        for key in DIRECTIONS:
            kw[key] = by_cutoff(d.get(key))
        return cls(**kw)

    @classmethod
    def of(cls, ids: tuple, scores: Mapping[str, dict] | None) -> CrossmodalRow:
        """A row of ``ids`` (:func:`~csip.eval.task.row_ids`) and :func:`crossmodal_scores`."""
        if scores is None:
            return cls(*ids)
        return cls(*ids, scores["banner_to_image"]["recall"], scores["image_to_banner"]["recall"],
                   scores["banner_to_image"]["ndcg"], scores["image_to_banner"]["ndcg"])


@dataclass(frozen=True)
class CrossmodalTable(TaskTable):
    """Cross-modal retrieval over the ``n_items`` items of ``split``."""

    split: str
    n_items: int
    ks: tuple[int, ...]
    ndcg_k: int
    rows: tuple[CrossmodalRow, ...]
    markdown: str
    ROW = CrossmodalRow


def _ckpt_configs(ctx: TaskContext) -> dict[str, dict]:
    """``{row name: model config}`` of the C-SIP rows whose checkpoint has a banner tower."""
    from ..models.towers import NoBannerTower, towers_config

    out = {}
    for spec in ctx.specs:
        if spec.group == "C-SIP" and spec.status == "ok":
            try:
                out[spec.name] = towers_config(spec.source)
            except NoBannerTower:
                continue
    return out


def _towers(ctx: TaskContext, spec, configs: dict[str, dict]):
    """``(model, config, note)`` of a row, or ``(None, None, why not)`` for a row with no banner tower."""
    from ..models.build import default_model_config
    from ..models.towers import NoBannerTower, load_towers, random_towers

    if spec.status != "ok":
        return None, None, spec.note
    if spec.group == "C-SIP":
        try:
            return load_towers(spec.source), configs[spec.name], spec.note
        except (NoBannerTower, KeyError) as exc:
            return None, None, f"skipped: no banner tower ({exc})"
    if spec.group == "random init":
        same = [(n, c) for n, c in configs.items() if c["image_encoder"]["name"] == spec.model]
        if same:
            name, config = same[0]
            where = f"config of {name}"
        else:
            r, k = ctx.cache.sfb_shape
            width = ctx.cfg.random_init_width or 64
            config = default_model_config(spec.model, r, k, feature_dim=ctx.cfg.feature_dim, width=width)
            where = "default config"
        return random_towers(config, ctx.cfg.seed), config, f"random C-SIP towers, seed {ctx.cfg.seed}, {where}"
    return None, None, f"skipped: no banner tower ({spec.group})"


def _embeddings(ctx: TaskContext, spec, model, config, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(u (N, E), v (N, E))`` of the items ``idx``: banner and image embeddings, checked finite."""
    from ..models.towers import embed_banners, image_side
    from .features import extract

    cfg = ctx.cfg
    v = extract(image_side(model, config), ctx.cache, idx, cfg.batch_size, ctx.device, cfg.workers,
                features="embed").rows(idx)
    u = embed_banners(model, np.asarray(ctx.cache.sfb[idx]), cfg.batch_size, ctx.device)
    for what, x in (("image", v), ("banner", u)):
        if not np.isfinite(x).all():
            raise EvalError(f"cross-modal retrieval: the {what} embeddings of row {spec.name!r} ({spec.source}) are "
                            "not finite: its weights cannot rank anything")
    return u, v


class Crossmodal(Task):
    """Banner → image and image → banner retrieval (Recall@1/5/10 of the item itself, NDCG@10
    with CBIR's relevance) over ``--split``, for every row with both towers."""

    name = "crossmodal"
    title = "Cross-modal retrieval"
    table_type = CrossmodalTable
    optional = True
    in_all = False  # opt-in (--task crossmodal): see the module's docstring
    reference_rows = (CHANCE,)

    def missing(self, cache, cfg) -> str | None:
        n = len(cache.indices(None if cfg.split == "all" else cfg.split))
        return None if n >= 2 else f"cross-modal retrieval needs at least 2 items in the {cfg.split!r} split of " \
                                   f"{cache.path}, found {n}"

    def prepare(self, ctx: TaskContext) -> None:
        """Every C-SIP row's banner tower must read the cache's banners (checked before any work)."""
        shape = tuple(ctx.cache.sfb_shape)
        for name, config in _ckpt_configs(ctx).items():
            se = config["spatial_encoder"]
            if (se["n_levels"], se["n_angles"]) != shape:
                raise EvalError(f"cross-modal retrieval: the banner tower of {name!r} reads {se['n_levels']}×"
                                f"{se['n_angles']} banners, the cache's are {shape[0]}×{shape[1]}")

    def items(self, ctx: TaskContext) -> np.ndarray:
        return np.zeros(0, np.int64)  # it embeds its items itself, in the shared space

    def run(self, ctx: TaskContext) -> CrossmodalTable:
        idx = ctx.cache.indices(None if ctx.cfg.split == "all" else ctx.cfg.split)
        sfb = np.asarray(ctx.cache.sfb[idx])
        configs = _ckpt_configs(ctx)
        n = len(idx)
        chance = {k: min(k, n) / n for k in RECALL_KS}
        rows = [CrossmodalRow(CHANCE, "reference", "", "ok", "random ranking: k / N", dict(chance), dict(chance))]
        for spec in ctx.specs:
            model, config, note = _towers(ctx, spec, configs)
            ids = (*row_ids(spec)[:3], "ok" if model is not None else "skipped", note)
            scores = None
            if model is not None:
                u, v = _embeddings(ctx, spec, model, config, idx)
                scores = crossmodal_scores(u, v, sfb, device=ctx.on_cuda())
            rows.append(CrossmodalRow.of(ids, scores))
        table = CrossmodalTable(ctx.cfg.split, n, RECALL_KS, NDCG_K, tuple(sorted_rows(rows)), "")
        return dataclasses.replace(table, markdown=self.markdown(table))

    def markdown(self, table: CrossmodalTable) -> str:
        cols = [(d, k) for d in DIRECTIONS for k in (*table.ks, "ndcg")]

        def value(r, d, k):
            if r.status != "ok":
                return None
            return getattr(r, f"ndcg_{d}") if k == "ndcg" else (getattr(r, d) or {}).get(k)

        vals = [[value(r, d, k) for d, k in cols] for r in table.rows]
        best = bold_best(list(table.rows), vals)
        body = []
        for i, r in enumerate(table.rows):
            cells = [pct(v, 1) for v in vals[i]]
            cells = [f"**{c}**" if i in best[j] and c != DASH else c for j, c in enumerate(cells)]
            body.append([r.group, r.name, *cells, r.note])
        head = [f"{'B→I' if d == DIRECTIONS[0] else 'I→B'} {'NDCG@' + str(table.ndcg_k) if k == 'ndcg' else f'R@{k}'}"
                for d, k in cols]
        return (f"## Cross-modal retrieval (%) — {table.split} split, {table.n_items} items; banner → image (B→I) "
                "and image → banner (I→B): Recall@k of the item itself, NDCG with relevance cos(sFB(q), sFB(p))\n\n"
                + markdown_table(["Training", "Encoder", *head, "Note"], ["---", "---", *["---:"] * len(cols), "---"],
                                 body))


__all__ = ["CHANCE", "DIRECTIONS", "NDCG_K", "RECALL_KS", "Crossmodal", "CrossmodalRow", "CrossmodalTable",
           "crossmodal_scores", "recalls", "self_ranks"]
