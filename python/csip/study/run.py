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

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from . import stages, table
from .config import StudyConfig
from .report import summary_markdown

VARIANTS = (("supervised", True), ("c-sip", False))


@contextlib.contextmanager
def shared_text_encoder():
    """While active, every ``csip eval`` in this process gets the same :class:`TextEncoder`
    (per path and device), so the VQA questions are embedded once for all evaluations instead
    of once each (MiniLM embeds ~170 questions/s on two cores)."""
    from ..eval import vqa

    original = vqa.TextEncoder
    made: dict[tuple, object] = {}

    def factory(path=None, device="cpu", **kwargs):
        key = (str(path), str(device), tuple(sorted(kwargs.items())))
        if key not in made:
            made[key] = original(path, device, **kwargs)
        return made[key]

    vqa.TextEncoder = factory
    try:
        yield
    finally:
        vqa.TextEncoder = original


def _best_val_acc(run_dir: Path) -> float | None:
    from ..train import read_metrics

    accs = [r["val_acc"] for r in read_metrics(run_dir, "val") if "val_acc" in r]
    return max(accs) if accs else None


def run_study(cfg: StudyConfig, log: Callable[[str], None] = print, echo: Callable[[str], None] = print) -> dict:
    """Run (or resume) the whole study; returns the ``summary.json`` document."""
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir, runs_root, eval_root = out / "cache", out / "runs", out / "eval"
    timings: dict[str, float] = {}
    t_all = t0 = time.perf_counter()

    log(f"precompute: {cfg.n} synthetic scenes, {cfg.image_size} px, forces {cfg.forces}, {cfg.n_angles} angles")
    status = stages.build_cache(cfg, cache_dir, log)
    log(f"precompute: {status} ({time.perf_counter() - t0:.1f} s) -> {cache_dir}")
    timings["precompute"] = time.perf_counter() - t0
    if cfg.figures:
        from ..demo import sfb_demo

        sfb_demo(out, n_scenes=4, seed=cfg.data_seed)

    # ---- training: every (encoder, seed, variant), then the budget check
    t0 = time.perf_counter()
    runs: dict[tuple[str, int], dict[str, Path]] = {}
    for enc in cfg.encoders:
        for s in cfg.seeds:
            for variant, sup in VARIANTS:
                rd = runs_root / enc / f"{variant}-seed{s}"
                t1 = time.perf_counter()
                status = stages.train_run(stages.train_config(cfg, rd, cache_dir, enc, sup, s, cfg.epochs))
                log(f"pretrain {enc}/{rd.name}: {status} ({time.perf_counter() - t1:.1f} s)")
                runs.setdefault((enc, s), {})[variant] = rd
    timings["pretrain"] = time.perf_counter() - t0
    budget_pairs: dict[tuple[str, str], tuple] = {}
    if cfg.budget_check:
        t0 = time.perf_counter()
        s = cfg.seeds[0]
        for enc in cfg.encoders:
            for variant, sup in VARIANTS:
                rd = runs_root / enc / f"{variant}-seed{s}-x2"
                t1 = time.perf_counter()
                status = stages.train_run(stages.train_config(cfg, rd, cache_dir, enc, sup, s, 2 * cfg.epochs))
                log(f"budget check {enc}/{rd.name}: {status} ({time.perf_counter() - t1:.1f} s)")
                from ..selection import read_best

                budget_pairs[(enc, variant)] = (read_best(runs[(enc, s)][variant]), read_best(rd))
        timings["budget check"] = time.perf_counter() - t0

    # ---- evaluation: one csip eval per (encoder, seed)
    t0 = time.perf_counter()
    device = cfg.device or stages._device()
    alt = "pre" if cfg.features == "embed" else "embed"
    results: dict[tuple[str, int], dict] = {}
    rows: list[dict] = []
    commands: list[str] = []
    with shared_text_encoder():
        for enc in cfg.encoders:
            for s in cfg.seeds:
                ed = eval_root / enc / f"seed{s}"
                ckpts = {f"{v}-seed{s}": stages.selected_checkpoint(runs[(enc, s)][v]) for v, _ in VARIANTS}
                args = stages.eval_args(cfg, cache_dir, ed, enc, s, ckpts)
                t1 = time.perf_counter()
                res = stages.run_eval(args, ed, ckpts)
                log(f"eval {enc} seed {s}: {'skipped (complete)' if res.get('_skipped') else 'done'} "
                    f"({time.perf_counter() - t1:.1f} s)")
                results[(enc, s)] = res
                commands.append(stages.eval_command(args))
                info = {}
                for v, _ in VARIANTS:
                    from ..selection import read_best

                    rd = runs[(enc, s)][v]
                    info[v] = {"checkpoint": str(ckpts[f"{v}-seed{s}"]), "best": read_best(rd),
                               "best_val_acc": _best_val_acc(rd) if v == "supervised" else None}
                alt_nd = stages.cbir_ndcg(cache_dir, ckpts[f"c-sip-seed{s}"], cfg.eval_split, alt, device)
                info["c-sip"]["alt"] = {"features": alt, "ndcg@10": alt_nd[10], "ndcg@25": alt_nd[25]}
                rows += table.table2_rows(enc, s, res, info)
    timings["eval"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all

    prior = None
    for res in results.values():
        ref = next((r for r in res.get("srr", {}).get("rows", []) if r.get("group") == "reference"), None)
        prior = prior or (ref or {}).get("acc")
    doc = {"format": "csip-run-summary", "version": 2, "settings": cfg.settings(), "select": cfg.select,
           "rows": rows, "means": table.mean_table(rows), "verdicts": table.verdicts(rows),
           "references": table.references(results), "table3": table.table3(results),
           "alt_features": alt,
           "alt_means": {enc: 100 * sum(r["alt"]["ndcg@10"] for r in rows if r["encoder"] == enc and "alt" in r)
                         / max(1, sum(1 for r in rows if r["encoder"] == enc and "alt" in r)) for enc in cfg.encoders},
           "budget": table.budget_rows(budget_pairs, cfg.select) if budget_pairs else [],
           "eval_commands": commands, "timings_s": {k: round(v, 2) for k, v in timings.items()},
           "paths": {"cache": str(cache_dir), "runs": str(runs_root), "eval": str(eval_root)}}
    if cfg.figures and "srr" in cfg.tasks:
        doc["figures"] = {"fig4": str(table.fig4(rows, out / "fig4_srr.png", prior))}
    md = summary_markdown(doc)
    (out / "summary.md").write_text(md + "\n", encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if not cfg.quiet:
        for (enc, s), _ in results.items():
            rp = eval_root / enc / f"seed{s}" / "report.md"
            if rp.is_file():
                echo(f"\n======== {enc}, seed {s} ({rp.parent}) ========\n")
                echo(rp.read_text(encoding="utf-8"))
    echo("\n" + md)
    log(f"wrote {out / 'summary.md'} and {out / 'summary.json'} ({timings['total'] / 60:.1f} min in all)")
    return doc


__all__ = ["run_study", "shared_text_encoder"]
