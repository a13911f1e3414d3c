"""Annotation records of the box adapters (SpatialSense, UnRel, GQA) read with their types, and
adapter options read as meant: a malformed record is one error naming its place, never a
traceback, a string concatenated as a number or ``bool("false")``."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from csip.base.errors import BadFile
from csip.data.option_values import option_bool, option_float, option_int
from csip.data.source import open_source
from data_fixtures import write_gqa, write_spatialsense, write_unrel


def _open(spec: str, **opts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # box-shaped masks without SAM
        return open_source(spec, **opts)


def _edit(path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


# --------------------------------------------------------------------------- option values
def test_option_values_are_read_as_meant_or_refused_by_name():
    assert [option_bool(v, "x") for v in (True, "False", "no", "YES", 0, "1", " off ")] == [
        True, False, False, True, False, True, False]
    for v in ("nope", 2, None, 0.5):
        with pytest.raises(ValueError, match=r"option x=.*: expected true or false"):
            option_bool(v, "x")
    assert option_int("64", "size") == 64 and option_int(64.0, "size") == 64
    for v in (64.9, math.inf, "abc", True, None):
        with pytest.raises(ValueError, match=r"option size=.*: expected an integer"):
            option_int(v, "size")
    with pytest.raises(ValueError, match=r"option size=8: must lie in \[32, 4096\]"):
        option_int(8, "size", 32, 4096)
    assert option_float("0.5", "p") == 0.5
    for v in (math.nan, "inf", False):
        with pytest.raises(ValueError, match="expected a finite number"):
            option_float(v, "p")


def test_a_textual_false_option_is_false(tmp_path):
    path = write_spatialsense(tmp_path)
    assert len(_open(f"spatialsense:{path}", positives_only="False")) == 3  # the negative is kept
    with pytest.raises(ValueError, match="option min_pixels=inf: expected an integer"):
        _open(f"spatialsense:{path}", min_pixels=math.inf)


# --------------------------------------------------------------------------- SpatialSense
def test_spatialsense_items_keep_their_image_split_in_the_cache(tmp_path):
    from csip.cache import Cache, build

    src = _open(f"spatialsense:{write_spatialsense(tmp_path)}", positives_only=False)
    assert [src.load(i).split for i in range(len(src))] == ["train", "train", "test"]
    build(src, tmp_path / "c", image_size=16, workers=0, progress=False)
    assert Cache(tmp_path / "c").split.tolist() == [0, 0, 2]  # the file's splits, not a hash of the ids
    assert src.options()["item_splits"] == "image"  # in the build's parameters: a run begun hashing them is not resumed


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda d: d[0]["annotations"][0].update(label="false"),
            r"\[0\].annotations\[0\] has label str 'false', expected true or false",
        ),
        (lambda d: d[0].pop("url"), r"\[0\] has no 'url'"),
        (lambda d: d[1]["annotations"][0].pop("subject"), r"\[1\].annotations\[0\] has no 'subject'"),
        (
            lambda d: d[0]["annotations"][0]["subject"].update(bbox=[8, "24", 6, 22]),
            r"\[0\].annotations\[0\].subject has bbox .*, expected a list of 4 numbers",
        ),
        (lambda d: d[1].update(height="48"), r"\[1\] has height str '48', expected an integer >= 1"),
        (lambda d: d[0].update(split="dev"), r"\[0\] has split 'dev', expected one of train, valid, test"),
        (lambda d: d[0].update(annotations=None), r"\[0\].annotations is null, expected a list"),
    ],
)
def test_spatialsense_records_are_checked(tmp_path, change, message):
    path = write_spatialsense(tmp_path)
    _edit(path, change)
    with pytest.raises(BadFile, match="SpatialSense annotations .*annotations.json: " + message):
        _open(f"spatialsense:{path}")


def test_a_box_that_is_not_finite_skips_its_item_only(tmp_path):
    """As a COCO polygon with a NaN: the geometry of one annotation skips that item."""
    from csip.data import SkipItem

    path = write_spatialsense(tmp_path)
    _edit(path, lambda d: d[0]["annotations"][0]["subject"].update(bbox=[8, math.nan, 6, 22]))
    src = _open(f"spatialsense:{path}")
    with pytest.raises(SkipItem, match="box .* holds a value that is not finite") as err:
        src.load(0)
    assert err.value.reason == "bad annotation"
    assert src.load(1).label is not None  # the other item is fine


def test_a_spatialsense_document_that_is_not_a_list_is_named(tmp_path):
    path = write_spatialsense(tmp_path)
    path.write_text(json.dumps({"annotations": []}))
    with pytest.raises(BadFile, match="the document is dict .*, expected a list"):
        _open(f"spatialsense:{path}")


# --------------------------------------------------------------------------- UnRel
@pytest.mark.parametrize("change, message", [
    (lambda d: d[0].pop("filename"), r"\[0\] has no 'filename'"),
    (lambda d: d[0]["relationships"][0].pop("sub_box"), r"\[0\].relationships\[0\] has no 'sub_box'"),
    (lambda d: d[0]["relationships"][0].update(rels=[1, "on"]), r"\[0\].relationships\[0\] has rels \[1, 'on'\]"),
    (lambda d: d[0]["relationships"][1].update(obj_box=[36, 20, "58", 40]), r"\[0\].relationships\[1\] has obj_box"),
    (lambda d: d[0].update(relationships=None), r"\[0\].relationships is null, expected a list"),
])
def test_unrel_records_are_checked(tmp_path, change, message):
    root = write_unrel(tmp_path)
    _edit(root / "annotations.json", change)
    with pytest.raises(BadFile, match="UnRel annotations .*annotations.json: " + message):
        _open(f"unrel:{root}")


# --------------------------------------------------------------------------- GQA
def _gqa(tmp_path, graphs=None, questions=None):
    path = write_gqa(tmp_path)
    if graphs is not None:
        _edit(tmp_path / "val_sceneGraphs.json", graphs)
    if questions is not None:
        _edit(path, questions)
    return _open(f"gqa:{path}")


def test_gqa_boxes_are_numbers_not_concatenated_strings(tmp_path):
    src = _gqa(tmp_path)
    assert src._items[0][3] == ("book", (6.0, 8.0, 22.0, 24.0))  # x, y, x + w, y + h
    with pytest.raises(BadFile, match=r"GQA scene graphs .*: \['2354786'\].objects\['100'\] has x str '6', "
                                      "expected a number"):
        _gqa(tmp_path, graphs=lambda g: g["2354786"]["objects"]["100"].update(x="6"))


@pytest.mark.parametrize("change, message", [
    (lambda q: q["q1"].pop("imageId"), r"\['q1'\] has no 'imageId'"),
    (lambda q: q["q2"]["semantic"][1].update(dependencies=["0"]), r"\['q2'\].semantic\[1\] has dependencies \['0'\]"),
    (lambda q: q["q3"]["annotations"]["question"].update({"a:b": "100"}), r"\['q3'\].annotations.question has 'a:b'"),
    (lambda q: q.update(q6=None), r"\['q6'\] is null, expected an object"),
])
def test_gqa_questions_are_checked(tmp_path, change, message):
    with pytest.raises(BadFile, match="GQA questions .*: " + message):
        _gqa(tmp_path, questions=change)


def test_gqa_questions_without_answers_are_no_error(tmp_path):
    """GQA's test and challenge question files have no answers: such questions are not kept."""
    assert len(_gqa(tmp_path, questions=lambda q: q["q4"].pop("answer"))) == len(_gqa(tmp_path))


def test_gqa_scene_graph_objects_are_checked(tmp_path):
    with pytest.raises(BadFile, match=r"\['2354786'\].objects\['200'\] is null, expected an object"):
        _gqa(tmp_path, graphs=lambda g: g["2354786"]["objects"].update({"200": None}))
    with pytest.raises(BadFile, match=r"\['2354786'\] has height float 48.5, expected an integer >= 1"):
        _gqa(tmp_path, graphs=lambda g: g["2354786"].update(height=48.5))
    assert np.isfinite(_gqa(tmp_path).load(0).box_a).all()
