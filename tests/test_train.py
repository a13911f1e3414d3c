"""Training loop: data order, smoke runs, exact resume after SIGKILL, faults, CLI."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from csip.cache.order import EpochBatchSampler, flip_mask
from csip.models.checkpoint import load_checkpoint
from csip.train.config import TrainConfig
from csip.train.data import DataError
from csip.train.loss_monitor import TrainingDiverged
from csip.train.metrics import read_metrics
from csip.train.run import train
from csip.train.schedule import warmup_cosine
from toydata import ToyPairs

PYTHON_DIR = str(Path(__file__).resolve().parents[1] / "python")


def _cfg(out, **kw) -> TrainConfig:
    base = dict(out=str(out), model="2d", epochs=2, batch_size=8, workers=0, log_every=1, progress=False,
                feature_dim=16, embed_dim=8, spatial_channels=4)
    base.update(kw)
    return TrainConfig(**base)


def test_sampler_is_a_function_of_seed_and_epoch_and_shards_the_global_batch():
    full = list(EpochBatchSampler(20, 4, seed=3, epoch=1))
    assert len(full) == 5 and sorted(sum(full, [])) == list(range(20))
    assert full == list(EpochBatchSampler(20, 4, seed=3, epoch=1))
    assert full != list(EpochBatchSampler(20, 4, seed=3, epoch=2))
    r0 = list(EpochBatchSampler(20, 4, 3, 1, rank=0, world=2))
    r1 = list(EpochBatchSampler(20, 4, 3, 1, rank=0 + 1, world=2))
    assert [a + b for a, b in zip(r0, r1)] == full
    assert list(EpochBatchSampler(20, 4, 3, 1, start=3)) == full[3:]
    moving = EpochBatchSampler(20, 4, 3, 0)
    moving.set_epoch(1, 2)
    assert list(moving) == full[2:] and len(moving) == 3
    assert torch.equal(flip_mask(0, 1, 2, 16), flip_mask(0, 1, 2, 16))


def test_warmup_cosine():
    f = warmup_cosine(4, 20, 0.1)
    assert f(0) == pytest.approx(0.25) and f(3) == pytest.approx(1.0)
    assert f(4) == pytest.approx(1.0) and f(20) == pytest.approx(0.1)
    assert all(f(i) >= f(i + 1) for i in range(4, 20))


def test_train_smoke_writes_params_metrics_checkpoints(tmp_path):
    out = tmp_path / "run"
    res = train(_cfg(out, tensorboard=True), ToyPairs(32, 16, 5, 16), val_dataset=ToyPairs(10, 16, 5, 16, seed=1))
    val = read_metrics(out, "val")
    assert [r["epoch"] for r in val] == [0, 1] and all(0 <= r["val_top1"] <= 1 for r in val)
    assert res["steps"] == 8
    params = json.loads((out / "params.json").read_text())
    assert params["model_config"]["spatial_encoder"]["n_angles"] == 16
    recs = read_metrics(out)
    assert [r["step"] for r in recs] == list(range(1, 9))
    for key in ("loss", "logit_scale", "lr", "images_per_s", "epoch"):
        assert key in recs[0]
    assert all(math.isfinite(r["loss"]) for r in recs)
    assert (out / "checkpoints" / "final.pt").is_file() and (out / "checkpoints" / "last.pt").is_file()
    assert any((out / "tensorboard").iterdir())
    state = load_checkpoint(out / "checkpoints" / "final.pt")  # weights_only=True
    assert state["step"] == 8
    with pytest.raises(FileExistsError):
        train(_cfg(out), ToyPairs(32, 16, 5, 16))


def test_supervised_smoke_and_label_check(tmp_path):
    res = train(_cfg(tmp_path / "sup", supervised=True, epochs=3), ToyPairs(32, 16, 5, 16))
    losses = [r["loss"] for r in read_metrics(tmp_path / "sup")]
    assert res["steps"] == 12 and "logit_scale" not in read_metrics(tmp_path / "sup")[0]
    assert all(math.isfinite(x) for x in losses)
    ds = ToyPairs(16, 16, 5, 16)
    ds.labels = np.full(16, -1)
    with pytest.raises(DataError, match="labels"):
        train(_cfg(tmp_path / "sup2", supervised=True), ds)


def test_empty_data_and_banner_mismatch(tmp_path):
    with pytest.raises(DataError, match="no items"):
        train(_cfg(tmp_path / "empty"), ToyPairs(0, 16, 5, 16))
    with pytest.raises(DataError, match="manifest"):
        train(_cfg(tmp_path / "m1"), ToyPairs(16, 16, 5, 16), {"n_levels": 57, "n_angles": 180})
    train(_cfg(tmp_path / "m2", epochs=1), ToyPairs(16, 16, 5, 16))
    with pytest.raises(DataError, match="model was built for"):
        train(_cfg(tmp_path / "m2", epochs=2, resume=True), ToyPairs(16, 16, 5, 12))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    out = tmp_path / "nan"
    ds = ToyPairs(32, 16, 5, 16, nan_at=5)
    with pytest.raises(TrainingDiverged, match="Last good checkpoint") as err:
        train(_cfg(out, epochs=3, save_every=1), ds)
    bad_step = int(str(err.value).split("at step ")[1].split()[0])
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["step"] == bad_step - 1
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert not (out / "checkpoints" / "final.pt").exists()


def _kill_cfg(out: Path, resume: bool) -> TrainConfig:
    cfg = TrainConfig(out=str(out), model="2d", epochs=2, batch_size=8, workers=0, log_every=1, progress=False,
                      feature_dim=16, embed_dim=8, spatial_channels=4, save_every=3, resume=resume, lr=1e-3)
    if resume:  # --resume takes the run-defining options from the checkpoint, not from the call
        cfg.lr, cfg.epochs, cfg.seed = 123.0, 99, 7
    return cfg


_CHILD = textwrap.dedent(
    """
    import sys, torch
    torch.set_num_threads(1)
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from toydata import ToyPairs
    from csip.train import train
    from test_train import _kill_cfg
    train(_kill_cfg(Path(sys.argv[1]), False), ToyPairs(64, 16, 5, 16, delay=0.03))
    """
)


def test_resume_after_sigkill_repeats_the_uninterrupted_run(tmp_path):
    """A run SIGKILLed mid-epoch, then resumed, logs the same losses (and ends with the same
    weights) as an uninterrupted run. The killed run is a subprocess; the others run here."""
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(cut), str(Path(__file__).parent)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the child: same reduction order, same bits
    try:
        train(_kill_cfg(ref, False), ToyPairs(64, 16, 5, 16))  # meanwhile, the child imports torch
        deadline = time.time() + 100
        while time.time() < deadline and child.poll() is None:
            recs = read_metrics(cut) if (cut / "metrics.jsonl").exists() else []
            if recs and recs[-1]["step"] >= 4:  # after the step-3 checkpoint, inside epoch 0 (8 steps)
                break
            time.sleep(0.01)
        assert child.poll() is None, child.stderr.read().decode()
        child.send_signal(signal.SIGKILL)
        child.wait()
        state = load_checkpoint(cut / "checkpoints" / "last.pt")
        assert 0 < state["step"] < 8 and state["step_in_epoch"] == state["step"]  # mid-epoch
        assert not (cut / "checkpoints" / "final.pt").exists()
        train(_kill_cfg(cut, True), ToyPairs(64, 16, 5, 16))
    finally:
        torch.set_num_threads(threads)
        if child.poll() is None:
            child.kill()
    a = {r["step"]: r["loss"] for r in read_metrics(ref)}
    b = {r["step"]: r["loss"] for r in read_metrics(cut)}
    assert sorted(a) == sorted(b) == list(range(1, 17))
    for step in a:  # same thread count, same ops: expected bit-identical, asserted to 1e-6
        assert b[step] == pytest.approx(a[step], abs=1e-6), step
    print("max |loss difference| after resume:", max(abs(a[s] - b[s]) for s in a))
    ra = load_checkpoint(ref / "checkpoints" / "final.pt")
    rb = load_checkpoint(cut / "checkpoints" / "final.pt")
    for k in ra["model"]:
        torch.testing.assert_close(ra["model"][k], rb["model"][k], rtol=0, atol=1e-6)
    assert ra["step"] == rb["step"] == 16


def test_cli_pretrain_and_export(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import csip
    import csip.train.run as tr
    from csip.cli import main

    def fake_open_cache(path, split, labelled_only=False):
        ds = ToyPairs(24, 16, 5, 16)
        return ds, {"cache": str(path), "split": split, "n_items": len(ds), "n_levels": 5, "n_angles": 16,
                    "image_size": 16}

    monkeypatch.setattr(tr, "open_cache", fake_open_cache)
    out, exp = tmp_path / "run", tmp_path / "enc"
    args = ["pretrain", "--cache", str(tmp_path), "--model", "2d", "--out", str(out), "--epochs", "1",
            "--batch-size", "8", "--workers", "0", "--no-progress", "--feature-dim", "16", "--embed-dim", "8",
            "--export", str(exp)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    tower = csip.load_encoder(exp)
    assert tower.features({"boxes": torch.rand(3, 2, 4)}).shape == (3, 16)
    res = CliRunner().invoke(main, ["pretrain", "--help"])
    assert res.exit_code == 0 and "--supervised" in res.output


def test_pretrain_cli_on_the_builtin_synthetic_scenes(tmp_path):
    """No --cache: the synthetic scenes are precomputed into OUT/cache (the real cache format)
    and trained on; the run is then exported and loaded."""
    pytest.importorskip("csip_core._csip_core", reason="the Rust extension is not built")
    from click.testing import CliRunner

    import csip
    from csip.cli import main

    out = tmp_path / "run"
    args = ["pretrain", "--out", str(out), "--synthetic-n", "48", "--image-size", "32", "--epochs", "2",
            "--batch-size", "8", "--model", "2d", "--no-progress", "--log-every", "1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "%|" not in res.output, res.output  # --no-progress: no bar, the precompute's included
    params = json.loads((out / "params.json").read_text())
    assert params["data"]["n_levels"] == 57 and params["data"]["n_angles"] == 180
    assert params["data"]["image_size"] == 32 and (out / "cache" / "manifest.json").is_file()
    assert read_metrics(out) and all(math.isfinite(r["loss"]) for r in read_metrics(out))
    assert read_metrics(out, "val")  # the cache's val split is evaluated at each epoch end
    res = CliRunner().invoke(main, ["pretrain", "--out", str(out), "--export", str(tmp_path / "enc")])
    assert res.exit_code == 0, res.output
    from csip.cache import CacheDataset
    from csip.models.encoder import encode

    feats = encode(csip.load_encoder(tmp_path / "enc"), CacheDataset(out / "cache", split="test"), batch_size=4)
    assert feats.shape[1] == 256 and np.isfinite(feats).all()


def test_loader_workers_do_not_change_the_run(tmp_path):
    """Persistent DataLoader workers see each epoch's order (set_epoch): same losses as in-process."""
    ds = ToyPairs(24, 16, 5, 16)
    train(_cfg(tmp_path / "w0", epochs=3), ds)
    train(_cfg(tmp_path / "w2", epochs=3, workers=2), ds)
    a = [r["loss"] for r in read_metrics(tmp_path / "w0")]
    b = [r["loss"] for r in read_metrics(tmp_path / "w2")]
    assert len(a) == 9 and a == b


def test_hflip_mirrors_left_right_labels_for_the_supervised_baseline():
    """A horizontal flip turns "A to the left of B" into "A to the right of B": the supervised
    baseline, trained with flips, must see the mirrored label (it used to keep the original one,
    so half of its left/right examples were labelled wrongly)."""
    from csip.cache.order import hflip_batch, mirror_labels
    from csip.data import PREDICATES

    left, right = PREDICATES.index("to the left of"), PREDICATES.index("to the right of")
    labels = torch.tensor([left, right, left, PREDICATES.index("above"), -1, PREDICATES.index("next to")])
    boxes = torch.rand(6, 2, 4)
    mask = torch.tensor([True, True, False, True, True, True])
    out = hflip_batch({"boxes": boxes, "label": labels}, mask)
    assert out["label"].tolist() == [right, left, left, labels[3].item(), -1, labels[5].item()]
    assert torch.equal(mirror_labels(mirror_labels(labels)), labels)
    # the boxes agree with the new labels: A's centre moves to the other side of B's
    ca = (out["boxes"][:, 0, 0] + out["boxes"][:, 0, 2]) / 2
    cb = (out["boxes"][:, 1, 0] + out["boxes"][:, 1, 2]) / 2
    ca0 = (boxes[:, 0, 0] + boxes[:, 0, 2]) / 2
    cb0 = (boxes[:, 1, 0] + boxes[:, 1, 2]) / 2
    assert torch.allclose((ca - cb)[mask], -(ca0 - cb0)[mask])
    assert torch.equal(labels, torch.tensor([left, right, left, PREDICATES.index("above"), -1,
                                             PREDICATES.index("next to")]))  # input untouched


def test_default_loader_workers_share_the_node_cores(monkeypatch):
    import csip.cache.writer as writer
    from csip.train.data import default_loader_workers

    monkeypatch.setattr(writer, "usable_cores", lambda: 16)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert default_loader_workers(False) == 0  # CPU: the cores compute
    assert default_loader_workers(True) == 15  # one GPU: every core but the trainer's
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun, 4 GPUs on the node
    assert default_loader_workers(True) == 3
    monkeypatch.setattr(writer, "usable_cores", lambda: 128)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert default_loader_workers(True) == 16  # capped
    monkeypatch.setattr(writer, "usable_cores", lambda: 2)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert default_loader_workers(True) == 1  # at least one


@pytest.mark.parametrize("bad, message", [
    (dict(epochs=0), "--epochs 0: expected an integer >= 1"),
    (dict(seed=-1), "--seed -1: expected an integer >= 0"),  # a numpy traceback after the precompute before
    (dict(batch_size=1), "--batch-size 1: expected an integer >= 2"),
    (dict(max_steps=0), "--max-steps 0: expected an integer >= 1"),
    (dict(select="val_top1", supervised=True), "--select val_top1: only a C-SIP run measures it"),
    (dict(select="val_acc"), "--select val_acc: only a --supervised run measures it"),
    (dict(select="val_loss", split=None), "--select val_loss: the run has no held-out split"),
    (dict(select="val_ndcg10"), "--select val_ndcg10: expected one of"),
])
def test_the_library_refuses_what_the_command_refuses_before_writing(tmp_path, bad, message):
    """The command line's ranges and a --select the run could never measure (which would end
    without a best.pt) are refused by ``train`` itself, before the run directory exists."""
    from csip.base.errors import BadOption

    with pytest.raises(BadOption, match=message.replace("[", r"\[")):
        train(_cfg(tmp_path / "r", **bad), dataset=ToyPairs(16))
    assert not (tmp_path / "r").exists()


def test_a_batch_of_one_item_is_refused_not_trained_with_loss_zero(tmp_path):
    with pytest.raises(DataError, match="only 1 training item: a batch needs at least 2"):
        train(_cfg(tmp_path / "r", batch_size=8), dataset=ToyPairs(1))
    cfg = _cfg(tmp_path / "s", select="val_loss")
    with pytest.raises(DataError, match="--select val_loss: the data has no 'val' split"):
        train(cfg, dataset=ToyPairs(16))  # no val_dataset given, none in a cache


def test_a_resumed_supervised_run_takes_its_select_again(tmp_path):
    """--select is checked against the run's own options on a resume (the command line's
    --supervised default is not the run's)."""
    from toydata import ToyPairs

    data, val = ToyPairs(16), ToyPairs(8, seed=1)
    cfg = _cfg(tmp_path / "r", supervised=True, select="val_acc", max_steps=2, epochs=1)
    train(cfg, dataset=data, val_dataset=val)
    again = TrainConfig(out=str(tmp_path / "r"), resume=True, select="val_acc", progress=False, workers=0)
    assert train(again, dataset=data, val_dataset=val)["steps_run"] == 0  # complete: nothing to do, no refusal
