""":func:`run_study`: a preset's plan (caches → trainings → evaluations) carried out by the one
runner, then the preset's summary.

Two presets: :class:`~csip.study.config.StudyConfig`, the built-in study on the synthetic scenes
(:mod:`csip.study.synthetic`, what ``make demo`` runs), and :class:`~csip.study.paper.PaperConfig`,
the paper's protocol on the real datasets (:mod:`csip.study.paper`, ``csip run --config``).
Rerunning skips every finished stage; a stage made with other settings is refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from ..base.checks import check_writable_dir
from ..base.files import atomic_write, write_json
from ..base.lock import output_lock
from . import paper, stages, synthetic
from .config import StudyConfig
from .paper import PaperConfig
from .plan import Plan, describe
from .runner import Runner

logger = logging.getLogger(__name__)


def preset_of(cfg: StudyConfig | PaperConfig):
    """The module of ``cfg``'s preset (``plan``, ``summary``)."""
    return synthetic if isinstance(cfg, StudyConfig) else paper


def make_plan(cfg: StudyConfig | PaperConfig) -> Plan:
    """The steps ``cfg`` runs (checked first: a setting a later stage would refuse is refused now)."""
    if isinstance(cfg, StudyConfig):
        stages.check_settings(cfg)
    else:
        cfg.validate()
        stages.check_plan(paper.plan(cfg))
    return preset_of(cfg).plan(cfg)


def dry_run(cfg: StudyConfig | PaperConfig) -> str:
    """What :func:`run_study` would do, with the expected sizes on disk; nothing is written."""
    plan = make_plan(cfg)
    return describe(plan, stages.source_sizes(plan), stages.checkpoint_sizes(plan))


def _threads(cfg) -> int | None:
    return getattr(cfg, "threads", None)


def run_study(cfg: StudyConfig | PaperConfig, echo: Callable[[str], None] = print, quiet: bool | None = None) -> dict:
    """Run (or resume) the whole study; returns the ``summary.json`` document (also written,
    with ``summary.md``, in ``cfg.out``). Bad settings raise :class:`~csip.base.errors.BadOption`
    before any work; a stage that cannot run raises :class:`~csip.study.stages.StudyError`.
    ``echo`` prints the evaluations' reports (unless ``quiet``, by default ``cfg.quiet``) and
    the summary."""
    plan = make_plan(cfg)
    if _threads(cfg):
        import torch

        torch.set_num_threads(cfg.threads)
    # one study per directory; its stages lock their own below it
    with output_lock(check_writable_dir(cfg.out, "--out")) as out:
        return _run_locked(cfg, plan, out, echo, quiet)


def _run_locked(cfg: StudyConfig | PaperConfig, plan: Plan, out: Path, echo: Callable[[str], None],
                quiet: bool | None) -> dict:
    """:func:`run_study` once ``out`` is locked."""
    t_all = time.perf_counter()
    if isinstance(cfg, StudyConfig):
        synthetic.before(cfg)
    t_before = time.perf_counter() - t_all
    runner = Runner(threads=_threads(cfg), progress=cfg.progress,
                    workers=getattr(cfg, "precompute_workers", None))
    done = runner.run(plan)
    done.timings["precompute"] = done.timings.get("precompute", 0.0) + t_before
    done.timings["total"] = time.perf_counter() - t_all
    doc, md, reports = preset_of(cfg).summary(cfg, done)
    # each file atomic; summary.json strict JSON (NaN as null, as results.json)
    write_json(out / "summary.json", doc)
    atomic_write(out / "summary.md", lambda tmp: Path(tmp).write_text(md + "\n", encoding="utf-8"))
    if not (getattr(cfg, "quiet", False) if quiet is None else quiet):
        for rp in reports:
            if rp.is_file():
                echo(f"\n======== {rp.parent.relative_to(out)} ({rp.parent}) ========\n")
                echo(rp.read_text(encoding="utf-8"))
    echo("\n" + md)
    logger.info(f"wrote {out / 'summary.md'} and {out / 'summary.json'} ({done.timings['total'] / 60:.1f} min in all)")
    return doc


__all__ = ["dry_run", "make_plan", "preset_of", "run_study"]
