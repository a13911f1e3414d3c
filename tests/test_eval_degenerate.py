"""Degenerate evaluations are flagged "not meaningful" and print no bold (never a bold 100.0):
a CBIR cut-off k with fewer than k candidates per query, an SRR test split of one class, VQA
answers all of one class. The checks are on the task functions that decide it and on the
tables they draw."""

from __future__ import annotations

import numpy as np

from csip.eval.cbir import CbirResult, cbir_table, ndcg, short_cutoffs
from csip.eval.report import not_meaningful_line
from csip.eval.srr import SrrResult, one_class_test, srr_table
from csip.eval.vqa import VqaResult, one_answer, vqa_table


def test_ndcg_with_one_candidate_is_100_whatever_the_features():
    # why the flag exists: with two items each query ranks one candidate, and any ranking is ideal
    rng = np.random.default_rng(0)
    for _ in range(3):
        out = ndcg(rng.standard_normal((2, 4)), rng.random((2, 6)) + 0.1, ks=(10, 25))
        assert out == {10: 1.0, 25: 1.0}


def test_cbir_cutoffs_beyond_the_gallery_are_named_with_the_split():
    short, why = short_cutoffs((10, 25), np.arange(12), None, "test", None)
    assert short == (25,)  # 11 candidates: NDCG@10 measured, NDCG@25 not
    assert why == ("the test split has 12 items, 11 candidates per query (NDCG@25 needs at least 26); "
                   "these columns rank the whole gallery")
    assert short_cutoffs((10, 25), np.arange(26), None, "test", None) == ((), None)
    # a disjoint gallery: every gallery item is a candidate
    assert short_cutoffs((10,), np.arange(3), np.arange(10, 20), "test", "train") == ((), None)
    short, why = short_cutoffs((10,), np.arange(3), np.arange(10, 19), "test", "train")
    assert short == (10,) and why.startswith("the gallery (train split) has 9 items, 9 candidates per query "
                                             "(NDCG@10 needs at least 10)")
    # the queries in the gallery: each is left out of its own ranking
    assert short_cutoffs((10,), np.arange(3), np.arange(0, 11), "test", "all") == ((), None)
    assert short_cutoffs((10,), np.arange(3), np.arange(0, 10), "test", "all")[0] == (10,)


def test_a_flagged_cbir_column_has_no_bold_the_others_keep_it():
    rows = [CbirResult("a", "C-SIP", "2d", "ok", "", {10: 0.8, 25: 1.0}),
            CbirResult("b", "supervised", "2d", "ok", "", {10: 0.7, 25: 1.0})]
    md = cbir_table(rows, (10, 25), plain=(25,))
    assert "**80.0**" in md and "**100.0**" not in md and "100.0" in md
    assert "**" not in cbir_table(rows, (10, 25), plain=(10, 25))


def test_srr_of_one_test_class_is_flagged_and_plain():
    classes = ("above", "below", "to the left of")
    assert one_class_test((0, 0, 2), classes) == ("the test split's 2 labelled items are all 'to the left of': "
                                                  "the class prior scores 100% at every n")
    assert one_class_test((1, 0, 2), classes) is None
    rows = [SrrResult("a", "C-SIP", "2d", "ok", "", {1: 1.0, 2: 1.0})]
    assert "**" not in srr_table(rows, (1, 2), bold=False) and "**100.0**" in srr_table(rows, (1, 2))


def test_vqa_answers_of_one_class_are_flagged_test_first_then_train():
    split = np.array([0, 0, 1, 2, 2])
    assert one_answer(np.array([True, False, True, True, True]), split) == (
        "every test answer is 'yes' (2 questions): the majority class scores 100%")
    assert one_answer(np.array([False, False, True, True, False]), split) == (
        "every train answer is 'no' (2 questions): every head learns to answer it")
    assert one_answer(np.array([True, False, True, True, False]), split) is None
    rows = [VqaResult("text only", ("text",), "ok", "", 1.0)]
    assert "**" not in vqa_table(rows, bold=False) and "**100.00**" in vqa_table(rows)


def test_the_flag_line():
    assert not_meaningful_line(None) == ""
    assert not_meaningful_line("why") == "> not meaningful: why\n\n"
