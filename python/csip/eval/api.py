"""The evaluation as a library call: :func:`evaluate` (:class:`EvalConfig`) → the typed
results (:class:`~csip.eval.results.EvalResults`); :func:`run` gives them as results.json's
JSON document instead.

>>> from csip.eval import EvalConfig, evaluate                              # doctest: +SKIP
>>> res = evaluate(EvalConfig(cache="runs/cache", out="runs/eval", tasks=("cbir",),
...                           checkpoints={"mine": "runs/r18"}, device="cpu"))  # doctest: +SKIP
>>> [(r.name, r.ndcg) for r in res.cbir.rows]                              # doctest: +SKIP

Steps, the same for every task of the registry (:mod:`csip.eval.tasks`; the interface:
:class:`csip.eval.task.Task`): :func:`csip.eval.plan.make_plan` (every input checked, every
encoder opened), each task's :meth:`~csip.eval.task.Task.prepare`, the features of each encoder
once for the items every task reads (:func:`features_by_row`), the tasks (:func:`run_tasks`), the
figures (:func:`write_figures`), and the outputs: ``results.json``, ``report.md`` and one
``<task>.md`` per task, written into a staging directory and swapped into ``cfg.out`` only when
all are written (:mod:`csip.eval.outputs`: a failed or killed evaluation leaves the previous one
whole), ``cfg.out`` locked meanwhile (:func:`csip.base.lock.output_lock`: a second evaluation
into it fails at once). Features that are not finite are refused
(:func:`~csip.eval.features.check_finite`).
``csip eval`` is a thin command over :func:`evaluate`.
``results.json`` also holds the evaluation's settings fingerprint
(:func:`csip.eval.config.eval_settings`), which ``csip run`` compares before reusing it.

Progress is logged (``logging``, logger ``csip.eval.api``: one INFO record per encoder's
features). Bad input raises a :class:`csip.base.errors.CsipInputError`
(:class:`~csip.base.errors.BadOption`, :class:`~csip.base.errors.BadFile`,
:class:`~csip.base.errors.EvalError`, :class:`~csip.base.errors.UnwritableOutput`) before any
feature is computed.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..base.checks import check_writable_dir
from ..base.errors import BadOption
from ..base.files import write_json
from ..base.fingerprint import settings_record
from ..base.lock import output_lock
from .config import EvalConfig, eval_settings
from .features import check_finite, extract, uses_embedding
from .items import sfb_examples_figure
from .outputs import final_path, staged_outputs
from .plan import Plan, make_plan
from .report import markdown_report
from .results import EvalResults
from .task import TaskContext
from .tasks import load_task, task_names

log = logging.getLogger(__name__)


def run(cfg: EvalConfig, command: list[str] | None = None) -> dict:
    """:func:`evaluate`, its results as written to ``cfg.out/results.json`` (the JSON document:
    numbers in [0, 1], dict keys as strings)."""
    return evaluate(cfg, command).to_json()


def evaluate(cfg: EvalConfig, command: list[str] | None = None, command_args: Sequence[str] | None = None,
             shared: dict | None = None) -> EvalResults:
    """Evaluate as ``cfg`` says; returns the typed results (also written to ``cfg.out``).
    ``command`` is recorded as the results' ``"command"`` (the command line that ran it, or
    None); ``command_args`` (``csip run``'s evaluations: the ``csip eval`` arguments it
    printed) is recorded as ``"command_args"``. ``shared``: a dict of resources the tasks keep
    across calls (:attr:`csip.eval.task.TaskContext.shared`); ``csip run`` passes one, so that
    e.g. VQA's text encoder embeds the questions once for all its evaluations instead of once
    each (MiniLM embeds ~170 questions/s on two cores)."""
    t_start = time.perf_counter()
    plan = make_plan(cfg)
    cache_dir, asked = plan.cache.path.resolve(), Path(cfg.out).resolve()
    if asked == cache_dir or cache_dir in asked.parents:
        raise BadOption(f"--out {cfg.out} is inside the cache {plan.cache.path}: choose a directory outside it")
    out = check_writable_dir(cfg.out, "--out")
    identity = settings_record(eval_settings(cfg, plan.cache.content_hash))
    args = None if command_args is None else tuple(command_args)
    with output_lock(out), staged_outputs(out, output_files()) as stage:
        # every file goes to the staging directory; swapped into out only once all are written
        ctx = TaskContext(cfg, plan.cache, plan.specs, plan.device, stage, shared={} if shared is None else shared)
        for task in plan.tasks.values():
            task.prepare(ctx)  # what a task loads before any feature (VQA: its text encoder): bad input
        features_by_row(plan, ctx)
        header = results_header(cfg, plan, command, ctx.timings)
        tables = run_tasks(plan, ctx)
        for name, table in tables.items():
            (stage / f"{name}.md").write_text(table.markdown + "\n", encoding="utf-8")
        results = EvalResults(header, tables, **identity, command_args=args)
        if cfg.figures:
            write_figures(plan, ctx, results)
            figs = results.header["figures"]
            figs.update({k: final_path(v, stage, out) for k, v in figs.items()})
        ctx.timings["total"] = round(time.perf_counter() - t_start, 3)
        write_outputs(cfg, results, stage)
    return results


def output_files() -> tuple[str, ...]:
    """Every file an evaluation may write into its ``--out``: ``results.json``, ``report.md``,
    ``fig_sfb.png`` and, for each registered task, ``<task>.md`` and its figures."""
    tasks = [load_task(n) for n in task_names()]
    return ("results.json", "report.md", *(f"{t.name}.md" for t in tasks), "fig_sfb.png",
            *(f for t in tasks for f in t.figure_files))


def features_by_row(plan: Plan, ctx: TaskContext) -> None:
    """Into ``ctx.tables``, ``{row name: FeatureTable}``: the features of every item a task
    reads (:meth:`~csip.eval.task.Task.items`), computed once per encoder that runs (each
    loaded, used and dropped in turn); into ``ctx.timings``, ``{"features:<row>": seconds}``."""
    cfg, cache = ctx.cfg, ctx.cache
    need = [np.asarray(task.items(ctx), dtype=np.int64) for task in plan.tasks.values()]
    need_idx = np.unique(np.concatenate(need)) if need else np.zeros(0, np.int64)
    for spec in plan.specs:
        if spec.status != "ok":
            continue
        t0 = time.perf_counter()
        enc = plan.loaded.pop(spec.name, None)
        if enc is None:
            enc = spec.load()
        table = extract(enc, cache, need_idx, cfg.batch_size, plan.device, cfg.workers, cfg.features)
        check_finite(table, spec.name, spec.source)
        ctx.tables[spec.name] = table
        spec.info.setdefault("out_dim", table.dim)
        spec.info["features"] = "embed" if uses_embedding(enc, cfg.features) else "pre"
        del enc
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        seconds = ctx.timings[f"features:{spec.name}"] = round(time.perf_counter() - t0, 3)
        log.info("features %s: %s in %.1f s", spec.name, table.features.shape, seconds)


def results_header(cfg: EvalConfig, plan: Plan, command: list[str] | None, timings: dict[str, float]) -> dict:
    """The results before any task: format, versions, the cache, the rows and the settings
    (``timings`` is kept by reference: the tasks add theirs)."""
    cache = plan.cache
    return {
        "format": "csip-eval",
        "version": 1,
        "csip_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "seed": cfg.seed,
        "device": str(plan.device),
        "torch_version": torch.__version__,
        "cache": {"path": str(cache.path), "content_hash": cache.content_hash, "source": cache.source_name,
                  "items": len(cache), "splits": cache.counts.get("splits"), "image_size": cache.image_size,
                  "sfb_shape": list(cache.sfb_shape), "normalize": cache.normalize},
        "tasks": list(plan.tasks),
        "notes": plan.notes,
        "encoders": [s.describe() for s in plan.specs],
        "settings": {"split": cfg.split, "gallery": cfg.gallery, "ks": list(cfg.ks), "features": cfg.features,
                     "feature_dim_random_init": cfg.feature_dim, "pretrained_size": cfg.pretrained_size,
                     "batch_size": cfg.batch_size, "torch_threads": torch.get_num_threads()},
        "timings_s": timings,
        "figures": {},
    }


def run_tasks(plan: Plan, ctx: TaskContext) -> dict:
    """Every task of ``plan``, in report order: ``{task: its typed table}``; each task's
    seconds into ``ctx.timings`` under its name."""
    tables = {}
    for name, task in plan.tasks.items():
        t0 = time.perf_counter()
        tables[name] = task.run(ctx)
        ctx.timings[name] = round(time.perf_counter() - t0, 3)
    return tables


def write_figures(plan: Plan, ctx: TaskContext, results: EvalResults) -> None:
    """``fig_sfb.png`` (banners beside their masks) and each task's figures into ``ctx.out``;
    what they record into ``results.header["figures"]``."""
    figs = results.header["figures"]
    figs["sfb"] = str(sfb_examples_figure(plan.cache, ctx.out / "fig_sfb.png", split=ctx.cfg.split))
    for name, task in plan.tasks.items():
        figs.update(task.figures(ctx, results.tables[name]))


def write_outputs(cfg: EvalConfig, results: EvalResults, where: Path | None = None) -> None:
    """``report.md`` (every task's table) and ``results.json`` into ``where`` (default
    ``cfg.out``; :func:`evaluate` writes into its staging directory)."""
    where = Path(cfg.out) if where is None else where
    (where / "report.md").write_text(markdown_report(results) + "\n", encoding="utf-8")
    write_json(where / "results.json", results.to_json())


__all__ = ["EvalConfig", "evaluate", "features_by_row", "output_files", "results_header", "run",
           "run_tasks", "write_figures", "write_outputs"]
