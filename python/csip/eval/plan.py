"""The plan of an evaluation: every input checked, and every encoder opened, before any
feature is computed or any output written.

:func:`make_plan` runs the checks in this order (the first failure is the one reported):
the cache opens; each asked task is possible on it (:meth:`~csip.eval.task.Task.missing`:
SRR needs labels, VQA questions, CBIR two items); each task's own inputs
(:meth:`~csip.eval.task.Task.check`: VQA's text encoder exists); the checkpoints and run
directories exist; the pre-trained weights exist; the device is usable; every checkpoint and
pre-trained model loads; the row names are distinct and the rows named by options
(``--grid-encoder``, the tasks' :meth:`~csip.eval.task.Task.check_rows`: ``--vqa-image``) exist.
Errors are :mod:`csip.base.errors` types whose message names the option or file; warnings are
``logging`` records of ``csip.eval.plan``.

:func:`check_config` is the part that needs no cache (for a caller that checks its settings
before it makes the cache, as ``csip run`` does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..base.checks import check_device, default_device
from ..base.errors import BadFile, BadOption, EvalError
from ..cache import Cache, CacheError
from . import baselines as B
from .config import EvalConfig
from .task import Task
from .tasks import load_task, task_names

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What :func:`csip.eval.api.evaluate` computes: the rows (``specs``, table order) on the
    ``tasks`` of ``cache`` (``{name: Task}``, report order), with ``notes`` on the tasks
    ``"all"`` had to skip."""

    cache: Any  # csip.cache.Cache
    tasks: dict[str, Task]
    notes: dict[str, str]
    specs: list  # csip.eval.baselines.EncoderSpec, table order
    loaded: dict = field(default_factory=dict)  # row name -> module opened while checking
    device: str = "cpu"


def make_plan(cfg: EvalConfig) -> Plan:
    """Check every input of ``cfg`` and open its encoders (warnings are logged)."""
    cache = open_cache(cfg.cache)
    tasks, notes = possible_tasks(cfg, cache)
    for task in tasks.values():
        task.check(cfg)
    named = named_checkpoints(cfg)
    pre_paths = pretrained_paths(cfg)
    device = choose_device(cfg)
    specs, loaded = encoder_rows(cfg, cache, named, pre_paths)
    check_row_options(cfg, specs, tasks)
    return Plan(cache, tasks, notes, specs, loaded, device)


def asked_tasks(cfg: EvalConfig) -> dict[str, Task]:
    """``{name: Task}`` of the tasks ``cfg.tasks`` names (for ``"all"``, every registered one
    whose :attr:`~csip.eval.task.Task.in_all` is set), in report order."""
    tasks = {n: load_task(n) for n in task_names() if "all" in cfg.tasks or n in cfg.tasks}
    return {n: t for n, t in tasks.items() if n in cfg.tasks or t.in_all}


def check_config(cfg: EvalConfig) -> None:
    """The checks of :func:`make_plan` that need neither the cache nor an encoder: ``cfg``'s
    options (done when it was made) and each asked task's own inputs
    (:meth:`~csip.eval.task.Task.check`: VQA's text encoder directory); :class:`BadOption`."""
    cfg.validate()
    for task in asked_tasks(cfg).values():
        task.check(cfg)


def open_cache(path: Path):
    """The :class:`csip.cache.Cache` at ``path``; :class:`EvalError` naming ``--cache``."""
    try:
        return Cache(path)
    except CacheError as exc:
        raise EvalError(f"--cache: {exc}") from None


def possible_tasks(cfg: EvalConfig, cache) -> tuple[dict[str, Task], dict[str, str]]:
    """The tasks to run (``{name: Task}``, report order) and ``{task: note}`` on those skipped.
    A task the cache cannot do is an :class:`EvalError` when asked by name (or when it is not
    :attr:`~csip.eval.task.Task.optional`), a note under ``"all"``. The optional tasks are
    checked first."""
    tasks = asked_tasks(cfg)
    explicit = "all" not in cfg.tasks
    notes: dict[str, str] = {}
    for name, task in sorted(tasks.items(), key=lambda item: not item[1].optional):  # stable
        msg = task.missing(cache, cfg)
        if msg is None:
            continue
        if explicit or not task.optional:
            raise EvalError(msg)
        del tasks[name]
        notes[name] = "skipped: " + msg
    if not tasks:
        raise EvalError("nothing to evaluate: " + "; ".join(notes.values()))
    return tasks, notes


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


def encoder_rows(cfg: EvalConfig, cache, named: list[tuple[str, Path]],
                 pre_paths: dict[str, Path | None]) -> tuple[list, dict]:
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
            log.warning("warning: %s was trained on %s px crops, the cache has %s px", cs.name, trained,
                        cache.image_size)
    specs = []
    if cfg.random_init:
        trained_models = sorted({s.model for s in ckpt_specs}, key=list(B.TABLE1_MODELS).index)
        models = list(cfg.random_init_models) or trained_models or list(B.TABLE1_MODELS)
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
            except BadFile:  # names the file already (csip.base.weights_io.loading_model)
                raise
            except (ValueError, OSError, RuntimeError, KeyError) as exc:
                raise BadFile(f"{B.PRETRAINED[key][1]} {pre_paths[key]}: cannot load it: {exc}") from None
        specs.append(spec)
    specs.extend(ckpt_specs)
    if len({s.name for s in specs}) != len(specs):
        raise EvalError("two encoders share a name; give --checkpoint NAME=PATH with distinct names")
    taken = sorted({s.name for s in specs} & set(reference_rows()))
    if taken:
        raise EvalError(f"the row name {taken[0]!r} is a reference row's; "
                        "give --checkpoint NAME=PATH with another name")
    return specs, loaded


def reference_rows() -> set[str]:
    """The names of every registered task's reference rows (no encoder row may take one)."""
    return {r for n in task_names() for r in load_task(n).reference_rows}


def check_row_options(cfg: EvalConfig, specs: list, tasks: dict[str, Task]) -> None:
    """:class:`EvalError` for ``--grid-encoder`` or a task's option (``check_rows``) naming a row
    that will not run."""
    ok_names = [s.name for s in specs if s.status == "ok"]
    for task in tasks.values():
        task.check_rows(cfg, ok_names)
    if cfg.grid_encoder is not None and cfg.grid_encoder not in ok_names:
        raise EvalError(f"--grid-encoder {cfg.grid_encoder!r}: no such encoder row (rows: {', '.join(ok_names)})")


__all__ = ["Plan", "asked_tasks", "check_config", "check_row_options", "choose_device", "encoder_rows", "make_plan",
           "named_checkpoints", "open_cache", "possible_tasks", "pretrained_paths", "reference_rows"]
