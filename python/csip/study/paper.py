"""The paper's protocol (section 4) on the real datasets, as a preset of the runner.

``csip run --config FILE.toml`` (a :class:`PaperConfig`; ``csip run --print-config paper``
writes a commented template): the caches of SpatialSense, the COCO subset, UnRel and GQA
(masks from SAM where the dataset has none); C-SIP pretraining on SpatialSense train + the
COCO subset as one training set and the supervised baselines on SpatialSense train, per Table 1
encoder and seed, each at every learning rate of a grid with the best val metric kept; CBIR
on SpatialSense test and on UnRel (every item a query and in the gallery), SRR on SpatialSense
test, VQA on GQA (train on the train file, report on the evaluation file); ``summary.md`` puts
every number beside the paper's (:mod:`csip.study.paper_report`).

Directory layout under ``out``::

    caches/<dataset>/                               csip precompute (spatialsense, coco, unrel, gqa)
    runs/<encoder>/<training>-seed<k>-lr<lr>/       csip pretrain runs (the grid's; one is kept)
    eval/<dataset>/seed<k>/                         csip eval: results.json, report.md, figures
    summary.json, summary.md
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..base.checks import default_device
from ..base.errors import BadOption
from ..base.options import check_fields, option
from ..descriptor import DescriptorParams
from ..eval.config import EvalConfig
from ..models.registry import TABLE1_MODELS
from ..train.config import TrainConfig
from .layouts_report import layouts_section
from .plan import CacheStep, EvalStep, Plan, TrainStep

#: The protocol's trainings: name -> TrainConfig.supervised.
TRAININGS = {"supervised": True, "c-sip": False}


@dataclass
class SpatialSenseData:
    """SpatialSense (princeton-vl/SpatialSense): ``annotations.json`` and the image folder
    holding ``flickr/`` and ``nyu/``. ``splits``: the release's own split, or the paper's
    proportions (3606/681/1146 of the 5,433 positive images, seeded by ``split_seed``)."""

    annotations: str = option(flag="spatialsense.annotations")
    images: str | None = option(None, flag="spatialsense.images")
    splits: str = option("release", flag="spatialsense.splits", choices=("release", "paper"))
    split_seed: int = option(0, flag="spatialsense.split_seed", integer=True, minimum=0)


@dataclass
class CocoData:
    """The COCO subset of the pretraining: an instances file and its image folder; images with
    at most ``max_objects`` instance segmentations, A and B the two largest masks."""

    instances: str = option(flag="coco.instances")
    images: str | None = option(None, flag="coco.images")
    max_objects: int = option(3, flag="coco.max_objects", integer=True, minimum=2)


@dataclass
class UnrelData:
    """UnRel (the dataset folder: ``annotations.mat`` and ``images/``); evaluation only."""

    path: str = option(flag="unrel.path")


@dataclass
class GqaData:
    """GQA: the training questions file (train and val items) and the evaluation one (test
    items), their scene graphs (default: ``<split>_sceneGraphs.json`` beside each) and images."""

    train_questions: str = option(flag="gqa.train_questions")
    eval_questions: str = option(flag="gqa.eval_questions")
    images: str | None = option(None, flag="gqa.images")
    train_scene_graphs: str | None = option(None, flag="gqa.train_scene_graphs")
    eval_scene_graphs: str | None = option(None, flag="gqa.eval_scene_graphs")
    val_fraction: float = option(0.1, flag="gqa.val_fraction", number=True, minimum=0.0, below=1.0)


@dataclass
class Weights:
    """Local weight files and directories (csip never downloads): SAM (its kind read from the
    checkpoint), ImageNet ResNet18 / ResNet50 / ViT-B/16 (torchvision ``.pth`` or safetensors),
    CLIP (a transformers directory; its image encoder is the row) and the VQA text encoder
    (a transformers directory; default: the bundled MiniLM). A missing one skips its rows."""

    sam: str | None = option(None, flag="weights.sam")
    imagenet_resnet18: str | None = option(None, flag="weights.imagenet_resnet18")
    imagenet_resnet50: str | None = option(None, flag="weights.imagenet_resnet50")
    imagenet_vit_b16: str | None = option(None, flag="weights.imagenet_vit_b16")
    clip: str | None = option(None, flag="weights.clip")
    text_encoder: str | None = option(None, flag="weights.text_encoder")


@dataclass
class TrainSettings:
    """The trainings, C-SIP and supervised alike (the paper's settings by default)."""

    image_size: int = option(224, flag="train.image_size", integer=True, minimum=16)
    width: int = option(64, flag="train.width", integer=True, minimum=1)  # 64: torchvision's ResNet18
    batch_size: int = option(256, flag="train.batch_size", integer=True, minimum=2)
    epochs: int = option(10, flag="train.epochs", integer=True, minimum=1)
    # the grid, inside the paper's 1e-5 to 1e-3; the run with the best val metric is kept
    lrs: tuple[float, ...] = option((1e-5, 1e-4, 1e-3), flag="train.lrs", positive=True)
    label_smoothing: float = option(0.3, flag="train.label_smoothing", number=True, minimum=0.0, below=1.0)
    select: str = option("val_ndcg10_embed", flag="train.select",
                         choices=("val_ndcg10_embed", "val_ndcg10_pre", "val_loss"))
    forces: str = option("default", flag="train.forces")  # the banner's force levels r (57: -2.24..2.24)
    n_angles: int = option(180, flag="train.n_angles", integer=True, minimum=1)
    workers: int | None = option(None, flag="train.workers", integer=True, minimum=0)  # reader threads


@dataclass
class EvalSettings:
    """The evaluations."""

    features: str = option("embed", flag="eval.features", choices=("pre", "embed"))
    vqa_epochs: int = option(30, flag="eval.vqa_epochs", integer=True, minimum=1)
    probe_epochs: int = option(100, flag="eval.probe_epochs", integer=True, minimum=1)
    batch_size: int = option(256, flag="eval.batch_size", integer=True, minimum=1)


@dataclass
class PaperConfig:
    """Everything ``csip run --config`` does (see the module docstring)."""

    spatialsense: SpatialSenseData
    out: str = option("csip-paper", flag="out")
    preset: str = option("paper", flag="preset", choices=("paper",))
    seeds: tuple[int, ...] = option((0,), flag="seeds", integer=True, minimum=0)
    encoders: tuple[str, ...] = option(tuple(TABLE1_MODELS), flag="encoders", choices=tuple(TABLE1_MODELS))
    device: str | None = option(None, flag="device")
    threads: int | None = option(None, flag="threads", integer=True, minimum=1)
    precompute_workers: int | None = option(None, flag="precompute_workers", integer=True, minimum=0)
    progress: bool = option(True, flag="progress")
    figures: bool = option(True, flag="figures")
    coco: CocoData | None = None
    unrel: UnrelData | None = None
    gqa: GqaData | None = None
    weights: Weights = field(default_factory=Weights)
    train: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)

    def validate(self) -> PaperConfig:
        """:class:`BadOption` for a value out of range, naming its ``section.key``."""
        check_fields(self)
        for part in (self.spatialsense, self.coco, self.unrel, self.gqa, self.weights, self.train, self.eval):
            if part is not None:
                check_fields(part)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise BadOption(f"seeds {list(self.seeds)}: expected distinct seeds, at least one")
        if not self.encoders or len(set(self.encoders)) != len(self.encoders):
            raise BadOption(f"encoders {list(self.encoders)}: expected distinct encoders, at least one")
        if not self.train.lrs:
            raise BadOption("train.lrs: expected at least one learning rate")
        try:
            DescriptorParams.make(self.train.forces, self.train.n_angles, "max")
        except ValueError as exc:
            raise BadOption(f"train.forces {self.train.forces!r}: {exc}") from None
        return self

    def settings(self) -> dict[str, Any]:
        """Plain-JSON settings for ``summary.json``."""
        return json_ready(dataclasses.asdict(self))


def json_ready(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: json_ready(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [json_ready(v) for v in d]
    return d


def paths(cfg: PaperConfig) -> dict[str, Path]:
    out = Path(cfg.out)
    return {"out": out, "caches": out / "caches", "runs": out / "runs", "eval": out / "eval"}


def _device(cfg: PaperConfig) -> str:
    return cfg.device or default_device()


def _sam(cfg: PaperConfig) -> dict[str, Any]:
    return {} if cfg.weights.sam is None else {"sam_checkpoint": cfg.weights.sam}


def caches(cfg: PaperConfig) -> list[CacheStep]:
    """The datasets' caches, at the trainings' image size and banner."""
    root, t = paths(cfg)["caches"], cfg.train
    desc = DescriptorParams.make(t.forces, t.n_angles, "max")
    ss = cfg.spatialsense
    steps = [CacheStep("spatialsense", root / "spatialsense", f"spatialsense:{ss.annotations}",
                       {"images": ss.images, "splits": ss.splits, "split_seed": ss.split_seed, **_sam(cfg)},
                       t.image_size, desc, what=f"SpatialSense, {ss.splits} split, positive relations")]
    if cfg.coco is not None:
        steps.append(CacheStep("coco", root / "coco", f"coco:{cfg.coco.instances}",
                               {"images": cfg.coco.images, "max_objects": cfg.coco.max_objects}, t.image_size, desc,
                               what=f"COCO images with <= {cfg.coco.max_objects} instance masks, the two largest"))
    if cfg.unrel is not None:
        steps.append(CacheStep("unrel", root / "unrel", f"unrel:{cfg.unrel.path}", _sam(cfg), t.image_size, desc,
                               what="UnRel, every item a test item"))
    if cfg.gqa is not None:
        g = cfg.gqa
        steps.append(CacheStep("gqa", root / "gqa", f"gqa:{g.train_questions}",
                               {"eval_questions": g.eval_questions, "images": g.images, "role": "train",
                                "scene_graphs": g.train_scene_graphs, "eval_scene_graphs": g.eval_scene_graphs,
                                "val_fraction": g.val_fraction, **_sam(cfg)}, t.image_size, desc,
                               what="GQA verify-rel questions: train file -> train/val, evaluation file -> test"))
    for s in steps:
        s.options = {k: v for k, v in s.options.items() if v is not None}
    return steps


def training_name(encoder: str, training: str, seed: int) -> str:
    return f"{encoder}/{training}-seed{seed}"


def _trainings(cfg: PaperConfig) -> list[TrainStep]:
    p, t = paths(cfg), cfg.train
    ss = str(p["caches"] / "spatialsense")
    pretrain = ss if cfg.coco is None else (ss, str(p["caches"] / "coco"))
    steps = []
    for enc in cfg.encoders:
        for seed in cfg.seeds:
            for training, supervised in TRAININGS.items():
                configs = tuple(
                    TrainConfig(out=str(p["runs"] / enc / f"{training}-seed{seed}-lr{lr:g}"),
                                cache=ss if supervised else pretrain, split="train", model=enc,
                                supervised=supervised, epochs=t.epochs, batch_size=t.batch_size, lr=lr, seed=seed,
                                label_smoothing=t.label_smoothing, width=t.width, select=t.select,
                                device=_device(cfg), workers=t.workers, progress=cfg.progress)
                    for lr in t.lrs)
                steps.append(TrainStep(training_name(enc, training, seed), configs, t.select))
    return steps


def row_name(encoder: str, training: str) -> str:
    """The evaluation row of a trained encoder: ``"c-sip resnet18+2d"``."""
    return f"{training} {encoder}"


def _eval_config(cfg: PaperConfig, cache: Path, out: Path, seed: int, tasks: tuple[str, ...],
                 checkpoints: Mapping[str, Path], random_init: bool = True,
                 grid: str | None = None) -> EvalConfig:
    w, e = cfg.weights, cfg.eval
    return EvalConfig(cache=cache, out=out, tasks=tasks, checkpoints=dict(checkpoints), random_init=random_init,
                      random_init_models=tuple(cfg.encoders) if random_init else (),
                      random_init_width=cfg.train.width, imagenet_resnet18=w.imagenet_resnet18,
                      imagenet_resnet50=w.imagenet_resnet50, imagenet_vit_b16=w.imagenet_vit_b16, clip=w.clip,
                      pretrained_size=cfg.train.image_size, text_encoder=w.text_encoder, seed=seed, split="test",
                      features=e.features, probe_epochs=e.probe_epochs, vqa_epochs=e.vqa_epochs,
                      batch_size=e.batch_size, figures=cfg.figures, grid_encoder=grid,
                      device=cfg.device or (None if default_device() == "cuda" else "cpu"), quiet=True)


def _evaluations(cfg: PaperConfig) -> list[EvalStep]:
    p = paths(cfg)
    rows = {row_name(enc, tr): tr for enc in cfg.encoders for tr in TRAININGS}
    best = row_name("resnet18+2d", "c-sip") if "resnet18+2d" in cfg.encoders else None  # the paper's Fig. 3 row
    steps = []
    for seed in cfg.seeds:
        named = {r: training_name(r.split(" ", 1)[1], tr, seed) for r, tr in rows.items()}
        for name, tasks, enabled in (
            ("spatialsense", ("cbir", "srr", "crossmodal", "zeroshot"), True),  # + the banner tower's two
            ("unrel", ("cbir",), cfg.unrel is not None),
        ):
            if not enabled:
                continue
            cache, out = p["caches"] / name, p["eval"] / name / f"seed{seed}"
            steps.append(
                EvalStep(
                    f"{name} seed {seed}",
                    out,
                    cache,
                    named,
                    lambda ck, c=cache, o=out, s=seed, t=tasks: _eval_config(cfg, c, o, s, t, ck, True, best),
                    what=f"{', '.join(t.upper() for t in tasks[:2])}: Table 2"
                    + (", Fig. 4; cross-modal retrieval and relations from layouts" if "srr" in tasks else ""),
                )
            )
        if cfg.gqa is not None and "resnet18" in cfg.encoders:
            cache, out = p["caches"] / "gqa", p["eval"] / "gqa" / f"seed{seed}"
            vqa_rows = {row_name("resnet18", "c-sip"): training_name("resnet18", "c-sip", seed)}
            steps.append(EvalStep(f"gqa seed {seed}", out, cache, vqa_rows,
                                  lambda ck, c=cache, o=out, s=seed: _eval_config(cfg, c, o, s, ("vqa",), ck, False),
                                  what="VQA: Table 3"))
    return steps


def plan(cfg: PaperConfig) -> Plan:
    """The protocol's steps (see the module docstring)."""
    return Plan(paths(cfg)["out"], caches(cfg), _trainings(cfg), _evaluations(cfg))


__all__ = ["CocoData", "EvalSettings", "GqaData", "PaperConfig", "SpatialSenseData", "TrainSettings", "UnrelData",
           "Weights", "caches", "paths", "plan", "row_name", "training_name"]


def summary(cfg: PaperConfig, done) -> tuple[dict, str, list[Path]]:
    """``(summary.json document, summary.md, the reports to print)`` of a finished protocol
    (``done``: the runner's :class:`~csip.study.runner.Outcome`)."""
    from . import paper_report  # noqa: PLC0415 - only the summary needs it

    by_dataset: dict[str, list] = {}
    for name, ev in done.evaluations.items():
        by_dataset.setdefault(name.split(" ", 1)[0], []).append(ev.results)
    cbir = {d: v for d, v in by_dataset.items() if d in ("spatialsense", "unrel")}
    figures = {}
    for name, ev in done.evaluations.items():
        for key, path in (ev.results.header.get("figures") or {}).items():
            if key in ("retrieval", "srr_acc"):
                figures[f"{name}: {'Fig. 3' if key == 'retrieval' else 'Fig. 4'}"] = path
    doc = {"format": "csip-run-summary", "version": 2, "preset": "paper", "settings": cfg.settings(),
           "datasets": list(cbir), "table2": paper_report.table2(cbir),
           "srr": paper_report.srr(by_dataset.get("spatialsense", [])),
           "table3": paper_report.table3(by_dataset.get("gqa", [])),
           "trainings": {n: {"lr": t.lr, "run": str(t.run_dir), "checkpoint": str(t.checkpoint),
                             "by_lr": {f"{lr:g}": v for lr, v in t.by_lr.items()}} for n, t in done.trainings.items()},
           "caches": done.caches, "figures": figures, "flags": paper_report.flags(done.evaluations),
           "layouts": layouts_section((n.split(" ", 1)[0], ev.results) for n, ev in done.evaluations.items()),
           "eval_commands": [ev.command for ev in done.evaluations.values()],
           "timings_s": {k: round(v, 2) for k, v in done.timings.items()},
           "paths": {k: str(v) for k, v in paths(cfg).items()}}
    reports = [paths(cfg)["eval"] / n.split(" ")[0] / f"seed{n.rsplit(' ', 1)[1]}" / "report.md"
               for n in done.evaluations]
    return doc, paper_report.markdown(doc), reports
