"""``csip eval`` end to end on a tiny synthetic cache, and its refusals of bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from csip.cli import main
from eval_helpers import bare_cache, resnet18_weights, tiny_bert_dir, tiny_clip_dir, trained_run

pytestmark = pytest.mark.usefixtures("single_thread")


def _run(args):
    res = CliRunner().invoke(main, ["eval", *map(str, args)], catch_exceptions=False)
    return res


def test_eval_all_tasks_end_to_end(base, cache, tmp_path):
    csip_run = trained_run(base, cache, "2d")
    sup_run = trained_run(base, cache, "2d", supervised=True)
    out = tmp_path / "out"
    res = _run(["--task", "all", "--task", "zeroshot", "--cache", cache, "--out", out,
                "--checkpoint", f"c2d={csip_run}", "--checkpoint", f"sup2d={sup_run / 'checkpoints' / 'final.pt'}",
                "--imagenet-resnet18", resnet18_weights(base), "--clip", tiny_clip_dir(base), "--pretrained-size", "32",
                "--text-encoder", tiny_bert_dir(base), "--probe-epochs", "5", "--vqa-epochs", "3", "--vqa-hidden", "16",
                "--device", "cpu", "--grid-k", "3"])
    assert res.exit_code == 0, res.output
    r = json.loads((out / "results.json").read_text())
    assert r["tasks"] == ["cbir", "srr", "vqa", "zeroshot"] and r["seed"] == 0 and r["cache"]["content_hash"]
    zs = {row["name"]: row for row in r["zeroshot"]["rows"]}
    assert zs["c2d"]["status"] == "ok" and zs["sup2d"]["note"] == "no banner tower (supervised encoder)"
    groups = {e["name"]: (e["group"], e["status"]) for e in r["encoders"]}
    assert groups["c2d"] == ("C-SIP", "ok") and groups["sup2d"] == ("supervised", "ok")
    assert groups["random-init 2D"] == ("random init", "ok")
    assert groups["ResNet18 (ImageNet)"] == ("pre-trained", "ok") and groups["CLIP image encoder"] == (
        "pre-trained",
        "ok",
    )
    assert groups["ResNet50 (ImageNet)"] == ("pre-trained", "skipped")
    cb = {row["name"]: row for row in r["cbir"]["rows"]}
    assert set(cb["c2d"]["ndcg"]) == {"10", "25"} and 0 < cb["c2d"]["ndcg"]["10"] <= 1
    assert cb["ResNet50 (ImageNet)"]["ndcg"] is None and "--imagenet-resnet50" in cb["ResNet50 (ImageNet)"]["note"]
    assert cb["random ranking"]["group"] == "reference"
    sr = {row["name"]: row for row in r["srr"]["rows"]}
    assert set(sr["c2d"]["acc"]) == {"1", "2", "3", "4", "5"}
    assert r["srr"]["probe"]["kind"] == "linear" and r["srr"]["probe"]["seed"] == 0
    vq = [row["name"] for row in r["vqa"]["rows"]]
    assert vq[0] == "text only" and "c2d + text" in vq
    assert "ResNet18 (ImageNet) + c2d + text" in vq and "CLIP image encoder + c2d + text" in vq
    for f in ("cbir.md", "srr.md", "vqa.md", "report.md", "fig_sfb.png", "fig_retrieval.png", "fig_srr_acc.png"):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    assert "| C-SIP | c2d | 2D |" in res.output and "NDCG@10" in res.output and "Acc@5" in res.output
    assert r["figures"]["retrieval_encoder"] == "c2d"


def test_eval_is_deterministic_and_runs_directory(base, cache, tmp_path):
    trained_run(base, cache, "2d")
    outs = []
    for i in range(2):
        out = tmp_path / f"o{i}"
        res = _run(["--task", "cbir", "--task", "srr", "--cache", cache, "--out", out, "--runs", base,
                    "--no-random-init", "--probe", "mlp", "--probe-epochs", "3", "--no-figures", "--quiet",
                    "--device", "cpu", "-k", "5"])
        assert res.exit_code == 0, res.output
        r = json.loads((out / "results.json").read_text())
        outs.append((r["cbir"]["rows"], r["srr"]["rows"]))
    assert outs[0] == outs[1]
    rows = {row["name"]: row for row in outs[0][0]}
    assert rows["run-2d-csip"]["group"] == "C-SIP" and rows["run-2d-sup"]["group"] == "supervised"
    assert list(rows["run-2d-csip"]["ndcg"]) == ["5"]


@pytest.mark.parametrize("case", ["checkpoint", "cache", "labels", "questions", "text", "weights", "syntax",
                                  "text-not-loadable", "reference-name", "out-in-cache", "not-csip-export"])
def test_eval_refuses_bad_input_before_any_work(base, cache, tmp_path, case):
    out = tmp_path / "out"
    (tmp_path / "empty-config").mkdir()
    (tmp_path / "empty-config" / "config.json").write_text("{}")  # a directory transformers cannot load
    (tmp_path / "other-model").mkdir()  # another library's model directory
    (tmp_path / "other-model" / "config.json").write_text('{"model_type": "clip"}')
    (tmp_path / "other-model" / "model.safetensors").write_bytes(b"x")
    run = trained_run(base, cache, "2d")
    args = {
        "text-not-loadable": ["--task", "vqa", "--cache", cache, "--text-encoder", tmp_path / "empty-config"],
        "reference-name": ["--task", "cbir", "--cache", cache, "--checkpoint", f"random ranking={run}"],
        "out-in-cache": ["--task", "cbir", "--cache", cache],
        "not-csip-export": ["--task", "cbir", "--cache", cache, "--checkpoint", f"m={tmp_path / 'other-model'}"],
        "checkpoint": ["--task", "cbir", "--cache", cache, "--checkpoint", f"mine={tmp_path / 'missing.pt'}"],
        "cache": ["--task", "cbir", "--cache", tmp_path / "no-cache"],
        "labels": ["--task", "srr", "--cache", bare_cache(base)],
        "questions": ["--task", "vqa", "--cache", bare_cache(base)],
        "text": ["--task", "vqa", "--cache", cache, "--text-encoder", tmp_path / "no-bert"],
        "weights": ["--task", "cbir", "--cache", cache, "--imagenet-resnet50", tmp_path / "r50.pth"],
        "syntax": ["--task", "cbir", "--cache", cache, "--checkpoint", "name="],
    }[case]
    if case == "out-in-cache":
        out = cache / "eval"
    res = CliRunner().invoke(main, ["eval", *map(str, args), "--out", str(out)])
    assert res.exit_code == 2, res.output
    expect = {"checkpoint": "missing.pt", "cache": "no-cache", "labels": "relation labels", "questions": "questions",
              "text": "no-bert", "weights": "r50.pth", "syntax": "NAME=PATH",
              "text-not-loadable": "cannot load a transformers tokenizer and text model",
              "reference-name": "the row name 'random ranking' is a reference row's",
              "out-in-cache": "is inside the cache", "not-csip-export": "is not an encoder exported by csip"}[case]
    assert expect in res.output
    assert "features " not in res.output and "Traceback" not in res.output  # refused before any feature
    assert not (out / "results.json").exists()
    assert not (cache / "eval").exists()  # nothing created inside the cache


def test_an_evaluation_into_a_used_out_leaves_no_table_or_figure_of_the_earlier_one(base, cache, tmp_path):
    out = tmp_path / "out"
    common = ["--cache", cache, "--out", out, "--random-init-model", "2d", "--device", "cpu", "--quiet"]
    res = _run(["--task", "cbir", "--task", "srr", "--probe-epochs", "2", *common])
    assert res.exit_code == 0 and (out / "srr.md").is_file() and (out / "fig_srr_acc.png").is_file(), res.output
    res = _run(["--task", "cbir", "--no-figures", *common])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["cbir.md", "report.md", "results.json"]


def test_eval_all_skips_what_the_cache_cannot_do(base, tmp_path):
    out = tmp_path / "out"
    res = _run(
        ["--cache", bare_cache(base), "--out", out, "--random-init-model", "2d", "--no-figures", "--device", "cpu"]
    )
    assert res.exit_code == 0, res.output
    r = json.loads((out / "results.json").read_text())
    assert r["tasks"] == ["cbir"] and "srr" in r["notes"] and "vqa" in r["notes"]
