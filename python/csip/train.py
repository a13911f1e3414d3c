"""Training: C-SIP contrastive pretraining and the supervised baselines.

:func:`train` runs one training job described by a :class:`TrainConfig` over a cache (see
:mod:`csip.cache`) or any dataset yielding the cache's item dicts::

    {"image": uint8 (3, S, S), "sfb": float32 (R, K), "boxes": float32 (2, 4),
     "label": int64 (−1 = unknown), "index": int64}

What makes it fast and exact:

- uint8 images travel to the device and are converted/normalised there (in the model);
  bf16 autocast and ``channels_last`` on CUDA; optional ``torch.compile``.
- The data order is a function of (seed, epoch) (:class:`EpochBatchSampler`) and the flip
  augmentation a function of (seed, epoch, step) (:func:`flip_mask`), so a run resumed from a
  mid-epoch checkpoint skips exactly the consumed batches and repeats the uninterrupted run.
- Horizontal flip: image columns reversed, boxes mirrored (x ↦ 1 − x), and the banner's angle
  axis mirrored exactly (θ ↦ π − θ: column k → (K − k) mod K), no recomputation.
- Data parallel under torchrun: embeddings are gathered with gradient, so negatives span the
  global batch; each process reads its own slice of every global batch.
- A non-finite loss stops the run (:class:`TrainingDiverged`) before any checkpoint of the
  corrupted state is written; the last good checkpoint stays.

Outputs in ``cfg.out``: ``params.json``, ``metrics.jsonl`` (one JSON line per logged step:
step, epoch, loss, logit_scale, lr, images_per_s, ...), ``checkpoints/last.pt`` (periodic,
atomic) and ``checkpoints/final.pt``, optionally ``tensorboard/``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import signal
import sys
import time
from collections.abc import Iterator, Mapping

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from . import distributed as dist_utils
from .checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint, unwrap
from .checks import check_device, check_positive_finite, check_writable_dir
from .errors import BadOption, CsipInputError
from .fingerprint import cache_identity, describe_diff, fingerprint, settings_diff, settings_record
from .loss import ClipLoss, clip_loss, supervised_loss
from .models import build_model, default_model_config
from .preemption import Interrupted, StopFlag, loader_worker_init
from .selection import BestTracker, retrieval_metrics
from .train_config import RUN_DEFINING_FIELDS, SYNTHETIC_DEFAULTS, TrainConfig, run_settings, stored_run_settings

class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stopped without saving the corrupted state."""


class DataError(ValueError):
    """The data cannot be trained on (empty, wrong banner shape, no labels for --supervised)."""


# --------------------------------------------------------------------------- data order


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the ``n`` items in ``epoch``: a permutation fixed by (seed, epoch)."""
    return np.random.default_rng([int(seed), int(epoch), 0x5EED]).permutation(n)


class EpochBatchSampler:
    """Batches of indices for one epoch: this process's slice of each global batch.

    Global batch ``b`` of the epoch is ``perm[b·G:(b+1)·G]`` with ``perm`` =
    :func:`epoch_permutation` and G the global batch size; process ``rank`` of ``world`` takes
    the ``rank``-th of its ``world`` equal parts. The incomplete last batch is dropped (all
    contrastive batches have the same size). ``start`` skips the batches already consumed.
    """

    def __init__(self, n: int, global_batch: int, seed: int, epoch: int, rank: int = 0, world: int = 1,
                 start: int = 0):
        if global_batch % world:
            raise ValueError(f"global batch {global_batch} is not divisible by {world} processes")
        self.n, self.global_batch, self.seed, self.epoch = n, global_batch, seed, epoch
        self.rank, self.world, self.start = rank, world, start
        self.local = global_batch // world

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Move to ``epoch``, skipping its first ``start`` batches (a DataLoader built on this
        sampler, with persistent workers, picks the change up at its next ``iter``)."""
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return max(0, self.n // self.global_batch - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        perm = epoch_permutation(self.n, self.seed, self.epoch)
        for b in range(self.start, self.n // self.global_batch):
            lo = b * self.global_batch + self.rank * self.local
            yield perm[lo:lo + self.local].tolist()


def flip_mask(seed: int, epoch: int, step_in_epoch: int, global_batch: int) -> torch.Tensor:
    """Which items of a global batch are flipped (bool ``(G,)``): fixed by (seed, epoch, step)."""
    rng = np.random.default_rng([int(seed), int(epoch), int(step_in_epoch), 0xF11B])
    return torch.from_numpy(rng.random(global_batch) < 0.5)


def mirror_sfb(sfb: torch.Tensor) -> torch.Tensor:
    """The banner of the horizontally flipped pair: column k → (K − k) mod K (θ ↦ π − θ).

    Exact on the angle grid θ_k = kπ/K (θ is periodic with period π). ``(..., K)`` → same.
    """
    return torch.roll(sfb.flip(-1), 1, dims=-1)


def mirror_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes ``(..., 4)`` (x0, y0, x1, y1) in [0, 1] after a horizontal flip: x ↦ 1 − x."""
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack([1 - x1, y0, 1 - x0, y1], -1)


def mirror_labels(labels: torch.Tensor) -> torch.Tensor:
    """Relation labels after a horizontal flip: "to the left of" ↔ "to the right of"; the other
    predicates (and −1, unknown) are unchanged by a mirror."""
    from .data import PREDICATES

    left, right = PREDICATES.index("to the left of"), PREDICATES.index("to the right of")
    return torch.where(labels == left, torch.full_like(labels, right),
                       torch.where(labels == right, torch.full_like(labels, left), labels))


def hflip_batch(batch: dict[str, torch.Tensor], mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Flip the items selected by ``mask`` (bool ``(B,)``): image, boxes and banner together,
    and the relation label (left ↔ right) for the supervised baseline."""
    out = dict(batch)
    m = mask.to(next(iter(batch.values())).device)
    if "image" in batch:
        img = batch["image"]
        out["image"] = torch.where(m.view(-1, 1, 1, 1), img.flip(-1), img)
    if "boxes" in batch:
        out["boxes"] = torch.where(m.view(-1, 1, 1), mirror_boxes(batch["boxes"]), batch["boxes"])
    if "sfb" in batch:
        out["sfb"] = torch.where(m.view(-1, 1, 1), mirror_sfb(batch["sfb"]), batch["sfb"])
    if "label" in batch:
        out["label"] = torch.where(m, mirror_labels(batch["label"]), batch["label"])
    return out


# --------------------------------------------------------------------------- schedule


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float = 0.0):
    """LR multiplier: linear warm-up from 1/warmup to 1 over ``warmup_steps``, then cosine
    decay to ``min_ratio`` at ``total_steps``."""

    def f(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        t = min(1.0, max(0.0, t))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return f


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices/filters only (not on biases, norms, logit scale)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "logit_scale" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# --------------------------------------------------------------------------- data


def build_synthetic_cache(out_dir: str | Path, n: int, image_size: int, seed: int = 0) -> Path:
    """Precompute ``n`` built-in synthetic scenes into a cache at ``out_dir`` (if not there).

    The same cache as ``csip precompute run synthetic --out DIR --n N --image-size S --seed SEED
    --shard 0/1`` (default banner, one worker per core; the explicit shard keeps a torchrun
    environment from making it a shard). Rerunning resumes an interrupted build.
    """
    from .cache.format import CacheError
    from .cache.writer import build, resolve_source
    from .descriptor import DescriptorParams

    out_dir = Path(out_dir)
    if (out_dir / "manifest.json").is_file():
        return out_dir
    try:
        build(resolve_source("synthetic", n=n, seed=seed), out_dir, spec="synthetic", seed=seed,
              image_size=image_size, desc=DescriptorParams.make(), shard=(0, 1))
    except (CacheError, ValueError) as exc:
        raise DataError(f"precomputing the synthetic cache in {out_dir} failed: {exc}") from None
    if not (out_dir / "manifest.json").is_file():
        raise DataError(f"precomputing the synthetic cache in {out_dir} did not finish")
    return out_dir


def open_cache(path: str | Path, split: str | None) -> tuple[Dataset, dict]:
    """``(dataset, info)`` for a cache directory; info has n_levels, n_angles, image_size, ...

    Raises :class:`DataError` for an empty selection.
    """
    from .cache import Cache, CacheDataset, CacheError

    try:
        cache = Cache(path)
        manifest = cache.manifest
        ds = CacheDataset(cache, split=split)
    except (CacheError, FileNotFoundError) as exc:
        raise DataError(f"cannot read the cache {path}: {exc}") from None
    desc = manifest.get("descriptor", {})
    info = {
        "cache": str(Path(path).resolve()),
        "split": split,
        "n_items": len(ds),
        "n_levels": len(desc["forces"]) if "forces" in desc else None,
        "n_angles": desc.get("n_angles"),
        "image_size": manifest.get("image_size"),
        "descriptor": desc,
        "identity": cache_identity(manifest),  # part of the run's settings fingerprint
    }
    return ds, info


def _item_shapes(item: Mapping[str, Any]) -> tuple[tuple[int, int], int]:
    sfb = np.asarray(item["sfb"])
    img = np.asarray(item["image"])
    return (int(sfb.shape[-2]), int(sfb.shape[-1])), int(img.shape[-1])


def check_data(dataset: Dataset, info: dict, model_shape: tuple[int, int] | None = None,
               supervised: bool = False) -> None:
    """Fail early, with a clear message, on data that cannot be trained on.

    Checks: non-empty; items' banner shape equals the manifest's (R, K) and, when given, the
    shape ``model_shape`` the model was built for (resume, fine-tuning); labels present for
    supervised training.
    """
    if len(dataset) == 0:
        where = info.get("cache") or "the dataset"
        hint = " (try --split all)" if info.get("split") else ""
        raise DataError(f"{where} (split {info.get('split')!r}) holds no items: nothing to train on{hint}")
    (r, k), _ = _item_shapes(dataset[0])
    want = (info.get("n_levels"), info.get("n_angles"))
    if None not in want and (r, k) != tuple(want):
        raise DataError(f"items' banners are {r}×{k} but the manifest says {want[0]}×{want[1]}")
    if model_shape is not None and (r, k) != tuple(model_shape):
        raise DataError(
            f"the data's banners are {r} force levels × {k} angles but the model was built for "
            f"{model_shape[0]} × {model_shape[1]}: use a cache computed with the same descriptor settings"
        )
    if supervised:
        labels = getattr(dataset, "labels", None)
        if labels is None and hasattr(dataset, "cache") and hasattr(dataset, "indices"):  # a CacheDataset
            labels = np.asarray(dataset.cache.labels)[np.asarray(dataset.indices)]
        if labels is None:
            labels = [int(dataset[i]["label"]) for i in range(min(len(dataset), 2048))]
        if not (np.asarray(labels) >= 0).any():
            raise DataError("--supervised needs relation labels, and no item of this data has one")


# --------------------------------------------------------------------------- the loop


def check_options(cfg: TrainConfig) -> None:
    """:class:`~csip.errors.BadOption` for option values no run can use, before anything is
    written (so a bad ``--lr`` leaves no run directory behind)."""
    check_positive_finite(cfg.lr, "--lr")
    check_positive_finite(cfg.logit_scale, "--logit-scale")
    for value, option, lo, hi in ((cfg.weight_decay, "--weight-decay", 0.0, math.inf),
                                  (cfg.warmup, "--warmup", 0.0, math.inf),
                                  (cfg.label_smoothing, "--label-smoothing", 0.0, 1.0)):
        if not (math.isfinite(value) and lo <= value and (value < hi or hi == math.inf)):
            raise BadOption(f"{option} {value!r}: must be a finite number in [{lo}, {hi})")
    check_device(cfg.device)


def default_loader_workers(cuda: bool) -> int:
    """DataLoader workers per training process when none are asked for.

    CPU: 0 (memmap reads are cheap and the cores are needed for compute). CUDA: the node's
    usable cores shared among its processes (``LOCAL_WORLD_SIZE`` under torchrun), one left to
    each process itself, at most 16. Measured on an H100 with 16 cores (ResNet18, 224 px, batch
    256, bf16; ``benches/bench_train.py``): 8 workers fed 59-69 % of the model-bound rate, 15
    workers 87-92 %.
    """
    if not cuda:
        return 0
    from .cache.writer import usable_cores

    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE") or 1))
    return max(1, min(16, usable_cores() // local - 1))


def _to_device(batch: Mapping[str, Any], device: torch.device, keys, channels_last: bool) -> dict:
    out = {}
    for k in keys:
        t = torch.as_tensor(batch[k])
        t = t.to(device, non_blocking=True)
        if k == "image" and channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        out[k] = t
    return out


def batch_feed(dataset: Dataset, global_batch: int, seed: int, rank: int, world: int, device: torch.device,
               keys: tuple[str, ...], workers: int | None, flip: bool, channels_last: bool):
    """The training batches: a function ``(epoch, start) → iterator`` of the batches of ``epoch``
    from its ``start``-th on, on ``device``, only ``keys``, flipped when ``flip``.

    A cache (a plain :class:`~csip.cache.CacheDataset`) is read a whole batch at a time by a
    :class:`csip.cache.batches.BatchReader` (``workers``: reader threads, default
    :func:`~csip.cache.batches.default_reader_threads`); any other dataset goes through a
    ``DataLoader`` (``workers`` processes, default :func:`default_loader_workers`) over
    :class:`EpochBatchSampler`, then :func:`to_device` and :func:`hflip_batch` with the rank's
    slice of :func:`flip_mask`. Both give the same batches.
    """
    from .cache import CacheDataset
    from .cache.batches import BatchReader

    cuda = device.type == "cuda"
    if type(dataset) is CacheDataset and not dataset.with_masks:
        reader = BatchReader(dataset.cache, dataset.split, global_batch, seed, rank, world, keys=keys,
                             device=device, flip=flip, channels_last=channels_last, threads=workers)
        return reader.epoch

    workers = workers if workers is not None else default_loader_workers(cuda)
    sampler = EpochBatchSampler(len(dataset), global_batch, seed, 0, rank, world)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=cuda,
                        persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
                        worker_init_fn=loader_worker_init if workers > 0 else None)
    local = global_batch // world

    def epoch_batches(epoch: int, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        sampler.set_epoch(epoch, start)
        for step, raw in enumerate(loader, start):
            batch = _to_device(raw, device, keys, channels_last)
            if flip:
                batch = hflip_batch(batch, flip_mask(seed, epoch, step, global_batch)[rank * local:(rank + 1) * local])
            yield batch

    return epoch_batches


def batch_keys(model: torch.nn.Module, supervised: bool) -> tuple[str, ...]:
    """The item keys a training step reads: the image encoder's inputs, plus the banner
    (C-SIP) or the label (supervised)."""
    return tuple(unwrap(model).image_encoder.uses) + (("label",) if supervised else ("sfb",))


def forward_loss(net: torch.nn.Module, batch: Mapping[str, torch.Tensor], clip: ClipLoss, supervised: bool,
                 amp: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One forward pass and its loss → ``(loss, logit_scale or None)``; bf16 autocast if ``amp``
    (on the batch's device type). The same code serves training and ``benches/bench_train.py``."""
    device_type = next(iter(batch.values())).device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
        if supervised:
            return supervised_loss(net(batch), batch["label"]), None
        v, u, scale = net(batch)
        return clip(v, u, scale), scale


def to_device(batch: Mapping[str, Any], device: torch.device, keys, channels_last: bool) -> dict:
    """Move the ``keys`` of a collated batch to ``device`` (non-blocking from pinned memory);
    images in ``channels_last`` when asked."""
    return _to_device(batch, device, keys, channels_last)


@torch.no_grad()
def validate(model: torch.nn.Module, dataset: Dataset, batch_size: int, device: torch.device, supervised: bool,
             amp: bool, label_smoothing: float = 0.3, channels_last: bool = False) -> dict[str, float]:
    """Held-out metrics of ``model`` (unwrapped) on ``dataset``, in eval mode, batches in order.

    C-SIP: ``val_loss`` (the contrastive loss, batches of ``batch_size`` as in training, the
    last partial batch included if it has ≥ 2 items) and ``val_top1`` (fraction of images whose
    nearest banner in their batch is their own). Supervised: ``val_loss`` and ``val_acc`` over
    the labelled items.
    """
    was_training = model.training
    model.eval()
    keys = batch_keys(model, supervised)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    tot_loss, tot_n, hits = 0.0, 0, 0
    for raw in loader:
        batch = to_device(raw, device, keys, channels_last)
        n = next(iter(batch.values())).shape[0]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            if supervised:
                logits = model(batch).float()
                known = batch["label"] >= 0
                if not bool(known.any()):
                    continue
                k = int(known.sum())
                tot_loss += float(supervised_loss(logits, batch["label"])) * k
                hits += int((logits[known].argmax(1) == batch["label"][known]).sum())
                tot_n += k
            else:
                if n < 2:
                    continue
                v, u, scale = model(batch)
                tot_loss += float(clip_loss(v, u, scale, label_smoothing)) * n  # local: rank 0 only
                hits += int(((v.float() @ u.float().t()).argmax(1) == torch.arange(n, device=v.device)).sum())
                tot_n += n
    model.train(was_training)
    if tot_n == 0:
        return {}
    return {"val_loss": tot_loss / tot_n, ("val_acc" if supervised else "val_top1"): hits / tot_n}


class _Metrics:
    """metrics.jsonl (+ optional TensorBoard) writer of rank 0."""

    def __init__(self, out: Path, tensorboard: bool, enabled: bool):
        self.enabled = enabled
        self.f = open(out / "metrics.jsonl", "a") if enabled else None
        self.tb = None
        if enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"))

    def log(self, rec: dict) -> None:
        if not self.enabled:
            return
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()
        if self.tb is not None:
            for k, v in rec.items():
                if k not in ("step", "epoch", "time") and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, rec["step"])

    def close(self) -> None:
        if self.f:
            self.f.close()
        if self.tb is not None:
            self.tb.close()


def resumed_config(cfg: TrainConfig, stored: dict) -> TrainConfig:
    """``cfg`` with the run-defining options of the checkpoint's config (and its cache, when
    ``cfg`` names none), so that ``--resume`` continues the same run whatever else is typed."""
    upd = {k: stored[k] for k in RUN_DEFINING_FIELDS if k in stored}
    if cfg.cache is None and stored.get("cache"):
        upd["cache"] = stored["cache"]
    return dataclasses.replace(cfg, **upd)


def read_params(run_dir: str | Path) -> dict:
    """A run's ``params.json`` ({} when it has none or it cannot be read)."""
    try:
        params = json.loads((Path(run_dir) / "params.json").read_text())
    except (OSError, ValueError):
        return {}
    return params if isinstance(params, dict) else {}


def check_same_run(out: Path, stored_params: dict, settings: dict, cache: str | None) -> None:
    """:class:`BadOption` when a resumed run's settings (``settings``: the run-defining options,
    from its checkpoint, and the identity of the data it is given now) are not those it
    recorded in ``params.json``, e.g. a cache rebuilt with other content; the message lists
    the differences. A run without ``params.json`` is not checked."""
    if not stored_params:
        return
    stored = stored_run_settings(stored_params, cache, settings["cache"])
    if fingerprint(stored) != fingerprint(settings):
        diff = describe_diff(settings_diff(stored, settings), "in the run", "now")
        raise BadOption(f"--resume: {out} holds a run made with other settings ({diff})")


def train(cfg: TrainConfig, dataset: Dataset | None = None, data_info: dict | None = None,
          val_dataset: Dataset | None = None, stop_flag: StopFlag | None = None) -> dict:
    """Run (or resume) one training job; returns a summary dict (steps, last loss, paths).

    ``dataset``/``data_info``: train on an in-memory dataset instead of ``cfg.cache`` (tests);
    ``data_info`` then gives ``n_levels``/``n_angles``/``image_size`` (inferred from the first
    item when missing). With neither a dataset nor ``cfg.cache``, the built-in synthetic scenes
    are precomputed into ``cfg.out/cache`` (:func:`build_synthetic_cache`) and used.
    ``val_dataset``: held-out items evaluated at each epoch end (:func:`validate`); by default the
    cache's ``cfg.val_split`` when it has one. Its records in metrics.jsonl have ``"kind": "val"``.

    SIGTERM and SIGINT during the loop (or ``stop_flag.request()``; ``stop_flag``: a
    :class:`~csip.preemption.StopFlag`, by default one installed for the loop) end the current
    step, write ``checkpoints/last.pt`` atomically and raise :class:`~csip.preemption.Interrupted`
    (every process of a torchrun job stops after the same step); ``resume=True`` continues the
    run exactly as if it had not stopped.
    """
    check_options(cfg)
    out = Path(cfg.out)
    rank, world, device = dist_utils.init_from_env(cfg.device)
    main = rank == 0
    cuda = device.type == "cuda"
    if main:
        check_writable_dir(out, "--out")

    resume_state = stored_params = None
    ckpt_dir = out / "checkpoints"
    last_path = ckpt_dir / "last.pt"
    if not cfg.resume and last_path.is_file():
        raise FileExistsError(f"{out} already holds a run ({last_path}); use --resume or another --out")
    if cfg.resume:
        if not last_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {last_path}")
        resume_state = load_checkpoint(last_path, "cpu")
        cfg = resumed_config(cfg, resume_state.get("train_config", {}))
        stored_params = read_params(out)

    # ---- data
    if dataset is None:
        cache = cfg.cache
        if cache is None:
            cache = str(out / "cache")
            if main:
                build_synthetic_cache(cache, cfg.synthetic_n, cfg.synthetic_image_size, cfg.seed)
            dist_utils.barrier()
        dataset, data_info = open_cache(cache, cfg.split)
        if val_dataset is None and cfg.val_split and cfg.val_split != cfg.split and cfg.split is not None:
            try:
                val_dataset, _ = open_cache(cache, cfg.val_split)
            except (DataError, ValueError, KeyError):
                val_dataset = None
    data_info = dict(data_info or {"cache": None, "split": None})
    data_info.setdefault("n_items", len(dataset))
    if len(dataset) == 0:
        check_data(dataset, data_info)
    (r, k), s = _item_shapes(dataset[0])
    data_info.setdefault("n_levels", r)
    data_info.setdefault("n_angles", k)
    data_info.setdefault("image_size", s)
    if data_info.get("n_levels") is None:
        data_info["n_levels"], data_info["n_angles"] = r, k
    if data_info.get("image_size") is None:
        data_info["image_size"] = s

    if resume_state is not None:
        model_config = resume_state["model_config"]
        se = model_config.get("spatial_encoder")
        model_shape = (se["n_levels"], se["n_angles"]) if se else (r, k)
        model_shape = tuple(resume_state.get("data", {}).get("banner_shape", model_shape))
    else:
        model_config = default_model_config(
            cfg.model, data_info["n_levels"], data_info["n_angles"], supervised=cfg.supervised,
            embed_dim=cfg.embed_dim, feature_dim=cfg.feature_dim, spatial_channels=cfg.spatial_channels,
            logit_scale=cfg.logit_scale, learn_logit_scale=cfg.learn_logit_scale,
            image_size=data_info["image_size"], width=cfg.width,
        )
        model_shape = (data_info["n_levels"], data_info["n_angles"])
    check_data(dataset, data_info, model_shape, cfg.supervised)

    # ---- batch geometry
    n = len(dataset)
    global_batch = cfg.batch_size
    if n < global_batch:
        global_batch = max(world, (n // world) * world)
        if main:
            print(f"csip pretrain: only {n} items; batch size lowered to {global_batch}", file=sys.stderr)
    if global_batch % world:
        raise ValueError(f"batch size {global_batch} is not divisible by {world} processes")
    steps_per_epoch = n // global_batch
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    warmup_steps = int(cfg.warmup) if cfg.warmup >= 1 else int(round(cfg.warmup * total_steps))

    # ---- model, optimiser, schedule
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    try:
        model = build_model(model_config, weights=None if resume_state else cfg.pretrained)
    except ValueError as exc:
        if isinstance(exc, CsipInputError) or not cfg.pretrained or resume_state:
            raise
        # e.g. ImageNet weights for a model without an image backbone
        raise BadOption(f"--pretrained {cfg.pretrained}: {exc}") from None
    model.to(device)
    use_cl = cuda and cfg.channels_last
    if use_cl:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6,
                            **({"fused": True} if cuda else {"foreach": True}))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(warmup_steps, total_steps, cfg.min_lr_ratio))
    epoch, step_in_epoch, step = 0, 0, 0
    tracker = BestTracker(cfg.select) if cfg.select else None
    if resume_state is not None:
        if tracker is not None:
            tracker.load(resume_state.get("best"))
        model.load_state_dict(resume_state["model"])
        opt.load_state_dict(resume_state["optimizer"])
        sched.load_state_dict(resume_state["scheduler"])
        epoch, step_in_epoch, step = resume_state["epoch"], resume_state["step_in_epoch"], resume_state["step"]
        restore_rng_state(resume_state["rng"])
        if resume_state.get("world_size", 1) != world or resume_state.get("global_batch") != global_batch:
            if main:
                print("csip pretrain: resuming with another world size or batch: the data order "
                      "differs from the original run's", file=sys.stderr)
        del resume_state

    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if cuda else None)
    if cfg.compile:
        net = torch.compile(net)
    clip = ClipLoss(cfg.label_smoothing)
    keys_needed = batch_keys(model, cfg.supervised)
    amp = cfg.amp and cuda

    settings = run_settings(cfg, data_info.get("identity"))
    if stored_params is not None:  # resumed: the settings recorded when the run started must be these
        check_same_run(out, stored_params, settings, cfg.cache)
    params = {
        "config": dataclasses.asdict(cfg),
        "model_config": model_config,
        "data": {**data_info, "banner_shape": list(model_shape)},
        "world_size": world,
        "global_batch": global_batch,
        "steps_per_epoch": steps_per_epoch,
        "total_steps": total_steps,
        "warmup_steps": warmup_steps,
        "device": str(device),
        "torch": torch.__version__,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        **settings_record(settings),
    }
    if main:  # atomically: the other ranks of a resumed run may be reading it (check_same_run)
        tmp = out / ".params.json.tmp"
        tmp.write_text(json.dumps(params, indent=2, default=str))
        os.replace(tmp, out / "params.json")
    metrics = _Metrics(out, cfg.tensorboard, main)

    def make_state(ep: int, sie: int) -> dict:
        return {
            "format": "csip-checkpoint",
            "version": 1,
            "model_config": model_config,
            "train_config": json.loads(json.dumps(dataclasses.asdict(cfg), default=str)),
            "data": json.loads(json.dumps(params["data"], default=str)),
            "model": unwrap(model).state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "scaler": None,
            "epoch": ep,
            "step_in_epoch": sie,
            "step": step,
            "world_size": world,
            "global_batch": global_batch,
            "rng": capture_rng_state(),
            "best": tracker.state() if tracker is not None else None,
        }

    last_good: Path | None = last_path if last_path.is_file() else None

    def save(ep: int, sie: int, final: bool = False) -> None:
        nonlocal last_good
        if main:
            state = make_state(ep, sie)
            save_checkpoint(last_path, state)
            if final:
                save_checkpoint(ckpt_dir / "final.pt", state)
            last_good = last_path
        dist_utils.barrier()

    pending: list[tuple[int, int, torch.Tensor]] = []  # (step, epoch, loss) not yet checked

    def flush_losses() -> list[tuple[int, int, float]]:
        """Check the pending losses for NaN/inf (one device sync) and return them as floats."""
        if not pending:
            return []
        vals = torch.stack([p[2] for p in pending]).float().cpu().tolist()
        done = [(p[0], p[1], v) for p, v in zip(pending, vals)]
        pending.clear()
        for st, ep, v in done:
            check_loss(st, ep, v)
        return done

    def check_loss(st: int, ep: int, v: float) -> None:
        if not math.isfinite(v):
            where = f"{last_good} (step {_ckpt_step(last_good)})" if last_good else "none was saved yet"
            raise TrainingDiverged(
                f"loss became {v} at step {st} (epoch {ep}); training stopped. Last good checkpoint: "
                f"{where}. Lower --lr, or check the data for non-finite banners."
            )

    bar = None
    if main and cfg.progress:
        from tqdm import tqdm

        bar = tqdm(total=total_steps, initial=step, unit="step", dynamic_ncols=True, file=sys.stderr)

    t_last, img_last, first_step = time.perf_counter(), 0, step
    last_loss = float("nan")
    stop = step >= total_steps
    own_flag = None
    if stop_flag is None:
        own_flag = stop_flag = StopFlag("finishing the current step, then saving a checkpoint").install()
    try:
        feed = batch_feed(dataset, global_batch, cfg.seed, rank, world, device, keys_needed, cfg.workers,
                          cfg.flip, use_cl)
        while epoch < cfg.epochs and not stop:
            net.train()
            for batch in feed(epoch, step_in_epoch):
                loss, scale = forward_loss(net, batch, clip, cfg.supervised, amp)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                step_in_epoch += 1
                img_last += global_batch
                pending.append((step, epoch, dist_utils.all_reduce_mean(loss)))
                # losses are checked for NaN/inf without a device sync per step: at every log
                # step and before every checkpoint (so no corrupted state is ever saved); on
                # the CPU a per-step check is free, so there the run stops at once
                if not cuda:
                    check_loss(step, epoch, float(pending[-1][2]))
                if bar is not None:
                    bar.update(1)
                is_last = step >= total_steps
                if step % cfg.log_every == 0 or is_last:
                    done = flush_losses()
                    now = time.perf_counter()
                    ips = img_last / max(now - t_last, 1e-9)
                    last_loss = done[-1][2]
                    rec = {"kind": "train", "step": step, "epoch": epoch, "loss": last_loss, "lr": sched.get_last_lr()[0],
                           "images_per_s": ips, "time": time.time()}
                    if scale is not None:
                        rec["logit_scale"] = float(scale.detach())
                    metrics.log(rec)
                    if bar is not None:
                        bar.set_postfix(loss=f"{last_loss:.4f}", ips=f"{ips:.0f}")
                    t_last, img_last = now, 0
                if cfg.save_every and step % cfg.save_every == 0 and not is_last:
                    flush_losses()
                    save(epoch, step_in_epoch)
                if is_last:
                    stop = True
                    break
                if stop_flag.poll(device):  # SIGTERM / SIGINT: save this step, then stop
                    flush_losses()
                    if not (cfg.save_every and step % cfg.save_every == 0):
                        save(epoch, step_in_epoch)
                    raise Interrupted(stop_flag.signum or int(signal.SIGTERM),
                                      f"stopped after step {step} of {total_steps}; checkpoint {last_path}",
                                      checkpoint=str(last_path), step=step)
            if not stop or step_in_epoch == steps_per_epoch:
                flush_losses()
                if main and val_dataset is not None and len(val_dataset) >= 2:
                    vb = max(2, min(global_batch, len(val_dataset)))
                    rec = validate(model, val_dataset, vb, device, cfg.supervised, amp, cfg.label_smoothing, use_cl)
                    if tracker is not None:
                        rec.update(retrieval_metrics(model, val_dataset, vb, device, amp))
                    if rec:
                        rec = {"kind": "val", "step": step, "epoch": epoch, **rec}
                        metrics.log(rec)
                        if tracker is not None and tracker.update(rec):
                            save_checkpoint(ckpt_dir / "best.pt", make_state(epoch + 1, 0))
                            tracker.write(ckpt_dir / "best.json")
                dist_utils.barrier()
            if not stop:
                epoch, step_in_epoch = epoch + 1, 0
                if epoch < cfg.epochs:
                    save(epoch, 0)
        flush_losses()
        final_epoch, final_sie = (epoch, step_in_epoch) if step_in_epoch else (epoch, 0)
        save(final_epoch, final_sie, final=True)
    finally:
        if own_flag is not None:
            own_flag.restore()
        if bar is not None:
            bar.close()
        metrics.close()
    return {
        "steps": step,
        "steps_run": step - first_step,
        "epochs": epoch,
        "loss": last_loss,
        "out": str(out),
        "checkpoint": str(ckpt_dir / "final.pt"),
        "global_batch": global_batch,
    }


def _ckpt_step(path: Path | None) -> int | str:
    try:
        return int(load_checkpoint(path)["step"])
    except Exception:
        return "?"


def read_metrics(run_dir: str | Path, kind: str = "train") -> list[dict]:
    """The records of ``run_dir/metrics.jsonl`` of one ``kind`` ("train" or "val"); for a step
    logged twice (a run resumed from an earlier checkpoint), the later record wins. Sorted by step."""
    recs: dict[int, dict] = {}
    p = Path(run_dir) / "metrics.jsonl"
    if p.is_file():
        for line in p.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r.get("kind", "train") == kind:
                    recs[r["step"]] = r
    return [recs[k] for k in sorted(recs)]


__all__ = [
    "DataError",
    "EpochBatchSampler",
    "SYNTHETIC_DEFAULTS",
    "TrainConfig",
    "TrainingDiverged",
    "batch_feed",
    "batch_keys",
    "build_synthetic_cache",
    "forward_loss",
    "check_data",
    "epoch_permutation",
    "flip_mask",
    "hflip_batch",
    "mirror_boxes",
    "mirror_labels",
    "mirror_sfb",
    "open_cache",
    "read_metrics",
    "to_device",
    "train",
    "validate",
    "warmup_cosine",
]
