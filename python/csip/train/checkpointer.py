"""A run's checkpoint files: what a checkpoint holds, when each file is written, resume.

In ``out/checkpoints``:

- ``last.pt``: written at every epoch end, every ``save_every`` steps and when the run is
  stopped by a signal; ``--resume`` continues from it;
- ``final.pt``: the finished run (and ``last.pt`` again, the same state);
- ``best.pt`` and ``best.json``: the epoch end with the best selection metric
  (:class:`csip.train.selection.BestTracker`), saved as the start of the next epoch.

Every file is written atomically (:func:`csip.models.checkpoint.save_checkpoint`) by the main process
only; the format is described in :mod:`csip.models.checkpoint`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..base import distributed as dist_utils
from ..models.checkpoint import load_checkpoint, save_checkpoint


class Checkpointer:
    """The checkpoint files of the run in ``out``; ``main``: whether this process writes them.

    ``last_good``: the newest checkpoint known to hold a finite state (``last.pt`` once one was
    written or resumed from), named when the loss diverges.
    """

    def __init__(self, out: Path, main: bool):
        self.out = out
        self.dir = out / "checkpoints"
        self.last = self.dir / "last.pt"
        self.final = self.dir / "final.pt"
        self.best = self.dir / "best.pt"
        self.main = main
        self.last_good: Path | None = None

    def claim_or_resume(self, resume: bool) -> dict[str, Any] | None:
        """A new run: None, after checking that ``out`` holds no run (FileExistsError). With
        ``resume``: the state to resume from (``last.pt``, on the CPU; FileNotFoundError when
        there is none)."""
        if not resume:
            if self.last.is_file():
                raise FileExistsError(f"{self.out} already holds a run ({self.last}); use --resume or another --out")
            return None
        if not self.last.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {self.last}")
        if self.main:
            self._remove_torn_writes()
        self.last_good = self.last
        return load_checkpoint(self.last, "cpu")

    def _remove_torn_writes(self) -> None:
        """Delete the temporary files of checkpoint writes that a SIGKILL cut short
        (``.NAME.pt.XXXX.tmp``, :func:`csip.base.files.atomic_write`): the run that wrote them
        is gone, and each may be as large as a checkpoint."""
        for tmp in self.dir.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def save(self, state: Callable[[], dict[str, Any]], final: bool = False) -> None:
        """``last.pt`` (and ``final.pt`` when ``final``) holding ``state()`` (called on the main
        process only: the other ranks build nothing); every process waits for it."""
        if self.main:
            content = state()
            save_checkpoint(self.last, content)
            if final:
                save_checkpoint(self.final, content)
            self.last_good = self.last
        dist_utils.barrier()

    def save_best(self, state: dict[str, Any], record: Callable[[Path], None]) -> None:
        """``best.pt`` holding ``state`` and ``best.json`` written by ``record(path)``; main process only."""
        save_checkpoint(self.best, state)
        record(self.dir / "best.json")

    def describe_last_good(self) -> str:
        """``"PATH (step N)"`` of :attr:`last_good`, or that none was saved yet."""
        if self.last_good is None:
            return "none was saved yet"
        try:
            step: int | str = int(load_checkpoint(self.last_good)["step"])
        except Exception:  # noqa: BLE001 - only a message: an unreadable file says "?"
            step = "?"
        return f"{self.last_good} (step {step})"


__all__ = ["Checkpointer"]
