"""What one evaluation does: :class:`EvalConfig`, every option of ``csip eval`` and the one
source of their defaults.

``csip eval`` (:mod:`csip.commands.evaluate`) takes its option defaults from these fields and
builds an :class:`EvalConfig` from what it parsed; :func:`csip.eval.api.run` takes the config.
:meth:`EvalConfig.to_args` goes the other way: the ``csip eval`` arguments that give back an
equal config, so a library run can print the command that reproduces it.

This module imports nothing heavy (no torch): ``csip eval --help`` reads it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..base.checks import check_positive_finite
from ..base.errors import BadOption
from ..base.fingerprint import path_identity
from ..models.registry import TABLE1_MODELS

#: The downstream tasks, in report order.
TASKS = ("cbir", "srr", "vqa")

#: Cache splits a task may read ("all": every item).
SPLITS = ("train", "val", "test", "all")

#: Models of the random-init rows.
RANDOM_INIT_MODELS = tuple(TABLE1_MODELS)

#: Each option's value set (choices) and lower bound (integers): checked for library callers
#: exactly as click checks them on the command line.
CHOICES: dict[str, tuple[str, ...]] = {
    "tasks": (*TASKS, "all"), "random_init_models": RANDOM_INIT_MODELS, "split": SPLITS,
    "gallery": SPLITS, "probe": ("linear", "mlp"), "features": ("pre", "embed"),
}
MINIMUM: dict[str, int] = {
    "pretrained_size": 16, "random_init_width": 1, "feature_dim": 2, "ks": 1, "probe_epochs": 1, "vqa_epochs": 1,
    "vqa_hidden": 2, "batch_size": 1, "threads": 1, "workers": 0, "grid_k": 1,
}

#: Field -> ``csip eval`` option. Fields of :data:`_SWITCHES` render as ``--x``/``--no-x``.
OPTION: dict[str, str] = {
    "cache": "--cache", "out": "--out", "tasks": "--task", "checkpoints": "--checkpoint", "runs": "--runs",
    "imagenet_resnet18": "--imagenet-resnet18", "imagenet_resnet50": "--imagenet-resnet50",
    "imagenet_vit_b16": "--imagenet-vit-b16", "clip": "--clip", "pretrained_size": "--pretrained-size",
    "random_init": "--random-init", "random_init_models": "--random-init-model",
    "random_init_width": "--random-init-width", "feature_dim": "--feature-dim", "split": "--split",
    "gallery": "--gallery", "ks": "-k", "probe": "--probe", "probe_epochs": "--probe-epochs",
    "probe_lr": "--probe-lr", "text_encoder": "--text-encoder", "vqa_images": "--vqa-image",
    "vqa_epochs": "--vqa-epochs", "vqa_hidden": "--vqa-hidden", "seed": "--seed", "device": "--device",
    "batch_size": "--batch-size", "threads": "--threads", "workers": "--workers", "figures": "--figures",
    "grid_encoder": "--grid-encoder", "grid_k": "--grid-k", "features": "--features", "quiet": "--quiet",
}
_SWITCHES = ("random_init", "figures")
#: Fields naming pre-trained weights or a text encoder: files whose content fixes the results.
WEIGHT_FIELDS = ("imagenet_resnet18", "imagenet_resnet50", "imagenet_vit_b16", "clip", "text_encoder")
_PATHS = ("cache", "out", *WEIGHT_FIELDS)
_TUPLES = ("tasks", "runs", "random_init_models", "ks", "vqa_images")


@dataclass
class EvalConfig:
    """Every option of ``csip eval`` (same names, with dashes as underscores; the repeatable
    ones are tuples). Paths may be given as strings; they are kept as :class:`~pathlib.Path`.
    ``checkpoints`` holds ``(name, path)`` pairs and also takes ``{name: path}`` or
    ``"NAME=PATH"`` strings (a bare ``PATH`` is named after its file or run directory).
    A value the command line would refuse raises :class:`csip.base.errors.BadOption`."""

    cache: Path  # cache directory (csip precompute)
    out: Path  # output directory: results.json, report.md, <task>.md, figures
    tasks: tuple[str, ...] = ("all",)  # among TASKS, or "all": those the cache supports
    checkpoints: tuple[tuple[str, Path], ...] = ()  # trained encoders: (row name, checkpoint/run/export)
    runs: tuple[Path, ...] = ()  # directories of run directories: one row per run
    imagenet_resnet18: Path | None = None  # local pre-trained weights; None: the row is "skipped"
    imagenet_resnet50: Path | None = None
    imagenet_vit_b16: Path | None = None
    clip: Path | None = None  # a transformers CLIPVisionModel directory
    pretrained_size: int = 224  # input side (px) of the pre-trained ResNets
    random_init: bool = True  # add random-init rows
    random_init_models: tuple[str, ...] = ()  # () : the checkpoints' models, all four without any
    random_init_width: int | None = None  # None: the checkpoints' width of the same model, else 64
    feature_dim: int = 256  # feature width of the random-init encoders
    split: str = "test"  # CBIR queries (and gallery unless `gallery`)
    gallery: str | None = None  # None: the query split, query left out
    ks: tuple[int, ...] = (10, 25)  # NDCG cut-offs
    probe: str = "linear"  # SRR probe: linear or mlp
    probe_epochs: int = 100
    probe_lr: float | None = None  # None: 1e-2 linear, 1e-3 mlp
    text_encoder: Path | None = None  # VQA text encoder; None: the bundled MiniLM
    vqa_images: tuple[str, ...] = ()  # rows playing "image" in image + C-SIP + text
    vqa_epochs: int = 30
    vqa_hidden: int = 512
    seed: int = 0  # random init, probes, VQA heads, figures
    device: str | None = None  # feature extraction; None: cuda when available
    batch_size: int = 256  # feature extraction
    threads: int | None = None  # torch CPU threads; None: torch's choice
    workers: int = 0  # DataLoader workers of feature extraction
    figures: bool = True
    grid_encoder: str | None = None  # row of the retrieval figure; None: best C-SIP row, else best row
    grid_k: int = 4  # results per query in the retrieval figure
    features: str = "pre"  # C-SIP rows judged on f_v ("pre") or g_v∘f_v ("embed")
    quiet: bool = False  # the command prints no tables (the library never prints them)

    def __post_init__(self) -> None:
        for name in _PATHS:
            v = getattr(self, name)
            setattr(self, name, None if v is None else Path(v))
        for name in _TUPLES:
            v = getattr(self, name)
            setattr(self, name, (v,) if isinstance(v, (str, int, Path)) else tuple(v))
        self.runs = tuple(Path(p) for p in self.runs)
        self.checkpoints = tuple(parse_named_paths(self.checkpoints, OPTION["checkpoints"]))
        _check(self)

    def to_args(self) -> list[str]:
        """The ``csip eval`` arguments of this config: ``--cache`` and ``--out`` first, then
        every option whose value is not the default, in field order."""
        args: list[str] = []
        for f in dataclasses.fields(self):
            v, opt = getattr(self, f.name), OPTION[f.name]
            if f.name not in ("cache", "out") and v == f.default:
                continue
            if f.name in _SWITCHES:
                args.append(opt if v else "--no-" + opt[2:])
            elif f.name == "quiet":
                args.append(opt)
            elif f.name == "checkpoints":
                args += [a for n, p in v for a in (opt, f"{n}={p}")]
            elif f.name in _TUPLES:
                args += [a for x in v for a in (opt, str(x))]
            else:
                args += [opt, repr(v) if isinstance(v, float) else str(v)]
        return args


def eval_settings(cfg: EvalConfig, cache_content_hash: str | None) -> dict:
    """What fixes an evaluation's results (its fingerprint is
    :func:`csip.base.fingerprint.fingerprint` of this)::

        {"args": the csip eval arguments but --out and --quiet (where the results go, whether
                 the tables are printed),
         "checkpoints": {row: sha256 of the file (or directory) it names, None if missing},
         "runs": {directory: sha256 of what it holds}, "cache": the cache's content hash,
         "weights": {option: sha256 of the file or directory}}   (only when a weights path is set)

    The pre-trained weights and the text encoder count by content, not by path, so that new
    weights at the same path are a new evaluation. Reads every checkpoint and weights file once
    (sha256 runs at ~1 GB/s)."""
    args = dataclasses.replace(cfg, quiet=False).to_args()
    del args[2:4]  # ["--cache", CACHE, "--out", OUT, ...]: where the results go does not change them
    settings = {"args": args,
                "checkpoints": {name: _identity(p) for name, p in cfg.checkpoints},
                "runs": {str(p): _identity(p) for p in cfg.runs},
                "cache": cache_content_hash}
    weights = {OPTION[f]: _identity(getattr(cfg, f)) for f in WEIGHT_FIELDS if getattr(cfg, f) is not None}
    if weights:  # absent otherwise, so that the fingerprints of evaluations without weights stay as they were
        settings["weights"] = weights
    return settings


def _identity(path: Path) -> str | None:
    return path_identity(path) if path.exists() else None


def parse_named_paths(items: Iterable[str | tuple[str, str | Path]] | Mapping[str, str | Path],
                      option: str) -> list[tuple[str, Path]]:
    """``NAME=PATH`` strings (or ``(name, path)`` pairs, or a ``{name: path}`` mapping) →
    ``[(name, path)]``; a bare ``PATH`` is named after its file, or after the run directory of
    ``RUN/checkpoints/X.pt``. :class:`BadOption` naming ``option`` on an empty path or a name
    given twice."""
    pairs = items.items() if isinstance(items, Mapping) else items
    out: list[tuple[str, Path]] = []
    for item in pairs:
        if isinstance(item, str):
            name, sep, path = item.partition("=")
            if not sep:
                name, path = "", item
        else:
            name, path = item
        name, path = str(name).strip(), str(path).strip()
        if not path or "=" in name:
            raise BadOption(f"{option}: expected NAME=PATH, got {item!r}")
        p = Path(path).expanduser()
        if not name:
            name = p.parent.parent.name if p.suffix == ".pt" and p.parent.name == "checkpoints" else (p.stem or p.name)
        if any(n == name for n, _ in out):
            raise BadOption(f"{option}: the name {name!r} is given twice")
        out.append((name, p))
    return out


def _check(cfg: EvalConfig) -> None:
    """:class:`BadOption` for a value outside an option's choices or below its minimum, or a
    probe learning rate that is not a finite number > 0."""
    for name, allowed in CHOICES.items():
        v = getattr(cfg, name)
        for x in (v if isinstance(v, tuple) else (v,)):
            if x is not None and x not in allowed:
                raise BadOption(f"{OPTION[name]} {x!r}: expected one of {', '.join(allowed)}")
    for name, lo in MINIMUM.items():
        v = getattr(cfg, name)
        for x in (v if isinstance(v, tuple) else (v,)):
            if x is not None and (isinstance(x, bool) or not isinstance(x, int) or x < lo):
                raise BadOption(f"{OPTION[name]} {x!r}: expected an integer >= {lo}")
    if not cfg.tasks:
        raise BadOption(f"{OPTION['tasks']}: no task given")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise BadOption(f"--seed {cfg.seed!r}: expected an integer >= 0")
    if cfg.probe_lr is not None:
        cfg.probe_lr = check_positive_finite(cfg.probe_lr, OPTION["probe_lr"])


__all__ = ["CHOICES", "MINIMUM", "OPTION", "RANDOM_INIT_MODELS", "SPLITS", "TABLE1_MODELS", "TASKS", "EvalConfig",
           "eval_settings", "parse_named_paths"]
