"""CBIR: NDCG@k (paper eq. 7) against a brute-force loop, a hand-checked case and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from csip.eval.cbir import ndcg, ndcg_bruteforce, ndcg_per_query, top_k
from eval_helpers import random_features


def test_matches_bruteforce_loop_across_k_and_chunks():
    f = random_features(37, 8, seed=1)
    s = np.abs(random_features(37, 3 * 5, seed=2)).reshape(37, 3, 5)  # non-negative, like banners
    for k in (1, 5, 10, 25, 36, 100):  # 100 > gallery: clipped to the 36 other items
        ref = ndcg_bruteforce(f, s, k)
        for chunk in (1, 7, 1000):
            got = ndcg(f, s, ks=(k,), chunk=chunk)[k]
            assert got == pytest.approx(ref, abs=1e-6), (k, chunk)


def test_hand_checked_tiny_case():
    # banners (flattened) of three items; relevance of 1 and 2 for query 0: cos 45° and cos 90°
    s = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    # features rank item 2 before item 1 for query 0 (the wrong order)
    f = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]], dtype=np.float32)
    per = ndcg_per_query(f, s, ks=(1, 2))
    r = 1 / math.sqrt(2)
    assert per[1][0] == pytest.approx(0.0)  # DCG_1 = rel(item 2) = 0
    assert per[2][0] == pytest.approx((0 + r / math.log2(3)) / (r + 0), abs=1e-6)  # = 1/log2(3)
    # query 1: relevances (items 0, 2) = (r, r): every order is ideal
    assert per[1][1] == pytest.approx(1.0) and per[2][1] == pytest.approx(1.0)


def test_perfect_ranking_and_sfb_itself_give_one():
    rng = np.random.default_rng(0)
    s = rng.random((30, 4, 6)).astype(np.float32)
    res = ndcg(s.reshape(30, -1), s, ks=(1, 10, 25))
    assert all(v == pytest.approx(1.0, abs=1e-6) for v in res.values())
    # a positive scaling of the features (and of each feature row) changes nothing
    f = random_features(30, 5)
    base = ndcg(f, s, ks=(10,))[10]
    assert ndcg(f * np.linspace(0.5, 3, 30)[:, None], s, ks=(10,))[10] == pytest.approx(base, abs=1e-6)
    # one query against a gallery, features built to rank exactly by relevance: 1; reversed: < 1
    q = s[:1]
    g = s[1:]
    rel = (g.reshape(29, -1) @ q.reshape(-1)) / (np.linalg.norm(g.reshape(29, -1), axis=1) * np.linalg.norm(q))
    angle = np.argsort(np.argsort(-rel)) * (np.pi / 2 / 29)  # rank 0 -> angle 0 (cosine 1)
    gf = np.stack([np.cos(angle), np.sin(angle)], 1).astype(np.float32)
    qf = np.array([[1.0, 0.0]], dtype=np.float32)
    assert ndcg(qf, q, ks=(10,), gallery_features=gf, gallery_sfb=g)[10] == pytest.approx(1.0, abs=1e-6)
    worst = ndcg(qf, q, ks=(10,), gallery_features=gf[:, ::-1].copy(), gallery_sfb=g)[10]
    assert worst < 0.999


def test_gallery_mode_excludes_the_query_by_id():
    f = random_features(25, 6, seed=3)
    s = np.abs(random_features(25, 12, seed=4))
    q_ids = np.arange(5, 15)
    # gallery = every item: the query must not retrieve itself (ids match) -> equals leave-one-out on
    # the full set restricted to those queries
    full = ndcg_per_query(f, s, ks=(10,))[10]
    gal = ndcg_per_query(f[q_ids], s[q_ids], ks=(10,), gallery_features=f, gallery_sfb=s,
                         query_ids=q_ids, gallery_ids=np.arange(25))[10]
    assert np.allclose(gal, full[q_ids], atol=1e-6)
    with pytest.raises(ValueError):
        ndcg(f, s, ks=(0,))
    with pytest.raises(ValueError):
        ndcg(f[:1], s[:1], ks=(5,))  # no other item


def _ndcg_visible_reference(fq, sq, fg, sg, q_ids, g_ids, k):
    """Slow NDCG@k per query against the gallery items without its id, k clipped per query."""
    def cos(a, b):
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    out = []
    for i in range(len(fq)):
        seen = [j for j in range(len(fg)) if g_ids[j] != q_ids[i]]
        sims = [cos(fq[i], fg[j]) for j in seen]
        rels = [cos(sq[i], sg[j]) for j in seen]
        ranked = sorted(range(len(seen)), key=lambda t: -sims[t])
        kk = min(k, len(seen))
        dcg = sum(rels[ranked[r]] / math.log2(r + 2) for r in range(kk))
        idcg = sum(v / math.log2(r + 2) for r, v in enumerate(sorted(rels, reverse=True)[:kk]))
        out.append(dcg / idcg)
    return np.array(out)


def test_a_query_outside_the_gallery_sees_every_gallery_item():
    """Queries 0-2 are gallery items (each sees 11 of 12), queries 3-4 are not (they see all 12):
    at k >= 12 the latter's last rank counts."""
    f = random_features(17, 6, seed=5)
    s = np.abs(random_features(17, 12, seed=6))
    g_ids, q_ids = np.arange(12), np.array([0, 1, 2, 12, 13])
    for k in (5, 11, 12, 50):
        got = ndcg_per_query(f[q_ids], s[q_ids], ks=(k,), gallery_features=f[:12], gallery_sfb=s[:12],
                             query_ids=q_ids, gallery_ids=g_ids)[k]
        ref = _ndcg_visible_reference(f[q_ids], s[q_ids], f[:12], s[:12], q_ids, g_ids, k)
        assert np.allclose(got, ref, atol=1e-6), (k, got, ref)


def test_ties_are_broken_by_gallery_order_deterministically():
    f = np.ones((10, 3), dtype=np.float32)  # every cosine ties
    s = np.abs(random_features(10, 4, seed=5))
    a = ndcg_per_query(f, s, ks=(3,))[3]
    b = ndcg_per_query(f, s, ks=(3,), chunk=2)[3]
    assert np.array_equal(a, b)
    assert ndcg(f, s, ks=(3,))[3] == pytest.approx(ndcg_bruteforce(f, s, 3), abs=1e-6)


def test_top_k_excludes_and_orders():
    g = np.eye(4, dtype=np.float32)
    q = np.array([[1.0, 0.5, 0.0, 0.0]], dtype=np.float32)
    idx, sc = top_k(q, g, 2)
    assert idx[0].tolist() == [0, 1] and sc[0][0] > sc[0][1]
    idx, _ = top_k(q, g, 2, exclude=[0])
    assert idx[0].tolist() == [1, 2]
    assert torch.is_tensor(torch.as_tensor(sc))
