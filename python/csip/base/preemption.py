"""Stopping cleanly on SIGTERM or SIGINT (cluster preemption, Ctrl-C).

Clusters preempt a job with SIGTERM and SIGKILL it a few seconds later. :class:`StopFlag`
turns the first SIGTERM or SIGINT into a request that the loop polls at the end of each unit of
work (a training step, a precompute chunk); the loop then saves what it has (atomically) and
raises :class:`Interrupted`, which the command reports with the resume command and exit code
:data:`EXIT_INTERRUPTED`. A second signal while stopping interrupts at once
(``KeyboardInterrupt``), as a second Ctrl-C is expected to.

Under torchrun, :meth:`StopFlag.poll` all-reduces the flag (max over processes) so that every
process stops after the same step even if only some of them got the signal: one scalar
collective per step (on the device with NCCL, on the CPU with gloo). It makes the host wait for
the step to finish on the device, so the next step's launches no longer overlap it; with a
single process nothing is exchanged and polling is free.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from .orphans import die_with_parent

#: Exit code of a run stopped by SIGTERM or SIGINT after saving its work (EX_TEMPFAIL of
#: sysexits.h: "try again later", i.e. resume). Distinct from 0 (done), 1 (bug), 2 (bad input).
EXIT_INTERRUPTED = 75

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal after saving its work.

    ``signum``: the signal; ``checkpoint``: what was saved (a path) or ``None``; ``step``: where.
    A ``KeyboardInterrupt``, so that callers that do not handle it (``except Exception`` does not
    catch it) stop as on Ctrl-C (click prints "Aborted!"); ``csip pretrain`` reports it.
    """

    def __init__(self, signum: int, message: str, checkpoint: str | None = None, step: int | None = None):
        super().__init__(message)
        self.signum, self.checkpoint, self.step = signum, checkpoint, step

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


class StopFlag:
    """Records SIGTERM / SIGINT between :meth:`install` and :meth:`restore` (or a ``with`` block).

    ``message``: printed on stderr when the first signal arrives. Installing from a thread
    other than the main one does nothing (Python delivers signals to the main thread only).
    """

    def __init__(self, message: str = "stopping after the current step"):
        self.signum: int | None = None
        self.message = message
        self._old: dict[int, Any] = {}

    # -- signal handling --------------------------------------------------------------------

    def install(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old = {}

    def __enter__(self) -> StopFlag:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # a second signal: stop at once
            self.restore()
            raise KeyboardInterrupt
        self.signum = signum
        try:
            os.write(2, f"\ncsip: {signal.Signals(signum).name} received: {self.message} "
                        "(send it again to stop at once)\n".encode())
        except OSError:  # pragma: no cover - stderr closed
            pass

    def request(self, signum: int = signal.SIGTERM) -> None:
        """Set the flag as a signal would (tests, other triggers)."""
        self.signum = signum

    # -- polling ----------------------------------------------------------------------------

    @property
    def requested(self) -> bool:
        """Whether this process got a signal."""
        return self.signum is not None

    def poll(self, device: Any = None) -> bool:
        """Whether to stop now: this process's flag, or under a process group the max over every
        process (a collective: every process must call it at the same points)."""
        # torch is optional (the ml extra) and slow to import; csip precompute imports this module
        from . import distributed as dist_utils

        if dist_utils.world_size() == 1:
            return self.requested
        import torch
        import torch.distributed as dist

        dev = device if device is not None and getattr(device, "type", "cpu") == "cuda" else "cpu"
        t = torch.tensor([self.signum or 0], dtype=torch.int64, device=dev)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        got = int(t.item())
        if got and self.signum is None:
            self.signum = got  # another process got it: stop with the same signal
        return bool(got)


def exit_interrupted(exc: Interrupted, resume_hint: str, echo: bool = True) -> None:
    """Print what was kept and how to resume (unless ``echo`` is false: the other ranks of a
    torchrun launch, so that the lines appear once), then exit with :data:`EXIT_INTERRUPTED`.

    SIGTERM and SIGINT are ignored from here on: a second Ctrl-C while the process prints and
    exits (its interpreter joining threads and workers) would otherwise kill it with 130."""
    ignore_signals()
    if echo:
        print(f"csip: interrupted by {exc.signal_name}: {exc}", file=sys.stderr)
        print(f"csip: resume with: {resume_hint}", file=sys.stderr)
    sys.exit(EXIT_INTERRUPTED)


def ignore_signals() -> None:
    """Ignore SIGTERM and SIGINT in this process from now on (a command that is exiting after a
    signal); nothing outside the main thread, where Python cannot set handlers."""
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)


@contextlib.contextmanager
def signals_interrupt(then_ignore: bool = False) -> Iterator[list[int]]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` just as SIGINT does, so that code
    which cleans up on Ctrl-C (keeps what is finished, stops its workers) does the same when a
    cluster or ``kill`` stops it. Yields a list that receives the signal's number. Signals after
    the first are recorded but ignored, so that the clean-up itself is not interrupted; with
    ``then_ignore`` (a command that exits once stopped) they stay ignored after the block when a
    signal came, instead of the earlier handlers coming back between the block and the exit."""
    got: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        got.append(signum)
        if len(got) == 1:
            raise KeyboardInterrupt

    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        old = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield got
    finally:
        for s, h in old.items():
            signal.signal(s, signal.SIG_IGN if then_ignore and got else h)


def loader_worker_init(worker_id: int = 0) -> None:
    """``worker_init_fn`` of training's DataLoader workers: they ignore SIGTERM and SIGINT (a
    cluster signals the whole process group; the main process stops after its step and shuts
    its workers down itself, where a worker killed by the signal would make torch raise "DataLoader
    worker exited unexpectedly" in the middle of that step), and die with the main process
    whatever kills it (:func:`csip.base.orphans.die_with_parent`)."""
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    die_with_parent(os.getppid())
