"""``csip run`` end to end with tiny settings, its resumption, its refusals, and the summary's
arithmetic (margins, spreads, verdict)."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from csip.cli import main
from csip.commands.pipeline import summarise
from eval_helpers import one_thread

TINY = ["--n", "120", "--image-size", "32", "--epochs", "1", "--seeds", "0", "--batch-size", "64", "--no-figures"]


@pytest.fixture(autouse=True)
def _threads():
    with one_thread():
        yield


def _run(args):
    return CliRunner().invoke(main, ["run", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("csip-run") / "out"
    with one_thread():
        t0 = time.perf_counter()
        res = _run(["--out", out, *TINY])
        wall = time.perf_counter() - t0
    return out, res, wall


def test_run_end_to_end(tiny_run):
    out, res, wall = tiny_run
    assert res.exit_code == 0, res.output
    assert wall < 60, f"csip run with tiny settings took {wall:.1f} s"
    assert (out / "cache" / "manifest.json").is_file()
    for variant in ("csip", "supervised"):
        assert (out / "runs" / f"{variant}-seed0" / "checkpoints" / "final.pt").is_file()
    r = json.loads((out / "eval" / "seed0" / "results.json").read_text())
    assert r["tasks"] == ["cbir", "srr", "vqa"]
    groups = {e["group"] for e in r["encoders"] if e["status"] == "ok"}
    assert {"random init", "supervised", "C-SIP"} <= groups
    # the tables are printed, then the summary
    assert "CBIR" in res.output and "SRR" in res.output and "VQA" in res.output
    assert "csip run — summary" in res.output

    s = json.loads((out / "summary.json").read_text())
    assert s["format"] == "csip-run-summary" and s["seeds"] == [0]
    assert s["settings"]["n"] == 120 and s["settings"]["model"] == "2d" and s["settings"]["eval_split"] == "test"
    for row in ("random-init", "supervised", "C-SIP"):
        vals = s["ndcg"][row]
        assert len(vals) == 1 and 0 < vals[0] <= 100
        st = s["stats"][row]
        assert st["mean"] == pytest.approx(vals[0]) and st["range"] == 0 and st["std"] == 0
    assert set(s["verdict"]) == {"random-init", "supervised"}
    emb = s["ndcg"]["C-SIP (embedding)"]  # C-SIP retrieving in its shared image-banner space
    assert len(emb) == 1 and 0 < emb[0] <= 100
    assert s["headline_row"] == "C-SIP (embedding)" and set(s["verdict_embedding"]) == {"random-init", "supervised"}
    assert s["csip_beats_both_by_more_than_spread"] is None  # one seed: no spread, no claim
    assert set(s["timings_s"]) == {"precompute", "pretrain", "eval", "total"}
    md = (out / "summary.md").read_text()
    assert "| C-SIP |" in md and "no verdict" in md


def test_run_rerun_skips_finished_stages(tiny_run):
    out, res, _ = tiny_run
    assert res.exit_code == 0, res.output
    before = (out / "runs" / "csip-seed0" / "checkpoints" / "final.pt").stat().st_mtime_ns
    again = _run(["--out", out, *TINY, "--quiet"])
    assert again.exit_code == 0, again.output
    assert "pretrain csip-seed0: skipped" in again.output
    assert "eval seed 0: skipped" in again.output
    assert (out / "runs" / "csip-seed0" / "checkpoints" / "final.pt").stat().st_mtime_ns == before
    assert json.loads((out / "summary.json").read_text())["ndcg"] == json.loads(
        (out / "summary.json").read_text())["ndcg"]


def test_run_refuses_other_settings_in_the_same_out(tiny_run):
    out, res, _ = tiny_run
    assert res.exit_code == 0, res.output
    other = [a if a != "1" else "2" for a in TINY]  # --epochs 2
    bad = CliRunner().invoke(main, ["run", "--out", str(out), *other])
    assert bad.exit_code != 0
    assert "other settings" in bad.output and "epochs" in bad.output


def _fake_results(random_init, supervised, csip):
    def row(group, v):
        return {"name": group, "group": group, "status": "ok", "ndcg": {"10": v / 100, "25": v / 100}}

    return {"cbir": {"rows": [row("reference", 80.0), row("random init", random_init),
                              row("supervised", supervised), row("C-SIP", csip)]}}


def test_summary_margins_and_spreads():
    per_seed = {0: _fake_results(89.6, 84.0, 93.9), 1: _fake_results(89.0, 83.1, 93.4),
                2: _fake_results(89.7, 83.6, 93.4)}
    s = summarise(per_seed, "2d")
    assert s["ndcg"]["C-SIP"] == pytest.approx([93.9, 93.4, 93.4])
    c = s["stats"]["C-SIP"]
    assert c["mean"] == pytest.approx(93.5667, abs=1e-3) and c["range"] == pytest.approx(0.5)
    assert c["std"] == pytest.approx(0.288675, abs=1e-5)  # sample std (ddof 1)
    v = s["verdict"]["random-init"]
    assert v["margin"] == pytest.approx(93.5667 - 89.4333, abs=1e-3)
    assert v["spread"] == pytest.approx(0.7)  # the larger range: random-init's 89.0..89.7
    assert v["beats_by_more_than_spread"] and v["no_overlap"]
    assert v["paired_differences"] == pytest.approx([4.3, 4.4, 3.7])
    assert s["csip_beats_both_by_more_than_spread"] is True and s["headline_row"] == "C-SIP"
    with_emb = summarise(per_seed, "2d", embed_ndcg={0: 80.0, 1: 81.0, 2: 80.5})
    assert with_emb["headline_row"] == "C-SIP (embedding)"
    assert with_emb["csip_beats_both_by_more_than_spread"] is False  # the headline row decides
    assert with_emb["csip_features_beat_both_by_more_than_spread"] is True
    assert with_emb["stats"]["C-SIP (embedding)"]["range"] == pytest.approx(1.0)


def test_summary_too_close_to_call():
    per_seed = {0: _fake_results(81.0, 81.3, 81.5), 1: _fake_results(80.0, 80.1, 80.2),
                2: _fake_results(81.2, 82.0, 81.0)}
    s = summarise(per_seed, "resnet18+2d")
    assert not s["verdict"]["supervised"]["beats_by_more_than_spread"]
    assert not s["verdict"]["supervised"]["no_overlap"]
    assert s["csip_beats_both_by_more_than_spread"] is False


def test_shared_text_encoder_is_built_once_and_restored(monkeypatch):
    from csip.commands.pipeline import shared_text_encoder
    from csip.eval import vqa

    built = []

    class Fake:
        def __init__(self, path=None, device="cpu", **kw):
            built.append((path, device))

    monkeypatch.setattr(vqa, "TextEncoder", Fake)
    with shared_text_encoder():
        a = vqa.TextEncoder(None, device="cpu")
        b = vqa.TextEncoder(None, device="cpu")
        c = vqa.TextEncoder("other", device="cpu")
    assert a is b and c is not a and built == [(None, "cpu"), ("other", "cpu")]
    assert vqa.TextEncoder is Fake
