"""The plan of an evaluation: every input checked, and every encoder opened, before any
feature is computed or any output written.

:func:`make_plan` runs the checks in this order (the first failure is the one reported):
the cache opens; each asked task is possible on it (SRR needs labels, VQA questions, CBIR two
items); the text encoder exists (VQA); the checkpoints and run directories exist; the
pre-trained weights exist; the device is usable; every checkpoint and pre-trained model
loads; the row names are distinct and the rows named by ``vqa_images`` / ``grid_encoder``
exist. Errors are :mod:`csip.base.errors` types whose message names the option or file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..cache import Cache, CacheError
from ..base.checks import check_device
from ..base.errors import BadFile, BadOption, EvalError
from . import baselines as B
from .config import TASKS, EvalConfig
from ..base.checks import default_device
from .runner import REFERENCE_ROWS, srr_indices, vqa_questions
from .vqa import check_text_encoder_path


@dataclass
class Plan:
    """What :func:`csip.eval.api.run` computes: the rows (``specs``, table order) on the
    ``tasks`` of ``cache``, with ``notes`` on the tasks ``"all"`` had to skip."""

    cache: Any  # csip.cache.Cache
    tasks: set[str]
    notes: dict[str, str]
    text_encoder: Path | None  # VQA's text encoder directory (None without VQA)
    specs: list  # csip.eval.baselines.EncoderSpec, table order
    loaded: dict = field(default_factory=dict)  # row name -> module opened while checking
    vqa_images: list[str] = field(default_factory=list)  # rows playing "image" in VQA
    device: str = "cpu"


def make_plan(cfg: EvalConfig, log: Callable[[str], None]) -> Plan:
    """Check every input of ``cfg`` and open its encoders; ``log`` gets the warnings."""
    cache = open_cache(cfg.cache)
    tasks, notes = possible_tasks(cfg, cache)
    text = text_encoder_path(cfg) if "vqa" in tasks else None
    named = named_checkpoints(cfg)
    pre_paths = pretrained_paths(cfg)
    device = choose_device(cfg)
    specs, loaded = encoder_rows(cfg, cache, named, pre_paths, log)
    images = row_choices(cfg, specs, tasks)
    return Plan(cache, tasks, notes, text, specs, loaded, images, device)


def open_cache(path: Path):
    """The :class:`csip.cache.Cache` at ``path``; :class:`EvalError` naming ``--cache``."""
    try:
        return Cache(path)
    except CacheError as exc:
        raise EvalError(f"--cache: {exc}") from None


def possible_tasks(cfg: EvalConfig, cache) -> tuple[set[str], dict[str, str]]:
    """The tasks to run and ``{task: note}`` on those skipped. A task the cache cannot do is an
    :class:`EvalError` when asked by name, a note under ``"all"``."""
    want = set(TASKS) if "all" in cfg.tasks else set(cfg.tasks)
    explicit = "all" not in cfg.tasks
    notes: dict[str, str] = {}
    for task, why in (("srr", _srr_missing), ("vqa", _vqa_missing)):
        msg = why(cache) if task in want else None
        if msg is not None:
            if explicit:
                raise EvalError(msg)
            want.discard(task)
            notes[task] = "skipped: " + msg
    if "cbir" in want:
        nq = len(cache.indices(None if cfg.split == "all" else cfg.split))
        if nq < (2 if cfg.gallery is None else 1):
            hint = "" if cfg.split == "all" else " (try --split all)"
            raise EvalError(f"CBIR needs at least 2 items in the {cfg.split!r} split of {cache.path}, found {nq}{hint}")
    if not want:
        raise EvalError("nothing to evaluate: " + "; ".join(notes.values()))
    return want, notes


def _srr_missing(cache) -> str | None:
    """Why SRR cannot run on ``cache`` (None: it can)."""
    if not cache.has_labels:
        return f"SRR needs relation labels, and the cache {cache.path} has none"
    idx = srr_indices(cache)
    if len(idx["train"]) == 0 or len(idx["test"]) == 0:
        return (f"SRR needs labelled train and test items; the cache {cache.path} has {len(idx['train'])} "
                f"labelled train and {len(idx['test'])} labelled test items")
    return None


def _vqa_missing(cache) -> str | None:
    """Why VQA cannot run on ``cache`` (None: it can)."""
    if not cache.has_questions:
        return f"VQA needs questions, and the cache {cache.path} has none"
    _, _, _, qsplit = vqa_questions(cache)
    if (qsplit == 0).any() and ((qsplit == 2).any() or (qsplit == 1).any()):
        return None
    return (f"VQA needs questions on train and test (or val) items; the cache {cache.path} has "
            f"{int((qsplit == 0).sum())} train, {int((qsplit == 1).sum())} val, {int((qsplit == 2).sum())} test")


def text_encoder_path(cfg: EvalConfig) -> Path:
    """VQA's text encoder directory; :class:`BadOption` naming ``--text-encoder``."""
    try:
        return check_text_encoder_path(cfg.text_encoder)
    except FileNotFoundError as exc:
        raise BadOption(f"--text-encoder: {exc}") from None


def named_checkpoints(cfg: EvalConfig) -> list[tuple[str, Path]]:
    """``(row name, path)`` of every trained encoder: ``checkpoints``, then the runs found under
    each of ``runs`` (named after their directory; prefixed by the parent's name on a clash)."""
    named = list(cfg.checkpoints)
    for rd in cfg.runs:
        if not rd.is_dir():
            raise BadOption(f"--runs: directory not found: {rd}")
        found = B.find_runs(rd)
        if not found:
            raise BadOption(f"--runs: no run (checkpoints/final.pt or model.safetensors) under {rd}")
        for n, p in found.items():
            if any(n == m for m, _ in named):
                n = f"{rd.name}/{n}"
            named.append((n, p))
    for name, p in named:
        if not p.exists():
            raise BadOption(f"--checkpoint {name}: not found: {p}")
    return named


def pretrained_paths(cfg: EvalConfig) -> dict[str, Path | None]:
    """``{key of PRETRAINED: path or None}``, each given path checked to be of the right kind."""
    paths = {"resnet18": cfg.imagenet_resnet18, "resnet50": cfg.imagenet_resnet50, "vit_b_16": cfg.imagenet_vit_b16,
             "clip": cfg.clip}
    for key, p in paths.items():
        if p is None:
            continue
        opt, kind = B.PRETRAINED[key][1], B.PRETRAINED[key][2]
        if not p.exists():
            raise BadOption(f"{opt}: not found: {p}")
        if kind == "dir" and not (p / "config.json").is_file():
            raise BadOption(f"{opt}: {p} is not a transformers model directory (no config.json)")
        if kind == "file" and not p.is_file():
            raise BadOption(f"{opt}: {p} is not a weights file")
    return paths


def choose_device(cfg: EvalConfig) -> str:
    """Sets torch's CPU threads (``threads``), checks ``device``; returns it (default: cuda when
    available, else cpu)."""
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    check_device(cfg.device)
    return cfg.device or default_device()


def encoder_rows(cfg: EvalConfig, cache, named: list[tuple[str, Path]], pre_paths: dict[str, Path | None],
                 log: Callable[[str], None]) -> tuple[list, dict]:
    """The rows in table order (random init, pre-trained, trained) and the pre-trained modules
    loaded to check them. Every checkpoint is opened now: a bad file fails before any work."""
    ckpt_specs = []
    for name, p in named:
        try:
            ckpt_specs.append(B.checkpoint_spec(name, p))
        except (FileNotFoundError, ValueError, KeyError, RuntimeError) as exc:
            raise BadFile(f"--checkpoint {name}={p}: cannot load it: {exc}") from None
    for cs in ckpt_specs:
        trained = cs.info.get("train_image_size")
        if trained and trained != cache.image_size and "image" in cs.info.get("uses", []):
            log(f"warning: {cs.name} was trained on {trained} px crops, the cache has {cache.image_size} px")
    specs = []
    if cfg.random_init:
        models = list(cfg.random_init_models) or sorted({s.model for s in ckpt_specs}, key=list(B.TABLE1_MODELS).index) \
            or list(B.TABLE1_MODELS)
        for m in models:
            widths = {cs.info.get("width", 64) for cs in ckpt_specs if cs.model == m}
            width = cfg.random_init_width or (widths.pop() if len(widths) == 1 else 64)  # the trained ones' width
            specs.append(B.random_init_spec(m, cfg.seed, cfg.feature_dim, width))
    loaded = {}
    for key in B.PRETRAINED:
        spec = B.pretrained_spec(key, pre_paths[key], cfg.pretrained_size)
        if spec.status == "ok":
            try:
                loaded[spec.name] = spec.load()
            except (ValueError, OSError, RuntimeError, KeyError) as exc:
                raise BadFile(f"{B.PRETRAINED[key][1]} {pre_paths[key]}: cannot load it: {exc}") from None
        specs.append(spec)
    specs.extend(ckpt_specs)
    if len({s.name for s in specs}) != len(specs):
        raise EvalError("two encoders share a name; give --checkpoint NAME=PATH with distinct names")
    taken = sorted({s.name for s in specs} & set(REFERENCE_ROWS))
    if taken:
        raise EvalError(f"the row name {taken[0]!r} is a reference row's; give --checkpoint NAME=PATH with another name")
    return specs, loaded


def row_choices(cfg: EvalConfig, specs: list, tasks: set[str]) -> list[str]:
    """The rows playing "image" in VQA (default: the pre-trained ones given, else the random-init
    ResNet18); checks that ``vqa_images`` and ``grid_encoder`` name rows that will run."""
    ok_names = [s.name for s in specs if s.status == "ok"]
    images: list[str] = []
    if "vqa" in tasks:
        for n in cfg.vqa_images:
            if n not in ok_names:
                raise EvalError(f"--vqa-image {n!r}: no such encoder row (rows: {', '.join(ok_names)})")
        images = list(cfg.vqa_images) or [s.name for s in specs if s.group == "pre-trained" and s.status == "ok"] \
            or [s.name for s in specs if s.group == "random init" and s.model == "resnet18"]
    if cfg.grid_encoder is not None and cfg.grid_encoder not in ok_names:
        raise EvalError(f"--grid-encoder {cfg.grid_encoder!r}: no such encoder row (rows: {', '.join(ok_names)})")
    return images
