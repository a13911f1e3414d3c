"""The built-in study as a preset of the runner: the paper's Table 2 (CBIR), Fig. 4 (SRR) and
Table 3 (VQA) on the synthetic scenes, per Table 1 encoder × {random init, supervised, C-SIP}
× seeds (:class:`~csip.study.config.StudyConfig`).

Directory layout under ``cfg.out``::

    cache/                               the synthetic scenes (csip precompute)
    runs/<encoder>/<training>-seed<k>/   csip pretrain runs; checkpoints/best.pt chosen on val
    runs/<encoder>/<training>-seed<k>-x2/  the budget check (seed 0 only, twice the epochs)
    eval/<encoder>/seed<k>/              csip eval: results.json, report.md, figures
    summary.json, summary.md, fig4_srr.png, sfb_demo.png
"""

from __future__ import annotations

import time
from pathlib import Path

from ..base.checks import default_device
from ..descriptor import DescriptorParams
from ..train.metrics import read_metrics
from ..train.selection import read_best
from ..viz.demo import sfb_demo
from . import stages, table
from .config import StudyConfig
from .layouts_report import layouts_section
from .plan import CacheStep, EvalStep, Plan, TrainStep
from .report import summary_markdown
from .runner import Outcome

VARIANTS = ("supervised", "c-sip")


def _other(features: str) -> str:
    return "pre" if features == "embed" else "embed"


def _best_val_acc(run_dir: Path) -> float | None:
    accs = [r["val_acc"] for r in read_metrics(run_dir, "val") if "val_acc" in r]
    return max(accs) if accs else None


def paths(cfg: StudyConfig) -> dict[str, Path]:
    out = Path(cfg.out)
    return {"out": out, "cache": out / "cache", "runs": out / "runs", "eval": out / "eval"}


def _training(cfg: StudyConfig, enc: str, seed: int, variant: str, epochs: int, suffix: str = "",
              label: str = "pretrain") -> TrainStep:
    p = paths(cfg)
    rd = p["runs"] / enc / f"{variant}-seed{seed}{suffix}"
    tc = stages.train_config(cfg, rd, p["cache"], enc, variant == "supervised", seed, epochs)
    return TrainStep(f"{enc}/{variant}-seed{seed}{suffix}", (tc,), cfg.select, label)


def _evaluation(cfg: StudyConfig, enc: str, seed: int) -> EvalStep:
    p = paths(cfg)
    ed = p["eval"] / enc / f"seed{seed}"
    rows = {f"{v}-seed{seed}": f"{enc}/{v}-seed{seed}" for v in VARIANTS}
    return EvalStep(f"{enc} seed {seed}", ed, p["cache"], rows,
                    lambda ckpts: stages.eval_config(cfg, p["cache"], ed, enc, seed, dict(ckpts)))


def plan(cfg: StudyConfig) -> Plan:
    """The study's steps: the synthetic cache; per encoder, seed and training a run (then the
    budget check's runs); per encoder and seed an evaluation."""
    p = paths(cfg)
    cache = CacheStep("synthetic", p["cache"], "synthetic", {"n": cfg.n, "seed": cfg.data_seed}, cfg.image_size,
                      DescriptorParams.make(cfg.forces, cfg.n_angles, "max"), seed=cfg.data_seed,
                      what=f"{cfg.n} synthetic scenes, {cfg.image_size} px, forces {cfg.forces}, {cfg.n_angles} angles")
    trainings = [_training(cfg, e, s, v, cfg.epochs) for e in cfg.encoders for s in cfg.seeds for v in VARIANTS]
    if cfg.budget_check:
        trainings += [_training(cfg, e, cfg.seeds[0], v, 2 * cfg.epochs, "-x2", "budget check")
                      for e in cfg.encoders for v in VARIANTS]
    evaluations = [_evaluation(cfg, e, s) for e in cfg.encoders for s in cfg.seeds]
    return Plan(p["out"], [cache], trainings, evaluations)


def before(cfg: StudyConfig) -> None:
    """The sFB demo figure (the paper's Fig. 2), from the scenes' generator."""
    if cfg.figures:
        sfb_demo(paths(cfg)["out"], n_scenes=4, seed=cfg.data_seed)


def summary(cfg: StudyConfig, done: Outcome) -> tuple[dict, str, list[Path]]:
    """``(summary.json document, summary.md, the reports to print)`` of a finished study."""
    p = paths(cfg)
    t0 = time.perf_counter()
    results, rows, commands = {}, [], []
    alt = _other(cfg.features)
    for enc in cfg.encoders:
        for s in cfg.seeds:
            ev = done.evaluations[f"{enc} seed {s}"]
            run_dirs = {v: done.trainings[f"{enc}/{v}-seed{s}"].run_dir for v in VARIANTS}
            info = {v: {"checkpoint": str(ev.checkpoints[f"{v}-seed{s}"]), "best": read_best(run_dirs[v]),
                        "best_val_acc": _best_val_acc(run_dirs[v]) if v == "supervised" else None} for v in VARIANTS}
            nd = stages.cbir_ndcg(p["cache"], ev.checkpoints[f"c-sip-seed{s}"], cfg.eval_split, alt,
                                  cfg.device or default_device())
            info["c-sip"]["alt"] = {"features": alt, "ndcg@10": nd[10], "ndcg@25": nd[25]}
            results[(enc, s)] = ev.results
            rows += table.table2_rows(enc, s, ev.results, info)
            commands.append(ev.command)
    done.timings["eval"] = done.timings.get("eval", 0.0) + time.perf_counter() - t0
    budget = []
    if cfg.budget_check:
        s = cfg.seeds[0]
        pairs = {(e, v): (read_best(done.trainings[f"{e}/{v}-seed{s}"].run_dir),
                          read_best(done.trainings[f"{e}/{v}-seed{s}-x2"].run_dir))
                 for e in cfg.encoders for v in VARIANTS}
        budget = table.budget_rows(pairs, cfg.select)
    prior = next((r.acc for res in results.values() if res.srr for r in res.srr.rows if r.group == "reference"),
                 None)
    alt_rows = {e: [100 * r["alt"]["ndcg@10"] for r in rows if r["encoder"] == e and "alt" in r]
                for e in cfg.encoders}
    doc = {"format": "csip-run-summary", "version": 2, "settings": cfg.settings(), "select": cfg.select,
           "rows": rows, "means": table.mean_table(rows), "verdicts": table.verdicts(rows),
           "references": table.references(results), "table3": table.table3(results),
           "alt_features": alt,
           "alt_means": {e: sum(v) / len(v) for e, v in alt_rows.items() if v},
           "budget": budget, "layouts": layouts_section((enc, res) for (enc, _), res in results.items()),
           "eval_commands": commands,
           "timings_s": {k: round(v, 2) for k, v in done.timings.items()},
           "paths": {"cache": str(p["cache"]), "runs": str(p["runs"]), "eval": str(p["eval"])}}
    if cfg.figures and "srr" in cfg.tasks:
        doc["figures"] = {"fig4": str(table.fig4(rows, p["out"] / "fig4_srr.png", prior))}
    reports = [p["eval"] / enc / f"seed{s}" / "report.md" for enc, s in results]
    return doc, summary_markdown(doc), reports


__all__ = ["VARIANTS", "before", "paths", "plan", "summary"]
