"""``csip run`` (the built-in study) end to end with tiny settings, its resumption, its
refusals, and the summary's arithmetic (Table 2 rows, margins, spreads, verdicts)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from csip.cli import main
from csip.study import StudyConfig
from csip.study.table import budget_rows, mean_table, spread_stats, verdicts
from eval_helpers import one_thread

TINY = ["--n", "120", "--image-size", "32", "--width", "8", "--epochs", "2", "--seeds", "0,1", "--batch-size", "32",
        "--no-figures"]


pytestmark = pytest.mark.usefixtures("single_thread")


def _run(args, **kw):
    return CliRunner().invoke(main, ["run", *map(str, args)], **kw)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("csip-run") / "out"
    with one_thread():
        res = _run(["--out", out, *TINY, "--budget-check"], catch_exceptions=False)
    return out, res


def test_run_writes_table2_rows_for_every_encoder_training_and_seed(tiny_run):
    out, res = tiny_run
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["format"] == "csip-run-summary" and s["settings"]["encoders"] == ["resnet18", "2d"]
    assert s["settings"]["seeds"] == [0, 1] and s["select"] == "val_ndcg10_embed"
    keys = {(r["encoder"], r["training"], r["seed"]) for r in s["rows"]}
    assert keys == {
        (e, t, k) for e in ("resnet18", "2d") for t in ("random-init", "supervised", "c-sip") for k in (0, 1)
    }
    for r in s["rows"]:
        assert 0 < r["ndcg@10"] <= 1 and 0 < r["ndcg@25"] <= 1
        assert r["features"] == ("embed" if r["training"] == "c-sip" else "pre")
        if r["training"] != "random-init":  # trained rows: the val-selected checkpoint
            assert r["checkpoint"].endswith("best.pt") and r["selected"]["metric"] == "val_ndcg10_embed"
        if r["training"] == "supervised":
            assert 0 <= r["val_acc"] <= 1 and r["val_acc"] <= r["best_val_acc"]
        if r["training"] == "c-sip":
            assert r["alt"]["features"] == "pre" and 0 < r["alt"]["ndcg@10"] <= 1
    assert set(s["verdicts"]) == {"resnet18", "2d"}
    for v in s["verdicts"].values():
        assert {"vs random-init", "vs supervised", "beats_both_by_more_than_spread"} <= set(v)
    refs = s["references"]
    assert refs["cbir_random_ranking_ndcg@10"] > 0 and refs["vqa_text_only"] is not None
    assert {(b["encoder"], b["training"]) for b in s["budget"]} == {
        (e, t) for e in ("resnet18", "2d") for t in ("supervised", "c-sip")}
    assert any(r["inputs"] == "text only" for r in s["table3"])
    assert (out / "runs" / "resnet18" / "c-sip-seed0-x2" / "checkpoints" / "best.pt").is_file()
    md = (out / "summary.md").read_text()
    assert "## Table 2" in md and "## Budget check" in md and "csip eval --cache" in md


def test_the_summary_holds_the_banner_tower_tasks_for_every_c_sip_row(tiny_run):
    """Cross-modal recalls and zero/k-shot accuracies of each C-SIP row: the mean over seeds of
    the evaluations' results.json values (read back here independently)."""
    out, _ = tiny_run
    s = json.loads((out / "summary.json").read_text())
    cm = {(r["label"], r["row"]): r for r in s["layouts"]["crossmodal"]}
    zs = {(r["label"], r["row"]): r for r in s["layouts"]["zeroshot"]}
    for enc in ("resnet18", "2d"):
        assert cm[(enc, "c-sip")]["seeds"] == 2 and zs[(enc, "c-sip")]["seeds"] == 2
        assert cm[(enc, "chance")]["group"] == "reference" and zs[(enc, "class prior")]["group"] == "reference"
        assert any(g["group"] == "random init" for (e, _), g in zs.items() if e == enc)
        per_seed = [json.loads((out / "eval" / enc / f"seed{k}" / "results.json").read_text()) for k in (0, 1)]
        r1 = [next(r for r in d["crossmodal"]["rows"] if r["name"] == f"c-sip-seed{k}")["banner_to_image"]["1"]
              for k, d in enumerate(per_seed)]
        assert cm[(enc, "c-sip")]["b2i@1"] == pytest.approx(100 * sum(r1) / 2)
        z = [next(r for r in d["zeroshot"]["rows"] if r["name"] == f"c-sip-seed{k}")["image6"]["zero-shot"]["1"]
             for k, d in enumerate(per_seed)]
        assert zs[(enc, "c-sip")]["zero-shot/6"] == pytest.approx(100 * sum(z) / 2)
    md = (out / "summary.md").read_text()
    assert "## Layouts: cross-modal retrieval" in md and "## Layouts: relation recognition" in md


def test_every_summary_number_comes_from_the_printed_csip_eval_command(tiny_run, tmp_path):
    """Rerunning the printed command for (resnet18, seed 1) reproduces its rows' NDCG exactly."""
    import shlex

    out, res = tiny_run
    s = json.loads((out / "summary.json").read_text())
    cmd = next(c for c in s["eval_commands"] if "/resnet18/seed1" in c)
    argv = shlex.split(cmd)[2:]
    argv[argv.index("--out") + 1] = str(tmp_path / "again")
    again = CliRunner().invoke(main, ["eval", *argv, "--quiet"], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    rows = json.loads((tmp_path / "again" / "results.json").read_text())["cbir"]["rows"]
    by_group = {r["group"]: r for r in rows if r["status"] == "ok"}
    for r in (r for r in s["rows"] if r["encoder"] == "resnet18" and r["seed"] == 1):
        g = {"random-init": "random init", "supervised": "supervised", "c-sip": "C-SIP"}[r["training"]]
        assert by_group[g]["ndcg"]["10"] == r["ndcg@10"] and by_group[g]["features"] == r["features"]


def test_run_rerun_skips_finished_stages(tiny_run):
    out, res = tiny_run
    assert res.exit_code == 0, res.output
    ck = out / "runs" / "2d" / "c-sip-seed0" / "checkpoints" / "final.pt"
    before = ck.stat().st_mtime_ns
    rows = json.loads((out / "summary.json").read_text())["rows"]
    again = _run(["--out", out, *TINY, "--budget-check", "--quiet"], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert "pretrain 2d/c-sip-seed0: skipped" in again.output and "eval 2d seed 0: skipped" in again.output
    assert ck.stat().st_mtime_ns == before
    assert json.loads((out / "summary.json").read_text())["rows"] == rows


def test_run_refuses_other_settings_in_the_same_out(tiny_run):
    out, res = tiny_run
    assert res.exit_code == 0, res.output
    other = [a if a != "2" else "3" for a in TINY]  # --epochs 3
    bad = _run(["--out", out, *other])
    assert bad.exit_code == 2, bad.output  # bad input, as pretrain's refusal of an --out holding another run
    assert "other settings" in bad.output and "epochs" in bad.output and "Traceback" not in bad.output


@pytest.mark.parametrize("args, message", [
    (["--encoders", "resnet50"], "--encoders"),
    (["--encoders", "2d,2d"], "--encoders"),
    (["--seeds", "0,0"], "--seeds"),
    (["--seeds", "a"], "--seeds"),
    (["--seeds", "0,-1"], "expected distinct seeds >= 0"),
    (["--data-seed", "-1"], "--data-seed"),
    # refused by the later stages' own checks, before the precompute
    (["--lr", "nan"], "--lr nan: must be a finite number > 0"),
    (["--label-smoothing", "2"], "--label-smoothing 2.0: must be a finite number in [0.0, 1.0)"),
    (["--device", "tpu:3"], "--device 'tpu:3'"),
    (["--forces", "3:1:0.5"], "forces '3:1:0.5': need STEP > 0 and STOP >= START"),
    (["--text-encoder", "no-such-dir"], "--text-encoder"),
])
def test_run_bad_options(tmp_path, args, message):
    res = _run(["--out", tmp_path / "o", *args])
    assert res.exit_code == 2 and message in res.output, res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists()  # refused before any work


def test_study_config_validates():
    with pytest.raises(ValueError, match="encoders"):
        StudyConfig(encoders=("vit",))
    with pytest.raises(ValueError, match="features"):
        StudyConfig(features="post")
    with pytest.raises(ValueError, match="seeds and data_seed must be >= 0"):
        StudyConfig(seeds=(-1,))
    with pytest.raises(ValueError, match="need width >= 1 and threads >= 1"):
        StudyConfig(width=0)
    assert StudyConfig(tasks=("srr",)).tasks == ("cbir", "srr")  # Table 2 always
    assert StudyConfig(features="pre").select == "val_ndcg10_pre"


def _rows(enc, ndcg10: dict[str, list[float]]):
    return [{"encoder": enc, "training": t, "seed": k, "ndcg@10": v / 100, "ndcg@25": v / 100, "features": "pre"}
            for t, vals in ndcg10.items() for k, v in enumerate(vals)]


def test_verdict_margins_and_spreads():
    rows = _rows("2d", {"random-init": [89.6, 89.0, 89.7], "supervised": [84.0, 83.1, 83.6],
                        "c-sip": [93.9, 93.4, 93.4]})
    v = verdicts(rows)["2d"]
    r = v["vs random-init"]
    assert r["c-sip_mean"] == pytest.approx(93.5667, abs=1e-3)
    assert r["margin"] == pytest.approx(93.5667 - 89.4333, abs=1e-3)
    assert r["spread"] == pytest.approx(0.7)  # the larger range: random-init's 89.0..89.7
    assert r["beats_by_more_than_spread"] and r["no_overlap"] and r["c-sip_ahead_every_seed"]
    assert r["paired_differences"] == pytest.approx([4.3, 4.4, 3.7])
    assert v["beats_both_by_more_than_spread"] is True
    st = spread_stats([93.9, 93.4, 93.4])
    assert st["std"] == pytest.approx(0.288675, abs=1e-5) and st["range"] == pytest.approx(0.5)  # ddof 1
    m = {(e["encoder"], e["training"]): e for e in mean_table(rows)}
    assert m[("2d", "c-sip")]["ndcg@10"]["mean"] == pytest.approx(93.5667, abs=1e-3)


def test_verdict_too_close_to_call_and_one_seed():
    close = verdicts(_rows("x", {"random-init": [81.0, 80.0, 81.2], "supervised": [81.3, 80.1, 82.0],
                                 "c-sip": [81.5, 80.2, 81.0]}))["x"]
    assert close["vs supervised"]["beats_by_more_than_spread"] is False and not close["vs supervised"]["no_overlap"]
    assert close["beats_both_by_more_than_spread"] is False
    one = verdicts(_rows("x", {"random-init": [80.0], "supervised": [81.0], "c-sip": [90.0]}))["x"]
    assert one["vs supervised"]["beats_by_more_than_spread"] is None  # one seed: no spread, no claim
    assert one["beats_both_by_more_than_spread"] is None


def test_budget_rows_compare_the_two_budgets():
    b1 = {"value": 0.80, "epoch": 3, "record": {"val_acc": 0.5}}
    b2 = {"value": 0.81, "epoch": 9, "record": {"val_acc": 0.55}}
    (r,) = budget_rows({("resnet18", "supervised"): (b1, b2)}, "val_ndcg10_embed")
    assert r["at_budget"] == pytest.approx(80.0) and r["at_2x_budget"] == pytest.approx(81.0)
    assert r["gain"] == pytest.approx(1.0) and r["val_acc_at_2x"] == pytest.approx(55.0)
    assert (r["epoch_at_budget"], r["epoch_at_2x"]) == (3, 9)


def test_a_clean_rerun_reproduces_the_numbers_exactly(tmp_path):
    """Fixed seeds and the deterministic CPU path: two fresh runs give identical Table 2 rows
    (what lets the README quote exact figures)."""
    args = ["--n", "120", "--image-size", "32", "--width", "8", "--epochs", "2", "--seeds", "3", "--batch-size",
            "32", "--encoders", "resnet18", "--task", "cbir", "--task", "srr", "--no-figures", "--quiet"]
    docs = []
    for name in ("a", "b"):
        res = _run(["--out", tmp_path / name, *args], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        docs.append(json.loads((tmp_path / name / "summary.json").read_text()))
    strip = [[{k: v for k, v in r.items() if k != "checkpoint"} for r in d["rows"]] for d in docs]
    assert strip[0] == strip[1] and len(strip[0]) == 3


def test_sigterm_stops_csip_run_cleanly_and_the_rerun_finishes_the_same_study(tmp_path):
    """SIGTERM during a training: the run saves its checkpoint, ``csip run`` exits 75 with the
    resume command, no process is left, and rerunning gives the rows of an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from cache_helpers import subprocess_env

    args = ["--n", "160", "--image-size", "32", "--width", "8", "--epochs", "6", "--seeds", "0", "--batch-size",
            "16", "--encoders", "resnet18", "--task", "cbir", "--no-figures", "--quiet"]
    cut = tmp_path / "cut"
    child = subprocess.Popen([sys.executable, "-m", "csip.cli", "run", "--out", str(cut), *args],
                             env={**subprocess_env(), "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    metrics = cut / "runs" / "resnet18" / "supervised-seed0" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and child.poll() is None and not (metrics.is_file() and metrics.stat().st_size):
        time.sleep(0.05)
    assert child.poll() is None, child.stderr.read().decode()
    os.kill(child.pid, signal.SIGTERM)
    _, err = child.communicate(timeout=120)
    err = err.decode()
    assert child.returncode == 75, err
    assert "resume with: csip run" in err and "--out" in err
    assert (cut / "runs" / "resnet18" / "supervised-seed0" / "checkpoints" / "last.pt").is_file()
    assert not (cut / "summary.json").exists()
    again = _run(["--out", cut, *args], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert "supervised-seed0: resumed" in again.output
    whole = _run(["--out", tmp_path / "whole", *args], catch_exceptions=False)
    assert whole.exit_code == 0, whole.output
    rows = [json.loads((d / "summary.json").read_text())["rows"] for d in (cut, tmp_path / "whole")]
    strip = [[{k: v for k, v in r.items() if k != "checkpoint"} for r in rs] for rs in rows]
    assert strip[0] == strip[1]


def test_table3_counts_the_text_only_row_once_per_seed():
    """Text only depends on the seed alone: every encoder's evaluation of a seed repeats it, and
    counting the copies would shrink its spread."""
    from types import SimpleNamespace as NS

    from csip.study.table import table3

    def res(text, image):
        return NS(vqa=NS(rows=[NS(status="ok", accuracy=text, groups=()),
                               NS(status="ok", accuracy=image, groups=("C-SIP",))]))

    out = table3({("resnet18", 0): res(0.50, 0.60), ("2d", 0): res(0.50, 0.70),
                  ("resnet18", 1): res(0.56, 0.62), ("2d", 1): res(0.56, 0.72)})
    text = next(r for r in out if r["inputs"] == "text only")
    assert text["values"] == pytest.approx([50.0, 56.0]) and text["std"] == pytest.approx(4.242640687)
    assert [r["values"] for r in out if r["inputs"] == "C-SIP + text"] == [pytest.approx([60.0, 62.0]),
                                                                          pytest.approx([70.0, 72.0])]
