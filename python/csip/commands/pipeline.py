"""``csip run``: the whole study on the built-in synthetic scenes, in one command.

::

    csip run [--out csip-out] [--seeds 0,1,2] [--n 5000] [--image-size 32] [--model 2d]
             [--epochs 10] [--batch-size 256] [--lr 5e-4] [--threads N]
             [--n-angles 90] [--forces -2.24:2.24:0.16] [--eval-split test] [--task ...]

Stages (each reuses the library, nothing is shelled out):

1. **precompute** the synthetic scenes into ``OUT/cache`` (``csip precompute``; resumable,
   and a cache made with other settings is refused rather than silently reused);
2. **pretrain**, for every seed k, the supervised baseline and C-SIP with the *same* image
   encoder into ``OUT/runs/supervised-seed<k>`` and ``OUT/runs/csip-seed<k>``
   (:func:`csip.train.train`; a finished run is skipped, an interrupted one resumed);
3. **eval**, for every seed k, CBIR / SRR / VQA of the random-init encoder (weights seeded
   with k), the supervised run and the C-SIP run of seed k into ``OUT/eval/seed<k>``
   (``csip eval``; skipped when its ``results.json`` is there);
4. **summary**: ``OUT/summary.md`` and ``OUT/summary.json`` — per-seed CBIR NDCG@10 of the
   three rows, their means, spreads (max − min and sample std) and the verdict "C-SIP beats
   both by more than the spread across seeds". The headline C-SIP row retrieves in C-SIP's
   shared image–banner space (g_v∘f_v; chosen on the val split: 96.3 vs 93.6 with the
   pre-projection features f_v that ``csip eval`` uses, which are reported too).
   Also ``OUT/sfb_demo.png`` (``csip demo``).

Why the defaults (2 CPU cores, ≤ 15 minutes for all of it, 3 seeds): see ``RUN_DEFAULTS``.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from pathlib import Path

import click

#: Defaults of ``csip run``, sized so that precompute + 6 trainings + 3 evaluations finish in
#: well under 15 minutes on two CPU cores (measured: 6.8 min wall; 20 epochs gave +0.4 NDCG@10
#: on the val split for 3.3 more minutes, so 10 keeps a 2x margin). The image encoder is the
#: paper's "2D" model (box coordinates): ResNet18-based encoders train at ~36 images/s at 64 px
#: on two cores, far too slow for three seeds of two trainings in this budget (``--model`` picks
#: another one). The banner is sampled at 2° × 0.16 force-level steps (29 × 90) instead of 1° ×
#: 0.08 (57 × 180): the banner is smooth in θ and r, the CBIR relevance (banner cosine) barely
#: changes (measured on these 5,000 scenes: pairwise relevances correlate at 1.0000, max
#: difference 0.009; NDCG@10 of every row within 0.03), and the spatial encoder, the cost of
#: C-SIP training on a CPU, runs 5× faster.
RUN_DEFAULTS = {
    "n": 5000,
    "image_size": 32,
    "model": "2d",
    "epochs": 10,
    "batch_size": 256,
    "lr": 5e-4,
    "label_smoothing": 0.3,
    "n_angles": 90,
    "forces": "-2.24:2.24:0.16",
    "seeds": "0,1,2",
}

VARIANTS = ("supervised", "csip")
ROWS = ("random-init", "supervised", "C-SIP")
EMBED_ROW = "C-SIP (embedding)"
_GROUP_OF_ROW = {"random-init": "random init", "supervised": "supervised", "C-SIP": "C-SIP"}


def _parse_seeds(value: str) -> list[int]:
    try:
        seeds = [int(s) for s in str(value).replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}", param_hint="--seeds") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise click.BadParameter(f"expected distinct seeds, got {value!r}", param_hint="--seeds")
    return seeds


def _echo(msg: str) -> None:
    click.echo(f"[csip run] {msg}", err=True)


def _fmt_s(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


# --------------------------------------------------------------------------- stages


def stage_precompute(cache_dir: Path, n: int, image_size: int, seed: int, n_angles: int, forces: str,
                     threads: int | None, workers: int | None, progress: bool) -> None:
    """Build (or resume, or find complete) the synthetic cache with ``csip precompute``."""
    from .precompute import precompute

    args = ["run", "synthetic", "--out", str(cache_dir), "--n", str(n), "--image-size", str(image_size),
            "--seed", str(seed), "--n-angles", str(n_angles), f"--forces={forces}", "--shard", "0/1",
            "--progress" if progress else "--no-progress"]
    if workers is not None:
        args += ["--workers", str(workers)]
    if threads:
        args += ["--threads", str(threads)]
    try:
        precompute.main(args=args, standalone_mode=False)
    except SystemExit as exc:  # precompute reports its own errors and exits 2
        if exc.code:
            raise click.ClickException(f"precompute into {cache_dir} failed (exit {exc.code})") from None
    if not (cache_dir / "manifest.json").is_file():
        raise click.ClickException(f"precompute into {cache_dir} did not finish")


#: TrainConfig fields that must agree for a finished run to be reused.
_CHECKED_FIELDS = ("model", "supervised", "epochs", "batch_size", "lr", "label_smoothing", "seed", "split",
                   "weight_decay", "warmup")


def stage_train(run_dir: Path, cache_dir: Path, model: str, supervised: bool, seed: int, epochs: int,
                batch_size: int, lr: float, label_smoothing: float, progress: bool) -> str:
    """Train one run (or skip it when finished with the same settings, or resume it).

    Returns "trained", "resumed" or "skipped".
    """
    from ..train import DataError, TrainConfig, TrainingDiverged, train

    cfg = TrainConfig(out=str(run_dir), cache=str(cache_dir), split="train", model=model, supervised=supervised,
                      epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, label_smoothing=label_smoothing,
                      progress=progress, device="cpu" if not _cuda() else None)
    final = run_dir / "checkpoints" / "final.pt"
    last = run_dir / "checkpoints" / "last.pt"
    params = run_dir / "params.json"
    if final.is_file() or last.is_file():
        stored = {}
        if params.is_file():
            try:
                stored = json.loads(params.read_text()).get("config", {})
            except ValueError:
                stored = {}
        want = {k: getattr(cfg, k) for k in _CHECKED_FIELDS}
        diff = {k: (stored.get(k), v) for k, v in want.items() if stored.get(k) != v}
        same_cache = stored.get("cache") is None or Path(stored["cache"]).resolve() == cache_dir.resolve()
        if diff or not same_cache:
            what = ", ".join(f"{k}: {a!r} there, {b!r} asked" for k, (a, b) in diff.items()) or "another cache"
            raise click.ClickException(f"{run_dir} holds a run made with other settings ({what}); "
                                       "choose another --out or delete it")
        if final.is_file():
            return "skipped"
        cfg.resume = True
    try:
        train(cfg)
    except (DataError, TrainingDiverged, FileExistsError, FileNotFoundError) as exc:
        raise click.ClickException(f"{run_dir}: {exc}") from None
    return "resumed" if cfg.resume else "trained"


@contextlib.contextmanager
def shared_text_encoder():
    """While active, every ``csip eval`` in this process gets the same :class:`TextEncoder`
    (per path and device), so the VQA questions are embedded once for all seeds instead of once
    per seed (MiniLM embeds ~170 questions/s on two cores: ~55 s for the default 9,400 texts).

    ``csip eval`` imports ``TextEncoder`` from :mod:`csip.eval.vqa` when it runs; the module
    attribute is swapped for a memoising factory and restored on exit.
    """
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


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def stage_eval(eval_dir: Path, cache_dir: Path, runs: dict[str, Path], model: str, seed: int, tasks: list[str],
               split: str, threads: int | None, text_encoder: Path | None, figures: bool) -> dict:
    """``csip eval`` of the random-init encoder (seed ``seed``) and the given runs; returns the
    results dict (read back from ``results.json``; an existing complete one is reused)."""
    from .evaluate import evaluate

    res_path = eval_dir / "results.json"
    if res_path.is_file():
        try:
            res = json.loads(res_path.read_text())
            names = {e["name"]: e.get("source") for e in res.get("encoders", [])}
            ok = (all(t in res or t in res.get("notes", {}) for t in tasks)
                  and all(names.get(n) == str(p) for n, p in runs.items())
                  and res.get("seed") == seed and res.get("settings", {}).get("split") == split
                  # a run retrained since (its directory deleted and rerun) makes the results stale
                  and all(res_path.stat().st_mtime >= (Path(p) / "checkpoints" / "final.pt").stat().st_mtime
                          for p in runs.values()))
            if ok:
                return res | {"_skipped": True}
        except (ValueError, KeyError, TypeError):
            pass
    args = ["--cache", str(cache_dir), "--out", str(eval_dir), "--random-init-model", model, "--seed", str(seed),
            "--split", split, "--quiet", "--figures" if figures else "--no-figures"]
    for t in tasks:
        args += ["--task", t]
    for name, p in runs.items():
        args += ["--checkpoint", f"{name}={p}"]
    if threads:
        args += ["--threads", str(threads)]
    if text_encoder is not None:
        args += ["--text-encoder", str(text_encoder)]
    if _cuda() is False:
        args += ["--device", "cpu"]
    try:
        evaluate.main(args=args, standalone_mode=False)
    except click.ClickException as exc:
        raise click.ClickException(f"eval into {eval_dir}: {exc.format_message()}") from None
    return json.loads(res_path.read_text())


def cbir_embedding_ndcg(cache_dir: Path, run_dir: Path, split: str, k: int = 10) -> float:
    """CBIR NDCG@k (×100) of a C-SIP run retrieving with its shared-space embedding g_v∘f_v,
    with ``csip eval``'s protocol (queries = gallery = ``split``, the query left out)."""
    import numpy as np
    from torch.utils.data import Subset

    from ..cache import Cache, CacheDataset
    from ..checkpoint import encode, load_encoder
    from ..eval.cbir import ndcg

    cache = Cache(cache_dir)
    q = cache.indices(split)
    tower = load_encoder(run_dir, map_location="cpu")
    emb = encode(tower, Subset(CacheDataset(cache), q.tolist()), batch_size=256, device="cpu", embed=True)
    return 100.0 * ndcg(emb, np.asarray(cache.sfb[q]), ks=(k,))[k]


# --------------------------------------------------------------------------- summary


def _ndcg_of(rows: list[dict], group: str, k: int = 10) -> float | None:
    for r in rows:
        if r.get("group") == group and r.get("status") == "ok" and r.get("ndcg"):
            d = r["ndcg"]
            v = d.get(str(k), d.get(k))
            return None if v is None else float(v)
    return None


def spread_stats(values: list[float]) -> dict:
    """mean, min, max, range (max − min) and sample std (ddof = 1; 0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"values": values, "mean": mean, "min": min(values), "max": max(values),
            "range": max(values) - min(values), "std": std}


def summarise(per_seed: dict[int, dict], model: str, k: int = 10,
              embed_ndcg: dict[int, float] | None = None) -> dict:
    """The study's verdict from each seed's eval results (CBIR NDCG@k on the eval split, ×100).

    For each baseline X (random-init, supervised): ``margin`` = mean(C-SIP) − mean(X);
    ``spread`` = the larger of the two rows' ranges (max − min over seeds); C-SIP "beats X by
    more than the spread" when margin > spread. ``no_overlap`` (stricter in spirit, and what
    one would check by eye): the worst C-SIP seed is above the best X seed. ``paired``: the
    per-seed differences C-SIP − X (same seed, same data order).

    ``embed_ndcg`` ({seed: NDCG@k ×100}): C-SIP retrieving in its shared image–banner space
    (g_v ∘ f_v, the space its loss trains to match banners) instead of with the pre-projection
    features f_v that ``csip eval`` uses; when given, it is the headline C-SIP row (the choice
    was made on the val split; random-init and supervised have no such space: their
    ``embed`` is the L2-normalised features, the same cosines), and both verdicts are kept.
    """
    seeds = sorted(per_seed)
    table: dict[str, list[float | None]] = {row: [] for row in ROWS}
    for s in seeds:
        rows = per_seed[s].get("cbir", {}).get("rows", [])
        for row in ROWS:
            v = _ndcg_of(rows, _GROUP_OF_ROW[row], k)
            table[row].append(None if v is None else 100.0 * v)
    if embed_ndcg is not None:
        table[EMBED_ROW] = [embed_ndcg.get(s) for s in seeds]
    stats = {row: spread_stats(vals) for row, vals in table.items() if vals and None not in vals}

    def versus(crow: str) -> dict[str, dict]:
        out: dict[str, dict] = {}
        if crow not in stats:
            return out
        c = stats[crow]
        for row in ("random-init", "supervised"):
            if row not in stats:
                continue
            x = stats[row]
            spread = max(c["range"], x["range"])
            margin = c["mean"] - x["mean"]
            paired = [a - b for a, b in zip(c["values"], x["values"])]
            out[row] = {"margin": margin, "spread": spread, "beats_by_more_than_spread": margin > spread,
                        "no_overlap": c["min"] > x["max"], "paired_differences": paired,
                        "min_paired_difference": min(paired)}
        return out

    def beats_both(v: dict) -> bool | None:
        if len(seeds) < 2:
            return None  # one seed has no spread: no claim either way
        return len(v) == 2 and all(d["beats_by_more_than_spread"] for d in v.values())

    verdict = versus("C-SIP")
    verdict_embedding = versus(EMBED_ROW) if EMBED_ROW in stats else None
    headline = EMBED_ROW if verdict_embedding else "C-SIP"
    beats = beats_both(verdict_embedding if verdict_embedding else verdict)
    extra: dict[str, dict] = {}
    for s in seeds:
        res = per_seed[s]
        e: dict = {}
        for row in ROWS:
            g = _GROUP_OF_ROW[row]
            cb = next((r for r in res.get("cbir", {}).get("rows", []) if r.get("group") == g), None)
            sr = next((r for r in res.get("srr", {}).get("rows", []) if r.get("group") == g), None)
            vq = next((r for r in res.get("vqa", {}).get("rows", [])
                       if r.get("groups") == [g] and r.get("status") == "ok"), None)
            e[row] = {"ndcg": (cb or {}).get("ndcg"), "srr_acc": (sr or {}).get("acc"),
                      "vqa_accuracy": (vq or {}).get("accuracy")}
        ref = next((r for r in res.get("cbir", {}).get("rows", []) if r.get("group") == "reference"), None)
        e["random ranking"] = {"ndcg": (ref or {}).get("ndcg")}
        extra[str(s)] = e
    ref = [_ndcg_of(per_seed[s].get("cbir", {}).get("rows", []), "reference", k) for s in seeds]
    return {"metric": f"CBIR NDCG@{k} (x100)", "model": model, "seeds": seeds, "ndcg": table, "stats": stats,
            "ndcg_random_ranking": [None if v is None else 100.0 * v for v in ref],
            "verdict": verdict, "verdict_embedding": verdict_embedding, "headline_row": headline,
            "csip_beats_both_by_more_than_spread": beats,
            "csip_features_beat_both_by_more_than_spread": beats_both(verdict), "per_seed_all_tasks": extra}


def summary_markdown(summary: dict, settings: dict, timings: dict) -> str:
    seeds = summary["seeds"]
    k = summary["metric"]
    lines = [f"# csip run — summary", "",
             f"{k} on the `{settings['eval_split']}` split of the built-in synthetic scenes; image encoder "
             f"`{summary['model']}` for all three rows (random-init weights seeded like the runs).", "",
             "| encoder | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | max−min | std |",
             "|---|" + "---:|" * (len(seeds) + 3)]
    for row in [*ROWS, *([EMBED_ROW] if EMBED_ROW in summary["ndcg"] else [])]:
        st = summary["stats"].get(row)
        vals = summary["ndcg"].get(row, [])
        cells = [("—" if v is None else f"{v:.2f}") for v in vals]
        if st:
            cells += [f"{st['mean']:.2f}", f"{st['range']:.2f}", f"{st['std']:.2f}"]
        else:
            cells += ["—", "—", "—"]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    ref = summary.get("ndcg_random_ranking") or []
    if ref and None not in ref:
        st = spread_stats(ref)
        lines.append("| *random ranking (reference)* | " + " | ".join(f"{v:.2f}" for v in ref)
                     + f" | {st['mean']:.2f} | {st['range']:.2f} | {st['std']:.2f} |")
    lines.append("")
    pairs = [("C-SIP (features f_v)" if summary.get("verdict_embedding") else "C-SIP", row, v)
             for row, v in summary["verdict"].items()]
    pairs += [(EMBED_ROW, row, v) for row, v in (summary.get("verdict_embedding") or {}).items()]
    for crow, row, v in pairs:
        lines.append(f"- {crow} − {row}: margin {v['margin']:+.2f} (paired per seed: "
                     + ", ".join(f"{d:+.2f}" for d in v["paired_differences"])
                     + f"), spread {v['spread']:.2f} → "
                     + ("**beats it by more than the spread**" if v["beats_by_more_than_spread"]
                        else "**does not beat it by more than the spread**")
                     + ("; no overlap between seeds" if v["no_overlap"] else "; the seed ranges overlap"))
    beats = summary["csip_beats_both_by_more_than_spread"]
    verdict = ("no verdict: one seed has no spread across seeds (use --seeds 0,1,2)" if beats is None else
               summary.get("headline_row", "C-SIP") + " " + ("beats" if beats else "does NOT beat")
               + " both random-init and supervised by more than the spread across seeds")
    lines += ["", f"**Verdict: {verdict}.**", "",
              "Spread = the larger of the two rows' max − min over seeds; std is the sample std (ddof 1). "
              "Rows random-init, supervised and C-SIP use the pre-projection features f_v, as `csip eval` does; "
              "C-SIP (embedding) retrieves in C-SIP's shared image–banner space g_v∘f_v (for the other two rows "
              "that space is their normalised features: same numbers).", "",
              "Settings: " + ", ".join(f"{key}={val}" for key, val in settings.items()), "",
              "Wall time per stage: " + ", ".join(f"{key} {_fmt_s(v)}" for key, v in timings.items())]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the command


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("csip-out"), show_default=True,
              help="Everything goes here: cache/, runs/<variant>-seed<k>/, eval/seed<k>/, summary.md, summary.json.")
@click.option("--seeds", default=RUN_DEFAULTS["seeds"], show_default=True,
              help="Comma-separated seeds: one supervised and one C-SIP run, and one random-init row, per seed.")
@click.option("--n", type=click.IntRange(min=20), default=RUN_DEFAULTS["n"], show_default=True,
              help="Synthetic scenes (80% train, 10% val, 10% test).")
@click.option("--image-size", type=click.IntRange(min=16), default=RUN_DEFAULTS["image_size"], show_default=True,
              help="Side of the cached crops (only image encoders read them).")
@click.option("--model", type=click.Choice(["2d", "resnet18", "drnet", "resnet18+2d"]), default=RUN_DEFAULTS["model"],
              show_default=True, help="Image encoder of all three rows (paper, Table 1).")
@click.option("--epochs", type=click.IntRange(min=1), default=RUN_DEFAULTS["epochs"], show_default=True,
              help="Training epochs (C-SIP and supervised alike).")
@click.option("--batch-size", type=click.IntRange(min=2), default=RUN_DEFAULTS["batch_size"], show_default=True)
@click.option("--lr", type=float, default=RUN_DEFAULTS["lr"], show_default=True, help="Peak AdamW learning rate.")
@click.option("--label-smoothing", type=float, default=RUN_DEFAULTS["label_smoothing"], show_default=True,
              help="Label smoothing of the contrastive loss.")
@click.option("--n-angles", type=click.IntRange(min=1), default=RUN_DEFAULTS["n_angles"], show_default=True,
              help="Directions of the banner over [0, π).")
@click.option("--forces", default=RUN_DEFAULTS["forces"], show_default=True,
              help="Force levels r: 'default' (57 levels, step 0.08), 'START:STOP:STEP' or 'r1,r2,...'.")
@click.option("--data-seed", type=int, default=0, show_default=True, help="Seed of the synthetic scenes.")
@click.option("--eval-split", type=click.Choice(["test", "val"]), default="test", show_default=True,
              help="Split of the CBIR queries/gallery (choose settings on val, report test).")
@click.option("--task", "tasks", multiple=True, type=click.Choice(["cbir", "srr", "vqa", "all"]), default=("all",),
              show_default=True, help="Evaluation task(s).")
@click.option("--text-encoder", type=click.Path(path_type=Path), default=None,
              help="Local text encoder for VQA (default: the bundled MiniLM).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch and the sFB engine (default: all cores).")
@click.option("--figures/--no-figures", default=True, show_default=True, help="Eval figures and the sFB demo figure.")
@click.option("--progress/--no-progress", default=False, show_default=True, help="Progress bars.")
@click.option("--quiet", is_flag=True, help="Print only the summary, not every table.")
def run(out, seeds, n, image_size, model, epochs, batch_size, lr, label_smoothing, n_angles, forces, data_seed,
        eval_split, tasks, text_encoder, threads, figures, progress, quiet) -> None:
    """Precompute → pretrain (C-SIP and supervised, per seed) → eval (CBIR, SRR, VQA) → summary.

    Runs on the built-in synthetic scenes; rerunning resumes (finished stages are skipped).
    """
    import torch

    seed_list = _parse_seeds(seeds)
    task_list = ["cbir", "srr", "vqa"] if "all" in tasks else sorted(set(tasks), key=["cbir", "srr", "vqa"].index)
    if "cbir" not in task_list:
        task_list = ["cbir", *task_list]  # the summary is about CBIR
    if threads:
        torch.set_num_threads(threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir, runs_dir, eval_root = out / "cache", out / "runs", out / "eval"
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    # 1. precompute -------------------------------------------------------------------------
    t0 = time.perf_counter()
    _echo(f"precompute: {n} synthetic scenes, {image_size} px, banner forces {forces}, {n_angles} angles -> {cache_dir}")
    stage_precompute(cache_dir, n, image_size, data_seed, n_angles, forces, threads,
                     workers=None, progress=progress)
    timings["precompute"] = time.perf_counter() - t0
    if figures:
        from .demo import demo

        try:
            demo.main(args=["--out", str(out), "--n", "4", "--seed", str(data_seed)], standalone_mode=False)
        except SystemExit:
            pass

    # 2. pretrain ---------------------------------------------------------------------------
    t0 = time.perf_counter()
    runs: dict[int, dict[str, Path]] = {}
    for s in seed_list:
        runs[s] = {}
        for variant in VARIANTS:
            rd = runs_dir / f"{variant}-seed{s}"
            t1 = time.perf_counter()
            status = stage_train(rd, cache_dir, model, variant == "supervised", s, epochs, batch_size, lr,
                                 label_smoothing, progress)
            _echo(f"pretrain {rd.name}: {status} ({time.perf_counter() - t1:.1f} s)")
            runs[s][variant] = rd
    timings["pretrain"] = time.perf_counter() - t0

    # 3. eval -------------------------------------------------------------------------------
    t0 = time.perf_counter()
    per_seed: dict[int, dict] = {}
    with shared_text_encoder():
        for s in seed_list:
            t1 = time.perf_counter()
            named = {f"{v}-seed{s}": p for v, p in runs[s].items()}
            res = stage_eval(eval_root / f"seed{s}", cache_dir, named, model, s, task_list, eval_split, threads,
                             text_encoder, figures)
            _echo(f"eval seed {s}: {'skipped (complete)' if res.get('_skipped') else 'done'} "
                  f"({time.perf_counter() - t1:.1f} s)")
            per_seed[s] = res
    timings["eval"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all

    # 4. tables and summary -----------------------------------------------------------------
    if not quiet:
        for s in seed_list:
            report = eval_root / f"seed{s}" / "report.md"
            if report.is_file():
                click.echo(f"\n======== seed {s} ({eval_root / f'seed{s}'}) ========\n")
                click.echo(report.read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    embed_ndcg = {s: cbir_embedding_ndcg(cache_dir, runs[s]["csip"], eval_split) for s in seed_list}
    timings["eval"] += time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    summary = summarise(per_seed, model, embed_ndcg=embed_ndcg)
    settings = {"n": n, "image_size": image_size, "model": model, "epochs": epochs, "batch_size": batch_size,
                "lr": lr, "label_smoothing": label_smoothing, "n_angles": n_angles, "forces": forces,
                "data_seed": data_seed, "seeds": seed_list, "eval_split": eval_split, "tasks": task_list,
                "threads": threads or torch.get_num_threads()}
    md = summary_markdown(summary, settings, timings)
    (out / "summary.md").write_text(md + "\n", encoding="utf-8")
    doc = {"format": "csip-run-summary", "version": 1, "settings": settings,
           "timings_s": {k: round(v, 2) for k, v in timings.items()},
           "paths": {"cache": str(cache_dir), "runs": {str(s): {v: str(p) for v, p in r.items()} for s, r in runs.items()},
                     "eval": {str(s): str(eval_root / f"seed{s}") for s in seed_list}},
           **summary}
    (out / "summary.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    click.echo("\n" + md)
    _echo(f"wrote {out / 'summary.md'} and {out / 'summary.json'} ({_fmt_s(timings['total'])} in all)")


if __name__ == "__main__":  # pragma: no cover
    run(sys.argv[1:])
