"""Faults injected into eval, pretrain and precompute: a full disk (an ``OSError(ENOSPC)`` raised
by a writer) and SIGTERM at a random moment. Nothing earlier is lost: the previous evaluation
stays whole, the last checkpoint stays loadable, the cache resumes to the uninterrupted result;
the command fails with an exit code, never hangs or leaves its temporary files behind."""

from __future__ import annotations

import errno
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cache_helpers import subprocess_env
from csip.cli import main
from csip.eval.outputs import BACKUP, STAGE

pytestmark = pytest.mark.usefixtures("single_thread")

def one_disk_full_line(res, path) -> None:
    """A full disk is exit 2 with one ``error: no space left writing ...`` line naming ``path``
    (or a file below it), no traceback."""
    assert res.exit_code == 2, res.output
    line = res.output.strip().splitlines()[-1]
    assert line.startswith("error: no space left writing ") and str(path) in line, res.output
    assert "Traceback" not in res.output


def full_disk(target: str, monkeypatch, after: int = 0) -> None:
    """Make ``target`` (``module.attribute``, a function that writes) raise ENOSPC from its
    ``after + 1``-th call on."""
    module, _, name = target.rpartition(".")
    real = getattr(sys.modules[module], name)
    calls = [0]

    def failing(*args, **kwargs):
        calls[0] += 1
        if calls[0] > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(sys.modules[module], name, failing)


def snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def eval_args(cache: Path, out: Path, *more: str) -> list[str]:
    return ["eval", "--cache", str(cache), "--out", str(out), "--task", "cbir", "--random-init-model", "2d",
            "--device", "cpu", "--quiet", "-k", "5", *more]


@pytest.fixture
def evaluated(cache, tmp_path) -> tuple[Path, dict[str, bytes]]:
    """An --out holding a finished evaluation (with figures), and its files."""
    import csip.eval.api  # noqa: F401 - loaded, so that full_disk can patch it

    out = tmp_path / "eval"
    res = CliRunner().invoke(main, eval_args(cache, out, "--grid-k", "2"))
    assert res.exit_code == 0, res.output
    return out, snapshot(out)


@pytest.mark.parametrize("where", ["csip.eval.api.write_json", "csip.eval.api.run_tasks",
                                   "csip.eval.api.write_figures"])
def test_a_full_disk_during_eval_leaves_the_previous_evaluation_whole(evaluated, cache, monkeypatch, where):
    out, before = evaluated
    assert {"results.json", "report.md", "cbir.md", "fig_sfb.png", "fig_retrieval.png"} <= set(before)
    full_disk(where, monkeypatch)
    res = CliRunner().invoke(main, eval_args(cache, out, "--seed", "1"))
    one_disk_full_line(res, out)
    assert snapshot(out) == before and sorted(p.name for p in out.iterdir()) == sorted(before)
    monkeypatch.undo()
    res = CliRunner().invoke(main, eval_args(cache, out, "--seed", "1", "--no-figures"))
    assert res.exit_code == 0, res.output
    r = json.loads((out / "results.json").read_text())
    assert r["seed"] == 1 and not (out / "fig_retrieval.png").exists()  # replaced: no figure of the other run


def test_eval_figures_are_named_where_they_end_up(evaluated):
    out, _ = evaluated
    figs = json.loads((out / "results.json").read_text())["figures"]
    assert figs["sfb"] == str(out / "fig_sfb.png") and figs["retrieval"] == str(out / "fig_retrieval.png")
    assert all(STAGE not in str(v) for v in figs.values())


def _signal_at_random(args: list[str], seed: int, lo: float, hi: float, **popen) -> int:
    """Run ``python -m csip.cli *args``, SIGTERM it after a random delay in [lo, hi) s (seeded:
    the failing delay is in the assertion message); its exit code."""
    delay = random.Random(seed).uniform(lo, hi)
    proc = subprocess.Popen([sys.executable, "-m", "csip.cli", *args], env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **popen)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, (delay, err)
    return proc.returncode


def test_sigterm_at_a_random_moment_of_eval_leaves_one_whole_evaluation(evaluated, cache):
    out, before = evaluated
    rc = _signal_at_random(eval_args(cache, out, "--seed", "2", "--no-figures"), seed=time.time_ns(), lo=0.0, hi=6.0)
    assert rc in (0, 75, -signal.SIGTERM, 128 + signal.SIGTERM), rc  # killed before its handler is set
    after = snapshot(out)
    if after != before:  # the new evaluation finished: it replaced the whole of the previous one
        assert json.loads(after["results.json"])["seed"] == 2 and "fig_sfb.png" not in after
    assert not (out / BACKUP).exists()
    res = CliRunner().invoke(main, eval_args(cache, out, "--no-figures"))
    assert res.exit_code == 0 and not (out / STAGE).exists()


def test_sigterm_during_eval_exits_75_and_keeps_the_previous_evaluation(evaluated, cache):
    """Once the evaluation is under way (its staging directory exists), SIGTERM stops it with 75
    and one line; the previous evaluation is untouched and nothing staged is left."""
    out, before = evaluated
    proc = subprocess.Popen([sys.executable, "-m", "csip.cli", *eval_args(cache, out, "--seed", "3")],
                            env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while not (out / STAGE).exists() and proc.poll() is None and time.monotonic() - t0 < 60:
        time.sleep(0.005)
    assert proc.poll() is None, "the evaluation ended before it staged anything"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:  # it finished its swap between the check and the signal (rare)
        pytest.skip("the evaluation finished before the signal arrived")
    assert proc.returncode == 75, err
    assert "csip eval: interrupted by SIGTERM; the previous evaluation in" in err and "Traceback" not in err, err
    assert snapshot(out) == before and not (out / STAGE).exists() and not (out / BACKUP).exists()


def test_a_full_disk_at_a_checkpoint_write_keeps_the_last_checkpoint(cache, tmp_path, monkeypatch):
    import csip.train.checkpointer
    from csip.models.checkpoint import load_checkpoint

    out = tmp_path / "run"
    args = ["pretrain", "--cache", str(cache), "--out", str(out), "--epochs", "1", "--batch-size", "64",
            "--save-every", "1", "--device", "cpu", "--workers", "0", "--no-progress", "--model", "2d",
            "--feature-dim", "16", "--embed-dim", "8"]
    full_disk("csip.train.checkpointer.save_checkpoint", monkeypatch, after=1)
    assert csip.train.checkpointer.save_checkpoint.__name__ == "failing"
    res = CliRunner().invoke(main, args)
    one_disk_full_line(res, out)
    last = out / "checkpoints" / "last.pt"
    assert load_checkpoint(last)["step"] == 1  # the save of step 2 failed: step 1's is whole
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.pt"]
    monkeypatch.undo()
    res = CliRunner().invoke(main, [*args, "--resume"])
    assert res.exit_code == 0, res.output
    assert (out / "checkpoints" / "final.pt").is_file()


PRECOMPUTE = ["precompute", "synthetic", "--n", "48", "--chunk", "8", "--image-size", "16", "--n-angles", "12",
              "--forces", "-1:1:0.5", "--workers", "0", "--no-progress"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("precompute") / "cache"
    res = CliRunner().invoke(main, [*PRECOMPUTE, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return json.loads((out / "manifest.json").read_text())["content_hash"]


def test_a_full_disk_during_precompute_loses_no_finished_chunk(uninterrupted, tmp_path, monkeypatch):
    import csip.cache.writer

    out = tmp_path / "cache"
    full_disk("csip.cache.writer.write_chunk", monkeypatch, after=2)
    assert csip.cache.writer.write_chunk.__name__ == "failing"
    res = CliRunner().invoke(main, [*PRECOMPUTE, "--out", str(out)])
    one_disk_full_line(res, out)
    assert len(list((out / "chunks").glob("chunk-*"))) == 2 and not (out / "manifest.json").exists()
    monkeypatch.undo()
    res = CliRunner().invoke(main, [*PRECOMPUTE, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "manifest.json").read_text())["content_hash"] == uninterrupted


def test_sigterm_at_a_random_moment_of_precompute_resumes_to_the_same_cache(uninterrupted, tmp_path):
    out = tmp_path / "cache"
    rc = _signal_at_random([*PRECOMPUTE, "--out", str(out)], seed=time.time_ns(), lo=0.0, hi=5.0)
    assert rc in (0, 75, -signal.SIGTERM), rc  # -SIGTERM: before csip installed its handler (imports)
    res = CliRunner().invoke(main, [*PRECOMPUTE, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "manifest.json").read_text())["content_hash"] == uninterrupted
    assert not list(out.glob(".consolidate-tmp-*")) and not (out / ".csip-lock").exists()
