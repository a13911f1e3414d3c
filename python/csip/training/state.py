"""The state of one training run, built once by :func:`csip.train.setup_run` and carried by the
loop (:mod:`csip.training.loop`) from step to step."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from ..selection import BestTracker
from ..train_config import TrainConfig
from .checkpointer import Checkpointer
from .loss_monitor import LossMonitor
from .metrics import MetricsWriter


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
    clip: Callable
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
