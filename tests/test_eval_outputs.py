"""An evaluation's outputs are swapped in whole (:mod:`csip.eval.outputs`), and features that
are not finite give no number (:func:`csip.eval.api.check_finite`)."""

from __future__ import annotations

import json
import os

import pytest
import torch
from click.testing import CliRunner

import csip.eval.outputs as outputs
from csip.base.errors import EvalError
from csip.cli import main
from csip.eval import checkpoint_ndcg
from csip.eval.outputs import BACKUP, STAGE, recover, swap_in
from eval_helpers import trained_run

NAMES = ("results.json", "report.md", "cbir.md", "srr.md", "fig_sfb.png")
OLD = {"results.json": b"old results", "report.md": b"old report", "cbir.md": b"old cbir", "srr.md": b"old srr"}
NEW = {"results.json": b"new results", "report.md": b"new report", "cbir.md": b"new cbir", "fig_sfb.png": b"png"}


def _files(d):
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}


def _setup(tmp_path):
    out = tmp_path / "out"
    (out / STAGE).mkdir(parents=True)
    (out / "mine.txt").write_bytes(b"not the evaluation's")
    for name, data in OLD.items():
        (out / name).write_bytes(data)
    for name, data in NEW.items():
        (out / STAGE / name).write_bytes(data)
    return out


def test_the_swap_replaces_every_file_of_the_previous_evaluation(tmp_path):
    out = _setup(tmp_path)
    swap_in(out / STAGE, out, NAMES)
    assert _files(out) == {**NEW, "mine.txt": b"not the evaluation's"}  # srr.md of the old one gone
    assert sorted(p.name for p in out.iterdir()) == sorted([*NEW, "mine.txt"])


@pytest.mark.parametrize("stop_after", range(9))  # 4 moves out, 4 in; 8: stopped while removing the backup
def test_a_swap_killed_at_any_rename_is_undone_or_completed_by_the_next_run(tmp_path, monkeypatch, stop_after):
    out = _setup(tmp_path)
    real, calls = os.replace, [0]

    def dying_replace(a, b):
        if calls[0] == stop_after:
            raise KeyboardInterrupt  # the process dies here: nothing after this rename happens
        calls[0] += 1
        real(a, b)

    monkeypatch.setattr(outputs.os, "replace", dying_replace)
    if stop_after == 8:
        monkeypatch.setattr(outputs.shutil, "rmtree", lambda p, **kw: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        swap_in(out / STAGE, out, NAMES)
    monkeypatch.undo()
    recover(out, NAMES)
    whole = NEW if stop_after == 8 else OLD  # results.json arrives last: until then the old one is restored
    assert _files(out) == {**whole, "mine.txt": b"not the evaluation's"}
    assert not (out / BACKUP).exists() and not (out / STAGE).exists()


def _nan_checkpoint(base, cache, path):
    """A well-formed checkpoint of a trained run whose every float weight is NaN."""
    state = torch.load(trained_run(base, cache, "2d") / "checkpoints" / "final.pt", weights_only=True)
    state["model"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                      for k, v in state["model"].items()}
    torch.save(state, path)
    return path


def test_a_checkpoint_whose_weights_are_nan_gives_no_number(base, cache, tmp_path, single_thread):
    nan = _nan_checkpoint(base, cache, tmp_path / "nan.pt")
    out = tmp_path / "eval"
    out.mkdir()
    (out / "results.json").write_text('{"previous": true}')
    res = CliRunner().invoke(main, ["eval", "--cache", str(cache), "--out", str(out), "--task", "cbir",
                                    "--checkpoint", f"broken={nan}", "--no-random-init", "--no-figures",
                                    "--device", "cpu"])
    assert res.exit_code == 2, res.output
    line = res.output.strip().splitlines()[-1]
    assert line.startswith("error: ") and "'broken'" in line and str(nan) in line and "not finite" in line, line
    assert json.loads((out / "results.json").read_text()) == {"previous": True}


def test_csip_runs_other_feature_kind_refuses_nan_weights_too(base, cache, tmp_path, single_thread):
    nan = _nan_checkpoint(base, cache, tmp_path / "nan.pt")
    with pytest.raises(EvalError, match="not finite"):
        checkpoint_ndcg(cache, nan, "test", "embed", "cpu")
