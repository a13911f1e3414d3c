"""The training loss, read without a device sync per step and checked for divergence.

Each step's loss stays a device tensor until the loop needs its value: at every log step and
before every checkpoint (:meth:`LossMonitor.flush`, one sync for all pending steps), so that no
checkpoint of a corrupted state is ever written. On the CPU a per-step check costs nothing, and
the run stops at the step the loss went non-finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stopped without saving the corrupted state."""


class LossMonitor:
    """Pending losses ``(step, epoch, 0-dim tensor)`` and the NaN/inf check.

    ``check_every_step``: read and check each loss as it is added (the CPU: no sync to save).
    ``last_good``: a function giving the message's "last good checkpoint" part (a path and its
    step, or that none was saved yet), asked only when the loss diverged.
    """

    def __init__(self, check_every_step: bool, last_good: Callable[[], str]):
        self.check_every_step = check_every_step
        self.last_good = last_good
        self.pending: list[tuple[int, int, torch.Tensor]] = []

    def add(self, step: int, epoch: int, loss: torch.Tensor) -> None:
        """Record the (process-averaged) loss of global step ``step`` of ``epoch``."""
        self.pending.append((step, epoch, loss))
        if self.check_every_step:
            self.check(step, epoch, float(loss))

    def flush(self) -> list[tuple[int, int, float]]:
        """Check the pending losses (one device sync) and return them as ``(step, epoch, value)``."""
        if not self.pending:
            return []
        values = torch.stack([loss for _, _, loss in self.pending]).float().cpu().tolist()
        done = [(step, epoch, value) for (step, epoch, _), value in zip(self.pending, values)]
        self.pending.clear()
        for step, epoch, value in done:
            self.check(step, epoch, value)
        return done

    def check(self, step: int, epoch: int, value: float) -> None:
        """:class:`TrainingDiverged` when ``value`` is NaN or infinite."""
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"loss became {value} at step {step} (epoch {epoch}); training stopped. Last good checkpoint: "
                f"{self.last_good()}. Lower --lr, or check the data for non-finite banners."
            )


__all__ = ["LossMonitor", "TrainingDiverged"]
