"""Zero-shot / k-shot relation recognition from layouts (csip.eval.relation_shot) and the canonical
layouts (csip.eval.layouts), against slow references written from the definitions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from csip.data import PREDICATES
from csip.data.synthetic.masks import centroid, dilate
from csip.data.synthetic.relations import ObjectMasks, relations
from csip.eval import relation_shot as R
from csip.eval.layouts import MIN_SIZE, canonical_layouts, merged_classes

# --------------------------------------------------------------------------- slow references


def _unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def _slow_prototypes(emb, labels, n_classes):
    out = []
    for c in range(n_classes):
        rows = [_unit(list(e)) for e, y in zip(emb, labels) if y == c]
        out.append(None if not rows else _unit([sum(col) / len(rows) for col in zip(*rows)]))
    return out


def _slow_acc(queries, protos, labels, groups, ns):
    """Acc@n: a query scores each group (a list of classes) by its best member's cosine; hit when
    its true group is among the n best groups."""
    hits = {n: 0 for n in ns}
    for q, y in zip(queries, labels):
        q = _unit(list(q))
        cos = [-math.inf if p is None else sum(a * b for a, b in zip(q, p)) for p in protos]
        score = [max(cos[c] for c in g) for g in groups]
        order = sorted(range(len(groups)), key=lambda j: -score[j])
        true = next(j for j, g in enumerate(groups) if y in g)
        for n in ns:
            hits[n] += true in order[:n]
    return {n: hits[n] / len(labels) for n in ns}


NINE = [[c] for c in range(9)]
SIX = [[0, 8], [1, 3], [2], [4], [5], [6, 7]]
NS = (1, 2, 3, 4, 5)


def _toy(seed=0, n=80, e=6):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, e)), rng.integers(0, 9, n), rng.standard_normal((40, e)), rng.integers(0, 9, 40)


# --------------------------------------------------------------------------- the maths


def test_prototypes_are_normalised_means_of_normalised_embeddings():
    emb, y, _, _ = _toy()
    y[y == 4] = 5  # class 4 has no item: its prototype is missing
    got = R.prototypes(emb, y, 9)
    want = _slow_prototypes(emb, y, 9)
    for c in range(9):
        if want[c] is None:
            assert np.isnan(got[c]).all()
        else:
            np.testing.assert_allclose(got[c], want[c], rtol=1e-12)


def test_nearest_prototype_acc_at_n_matches_the_slow_reference_over_9_and_6_classes():
    emb, y, q, yq = _toy(1)
    y[y == 2] = 0  # a class without prototype ranks last, never first
    protos = R.prototypes(emb, y, 9)
    names, of = merged_classes()
    a9, a6 = R.accuracies(R.cosine_scores(q, protos), yq, of, NS)
    slow = _slow_prototypes(emb, y, 9)
    assert a9 == pytest.approx(_slow_acc(q, slow, yq, NINE, NS), abs=1e-6)
    assert a6 == pytest.approx(_slow_acc(q, slow, yq, SIX, NS), abs=1e-6)
    assert R.accuracies(R.cosine_scores(q, protos), yq, of, (6,))[1][6] == 1.0


def test_accuracy_does_not_depend_on_the_class_numbering():
    emb, y, q, yq = _toy(2)
    perm = np.random.default_rng(3).permutation(9)
    a = R.accuracies(R.cosine_scores(q, R.prototypes(emb, y, 9)), yq, np.arange(9), NS)[0]
    b = R.accuracies(R.cosine_scores(q, R.prototypes(emb, perm[y], 9)), perm[yq], np.arange(9), NS)[0]
    assert a == b


def test_the_merged_classes_join_the_mirror_pairs_by_their_names():
    names, of = merged_classes()
    assert names == ("above / under", "behind / in front of", "in", "next to", "on",
                     "to the left of / to the right of")
    by = {p: names[of[i]] for i, p in enumerate(PREDICATES)}
    assert by["above"] == by["under"] and by["behind"] == by["in front of"]
    assert by["to the left of"] == by["to the right of"] and len(set(by.values())) == 6
    assert [sorted(np.flatnonzero(of == m).tolist()) for m in range(6)] == SIX


def test_the_merged_class_prior_ranks_by_summed_train_frequency():
    y_train = np.array([0] * 5 + [8] * 4 + [2] * 7 + [6] * 1)  # above+under = 9 > in = 7
    _, of = merged_classes()
    s = R.prior_scores(y_train, 3, 9, of)
    assert s.shape == (3, 6) and int(np.argmax(s[0])) == 0
    assert int(np.argmax(R.prior_scores(y_train, 1, 9)[0])) == 2


def test_k_shot_samples_k_distinct_items_per_class_reproducibly_and_says_when_a_class_has_fewer():
    y = np.array([0] * 20 + [1] * 3 + [2] * 20)
    pick, notes = R.sample_shots(y, 4, 9, np.random.default_rng(0))
    assert np.bincount(y[pick], minlength=9).tolist() == [4, 3, 4, 0, 0, 0, 0, 0, 0]
    assert len(set(pick.tolist())) == len(pick)
    again, _ = R.sample_shots(y, 4, 9, np.random.default_rng(0))
    assert np.array_equal(pick, again)
    assert "4-shot: 'behind' has 3 labelled train items, all used" in notes
    assert "4-shot: 'in front of' has no labelled train item: no prototype, never predicted" in notes
    with pytest.raises(ValueError, match="k-shot needs k >= 1, got 0"):
        R.sample_shots(y, 0, 9, np.random.default_rng(0))


# --------------------------------------------------------------------------- the canonical layouts


@pytest.mark.parametrize("size", [MIN_SIZE, 32, 64, 128])
def test_every_canonical_layout_gets_its_predicate_from_the_synthetic_scenes_rules(size):
    for pred, layouts in canonical_layouts(size).items():
        assert len(layouts) >= 3
        for lay in layouts:
            a = ObjectMasks(lay.mask_a, lay.full_a, lay.full_a)
            b = ObjectMasks(lay.mask_b, lay.full_b, lay.full_b)
            _, label = relations(a, b, lay.a_in_front, size)
            assert label is not None and PREDICATES[label] == pred, lay.name


def _theta(lay):
    (xa, ya), (xb, yb) = centroid(lay.mask_a), centroid(lay.mask_b)
    return math.degrees(math.atan2(yb - ya, xa - xb))


def _gap(a, b):
    """Chebyshev distance between two masks (0: overlapping)."""
    return next(k for k in range(64) if (dilate(a, k) & b).any())


def test_canonical_layouts_follow_their_documented_rules():
    lay = canonical_layouts(64)
    for pred, lo, hi in (("above", 75, 105), ("under", -105, -75), ("to the right of", -15, 15)):
        for x in lay[pred][:3]:
            assert lo <= _theta(x) <= hi and _gap(x.mask_a, x.mask_b) > 3, x.name
    for x in lay["to the left of"]:
        assert abs(_theta(x)) >= 165 and _gap(x.mask_a, x.mask_b) > 3
    for x in lay["next to"]:
        assert 1 < _gap(x.mask_a, x.mask_b) <= 3 and (abs(_theta(x)) <= 30 or abs(_theta(x)) >= 150)
    for x in lay["on"]:
        assert _gap(x.mask_a, x.mask_b) == 1 and centroid(x.mask_a)[1] < centroid(x.mask_b)[1]
    for x in lay["in"]:
        assert x.a_in_front and not (x.full_a & ~x.full_b).any() and 4 * x.full_a.sum() <= x.full_b.sum()
        assert np.array_equal(x.mask_b, x.full_b & ~x.full_a)  # the hole A leaves in B
    for front, back in zip(lay["in front of"], lay["behind"]):
        # in front of: B is the bitten one; behind: A is, by the same object
        bite = front.full_a & front.full_b
        share = bite.sum() / min(front.full_a.sum(), front.full_b.sum())
        assert 0.08 <= share and (front.full_a & front.full_b).sum() <= 0.5 * front.full_a.sum()
        assert np.array_equal(front.mask_a, front.full_a) and np.array_equal(front.mask_b, front.full_b & ~bite)
        assert np.array_equal(back.mask_a, front.mask_b) and np.array_equal(back.mask_b, front.mask_a)
        assert not back.a_in_front


def test_the_symmetric_banner_of_every_canonical_layout_is_that_of_the_exchanged_pair():
    import csip_core

    for layouts in canonical_layouts(32).values():
        for x in layouts:
            kw = {"forces": [-2.0, 0.0, 0.96, 2.0], "n_angles": 24, "normalize": "none"}
            ab = np.asarray(csip_core.sfb(x.mask_a, x.mask_b, **kw))
            ba = np.asarray(csip_core.sfb(x.mask_b, x.mask_a, **kw))
            assert np.isfinite(ab).all() and ab.max() > 0 and np.array_equal(ab, ba), x.name


def test_a_canvas_too_small_for_the_layouts_is_refused_with_its_size():
    with pytest.raises(ValueError, match=f"at least {MIN_SIZE} px, got 16"):
        canonical_layouts(16)


# --------------------------------------------------------------------------- the task


@pytest.fixture(scope="module")
def run(base, cache):
    from eval_helpers import trained_run

    return trained_run(base, cache, "2d")


def _direct_zero_shot(cache, run_dir):
    """Zero-shot Acc@1 (9 classes) of the test images, from the definitions: banners of the
    canonical layouts by csip_core.sfb with the cache's descriptor, prototypes by the slow
    reference, image embeddings by the image tower's embed()."""
    import torch

    import csip_core
    from csip.cache import CacheDataset
    from csip.models.encoder import load_encoder

    model, _ = R.load_csip_model(run_dir)
    d = cache.descriptor
    lays = [(PREDICATES.index(p), x) for p, xs in canonical_layouts(cache.image_size).items() for x in xs]
    ban = np.stack([np.asarray(csip_core.sfb(x.mask_a, x.mask_b, forces=list(d["forces"]), n_angles=d["n_angles"],
                                             normalize=d["normalize"]), np.float32) for _, x in lays])
    with torch.no_grad():
        u = model.encode_spatial(torch.from_numpy(ban)).numpy().astype(np.float64)
    protos = _slow_prototypes(u, [c for c, _ in lays], 9)
    tower = load_encoder(run_dir)
    labels = np.asarray(cache.labels)
    test = [i for i in cache.indices("test") if labels[i] >= 0]
    ds = CacheDataset(cache)
    with torch.no_grad():
        q = [tower.embed({k: torch.as_tensor(ds[i][k])[None] for k in tower.uses})[0].double().numpy() for i in test]
    return _slow_acc(q, protos, labels[test], NINE, (1,))[1]


def test_the_task_gives_the_zero_shot_accuracy_of_the_definitions_and_round_trips(cache, run, tmp_path, single_thread):
    from csip.cache import Cache
    from csip.eval import EvalConfig, evaluate
    from csip.eval.results import EvalResults

    out = tmp_path / "e"
    res = evaluate(EvalConfig(cache=cache, out=out, tasks=("zeroshot",), checkpoints=(("c", run),),
                              random_init_models=("2d",), figures=False, device="cpu", probe_epochs=5))
    t = res.tables["zeroshot"]
    by = {r.name: r for r in t.rows}
    row = by["c"]
    assert row.status == "ok" and row.group == "C-SIP"
    assert row.image["zero-shot"][1] == pytest.approx(_direct_zero_shot(Cache(cache), run), abs=1e-6)
    twin = by["random-init C-SIP towers (c)"]
    assert twin.status == "ok" and twin.group == "random init" and set(twin.image) == set(R.METHODS)
    assert by["random-init 2D"].status == "skipped" and "no banner tower" in by["random-init 2D"].note
    prior = by["class prior"]
    assert prior.image["zero-shot"] == prior.image["probe"]
    for r in (row, twin):
        for key in ("image", "image6", "banner", "banner6"):
            for m, acc in getattr(r, key).items():
                assert all(0.0 <= v <= 1.0 for v in acc.values()) and acc[1] <= acc[5], (r.name, key, m)
        assert all(r.image6[m][1] >= r.image[m][1] for m in R.METHODS)  # merging never loses a hit
    doc = json.loads((out / "results.json").read_text())
    assert EvalResults.from_json(doc).tables["zeroshot"] == t
    assert "## Relation recognition from layouts" in (out / "report.md").read_text()


def test_an_exported_encoder_has_no_banner_tower_and_is_skipped_with_a_note(run, tmp_path):
    from csip.models.encoder import export_encoder, run_checkpoint

    exp = export_encoder(run_checkpoint(run), tmp_path / "exp")
    model, why = R.load_csip_model(exp)
    assert model is None and "exported encoder" in why and "no banner tower" in why
