"""What one evaluation does: :class:`EvalConfig`, every option of ``csip eval`` and the one
source of their defaults.

Each field carries its option's metadata (:func:`csip.base.options.option`): the flag, the
bounds or choices (checked by :meth:`EvalConfig.validate` with the messages the command line
gives), and how :meth:`EvalConfig.to_args` renders it (``form``: ``"switch"`` ``--x/--no-x``,
``"flag"`` ``--x``, ``"pairs"`` ``--x NAME=PATH``, ``"repeat"`` ``--x V`` per value), whether it is
a path (``path``) and whether the content of the file it names fixes the results (``content``).
The tables :data:`OPTION`, :data:`CHOICES` and :data:`MINIMUM` are read off the fields.

``csip eval`` (:mod:`csip.commands.evaluate`) takes its option defaults and checks from these
fields and builds an :class:`EvalConfig` from what it parsed (:meth:`EvalConfig.from_options`);
:func:`csip.eval.api.evaluate` takes the config. :meth:`EvalConfig.to_args` goes the other way:
the ``csip eval`` arguments that give back an equal config, so a library run can print the
command that reproduces it. The tasks are those of the registry (:mod:`csip.eval.tasks`); each
task reads its own options (``probe*``: SRR; ``text_encoder`` and ``vqa_*``: VQA; ``gallery``,
``ks``, ``grid_*``: CBIR).

This module imports nothing heavy (no torch): ``csip eval --help`` reads it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base.errors import BadOption
from ..base.fingerprint import path_identity
from ..base.options import check_fields, flag_of, option
from ..models.registry import TABLE1_MODELS
from .tasks import task_names

#: The built-in tasks, in report order (a snapshot of the registry, :mod:`csip.eval.tasks`, at
#: import; :func:`csip.eval.tasks.task_names` gives the tasks registered now).
TASKS = task_names()

#: Cache splits a task may read ("all": every item).
SPLITS = ("train", "val", "test", "all")

#: Models of the random-init rows.
RANDOM_INIT_MODELS = tuple(TABLE1_MODELS)


def _int(default: Any, minimum: int, **meta: Any) -> Any:
    """An integer option ``>= minimum``."""
    return option(default, integer=True, minimum=minimum, **meta)


def _path(default: Any = dataclasses.MISSING, **meta: Any) -> Any:
    """A path option (a string given is kept as a :class:`~pathlib.Path`)."""
    return option(default, path=True, **meta)


@dataclass
class EvalConfig:
    """Every option of ``csip eval`` (same names, with dashes as underscores; the repeatable
    ones are tuples). Paths may be given as strings; they are kept as :class:`~pathlib.Path`.
    ``checkpoints`` holds ``(name, path)`` pairs and also takes ``{name: path}`` or
    ``"NAME=PATH"`` strings (a bare ``PATH`` is named after its file or run directory).
    A value the command line would refuse raises :class:`csip.base.errors.BadOption`."""

    cache: Path = _path()  # cache directory (csip precompute)
    out: Path = _path()  # output directory: results.json, report.md, <task>.md, figures
    tasks: tuple[str, ...] = option(("all",), flag="--task", form="repeat")  # registered tasks, or "all"
    checkpoints: tuple[tuple[str, Path], ...] = option((), flag="--checkpoint", form="pairs")  # (row name, path)
    runs: tuple[Path, ...] = option((), form="repeat", path=True)  # directories of run directories
    imagenet_resnet18: Path | None = _path(None, content=True)  # local pre-trained weights; None: "skipped"
    imagenet_resnet50: Path | None = _path(None, content=True)
    imagenet_vit_b16: Path | None = _path(None, content=True)
    clip: Path | None = _path(None, content=True)  # a transformers CLIPVisionModel directory
    pretrained_size: int = _int(224, 16)  # input side (px) of the pre-trained ResNets
    random_init: bool = option(True, form="switch")  # add random-init rows
    random_init_models: tuple[str, ...] = option((), flag="--random-init-model", form="repeat",
                                                 choices=RANDOM_INIT_MODELS)  # (): the checkpoints' models
    random_init_width: int | None = _int(None, 1)  # None: the checkpoints' width of the same model, else 64
    feature_dim: int = _int(256, 2)  # feature width of the random-init encoders
    split: str = option("test", choices=SPLITS)  # CBIR queries (and gallery unless `gallery`), Fig. 2
    gallery: str | None = option(None, choices=SPLITS)  # CBIR; None: the query split, query left out
    ks: tuple[int, ...] = _int((10, 25), 1, flag="-k", form="repeat")  # CBIR: NDCG cut-offs
    probe: str = option("linear", choices=("linear", "mlp"))  # SRR probe
    probe_epochs: int = _int(100, 1)  # SRR
    probe_lr: float | None = option(None, positive=True)  # SRR; None: 1e-2 linear, 1e-3 mlp
    text_encoder: Path | None = _path(None, content=True)  # VQA text encoder; None: the bundled MiniLM
    vqa_images: tuple[str, ...] = option((), flag="--vqa-image", form="repeat")  # VQA: "image" rows of pairs
    vqa_epochs: int = _int(30, 1)  # VQA
    vqa_hidden: int = _int(512, 2)  # VQA
    seed: int = _int(0, 0)  # random init, probes, VQA heads, figures
    device: str | None = option(None)  # feature extraction; None: cuda when available
    batch_size: int = _int(256, 1)  # feature extraction
    threads: int | None = _int(None, 1)  # torch CPU threads; None: torch's choice
    workers: int = _int(0, 0)  # DataLoader workers of feature extraction
    figures: bool = option(True, form="switch")
    grid_encoder: str | None = option(None)  # CBIR figure's row; None: best C-SIP row, else best row
    grid_k: int = _int(4, 1)  # CBIR figure: results per query
    features: str = option("pre", choices=("pre", "embed"))  # C-SIP rows judged on f_v or g_v∘f_v
    quiet: bool = option(False, form="flag")  # the command prints no tables (the library never prints them)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.metadata.get("form") == "repeat":
                v = (v,) if isinstance(v, (str, int, Path)) else tuple(v)
                v = tuple(Path(p) for p in v) if f.metadata.get("path") else v
            elif f.metadata.get("path"):
                v = None if v is None else Path(v)
            setattr(self, f.name, v)
        self.checkpoints = tuple(parse_named_paths(self.checkpoints, OPTION["checkpoints"]))
        self.validate()
        for f in dataclasses.fields(self):  # checked numbers are kept as floats (--probe-lr 1 is 1.0)
            if f.metadata.get("positive") and getattr(self, f.name) is not None:
                setattr(self, f.name, float(getattr(self, f.name)))

    def validate(self) -> None:
        """:class:`BadOption` for a value the command line refuses: a task that is not
        registered (nor ``"all"``), no task, a value outside a field's choices or below its
        minimum, a probe learning rate that is not a finite number > 0."""
        known = (*task_names(), "all")
        for t in self.tasks:
            if t not in known:
                raise BadOption(f"{OPTION['tasks']} {t!r}: expected one of {', '.join(known)}")
        check_fields(self)
        if not self.tasks:
            raise BadOption(f"{OPTION['tasks']}: no task given")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> EvalConfig:
        """The config of ``csip eval``'s parsed options (``{field name: value}``, click's ``params``)."""
        return cls(**options)

    def to_args(self) -> list[str]:
        """The ``csip eval`` arguments of this config: ``--cache`` and ``--out`` first, then
        every option whose value is not the default, in field order."""
        args: list[str] = []
        for f in dataclasses.fields(self):
            v, opt, form = getattr(self, f.name), flag_of(f), f.metadata.get("form")
            if v == f.default:  # cache and out have none: always given
                continue
            if form == "switch":
                args.append(opt if v else "--no-" + opt[2:])
            elif form == "flag":
                args.append(opt)
            elif form == "pairs":
                args += [a for n, p in v for a in (opt, f"{n}={p}")]
            elif form == "repeat":
                args += [a for x in v for a in (opt, str(x))]
            else:
                args += [opt, repr(v) if isinstance(v, float) else str(v)]
        return args


_FIELDS = dataclasses.fields(EvalConfig)
#: Field -> ``csip eval`` option.
OPTION: dict[str, str] = {f.name: flag_of(f) for f in _FIELDS}
#: Each option's value set: checked for library callers exactly as click checks them on the
#: command line (``tasks``: the registered tasks at import, and ``"all"``).
CHOICES: dict[str, tuple[str, ...]] = {"tasks": (*TASKS, "all"),
                                       **{f.name: f.metadata["choices"] for f in _FIELDS if f.metadata.get("choices")}}
#: Each integer option's lower bound.
MINIMUM: dict[str, int] = {f.name: f.metadata["minimum"] for f in _FIELDS if f.metadata.get("integer")}
#: Fields naming pre-trained weights or a text encoder: files whose content fixes the results.
WEIGHT_FIELDS = tuple(f.name for f in _FIELDS if f.metadata.get("content"))


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


__all__ = ["CHOICES", "MINIMUM", "OPTION", "RANDOM_INIT_MODELS", "SPLITS", "TABLE1_MODELS", "TASKS", "WEIGHT_FIELDS",
           "EvalConfig", "eval_settings", "parse_named_paths"]
