"""csip.cache.batches: whole batches from the memory maps, equal to the DataLoader path's batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset

from cache_helpers import RandomSource
from csip.cache import BatchReader, Cache, CacheDataset, batches
from csip.cache.order import EpochBatchSampler, epoch_permutation, flip_mask
from csip.cache.writer import build
from csip.descriptor import DescriptorParams
from csip.train.config import TrainConfig
from csip.train.metrics import read_metrics
from csip.train.run import train
from csip.train.step import to_device

S = 24
KEYS = ("image", "sfb", "boxes", "label", "index")

pytest.importorskip("csip_core._csip_core", reason="the Rust extension is not built")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("batches") / "c"
    build(RandomSource(n=60, seed=5, size=40), out, image_size=S, desc=DescriptorParams.make("default", 12, "max"),
          workers=0, chunk=16, progress=False, spec="python:cache_helpers:make_source")
    return out


def _dataloader_batches(path, split, batch_size, seed, epoch, rank=0, world=1, start=0, keys=KEYS, flip=True):
    """Today's path, as the training loop ran it: DataLoader over CacheDataset with the
    EpochBatchSampler, to_device, then hflip_batch with the rank's slice of flip_mask."""
    from csip.cache.order import hflip_batch

    ds = CacheDataset(path, split=split)
    sampler = EpochBatchSampler(len(ds), batch_size, seed, epoch, rank, world, start=start)
    local = batch_size // world
    out = []
    for step, raw in enumerate(DataLoader(ds, batch_sampler=sampler, num_workers=0), start):
        b = to_device(raw, torch.device("cpu"), keys, False)
        if flip:
            b = hflip_batch(b, flip_mask(seed, epoch, step, batch_size)[rank * local:(rank + 1) * local])
        out.append(b)
    return out


def _numpy_batches(path, split, batch_size, seed, epoch, rank=0, world=1, start=0):
    """An independent reference from the arrays themselves: rows of the epoch permutation,
    image columns reversed, boxes x ↦ 1 − x, banner column k → (K − k) mod K where flipped."""
    from csip.data import PREDICATES

    c = Cache(path)
    idx = c.indices(split)
    perm = epoch_permutation(len(idx), seed, epoch)
    local = batch_size // world
    left, right = PREDICATES.index("to the left of"), PREDICATES.index("to the right of")
    out = []
    for b in range(start, len(idx) // batch_size):
        lo = b * batch_size + rank * local
        rows = idx[perm[lo:lo + local]]
        m = np.asarray(flip_mask(seed, epoch, b, batch_size))[rank * local:(rank + 1) * local]
        img, sfb, boxes, lab = (np.array(c.images[rows]), np.array(c.sfb[rows]), np.array(c.boxes[rows]),
                                np.array(c.labels[rows]))
        img[m] = img[m][..., ::-1]
        k = sfb.shape[-1]
        sfb[m] = sfb[m][..., (k - np.arange(k)) % k]
        fb = boxes[m].copy()
        boxes[m] = np.stack([1 - fb[..., 2], fb[..., 1], 1 - fb[..., 0], fb[..., 3]], -1)
        lab[m] = np.where(lab[m] == left, right, np.where(lab[m] == right, left, lab[m]))
        out.append({"image": img, "sfb": sfb, "boxes": boxes, "label": lab, "index": rows})
    return out


def _assert_same(got, want):
    assert len(got) == len(want) > 0
    for g, w in zip(got, want):
        assert list(g) == list(w)
        for k in g:
            assert g[k].dtype == torch.as_tensor(w[k]).dtype, k
            assert torch.equal(g[k], torch.as_tensor(w[k])), k


@pytest.mark.parametrize("threads", [0, 1, 2])
@pytest.mark.parametrize("split,batch_size,seed,epoch,start", [("train", 8, 0, 0, 0), ("train", 6, 3, 2, 2),
                                                               (None, 16, 1, 1, 1)])
def test_batches_equal_the_dataloader_path_and_the_arrays(cache_dir, threads, split, batch_size, seed, epoch, start):
    got = list(batches(cache_dir, split, batch_size, seed, epoch, start=start, threads=threads))
    _assert_same(got, _dataloader_batches(cache_dir, split, batch_size, seed, epoch, start=start))
    _assert_same(got, _numpy_batches(cache_dir, split, batch_size, seed, epoch, start=start))
    n = len(Cache(cache_dir).indices(split))
    assert len(got) == n // batch_size - start
    plain = _dataloader_batches(cache_dir, split, batch_size, seed, epoch, start=start, flip=False)
    assert any(not torch.equal(g["image"], p["image"]) for g, p in zip(got, plain))  # some items were flipped


def test_each_rank_reads_its_part_of_the_global_batch(cache_dir):
    full = list(batches(cache_dir, "train", 8, seed=2, epoch=1))
    parts = [list(batches(cache_dir, "train", 8, seed=2, epoch=1, rank=r, world=4, threads=1)) for r in range(4)]
    for r in range(4):
        _assert_same(parts[r], _dataloader_batches(cache_dir, "train", 8, 2, 1, rank=r, world=4))
    assert all(p["image"].shape[0] == 2 for p in parts[0])
    for b, whole in enumerate(full):  # the ranks' parts, in rank order, are the global batch, flips included
        for k in KEYS:
            assert torch.equal(torch.cat([parts[r][b][k] for r in range(4)]), whole[k]), k


def test_keys_no_flip_and_reuse_between_epochs(cache_dir):
    reader = BatchReader(cache_dir, "train", 8, seed=4, keys=("sfb", "image"), flip=False, threads=2, prefetch=2,
                         channels_last=True)
    assert len(reader) == len(Cache(cache_dir).indices("train")) // 8
    it = reader.epoch(0)
    next(it)
    it.close()  # an abandoned epoch: its reads in flight end, the next epoch starts clean
    for epoch in (1, 0):
        got = list(reader.epoch(epoch, start=1))
        _assert_same(got, _dataloader_batches(cache_dir, "train", 8, 4, epoch, start=1, keys=("sfb", "image"),
                                              flip=False))
        assert got[0]["image"].is_contiguous(memory_format=torch.channels_last)
    assert list(reader.epoch(0, start=len(reader))) == []


def test_reused_host_buffers_hold_each_batch_until_the_next(cache_dir):
    want = _dataloader_batches(cache_dir, "train", 8, 0, 0)
    for threads in (0, 2):
        reader = BatchReader(cache_dir, "train", 8, threads=threads, reuse=True)
        for g, w in zip(reader.epoch(0), want):  # compared before the next batch is taken
            for k in KEYS:
                assert torch.equal(g[k], w[k]), k


def test_a_split_smaller_than_the_batch_gives_no_batch(cache_dir):
    assert list(batches(cache_dir, "val", 1000)) == []


@pytest.mark.parametrize("kw,match", [
    (dict(keys=("image", "masks")), "keys must be distinct names among"),
    (dict(keys=("image", "image")), "keys must be distinct names among"),
    (dict(batch_size=6, world=4), "batch_size 6 is not a multiple of world = 4 processes"),
    (dict(batch_size=0), r"batch_size=0: expected an integer >= 1"),
    (dict(rank=2, world=2), "rank 2 of world 2"),
    (dict(split="training"), "split must be one of"),
    (dict(threads=-1), r"threads=-1: expected an integer >= 0"),
    (dict(prefetch=0), r"prefetch=0: expected an integer >= 1"),
    (dict(seed=-1), r"seed=-1: expected an integer >= 0"),  # numpy's "expected non-negative integer" before
    (dict(epoch=-1), r"epoch=-1: expected an integer >= 0"),
    (dict(batch_size=32.7), r"batch_size=32.7: expected an integer"),  # quietly 32 before
    (dict(batch_size=True), r"batch_size=True: expected an integer"),  # 1 item per batch before
    (dict(rank=0.5, world=2), r"rank=0.5: expected an integer"),
])
def test_bad_arguments_are_refused_at_the_call(cache_dir, kw, match):
    from csip.base.errors import BadOption

    args = dict(split="train", batch_size=8)
    args.update(kw)
    with pytest.raises(ValueError, match=match) as err:
        list(batches(cache_dir, **args))
    assert isinstance(err.value, BadOption) or "keys" in match or "split" in match


def test_not_a_cache_is_a_clear_error(tmp_path):
    from csip.cache import CacheError

    with pytest.raises(CacheError, match="does not exist"):
        batches(tmp_path / "nothing")


def test_training_on_a_cache_reads_batches_and_repeats_the_dataloader_run(cache_dir, tmp_path, monkeypatch):
    """train() on a CacheDataset uses the BatchReader (any thread count), and logs the very losses of
    the same run fed by the DataLoader (a Subset of the cache is no CacheDataset: the old path)."""
    cfg = dict(model="resnet18", epochs=2, batch_size=8, log_every=1, progress=False, feature_dim=16,
               embed_dim=8, spatial_channels=4, lr=1e-3, device="cpu", val_split=None)
    ds = CacheDataset(cache_dir, split="train")
    epochs_read = []
    orig = BatchReader.epoch

    def spy(self, epoch, start=0):
        epochs_read.append((epoch, start))
        return orig(self, epoch, start)

    monkeypatch.setattr(BatchReader, "epoch", spy)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(TrainConfig(out=str(tmp_path / "dl"), workers=0, **cfg), Subset(ds, range(len(ds))))
        assert epochs_read == []
        train(TrainConfig(out=str(tmp_path / "b0"), workers=0, **cfg), ds)
        assert epochs_read == [(0, 0), (1, 0)]
        train(TrainConfig(out=str(tmp_path / "b2"), workers=2, **cfg), ds)
    finally:
        torch.set_num_threads(threads)
    ref = [r["loss"] for r in read_metrics(tmp_path / "dl")]
    assert len(ref) == 2 * (len(ds) // 8) and all(math.isfinite(x) for x in ref)
    assert [r["loss"] for r in read_metrics(tmp_path / "b0")] == ref
    assert [r["loss"] for r in read_metrics(tmp_path / "b2")] == ref


def test_resumed_training_on_a_cache_starts_at_the_step_in_epoch(cache_dir, tmp_path, monkeypatch):
    """A run stopped mid-epoch (the read of its 5th batch fails, after the step-3 checkpoint) and resumed
    logs the same losses as the uninterrupted run: the reader starts at the checkpoint's step."""
    cfg = dict(model="2d", epochs=2, batch_size=8, log_every=1, progress=False, feature_dim=16, embed_dim=8,
               spatial_channels=4, lr=1e-3, device="cpu", val_split=None, save_every=3, workers=0)
    ds = CacheDataset(cache_dir, split="train")
    assert len(ds) // 8 >= 5  # the failing read is inside epoch 0
    train(TrainConfig(out=str(tmp_path / "ref"), **cfg), ds)
    orig = BatchReader._fill
    starts = []
    orig_epoch = BatchReader.epoch

    def failing(self, out, arrays, rows, epoch, step, wait=None):
        if epoch == 0 and step == 4:
            raise RuntimeError("disk gone")
        return orig(self, out, arrays, rows, epoch, step, wait)

    def spy(self, epoch, start=0):
        starts.append((epoch, start))
        return orig_epoch(self, epoch, start)

    monkeypatch.setattr(BatchReader, "_fill", failing)
    with pytest.raises(RuntimeError, match="disk gone"):
        train(TrainConfig(out=str(tmp_path / "cut"), **cfg), ds)
    monkeypatch.setattr(BatchReader, "_fill", orig)
    monkeypatch.setattr(BatchReader, "epoch", spy)
    train(TrainConfig(out=str(tmp_path / "cut"), resume=True, **cfg), ds)
    assert starts == [(0, 3), (1, 0)]
    a = {r["step"]: r["loss"] for r in read_metrics(tmp_path / "ref")}
    b = {r["step"]: r["loss"] for r in read_metrics(tmp_path / "cut")}
    assert sorted(a) == sorted(b) == list(range(1, 2 * (len(ds) // 8) + 1))
    for step in a:
        assert b[step] == pytest.approx(a[step], abs=1e-6), step


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("threads", [0, 2])
def test_cuda_batches_equal_the_dataloader_path(cache_dir, threads):
    """On CUDA (pinned ring, side-stream copies, flips on the device): the DataLoader path's
    batches, over several epochs of one reader (the ring reused), and for each rank."""
    reader = BatchReader(cache_dir, "train", 8, seed=1, device="cuda", threads=threads, prefetch=2,
                         channels_last=True)
    for epoch in range(3):
        got = [{k: v.cpu() for k, v in b.items()} for b in reader.epoch(epoch)]
        _assert_same(got, _dataloader_batches(cache_dir, "train", 8, 1, epoch))
    part = [{k: v.cpu() for k, v in b.items()} for b in batches(cache_dir, "train", 8, 1, 2, rank=1, world=2,
                                                                 device="cuda", threads=threads)]
    _assert_same(part, _dataloader_batches(cache_dir, "train", 8, 1, 2, rank=1, world=2))
