""":func:`run_study`: precompute → train (per encoder, seed, training) → evaluate → summary.

Directory layout under ``cfg.out``::

    cache/                               the synthetic scenes (csip precompute)
    runs/<encoder>/<training>-seed<k>/   csip pretrain runs; checkpoints/best.pt chosen on val
    runs/<encoder>/<training>-seed<k>-x2/  the budget check (seed 0 only, twice the epochs)
    eval/<encoder>/seed<k>/              csip eval: results.json, report.md, figures
    summary.json, summary.md, fig4_srr.png, sfb_demo.png

Rerunning skips every finished stage; a stage made with other settings is refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..base.checks import default_device
from ..eval.results import EvalResults
from ..train.metrics import read_metrics
from ..train.selection import read_best
from ..viz.demo import sfb_demo
from . import stages, table
from .config import StudyConfig
from .report import summary_markdown

VARIANTS = ("supervised", "c-sip")


def _best_val_acc(run_dir: Path) -> float | None:
    accs = [r["val_acc"] for r in read_metrics(run_dir, "val") if "val_acc" in r]
    return max(accs) if accs else None


class _Study:
    """The state of one study while it runs: its config, directories, timings and log."""

    def __init__(self, cfg: StudyConfig, log: Callable[[str], None]):
        self.cfg, self.log = cfg, log
        self.out = Path(cfg.out)
        self.cache_dir, self.runs_root, self.eval_root = self.out / "cache", self.out / "runs", self.out / "eval"
        self.timings: dict[str, float] = {}
        self.shared: dict = {}  # what the evaluations keep across calls, e.g. VQA's text encoder (csip.eval.evaluate)

    def precompute(self) -> None:
        """The synthetic cache, and the sFB demo figure."""
        cfg, t0 = self.cfg, time.perf_counter()
        self.log(f"precompute: {cfg.n} synthetic scenes, {cfg.image_size} px, forces {cfg.forces}, "
                 f"{cfg.n_angles} angles")
        status = stages.build_cache(cfg, self.cache_dir)
        self.log(f"precompute: {status} ({time.perf_counter() - t0:.1f} s) -> {self.cache_dir}")
        if cfg.figures:
            sfb_demo(self.out, n_scenes=4, seed=cfg.data_seed)
        self.timings["precompute"] = time.perf_counter() - t0

    def train(self, enc: str, seed: int, variant: str, epochs: int, suffix: str = "", what: str = "pretrain") -> Path:
        """One run (trained, resumed or skipped); returns its directory."""
        rd = self.runs_root / enc / f"{variant}-seed{seed}{suffix}"
        t1 = time.perf_counter()
        tc = stages.train_config(self.cfg, rd, self.cache_dir, enc, variant == "supervised", seed, epochs)
        status = stages.train_run(tc)
        self.log(f"{what} {enc}/{rd.name}: {status} ({time.perf_counter() - t1:.1f} s)")
        return rd

    def train_all(self) -> dict[tuple[str, int], dict[str, Path]]:
        """Every (encoder, seed, variant) run."""
        t0 = time.perf_counter()
        runs = {(e, s): {v: self.train(e, s, v, self.cfg.epochs) for v in VARIANTS}
                for e in self.cfg.encoders for s in self.cfg.seeds}
        self.timings["pretrain"] = time.perf_counter() - t0
        return runs

    def budget_check(self, runs) -> list[dict]:
        """Seed ``seeds[0]`` of every run again with twice the epochs: best val at both budgets."""
        if not self.cfg.budget_check:
            return []
        t0, s = time.perf_counter(), self.cfg.seeds[0]
        pairs = {}
        for enc in self.cfg.encoders:
            for v in VARIANTS:
                rd = self.train(enc, s, v, 2 * self.cfg.epochs, "-x2", "budget check")
                pairs[(enc, v)] = (read_best(runs[(enc, s)][v]), read_best(rd))
        self.timings["budget check"] = time.perf_counter() - t0
        return table.budget_rows(pairs, self.cfg.select)

    def evaluate(self, enc: str, seed: int, run_dirs: dict[str, Path]) -> tuple[EvalResults, list[dict], str]:
        """The evaluation of (encoder, seed) → (its results, its Table 2 rows, its ``csip eval`` command)."""
        cfg = self.cfg
        ed = self.eval_root / enc / f"seed{seed}"
        ckpts = {f"{v}-seed{seed}": stages.selected_checkpoint(run_dirs[v]) for v in VARIANTS}
        ec = stages.eval_config(cfg, self.cache_dir, ed, enc, seed, ckpts)
        t1 = time.perf_counter()
        res, reused = stages.run_eval(ec, ckpts, self.shared)
        self.log(f"eval {enc} seed {seed}: {'skipped (complete)' if reused else 'done'} "
                 f"({time.perf_counter() - t1:.1f} s)")
        info = {v: {"checkpoint": str(ckpts[f"{v}-seed{seed}"]), "best": read_best(run_dirs[v]),
                    "best_val_acc": _best_val_acc(run_dirs[v]) if v == "supervised" else None} for v in VARIANTS}
        alt = _other(cfg.features)
        nd = stages.cbir_ndcg(self.cache_dir, ckpts[f"c-sip-seed{seed}"], cfg.eval_split, alt,
                              cfg.device or default_device())
        info["c-sip"]["alt"] = {"features": alt, "ndcg@10": nd[10], "ndcg@25": nd[25]}
        return res, table.table2_rows(enc, seed, res, info), stages.eval_command(ec)

    def summary(self, results: dict[tuple[str, int], EvalResults], rows: list[dict], commands: list[str],
                budget: list[dict]) -> dict:
        """The ``summary.json`` document."""
        cfg = self.cfg
        prior = next((r.acc for res in results.values() if res.srr for r in res.srr.rows if r.group == "reference"),
                     None)
        alt_rows = {e: [100 * r["alt"]["ndcg@10"] for r in rows if r["encoder"] == e and "alt" in r]
                    for e in cfg.encoders}
        doc = {"format": "csip-run-summary", "version": 2, "settings": cfg.settings(), "select": cfg.select,
               "rows": rows, "means": table.mean_table(rows), "verdicts": table.verdicts(rows),
               "references": table.references(results), "table3": table.table3(results),
               "alt_features": _other(cfg.features),
               "alt_means": {e: sum(v) / len(v) for e, v in alt_rows.items() if v},
               "budget": budget, "eval_commands": commands,
               "timings_s": {k: round(v, 2) for k, v in self.timings.items()},
               "paths": {"cache": str(self.cache_dir), "runs": str(self.runs_root), "eval": str(self.eval_root)}}
        if cfg.figures and "srr" in cfg.tasks:
            doc["figures"] = {"fig4": str(table.fig4(rows, self.out / "fig4_srr.png", prior))}
        return doc


def _other(features: str) -> str:
    return "pre" if features == "embed" else "embed"


def run_study(cfg: StudyConfig, log: Callable[[str], None] = print, echo: Callable[[str], None] = print) -> dict:
    """Run (or resume) the whole study; returns the ``summary.json`` document (also written,
    with ``summary.md``, in ``cfg.out``). Bad settings raise :class:`~csip.base.errors.BadOption`
    before any work; a stage that cannot run raises :class:`~csip.study.stages.StudyError`."""
    stages.check_settings(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    study = _Study(cfg, log)
    study.out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    study.precompute()
    runs = study.train_all()
    budget = study.budget_check(runs)
    t0 = time.perf_counter()
    results, rows, commands = {}, [], []
    for enc in cfg.encoders:
        for s in cfg.seeds:
            results[(enc, s)], r, c = study.evaluate(enc, s, runs[(enc, s)])
            rows += r
            commands.append(c)
    study.timings["eval"] = time.perf_counter() - t0
    study.timings["total"] = time.perf_counter() - t_all
    doc = study.summary(results, rows, commands, budget)
    md = summary_markdown(doc)
    (study.out / "summary.md").write_text(md + "\n", encoding="utf-8")
    (study.out / "summary.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if not cfg.quiet:
        for enc, s in results:
            rp = study.eval_root / enc / f"seed{s}" / "report.md"
            if rp.is_file():
                echo(f"\n======== {enc}, seed {s} ({rp.parent}) ========\n")
                echo(rp.read_text(encoding="utf-8"))
    echo("\n" + md)
    log(f"wrote {study.out / 'summary.md'} and {study.out / 'summary.json'} "
        f"({study.timings['total'] / 60:.1f} min in all)")
    return doc


__all__ = ["run_study"]
