"""Typed results of an evaluation: one frozen dataclass per row and per task, turned into
JSON only at the edge (:meth:`EvalResults.to_json` when ``results.json`` is written,
:meth:`EvalResults.from_json` when it is read back).

In memory the cut-offs are integers (``CbirResult.ndcg[10]``, ``SrrResult.acc[1]``); in
``results.json`` they are strings (``"ndcg": {"10": ...}``), as JSON requires. ``to_json``
writes exactly the layout ``csip eval`` has always written (same keys, same order, same
values), and ``from_json`` reads every ``results.json`` written so far. Numbers are fractions
in [0, 1]; NaN (an empty test set) is written as null.

Layout of ``results.json``::

    {<header: format, version, csip_version, created, command, seed, device, torch_version,
      cache, tasks, notes, encoders, settings, timings_s, figures>,
     "cbir": CbirTable, "srr": SrrTable, "vqa": VqaTable,      (the tasks that ran)
     "fingerprint": 16 hex, "fingerprint_settings": {...},      (csip.eval.config.eval_settings)
     "command_args": [...]}                                     (csip run's evaluations)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from ..base.files import json_ready

#: The task keys of results.json, in order.
TASK_KEYS = ("cbir", "srr", "vqa")
#: The keys that follow the tasks, in order.
TRAILER_KEYS = ("fingerprint", "fingerprint_settings", "command_args")


def _by_cutoff(d: Mapping | None) -> dict[int, float] | None:
    """``{"10": v}`` (JSON) or ``{10: v}`` → ``{10: v}``."""
    return None if d is None else {int(k): v for k, v in d.items()}


def _present(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in pairs if v is not None}


# --------------------------------------------------------------------------- rows


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
                           "note": self.note, "ndcg": self.ndcg, **_present([("features", self.features)])})

    @classmethod
    def from_json(cls, d: Mapping) -> CbirResult:
        return cls(d["name"], d["group"], d["model"], d["status"], d["note"], _by_cutoff(d.get("ndcg")),
                   d.get("features"))


@dataclass(frozen=True)
class ProbeFit:
    """How an SRR probe was chosen: its 1-based best val epoch and val accuracy (None without val)."""

    best_epoch: int
    val_acc: float | None


@dataclass(frozen=True)
class SrrResult:
    """One encoder's SRR row: Acc@n per n (None when the row was not run); ``probe`` for the
    rows that trained a probe (not the class prior, not skipped rows)."""

    name: str
    group: str
    model: str
    status: str
    note: str
    acc: dict[int, float] | None
    probe: ProbeFit | None = None
    features: str | None = None

    def to_json(self) -> dict:
        fit = {} if self.probe is None else {"best_epoch": self.probe.best_epoch, "val_acc": self.probe.val_acc}
        return json_ready({"name": self.name, "group": self.group, "model": self.model, "status": self.status,
                           "note": self.note, "acc": self.acc, **fit, **_present([("features", self.features)])})

    @classmethod
    def from_json(cls, d: Mapping) -> SrrResult:
        probe = ProbeFit(d["best_epoch"], d.get("val_acc")) if "best_epoch" in d else None
        return cls(d["name"], d["group"], d["model"], d["status"], d["note"], _by_cutoff(d.get("acc")), probe,
                   d.get("features"))


@dataclass(frozen=True)
class HeadFit:
    """How a VQA head was trained and chosen (question counts per split, best val epoch)."""

    val_accuracy: float | None
    best_epoch: int
    n_train: int
    n_val: int
    n_test: int
    test_yes_rate: float | None


@dataclass(frozen=True)
class VqaResult:
    """One VQA row: the text fused with zero or more encoders (``inputs``: "text" then the
    encoder rows; ``groups``: their training groups), its test accuracy (None when not run)
    and, when a head was trained, ``head``."""

    name: str
    inputs: tuple[str, ...]
    status: str
    note: str
    accuracy: float | None
    groups: tuple[str, ...] | None = None
    head: HeadFit | None = None

    def to_json(self) -> dict:
        d = {"name": self.name, "inputs": list(self.inputs), "status": self.status, "note": self.note}
        if self.groups is not None:
            d["groups"] = list(self.groups)
        d["accuracy"] = self.accuracy
        if self.head is not None:
            d.update(dataclasses.asdict(self.head))
        return json_ready(d)

    @classmethod
    def from_json(cls, d: Mapping) -> VqaResult:
        head = HeadFit(**{f.name: d.get(f.name) for f in dataclasses.fields(HeadFit)}) if "best_epoch" in d else None
        groups = tuple(d["groups"]) if d.get("groups") is not None else None
        return cls(d["name"], tuple(d["inputs"]), d["status"], d["note"], d.get("accuracy"), groups, head)


Row = Union[CbirResult, SrrResult, VqaResult]


# --------------------------------------------------------------------------- tables (one per task)


class _Table:
    """to_json/from_json of a task table: its fields in order (tuples as lists, ``rows`` as
    their JSON, optional fields left out when None)."""

    ROW: type = CbirResult
    OPTIONAL: tuple[str, ...] = ()

    def to_json(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in self.OPTIONAL and v is None:
                continue
            out[f.name] = [r.to_json() for r in v] if f.name == "rows" else v
        return json_ready(out)

    @classmethod
    def from_json(cls, d: Mapping):
        kw = {}
        for f in dataclasses.fields(cls):
            v = d.get(f.name)
            if f.name == "rows":
                v = tuple(cls.ROW.from_json(r) for r in v or ())
            elif isinstance(v, list):
                v = tuple(v)
            kw[f.name] = v
        return cls(**kw)

    def row_of(self, group: str) -> Row | None:
        """The first ``ok`` row of ``group`` (e.g. ``"C-SIP"``, ``"reference"``)."""
        return next((r for r in self.rows if getattr(r, "group", None) == group and r.status == "ok"), None)


@dataclass(frozen=True)
class CbirTable(_Table):
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
    ROW = CbirResult


@dataclass(frozen=True)
class SrrTable(_Table):
    """SRR: Acc@n of a probe per encoder, with the probe's settings and the split sizes."""

    probe: dict
    ns: tuple[int, ...]
    n_classes: int
    classes: tuple[str, ...]
    n_train: int
    n_val: int
    n_test: int
    test_class_counts: tuple[int, ...]
    rows: tuple[SrrResult, ...]
    markdown: str
    ROW = SrrResult


@dataclass(frozen=True)
class VqaTable(_Table):
    """VQA: accuracy of each (text + encoders) head, with the head's settings and question counts."""

    head: dict
    text_encoder: str
    text_dim: int
    n_questions: int
    n_distinct_texts: int
    n_train: int
    n_val: int
    n_test: int
    test_yes_rate: float | None
    image_encoders_for_pairs: tuple[str, ...]
    eval_note: str | None
    rows: tuple[VqaResult, ...]
    markdown: str
    ROW = VqaResult
    OPTIONAL = ("eval_note",)

    def row_of_groups(self, groups: tuple[str, ...]) -> VqaResult | None:
        """The ok row whose image inputs are of ``groups`` (``()``: text only)."""
        return next((r for r in self.rows if r.status == "ok" and r.groups == tuple(groups)), None)


# --------------------------------------------------------------------------- one evaluation


@dataclass(frozen=True)
class ModelResult:
    """One encoder row across the tasks (None where a task did not run or the row was not ok)."""

    cbir: CbirResult | None
    srr: SrrResult | None
    vqa: VqaResult | None


@dataclass(frozen=True)
class EvalResults:
    """Everything one evaluation produced. ``header``: the results.json keys before the tasks
    (format, versions, the cache, the encoders, the settings, timings, figures), as written."""

    header: dict
    cbir: CbirTable | None = None
    srr: SrrTable | None = None
    vqa: VqaTable | None = None
    fingerprint: str | None = None
    fingerprint_settings: dict | None = None
    command_args: tuple[str, ...] | None = None

    @property
    def notes(self) -> dict:
        return self.header.get("notes", {})

    def model(self, group: str) -> ModelResult:
        """The first ok row of ``group`` in each task (e.g. ``"C-SIP"``)."""
        return ModelResult(self.cbir.row_of(group) if self.cbir else None,
                           self.srr.row_of(group) if self.srr else None,
                           self.vqa.row_of_groups((group,)) if self.vqa else None)

    def to_json(self) -> dict:
        """results.json's document (string keys, lists, NaN as None)."""
        out = dict(self.header)
        for k in TASK_KEYS:
            t = getattr(self, k)
            if t is not None:
                out[k] = t.to_json()
        for k in TRAILER_KEYS:
            v = getattr(self, k)
            if v is not None:
                out[k] = list(v) if isinstance(v, tuple) else v
        return json_ready(out)

    @classmethod
    def from_json(cls, d: Mapping) -> EvalResults:
        """From a results.json document (any written so far; one without a fingerprint has None)."""
        header = {k: v for k, v in d.items() if k not in TASK_KEYS and k not in TRAILER_KEYS}
        tables = {k: t.from_json(d[k]) for k, t in (("cbir", CbirTable), ("srr", SrrTable), ("vqa", VqaTable))
                  if d.get(k) is not None}
        args = d.get("command_args")
        return cls(header, **tables, fingerprint=d.get("fingerprint"),
                   fingerprint_settings=d.get("fingerprint_settings"),
                   command_args=None if args is None else tuple(args))


__all__ = ["CbirResult", "CbirTable", "EvalResults", "HeadFit", "ModelResult", "ProbeFit", "SrrResult", "SrrTable",
           "VqaResult", "VqaTable"]
