"""Training objectives as registered objects (csip.train.objectives): the two built-in ones, and a
third added as one file (tests/toy_objective.py) plus one registry call, run through ``train``
and evaluated as any checkpoint is."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import toy_objective
from csip.base.errors import BadOption
from csip.base.fingerprint import fingerprint
from csip.eval import EvalConfig, evaluate
from csip.train import TrainConfig, read_metrics, train
from csip.train.config import SELECTABLE, run_settings
from csip.train.objectives import OBJECTIVES, all_selectable, objective_class, register_objective
from eval_helpers import shared_base, synthetic_cache


def test_the_built_in_objectives_are_registered_under_their_names():
    assert list(OBJECTIVES) == ["csip", "supervised"]
    for name, (_, metrics, reads_labels) in OBJECTIVES.items():
        cls = objective_class(name)
        assert cls.name == name and tuple(cls.val_metrics) == metrics and cls.reads_labels == reads_labels
    assert set(SELECTABLE) == {"val_ndcg10_embed", "val_ndcg10_pre", "val_loss", "val_top1", "val_acc"}
    assert objective_class("supervised").model_kind == "supervised" and objective_class("csip").target_keys == ("sfb",)


def test_an_unknown_objective_is_refused_by_name():
    with pytest.raises(BadOption, match="--objective 'nope': expected one of csip, supervised"):
        TrainConfig(out="x", objective="nope").validate()
    with pytest.raises(BadOption, match="contradicts --supervised"):
        TrainConfig(out="x", objective="csip", supervised=True).validate()


def test_naming_a_built_in_objective_is_the_run_it_always_was():
    """``objective="supervised"`` is ``supervised=True``: the same settings fingerprint as a run
    made before objectives had names (so that csip run reuses such runs)."""
    named = TrainConfig(out="a", cache="c", objective="supervised")
    old = TrainConfig(out="a", cache="c", supervised=True)
    assert fingerprint(run_settings(named, None)) == fingerprint(run_settings(old, None))
    assert "objective" not in run_settings(old, None)["config"]


@pytest.fixture()
def toy_registered():
    register_objective(toy_objective.NAME, toy_objective.TARGET, toy_objective.VAL_METRICS)
    yield
    OBJECTIVES.pop(toy_objective.NAME)


def test_a_third_objective_in_one_file_trains_selects_and_evaluates(toy_registered, tmp_path_factory, tmp_path):
    base = shared_base(tmp_path_factory)
    cache = synthetic_cache(base)
    assert "val_error" in all_selectable()  # the registry line makes its metric selectable
    out = tmp_path / "run"
    cfg = TrainConfig(out=str(out), cache=str(cache), model="2d", objective=toy_objective.NAME, epochs=3, batch_size=32,
                      lr=3e-3, device="cpu", progress=False, feature_dim=16, select="val_error", save_every=0)
    summary = train(cfg)
    assert summary["steps"] > 0
    val = read_metrics(out, "val")
    assert len(val) == 3 and all(set(r) >= {"val_loss", "val_error", "val_ndcg10_pre"} for r in val)
    assert val[-1]["val_loss"] < val[0]["val_loss"]  # it learns the centres
    best = json.loads((out / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "val_error" and best["value"] == min(r["val_error"] for r in val)  # minimised
    params = json.loads((out / "params.json").read_text())
    assert params["model_config"]["kind"] == "toy-centres"
    assert params["fingerprint_settings"]["config"]["objective"] == toy_objective.NAME
    state = torch.load(out / "checkpoints" / "final.pt", weights_only=True)
    assert any(k.startswith("regressor.") for k in state["model"])  # the head the objective adds

    res = evaluate(EvalConfig(cache=cache, out=tmp_path / "eval", tasks=("cbir",), checkpoints={"toy": out},
                              random_init=False, device="cpu", figures=False))
    row = next(r for r in res.cbir.rows if r.name == "toy")
    assert row.status == "ok" and 0.0 < row.ndcg[10] <= 1.0 and np.isfinite(row.ndcg[25])


def test_a_supervised_only_metric_names_who_measures_it():
    with pytest.raises(BadOption, match=r"--select val_acc: only a --supervised run measures it \(a C-SIP run has "
                                        r"val_top1\)"):
        TrainConfig(out="x", select="val_acc").validate()
