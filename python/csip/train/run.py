"""One training run: :func:`train` (options checked, run directory claimed or resumed, data
opened, model, optimiser and schedule built by :func:`setup_run`, then the loop of
:mod:`csip.train.loop` until the schedule ends)."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ..base import distributed as dist_utils
from ..base.checks import check_writable_dir
from ..base.errors import BadOption, CsipInputError
from ..base.files import atomic_write
from ..base.fingerprint import settings_record
from ..base.lock import launched_as_rank0, output_lock
from ..base.preemption import StopFlag
from ..cache.format import CacheError
from ..cache.synthetic import build_synthetic_cache
from ..models.build import default_model_config
from .checkpointer import Checkpointer
from .config import TrainConfig, check_select, run_settings
from .data import DataError, batch_feed, check_data, item_shapes, open_cache
from .loop import end_of_epoch, finish, train_one_epoch
from .loss_monitor import LossMonitor
from .metrics import MetricsWriter
from .objectives import make_objective
from .objectives.base import Objective
from .resume import check_same_run, read_params, resumed_config
from .rng import restore_rng_state
from .schedule import optimizer_and_schedule
from .selection import BestTracker
from .state import RunState
from .step import batch_keys

logger = logging.getLogger(__name__)


def check_options(cfg: TrainConfig) -> None:
    """:meth:`TrainConfig.validate`: :class:`~csip.base.errors.BadOption` for option values no
    run can use, before anything is written (so a bad ``--lr`` leaves no run directory behind)."""
    cfg.validate()


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
    :class:`~csip.base.preemption.StopFlag`, by default one installed for the loop) end the current
    step, write ``checkpoints/last.pt`` atomically and raise :class:`~csip.base.preemption.Interrupted`
    (every process of a torchrun job stops after the same step); ``resume=True`` continues the
    run exactly as if it had not stopped.

    The shape of open_clip's and torchvision's reference loops: :func:`setup_run`, then
    :func:`~csip.train.loop.train_one_epoch` and :func:`~csip.train.loop.end_of_epoch`
    per epoch, then :func:`~csip.train.loop.finish`.

    ``cfg.out`` is locked for the run (:func:`csip.base.lock.output_lock`; by rank 0 only under
    torchrun, so one lock per run): a second training into it raises
    :class:`~csip.base.lock.OutputLocked` before anything is written.
    """
    check_options(cfg)  # a bad option leaves no run directory behind, not even a locked one
    main = launched_as_rank0()  # before the process group: torchrun's RANK
    if main:
        check_writable_dir(cfg.out, "--out")
    with output_lock(cfg.out, enabled=main):
        return _train_locked(cfg, dataset, data_info, val_dataset, stop_flag)


def _train_locked(cfg: TrainConfig, dataset: Dataset | None, data_info: dict | None, val_dataset: Dataset | None,
                  stop_flag: StopFlag | None) -> dict:
    """:func:`train` once its run directory is locked."""
    run = setup_run(cfg, dataset, data_info, val_dataset)
    own_flag = None
    if stop_flag is None:
        own_flag = stop_flag = StopFlag("finishing the current step, then saving a checkpoint").install()
    try:
        run.feed = batch_feed(run.dataset, run.global_batch, run.cfg.seed, run.rank, run.world, run.device,
                              batch_keys(run.model, run.objective), run.cfg.workers, run.cfg.flip,
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
            check_select(cfg)
    objective = make_objective(cfg.objective_name, cfg.label_smoothing)
    dataset, data_info, val_dataset, item_shape = _open_data(cfg, objective, out, main, dataset, data_info,
                                                             val_dataset)
    if cfg.select is not None and val_dataset is None:
        raise DataError(f"--select {cfg.select}: the data has no {cfg.val_split!r} split to measure it on")
    model_config, model_shape = _model_config(cfg, objective, data_info, resume_state, item_shape)
    check_data(dataset, data_info, model_shape, objective)
    global_batch, steps_per_epoch, total_steps, warmup_steps = _batch_geometry(len(dataset), cfg, world, main)
    model = _build_model(cfg, objective, model_config, resume_state is not None, device)
    optimizer, scheduler = optimizer_and_schedule(model, cfg, device, warmup_steps, total_steps)
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
        scheduler=scheduler, objective=objective, amp=cfg.amp and cuda,
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


def _open_data(
    cfg: TrainConfig,
    objective: Objective,
    out: Path,
    main: bool,
    dataset: Dataset | None,
    data_info: dict | None,
    val_dataset: Dataset | None,
) -> tuple[Dataset, dict, Dataset | None, tuple[int, int]]:
    """``(dataset, data_info, val_dataset, (R, K) of the items' banners)``: the given dataset,
    else ``cfg.cache`` (one cache or several read as one; its ``cfg.val_split`` as val data when
    there is one; only the labelled training items for an objective that reads labels only),
    else the built-in synthetic scenes precomputed into ``out/cache``. ``data_info`` completed
    from the first item."""
    if dataset is None:
        cache = cfg.cache
        if cache is None:
            cache = str(out / "cache")
            if main:
                try:
                    build_synthetic_cache(cache, cfg.synthetic_n, cfg.synthetic_image_size, cfg.seed, cfg.progress)
                except CacheError as exc:
                    raise DataError(str(exc)) from None
            dist_utils.barrier()
        dataset, data_info = open_cache(cache, cfg.split, labelled_only=cfg.reads_labelled_only())
        if val_dataset is None and cfg.val_split and cfg.val_split != cfg.split and cfg.split is not None:
            try:
                val_dataset, _ = open_cache(cache, cfg.val_split)
            except (DataError, ValueError, KeyError):
                val_dataset = None
    data_info = dict(data_info or {"cache": None, "split": None})
    data_info.setdefault("n_items", len(dataset))
    if len(dataset) == 0:
        check_data(dataset, data_info)
    (r, k), s = item_shapes(dataset[0])
    data_info.setdefault("n_levels", r)
    data_info.setdefault("n_angles", k)
    data_info.setdefault("image_size", s)
    if data_info.get("n_levels") is None:
        data_info["n_levels"], data_info["n_angles"] = r, k
    if data_info.get("image_size") is None:
        data_info["image_size"] = s
    return dataset, data_info, val_dataset, (r, k)


def _model_config(cfg: TrainConfig, objective: Objective, data_info: dict, resume_state: dict | None,
                  item_shape: tuple[int, int]) -> tuple[dict, tuple[int, int]]:
    """``(model_config, (R, K) the model reads)``: the checkpoint's when resuming, else a new
    model for the data's banner shape and image size."""
    if resume_state is not None:
        model_config = resume_state["model_config"]
        spatial = model_config.get("spatial_encoder")
        model_shape = (spatial["n_levels"], spatial["n_angles"]) if spatial else item_shape
        return model_config, tuple(resume_state.get("data", {}).get("banner_shape", model_shape))
    model_config = default_model_config(
        cfg.model, data_info["n_levels"], data_info["n_angles"], kind=objective.model_kind,
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
            raise DataError(
                f"only {n} training item{'s' if n != 1 else ''}: a batch needs at least 2 (and one per process, "
                f"{world} here)"
            )
        if main:
            logger.warning("only %d training items; batch size lowered to %d", n, global_batch)
    if global_batch % world:
        raise ValueError(f"batch size {global_batch} is not divisible by {world} processes")
    steps_per_epoch = n // global_batch
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    warmup_steps = int(cfg.warmup) if cfg.warmup >= 1 else int(round(cfg.warmup * total_steps))
    return global_batch, steps_per_epoch, total_steps, warmup_steps


def _build_model(cfg: TrainConfig, objective: Objective, model_config: dict, resuming: bool,
                 device: torch.device) -> torch.nn.Module:
    """The objective's model on ``device`` (channels-last on CUDA when asked), initialised under
    ``cfg.seed`` (python, numpy and torch seeded first); ``cfg.pretrained`` weights unless ``resuming``."""
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    try:
        model = objective.build_model(model_config, weights=None if resuming else cfg.pretrained)
    except ValueError as exc:
        if isinstance(exc, CsipInputError) or not cfg.pretrained or resuming:
            raise
        # e.g. ImageNet weights for a model without an image backbone
        raise BadOption(f"--pretrained {cfg.pretrained}: {exc}") from None
    model.to(device)
    if device.type == "cuda" and cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


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
            logger.warning("resuming with another world size or batch: the data order "
                  "differs from the original run's")
    return counters


def _wrap(model: torch.nn.Module, cfg: TrainConfig, world: int, device: torch.device) -> torch.nn.Module:
    """What the steps call: ``model`` under DDP when there are several processes, compiled when asked."""
    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)
    return net
