"""Kills and signals: precompute and pretrain leave no process behind, stop cleanly on SIGTERM /
SIGINT (exit code 75, the resume command printed), and a resumed run equals an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cache_helpers import HOLD_ENV, subprocess_env

pytest.importorskip("csip_core._csip_core", reason="the Rust extension is not built")

from csip.base.preemption import EXIT_INTERRUPTED  # noqa: E402
from csip.cache import Cache  # noqa: E402
from csip.cache.format import ARRAY_FILES  # noqa: E402
from csip.cli import main  # noqa: E402
from csip.models.checkpoint import load_checkpoint  # noqa: E402
from csip.train.metrics import read_metrics  # noqa: E402

SRC = "python:cache_helpers:make_source"


# --------------------------------------------------------------------------- processes


def session_members(sid: int) -> list[int]:
    """PIDs of the live processes of session ``sid`` (a child started with start_new_session
    leads its own session; its workers stay in it even once re-parented to PID 1)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            out.append(int(d.name))
    return out


def wait_gone(sid: int, seconds: float) -> list[int]:
    """Wait until no process of session ``sid`` is left (or the time is up); the survivors."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        left = session_members(sid)
        if not left:
            return []
        time.sleep(0.05)
    return session_members(sid)


def kill_session(sid: int) -> None:
    for pid in session_members(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------- precompute


CHUNK = 6


def _precompute_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "csip.cli", "precompute", SRC, "--out", str(out), "--n", "120", "--chunk", str(CHUNK),
            "--workers", "2", "-O", "delay=0.02", "-O", "size=32", "--image-size", "32", "--n-angles", "24",
            "--no-progress"]


@pytest.fixture(scope="module")
def clean_cache(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "cache"
    r = subprocess.run(_precompute_cmd(out), env=subprocess_env(), capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.parametrize("sig, group", [(signal.SIGKILL, False), (signal.SIGTERM, False), (signal.SIGINT, False),
                                        (signal.SIGTERM, True)])
def test_precompute_killed_leaves_no_worker_and_resumes_exactly(tmp_path, clean_cache, sig, group):
    """The main process alone gets the signal (as from `kill PID`), or its whole process group
    (as from a cluster's scheduler): its loader workers must not survive it, whatever the signal;
    SIGTERM and SIGINT stop it cleanly with the resume command. Items from the 5th chunk on
    are held until the signal is sent, so that the run is mid-way when it lands (under load it
    could otherwise finish first, and meet the signal at interpreter exit)."""
    env = subprocess_env()
    out = tmp_path / "cut"
    hold = tmp_path / "hold"
    hold.touch()
    proc = subprocess.Popen(_precompute_cmd(out), env={**env, HOLD_ENV: f"{hold}:{4 * CHUNK}"},
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if len(list((out / "chunks").glob("chunk-*"))) >= 2 and len(session_members(proc.pid)) >= 3:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read()
        assert len(session_members(proc.pid)) >= 3  # the command and its 2 loader workers
        (os.killpg if group else os.kill)(proc.pid, sig)
        rc = proc.wait(timeout=30)
        err = proc.stderr.read()
        left = wait_gone(proc.pid, 5.0)
        assert left == [], f"processes left behind after {sig.name}: {left}"
    finally:
        hold.unlink()
        kill_session(proc.pid)
    if sig == signal.SIGKILL:
        assert rc == -signal.SIGKILL
    else:
        assert rc == EXIT_INTERRUPTED, err
        assert f"interrupted by {sig.name}" in err and "resume with: csip precompute" in err, err
        assert "Traceback" not in err, err
    assert not (out / "manifest.json").exists()
    r = subprocess.run(_precompute_cmd(out), env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr
    a, b = Cache(out), Cache(clean_cache)
    for name in ARRAY_FILES:
        np.testing.assert_array_equal(np.load(a.path / name), np.load(b.path / name), err_msg=name)
    assert a.content_hash == b.content_hash


# --------------------------------------------------------------------------- pretrain

#: The pretrain command, torch on one thread (the same reduction order as the runs of this
#: process), held before the forward pass of step K while the file PATH exists
#: (``CSIP_TEST_HOLD=PATH:K``; it touches ``PATH.reached`` when it gets there), so that a test
#: can signal it at a known step however loaded the machine is.
_HELD_PRETRAIN = textwrap.dedent(
    """
    import os, sys, time, torch
    torch.set_num_threads(1)
    import csip.train.loop as loop
    hold, _, at = os.environ["CSIP_TEST_HOLD"].rpartition(":")
    forward_loss, calls = loop.forward_loss, [0]
    def held_forward_loss(*args, **kwargs):
        calls[0] += 1
        if calls[0] == int(at):
            open(hold + ".reached", "w").close()
            while os.path.exists(hold):
                time.sleep(0.01)
        return forward_loss(*args, **kwargs)
    loop.forward_loss = held_forward_loss
    from csip.cli import main
    main(sys.argv[1:], prog_name="csip")
    """
)


def _pretrain_args(cache: Path, out: Path, *extra: str) -> list[str]:
    """The test's pretrain command; an option in ``extra`` replaces its default here (an option
    given twice is refused)."""
    defaults = {"--cache": str(cache), "--model": "2d", "--out": str(out), "--epochs": "2", "--batch-size": "8",
                "--log-every": "1", "--save-every": "0", "--feature-dim": "16", "--embed-dim": "8", "--device": "cpu",
                "--seed": "3"}
    given = {a for a in extra if a.startswith("--")}
    kept = [x for k, v in defaults.items() if k not in given for x in (k, v)]
    return ["pretrain", *kept, "--no-progress", *extra]


def _in_process(args: list[str]):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return CliRunner().invoke(main, args)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, clean_cache) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    res = _in_process(_pretrain_args(clean_cache, out))
    assert res.exit_code == 0, res.output
    return out


def _same_run(a: Path, b: Path) -> None:
    la = {r["step"]: r["loss"] for r in read_metrics(a)}
    lb = {r["step"]: r["loss"] for r in read_metrics(b)}
    assert sorted(la) == sorted(lb) and la == lb  # bit for bit
    ra, rb = load_checkpoint(a / "checkpoints" / "final.pt"), load_checkpoint(b / "checkpoints" / "final.pt")
    assert ra["step"] == rb["step"]
    for k in ra["model"]:
        assert torch.equal(ra["model"][k], rb["model"][k]), k


def _start_held(script: str, args: list[str], hold: Path, at: int) -> subprocess.Popen:
    """Start ``python -c script *args`` in a new session, held at unit ``at`` (a step, an item)
    while the file ``hold`` exists; return once it is held there (it wrote ``hold.reached``)."""
    reached = hold.with_name(hold.name + ".reached")
    hold.touch()
    proc = subprocess.Popen([sys.executable, "-c", script, *args], env={**subprocess_env(), HOLD_ENV: f"{hold}:{at}"},
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not reached.exists():
        time.sleep(0.01)
    if proc.poll() is not None or not reached.exists():
        hold.unlink(missing_ok=True)
        kill_session(proc.pid)
        pytest.fail(f"the run did not reach unit {at} (in 120 s, or it ended): " + proc.stderr.read())
    return proc


@pytest.mark.parametrize("sig, workers, group", [(signal.SIGTERM, "0", False), (signal.SIGINT, "2", False),
                                                 (signal.SIGTERM, "2", True), (signal.SIGKILL, "2", False)])
def test_pretrain_signal_saves_and_resumes_exactly(tmp_path, clean_cache, reference_run, sig, workers, group):
    """SIGTERM / SIGINT: the current step ends, last.pt is written for it, the resume command is
    printed, exit code 75, also when the whole process group gets the signal (DataLoader workers
    included, as under a scheduler). SIGKILL: the last checkpoint (an epoch end here) stays. Either
    way no DataLoader worker survives, and --resume ends exactly as the uninterrupted run."""
    out = tmp_path / "cut"
    args = _pretrain_args(clean_cache, out, "--workers", workers)
    first_epoch = json.loads((reference_run / "params.json").read_text())["steps_per_epoch"]
    held = first_epoch + 2 if sig == signal.SIGKILL else 3  # SIGKILL after the epoch-end checkpoint
    hold = tmp_path / "hold"
    proc = _start_held(_HELD_PRETRAIN, args, hold, held)
    try:
        (os.killpg if group else os.kill)(proc.pid, sig)
        hold.unlink()  # step `held` goes on only now: the signal lands during it
        rc = proc.wait(timeout=60)
        err = proc.stderr.read()
        assert wait_gone(proc.pid, 5.0) == []
    finally:
        hold.unlink(missing_ok=True)
        kill_session(proc.pid)
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert not (out / "checkpoints" / "final.pt").exists()
    if sig == signal.SIGKILL:
        assert rc == -signal.SIGKILL and state["step"] == first_epoch
    else:
        assert rc == EXIT_INTERRUPTED, err
        logged = read_metrics(out)[-1]["step"]
        assert state["step"] == logged == held and state["step_in_epoch"] == held < first_epoch  # saved at the stop
        assert f"interrupted by {sig.name}" in err and f"resume with: csip pretrain --out {out} --resume" in err, err
        assert "Traceback" not in err and "Aborted" not in err, err
    res = _in_process(["pretrain", "--out", str(out), "--resume", "--no-progress", "--log-every", "1",
                       "--workers", workers])
    assert res.exit_code == 0, res.output
    _same_run(reference_run, out)


def test_resume_refuses_contradicting_options(tmp_path, clean_cache):
    out = tmp_path / "run"
    res = _in_process(_pretrain_args(clean_cache, out, "--max-steps", "2"))
    assert res.exit_code == 0, res.output
    res = _in_process(["pretrain", "--out", str(out), "--resume", "--model", "resnet18", "--epochs", "5",
                       "--lr", "0.1", "--no-progress"])
    assert res.exit_code == 2, res.output
    for line in ("--model: 'resnet18' here, '2d' in the run", "--epochs: 5 here, 2 in the run",
                 "--lr: 0.1 here, 0.0005 in the run"):
        assert line in res.output, res.output
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 2  # untouched
    # the run's own values (and options that do not define the run) are fine
    res = _in_process(["pretrain", "--out", str(out), "--resume", "--model", "2d", "--epochs", "2",
                       "--cache", str(clean_cache), "--no-progress", "--log-every", "5", "--workers", "0"])
    assert res.exit_code == 0, res.output
    assert "nothing left to do" in res.output


_HELD_SYNTHETIC = textwrap.dedent(
    """
    import faulthandler, os, signal, sys, time
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a hang in the test: its stacks
    import csip.data.synthetic.scene as scene
    hold, _, at = os.environ["CSIP_TEST_HOLD"].rpartition(":")
    load = scene.SyntheticSource.load
    def held_load(self, i):
        if i == int(at):
            open(hold + ".reached", "w").close()
            while os.path.exists(hold):
                time.sleep(0.01)
        return load(self, i)
    scene.SyntheticSource.load = held_load  # loader processes are forked: they hold too
    from csip.cli import main
    main(sys.argv[1:], prog_name="csip")
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_pretrain_stopped_in_its_builtin_precompute_exits_75_and_the_rerun_finishes(tmp_path, sig):
    """The signal lands before training (the synthetic cache is being built): exit 75 with the
    command to rerun, no traceback, no process or temporary folder left; the rerun finishes."""
    out = tmp_path / "run"
    args = ["pretrain", "--out", str(out), "--synthetic-n", "60", "--image-size", "32", "--model", "2d",
            "--epochs", "1", "--batch-size", "16", "--no-progress", "--device", "cpu"]
    hold = tmp_path / "hold"
    proc = _start_held(_HELD_SYNTHETIC, args, hold, 40)
    try:
        os.kill(proc.pid, sig)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            for pid in session_members(proc.pid):
                os.kill(pid, signal.SIGUSR1)
            time.sleep(2)
            kill_session(proc.pid)
            pytest.fail("no exit 60 s after the signal; stacks:\n" + proc.stderr.read()[-6000:])
        err = proc.stderr.read()
        hold.unlink()
        assert wait_gone(proc.pid, 5.0) == []
    finally:
        hold.unlink(missing_ok=True)
        kill_session(proc.pid)
    assert rc == EXIT_INTERRUPTED, err
    assert "interrupted outside the training steps" in err and "Rerun: csip pretrain --out" in err, err
    assert "Traceback" not in err and "Aborted" not in err, err
    assert not [p for p in (out / "cache").iterdir() if "tmp" in p.name], list((out / "cache").iterdir())
    res = _in_process(args)  # the same command
    assert res.exit_code == 0, res.output
    assert (out / "checkpoints" / "final.pt").is_file()


def test_a_bare_resume_keeps_the_options_that_do_not_define_the_run(tmp_path, clean_cache):
    out = tmp_path / "run"
    res = _in_process(_pretrain_args(clean_cache, out, "--max-steps", "3", "--log-every", "1", "--save-every", "1"))
    assert res.exit_code == 0, res.output
    ckpts = out / "checkpoints"
    (ckpts / "final.pt").unlink()
    (ckpts / ".last.pt.abc123.tmp").write_bytes(b"x" * 100)  # a write cut short by SIGKILL
    with (out / "metrics.jsonl").open("a") as f:  # step 4 was logged, then the process was killed
        f.write(json.dumps({"kind": "train", "step": 4, "epoch": 0, "loss": 1.0}) + "\n" + '{"kind": "tr')
    state = load_checkpoint(ckpts / "last.pt")
    state["step"] = 2  # as if killed between logging step 3 and saving its checkpoint
    torch.save(state, ckpts / "last.pt")
    res = _in_process(["pretrain", "--out", str(out), "--resume"])  # as the interrupted run prints it
    assert res.exit_code == 0, res.output
    steps = [
        r["step"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "train"
    ]
    assert steps == [1, 2, 3]  # step 3 logged once (by the resumed run), 4 and the torn line gone
    assert not list(ckpts.glob(".*.tmp"))
    stored = load_checkpoint(ckpts / "final.pt")["train_config"]
    assert (stored["log_every"], stored["save_every"], stored["progress"]) == (1, 1, False)  # kept, not the defaults
