"""Ranking a gallery for one query: features of the query and the gallery, the top k by cosine,
and the check that every vector ranked is finite (a checkpoint of NaN weights gives no ranking:
it is refused, with the checkpoint named, rather than printed as ``"score": NaN``).

A result is ``{"rank", "index" (cache position), "id", "score" (cosine), "label"}`` and, when the
query's banner is known, ``"relevance"``: ``cos(sFB(query), sFB(item))``, the relevance that
CBIR's NDCG uses (:mod:`csip.eval.cbir`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..base.errors import BadFile


def check_finite(x: np.ndarray, checkpoint: Path, what: str) -> np.ndarray:
    """``x`` when every value is finite, else :class:`BadFile` naming ``checkpoint`` and ``what``
    (``"gallery features"``, ...): its weights cannot give a ranking."""
    x = np.asarray(x)
    bad = ~np.isfinite(x)
    if bad.any():
        rows = int(bad.reshape(len(x), -1).any(axis=1).sum()) if x.ndim > 1 else int(bad.sum())
        raise BadFile(f"--checkpoint {checkpoint}: {what} are not finite ({rows} of {len(x)} rows hold NaN or "
                      "infinity): its weights cannot rank anything")
    return x


def index_features(encoder, cache, table, gallery: np.ndarray, q_index: int, device: str):
    """A cache item's features ``(1, D)`` (from the gallery's table when it is in it) and its
    position in the gallery to leave out of the ranking (None when it is not in it)."""
    from ..eval.features import extract

    in_gallery = bool(np.any(gallery == q_index))
    features = table.rows([q_index]) if in_gallery else extract(encoder, cache, [q_index], 1, device).features
    return features, (int(np.searchsorted(gallery, q_index)) if in_gallery else None)


def image_features(encoder, query: dict, device: str) -> np.ndarray:
    """Features ``(1, D)`` float32 of a prepared image query (:func:`.queries.image_query`)."""
    import torch  # lazy for `--help`

    uses = tuple(encoder.uses)
    batch = {"image": torch.from_numpy(query["image"])[None].to(device)}
    if query["boxes"] is not None:
        batch["boxes"] = torch.from_numpy(query["boxes"])[None].to(device)
    encoder = encoder.to(device).eval()
    with torch.no_grad():
        return encoder.features({name: v for name, v in batch.items() if name in uses}).float().cpu().numpy()


def banner_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """``cos(a, b)`` of two banners, flattened, in float64 (0 when either is all zero)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def ranked(cache, gallery: np.ndarray, query_features: np.ndarray, gallery_features: np.ndarray, k: int,
           exclude: int | None, q_sfb: np.ndarray | None) -> list[dict]:
    """The top ``k`` gallery items (cache positions ``gallery``, rows of ``gallery_features``)
    by cosine with ``query_features`` ``(1, D)``, ties broken by gallery order; ``exclude``: a
    gallery row to leave out (the query itself) or None."""
    from ..data import PREDICATES
    from ..eval.cbir import top_k

    idx, scores = top_k(query_features, gallery_features, k, exclude=[exclude])
    results = []
    for column, score in zip(idx[0], scores[0]):
        pos = int(gallery[column])
        label = int(cache.labels[pos])
        row = {"rank": len(results) + 1, "index": pos, "id": cache.ids[pos], "score": float(score),
               "label": PREDICATES[label] if 0 <= label < len(PREDICATES) else None}
        if q_sfb is not None:
            row["relevance"] = banner_cosine(q_sfb, cache.sfb[pos])
        results.append(row)
    return results


__all__ = ["banner_cosine", "check_finite", "image_features", "index_features", "ranked"]
