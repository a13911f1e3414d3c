"""No number from a damaged cache: every reader checks sizes, shapes, sums and value ranges
(csip.cache.validate), once per exact set of files (the stamp), and commands exit with code 2."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("csip_core._csip_core", reason="the Rust extension is not built")

from csip.cache import Cache, CacheError  # noqa: E402
from csip.cache import validate as V  # noqa: E402
from csip.cache.format import MANIFEST_HASH, content_hash, manifest_hash, sha256_file  # noqa: E402
from csip.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("validate") / "cache"
    res = CliRunner().invoke(main, ["precompute", "synthetic", "--n", "40", "--image-size", "32", "--out", str(out),
                                    "--workers", "0", "--no-progress"])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture
def copy(clean, tmp_path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(clean, dst)
    return dst


def flip_bytes(p: Path, *offsets: int) -> None:
    raw = bytearray(p.read_bytes())
    for o in offsets:
        raw[o] ^= 0x5A
    p.write_bytes(bytes(raw))


def rewrite_consistently(cache: Path, name: str, arr: np.ndarray) -> None:
    """Replace an array *and* its sums in the manifest: only the value checks can see it."""
    np.save(cache / name, arr)
    man = json.loads((cache / "manifest.json").read_text())
    man["files"][name]["sha256"] = sha256_file(cache / name)
    man["files"][name]["bytes"] = (cache / name).stat().st_size
    man["content_hash"] = content_hash({k: v["sha256"] for k, v in man["files"].items()})
    write_manifest_consistently(cache, man)


def write_manifest_consistently(cache: Path, man: dict) -> None:
    """Write an edited manifest with its manifest_hash recomputed: only the checks of the
    fields' meaning can see the edit."""
    man[MANIFEST_HASH] = manifest_hash(man)
    (cache / "manifest.json").write_text(json.dumps(man))


def _eval(cache: Path, out: Path):
    return CliRunner().invoke(main, ["eval", "--task", "cbir", "--cache", str(cache), "--random-init",
                                     "--out", str(out), "--no-figures", "--quiet", "--split", "all"])


def _pretrain(cache: Path, out: Path):
    return CliRunner().invoke(main, ["pretrain", "--cache", str(cache), "--model", "2d", "--out", str(out),
                                     "--epochs", "1", "--batch-size", "8", "--no-progress", "--split", "all"])


def test_a_clean_cache_evaluates(clean, tmp_path):
    res = _eval(clean, tmp_path / "e")
    assert res.exit_code == 0, res.output


def test_all_nan_banners_same_shape_and_dtype(copy, tmp_path):
    a = np.load(copy / "sfb.npy")
    np.save(copy / "sfb.npy", np.full_like(a, np.nan))  # same size, shape and dtype: only the data differs
    with pytest.raises(CacheError, match=r"sfb\.npy: checksum mismatch"):
        Cache(copy)
    res = _eval(copy, tmp_path / "e")
    assert res.exit_code == 2 and "sfb.npy" in res.output and "NDCG" not in res.output, res.output
    assert not (tmp_path / "e" / "results.json").exists()
    # the same NaNs with sums rewritten to match: the value check names them
    rewrite_consistently(copy, "sfb.npy", np.full_like(a, np.nan))
    with pytest.raises(CacheError, match=r"sfb\.npy: item 0 holds NaN"):
        Cache(copy)


@pytest.mark.parametrize("name", ["boxes.npy", "images.npy", "masks.npy", "labels.npy", "ids.json"])
def test_flipped_bytes_are_refused_by_eval_and_pretrain(copy, tmp_path, name):
    flip_bytes(copy / name, -3, -40)
    with pytest.raises(CacheError, match=rf"{name.replace('.', '[.]')}: checksum mismatch"):
        Cache(copy)
    res = _eval(copy, tmp_path / "e")
    assert res.exit_code == 2 and name in res.output, res.output
    res = _pretrain(copy, tmp_path / "p")
    assert res.exit_code == 2 and name in res.output and "Traceback" not in res.output, res.output
    assert not (tmp_path / "p").exists()  # no empty run directory left behind


def test_search_and_dataset_check_too(copy, tmp_path):
    from csip.cache import CacheDataset

    flip_bytes(copy / "sfb.npy", -11)
    with pytest.raises(CacheError, match="sfb.npy"):
        CacheDataset(copy, split="train")
    res = CliRunner().invoke(main, ["search", "--cache", str(copy), "--checkpoint", str(tmp_path), "--query", "0"])
    assert res.exit_code == 2 and "sfb.npy: checksum" in res.output, res.output


@pytest.mark.parametrize(
    "name, change, message",
    [
        (
            "sfb.npy",
            lambda a: np.where(np.arange(a.shape[0])[:, None, None] == 3, 1.5, a),
            r"item 3 has values outside \[0, 1\]",
        ),
        (
            "sfb.npy",
            lambda a: np.where(np.arange(a.shape[0])[:, None, None] == 5, -0.25, a),
            r"item 5 has values outside",
        ),
        (
            "sfb.npy",
            lambda a: np.where(np.arange(a.shape[0])[:, None, None] == 7, np.inf, a),
            r"item 7 holds NaN or infinite",
        ),
        ("boxes.npy", lambda a: np.where(np.arange(a.shape[0])[:, None, None] == 2, 1.01, a), r"item 2 has boxes"),
        ("boxes.npy", lambda a: a[:, :, [2, 1, 0, 3]], r"x0 <= x1"),  # x0 and x1 swapped
        ("boxes.npy", lambda a: np.where(np.arange(a.shape[0])[:, None, None] == 4, np.nan, a), r"item 4 has boxes"),
        ("labels.npy", lambda a: np.where(np.arange(a.shape[0]) == 6, 10**6, a), r"item 6 has label 1000000"),
        ("split.npy", lambda a: np.where(np.arange(a.shape[0]) == 1, 9, a).astype(np.int8), r"item 1 has split code 9"),
    ],
)
def test_values_out_of_range_with_matching_sums(copy, name, change, message):
    a = np.load(copy / name)
    rewrite_consistently(copy, name, change(a).astype(a.dtype))
    with pytest.raises(CacheError, match=message) as err:
        Cache(copy)
    assert name in str(err.value)


def test_unnormalised_banners_may_exceed_one(copy):
    man = json.loads((copy / "manifest.json").read_text())
    man["descriptor"]["normalize"] = "none"
    write_manifest_consistently(copy, man)
    a = np.load(copy / "sfb.npy")
    rewrite_consistently(copy, "sfb.npy", a * 1000)
    Cache(copy)  # raw banners: any finite value >= 0


def test_the_stamp_skips_the_reads_until_a_file_changes(copy):
    man = json.loads((copy / "manifest.json").read_text())
    assert V.validate(copy, man) is True  # a copy: new inodes, no valid stamp
    assert V.validate(copy, man) is False  # stamped
    assert (copy / V.STAMP_NAME).is_file()
    os.utime(copy / "images.npy")  # touched: data unchanged, read again
    assert V.validate(copy, man) is True
    assert V.validate(copy, man, force=True) is True
    # same size, mtime restored exactly, but another inode (a replaced file): read again
    st = (copy / "boxes.npy").stat()
    shutil.copyfile(copy / "boxes.npy", copy / "boxes.tmp")
    os.replace(copy / "boxes.tmp", copy / "boxes.npy")
    os.utime(copy / "boxes.npy", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert V.validate(copy, man) is True


def test_a_fresh_cache_is_stamped_by_its_writer(clean):
    man = json.loads((clean / "manifest.json").read_text())
    assert V.is_stamped(clean, V.stamp_key(clean, list(man["files"])))


def test_a_read_only_cache_is_stamped_in_the_user_cache_dir(copy, tmp_path, monkeypatch):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (copy / V.STAMP_NAME).unlink()
    mode = copy.stat().st_mode
    copy.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        man = json.loads((copy / "manifest.json").read_text())
        assert V.validate(copy, man) is True
        assert list((tmp_path / "xdg" / "csip" / "verified").glob("*.json"))
        assert V.validate(copy, man) is False
    finally:
        copy.chmod(mode)


def test_the_stamp_falls_back_when_the_cache_dir_is_not_writable(copy, tmp_path, monkeypatch):
    """(As root a read-only mode does not stop writes: the fallback is tested by making the
    first location fail.)"""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (copy / V.STAMP_NAME).unlink()
    blocked = copy / V.STAMP_NAME
    blocked.mkdir()  # a directory where the stamp file should go: os.replace fails
    man = json.loads((copy / "manifest.json").read_text())
    assert V.validate(copy, man) is True
    assert len(list((tmp_path / "xdg" / "csip" / "verified").glob("*.json"))) == 1
    assert V.validate(copy, man) is False


def test_info_verify_ignores_the_stamp(copy):
    """Damage the stamp cannot see (a stamp written after the damage, as if the disk had changed
    the bytes behind the file system's back): opening trusts the stamp, --verify does not."""
    man = json.loads((copy / "manifest.json").read_text())
    flip_bytes(copy / "sfb.npy", -8)
    V.write_stamp(copy, V.stamp_key(copy, list(man["files"])))
    Cache(copy)
    res = CliRunner().invoke(main, ["precompute", "info", str(copy), "--verify"])
    assert res.exit_code == 2 and "sfb.npy: checksum" in res.output, res.output


def test_shapes_are_checked_against_the_manifest_too(copy):
    man = json.loads((copy / "manifest.json").read_text())
    man["files"]["boxes.npy"]["shape"] = [41, 2, 4]
    write_manifest_consistently(copy, man)
    with pytest.raises(CacheError, match=r"boxes\.npy: float32 \(40, 2, 4\), the manifest lists float32 \(41, 2, 4\)"):
        Cache(copy)


def test_a_value_check_that_fails_at_consolidation_leaves_no_manifest(tmp_path, monkeypatch):
    """The writer checks the values before the manifest makes the directory a cache: a failure
    leaves no cache that a rerun would call complete, and the rerun consolidates again."""
    from csip.cache import assemble

    def bad_values(path, manifest):
        raise CacheError(f"{path / 'sfb.npy'}: item 0 holds NaN or infinite values")

    out = tmp_path / "cache"
    args = ["precompute", "synthetic", "--n", "20", "--image-size", "32", "--out", str(out), "--workers", "0",
            "--no-progress"]
    monkeypatch.setattr(assemble, "check_values", bad_values)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "item 0 holds NaN or infinite values" in res.output, res.output
    assert not (out / "manifest.json").exists()
    monkeypatch.undo()
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and "already complete" not in res.output, res.output
    assert Cache(out).content_hash


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["counts"]["splits"].update(train=5), "the manifest was edited"),
    (lambda m: m["descriptor"].update(normalize="none"), "the manifest was edited"),
    (lambda m: m["counts"].update(labelled=-3), r"field 'counts.labelled' is -3, expected an integer >= 0"),
    (lambda m: m.update(files=None), r"field 'files' is None, expected an object"),
    (lambda m: m.update(counts=None), r"field 'counts' is None, expected an object"),
    (lambda m: m["descriptor"].update(n_angles="abc"), r"field 'descriptor.n_angles' is 'abc'"),
])
def test_an_edited_manifest_is_refused_naming_the_field(copy, edit, message):
    man = json.loads((copy / "manifest.json").read_text())
    edit(man)
    (copy / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(CacheError, match=message):
        Cache(copy)
    res = CliRunner().invoke(main, ["precompute", "info", str(copy), "--verify"])
    assert res.exit_code == 2 and "manifest.json" in res.output and "Traceback" not in res.output, res.output


def test_counts_that_disagree_with_the_arrays_are_refused_with_or_without_a_manifest_hash(copy):
    """A consistent forgery (manifest_hash recomputed), or a cache made before manifests had
    one: the counts are still checked against split.npy and labels.npy."""
    man = json.loads((copy / "manifest.json").read_text())
    assert man[MANIFEST_HASH] == manifest_hash(man)  # every new cache records it
    man["counts"]["splits"]["train"] += 1
    write_manifest_consistently(copy, man)
    with pytest.raises(CacheError, match=r"counts.splits says \{'train': \d+"):
        Cache(copy, verify=True)
    del man[MANIFEST_HASH]
    man["created"] = "2026-11-26T12:00:00+00:00"  # a cache made before csip wrote manifest_hash
    man["counts"]["splits"]["train"] -= 1
    man["counts"]["labelled"] += 1
    (copy / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(CacheError, match="counts.labelled says"):
        Cache(copy, verify=True)
    man["counts"]["labelled"] -= 1
    (copy / "manifest.json").write_text(json.dumps(man))
    assert Cache(copy, verify=True).counts == man["counts"]  # no manifest_hash: still readable


def test_a_deleted_manifest_hash_is_an_edit_for_every_cache_made_since_it_exists(copy):
    """Deleting manifest_hash (to edit the descriptor or the counts unnoticed) is itself refused
    by every reader: Cache, `precompute info --verify`, eval and pretrain, exit 2; a cache made
    before csip wrote one (its `created` earlier) stays readable."""
    man = json.loads((copy / "manifest.json").read_text())
    del man[MANIFEST_HASH]
    man["descriptor"]["normalize"] = "none"  # what the deletion would let through
    (copy / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(CacheError, match=f"no {MANIFEST_HASH}.*deleted or the manifest edited"):
        Cache(copy)
    for args in (["precompute", "info", str(copy), "--verify"],
                 ["eval", "--cache", str(copy), "--out", str(copy.parent / "ev"), "--task", "cbir", "--no-figures",
                  "--device", "cpu"],
                 ["pretrain", "--cache", str(copy), "--out", str(copy.parent / "run"), "--epochs", "1",
                  "--device", "cpu", "--no-progress"]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and f"no {MANIFEST_HASH}" in res.output, (args[0], res.output)
        assert "Traceback" not in res.output
    man["descriptor"]["normalize"] = "max"
    for created in ("2026-11-27T14:30:39+00:00", "not a date"):
        man["created"] = created
        (copy / "manifest.json").write_text(json.dumps(man))
        with pytest.raises(CacheError, match=f"no {MANIFEST_HASH}"):
            Cache(copy)
    man["created"] = "2026-11-27T14:30:38+00:00"
    (copy / "manifest.json").write_text(json.dumps(man))
    assert Cache(copy, verify=True).manifest["created"] == man["created"]
