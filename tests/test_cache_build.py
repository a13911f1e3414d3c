"""The cache: building (writer), reading (Cache, CacheDataset), sharding and merging."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from cache_helpers import RandomSource
from csip.cache import Cache, CacheError
from csip.cache.assemble import merge
from csip.cache.format import ARRAY_FILES, split_of_id
from csip.cache.prepare import PreparedItem, Skipped, add_banners, crop_pad_resize, prepare_sample
from csip.cache.writer import build
from csip.data.sample import Sample
from csip.descriptor import DescriptorParams, sfb

S = 32
DESC = DescriptorParams.make("default", 36, "max")


def _build(src, out, **kw):
    kw.setdefault("image_size", S)
    kw.setdefault("desc", DESC)
    kw.setdefault("workers", 0)
    kw.setdefault("chunk", 8)
    kw.setdefault("progress", False)
    kw.setdefault("spec", "python:cache_helpers:make_source")
    return build(src, out, **kw)


def _arrays(path):
    c = Cache(path)
    out = {name: np.array(np.load(c.path / name, allow_pickle=False)) for name in ARRAY_FILES}
    out["ids"] = c.ids
    out["questions"] = c.questions()
    return out


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else:
            assert a[k] == b[k], k


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    src = RandomSource(n=30, seed=3, size=40, skip_every=7, error_every=11)
    out = tmp_path_factory.mktemp("cache") / "c"
    res = _build(src, out)
    return src, out, res


def test_build_contents(built):
    src, out, res = built
    assert res["status"] == "complete"
    c = Cache(out, verify=True)
    kept = []
    for i in range(len(src)):
        try:
            kept.append(src.load(i))
        except Exception:  # noqa: BLE001
            pass
    n = len(kept)
    assert len(c) == n == c.counts["items"]
    assert c.counts["source_items"] == 30 and c.counts["skipped"] == 30 - n
    assert c.skipped["reasons"] == {"unlucky": 4, "error: ZeroDivisionError": 3}
    assert all("message" in x for x in c.skipped["items"] if x["reason"].startswith("error"))
    assert c.sfb.shape == (n, 57, 36) and c.sfb.dtype == np.float32
    assert c.images.shape == (n, 3, S, S) and c.images.dtype == np.uint8
    assert c.boxes.shape == (n, 2, 4) and c.boxes.dtype == np.float32
    assert c.masks_packed.shape == (n, 2, S, S // 8)
    assert c.labels.dtype == np.int64 and c.split.dtype == np.int8
    assert c.ids == [s.id for s in kept]
    np.testing.assert_array_equal(c.labels, [-1 if s.label is None else s.label for s in kept])
    np.testing.assert_array_equal(c.split, [split_of_id(s.id) for s in kept])
    assert 0.0 <= c.boxes.min() and c.boxes.max() <= 1.0
    # banners in source order, equal to the descriptor of each sample's masks
    for k in (0, n // 2, n - 1):
        np.testing.assert_array_equal(c.sfb[k], sfb(kept[k].mask_a, kept[k].mask_b, DESC))
    # questions keep their item index
    qs = c.questions()
    expect = [(k, q.text, q.answer) for k, s in enumerate(kept) for q in s.questions]
    assert [(q["index"], q["text"], q["answer"]) for q in qs] == expect
    assert c.has_labels and c.has_questions
    assert c.normalize == "max" and c.n_angles == 36 and len(c.forces) == 57
    assert not (out / "chunks").exists() and not (out / "run.json").exists()
    assert c.manifest["run"]["params"]["image_size"] == S


def test_rerun_on_finished_cache(built, tmp_path):
    src, out, _ = built
    res = _build(src, out)
    assert res["status"] == "already-complete"
    with pytest.raises(CacheError, match="other parameters"):
        _build(src, out, desc=DescriptorParams.make("default", 36, "none"))


def test_workers_and_chunking_do_not_change_content(built, tmp_path):
    src, out, _ = built
    other = tmp_path / "w2"
    _build(src, other, workers=2, chunk=8)
    _same(_arrays(out), _arrays(other))
    assert Cache(other).content_hash == Cache(out).content_hash


def test_source_split_is_used(tmp_path):
    src = RandomSource(n=9, size=32, with_split=True)
    _build(src, tmp_path / "c")
    np.testing.assert_array_equal(Cache(tmp_path / "c").split, [i % 3 for i in range(9)])


@pytest.mark.parametrize("n, crash_at, delay", [(30, 13, 0.0), (70, 3, 0.004), (70, 25, 0.0)])
def test_a_loader_process_that_dies_skips_only_its_item(tmp_path, n, crash_at, delay):
    # a crash early in a long run: chunks queued on the broken pool, and on its replacement,
    # must all be recovered (none cancelled, none submitted to a dead pool)
    src = RandomSource(n=n, seed=3, size=32, crash_at=crash_at, delay=delay)
    res = _build(src, tmp_path / "c", workers=2, chunk=10)
    c = Cache(tmp_path / "c")
    assert len(c) == n - 1 and c.skipped["reasons"] == {"error: loader process died": 1}
    first = c.skipped["items"][0]
    assert (first["index"], first["reason"]) == (crash_at, "error: loader process died")
    assert res["stats"]["loader_restarts"] >= 1
    ref = RandomSource(n=n, seed=3, size=32, skip_every=0)
    assert c.ids == [ref.load(i).id for i in range(n) if i != crash_at]


def test_odd_image_size(tmp_path):
    _build(RandomSource(n=5, size=32), tmp_path / "c", image_size=20)
    c = Cache(tmp_path / "c")
    assert c.masks_packed.shape == (5, 2, 20, 3) and c.masks(0).shape == (2, 20, 20)
    assert c.masks(slice(0, 2)).shape == (2, 2, 20, 20) and c.masks(0).any()


def test_all_skipped_is_a_clear_error(tmp_path):
    with pytest.raises(CacheError, match=r"no usable item.*'unlucky': 12"):
        _build(RandomSource(n=12, skip_all=True), tmp_path / "c")
    assert not (tmp_path / "c" / "manifest.json").exists()


def test_resume_skips_finished_chunks_and_refuses_other_params(tmp_path):
    import os

    from csip.cache.chunks import _host

    src = RandomSource(n=32, seed=1, size=32)
    out = tmp_path / "c"
    _build(src, out, shard=(0, 2))  # chunks 0 and 2 of 4: an "interrupted" run
    with pytest.raises(CacheError, match="normalize"):
        _build(src, out, desc=DescriptorParams.make("default", 36, "none"))
    with pytest.raises(CacheError, match="image_size"):
        _build(src, out, image_size=64)
    _build(src, out, shard=(1, 4))  # chunk 1
    chunks = out / "chunks"
    # a temporary chunk left by a dead process is removed; damaged final chunks are recomputed
    stale = chunks / f".tmp-chunk-000003-{_host()}-999999999-abcd"
    stale.mkdir()
    stale_final = out / f".consolidate-tmp-{_host()}-999999999"
    stale_final.mkdir()
    (stale_final / "images.npy").write_bytes(b"partial")
    victim = chunks / "chunk-000001" / "sfb.npy"
    victim.write_bytes(victim.read_bytes()[:-10])  # truncated
    victim = chunks / "chunk-000002" / "images.npy"
    raw = bytearray(victim.read_bytes())
    raw[-7] ^= 0x55  # same size, other bytes
    victim.write_bytes(bytes(raw))
    kept = os.stat(chunks / "chunk-000000").st_ino
    res = _build(src, out, keep_chunks=True)
    assert res["stats"]["chunks_done_before"] == 1 and res["stats"]["chunks_computed"] == 3
    assert os.stat(chunks / "chunk-000000").st_ino == kept and not stale.exists() and not stale_final.exists()
    assert sorted(p.name for p in chunks.iterdir()) == [f"chunk-00000{c}" for c in range(4)]  # --keep-chunks
    ref = tmp_path / "ref"
    _build(src, ref)
    _same(_arrays(out), _arrays(ref))
    assert not (ref / "chunks").exists()


def test_last_chunk_computed_goes_straight_to_the_final_arrays(tmp_path):
    """The last chunk a run computes is appended from memory (never written as a chunk), even
    when chunks after it were finished by an earlier run; the result is the single run's."""
    src = RandomSource(n=32, seed=2, size=32, skip_every=5)
    out = tmp_path / "c"
    for i in (1, 2, 3):
        _build(src, out, shard=(i, 4))  # chunks 1, 2, 3 of 4
    res = _build(src, out)
    assert res["stats"]["chunks_done_before"] == 3 and res["stats"]["chunks_computed"] == 1
    assert not (out / "chunks").exists()
    ref = tmp_path / "ref"
    _build(src, ref)
    _same(_arrays(out), _arrays(ref))
    a, b = (json.loads((d / "manifest.json").read_text()) for d in (out, ref))
    assert a["files"] == b["files"] and a["skipped"] == b["skipped"] and a["counts"] == b["counts"]


def test_shards_merge_to_the_single_run(built, tmp_path):
    src, out, _ = built
    dirs = [tmp_path / f"s{i}" for i in range(3)]
    for i, d in enumerate(dirs):
        r = _build(src, d, shard=(i, 3))
        assert r["status"] == "shard-complete"
        assert (d / f"shard-{i}-of-3.json").exists()
    with pytest.raises(CacheError, match="missing.*shard"):
        merge(dirs[:2], tmp_path / "m0")
    with pytest.raises(CacheError, match="incomplete"):
        Cache(dirs[0])
    merged = tmp_path / "m"
    merge(dirs, merged)
    _same(_arrays(out), _arrays(merged))
    # the single run grew its arrays chunk by chunk (headers sized for 30 items, 21 kept, then
    # rewritten); the merge concatenated finished chunks: the same bytes
    files = [json.loads((d / "manifest.json").read_text())["files"] for d in (out, merged)]
    assert files[0] == files[1]
    Cache(out, verify=True), Cache(merged, verify=True)  # the recorded sums are the files' sums
    # shards of another run are refused
    odd = tmp_path / "odd"
    _build(src, odd, shard=(0, 3), image_size=64)
    with pytest.raises(CacheError, match="image_size"):
        merge([dirs[0], odd, dirs[1], dirs[2]], tmp_path / "m2")


def test_shards_may_share_one_directory(built, tmp_path):
    src, out, _ = built
    d = tmp_path / "shared"
    for i in range(2):
        _build(src, d, shard=(i, 2))
    merge([d], d)
    _same(_arrays(out), _arrays(d))


def test_reader_errors(built, tmp_path):
    _, out, _ = built
    with pytest.raises(CacheError, match="does not exist"):
        Cache(tmp_path / "nope")
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    man = json.loads((bad / "manifest.json").read_text())
    man["format_version"] = 999
    (bad / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(CacheError, match="format version 999"):
        Cache(bad)
    (bad / "manifest.json").write_text("{ half a manif")
    with pytest.raises(CacheError, match="corrupt"):
        Cache(bad)
    shutil.rmtree(bad)
    shutil.copytree(out, bad)
    p = bad / "images.npy"
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(CacheError, match="truncated"):
        Cache(bad)
    shutil.rmtree(bad)
    shutil.copytree(out, bad)
    p = bad / "sfb.npy"
    raw = bytearray(p.read_bytes())
    raw[-3] ^= 0xFF
    p.write_bytes(bytes(raw))
    with pytest.raises(CacheError, match="sfb.npy: checksum"):  # sizes are right, the sums are not
        Cache(bad)
    with pytest.raises(CacheError, match="checksum"):
        Cache(bad, verify=True)


def test_dataset_and_loader(built):
    import torch
    from torch.utils.data import DataLoader

    from csip.cache import CacheDataset

    _, out, _ = built
    c = Cache(out)
    ds = CacheDataset(out)
    item = ds[1]
    assert set(item) == {"image", "sfb", "boxes", "label", "index"}
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, S, S)
    assert item["sfb"].dtype == torch.float32 and item["sfb"].shape == (57, 36)
    assert item["boxes"].shape == (2, 4) and item["label"].dtype == torch.int64
    np.testing.assert_array_equal(item["sfb"].numpy(), c.sfb[1])
    train = CacheDataset(out, split="train", with_masks=True)
    assert len(train) == int((c.split == 0).sum())
    assert all(int(train[k]["index"]) in set(np.flatnonzero(c.split == 0)) for k in range(len(train)))
    assert train[0]["masks"].shape == (2, S, S)
    ds2 = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(ds2[2]["image"].numpy(), c.images[2])
    batches = list(DataLoader(ds, batch_size=8, num_workers=2))
    got = torch.cat([b["index"] for b in batches])
    assert got.tolist() == list(range(len(c)))
    np.testing.assert_array_equal(torch.cat([b["sfb"] for b in batches]).numpy(), c.sfb)


def test_crop_pad_resize_geometry():
    h, w = 60, 100
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = 200
    a = np.zeros((h, w), bool)
    a[10:20, 10:30] = True  # A at the left
    b = np.zeros((h, w), bool)
    b[30:40, 70:90] = True  # B at the right, lower
    s = Sample("g", img, a, b, (10, 10, 30, 20), (70, 30, 90, 40))
    image, boxes, packed = crop_pad_resize(s, 64)
    # union box 80 x 30 -> 64 x 24, centred vertically: rows 20..44
    np.testing.assert_allclose(boxes[0], [0, 20 / 64, 20 * 0.8 / 64, 28 / 64], atol=1e-6)
    np.testing.assert_allclose(boxes[1], [1 - 16 / 64, 36 / 64, 1, 44 / 64], atol=1e-6)
    assert image[0, :20].max() == 0 and image[0, 44:].max() == 0  # black padding
    assert image[0, 20:44].min() == 200
    # the picture is Pillow's bilinear resize of the union box, byte for byte (the paper's code)
    from PIL import Image

    noisy = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    image, _, _ = crop_pad_resize(Sample("n", noisy, a, b, (10, 10, 30, 20), (70, 30, 90, 40)), 64)
    want = np.asarray(Image.fromarray(noisy[10:40, 10:90]).resize((64, 24), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(image[:, 20:44].transpose(1, 2, 0), want)
    m = np.unpackbits(packed, axis=-1, count=64).astype(bool)
    ys, xs = np.nonzero(m[0])
    assert (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) == (20, 28, 0, 16)
    ys, xs = np.nonzero(m[1])
    assert (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) == (36, 44, 48, 64)


def test_padded_npy_header_reads_back(tmp_path):
    from csip.cache.format import npy_header_bytes, pad_npy_header

    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    header = npy_header_bytes(a.shape, a.dtype)
    for extra in (0, 1, 64, 200):
        p = tmp_path / f"a{extra}.npy"
        p.write_bytes(pad_npy_header(header, len(header) + extra) + a.tobytes())
        np.testing.assert_array_equal(np.load(p, allow_pickle=False), a)
        assert p.stat().st_size == len(header) + extra + a.nbytes
    with pytest.raises(ValueError, match="does not fit"):
        pad_npy_header(header, len(header) - 1)


def _two_blobs(h=40, w=50):
    img = np.zeros((h, w, 3), np.uint8)
    a = np.zeros((h, w), bool)
    a[5:15, 5:20] = True
    b = np.zeros((h, w), bool)
    b[22:35, 28:45] = True
    return img, a, b


def test_banner_masks_inside_and_outside_the_boxes():
    img, a, b = _two_blobs()
    want = sfb(a, b, DESC)
    tight = Sample("t", img, a, b, (5, 5, 20, 15), (28, 22, 45, 35))
    loose = Sample("l", img, a, b, (0, 0, 25, 20), (25, 20, 50, 40))
    # boxes that miss part of a mask (a source's error): the banner still sees every pixel
    short = Sample("s", img, a, b, (5, 5, 12, 15), (28, 22, 40, 30))
    for sample in (tight, loose, short):
        it = add_banners([prepare_sample(sample, 0, S)], DESC)[0]
        np.testing.assert_array_equal(it.sfb, want, err_msg=sample.id)
        assert it.sfb_a is None and it.sfb_b is None  # full-resolution crops are not sent back


def test_add_banners_isolates_bad_pairs(monkeypatch):
    import csip.descriptor as descriptor

    img, a, b = _two_blobs()
    items = [prepare_sample(Sample(f"i{k}", img, a, b, (5, 5, 20, 15), (28, 22, 45, 35)), k, S) for k in range(4)]
    items[1].sfb_b = items[1].sfb_b[:-1]  # shapes disagree: the engine refuses this pair
    real = descriptor.sfb_pairs

    def nan_for_item_2(ma, mb, *args, **kw):
        out = real(ma, mb, *args, **kw)
        for k, m in enumerate(ma):
            if m is items[2].sfb_a:
                out[k, 0, 0] = np.nan
        return out

    monkeypatch.setattr(descriptor, "sfb_pairs", nan_for_item_2)
    res = add_banners([items[0], Skipped(9, "unlucky"), items[1], items[2], items[3]], DESC)
    assert [type(r) for r in res] == [PreparedItem, Skipped, Skipped, Skipped, PreparedItem]
    assert res[1].reason == "unlucky" and res[2].reason == "error: sfb ValueError"
    assert res[3].reason == "error: non-finite sFB" and res[3].index == 2
    want = sfb(a, b, DESC)
    np.testing.assert_array_equal(res[0].sfb, want)
    np.testing.assert_array_equal(res[4].sfb, want)
