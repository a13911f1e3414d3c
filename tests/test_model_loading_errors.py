"""A ``--clip`` or ``--text-encoder`` directory that transformers cannot load (a pickle-bearing
``pytorch_model.bin``, a truncated ``.safetensors``, garbage bytes): ``csip eval`` exits 2 with
one line naming the directory and its weight file, no traceback, and no pickled code runs."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from csip.cli import main
from eval_helpers import tiny_bert_dir, tiny_clip_dir

pytestmark = pytest.mark.usefixtures("single_thread")


class _Payload:
    """Unpickling this runs ``os.system(touch MARKER)``: the proof that a pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _spoilt(good: Path, tmp_path: Path, how: str) -> tuple[Path, str]:
    """A copy of the model directory ``good`` whose weights are spoilt ``how``; the file name."""
    d = tmp_path / f"model-{how}"
    shutil.copytree(good, d)
    weights = d / "model.safetensors"
    if how == "pickle":
        weights.unlink()
        weights = d / "pytorch_model.bin"
        with open(weights, "wb") as f:
            pickle.dump({"weight": _Payload(tmp_path / "PAYLOAD_RAN")}, f)
    elif how == "truncated":
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
    else:  # a .bin of garbage bytes
        weights.unlink()
        weights = d / "pytorch_model.bin"
        weights.write_bytes(b"\x00not a torch file\x00" * 64)
    return d, weights.name


@pytest.mark.parametrize("how", ["pickle", "truncated", "garbage"])
@pytest.mark.parametrize("option", ["--clip", "--text-encoder"])
def test_an_unloadable_model_directory_is_one_line_exit_2(base, cache, tmp_path, option, how):
    good = tiny_clip_dir(base) if option == "--clip" else tiny_bert_dir(base)
    model, weights = _spoilt(good, tmp_path, how)
    task = ["--task", "cbir", "--pretrained-size", "32"] if option == "--clip" else ["--task", "vqa"]
    r = CliRunner().invoke(main, ["eval", *task, "--cache", str(cache), option, str(model), "--out",
                                  str(tmp_path / "ev"), "--device", "cpu", "--vqa-epochs", "1"])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit), r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {option} {model}: cannot load a transformers "), r.output
    assert weights in errors[0] and errors[0].count(str(model)) == 1, r.output
    if how == "pickle":
        assert "never unpickled" in errors[0]
    assert not (tmp_path / "PAYLOAD_RAN").exists()
