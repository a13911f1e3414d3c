"""The training loop's parts (csip.train): the one-pass validation against separate loss and
retrieval passes, the loss monitor, the checkpointer's files and messages, function lengths."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

import csip
from csip.eval.cbir import ndcg
from csip.models import build_model, default_model_config, image_tower
from csip.train.checkpointer import Checkpointer
from csip.train.config import TrainConfig
from csip.train.loss import clip_loss, supervised_loss
from csip.train.loss_monitor import LossMonitor, TrainingDiverged
from csip.train.objectives import make_objective
from csip.train.run import train
from csip.train.validation import validate, validation_record
from toydata import ToyPairs


class CountingReads(torch.utils.data.Dataset):
    """``ToyPairs`` that counts its item reads."""

    def __init__(self, base):
        self.base, self.reads = base, 0

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        self.reads += 1
        return self.base[i]


def _model(name: str, supervised: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = default_model_config(name, 5, 16, supervised=supervised, feature_dim=16, embed_dim=8, spatial_channels=4,
                               image_size=16, width=8)
    return build_model(cfg).eval()


@torch.no_grad()
def _reference(model, ds, batch_size, supervised, k=10) -> dict:
    """The val record as two separate passes compute it: the loss pass calls the model as a
    whole, the retrieval pass the image tower alone (what csip eval ranks)."""
    loss = n = hits = 0
    for raw in DataLoader(ds, batch_size=batch_size, shuffle=False):
        batch = {key: torch.as_tensor(raw[key]) for key in raw}
        if supervised:
            logits = model(batch).float()
            known = batch["label"] >= 0
            if known.any():
                loss += float(supervised_loss(logits, batch["label"])) * int(known.sum())
                hits += int((logits[known].argmax(1) == batch["label"][known]).sum())
                n += int(known.sum())
        elif len(batch["sfb"]) >= 2:
            v, u, scale = model(batch)
            loss += float(clip_loss(v, u, scale, 0.3)) * len(v)
            hits += int(((v @ u.t()).argmax(1) == torch.arange(len(v))).sum())
            n += len(v)
    rec = {"val_loss": loss / n, ("val_acc" if supervised else "val_top1"): hits / n}
    tower = image_tower(model, {})
    pre, emb, banners = [], [], []
    for raw in DataLoader(ds, batch_size=batch_size, shuffle=False):
        f = tower.image_encoder({key: raw[key] for key in tower.uses})
        pre.append(f.float())
        emb.append(tower.embedding_of(f).float())
        banners.append(raw["sfb"].float())
    banners = torch.cat(banners).numpy()
    rec[f"val_ndcg{k}_pre"] = float(ndcg(torch.cat(pre).numpy(), banners, ks=(k,))[k])
    rec[f"val_ndcg{k}_embed"] = float(ndcg(torch.cat(emb).numpy(), banners, ks=(k,))[k])
    return rec


@pytest.mark.parametrize("name, supervised", [("2d", False), ("resnet18", False), ("drnet", True), ("2d", True)])
def test_one_val_pass_gives_what_a_loss_pass_and_a_retrieval_pass_give(name, supervised):
    """19 items in batches of 6: the last batch has one item (no C-SIP loss, yet ranked)."""
    model = _model(name, supervised)
    ds = CountingReads(ToyPairs(19, 16, 5, 16))
    torch.manual_seed(5)
    want = _reference(model, ds, 6, supervised)
    rng_after_two_passes = torch.get_rng_state()
    ds.reads = 0
    torch.manual_seed(5)
    got = validation_record(
        model,
        ds,
        6,
        torch.device("cpu"),
        make_objective("supervised" if supervised else "csip"),
        amp=False,
        retrieval=True,
    )
    assert got == want  # exactly, every value
    assert list(got) == list(want)  # the record's key order (metrics.jsonl) too
    assert ds.reads == 19  # every item read once
    assert torch.equal(torch.get_rng_state(), rng_after_two_passes)  # checkpoints store this RNG
    assert not model.training  # the mode it was called in
    loss_only = validate(
        model, ds, 6, torch.device("cpu"), make_objective("supervised" if supervised else "csip"), amp=False
    )
    assert loss_only == {key: want[key] for key in list(want)[:2]}


def test_validation_leaves_a_training_model_in_training_mode():
    model = _model("2d", False).train()
    validation_record(model, ToyPairs(8, 16, 5, 16), 4, torch.device("cpu"), make_objective("csip"), amp=False,
                      retrieval=True)
    assert model.training
    assert not model.image_encoder._forward_hooks  # the hook that caught f_v is gone


def test_loss_monitor_reads_pending_losses_in_order_and_stops_on_nan():
    monitor = LossMonitor(check_every_step=False, last_good=lambda: "ckpt.pt (step 2)")
    assert monitor.flush() == []
    monitor.add(1, 0, torch.tensor(2.5))
    monitor.add(2, 0, torch.tensor(1.25, dtype=torch.bfloat16))
    assert monitor.flush() == [(1, 0, 2.5), (2, 0, 1.25)] and monitor.pending == []
    monitor.add(3, 1, torch.tensor(float("nan")))  # deferred: no sync at add
    monitor.add(4, 1, torch.tensor(1.0))
    with pytest.raises(TrainingDiverged) as err:
        monitor.flush()
    assert str(err.value) == ("loss became nan at step 3 (epoch 1); training stopped. Last good checkpoint: "
                              "ckpt.pt (step 2). Lower --lr, or check the data for non-finite banners.")
    at_once = LossMonitor(check_every_step=True, last_good=lambda: "none was saved yet")
    with pytest.raises(TrainingDiverged, match=r"loss became inf at step 7 \(epoch 2\).*none was saved yet"):
        at_once.add(7, 2, torch.tensor(math.inf))


def _cfg(out, **kw) -> TrainConfig:
    return TrainConfig(out=str(out), model="2d", epochs=1, batch_size=8, workers=0, progress=False,
                       feature_dim=16, embed_dim=8, spatial_channels=4, **kw)


def test_checkpointer_claims_a_new_run_resumes_an_old_one_and_names_the_last_good(tmp_path):
    out = tmp_path / "run"
    fresh = Checkpointer(out, main=True)
    assert fresh.claim_or_resume(False) is None and fresh.describe_last_good() == "none was saved yet"
    with pytest.raises(FileNotFoundError, match=r"--resume: no checkpoint at .*last\.pt"):
        fresh.claim_or_resume(True)
    train(_cfg(out), ToyPairs(16, 16, 5, 16))
    with pytest.raises(FileExistsError, match=r"already holds a run \(.*last\.pt\); use --resume or another --out"):
        Checkpointer(out, main=True).claim_or_resume(False)
    again = Checkpointer(out, main=True)
    state = again.claim_or_resume(True)
    assert (state["step"], state["epoch"], state["step_in_epoch"]) == (2, 0, 2)  # final: the last step done
    assert again.describe_last_good() == f"{out / 'checkpoints' / 'last.pt'} (step 2)"
    (out / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    assert again.describe_last_good().endswith("last.pt (step ?)")


def test_no_function_of_the_training_loop_is_longer_than_80_lines():
    package = Path(csip.__file__).parent
    files = sorted((package / "train").glob("*.py"))
    lengths = {f"{p.name}:{node.name}": node.end_lineno - node.lineno + 1
               for p in files for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert "run.py:train" in lengths and "loop.py:train_one_epoch" in lengths  # the scan sees them
    assert {name: n for name, n in lengths.items() if n > 80} == {}
