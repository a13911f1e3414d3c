"""Cross-modal retrieval (``--task crossmodal``): against slow references written from the
definitions, invariances, and the task through ``csip eval``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from csip.cli import main
from csip.eval.crossmodal import crossmodal_scores, self_ranks
from eval_helpers import trained_run
from towers_helpers import aligned_csip_run

pytestmark = pytest.mark.usefixtures("single_thread")


def _cos(a, b) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _slow(q, g, sfb, ks=(1, 5, 10), k_ndcg=10):
    """Recall@k of the item itself and NDCG@k, one query at a time, from the definitions."""
    n = len(q)
    s = sfb.reshape(n, -1).astype(np.float64)
    hits = {k: 0 for k in ks}
    nd = []
    for i in range(n):
        sims = [_cos(q[i], g[j]) for j in range(n)]
        order = sorted(range(n), key=lambda j: -sims[j])  # stable: ties by gallery order
        rank = order.index(i) + 1
        for k in ks:
            hits[k] += rank <= k
        rel = [_cos(s[i], s[j]) for j in range(n)]
        dcg = sum(rel[order[r]] / np.log2(r + 2) for r in range(min(k_ndcg, n)))
        ideal = sorted(rel, reverse=True)
        nd.append(dcg / sum(ideal[r] / np.log2(r + 2) for r in range(min(k_ndcg, n))))
    return {k: hits[k] / n for k in ks}, float(np.mean(nd))


def _random(n=40, e=6, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n, e))
    v = u + 1.2 * rng.standard_normal((n, e))  # partly aligned, so recalls are neither 0 nor 1
    return u.astype(np.float32), v.astype(np.float32), rng.random((n, 3, 5)).astype(np.float32)


def test_scores_match_a_slow_reference_in_both_directions():
    u, v, sfb = _random()
    got = crossmodal_scores(u, v, sfb)
    for name, (q, g) in (("banner_to_image", (u, v)), ("image_to_banner", (v, u))):
        rec, nd = _slow(q.astype(np.float64), g.astype(np.float64), sfb)
        assert got[name]["recall"] == pytest.approx(rec) and got[name]["ndcg"] == pytest.approx(nd, abs=1e-5)
    assert 0 < got["banner_to_image"]["recall"][5] < 1


def test_ties_rank_after_earlier_items_and_chunks_do_not_matter():
    q = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    g = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert self_ranks(q, g).tolist() == [1, 2, 1]  # item 1 ties with item 0, which comes first
    u, v, _ = _random(n=33)
    assert (self_ranks(u, v, chunk=5) == self_ranks(u, v)).all()


def test_permuting_the_items_changes_nothing():
    u, v, sfb = _random(seed=3)
    perm = np.random.default_rng(1).permutation(len(u))
    a, b = crossmodal_scores(u, v, sfb), crossmodal_scores(u[perm], v[perm], sfb[perm])
    for d in a:
        assert a[d]["recall"] == b[d]["recall"] and a[d]["ndcg"] == pytest.approx(b[d]["ndcg"], abs=1e-6)


def test_identical_towers_find_every_item_first():
    u, _, sfb = _random(seed=4)
    got = crossmodal_scores(u, u, sfb)
    assert got["banner_to_image"]["recall"] == {1: 1.0, 5: 1.0, 10: 1.0}


def test_the_task_through_csip_eval(base, cache, tmp_path):
    from csip.cache import Cache
    from csip.eval.features import extract
    from csip.models.towers import embed_banners, image_side, load_towers, towers_config

    run, sup = aligned_csip_run(base, cache), trained_run(base, cache, "2d", supervised=True)
    out = tmp_path / "e"
    res = CliRunner().invoke(main, ["eval", "--cache", cache, "--out", out, "--task", "crossmodal", "--checkpoint",
                                    f"csip={run}", "--checkpoint", f"sup={sup}", "--device", "cpu", "--no-figures",
                                    "--quiet"])
    assert res.exit_code == 0, res.output
    r = json.loads((out / "results.json").read_text())
    assert r["tasks"] == ["crossmodal"]
    rows = {x["name"]: x for x in r["crossmodal"]["rows"]}
    c = Cache(cache)
    idx = c.indices("test")
    n = len(idx)
    assert rows["chance"]["banner_to_image"] == {str(k): min(k, n) / n for k in (1, 5, 10)}
    assert rows["sup"]["status"] == "skipped" and "no banner tower" in rows["sup"]["note"]
    assert rows["random-init 2D"]["status"] == "ok" and "random C-SIP towers" in rows["random-init 2D"]["note"]
    model = load_towers(run)
    cfg = towers_config(run)
    v = extract(image_side(model, cfg), c, idx, device="cpu", features="embed").rows(idx)
    u = embed_banners(model, np.asarray(c.sfb[idx]))
    rec, nd = _slow(u.astype(np.float64), v.astype(np.float64), np.asarray(c.sfb[idx]))
    assert {int(k): x for k, x in rows["csip"]["banner_to_image"].items()} == pytest.approx(rec)
    assert rows["csip"]["ndcg_banner_to_image"] == pytest.approx(nd, abs=1e-5)
    assert "## Cross-modal retrieval" in (out / "crossmodal.md").read_text()


def test_all_does_not_run_it():
    from csip.eval.config import EvalConfig
    from csip.eval.plan import asked_tasks

    assert "crossmodal" not in asked_tasks(EvalConfig(cache="c", out="o"))
    assert list(asked_tasks(EvalConfig(cache="c", out="o", tasks=("all", "crossmodal")))) == \
        ["cbir", "srr", "vqa", "crossmodal"]
