"""One writer per output directory (:mod:`csip.base.lock`): a second writer of a directory is
refused at once (exit 2, one line naming the directory and the holder's pid) by every command
that writes one; a lock whose holder died is taken over; the lock is re-entrant in a process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from cache_helpers import subprocess_env
from csip.base.lock import LOCK_NAME, OutputLocked, holder_pid, output_lock
from csip.cli import main

HOLDER = ("import sys\nfrom csip.base.lock import output_lock\n"
          "with output_lock(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.read()\n")


class Holder:
    """Another process holding the lock of ``directory`` until :meth:`release` (or its death)."""

    def __init__(self, directory: Path):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=subprocess_env())
        assert self.proc.stdout.readline().strip() == "held"
        self.pid = self.proc.pid

    def release(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)


@pytest.fixture
def held(tmp_path):
    holder = Holder(tmp_path / "out")
    yield tmp_path / "out", holder.pid
    if holder.proc.poll() is None:
        holder.release()


def test_a_second_writer_is_refused_naming_the_directory_and_the_holder(held):
    out, pid = held
    with pytest.raises(OutputLocked) as exc:
        with output_lock(out):
            pass
    assert str(out) in str(exc.value) and f"pid {pid}" in str(exc.value)
    assert holder_pid(out) == pid


def test_a_lock_whose_holder_died_is_taken_over_and_removed_when_released(tmp_path):
    out = tmp_path / "out"
    holder = Holder(out)
    holder.kill()  # SIGKILL: the lock file stays, with the dead pid in it, but no flock
    assert (out / LOCK_NAME).read_text().strip() == str(holder.pid)
    with output_lock(out):
        assert holder_pid(out) == os.getpid()
    assert not (out / LOCK_NAME).exists()


def test_the_lock_is_reentrant_in_one_process_and_exclusive_across_processes(tmp_path):
    out, alias = tmp_path / "out", tmp_path / "alias"
    out.mkdir()
    alias.symlink_to(out)
    with output_lock(out):
        with output_lock(alias):  # a nested stage of the same process, by another name: no deadlock
            assert holder_pid(out) == os.getpid()
        assert (out / LOCK_NAME).exists()  # still held by the outer block
        res = subprocess.run([sys.executable, "-c", HOLDER, str(out)], input="", capture_output=True, text=True,
                             env=subprocess_env(), timeout=60)
        assert res.returncode != 0 and f"pid {os.getpid()}" in res.stderr
    assert not (out / LOCK_NAME).exists()


def test_a_fifo_as_lock_file_is_refused_without_blocking(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / LOCK_NAME)
    done: list[BaseException] = []

    def take() -> None:
        try:
            with output_lock(out):
                pass
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            done.append(exc)

    t = threading.Thread(target=take, daemon=True)
    t.start()
    t.join(10)
    assert done and isinstance(done[0], OutputLocked) and "not a regular file" in str(done[0])


def _shards(tmp_path: Path) -> list[str]:
    shards = tmp_path / "shards"
    for i in (0, 1):
        res = CliRunner().invoke(main, ["precompute", "synthetic", "--n", "8", "--chunk", "4", "--image-size", "16",
                                        "--n-angles", "8", "--forces", "-1:1:1", "--workers", "0", "--no-progress",
                                        "--shard", f"{i}/2", "--out", str(shards)])
        assert res.exit_code == 0, res.output
    return [str(shards)]


@pytest.mark.parametrize("command", ["precompute", "merge", "pretrain", "eval", "run"])
def test_every_command_that_writes_a_directory_refuses_a_second_writer(held, cache, tmp_path, command):
    out, pid = held
    args = {
        "precompute": lambda: ["precompute", "synthetic", "--n", "8", "--image-size", "16", "--workers", "0",
                               "--no-progress", "--out", str(out)],
        "merge": lambda: ["precompute", "merge", *_shards(tmp_path), "--out", str(out)],
        "pretrain": lambda: ["pretrain", "--cache", str(cache), "--out", str(out), "--epochs", "1", "--device", "cpu",
                             "--no-progress"],
        "eval": lambda: ["eval", "--cache", str(cache), "--out", str(out), "--task", "cbir", "--no-figures",
                         "--device", "cpu"],
        "run": lambda: ["run", "--out", str(out), "--task", "cbir", "--device", "cpu", "--no-progress"],
    }[command]()
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and str(out) in lines[0] and f"pid {pid}" in lines[0], res.output
    assert "Traceback" not in res.output and sorted(p.name for p in out.iterdir()) == [LOCK_NAME]


def test_the_shards_of_one_precompute_may_share_a_directory(held):
    """Each shard locks its own part: shard 1/2 runs beside a live shard 0/2 (here: the
    holder of the directory's whole-cache lock, which a shard does not take)."""
    out, _ = held
    res = CliRunner().invoke(main, ["precompute", "synthetic", "--n", "8", "--chunk", "4", "--image-size", "16",
                                    "--n-angles", "8", "--forces", "-1:1:1", "--workers", "0", "--no-progress",
                                    "--shard", "1/2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "shard-1-of-2.json").is_file()
