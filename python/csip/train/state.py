"""The state of one training run, built once by :func:`csip.train.setup_run` and carried by the
loop (:mod:`csip.train.loop`) from step to step."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from ..models.checkpoint import FORMAT, VERSION, unwrap
from .checkpointer import Checkpointer
from .config import TrainConfig
from .loss_monitor import LossMonitor
from .metrics import MetricsWriter
from .objectives.base import Objective
from .rng import capture_rng_state
from .selection import BestTracker


@dataclass
class Throughput:
    """Images trained since the last log record, and when that record was written (perf_counter s)."""

    since: float = field(default_factory=time.perf_counter)
    images: int = 0

    def rate(self, now: float) -> float:
        """Images per second since the last record."""
        return self.images / max(now - self.since, 1e-9)

    def restart(self, now: float) -> None:  # noqa: D102
        self.since, self.images = now, 0


@dataclass
class RunState:
    """Everything one run carries: what it trains, how, where it writes, and where it is.

    ``model`` is the unwrapped model (checkpoints, validation); ``net`` what the steps call
    (``model`` under DDP and/or ``torch.compile``). ``feed(epoch, start)`` iterates the batches
    of ``epoch`` from its ``start``-th on (:func:`csip.train.batch_feed`). ``epoch``,
    ``step_in_epoch`` (batches of the epoch consumed) and ``step`` (global optimiser steps) are
    the counters a checkpoint stores; ``stopped``: the last step (``total_steps``) is done.
    """

    cfg: TrainConfig
    out: Path
    rank: int
    world: int
    device: torch.device
    model: torch.nn.Module
    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    objective: Objective  # what the run optimises (csip.train.objectives)
    amp: bool
    channels_last: bool
    model_config: dict
    params: dict  # what params.json holds
    global_batch: int
    steps_per_epoch: int
    total_steps: int
    dataset: Dataset
    val_dataset: Dataset | None
    checkpointer: Checkpointer
    monitor: LossMonitor
    metrics: MetricsWriter
    tracker: BestTracker | None
    epoch: int = 0
    step_in_epoch: int = 0
    step: int = 0
    first_step: int = 0  # the step this call started at (> 0 when resumed)
    stopped: bool = False
    last_loss: float = math.nan
    bar: Any = None  # tqdm progress bar of the main process, or None
    feed: Callable[[int, int], Iterator[dict[str, torch.Tensor]]] | None = None
    throughput: Throughput = field(default_factory=Throughput)

    @property
    def main(self) -> bool:
        """Whether this is the process that writes files and validates."""
        return self.rank == 0

    def checkpoint_state(self, epoch: int, step_in_epoch: int) -> dict[str, Any]:
        """Everything a resume needs, as the run will continue at batch ``step_in_epoch`` of
        ``epoch`` (the keys of :mod:`csip.models.checkpoint`)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "model_config": self.model_config,
            "train_config": json.loads(json.dumps(dataclasses.asdict(self.cfg), default=str)),
            "data": json.loads(json.dumps(self.params["data"], default=str)),
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": None,
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "step": self.step,
            "world_size": self.world,
            "global_batch": self.global_batch,
            "rng": capture_rng_state(),
            "best": self.tracker.state() if self.tracker is not None else None,
        }

    def save(self, epoch: int, step_in_epoch: int, final: bool = False) -> None:
        """``last.pt`` (and ``final.pt``) as the run continues at batch ``step_in_epoch`` of ``epoch``."""
        self.checkpointer.save(lambda: self.checkpoint_state(epoch, step_in_epoch), final)

    def save_best(self) -> None:
        """``best.pt`` (the state at the start of the next epoch) and ``best.json``; main process only."""
        self.checkpointer.save_best(self.checkpoint_state(self.epoch + 1, 0), self.tracker.write)

    def summary(self) -> dict:
        """What :func:`csip.train.train` returns: steps, last loss, paths."""
        return {
            "steps": self.step,
            "steps_run": self.step - self.first_step,
            "epochs": self.epoch,
            "loss": self.last_loss,
            "out": str(self.out),
            "checkpoint": str(self.checkpointer.final),
            "global_batch": self.global_batch,
        }


__all__ = ["RunState", "Throughput"]
