"""The evaluation as a library call: :func:`evaluate` (:class:`EvalConfig`) → the typed
results (:class:`~csip.eval.results.EvalResults`); :func:`run` gives them as results.json's
JSON document instead.

>>> from csip.eval import EvalConfig, evaluate                              # doctest: +SKIP
>>> res = evaluate(EvalConfig(cache="runs/cache", out="runs/eval", tasks=("cbir",),
...                           checkpoints={"mine": "runs/r18"}, device="cpu"))  # doctest: +SKIP
>>> [(r.name, r.ndcg) for r in res.cbir.rows]                              # doctest: +SKIP

Steps: :func:`csip.eval.plan.make_plan` (every input checked, every encoder opened), the
features of each encoder once (:func:`features_by_row`), the tasks (:func:`run_tasks`), the
figures (:func:`write_figures`), and the outputs in ``cfg.out``: ``results.json``,
``report.md`` and one ``<task>.md`` per task. ``csip eval`` is a thin command over :func:`evaluate`.
``results.json`` also holds the evaluation's settings fingerprint
(:func:`csip.eval.config.eval_settings`), which ``csip run`` compares before reusing it.

Bad input raises a :class:`csip.base.errors.CsipInputError` (:class:`~csip.base.errors.BadOption`,
:class:`~csip.base.errors.BadFile`, :class:`~csip.base.errors.EvalError`,
:class:`~csip.base.errors.UnwritableOutput`) before any feature is computed.
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..base.checks import check_writable_dir
from ..base.errors import BadOption
from ..base.fingerprint import settings_record
from . import runner
from .config import TASKS, EvalConfig, eval_settings
from .features import extract, uses_embedding
from .plan import Plan, make_plan
from .report import markdown_report
from ..base.files import write_json
from .results import CbirResult, EvalResults
from .srr import ProbeConfig
from . import vqa
from .vqa import VQAConfig


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cfg: EvalConfig, command: list[str] | None = None, log: Callable[[str], None] = _stderr) -> dict:
    """:func:`evaluate`, its results as written to ``cfg.out/results.json`` (the JSON document:
    numbers in [0, 1], dict keys as strings)."""
    return evaluate(cfg, command, log).to_json()


def evaluate(cfg: EvalConfig, command: list[str] | None = None, log: Callable[[str], None] = _stderr,
             command_args: Sequence[str] | None = None, text_encoders: dict | None = None) -> EvalResults:
    """Evaluate as ``cfg`` says; returns the typed results (also written to ``cfg.out``).
    ``command`` is recorded as the results' ``"command"`` (the command line that ran it, or
    None); ``log`` gets progress lines and warnings; ``command_args`` (``csip run``'s
    evaluations: the ``csip eval`` arguments it printed) is recorded as ``"command_args"``.
    ``text_encoders``: a dict that keeps the VQA text encoder per (path, device) across calls;
    ``csip run`` passes one, so the questions are embedded once for all its evaluations instead
    of once each (MiniLM embeds ~170 questions/s on two cores)."""
    t_start = time.perf_counter()
    plan = make_plan(cfg, log)
    cache_dir, asked = plan.cache.path.resolve(), Path(cfg.out).resolve()
    if asked == cache_dir or cache_dir in asked.parents:
        raise BadOption(f"--out {cfg.out} is inside the cache {plan.cache.path}: choose a directory outside it")
    out = check_writable_dir(cfg.out, "--out")
    identity = settings_record(eval_settings(cfg, plan.cache.content_hash))
    text_encoders = {} if text_encoders is None else text_encoders
    if "vqa" in plan.tasks:
        _text_encoder(plan, text_encoders)  # loaded before any feature: a directory it cannot load is bad input
    _remove_earlier_outputs(out)
    tables, timings = features_by_row(cfg, plan, log)
    header = results_header(cfg, plan, command, timings)
    tasks = run_tasks(cfg, plan, tables, timings, text_encoders)
    for task, table in tasks.items():
        (out / f"{task}.md").write_text(table.markdown + "\n", encoding="utf-8")
    results = EvalResults(header, **tasks, **identity,
                          command_args=None if command_args is None else tuple(command_args))
    if cfg.figures:
        write_figures(cfg, plan, tables, results)
    timings["total"] = round(time.perf_counter() - t_start, 3)
    write_outputs(cfg, results)
    return results


#: Every file an evaluation writes into its ``--out``.
OUTPUT_FILES = ("results.json", "report.md", *(f"{task}.md" for task in TASKS), "fig_sfb.png",
                "fig_retrieval.png", "fig_srr_acc.png")


def _remove_earlier_outputs(out: Path) -> None:
    """Delete what an earlier evaluation wrote into ``out`` (:data:`OUTPUT_FILES`), so that the
    directory never holds two evaluations' tables and figures side by side."""
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)


def features_by_row(cfg: EvalConfig, plan: Plan, log: Callable[[str], None]) -> tuple[dict, dict[str, float]]:
    """``({row name: FeatureTable}, {"features:<row>": seconds})``: the features of every item a
    task reads, computed once per encoder that runs (each loaded, used and dropped in turn)."""
    cache, need = plan.cache, []
    if "cbir" in plan.tasks:
        q, g = runner.cbir_indices(cache, cfg.split, cfg.gallery)
        need += [q] + ([g] if g is not None else [])
    if "srr" in plan.tasks:
        need += list(runner.srr_indices(cache).values())
    if "vqa" in plan.tasks:
        need.append(runner.vqa_questions(cache)[1])
    need_idx = np.unique(np.concatenate(need)) if need else np.zeros(0, np.int64)
    tables, timings = {}, {}
    for spec in plan.specs:
        if spec.status != "ok":
            continue
        t0 = time.perf_counter()
        enc = plan.loaded.pop(spec.name, None)
        if enc is None:
            enc = spec.load()
        tables[spec.name] = extract(enc, cache, need_idx, cfg.batch_size, plan.device, cfg.workers, cfg.features)
        spec.info.setdefault("out_dim", tables[spec.name].dim)
        spec.info["features"] = "embed" if uses_embedding(enc, cfg.features) else "pre"
        del enc
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        timings[f"features:{spec.name}"] = round(time.perf_counter() - t0, 3)
        log(f"features {spec.name}: {tables[spec.name].features.shape} in {timings[f'features:{spec.name}']:.1f} s")
    return tables, timings


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
        "tasks": sorted(plan.tasks),
        "notes": plan.notes,
        "encoders": [s.describe() for s in plan.specs],
        "settings": {"split": cfg.split, "gallery": cfg.gallery, "ks": list(cfg.ks), "features": cfg.features,
                     "feature_dim_random_init": cfg.feature_dim, "pretrained_size": cfg.pretrained_size,
                     "batch_size": cfg.batch_size, "torch_threads": torch.get_num_threads()},
        "timings_s": timings,
        "figures": {},
    }


def run_tasks(cfg: EvalConfig, plan: Plan, tables: dict, timings: dict[str, float],
              text_encoders: dict | None = None) -> dict:
    """CBIR, SRR and VQA (those in ``plan.tasks``, in that order): ``{task: its typed table}``;
    each task's seconds into ``timings``; ``text_encoders`` as in :func:`evaluate`."""
    cache, specs, results = plan.cache, plan.specs, {}
    if "cbir" in plan.tasks:
        t0 = time.perf_counter()
        results["cbir"] = runner.cbir_task(cache, tables, specs, cfg.split, cfg.gallery, cfg.ks,
                                           device=plan.device if plan.device.startswith("cuda") else None, seed=cfg.seed)
        timings["cbir"] = round(time.perf_counter() - t0, 3)
    if "srr" in plan.tasks:
        t0 = time.perf_counter()
        lr = cfg.probe_lr or (1e-2 if cfg.probe == "linear" else 1e-3)
        pc = ProbeConfig(kind=cfg.probe, epochs=cfg.probe_epochs, lr=lr, seed=cfg.seed)
        results["srr"] = runner.srr_task(cache, tables, specs, pc)
        timings["srr"] = round(time.perf_counter() - t0, 3)
    if "vqa" in plan.tasks:
        t0 = time.perf_counter()
        te = _text_encoder(plan, {} if text_encoders is None else text_encoders)
        vc = VQAConfig(hidden=cfg.vqa_hidden, epochs=cfg.vqa_epochs, seed=cfg.seed)
        results["vqa"] = runner.vqa_task(cache, tables, specs, te, vc, plan.vqa_images)
        timings["vqa"] = round(time.perf_counter() - t0, 3)
    return results


def _text_encoder(plan: Plan, made: dict) -> vqa.TextEncoder:
    """The VQA text encoder of ``plan``: the one in ``made`` for its path and device, else a new one (kept there)."""
    key = (str(plan.text_encoder), str(plan.device))
    if key not in made:
        made[key] = vqa.TextEncoder(plan.text_encoder, device=plan.device)
    return made[key]


def write_figures(cfg: EvalConfig, plan: Plan, tables: dict, results: EvalResults) -> None:
    """``fig_sfb.png``, ``fig_retrieval.png`` (CBIR) and ``fig_srr_acc.png`` (SRR) into ``cfg.out``;
    their paths into ``results.header["figures"]``."""
    out, figs = cfg.out, results.header["figures"]
    figs["sfb"] = str(runner.sfb_examples_figure(plan.cache, out / "fig_sfb.png", split=cfg.split))
    if "cbir" in plan.tasks and tables:
        gname = cfg.grid_encoder or best_row(results.cbir.rows, cfg.ks[0])
        if gname is not None:
            figs["retrieval"] = str(runner.retrieval_figure(plan.cache, tables[gname], out / "fig_retrieval.png", gname,
                                                            cfg.split, cfg.gallery, k=cfg.grid_k, seed=cfg.seed))
            figs["retrieval_encoder"] = gname
    if "srr" in plan.tasks:
        figs["srr_acc"] = str(runner.acc_plot(results.srr, out / "fig_srr_acc.png"))


def write_outputs(cfg: EvalConfig, results: EvalResults) -> None:
    """``report.md`` (every task's table) and ``results.json`` into ``cfg.out``."""
    (cfg.out / "report.md").write_text(markdown_report(results) + "\n", encoding="utf-8")
    write_json(cfg.out / "results.json", results.to_json())


def best_row(rows: tuple[CbirResult, ...], k: int) -> str | None:
    """The best C-SIP row by NDCG@k, else the best non-reference row."""
    ok = [r for r in rows if r.status == "ok" and r.group != "reference"]
    pool = [r for r in ok if r.group == "C-SIP"] or ok
    return max(pool, key=lambda r: (r.ndcg or {}).get(k, -1.0)).name if pool else None


__all__ = ["EvalConfig", "best_row", "evaluate", "features_by_row", "results_header", "run", "run_tasks",
           "write_figures", "write_outputs"]
