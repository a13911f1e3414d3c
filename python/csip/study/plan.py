"""What ``csip run`` will do, as data: the caches to build, the trainings (each a grid of
learning rates, the one of the best val metric kept) and the evaluations, in order.

A preset (:mod:`csip.study.synthetic`, the built-in study; :mod:`csip.study.paper`, the paper's
protocol on the real datasets) makes a :class:`Plan`; :mod:`csip.study.runner` carries it out,
the same way for both; ``csip run --dry-run`` prints it (:func:`describe`) with the sizes it
will take on disk.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..descriptor import DescriptorParams
from ..eval.config import EvalConfig
from ..train.config import TrainConfig


@dataclass
class CacheStep:
    """One cache: ``source`` (a ``csip precompute`` spec, ``"spatialsense:PATH"``) with its
    options, precomputed into ``out`` at ``image_size`` with the banner ``desc``."""

    name: str
    out: Path
    source: str
    options: dict[str, Any]
    image_size: int
    desc: DescriptorParams
    seed: int = 0
    what: str = ""  # one line for the log and the dry run


@dataclass
class TrainStep:
    """One training: ``configs`` are the same run at each learning rate of the grid (one config:
    no choice); the run with the best value of ``select`` on val is the step's run."""

    name: str
    configs: tuple[TrainConfig, ...]
    select: str
    label: str = "pretrain"

    def __post_init__(self) -> None:
        self.configs = tuple(self.configs)


@dataclass
class EvalStep:
    """One evaluation: ``make(checkpoints)`` gives its :class:`EvalConfig` once the trainings it
    reads are done (``rows``: row name → the :class:`TrainStep` whose chosen run it judges)."""

    name: str
    out: Path
    cache: Path
    rows: dict[str, str]
    make: Callable[[Mapping[str, Path]], EvalConfig]
    what: str = ""


@dataclass
class Plan:
    """Everything one ``csip run`` does, in order."""

    out: Path
    caches: list[CacheStep] = field(default_factory=list)
    trainings: list[TrainStep] = field(default_factory=list)
    evaluations: list[EvalStep] = field(default_factory=list)


def cache_bytes(n_items: int, image_size: int, sfb_shape: tuple[int, int]) -> int:
    """Bytes of a finished cache of ``n_items`` (the arrays of :mod:`csip.cache`; ids and
    questions aside)."""
    s, (r, k) = image_size, sfb_shape
    per_item = 3 * s * s + 4 * r * k + 4 * 8 + 2 * s * math.ceil(s / 8) + 8 + 1
    return int(n_items) * per_item


def human_bytes(n: float) -> str:
    """``n`` bytes as ``"1.2 GB"``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def describe(plan: Plan, items: Mapping[str, int | None], checkpoint_bytes: Mapping[str, int | None]) -> str:
    """The dry run: the plan's steps with the expected sizes on disk (``items``: cache name →
    its source's item count, None when unknown; ``checkpoint_bytes``: training name → the size
    of one checkpoint, None when unknown)."""
    lines = [f"csip run plan for {plan.out}", "", f"caches ({len(plan.caches)}):"]
    total = 0
    for c in plan.caches:
        n = items.get(c.name)
        size = None if n is None else cache_bytes(n, c.image_size, c.desc.shape)
        total += size or 0
        lines.append(f"  {c.name}: {c.source} -> {c.out} ({'?' if n is None else f'<= {n:,}'} items, "
                     f"{c.image_size} px, banner {c.desc.shape[0]}x{c.desc.shape[1]}; "
                     f"{'?' if size is None else human_bytes(size)}){' — ' + c.what if c.what else ''}")
    n_runs = sum(len(t.configs) for t in plan.trainings)
    lines += ["", f"trainings ({len(plan.trainings)}, {n_runs} runs with the learning-rate grids):"]
    for t in plan.trainings:
        c0 = t.configs[0]
        lrs = ", ".join(f"{c.lr:g}" for c in t.configs)
        per = checkpoint_bytes.get(t.name)
        # last.pt, final.pt and best.pt per run
        size = None if per is None else 3 * per * len(t.configs)
        total += size or 0
        cache = c0.cache if isinstance(c0.cache, str) or c0.cache is None else " + ".join(c0.cache)
        lines.append(f"  {t.name}: {c0.objective_name} {c0.model}, {c0.epochs} epochs, batch {c0.batch_size}, "
                     f"lr {lrs} (kept: best {t.select}); data {cache or 'synthetic'} ({c0.split or 'all'}); "
                     f"{'?' if size is None else human_bytes(size)}")
    lines += ["", f"evaluations ({len(plan.evaluations)}):"]
    for e in plan.evaluations:
        lines.append(f"  {e.name}: {e.cache} -> {e.out}; rows {', '.join(e.rows) or '(references only)'}"
                     f"{' — ' + e.what if e.what else ''}")
    lines += ["", f"expected on disk: {human_bytes(total)} (caches and checkpoints; figures and logs aside)"]
    return "\n".join(lines)


__all__ = ["CacheStep", "EvalStep", "Plan", "TrainStep", "cache_bytes", "describe", "human_bytes"]
