"""Checkpoint selection on val (``best.pt``) and ``csip eval --features pre|embed``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from csip.train.selection import BestTracker, read_best
from eval_helpers import one_thread, shared_base, synthetic_cache, trained_run


def test_best_tracker_keeps_the_best_and_breaks_ties_early():
    t = BestTracker("val_ndcg10_embed")
    assert t.update({"step": 1, "epoch": 0, "val_ndcg10_embed": 0.5})
    assert not t.update({"step": 2, "epoch": 1, "val_ndcg10_embed": 0.5})  # a tie keeps the earlier
    assert not t.update({"step": 3, "epoch": 2, "val_ndcg10_embed": float("nan")})
    assert not t.update({"step": 4, "epoch": 3})  # metric missing
    assert t.update({"step": 5, "epoch": 4, "val_ndcg10_embed": 0.7})
    assert t.best["epoch"] == 4 and t.best["value"] == 0.7
    low = BestTracker("val_loss")
    assert low.update({"step": 1, "epoch": 0, "val_loss": 2.0}) and low.update({"step": 2, "epoch": 1, "val_loss": 1.0})
    assert not low.update({"step": 3, "epoch": 2, "val_loss": 1.5})
    again = BestTracker("val_loss")
    again.load(low.state())
    assert not again.update({"step": 4, "epoch": 3, "val_loss": 1.2}) and again.best["epoch"] == 1
    with pytest.raises(ValueError, match="val_ndcg10_pre"):
        BestTracker("ndcg")


@pytest.fixture(scope="module")
def selected_run(tmp_path_factory):
    from csip.train.config import TrainConfig
    from csip.train.run import train

    base = shared_base(tmp_path_factory)
    cache = synthetic_cache(base)
    out = tmp_path_factory.mktemp("sel") / "run"
    with one_thread():
        train(TrainConfig(out=str(out), cache=str(cache), model="2d", epochs=4, batch_size=32, lr=3e-3, workers=0,
                          progress=False, feature_dim=16, embed_dim=8, spatial_channels=4, device="cpu",
                          select="val_ndcg10_embed"))
    return cache, out


def test_best_checkpoint_is_the_best_val_epoch_and_reproduces_its_metric(selected_run):
    from csip.cache import Cache
    from csip.eval.cbir import ndcg
    from csip.eval.features import extract
    from csip.models.encoder import load_encoder
    from csip.train.metrics import read_metrics

    cache_dir, out = selected_run
    val = read_metrics(out, "val")
    assert len(val) == 4 and all("val_ndcg10_embed" in r and "val_ndcg10_pre" in r for r in val)
    values = [r["val_ndcg10_embed"] for r in val]
    best = read_best(out)
    assert best["epoch"] == int(np.argmax(values)) and best["value"] == max(values)
    # best.pt holds the weights of that epoch: its val NDCG, recomputed as csip eval does, is the record
    cache = Cache(cache_dir)
    q = cache.indices("val")
    with one_thread():
        table = extract(load_encoder(out / "checkpoints" / "best.pt"), cache, q, device="cpu", features="embed")
    got = ndcg(table.rows(q), np.asarray(cache.sfb[q]), ks=(10,))[10]
    assert got == pytest.approx(best["value"], abs=1e-5)
    # a run directory is evaluated at its selected checkpoint
    state = torch.load(out / "checkpoints" / "best.pt", weights_only=True)
    assert state["best"]["epoch"] == best["epoch"]


def test_features_embed_changes_only_rows_with_a_projection_head(tmp_path_factory, tmp_path):
    from csip.cache import Cache
    from csip.cli import main
    from csip.eval.cbir import ndcg
    from csip.models.encoder import load_encoder

    base = shared_base(tmp_path_factory)
    cache_dir = synthetic_cache(base)
    csip_run = trained_run(base, cache_dir, "2d", supervised=False)
    sup_run = trained_run(base, cache_dir, "2d", supervised=True)
    results = {}
    with one_thread():
        for kind in ("pre", "embed"):
            res = CliRunner().invoke(main, ["eval", "--cache", str(cache_dir), "--out", str(tmp_path / kind),
                                            "--task", "cbir", "--random-init-model", "2d", "--device", "cpu",
                                            "--checkpoint", f"c={csip_run}", "--checkpoint", f"s={sup_run}",
                                            "--features", kind, "--no-figures", "--quiet"], catch_exceptions=False)
            assert res.exit_code == 0, res.output
            results[kind] = {
                r["name"]: r for r in json.loads((tmp_path / kind / "results.json").read_text())["cbir"]["rows"]
            }
            assert json.loads((tmp_path / kind / "results.json").read_text())["settings"]["features"] == kind
    pre, emb = results["pre"], results["embed"]
    for name in ("random-init 2D", "s"):
        assert pre[name]["ndcg"] == emb[name]["ndcg"] and emb[name]["features"] == "pre"
    assert emb["c"]["features"] == "embed" and pre["c"]["features"] == "pre"
    cache = Cache(cache_dir)
    q = cache.indices("test")
    tower = load_encoder(csip_run)
    from csip.eval.features import extract

    with one_thread():
        e = extract(tower, cache, q, device="cpu", features="embed").rows(q)
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5) and e.shape[1] == 8  # g_v∘f_v, L2-normalised
    assert math.isclose(emb["c"]["ndcg"]["10"], ndcg(e, np.asarray(cache.sfb[q]), ks=(10,))[10], abs_tol=1e-6)
