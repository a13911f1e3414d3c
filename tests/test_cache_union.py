"""Several caches trained on as one (csip.cache.union): the batches of a union are those of one
cache holding the same items in the same order; caches that cannot be read together are refused;
a supervised run reads the labelled items only; ``csip pretrain --cache A --cache B``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from csip.cache import CacheDataset, CacheError, build
from csip.cache.batches import BatchReader
from csip.cache.union import CacheUnion, expand_cache_paths
from csip.data.synthetic import SyntheticSource
from csip.descriptor import DescriptorParams
from csip.train import TrainConfig, read_metrics, train
from eval_helpers import BareSource

DESC = DescriptorParams.make("-2:2:1", 16, "max")


class Concatenated:
    """The items of several sources, source after source (one cache of what a union holds)."""

    name = "concatenated"

    def __init__(self, *sources):
        self.sources = sources

    def __len__(self) -> int:
        return sum(len(s) for s in self.sources)

    def load(self, i: int):
        for s in self.sources:
            if i < len(s):
                return s.load(i)
            i -= len(s)
        raise IndexError(i)

    def options(self) -> dict:
        return {"parts": [s.options() for s in self.sources]}


def _build(out, source, size=24, desc=DESC):
    build(source, out, spec="test", seed=0, image_size=size, desc=desc, workers=0, chunk=64, progress=False)
    return out


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    base = tmp_path_factory.mktemp("union")
    a, b = SyntheticSource(n=50, seed=0), SyntheticSource(n=40, seed=1)
    return {"a": _build(base / "a", a), "b": _build(base / "b", b), "ab": _build(base / "ab", Concatenated(a, b)),
            "bare": _build(base / "bare", BareSource(n=30, seed=2)), "base": base}


def test_the_union_holds_the_members_items_in_order(caches):
    u = CacheUnion([caches["a"], caches["b"]])
    whole = CacheDataset(caches["ab"]).cache
    assert len(u) == len(whole) == 90
    for split in ("train", "val", "test", None):
        assert np.array_equal(u.indices(split), whole.indices(split))
    rows = np.array([89, 0, 50, 49, 3, 70])
    for name in ("images", "sfb", "boxes", "labels"):
        assert np.array_equal(getattr(u, name)[rows], np.asarray(getattr(whole, name))[rows]), name
        assert np.array_equal(getattr(u, name)[55], np.asarray(getattr(whole, name))[55]), name
    assert np.array_equal(u.masks(rows), whole.masks(rows))


@pytest.mark.parametrize("rank, world", [(0, 1), (1, 2)])
def test_the_batches_of_a_union_are_those_of_one_cache_of_its_items(caches, rank, world):
    union = BatchReader(CacheUnion([caches["a"], caches["b"]]), "train", 16, seed=3, rank=rank, world=world)
    whole = BatchReader(caches["ab"], "train", 16, seed=3, rank=rank, world=world)
    assert len(union) == len(whole) >= 3
    for epoch in (0, 1):
        got, want = list(union.epoch(epoch)), list(whole.epoch(epoch))
        assert len(got) == len(want)
        for x, y in zip(got, want):
            assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def test_training_on_a_union_is_training_on_one_cache_of_its_items(caches, tmp_path):
    cfg = dict(model="2d", epochs=2, batch_size=16, log_every=1, progress=False, feature_dim=16, embed_dim=8,
               spatial_channels=4, device="cpu", save_every=0)
    train(TrainConfig(out=str(tmp_path / "u"), cache=(str(caches["a"]), str(caches["b"])), **cfg))
    train(TrainConfig(out=str(tmp_path / "w"), cache=str(caches["ab"]), **cfg))
    losses = [[r["loss"] for r in read_metrics(tmp_path / d, "train")] for d in ("u", "w")]
    assert len(losses[0]) >= 6 and losses[0] == losses[1]
    params = json.loads((tmp_path / "u" / "params.json").read_text())
    assert params["data"]["cache"] == [str(caches["a"].resolve()), str(caches["b"].resolve())]
    assert list(params["fingerprint_settings"]["cache"]) == ["union"]


def test_caches_with_other_descriptors_or_sizes_are_refused_naming_the_difference(caches):
    other = _build(
        caches["base"] / "other-desc", SyntheticSource(n=20, seed=4), desc=DescriptorParams.make("-2:2:1", 12, "max")
    )
    with pytest.raises(CacheError, match=r"n_angles 16 in .*a, 12 in .*other-desc"):
        CacheUnion([caches["a"], other])
    small = _build(caches["base"] / "other-size", SyntheticSource(n=20, seed=4), size=16)
    with pytest.raises(CacheError, match=r"image_size 24 in .*, 16 in .*other-size"):
        CacheUnion([caches["a"], small])


def test_cache_paths_from_globs_and_list_files(caches, tmp_path):
    base = caches["base"]
    assert expand_cache_paths(str(base / "[ab]")) == [base / "a", base / "b"]
    listing = tmp_path / "caches.txt"
    listing.write_text(f"# shards\n{base / 'b'}\n\n{base / 'a'}  # the first\n")
    assert expand_cache_paths([f"@{listing}"]) == [base / "b", base / "a"]
    with pytest.raises(CacheError, match="named twice"):
        expand_cache_paths([str(base / "a"), f"@{listing}"])
    with pytest.raises(CacheError, match="no directory matches"):
        expand_cache_paths(str(base / "nothing-*"))


def test_a_supervised_run_on_a_union_reads_only_labelled_items(caches, tmp_path):
    cfg = TrainConfig(out=str(tmp_path / "s"), cache=(str(caches["a"]), str(caches["bare"])), supervised=True,
                      model="2d", epochs=1, batch_size=8, progress=False, feature_dim=16, device="cpu")
    train(cfg)
    params = json.loads((tmp_path / "s" / "params.json").read_text())
    labelled = int((np.asarray(CacheDataset(caches["a"], "train").cache.labels)[
        CacheDataset(caches["a"], "train").indices] >= 0).sum())
    assert params["data"]["n_items"] == labelled and params["data"]["labelled_only"] is True
    c_sip = TrainConfig(out=str(tmp_path / "c"), cache=(str(caches["a"]), str(caches["bare"])), model="2d",
                        epochs=1, batch_size=8, progress=False, feature_dim=16, device="cpu")
    train(c_sip)
    assert json.loads((tmp_path / "c" / "params.json").read_text())["data"]["n_items"] == \
        len(CacheDataset(caches["a"], "train")) + len(CacheDataset(caches["bare"], "train"))


def test_csip_pretrain_takes_the_cache_option_several_times(caches, tmp_path):
    from csip.cli import main

    out = tmp_path / "cli"
    res = CliRunner().invoke(main, ["pretrain", "--cache", str(caches["a"]), "--cache", str(caches["b"]), "--out",
                                    str(out), "--model", "2d", "--epochs", "1", "--batch-size", "16", "--no-progress",
                                    "--feature-dim", "16", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "params.json").read_text())["data"]
    assert data["n_items"] == len(CacheDataset(caches["ab"], "train"))
    res = CliRunner().invoke(main, ["pretrain", "--out", str(out), "--resume", "--cache", str(caches["a"])])
    assert res.exit_code == 2 and "--cache" in res.output  # another union than the run's


def test_one_cache_keeps_every_item_unless_labelled_only_is_asked(caches, tmp_path):
    """A supervised run on one cache reads every item of its split, as runs always did (its
    fingerprint is unchanged); ``labelled_only=True`` reads the labelled ones and is recorded."""
    from csip.base.fingerprint import fingerprint
    from csip.train.config import run_settings

    base = dict(cache=str(caches["a"]), supervised=True, model="2d", epochs=1, batch_size=8, progress=False,
                feature_dim=16, device="cpu")
    assert TrainConfig(out="x", **base).reads_labelled_only() is False
    assert TrainConfig(out="x", **{**base, "cache": (str(caches["a"]), str(caches["bare"]))}).reads_labelled_only()
    assert not TrainConfig(out="x", **{**base, "supervised": False, "cache": (str(caches["a"]), str(caches["b"]))}
                           ).reads_labelled_only()
    old = run_settings(TrainConfig(out="x", **base), None)
    assert "labelled_only" not in old["config"]
    asked = run_settings(TrainConfig(out="x", labelled_only=True, **base), None)
    assert asked["config"]["labelled_only"] is True and fingerprint(asked) != fingerprint(old)
    ds = CacheDataset(caches["a"], "train")
    train(TrainConfig(out=str(tmp_path / "all"), **base))
    assert json.loads((tmp_path / "all" / "params.json").read_text())["data"]["n_items"] == len(ds)
