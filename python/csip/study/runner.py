"""Carrying out a :class:`~csip.study.plan.Plan`: caches, then trainings (the best learning rate
of each grid kept), then evaluations, each step reused when it is done with the same settings.

The same code for every preset (:mod:`csip.study.synthetic`, :mod:`csip.study.paper`); each
stage is a library call (:mod:`csip.study.stages`), logged as one line with its time.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..eval.results import EvalResults
from ..train.selection import lower_is_better, read_best
from . import stages
from .plan import CacheStep, EvalStep, Plan, TrainStep

logger = logging.getLogger(__name__)


@dataclass
class TrainOutcome:
    """A training step done: its chosen run (``run_dir``, ``checkpoint``, ``lr``) and, per
    learning rate of the grid, the best val value of the step's metric (None: never measured)."""

    run_dir: Path
    checkpoint: Path
    lr: float
    by_lr: dict[float, float | None]


@dataclass
class EvalOutcome:
    """An evaluation done: its results, whether they were reused, and its ``csip eval`` command."""

    results: EvalResults
    reused: bool
    command: str
    checkpoints: dict[str, Path]


@dataclass
class Outcome:
    """What a plan gave: cache build statuses, trainings and evaluations by step name, timings (s)."""

    caches: dict[str, str] = field(default_factory=dict)
    trainings: dict[str, TrainOutcome] = field(default_factory=dict)
    evaluations: dict[str, EvalOutcome] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


class Runner:
    """Runs plans; ``threads``: the sFB engine's threads of the cache builds; ``progress``: bars.
    ``shared`` keeps what the evaluations share (the VQA text encoder, :func:`csip.eval.evaluate`)."""

    def __init__(self, threads: int | None = None, progress: bool = False, workers: int | None = None):
        self.threads, self.progress, self.workers = threads, progress, workers
        self.shared: dict = {}

    def cache(self, step: CacheStep) -> str:
        """Build (or resume, or find complete) one cache; its status."""
        t0 = time.perf_counter()
        logger.info(f"precompute {step.name}: {step.what or step.source}")
        status = stages.build_cache(step, threads=self.threads, progress=self.progress, workers=self.workers)
        logger.info(f"precompute {step.name}: {status} ({time.perf_counter() - t0:.1f} s) -> {step.out}")
        return status

    def train(self, step: TrainStep) -> TrainOutcome:
        """Every run of the step's learning-rate grid (trained, resumed or skipped); the run with
        the best val value of ``step.select`` is kept (the first of equals)."""
        by_lr: dict[float, float | None] = {}
        best: tuple[float, Path] | None = None
        for tc in step.configs:
            t0 = time.perf_counter()
            status = stages.train_run(tc)
            rd = Path(tc.out)
            logger.info(f"{step.label} {rd.parent.name}/{rd.name}: {status} ({time.perf_counter() - t0:.1f} s)")
            rec = read_best(rd)
            value = None if rec is None else float(rec["value"])
            by_lr[tc.lr] = value
            if len(step.configs) == 1:
                best = (tc.lr, rd)
            elif value is not None and math.isfinite(value):
                if best is None or _better(value, by_lr[best[0]], step.select):
                    best = (tc.lr, rd)
        if best is None:  # no run of the grid measured its metric: the first one stands
            best = (step.configs[0].lr, Path(step.configs[0].out))
        if len(step.configs) > 1:
            logger.info(f"{step.label} {step.name}: lr {best[0]:g} kept ({step.select} on val: "
                        + ", ".join(f"{lr:g} -> {'—' if v is None else f'{v:.4f}'}" for lr, v in by_lr.items()) + ")")
        return TrainOutcome(best[1], stages.selected_checkpoint(best[1]), best[0], by_lr)

    def evaluate(self, step: EvalStep, trainings: dict[str, TrainOutcome]) -> EvalOutcome:
        """One evaluation of the chosen runs of the trainings its rows name (or its results when
        done with the same settings)."""
        ckpts = {row: trainings[name].checkpoint for row, name in step.rows.items()}
        ec = step.make(ckpts)
        t0 = time.perf_counter()
        res, reused = stages.run_eval(ec, ckpts, self.shared)
        logger.info(
            f"eval {step.name}: {'skipped (complete)' if reused else 'done'} ({time.perf_counter() - t0:.1f} s)"
        )
        return EvalOutcome(res, reused, stages.eval_command(ec), ckpts)

    def run(self, plan: Plan, stage_names: dict[str, str] | None = None) -> Outcome:
        """Carry out ``plan``; ``stage_names`` renames the timing keys (``"caches"``,
        ``"trainings"``, ``"evaluations"``) as a preset reports them."""
        names = {"caches": "precompute", "trainings": "pretrain", "evaluations": "eval", **(stage_names or {})}
        out = Outcome()
        t0 = time.perf_counter()
        for step in plan.caches:
            out.caches[step.name] = self.cache(step)
        out.timings[names["caches"]] = time.perf_counter() - t0
        for tstep in plan.trainings:  # timed per label: "pretrain", "budget check", ...
            t1 = time.perf_counter()
            out.trainings[tstep.name] = self.train(tstep)
            key = names["trainings"] if tstep.label == "pretrain" else tstep.label
            out.timings[key] = out.timings.get(key, 0.0) + time.perf_counter() - t1
        t2 = time.perf_counter()
        for estep in plan.evaluations:
            out.evaluations[estep.name] = self.evaluate(estep, out.trainings)
        out.timings[names["evaluations"]] = time.perf_counter() - t2
        return out


def _better(value: float, than: float | None, metric: str) -> bool:
    if than is None or not math.isfinite(than):
        return True
    return value < than if lower_is_better(metric) else value > than


__all__ = ["EvalOutcome", "Outcome", "Runner", "TrainOutcome"]
