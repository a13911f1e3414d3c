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

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> sfb = rng.random((30, 4, 6)).astype(np.float32)
>>> res = ndcg(sfb.reshape(30, -1), sfb, ks=(5,))   # ranking by the banners themselves
>>> round(res[5], 6)
1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

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


__all__ = ["DEFAULT_KS", "ndcg", "ndcg_bruteforce", "ndcg_per_query", "top_k"]
