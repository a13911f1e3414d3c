"""Typed evaluation results (csip.eval.results): integer cut-offs in memory, results.json's exact
layout on disk, and every results.json written so far read back unchanged."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from csip.eval.api import evaluate
from csip.eval.config import EvalConfig
from csip.eval.results import CbirResult, CbirTable, EvalResults, HeadFit, ProbeFit, SrrResult, VqaResult, VqaTable
from eval_helpers import tiny_bert_dir, trained_run

pytestmark = pytest.mark.usefixtures("single_thread")

#: A results.json of csip eval before typed rows (trimmed from a real one; key order as written).
OLD_RESULTS = {
    "format": "csip-eval",
    "version": 1,
    "csip_version": "0.1.0",
    "created": "2026-11-27T10:46:15+00:00",
    "command": None,
    "seed": 0,
    "device": "cpu",
    "torch_version": "2.14.1",
    "cache": {
        "path": "/c",
        "content_hash": "5add",
        "source": "synthetic",
        "items": 600,
        "splits": {"train": 466, "val": 64, "test": 70},
        "image_size": 32,
        "sfb_shape": [29, 90],
        "normalize": "max",
    },
    "tasks": ["cbir", "srr", "vqa"],
    "notes": {},
    "encoders": [
        {
            "name": "c-sip-seed0",
            "group": "C-SIP",
            "model": "2d",
            "source": "/r/best.pt",
            "status": "ok",
            "note": "",
            "out_dim": 256,
            "uses": ["boxes"],
            "features": "embed",
        }
    ],
    "settings": {"split": "test", "gallery": None, "ks": [10, 25], "features": "embed"},
    "timings_s": {"cbir": 0.006, "total": 3.003},
    "figures": {"sfb": "/e/fig_sfb.png", "retrieval_encoder": "c-sip-seed0"},
    "cbir": {
        "split": "test",
        "gallery": None,
        "ks": [10, 25],
        "n_queries": 70,
        "n_gallery": 70,
        "relevance": "cos(sFB(q), sFB(p)), banners flattened, as stored (normalize=max)",
        "rows": [
            {
                "name": "random ranking",
                "group": "reference",
                "model": "",
                "status": "ok",
                "note": "random features, seed 0",
                "ndcg": {"10": 0.45239845045975274, "25": 0.5079740835087639},
            },
            {
                "name": "CLIP image encoder",
                "group": "pre-trained",
                "model": "clip",
                "status": "skipped",
                "note": "no --clip PATH given",
                "ndcg": None,
            },
            {
                "name": "c-sip-seed0",
                "group": "C-SIP",
                "model": "2d",
                "status": "ok",
                "note": "",
                "ndcg": {"10": 0.770864166532244, "25": 0.6456168966633933},
                "features": "embed",
            },
        ],
        "markdown": "## CBIR ...",
    },
    "srr": {
        "probe": {"kind": "linear", "epochs": 100, "lr": 0.01, "seed": 0},
        "ns": [1, 2],
        "n_classes": 9,
        "classes": ["above", "behind"],
        "n_train": 448,
        "n_val": 63,
        "n_test": 69,
        "test_class_counts": [9, 5],
        "rows": [
            {
                "name": "class prior",
                "group": "reference",
                "model": "",
                "status": "ok",
                "note": "classes ranked by train frequency",
                "acc": {"1": 0.1304347813129425, "2": 0.23188406229019165},
            },
            {
                "name": "CLIP image encoder",
                "group": "pre-trained",
                "model": "clip",
                "status": "skipped",
                "note": "no --clip PATH given",
                "acc": None,
            },
            {
                "name": "c-sip-seed0",
                "group": "C-SIP",
                "model": "2d",
                "status": "ok",
                "note": "",
                "acc": {"1": 0.9710144996643066, "2": 1.0},
                "best_epoch": 39,
                "val_acc": None,
                "features": "embed",
            },
        ],
        "markdown": "## SRR ...",
    },
    "vqa": {
        "head": {"hidden": 512, "epochs": 12, "seed": 0},
        "text_encoder": "/m",
        "text_dim": 384,
        "n_questions": 1166,
        "n_distinct_texts": 1163,
        "n_train": 902,
        "n_val": 126,
        "n_test": 138,
        "test_yes_rate": 0.5,
        "image_encoders_for_pairs": [],
        "rows": [
            {
                "name": "text only",
                "inputs": ["text"],
                "status": "ok",
                "note": "",
                "groups": [],
                "accuracy": 0.5579710006713867,
                "val_accuracy": 0.5158730149269104,
                "best_epoch": 7,
                "n_train": 902,
                "n_val": 126,
                "n_test": 138,
                "test_yes_rate": 0.5,
            },
            {
                "name": "CLIP image encoder + text",
                "inputs": ["text", "CLIP image encoder"],
                "status": "skipped",
                "note": "no --clip PATH given",
                "accuracy": None,
            },
            {
                "name": "c-sip-seed0 + text",
                "inputs": ["text", "c-sip-seed0"],
                "status": "ok",
                "note": "C-SIP 2D",
                "groups": ["C-SIP"],
                "accuracy": 0.5724637508392334,
                "val_accuracy": 0.7460317611694336,
                "best_epoch": 9,
                "n_train": 902,
                "n_val": 126,
                "n_test": 138,
                "test_yes_rate": None,
            },
        ],
        "markdown": "## VQA ...",
    },
    "command_args": ["--cache", "/c", "--out", "/e", "--task", "cbir"],
}


def test_an_old_results_json_reads_into_typed_rows_and_writes_back_unchanged():
    res = EvalResults.from_json(copy.deepcopy(OLD_RESULTS))
    assert res.fingerprint is None and res.command_args == ("--cache", "/c", "--out", "/e", "--task", "cbir")
    assert res.cbir.ks == (10, 25) and res.srr.ns == (1, 2)
    m = res.model("C-SIP")
    assert m.cbir.ndcg == {10: 0.770864166532244, 25: 0.6456168966633933} and m.cbir.features == "embed"
    assert m.srr.acc == {1: 0.9710144996643066, 2: 1.0} and m.srr.probe == ProbeFit(39, None)
    assert m.vqa.accuracy == 0.5724637508392334 and m.vqa.head.best_epoch == 9 and m.vqa.head.test_yes_rate is None
    assert res.cbir.row_of("reference").ndcg[10] == 0.45239845045975274
    assert res.srr.rows[1] == SrrResult("CLIP image encoder", "pre-trained", "clip", "skipped", "no --clip PATH given",
                                        None)
    assert res.vqa.rows[1] == VqaResult("CLIP image encoder + text", ("text", "CLIP image encoder"), "skipped",
                                        "no --clip PATH given", None)
    assert res.vqa.row_of_groups(()).name == "text only" and res.model("supervised").cbir is None
    back = res.to_json()
    assert back == OLD_RESULTS
    assert json.dumps(back) == json.dumps(OLD_RESULTS)  # the same key order too


def test_fingerprint_and_eval_note_round_trip_and_absent_keys_stay_absent():
    doc = copy.deepcopy(OLD_RESULTS)
    del doc["command_args"], doc["srr"]
    doc["vqa"]["eval_note"] = "No test split in the cache: the validation questions are the test set."
    doc["vqa"] = {k: doc["vqa"][k] for k in [*list(doc["vqa"])[:-3], "eval_note", "rows", "markdown"]}
    doc["fingerprint"], doc["fingerprint_settings"] = "0123456789abcdef", {"args": ["--seed", "1"], "cache": "h"}
    res = EvalResults.from_json(doc)
    assert res.srr is None and res.command_args is None and res.vqa.eval_note.startswith("No test split")
    assert json.dumps(res.to_json()) == json.dumps(doc)
    assert "eval_note" not in EvalResults.from_json(OLD_RESULTS).to_json()["vqa"]


def test_typed_rows_become_json_with_string_cutoffs_python_numbers_and_nan_as_null():
    row = CbirResult("a", "C-SIP", "2d", "ok", "", {10: np.float64(0.25), 25: np.float32(0.5)}, "pre")
    assert row.to_json() == {"name": "a", "group": "C-SIP", "model": "2d", "status": "ok", "note": "",
                             "ndcg": {"10": 0.25, "25": 0.5}, "features": "pre"}
    assert type(row.to_json()["ndcg"]["10"]) is float
    srr = SrrResult("b", "supervised", "2d", "ok", "", {1: float("nan")}, ProbeFit(3, 0.5))
    assert srr.to_json()["acc"] == {"1": None} and list(srr.to_json())[-2:] == ["best_epoch", "val_acc"]
    vqa = VqaResult("b + text", ("text", "b"), "ok", "", 0.75, ("supervised",), HeadFit(0.5, 2, 10, 2, 4, math.nan))
    assert vqa.to_json() == {"name": "b + text", "inputs": ["text", "b"], "status": "ok", "note": "",
                             "groups": ["supervised"], "accuracy": 0.75, "val_accuracy": 0.5, "best_epoch": 2,
                             "n_train": 10, "n_val": 2, "n_test": 4, "test_yes_rate": None}
    table = CbirTable("test", None, (10,), 4, 4, "cos", (row,), "md")
    assert table.to_json() == {"split": "test", "gallery": None, "ks": [10], "n_queries": 4, "n_gallery": 4,
                               "relevance": "cos", "rows": [row.to_json()], "markdown": "md"}
    assert CbirTable.from_json(table.to_json()) == table
    assert (
        VqaTable.from_json(EvalResults.from_json(OLD_RESULTS).vqa.to_json()) == EvalResults.from_json(OLD_RESULTS).vqa
    )


def test_an_evaluation_writes_its_typed_results_as_results_json(base, cache, tmp_path):
    run_dir = trained_run(base, cache, "2d")
    cfg = EvalConfig(cache=cache, out=tmp_path / "e", tasks=("cbir", "srr", "vqa"), checkpoints={"c2d": run_dir},
                     random_init_models=("2d",), probe_epochs=3, vqa_epochs=2, vqa_hidden=16,
                     text_encoder=tiny_bert_dir(base), figures=False, device="cpu")
    res = evaluate(cfg)
    on_disk = json.loads((tmp_path / "e" / "results.json").read_text())
    assert res.to_json() == on_disk and EvalResults.from_json(on_disk).to_json() == on_disk
    again = EvalResults.from_json(on_disk)
    assert [r.ndcg for r in again.cbir.rows] == [r.ndcg for r in res.cbir.rows]
    assert set(again.model("C-SIP").srr.acc) == {1, 2, 3, 4, 5} and again.model("C-SIP").vqa.accuracy is not None
    assert on_disk["fingerprint"] == res.fingerprint and len(res.fingerprint) == 16
    assert list(on_disk)[-2:] == ["fingerprint", "fingerprint_settings"]
