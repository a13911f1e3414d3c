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

The run itself has the shape of open_clip's ``train_one_epoch`` and torchvision's reference
loop: :func:`setup_run` builds a :class:`~csip.training.state.RunState`, then each epoch is
:func:`~csip.training.loop.train_one_epoch` and :func:`~csip.training.loop.end_of_epoch`; the
checkpoints are a :class:`~csip.training.checkpointer.Checkpointer`'s, the divergence check a
:class:`~csip.training.loss_monitor.LossMonitor`'s (see :mod:`csip.training`). This module is
the public entry point and re-exports what callers import from it (:func:`validate`,
:func:`forward_loss`, :func:`read_metrics`, :class:`TrainingDiverged`, ...).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from . import distributed as dist_utils
from .cache import Cache, CacheDataset, CacheError
from .cache.batches import BatchReader
from .cache.order import (  # re-exported: the data order is part of csip.train's API
    EpochBatchSampler, epoch_permutation, flip_mask, hflip_batch, mirror_boxes, mirror_labels, mirror_sfb,
)
from .cache import writer as cache_writer  # a module: its usable_cores is looked up at each call
from .checkpoint import atomic_write, restore_rng_state
from .checks import check_device, check_positive_finite, check_writable_dir
from .descriptor import DescriptorParams
from .errors import BadOption, CsipInputError
from .fingerprint import cache_identity, describe_diff, fingerprint, settings_diff, settings_record
from .loss import ClipLoss
from .models import build_model, default_model_config
from .preemption import StopFlag, loader_worker_init
from .selection import BestTracker
from .train_config import (RUN_DEFINING_FIELDS, SELECTABLE, SYNTHETIC_DEFAULTS, TrainConfig, run_settings,
                           stored_run_settings)
from .training.checkpointer import Checkpointer
from .training.loop import end_of_epoch, finish, train_one_epoch
from .training.loss_monitor import LossMonitor, TrainingDiverged
from .training.metrics import MetricsWriter, read_metrics
from .training.state import RunState
from .training.step import batch_keys, forward_loss, to_device
from .training.validation import validate


class DataError(ValueError):
    """The data cannot be trained on (empty, wrong banner shape, no labels for --supervised)."""


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


def build_synthetic_cache(out_dir: str | Path, n: int, image_size: int, seed: int = 0, progress: bool = True) -> Path:
    """Precompute ``n`` built-in synthetic scenes into a cache at ``out_dir`` (if not there).

    The same cache as ``csip precompute run synthetic --out DIR --n N --image-size S --seed SEED
    --shard 0/1`` (default banner, one worker per core; the explicit shard keeps a torchrun
    environment from making it a shard). Rerunning resumes an interrupted build. ``progress``:
    the precompute's progress bar.
    """
    out_dir = Path(out_dir)
    if (out_dir / "manifest.json").is_file():
        return out_dir
    try:
        source = cache_writer.resolve_source("synthetic", n=n, seed=seed)
        cache_writer.build(source, out_dir, spec="synthetic", seed=seed, image_size=image_size,
                           desc=DescriptorParams.make(), shard=(0, 1), progress=progress)
    except (CacheError, ValueError) as exc:
        raise DataError(f"precomputing the synthetic cache in {out_dir} failed: {exc}") from None
    if not (out_dir / "manifest.json").is_file():
        raise DataError(f"precomputing the synthetic cache in {out_dir} did not finish")
    return out_dir


def open_cache(path: str | Path, split: str | None) -> tuple[Dataset, dict]:
    """``(dataset, info)`` for a cache directory; info has n_levels, n_angles, image_size, ...

    Raises :class:`DataError` for an empty selection.
    """
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


# --------------------------------------------------------------------------- options, batches


def check_options(cfg: TrainConfig) -> None:
    """:class:`~csip.errors.BadOption` for option values no run can use, before anything is
    written (so a bad ``--lr`` leaves no run directory behind)."""
    check_positive_finite(cfg.lr, "--lr")
    check_positive_finite(cfg.logit_scale, "--logit-scale")
    for value, option, lo in ((cfg.epochs, "--epochs", 1), (cfg.batch_size, "--batch-size", 2), (cfg.seed, "--seed", 0),
                              (cfg.max_steps, "--max-steps", 1), (cfg.save_every, "--save-every", 0),
                              (cfg.log_every, "--log-every", 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < lo):
            raise BadOption(f"{option} {value!r}: expected an integer >= {lo}")
    for value, option, lo, hi in ((cfg.weight_decay, "--weight-decay", 0.0, math.inf),
                                  (cfg.warmup, "--warmup", 0.0, math.inf),
                                  (cfg.label_smoothing, "--label-smoothing", 0.0, 1.0)):
        if not (math.isfinite(value) and lo <= value and (value < hi or hi == math.inf)):
            raise BadOption(f"{option} {value!r}: must be a finite number in [{lo}, {hi})")
    check_device(cfg.device)
    if cfg.select is not None and not cfg.resume:  # a resume is checked with the run's own options
        _check_select(cfg)


def _check_select(cfg: TrainConfig) -> None:
    """:class:`~csip.errors.BadOption` for a ``--select`` metric the run would never measure,
    which would end the run without a ``best.pt`` and without saying why."""
    option = f"--select {cfg.select}"
    if cfg.select not in SELECTABLE:
        raise BadOption(f"{option}: expected one of {', '.join(SELECTABLE)}")
    if cfg.select == "val_acc" and not cfg.supervised:
        raise BadOption(f"{option}: only a --supervised run measures it (a C-SIP run has val_top1)")
    if cfg.select == "val_top1" and cfg.supervised:
        raise BadOption(f"{option}: only a C-SIP run measures it (a --supervised run has val_acc)")
    if not cfg.val_split or cfg.split is None or cfg.split == cfg.val_split:
        raise BadOption(f"{option}: the run has no held-out split to measure it on (--split "
                        f"{cfg.split or 'all'} trains on the {cfg.val_split or 'val'} items)")


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
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE") or 1))
    return max(1, min(16, cache_writer.usable_cores() // local - 1))


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
            batch = to_device(raw, device, keys, channels_last)
            if flip:
                batch = hflip_batch(batch, flip_mask(seed, epoch, step, global_batch)[rank * local:(rank + 1) * local])
            yield batch

    return epoch_batches




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


# --------------------------------------------------------------------------- the run


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

    The shape of open_clip's and torchvision's reference loops: :func:`setup_run`, then
    :func:`~csip.training.loop.train_one_epoch` and :func:`~csip.training.loop.end_of_epoch`
    per epoch, then :func:`~csip.training.loop.finish`.
    """
    run = setup_run(cfg, dataset, data_info, val_dataset)
    own_flag = None
    if stop_flag is None:
        own_flag = stop_flag = StopFlag("finishing the current step, then saving a checkpoint").install()
    try:
        run.feed = batch_feed(run.dataset, run.global_batch, run.cfg.seed, run.rank, run.world, run.device,
                              batch_keys(run.model, run.cfg.supervised), run.cfg.workers, run.cfg.flip,
                              run.channels_last)
        while run.epoch < run.cfg.epochs and not run.stopped:
            train_one_epoch(run, stop_flag)
            end_of_epoch(run)
        finish(run)
    finally:
        if own_flag is not None:
            own_flag.restore()
        if run.bar is not None:
            run.bar.close()
        run.metrics.close()
    return run.summary()


# --------------------------------------------------------------------------- setup


def setup_run(cfg: TrainConfig, dataset: Dataset | None = None, data_info: dict | None = None,
              val_dataset: Dataset | None = None) -> RunState:
    """Everything before the first step (arguments as :func:`train`'s): options checked, the
    run directory claimed or resumed (its config then the checkpoint's, :func:`resumed_config`),
    data opened and checked, batch geometry, model, optimiser and schedule built (and restored
    on resume), ``params.json`` written, the metrics writer and progress bar opened."""
    check_options(cfg)
    out = Path(cfg.out)
    rank, world, device = dist_utils.init_from_env(cfg.device)
    main = rank == 0
    if main:
        check_writable_dir(out, "--out")
    checkpointer = Checkpointer(out, main)
    resume_state = checkpointer.claim_or_resume(cfg.resume)
    stored_params = None
    if resume_state is not None:
        cfg = resumed_config(cfg, resume_state.get("train_config", {}))
        stored_params = read_params(out)
        if cfg.select is not None:
            _check_select(cfg)
    dataset, data_info, val_dataset, item_shape = _open_data(cfg, out, main, dataset, data_info, val_dataset)
    if cfg.select is not None and val_dataset is None:
        raise DataError(f"--select {cfg.select}: the data has no {cfg.val_split!r} split to measure it on")
    model_config, model_shape = _model_config(cfg, data_info, resume_state, item_shape)
    check_data(dataset, data_info, model_shape, cfg.supervised)
    global_batch, steps_per_epoch, total_steps, warmup_steps = _batch_geometry(len(dataset), cfg, world, main)
    model = _build_model(cfg, model_config, resume_state is not None, device)
    optimizer, scheduler = _optimizer_and_schedule(model, cfg, device, warmup_steps, total_steps)
    tracker = BestTracker(cfg.select) if cfg.select else None
    counters, resumed = (0, 0, 0), resume_state is not None
    if resumed:
        counters = _restore(resume_state, model, optimizer, scheduler, tracker, world, global_batch, main)
        resume_state = None  # the loaded tensors are not needed any more
    net = _wrap(model, cfg, world, device)
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
        atomic_write(out / "params.json", lambda tmp: Path(tmp).write_text(json.dumps(params, indent=2, default=str)))
    cuda = device.type == "cuda"
    epoch, step_in_epoch, step = counters
    return RunState(
        cfg=cfg, out=out, rank=rank, world=world, device=device, model=model, net=net, optimizer=optimizer,
        scheduler=scheduler, clip=ClipLoss(cfg.label_smoothing), amp=cfg.amp and cuda,
        channels_last=cuda and cfg.channels_last, model_config=model_config, params=params,
        global_batch=global_batch, steps_per_epoch=steps_per_epoch, total_steps=total_steps, dataset=dataset,
        val_dataset=val_dataset, checkpointer=checkpointer,
        # the CPU checks each loss at once (no sync to save); CUDA at log steps and saves
        monitor=LossMonitor(check_every_step=not cuda, last_good=checkpointer.describe_last_good),
        metrics=MetricsWriter(out, cfg.tensorboard, main, step if resumed else None), tracker=tracker,
        epoch=epoch, step_in_epoch=step_in_epoch, step=step, first_step=step, stopped=step >= total_steps,
        bar=(tqdm(total=total_steps, initial=step, unit="step", dynamic_ncols=True, file=sys.stderr)
             if main and cfg.progress else None),
    )


def _open_data(cfg: TrainConfig, out: Path, main: bool, dataset: Dataset | None, data_info: dict | None,
               val_dataset: Dataset | None) -> tuple[Dataset, dict, Dataset | None, tuple[int, int]]:
    """``(dataset, data_info, val_dataset, (R, K) of the items' banners)``: the given dataset,
    else ``cfg.cache`` (its ``cfg.val_split`` as val data when there is one), else the built-in
    synthetic scenes precomputed into ``out/cache``. ``data_info`` completed from the first item."""
    if dataset is None:
        cache = cfg.cache
        if cache is None:
            cache = str(out / "cache")
            if main:
                build_synthetic_cache(cache, cfg.synthetic_n, cfg.synthetic_image_size, cfg.seed, cfg.progress)
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
    return dataset, data_info, val_dataset, (r, k)


def _model_config(cfg: TrainConfig, data_info: dict, resume_state: dict | None,
                  item_shape: tuple[int, int]) -> tuple[dict, tuple[int, int]]:
    """``(model_config, (R, K) the model reads)``: the checkpoint's when resuming, else a new
    model for the data's banner shape and image size."""
    if resume_state is not None:
        model_config = resume_state["model_config"]
        spatial = model_config.get("spatial_encoder")
        model_shape = (spatial["n_levels"], spatial["n_angles"]) if spatial else item_shape
        return model_config, tuple(resume_state.get("data", {}).get("banner_shape", model_shape))
    model_config = default_model_config(
        cfg.model, data_info["n_levels"], data_info["n_angles"], supervised=cfg.supervised,
        embed_dim=cfg.embed_dim, feature_dim=cfg.feature_dim, spatial_channels=cfg.spatial_channels,
        logit_scale=cfg.logit_scale, learn_logit_scale=cfg.learn_logit_scale,
        image_size=data_info["image_size"], width=cfg.width,
    )
    return model_config, (data_info["n_levels"], data_info["n_angles"])


def _batch_geometry(n: int, cfg: TrainConfig, world: int, main: bool) -> tuple[int, int, int, int]:
    """``(global_batch, steps_per_epoch, total_steps, warmup_steps)`` for ``n`` training items.

    The global batch is lowered (to a multiple of ``world``) when the data holds fewer items.
    """
    global_batch = cfg.batch_size
    if n < global_batch:
        global_batch = (n // world) * world
        if global_batch < 2:  # a contrastive batch of one item has loss 0 and teaches nothing
            raise DataError(f"only {n} training item{'s' if n != 1 else ''}: a batch needs at least 2 (and one per process, "
                            f"{world} here)")
        if main:
            print(f"csip pretrain: only {n} items; batch size lowered to {global_batch}", file=sys.stderr)
    if global_batch % world:
        raise ValueError(f"batch size {global_batch} is not divisible by {world} processes")
    steps_per_epoch = n // global_batch
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    warmup_steps = int(cfg.warmup) if cfg.warmup >= 1 else int(round(cfg.warmup * total_steps))
    return global_batch, steps_per_epoch, total_steps, warmup_steps


def _build_model(cfg: TrainConfig, model_config: dict, resuming: bool, device: torch.device) -> torch.nn.Module:
    """The model on ``device`` (channels-last on CUDA when asked), initialised under ``cfg.seed``
    (python, numpy and torch seeded first); ``cfg.pretrained`` weights unless ``resuming``."""
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    try:
        model = build_model(model_config, weights=None if resuming else cfg.pretrained)
    except ValueError as exc:
        if isinstance(exc, CsipInputError) or not cfg.pretrained or resuming:
            raise
        # e.g. ImageNet weights for a model without an image backbone
        raise BadOption(f"--pretrained {cfg.pretrained}: {exc}") from None
    model.to(device)
    if device.type == "cuda" and cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def _optimizer_and_schedule(model: torch.nn.Module, cfg: TrainConfig, device: torch.device, warmup_steps: int,
                            total_steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (betas 0.9/0.98, eps 1e-6; fused on CUDA) and its warm-up + cosine schedule (per step)."""
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6,
                                  **({"fused": True} if device.type == "cuda" else {"foreach": True}))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup_steps, total_steps,
                                                                           cfg.min_lr_ratio))
    return optimizer, scheduler


def _restore(state: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             scheduler: torch.optim.lr_scheduler.LRScheduler, tracker: BestTracker | None, world: int,
             global_batch: int, main: bool) -> tuple[int, int, int]:
    """Load a checkpoint's state into the run's parts (RNG states included); → its
    ``(epoch, step_in_epoch, step)``. Warns when the world size or batch changed (the data
    order then differs from the original run's)."""
    if tracker is not None:
        tracker.load(state.get("best"))
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    counters = state["epoch"], state["step_in_epoch"], state["step"]
    restore_rng_state(state["rng"])
    if state.get("world_size", 1) != world or state.get("global_batch") != global_batch:
        if main:
            print("csip pretrain: resuming with another world size or batch: the data order "
                  "differs from the original run's", file=sys.stderr)
    return counters


def _wrap(model: torch.nn.Module, cfg: TrainConfig, world: int, device: torch.device) -> torch.nn.Module:
    """What the steps call: ``model`` under DDP when there are several processes, compiled when asked."""
    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)
    return net


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
    "setup_run",
    "to_device",
    "train",
    "validate",
    "warmup_cosine",
]
