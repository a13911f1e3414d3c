"""A full disk or quota (ENOSPC, EDQUOT) anywhere: exit code 2 and one line naming the path and
"no space left", never a traceback, and the temporary files of the write removed even when the
removal itself follows the failure (a buffered file whose close fails again on the full disk)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from csip.base.errors import DiskFull
from csip.base.files import atomic_write, write_json
from csip.cli import main

FULL = [errno.ENOSPC, errno.EDQUOT]
PRECOMPUTE = ["precompute", "python:cache_helpers:make_source", "--n", "8", "--chunk", "4", "--workers", "0",
              "-O", "size=32", "--image-size", "32", "--n-angles", "12", "--forces", "-1:1:0.5", "--no-progress"]


def _no_space(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def _one_line_no_space(output: str, path: Path) -> None:
    lines = [ln for ln in output.strip().splitlines() if ln.startswith("error:")]
    assert "Traceback" not in output, output
    assert len(lines) == 1 and "no space left" in lines[0] and str(path) in lines[0], output


@pytest.mark.parametrize("code", FULL)
def test_atomic_write_on_a_full_disk_removes_its_temporary_file_and_keeps_the_old_file(tmp_path, code):
    target = tmp_path / "results.json"
    write_json(target, {"run": 1})

    def write(tmp):
        Path(tmp).write_text("{\"run\": 2, ")  # half written, then the disk is full
        raise _no_space(code)

    with pytest.raises(DiskFull, match="no space left writing .*results.json") as info:
        atomic_write(target, write)
    assert info.value.errno == code and info.value.filename == str(target)
    assert ("quota" in str(info.value)) == (code == errno.EDQUOT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
    assert target.read_text() == '{\n  "run": 1\n}\n'


def test_a_checkpoint_write_on_a_full_disk_is_one_disk_full_line(tmp_path, monkeypatch):
    """Real torch on a real full device (``/dev/full`` in place of the temporary file): torch's
    own file writer would say "unexpected pos N vs M"; the checkpoint writer must surface the
    ENOSPC, naming the checkpoint, with no temporary file left and the previous one whole."""
    from csip.models import checkpoint

    last = tmp_path / "last.pt"
    checkpoint.save_checkpoint(last, {"step": 1})
    before = last.read_bytes()
    real_open = open
    monkeypatch.setattr(checkpoint, "open", lambda p, mode="r", *a, **k: real_open("/dev/full", mode), raising=False)
    with pytest.raises(DiskFull, match=f"no space left writing {last}"):
        checkpoint.save_checkpoint(last, {"step": 2, "w": torch.zeros(100_000)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    assert last.read_bytes() == before


class _FullDiskFile:
    """A file on a disk that just filled up: every write fails, and so does the close (which
    flushes what was buffered), as Python's buffered files do; the real file is closed."""

    def __init__(self, f, code: int):
        self.f, self.code = f, code

    @property
    def closed(self) -> bool:
        return self.f.closed

    def write(self, data) -> int:
        raise _no_space(self.code)

    def close(self) -> None:
        self.f.close()
        raise _no_space(self.code)

    def __getattr__(self, name):
        return getattr(self.f, name)


@pytest.mark.parametrize("code", FULL)
def test_precompute_on_a_full_disk_exits_2_and_leaves_no_consolidation_directory(tmp_path, monkeypatch, code):
    """The disk fills while the final arrays grow (second chunk): one line, exit code 2, no
    ``.consolidate-tmp-*`` left on the full disk; the finished chunk is kept and the rerun,
    with space again, completes the cache."""
    from csip.cache.assemble import Consolidator

    real = Consolidator._append_items
    calls = []

    def append_then_fill(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            self._files = {k: _FullDiskFile(f, code) for k, f in self._files.items()}
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Consolidator, "_append_items", append_then_fill)
    out = tmp_path / "cache"
    r = CliRunner().invoke(main, [*PRECOMPUTE, "--out", str(out)])
    assert r.exit_code == 2, r.output
    _one_line_no_space(r.output, out)
    assert list(out.glob(".consolidate-tmp-*")) == [] and not (out / "manifest.json").exists()
    monkeypatch.setattr(Consolidator, "_append_items", real)
    r = CliRunner().invoke(main, [*PRECOMPUTE, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "manifest.json").is_file()


def test_any_command_reports_a_full_disk_in_one_line(tmp_path, monkeypatch):
    """An ENOSPC from a write no writer wraps (here, inside ``csip precompute info``) still
    ends in one line naming the file the error names, exit code 2."""
    import csip.cache

    where = tmp_path / "some.file"

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))

    monkeypatch.setattr(csip.cache, "Cache", full)
    r = CliRunner().invoke(main, ["precompute", "info", str(tmp_path)])
    assert r.exit_code == 2, r.output
    _one_line_no_space(r.output, where)


def test_pretrain_on_a_full_disk_at_its_checkpoint_write_exits_2_in_one_line(tmp_path, monkeypatch):
    """The checkpoint write of ``csip pretrain`` meets a full device (``/dev/full``): exit code
    2, one line naming ``last.pt``, no temporary checkpoint file left."""
    from csip.models import checkpoint

    cache = tmp_path / "cache"
    r = CliRunner().invoke(main, [*PRECOMPUTE, "--out", str(cache)])
    assert r.exit_code == 0, r.output
    real_open = open
    monkeypatch.setattr(checkpoint, "open", lambda p, mode="r", *a, **k: real_open("/dev/full", mode), raising=False)
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["pretrain", "--cache", str(cache), "--out", str(run), "--epochs", "1",
                                  "--max-steps", "1", "--batch-size", "8", "--workers", "0", "--device", "cpu",
                                  "--feature-dim", "8", "--embed-dim", "4", "--no-progress"])
    assert r.exit_code == 2, r.output
    _one_line_no_space(r.output, run / "checkpoints" / "last.pt")
    assert list((run / "checkpoints").iterdir()) == []
