"""Evaluation of trained image encoders on downstream tasks, the paper's three built in.

A task is one :class:`~csip.eval.task.Task` (name, what the cache must hold, the items it reads,
``run`` → its typed table, its Markdown and figures) in one module, registered in
:mod:`csip.eval.tasks` (name → ``"module:Class"``; :func:`~csip.eval.tasks.register_task` adds
one at run time). The built-in ones:

- :mod:`csip.eval.cbir`: content-based image retrieval by spatial configuration, NDCG@k with
  the banners' cosine as relevance (eq. 7; Table 2).
- :mod:`csip.eval.srr`: spatial relation recognition, a linear (or MLP) probe on frozen
  features, Acc@1..5 over nine classes (Fig. 4).
- :mod:`csip.eval.vqa`: yes/no spatial questions, frozen text and image encoders fused by
  element-wise product under an MLP head (Table 3).

The machinery, the same for every task:

- :mod:`csip.eval.baselines`: the compared encoders (random init, ImageNet ResNet18/50,
  ViT-B/16, CLIP, supervised and C-SIP checkpoints), all with ``features(batch)``.
- :mod:`csip.eval.features`: features computed once per encoder, shared by the tasks.
- :mod:`csip.eval.items`: cache items as the tasks and figures see them; the banners figure.
- :mod:`csip.eval.results`: :class:`~csip.eval.results.EvalResults` (every task's typed table),
  turned into results.json's JSON only at the edge.
- :mod:`csip.eval.report`: ``report.md`` and the Markdown table helpers of the tasks.
- :mod:`csip.eval.config`: :class:`EvalConfig`, every option of an evaluation and its default.
- :mod:`csip.eval.plan`: every input checked and every encoder opened before any work.
- :mod:`csip.eval.api`: :func:`evaluate` ties them together (``evaluate(EvalConfig(...)) ->
  EvalResults``; :func:`run` returns the same as results.json's document).

``csip eval`` (:mod:`csip.commands.evaluate`) is a thin command over :func:`evaluate`; ``csip search``
(:mod:`csip.commands.search`) is the interactive face of the retrieval.

Submodules are imported on use (``from csip.eval.cbir import ndcg``); this package imports
nothing heavy.
"""

from __future__ import annotations

from ..base.lazy import lazy_exports

_EXPORTS = {
    "run": "api",
    "evaluate": "api",
    "check_config": "plan",
    "EvalResults": "results",
    "EvalConfig": "config",
    "Task": "task",
    "TaskContext": "task",
    "TASKS": "tasks",
    "register_task": "tasks",
    "task_names": "tasks",
    "ndcg": "cbir",
    "ndcg_per_query": "cbir",
    "top_k": "cbir",
    "checkpoint_ndcg": "cbir",
    "ProbeConfig": "srr",
    "accuracy_at_n": "srr",
    "evaluate_probe": "srr",
    "TextEncoder": "vqa",
    "VQAConfig": "vqa",
    "FusionVQA": "vqa",
    "train_eval_vqa": "vqa",
    "FeatureTable": "features",
    "extract": "features",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = sorted(_EXPORTS)
