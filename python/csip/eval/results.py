"""Typed results of an evaluation: :class:`EvalResults`, every task's typed table (a frozen
dataclass of the task's module, e.g. :class:`csip.eval.cbir.CbirTable`), turned into JSON only at
the edge (:meth:`EvalResults.to_json` when ``results.json`` is written,
:meth:`EvalResults.from_json` when it is read back).

In memory the cut-offs are integers (``CbirResult.ndcg[10]``, ``SrrResult.acc[1]``); in
``results.json`` they are strings (``"ndcg": {"10": ...}``), as JSON requires. ``to_json``
writes exactly the layout ``csip eval`` has always written (same keys, same order, same
values), and ``from_json`` reads every ``results.json`` written so far. Numbers are fractions
in [0, 1]; NaN (an empty test set) is written as null.

Layout of ``results.json``::

    {<header: format, version, csip_version, created, command, seed, device, torch_version,
      cache, tasks, notes, encoders, settings, timings_s, figures>,
     <task name>: its table, ...                                (the tasks that ran, report order:
                                                                 "cbir", "srr", "vqa")
     "fingerprint": 16 hex, "fingerprint_settings": {...},      (csip.eval.config.eval_settings)
     "command_args": [...]}                                     (csip run's evaluations)

The rows and tables of CBIR, SRR and VQA live with their task (:mod:`csip.eval.cbir`,
:mod:`csip.eval.srr`, :mod:`csip.eval.vqa`); their names are importable from here as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..base.files import json_ready
from ..base.lazy import lazy_exports
from .tasks import load_task, task_names

#: The keys that follow the tasks, in order.
TRAILER_KEYS = ("fingerprint", "fingerprint_settings", "command_args")

_EXPORTS = {  # the built-in tasks' rows and tables, where callers have always imported them from
    "CbirResult": "..cbir", "CbirTable": "..cbir",
    "ProbeFit": "..srr", "SrrResult": "..srr", "SrrTable": "..srr",
    "HeadFit": "..vqa", "VqaResult": "..vqa", "VqaTable": "..vqa",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)


class _ByTask:
    """Attribute access to a ``{task name: value}`` mapping: ``x.cbir`` is ``x.<mapping>["cbir"]``
    for every registered task (None when that task has no entry)."""

    _BY_TASK: str = "tables"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in task_names():
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return object.__getattribute__(self, self._BY_TASK).get(name)


@dataclass(frozen=True)
class ModelResult(_ByTask):
    """One encoder group's rows across the tasks: ``rows[task]`` (also ``.cbir``, ``.srr``, ...),
    None where a task did not run or has no ok row of the group."""

    rows: dict[str, Any] = field(default_factory=dict)
    _BY_TASK = "rows"


@dataclass(frozen=True)
class EvalResults(_ByTask):
    """Everything one evaluation produced. ``header``: the results.json keys before the tasks
    (format, versions, the cache, the encoders, the settings, timings, figures), as written;
    ``tables``: ``{task name: its typed table}`` in report order (also ``.cbir``, ``.srr``,
    ``.vqa``: None for a task that did not run)."""

    header: dict
    tables: dict[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None
    fingerprint_settings: dict | None = None
    command_args: tuple[str, ...] | None = None

    @property
    def notes(self) -> dict:
        return self.header.get("notes", {})

    def model(self, group: str) -> ModelResult:
        """The first ok row of ``group`` in each task (e.g. ``"C-SIP"``)."""
        return ModelResult({k: t.model_row(group) for k, t in self.tables.items() if t is not None})

    def to_json(self) -> dict:
        """results.json's document (string keys, lists, NaN as None)."""
        out = dict(self.header)
        for k, t in self.tables.items():
            if t is not None:
                out[k] = t.to_json()
        for k in TRAILER_KEYS:
            v = getattr(self, k)
            if v is not None:
                out[k] = list(v) if isinstance(v, tuple) else v
        return json_ready(out)

    @classmethod
    def from_json(cls, d: Mapping) -> EvalResults:
        """From a results.json document (any written so far; one without a fingerprint has None).
        The tables of the registered tasks are read by their task's table type; any other key
        stays in ``header``."""
        names = [k for k in task_names() if d.get(k) is not None]
        header = {k: v for k, v in d.items() if k not in names and k not in TRAILER_KEYS and k not in task_names()}
        tables = {k: load_task(k).table_type.from_json(d[k]) for k in names}
        args = d.get("command_args")
        return cls(header, tables, fingerprint=d.get("fingerprint"), fingerprint_settings=d.get("fingerprint_settings"),
                   command_args=None if args is None else tuple(args))


__all__ = ["TRAILER_KEYS", "EvalResults", "ModelResult", *sorted(_EXPORTS)]
