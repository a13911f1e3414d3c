"""Training objectives, one file each, and their registry.

:data:`OBJECTIVES` maps a name (``TrainConfig.objective``) to ``"module:Class"`` of an
:class:`~csip.train.objectives.base.Objective`, imported when used, so that the names are
known without torch (``csip pretrain --help``). A new objective is one file in this package
and one line here (or :func:`register_objective` at run time, for a plug-in or a test).
"""

from __future__ import annotations

import importlib

from ...base.errors import BadOption

#: name -> ("module:Class" (modules relative to this package), the keys of its val records,
#: whether it reads relation labels), in the order listed in help. The facts are here, not only
#: on the class, so that the command line and the config know them without importing torch
#: (what ``--select`` may name; which runs default to the labelled items); the class is checked
#: against them when loaded.
OBJECTIVES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "csip": (".contrastive:ContrastiveObjective", ("val_loss", "val_top1"), False),
    "supervised": (".supervised:SupervisedObjective", ("val_loss", "val_acc"), True),
}

#: Val metrics every objective's checkpoint may be selected on: CBIR NDCG@10 of the val split
#: ranked by the shared-space embedding (``_embed``; for a model without an image head, the
#: L2-normalised f_v) and by f_v (``_pre``), from the epoch's validation pass
#: (:func:`csip.train.selection.retrieval_scores`).
RETRIEVAL_METRICS = ("val_ndcg10_embed", "val_ndcg10_pre")


def register_objective(name: str, target: str, val_metrics: tuple[str, ...], reads_labels: bool = False) -> None:
    """Add objective ``name`` (``"package.module:Class"``, absolute; ``val_metrics``: the keys
    of its val records, ``reads_labels``: whether it reads relation labels, as its class says)
    to the registry."""
    OBJECTIVES[name] = (target, tuple(val_metrics), bool(reads_labels))


def selectable(name: str) -> tuple[str, ...]:
    """The val metrics a run of objective ``name`` may select ``best.pt`` on."""
    return (*RETRIEVAL_METRICS, *OBJECTIVES[name][1])


def all_selectable() -> tuple[str, ...]:
    """Every metric some registered objective may select on, without repeats, in order."""
    return tuple(dict.fromkeys(m for name in OBJECTIVES for m in selectable(name)))


def objective_class(name: str):
    """The :class:`~csip.train.objectives.base.Objective` subclass registered as ``name``;
    :class:`BadOption` naming the known ones otherwise."""
    if name not in OBJECTIVES:
        raise BadOption(f"--objective {name!r}: expected one of {', '.join(OBJECTIVES)}")
    target, val_metrics, reads_labels = OBJECTIVES[name]
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module, __name__) if module.startswith(".")
                  else importlib.import_module(module), attr)
    if cls.name != name or tuple(cls.val_metrics) != val_metrics or cls.reads_labels != reads_labels:
        raise ValueError(f"objective {target} ({cls.name!r}, val metrics {cls.val_metrics}, reads labels "
                         f"{cls.reads_labels}) is registered as {name!r} with {val_metrics}, {reads_labels}")
    return cls


def make_objective(name: str, label_smoothing: float = 0.3):
    """A new instance of objective ``name``."""
    return objective_class(name)(label_smoothing)


__all__ = ["OBJECTIVES", "RETRIEVAL_METRICS", "all_selectable", "make_objective", "objective_class",
           "register_objective", "selectable"]
