"""The configuration of one training run: :class:`TrainConfig`, the one source of its defaults.

Kept free of torch so that ``csip pretrain`` can read its options' defaults from it without
slowing the command line's start-up; :mod:`csip.train` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Defaults of the built-in synthetic run (no ``--cache``): sized to finish in a few minutes
#: on two CPU cores (precompute + training) while still learning something.
SYNTHETIC_DEFAULTS = {"n": 1000, "image_size": 64, "epochs": 3, "batch_size": 64}

#: Val metrics ``TrainConfig.select`` accepts (their meaning: :mod:`csip.train.selection`).
SELECTABLE = ("val_ndcg10_embed", "val_ndcg10_pre", "val_loss", "val_acc", "val_top1")


@dataclass
class TrainConfig:
    """Everything a training run depends on (recorded in ``params.json`` and checkpoints)."""

    out: str
    cache: str | None = None
    split: str | None = "train"  # None: every item of the cache
    model: str = "resnet18"
    supervised: bool = False
    epochs: int = 20
    batch_size: int = 256  # global batch (all processes together)
    lr: float = 5e-4
    weight_decay: float = 0.1
    warmup: float = 0.05  # < 1: fraction of all steps; >= 1: number of steps
    min_lr_ratio: float = 0.0  # cosine floor, as a fraction of lr
    seed: int = 0
    workers: int | None = None  # cache: reader threads, else DataLoader workers; None: default (batch_feed)
    device: str | None = None  # None: cuda if available
    compile: bool = False
    amp: bool = True  # bf16 autocast (CUDA only)
    channels_last: bool = True  # CUDA only
    embed_dim: int = 128
    feature_dim: int = 256
    width: int = 64  # ResNet18 stem channels (encoders with a ResNet); 64 = torchvision's
    spatial_channels: int = 32
    logit_scale: float = 1 / 0.07
    learn_logit_scale: bool = True
    label_smoothing: float = 0.3
    flip: bool = True  # random horizontal flip (p = 0.5) with the banner's exact mirror
    pretrained: str | None = None  # local ImageNet ResNet18 weights
    save_every: int = 500  # steps between periodic checkpoints, besides epoch ends (0: epoch ends only)
    log_every: int = 10
    tensorboard: bool = False
    resume: bool = False
    max_steps: int | None = None  # stop after this many global steps (tests, benchmarks)
    progress: bool = True
    val_split: str | None = "val"  # evaluated at each epoch end when the cache has it (None: never)
    select: str | None = None  # val metric that picks checkpoints/best.pt (SELECTABLE)
    synthetic_n: int = SYNTHETIC_DEFAULTS["n"]  # (~800 train items: 3 epochs of 12 steps at batch 64)
    synthetic_image_size: int = SYNTHETIC_DEFAULTS["image_size"]


#: Options that fix what a run computes: ``--resume`` takes them from the checkpoint, not from
#: the command line (the others — workers, device, logging, checkpoint frequency, compile —
#: are the new call's), and with the cache's identity they make a run's settings fingerprint.
RUN_DEFINING_FIELDS = (
    "split", "model", "supervised", "epochs", "batch_size", "lr", "weight_decay", "warmup", "min_lr_ratio",
    "seed", "amp", "channels_last", "embed_dim", "feature_dim", "width", "spatial_channels", "logit_scale",
    "learn_logit_scale", "label_smoothing", "flip", "pretrained", "max_steps", "synthetic_n",
    "synthetic_image_size", "select",
)


def run_settings(cfg: TrainConfig, cache: dict[str, str] | None) -> dict[str, Any]:
    """What fixes a run's result (:func:`csip.base.fingerprint.fingerprint` of it is the run's
    fingerprint): ``{"config": the RUN_DEFINING_FIELDS of cfg, "cache": cache}``; ``cache`` is the
    data's :func:`csip.base.fingerprint.cache_identity`, None for an in-memory dataset."""
    config = {k: getattr(cfg, k) for k in RUN_DEFINING_FIELDS}
    return {"config": {k: str(v) if isinstance(v, Path) else v for k, v in config.items()}, "cache": cache}


def stored_run_settings(params: dict[str, Any], asked_cache: str | None,
                        asked_identity: dict[str, str] | None) -> dict[str, Any]:
    """The settings of the run whose ``params.json`` is ``params``: those it recorded, or, for
    a run made before runs recorded them, those computed from its stored config. Such a run's
    cache counts as ``asked_identity`` when its path is the asked cache's (``asked_cache``), as
    it always did; else as ``{"path": its cache}``."""
    if isinstance(params.get("fingerprint_settings"), dict):
        return params["fingerprint_settings"]
    stored = params.get("config") or {}
    old = stored.get("cache")
    same = old is None or asked_cache is None or Path(old).resolve() == Path(asked_cache).resolve()
    return {"config": {k: stored.get(k) for k in RUN_DEFINING_FIELDS}, "cache": asked_identity if same else {"path": old}}


__all__ = ["RUN_DEFINING_FIELDS", "SELECTABLE", "SYNTHETIC_DEFAULTS", "TrainConfig", "run_settings", "stored_run_settings"]
