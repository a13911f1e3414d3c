"""A toy evaluation task in one file, as a plug-in would write one: the mean L2 norm of every
encoder's features over the items of the evaluation's split.

Registered at run time by the tests (``csip.eval.tasks.register_task("toy", "toy_task:MeanNorm")``);
nothing else in csip knows it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from csip.eval.report import markdown_table
from csip.eval.task import Task, TaskContext, TaskTable, row_ids


@dataclass(frozen=True)
class NormRow:
    """One encoder's mean feature norm (None for a row whose features did not run)."""

    name: str
    group: str
    model: str
    status: str
    note: str
    mean_norm: float | None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: Mapping) -> NormRow:
        return cls(**d)


@dataclass(frozen=True)
class NormTable(TaskTable):
    """The mean feature norm of every encoder over the ``n_items`` items of ``split``."""

    split: str
    n_items: int
    rows: tuple[NormRow, ...]
    markdown: str
    ROW = NormRow


class MeanNorm(Task):
    """Mean ``‖f(x)‖₂`` over the items of ``cfg.split``, one row per encoder."""

    name = "toy"
    title = "Toy"
    table_type = NormTable

    def missing(self, cache, cfg) -> str | None:
        n = len(self._items(cache, cfg))
        return None if n else f"Toy needs items in the {cfg.split!r} split of {cache.path}"

    @staticmethod
    def _items(cache, cfg) -> np.ndarray:
        return cache.indices(None if cfg.split == "all" else cfg.split)

    def items(self, ctx: TaskContext) -> np.ndarray:
        return self._items(ctx.cache, ctx.cfg)

    def run(self, ctx: TaskContext) -> NormTable:
        idx = self._items(ctx.cache, ctx.cfg)
        rows = []
        for spec in ctx.specs:
            ok = spec.status == "ok" and spec.name in ctx.tables
            norm = float(np.linalg.norm(ctx.tables[spec.name].rows(idx), axis=1).mean()) if ok else None
            rows.append(NormRow(*row_ids(spec), norm))
        table = NormTable(ctx.cfg.split, int(len(idx)), tuple(rows), "")
        return dataclasses.replace(table, markdown=self.markdown(table))

    def markdown(self, table: NormTable) -> str:
        body = [[r.name, "—" if r.mean_norm is None else f"{r.mean_norm:.4f}", r.note] for r in table.rows]
        return (f"## Toy — mean feature norm over the {table.split} split ({table.n_items} items)\n\n"
                + markdown_table(["Encoder", "Mean norm", "Note"], ["---", "---:", "---"], body))
