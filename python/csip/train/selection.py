"""Checkpoint selection on the validation split: retrieval metrics during training, ``best.pt``.

A run's last epoch is not always its best: a supervised baseline on a few thousand items
overfits, and a contrastive run can peak before its schedule ends. To compare trainings at
their best, every epoch end measures the val split and the checkpoint with the best value of
``TrainConfig.select`` is kept as ``checkpoints/best.pt`` (its record in ``best.json``).

Metrics (keys of the ``"kind": "val"`` records of ``metrics.jsonl``):

- ``val_loss``, ``val_acc`` (supervised) / ``val_top1`` (C-SIP): from :func:`csip.train.validate`
  (the same pass over the val split gives the features ranked below);
- ``val_ndcg10_pre``: CBIR NDCG@10 (fraction in [0, 1]) of the val split ranked by the
  pre-projection features f_v, queries = gallery = val, the query left out (``csip eval``'s
  protocol, :func:`csip.eval.cbir.ndcg`);
- ``val_ndcg10_embed``: the same, ranked in the shared image–banner space g_v∘f_v (C-SIP only;
  for a supervised model that space is its L2-normalised features, so it equals ``_pre``).

Selecting by the task's own val metric (rather than each objective's loss) is the protocol
that favours neither training: both are judged, on held-out data, by what the study reports.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..base.files import atomic_write
from ..eval.cbir import ndcg
from .config import SELECTABLE
from .objectives import all_selectable

#: Metrics where lower is better; every other one is maximised, but for the metric names that
#: end in ``_loss`` or ``_error`` (an objective's own val metrics, :mod:`csip.train.objectives`).
LOWER_IS_BETTER = frozenset({"val_loss"})


def lower_is_better(metric: str) -> bool:
    """Whether checkpoint selection minimises ``metric``."""
    return metric in LOWER_IS_BETTER or metric.endswith(("_loss", "_error"))


def retrieval_scores(features: np.ndarray, embeddings: np.ndarray, banners: np.ndarray,
                     k: int = 10) -> dict[str, float]:
    """``{"val_ndcg{k}_pre": ..., "val_ndcg{k}_embed": ...}``: CBIR NDCG@k of the val items
    ranked by their features f_v ``(N, D)`` and by their shared-space embeddings ``(N, E)``,
    with the banners ``(N, R, K)`` as relevance; N ≥ 2. The features come from the epoch's
    validation pass (:func:`csip.train.validation.validation_record`)."""
    out = {f"val_ndcg{k}_pre": ndcg(features, banners, ks=(k,))[k],
           f"val_ndcg{k}_embed": ndcg(embeddings, banners, ks=(k,))[k]}
    return {key: float(v) for key, v in out.items()}


class BestTracker:
    """Keeps the best value of one val metric and says when a checkpoint beats it.

    ``update(record)`` → True when ``record[metric]`` is finite and strictly better than every
    earlier one (ties keep the earlier, shorter-trained checkpoint). The state is a plain dict
    (``state()`` / ``load()``) so that a resumed run keeps comparing against the same best.
    """

    def __init__(self, metric: str):
        if metric not in all_selectable():
            raise ValueError(f"unknown selection metric {metric!r}; choose one of {', '.join(all_selectable())}")
        self.metric = metric
        self.best: dict | None = None

    def better(self, value: float) -> bool:
        """Whether ``value`` beats the best so far."""
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        old = self.best["value"]
        return value < old if lower_is_better(self.metric) else value > old

    def update(self, record: Mapping[str, float]) -> bool:
        """Take an epoch's val record (with ``step`` and ``epoch``); True if it is the new best."""
        value = record.get(self.metric)
        if value is None or not self.better(float(value)):
            return False
        self.best = {"metric": self.metric, "value": float(value), "step": int(record["step"]),
                     "epoch": int(record["epoch"]), "record": dict(record)}
        return True

    def state(self) -> dict | None:  # noqa: D102
        return None if self.best is None else dict(self.best)

    def load(self, state: dict | None) -> None:  # noqa: D102
        self.best = None if state is None else dict(state)

    def write(self, path: Path) -> None:
        """``best.json``: the selected epoch, step and its whole val record."""
        if self.best is not None:
            atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(self.best, indent=2)))


def read_best(run_dir: str | Path) -> dict | None:
    """The ``best.json`` record of a run directory, or None when it has none."""
    p = Path(run_dir) / "checkpoints" / "best.json"
    return json.loads(p.read_text()) if p.is_file() else None


__all__ = ["BestTracker", "LOWER_IS_BETTER", "SELECTABLE", "read_best", "retrieval_scores"]
