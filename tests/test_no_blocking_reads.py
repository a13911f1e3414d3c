"""No read blocks on a file that is not a regular file: a FIFO in the place of a cache's stamp,
manifest or chunk file, or of a precompute run's ``run.json`` / ``manifest.json``, is refused at
once with exit code 2 and one line naming it (a FIFO without a writer blocks ``open`` for ever)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cache_helpers import subprocess_env
from csip.base.errors import NotRegularFile
from csip.base.files import open_regular, read_regular_json, require_regular

#: A hanging read would block for ever: each subprocess gets this long to answer.
TIMEOUT_S = 60

PRECOMPUTE = ["precompute", "python:cache_helpers:make_source", "--n", "8", "--chunk", "4", "--workers", "0",
              "-O", "size=32", "--image-size", "32", "--n-angles", "12", "--forces", "-1:1:0.5", "--no-progress"]


def _csip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "csip.cli", *args], env=subprocess_env(), capture_output=True,
                          text=True, timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fifo") / "cache"
    r = _csip(*PRECOMPUTE, "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out


def _refused(r: subprocess.CompletedProcess, path: Path) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    err = r.stderr.strip().splitlines()
    assert "Traceback" not in r.stderr, r.stderr
    assert err[-1].startswith("error: ") and str(path) in err[-1] and "a FIFO, not a regular file" in err[-1], err


def test_the_readers_refuse_a_fifo_at_once_and_read_a_regular_file(tmp_path):
    fifo = tmp_path / "x.json"
    os.mkfifo(fifo)
    for read in (read_regular_json, require_regular, lambda p: open_regular(p, "rb")):
        with pytest.raises(NotRegularFile, match="x.json is a FIFO"):
            read(fifo)  # would block for ever if opened for reading without O_NONBLOCK
    with pytest.raises(IsADirectoryError):  # as open() says it: not a read that could block
        read_regular_json(tmp_path)
    good = tmp_path / "good.json"
    good.write_text('{"a": [1, 2]}')
    assert read_regular_json(good) == {"a": [1, 2]}
    with pytest.raises(FileNotFoundError):
        read_regular_json(tmp_path / "missing.json")


@pytest.mark.parametrize("command", ["info", "eval"])
def test_a_fifo_stamp_in_a_cache_is_refused_by_every_reader(small_cache, tmp_path, command):
    cache = tmp_path / "cache"
    shutil.copytree(small_cache, cache)
    stamp = cache / ".csip-verified.json"
    stamp.unlink(missing_ok=True)
    os.mkfifo(stamp)
    if command == "info":
        r = _csip("precompute", "info", str(cache))
    else:
        r = _csip("eval", "--task", "cbir", "--cache", str(cache), "--out", str(tmp_path / "ev"), "--device", "cpu")
    _refused(r, stamp)


@pytest.mark.parametrize("name", ["manifest.json", "sfb.npy", "ids.json"])
def test_a_fifo_in_place_of_a_cache_file_is_refused(small_cache, tmp_path, name):
    cache = tmp_path / "cache"
    shutil.copytree(small_cache, cache)
    (cache / ".csip-verified.json").unlink(missing_ok=True)
    (cache / name).unlink()
    os.mkfifo(cache / name)
    r = _csip("precompute", "info", str(cache), "--verify")
    _refused(r, cache / name)


@pytest.mark.parametrize("name", ["run.json", "manifest.json"])
def test_a_fifo_control_file_in_a_precompute_out_is_refused(tmp_path, name):
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / name)
    r = _csip(*PRECOMPUTE, "--out", str(out))
    _refused(r, out / name)

