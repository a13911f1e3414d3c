"""Checkpoints: atomic writes, RNG round trip, weights_only loading, encoder export/load/encode."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import csip
from csip.base.files import atomic_write
from csip.models.checkpoint import load_checkpoint, save_checkpoint
from csip.models.encoder import encode, export_encoder, load_encoder
from csip.train.config import TrainConfig
from csip.train.rng import capture_rng_state, restore_rng_state
from csip.train.run import train
from toydata import ToyPairs


def test_rng_state_round_trip_through_weights_only_file(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.normal()  # leaves a cached gaussian
    state = capture_rng_state()
    save_checkpoint(tmp_path / "c.pt", {"format": "csip-checkpoint", "version": 1, "rng": state})
    want = (random.random(), np.random.normal(), float(torch.rand(1)))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    assert (random.random(), np.random.normal(), float(torch.rand(1))) == want


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    p = tmp_path / "f.bin"
    atomic_write(p, lambda tmp: open(tmp, "wb").write(b"old"))

    def boom(tmp):
        open(tmp, "wb").write(b"partial")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(p, boom)
    assert p.read_bytes() == b"old"
    assert [q.name for q in tmp_path.iterdir()] == ["f.bin"]  # no temporary left behind


def test_load_checkpoint_rejects_other_files(tmp_path):
    torch.save({"a": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a csip checkpoint"):
        load_checkpoint(tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_memory_mapped_checkpoint_holds_the_same_records_and_tensors(tmp_path):
    state = {"format": "csip-checkpoint", "version": 1, "train_config": {"model": "2d", "lr": 1e-3},
             "model": {"w": torch.randn(3, 5), "b": torch.arange(4)}}
    save_checkpoint(tmp_path / "c.pt", state)
    mapped, read = load_checkpoint(tmp_path / "c.pt", mmap=True), load_checkpoint(tmp_path / "c.pt")
    assert mapped["train_config"] == read["train_config"] == state["train_config"]
    assert all(torch.equal(mapped["model"][k], state["model"][k]) for k in state["model"])


@pytest.mark.parametrize(("model", "supervised"), [("resnet18+2d", False), ("2d", True)])
def test_export_and_load_encoder(tmp_path, model, supervised):
    out = tmp_path / "run"
    ds = ToyPairs(16, 16, 5, 16)
    train(TrainConfig(out=str(out), model=model, epochs=1, batch_size=8, workers=0, progress=False,
                      feature_dim=16, embed_dim=8, spatial_channels=4, supervised=supervised), ds)
    ckpt = out / "checkpoints" / "final.pt"
    from_ckpt = csip.load_encoder(ckpt)
    from_run = load_encoder(out)
    exported = load_encoder(export_encoder(ckpt, tmp_path / "enc"))
    assert (tmp_path / "enc" / "model.safetensors").is_file() and (tmp_path / "enc" / "config.json").is_file()
    assert not from_ckpt.training and from_ckpt.uses == (("boxes",) if model == "2d" else ("image", "boxes"))
    items = [ds[i] for i in range(4)]
    batch = {k: torch.stack([it[k] for it in items]) for k in ("image", "boxes")}
    with torch.no_grad():
        f = from_ckpt.features(batch)
        assert f.shape == (4, 16)
        torch.testing.assert_close(from_run.features(batch), f)
        torch.testing.assert_close(exported.features(batch), f)
        e = exported.embed(batch)
        assert e.shape == ((4, 16) if supervised else (4, 8))
        torch.testing.assert_close(e.norm(dim=1), torch.ones(4))
    feats = encode(exported, ds, batch_size=5)
    assert feats.shape == (16, 16) and feats.dtype == np.float32
    np.testing.assert_allclose(feats[:4], f.numpy(), rtol=1e-5, atol=1e-6)
