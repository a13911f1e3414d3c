"""Signals during shutdown and during ``csip precompute merge``: a second Ctrl-C while a stopped
precompute is saving and exiting does not turn its exit code 75 into 130, and a SIGTERM during a
merge exits 75 with the resume line, its ``.consolidate-tmp-*`` removed (by the handler, and by
the rerun when a SIGKILL left one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cache_helpers import HOLD_ENV, subprocess_env
from csip.base.preemption import EXIT_INTERRUPTED

CHUNK = 6
SRC = "python:cache_helpers:make_source"


def _precompute(out: Path, *extra: str, n: int = 60) -> list[str]:
    return [sys.executable, "-m", "csip.cli", "precompute", SRC, "--out", str(out), "--n", str(n), "--chunk",
            str(CHUNK), "--workers", "2", "-O", "size=32", "--image-size", "32", "--n-angles", "12", "--forces",
            "-1:1:0.5", "--no-progress", *extra]


def _wait_for(cond, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None and not cond():
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be signalled: " + proc.stderr.read()
    assert cond(), "the run did not get where it should be signalled"


def _end(proc: subprocess.Popen) -> tuple[int, str]:
    try:
        rc = proc.wait(timeout=60)
        return rc, proc.stderr.read()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("gap_ms", [20, 30, 40])
def test_a_second_ctrl_c_during_the_shutdown_keeps_exit_code_75(tmp_path, gap_ms):
    """Two SIGINTs to the whole process group (as a terminal's Ctrl-C sends them) ``gap_ms``
    apart: the first stops the build, the second lands while it is keeping its chunks and
    exiting; the exit code stays 75, the resume line printed, no traceback."""
    out, hold = tmp_path / "cut", tmp_path / "hold"
    hold.touch()
    proc = subprocess.Popen(_precompute(out), env={**subprocess_env(), HOLD_ENV: f"{hold}:{2 * CHUNK}"},
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: len(list((out / "chunks").glob("chunk-*"))) >= 2, proc)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(gap_ms / 1000)
        os.killpg(proc.pid, signal.SIGINT)
    finally:
        hold.unlink()
        rc, err = _end(proc)
    assert rc == EXIT_INTERRUPTED, (rc, err)
    assert "resume with: csip precompute" in err and "Traceback" not in err, err


# --------------------------------------------------------------------------- merge


@pytest.fixture(scope="module")
def shard_dirs(tmp_path_factory) -> list[Path]:
    """Two shard directories of one 24-item run (`--shard 0/2`, `--shard 1/2`)."""
    base = tmp_path_factory.mktemp("shards")
    dirs = [base / f"s{i}" for i in range(2)]
    for i, d in enumerate(dirs):
        r = subprocess.run(_precompute(d, "--shard", f"{i}/2", n=24), env=subprocess_env(), capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    return dirs


@pytest.fixture
def own_signal_handlers():
    """The test process's SIGINT/SIGTERM handlers, put back after a command run in it has
    stopped on a signal (and so left them ignored, as it would before exiting)."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def unhandled(signum, frame):
        raise AssertionError(f"{signal.Signals(signum).name} reached the test: the command did not handle it")

    signal.signal(signal.SIGTERM, unhandled)  # not the default, which would end the test session
    yield
    for s, h in before.items():
        signal.signal(s, h)


def test_sigterm_during_merge_exits_75_and_leaves_no_temporary_files(shard_dirs, tmp_path, monkeypatch,
                                                                     own_signal_handlers):
    """SIGTERM arrives while the merge appends its second chunk: exit code 75, the resume
    line, no ``.consolidate-tmp-*`` and no manifest in --out; the rerun then merges."""
    from click.testing import CliRunner

    from csip.cache.assemble import Consolidator
    from csip.cli import main

    add = Consolidator.add

    def add_then_signal(self, c, *args, **kwargs):
        if c == 1:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler runs here
        return add(self, c, *args, **kwargs)

    monkeypatch.setattr(Consolidator, "add", add_then_signal)
    out = tmp_path / "merged"
    args = ["precompute", "merge", *map(str, shard_dirs), "--out", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == EXIT_INTERRUPTED, r.output
    assert "interrupted by SIGTERM" in r.output and "resume with:" in r.output, r.output
    assert list(out.glob(".consolidate-tmp-*")) == [] and not (out / "manifest.json").exists()
    monkeypatch.setattr(Consolidator, "add", add)
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert (out / "manifest.json").is_file()


def test_a_merge_rerun_removes_what_a_killed_merge_left(shard_dirs, tmp_path):
    """A SIGKILLed merge leaves its ``.consolidate-tmp-<host>-<pid>``; the rerun removes it."""
    from csip.cache.chunks import consolidate_tmp_name

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "merged"
    left = out / consolidate_tmp_name().replace(f"-{os.getpid()}", f"-{dead.pid}")
    left.mkdir(parents=True)
    (left / "sfb.npy").write_bytes(b"\0" * 4096)
    r = subprocess.run([sys.executable, "-m", "csip.cli", "precompute", "merge", *map(str, shard_dirs), "--out",
                        str(out)], env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert not left.exists() and (out / "manifest.json").is_file()
