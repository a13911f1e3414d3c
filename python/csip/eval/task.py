"""What an evaluation task is: one :class:`Task` object, the :class:`TaskContext` it runs in,
and the base of its typed table (:class:`TaskTable`).

A task (CBIR in :mod:`csip.eval.cbir`, SRR in :mod:`csip.eval.srr`, VQA in
:mod:`csip.eval.vqa`) says what it needs and what it gives; :func:`csip.eval.evaluate` does
the rest for every task alike:

1. plan (before any work): :meth:`Task.missing` (can the cache do it? ``--task all`` skips an
   :attr:`~Task.optional` task that it cannot), :meth:`Task.check` (its own options and files)
   and :meth:`Task.check_rows` (its options that name encoder rows);
2. :meth:`Task.prepare`: what it must load before any feature is computed (VQA: its text
   encoder), so that a bad file is bad input, not a failure after the features;
3. the features of every encoder, once, for the union of the tasks' :meth:`Task.items`;
4. :meth:`Task.run` → its typed table (a frozen :class:`TaskTable` dataclass whose ``markdown``
   is :meth:`Task.markdown`), then :meth:`Task.figures` (files in ``--out``);
5. ``results.json`` holds the table under the task's name; :attr:`Task.table_type` reads it back.

A task object holds no state: everything an evaluation knows is in the :class:`TaskContext`.
Register a new task in :data:`csip.eval.tasks.TASKS` (or :func:`csip.eval.tasks.register_task`).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..base.files import json_ready

if TYPE_CHECKING:  # annotations only
    from .baselines import EncoderSpec
    from .config import EvalConfig
    from .features import FeatureTable


@dataclass
class TaskContext:
    """What a task reads while it runs.

    ``cfg``: the evaluation's :class:`~csip.eval.config.EvalConfig` (each task reads its own
    options); ``cache``: the :class:`csip.cache.Cache`; ``specs``: the encoder rows
    (:class:`~csip.eval.baselines.EncoderSpec`, table order; skipped rows included);
    ``device``: where features were computed (``"cpu"``, ``"cuda"``, ...); ``out``: the output
    directory; ``tables``: ``{row name: FeatureTable}``, the features ``(M, D)`` of the union of
    every task's :meth:`Task.items` (empty until the features are computed, e.g. in
    :meth:`Task.prepare`); ``shared``: resources kept across evaluations (``csip run`` passes
    one dict to all of its evaluations; a task keys its entries by its name); ``timings``:
    seconds by step, as written to ``results.json`` (``timings_s``)."""

    cfg: EvalConfig
    cache: Any
    specs: Sequence[EncoderSpec]
    device: str
    out: Path
    tables: dict[str, FeatureTable] = field(default_factory=dict)
    shared: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok_specs(self) -> list[EncoderSpec]:
        """The rows whose features were computed."""
        return [s for s in self.specs if s.status == "ok" and s.name in self.tables]

    def on_cuda(self) -> str | None:
        """``device`` when it is a CUDA device (for the tasks' matrix products), else None (CPU)."""
        return self.device if self.device.startswith("cuda") else None


class TaskTable:
    """Base of a task's typed table (a frozen dataclass with a ``rows`` field of row
    dataclasses with ``to_json``/``from_json``, and a ``markdown`` field): its JSON for
    ``results.json`` (the fields in order; tuples as lists; ``rows`` as their JSON; the fields
    named in ``OPTIONAL`` left out when None) and back."""

    ROW: ClassVar[type]
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

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

    def row_of(self, group: str):
        """The first ``ok`` row of ``group`` (e.g. ``"C-SIP"``, ``"reference"``)."""
        return next((r for r in self.rows if getattr(r, "group", None) == group and r.status == "ok"), None)

    def model_row(self, group: str):
        """The row that stands for the first ok encoder of ``group`` in this task (what
        :meth:`csip.eval.results.EvalResults.model` collects); :meth:`row_of` unless a task's
        rows are not one per encoder."""
        return self.row_of(group)


class Task(abc.ABC):
    """One evaluation task. Subclasses set :attr:`name`, :attr:`title`, :attr:`table_type`
    and implement :meth:`missing`, :meth:`items`, :meth:`run` and :meth:`markdown`; the other
    hooks have defaults that do nothing."""

    #: The registry key: ``--task NAME``, the key of ``results.json``, ``NAME.md``.
    name: ClassVar[str]
    #: How messages and documents name it ("CBIR").
    title: ClassVar[str]
    #: Its typed table (a :class:`TaskTable` dataclass): ``table_type.from_json`` reads it back.
    table_type: ClassVar[type[TaskTable]]
    #: Whether ``--task all`` skips it, with a note, on a cache that cannot do it (False: the
    #: evaluation fails instead). Skippable tasks are checked first.
    optional: ClassVar[bool] = True
    #: Whether ``--task all`` (the default) runs it. False: only when asked by name (a task
    #: whose rows need inputs most evaluations lack, e.g. a C-SIP checkpoint's banner tower).
    in_all: ClassVar[bool] = True
    #: The files its :meth:`figures` may write into ``--out`` (an evaluation into a used
    #: ``--out`` removes them first, with ``NAME.md``).
    figure_files: ClassVar[tuple[str, ...]] = ()
    #: Names of the reference rows its table adds beside the encoders (no encoder row may take them).
    reference_rows: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def missing(self, cache, cfg: EvalConfig) -> str | None:
        """Why this task cannot run on ``cache`` with ``cfg`` (a message naming the cache and
        what it lacks), or None when it can."""

    def check(self, cfg: EvalConfig) -> None:
        """Raise :class:`~csip.base.errors.BadOption` for an option or file of this task that is
        unusable, before any encoder is opened (needs no cache)."""
        return None  # an optional hook: nothing to do by default

    def check_rows(self, cfg: EvalConfig, rows: Sequence[str]) -> None:
        """Raise :class:`~csip.base.errors.EvalError` for an option of this task that names an
        encoder row not among ``rows`` (the rows that will run)."""
        return None  # an optional hook: nothing to do by default

    def prepare(self, ctx: TaskContext) -> None:
        """Load what :meth:`run` needs before any feature is computed (``ctx.tables`` is still
        empty); a file that cannot be loaded raises a :class:`~csip.base.errors.CsipInputError`."""
        return None  # an optional hook: nothing to do by default

    @abc.abstractmethod
    def items(self, ctx: TaskContext) -> np.ndarray:
        """The cache positions ``(n,)`` int64 whose features :meth:`run` reads (any order,
        repeats allowed): every encoder's features are computed once for the union."""

    @abc.abstractmethod
    def run(self, ctx: TaskContext) -> TaskTable:
        """The task over every encoder row of ``ctx`` → its typed table (``markdown`` filled by
        :meth:`markdown`)."""

    @abc.abstractmethod
    def markdown(self, table: TaskTable) -> str:
        """The table's section of ``report.md`` (and ``NAME.md``): a ``##`` heading and the table."""

    def figures(self, ctx: TaskContext, table: TaskTable) -> dict[str, str]:
        """Write this task's figures into ``ctx.out`` (only files of :attr:`figure_files`);
        returns what ``results.json``'s ``"figures"`` records of them (``{key: path or name}``)."""
        return {}


def row_ids(spec: EncoderSpec) -> tuple[str, str, str, str, str]:
    """``(name, group, model, status, note)``: how every task row names its encoder."""
    return spec.name, spec.group, spec.model, spec.status, spec.note


def row_features(spec: EncoderSpec) -> str | None:
    """What the row's features are: ``"pre"`` (f_v) or ``"embed"`` (g_v∘f_v); None when its
    features did not run."""
    return spec.info.get("features") or None


def by_cutoff(d: Mapping | None) -> dict[int, float] | None:
    """``{"10": v}`` (JSON) or ``{10: v}`` → ``{10: v}``."""
    return None if d is None else {int(k): v for k, v in d.items()}


def present(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """The ``(key, value)`` pairs whose value is not None, as a dict (optional JSON keys)."""
    return {k: v for k, v in pairs if v is not None}


__all__ = ["Task", "TaskContext", "TaskTable", "by_cutoff", "present", "row_features", "row_ids"]
