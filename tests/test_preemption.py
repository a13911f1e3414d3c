"""The pieces of clean stopping: StopFlag (signals -> a polled flag, agreed over torchrun ranks),
signals_interrupt (SIGTERM as Ctrl-C) and die_with_parent (no orphaned workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from csip.base.preemption import Interrupted, StopFlag, signals_interrupt

PYTHON_DIR = str(Path(__file__).resolve().parents[1] / "python")


def test_stop_flag_turns_the_first_signal_into_a_request_and_restores_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with StopFlag() as flag:
        assert not flag.poll()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert flag.requested and flag.poll() and flag.signum == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):  # a second signal: stop at once
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
    assert signal.getsignal(signal.SIGTERM) is before


def test_signals_interrupt_makes_sigterm_a_keyboard_interrupt_once():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with signals_interrupt() as got:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
    assert got == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is before


# --------------------------------------------------------------------------- orphans

_MIDDLE = textwrap.dedent(
    """
    import os, sys, time
    from csip.base import orphans
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        if sys.argv[1] == "watchdog-only":
            orphans.set_parent_death_signal = lambda sig=None: False
        orphans.die_with_parent(parent, interval=0.2)
        time.sleep(60)
        os._exit(0)
    print(pid, flush=True)
    time.sleep(60)
    """
)


@pytest.mark.parametrize("mode", ["prctl", "watchdog-only"])
def test_a_worker_dies_with_its_parent(mode):
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR + os.pathsep + os.environ.get("PYTHONPATH", "")}
    middle = subprocess.Popen([sys.executable, "-c", _MIDDLE, mode], env=env, stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    child = None
    try:
        child = int(middle.stdout.readline())
        time.sleep(0.3)
        os.kill(child, 0)  # alive while its parent is
        middle.kill()
        middle.wait()
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            if Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break  # dead, waiting for init to reap it
            time.sleep(0.05)
        else:
            pytest.fail(f"{mode}: the worker {child} outlived its parent by 5 s")
    finally:
        if middle.poll() is None:
            middle.kill()
        if child is not None:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --------------------------------------------------------------------------- torchrun ranks


class _StopAtPoll(StopFlag):
    """Requests a stop (as a SIGTERM would) at its ``at``-th poll, on one rank only."""

    def __init__(self, at: int | None):
        super().__init__()
        self.at, self.polls = at, 0

    def poll(self, device=None) -> bool:
        self.polls += 1
        if self.at is not None and self.polls == self.at:
            self.request(signal.SIGTERM)
        return super().poll(device)


def _rank(rank: int, port: int, tmp: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from csip.base import distributed as du
    from csip.train.config import TrainConfig
    from csip.train.run import train
    from toydata import ToyPairs

    cfg = TrainConfig(out=str(Path(tmp) / "ddp"), model="2d", epochs=2, batch_size=8, workers=0, log_every=1,
                      progress=False, feature_dim=16, embed_dim=8, spatial_channels=4, device="cpu")
    try:
        train(cfg, ToyPairs(32, 16, 5, 16), stop_flag=_StopAtPoll(3 if rank == 1 else None))
        result = "finished"
    except Interrupted as exc:
        result = f"interrupted at {exc.step} by {exc.signal_name}"
    (Path(tmp) / f"rank{rank}.txt").write_text(result)
    du.cleanup()


def test_every_rank_stops_after_the_same_step(tmp_path):
    """Only rank 1 is told to stop (at its 3rd step): both stop after step 3, and rank 0 saved it."""
    import socket

    from csip.models.checkpoint import load_checkpoint

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank, args=(port, str(tmp_path)), nprocs=2, join=True)
    assert (tmp_path / "rank0.txt").read_text() == "interrupted at 3 by SIGTERM"
    assert (tmp_path / "rank1.txt").read_text() == "interrupted at 3 by SIGTERM"
    state = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")
    assert state["step"] == 3 and state["world_size"] == 2
    assert not (tmp_path / "ddp" / "checkpoints" / "final.pt").exists()
