"""`csip precompute`: the command line, resumption after SIGKILL, sharding through the environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from cache_helpers import subprocess_env
from csip.cache import Cache
from csip.cache.format import ARRAY_FILES
from csip.commands.precompute import precompute

SRC = "python:cache_helpers:make_source"
BASE = ["--image-size", "32", "--n-angles", "24", "--no-progress", "-O", "size=32"]


def _invoke(args, env=None):
    return CliRunner().invoke(precompute, args, env=env, catch_exceptions=False)


def test_default_group_and_subcommands(tmp_path):
    r = _invoke(["--help"])
    assert r.exit_code == 0 and "merge" in r.output and "run" in r.output
    r = _invoke([SRC, "--out", str(tmp_path / "a"), "--n", "10", "--chunk", "4", "--workers", "0", *BASE])
    assert r.exit_code == 0, r.output
    r = _invoke(["run", SRC, "--out", str(tmp_path / "b"), "--n", "10", "--chunk", "5", "--workers", "1", *BASE])
    assert r.exit_code == 0, r.output
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    assert len(a) == 10 and a.content_hash == b.content_hash
    assert a.source["options"]["n"] == 10 and a.manifest["run"]["params"]["seed"] == 0
    r = _invoke(["info", str(tmp_path / "a"), "--verify"])
    assert r.exit_code == 0 and "verified" in r.output


def test_bad_input_exit_codes(tmp_path):
    r = _invoke([SRC, "--out", str(tmp_path / "e"), "--n", "6", "--workers", "0", "-O", "skip_all=true", *BASE])
    assert r.exit_code != 0
    assert "no usable item" in r.output and "'unlucky': 6" in r.output
    r = _invoke([SRC, "--out", str(tmp_path / "x"), "--shard", "3/2", *BASE])
    assert r.exit_code != 0 and "shard" in r.output.lower()
    r = _invoke([SRC, "--out", str(tmp_path / "x"), "-O", "nonsense=1", *BASE])
    assert r.exit_code != 0 and "nonsense" in r.output
    r = _invoke(["info", str(tmp_path / "e")])
    assert r.exit_code != 0 and "incomplete" in r.output


def test_shards_from_environment_then_merge(tmp_path):
    out = str(tmp_path / "shard-{rank}")
    for rank in range(2):
        env = {"RANK": str(rank), "WORLD_SIZE": "2"}
        r = _invoke([SRC, "--out", out, "--n", "12", "--chunk", "4", "--workers", "0", *BASE], env=env)
        assert r.exit_code == 0, r.output
        assert (tmp_path / f"shard-{rank}" / f"shard-{rank}-of-2.json").exists()
    r = _invoke(["merge", str(tmp_path / "shard-0"), str(tmp_path / "shard-1"), "--out", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    r = _invoke([SRC, "--out", str(tmp_path / "one"), "--n", "12", "--chunk", "4", "--workers", "0", *BASE], env={})
    assert Cache(tmp_path / "m").content_hash == Cache(tmp_path / "one").content_hash


@pytest.mark.parametrize("rank, world", [("3", "2"), ("x", "2"), ("0", "-1")])
def test_a_malformed_rank_in_the_environment_is_refused_not_ignored(tmp_path, rank, world):
    """Ignored, it made every process of a launch build the whole cache."""
    env = {"RANK": rank, "WORLD_SIZE": world}
    r = _invoke([SRC, "--out", str(tmp_path / "o"), "--n", "4", "--workers", "0", *BASE], env=env)
    assert r.exit_code == 2 and f"RANK={rank!r} WORLD_SIZE={world!r}" in r.output, r.output
    assert not (tmp_path / "o").exists()
    r = _invoke([SRC, "--out", str(tmp_path / "o"), "--n", "4", "--workers", "0", "--shard", "0/1", *BASE], env=env)
    assert r.exit_code == 0, r.output  # an explicit --shard takes precedence


def _cmd(out):
    return [
        sys.executable, "-m", "csip.cli", "precompute", SRC, "--out", str(out), "--n", "120", "--chunk", "6",
        "--workers", "1", "-O", "delay=0.012", *BASE,
    ]


def test_sigkill_then_rerun_gives_the_uninterrupted_result(tmp_path):
    env = subprocess_env()
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(killed), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        chunks = killed / "chunks"
        while time.time() < deadline:
            n_done = len([p for p in chunks.glob("chunk-*")]) if chunks.is_dir() else 0
            if n_done >= 4 or proc.poll() is not None:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)  # the command and its loader processes, mid-run
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not (killed / "manifest.json").exists()
    assert list(killed.glob(".consolidate-tmp-*")), "the final arrays should have been growing"
    done_before = {p.name: p.stat().st_ino for p in (killed / "chunks").glob("chunk-*")}
    assert 4 <= len(done_before) < 20
    with pytest.raises(Exception, match="incomplete"):
        Cache(killed)

    r = subprocess.run(_cmd(killed), env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"resuming: {len(done_before)} of 20 chunks already done" in r.stderr
    man = json.loads((killed / "manifest.json").read_text())
    assert man["build"]["chunks_done_before"] == len(done_before)
    assert man["build"]["chunks_computed"] == 20 - len(done_before)
    assert not list(killed.glob(".consolidate-tmp-*"))  # the dead run's partial arrays are gone

    clean = tmp_path / "clean"
    r = subprocess.run(_cmd(clean), env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    a, b = Cache(killed, verify=True), Cache(clean, verify=True)
    assert len(a) == len(b) == 120
    for name in ARRAY_FILES:
        np.testing.assert_array_equal(np.load(a.path / name), np.load(b.path / name), err_msg=name)
    assert a.ids == b.ids and a.questions() == b.questions()
    assert a.content_hash == b.content_hash


def test_builtin_synthetic_source(tmp_path):
    out = tmp_path / "syn"
    r = _invoke(["--out", str(out), "--n", "12", "--chunk", "5", "--workers", "0", "--image-size", "32",
                 "--n-angles", "18", "--no-progress"])
    assert r.exit_code == 0, r.output
    c = Cache(out)
    assert len(c) + c.counts["skipped"] == 12 and c.source_name == "synthetic"
    assert c.source["options"]["n"] == 12 and c.manifest["run"]["params"]["seed"] == 0
    assert c.sfb.shape[1:] == (57, 18) and np.isfinite(c.sfb).all()


def test_coco_source_with_a_missing_image(tmp_path):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "thing"}]}
    rng = np.random.default_rng(0)
    for i in range(4):
        name = f"{i}.jpg"
        if i != 2:  # image 2 is missing on disk
            Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(images / name)
        coco["images"].append({"id": i + 1, "file_name": name, "height": 48, "width": 64})
        for k, (x0, y0) in enumerate(((4, 4), (30, 20))):
            poly = [x0, y0, x0 + 20, y0, x0 + 20, y0 + 15, x0, y0 + 15]
            coco["annotations"].append({"id": 10 * i + k, "image_id": i + 1, "category_id": 1, "segmentation": [poly],
                                        "area": 300.0, "bbox": [x0, y0, 20, 15], "iscrowd": 0})
    ann = tmp_path / "instances.json"
    ann.write_text(json.dumps(coco))
    out = tmp_path / "c"
    r = _invoke([f"coco:{ann}", "--out", str(out), "--images", str(images), "--workers", "0", *BASE[:-2]])
    assert r.exit_code == 0, r.output
    c = Cache(out)
    assert len(c) == 3 and c.skipped["reasons"] == {"missing file": 1}
    # the skipped item by the source's own id, with the file it missed (before: "item 2: missing file")
    assert c.skipped["items"] == [{"index": 2, "id": "coco-3", "reason": "missing file",
                                   "message": str((images / "2.jpg").resolve())}]
    assert f"coco-3: missing file: {(images / '2.jpg').resolve()}" in r.output
    assert c.manifest["run"]["params"]["seed"] is None and not c.has_labels
    assert (c.labels == -1).all()


def test_key_value_options(tmp_path):
    import click

    from csip.commands.options import key_values

    got = list(key_values(["size=64", "max-objects=3", "saliency=center", "p=0.5", "l=[1, 2]", "s=a=b"], "-O"))
    assert got == [("size", 64), ("max_objects", 3), ("saliency", "center"), ("p", 0.5), ("l", [1, 2]), ("s", "a=b")]
    for bad in ("novalue", "=3"):
        with pytest.raises(click.BadParameter, match="expected KEY=VALUE") as exc:
            list(key_values([bad], "-O/--source-opt"))
        assert exc.value.param_hint == "-O/--source-opt"
    r = _invoke([SRC, "--out", str(tmp_path / "c"), "-O", "size", *BASE])
    assert r.exit_code == 2 and "expected KEY=VALUE" in r.output


def test_options_lists_every_option_of_every_source_from_its_adapter():
    """`csip precompute options` prints each adapter's own table with the constructor's defaults."""
    import inspect

    from csip.data.source import ADAPTERS, adapter_class, option_table

    r = _invoke(["options"])
    assert r.exit_code == 0, r.output
    for kind, (_, _, path_arg) in ADAPTERS.items():
        rows = option_table(kind)
        params = inspect.signature(adapter_class(kind)).parameters
        assert [name for name, _, _ in rows] == list(params)
        assert (kind if path_arg is None else f"{kind}:PATH") in r.output
        for name, default, meaning in rows:
            assert name in r.output and meaning in r.output
            if name != path_arg and params[name].default not in (None, inspect.Parameter.empty):
                assert str(params[name].default).lower() in default.lower()
    one = _invoke(["options", "unrel:/some/where"])
    assert one.exit_code == 0 and "min_pixels" in one.output and "coco" not in one.output
    assert "16" in next(line for line in one.output.splitlines() if "min_pixels" in line)
    bad = _invoke(["options", "imagenet"])
    assert bad.exit_code == 2 and "unknown source 'imagenet'" in bad.output


def test_an_option_table_that_falls_behind_its_adapter_is_refused(monkeypatch):
    from csip.data.coco import CocoSource
    from csip.data.source import option_table

    monkeypatch.setattr(CocoSource, "OPTIONS", {k: v for k, v in CocoSource.OPTIONS.items() if k != "saliency"})
    with pytest.raises(ValueError, match="CocoSource.OPTIONS lists"):
        option_table("coco")


@pytest.mark.parametrize("dataset", ["coco", "spatialsense", "spatialsense-paper", "unrel", "gqa"])
def test_a_whole_precompute_of_each_release_fixture_gives_its_counts(tmp_path, dataset):
    """Each tiny release (tests/data_fixtures.write_*_release) through `csip precompute`: the
    counts its writer promises, in seconds."""
    import data_fixtures

    if dataset == "unrel":
        pytest.importorskip("scipy")
    root = tmp_path / "data"
    root.mkdir()
    kind, _, variant = dataset.partition("-")
    writer = getattr(data_fixtures, f"write_{kind}_release")
    rel = writer(root, variant) if variant else writer(root)
    t0 = time.perf_counter()
    r = _invoke([rel.spec, "--out", str(tmp_path / "c"), "--workers", "0", "--no-progress", "--image-size", "32",
                 "--n-angles", "24", *rel.options_args()])
    assert r.exit_code == 0, r.output
    c = Cache(tmp_path / "c", verify=True)
    assert (len(c), c.counts["source_items"], c.counts["splits"]) == (rel.kept, rel.items, rel.splits)
    assert (c.skipped["reasons"], c.counts["labelled"], c.counts["questions"]) == (rel.skipped, rel.labelled,
                                                                                  rel.questions)
    assert time.perf_counter() - t0 < 30
