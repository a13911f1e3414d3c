"""Dataset adapters on tiny fixtures in their real file formats (no SAM: box masks)."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest

from csip.data import PREDICATES, Sample, SkipItem
from csip.data.common import box_mask, predicate_index, read_rgb, resolve_inside, saliency_order
from csip.data.sample import box_of
from csip.data.source import Source, open_source, parse_spec
from data_fixtures import (
    run_lengths,
    write_coco,
    write_gqa,
    write_gqa_release,
    write_image,
    write_random_coco,
    write_spatialsense,
    write_spatialsense_release,
    write_unrel,
    write_unrel_release,
)

RED_BOX = (6.0, 8.0, 22.0, 24.0)
BLUE_BOX = (36.0, 20.0, 58.0, 40.0)


def _check(sample: Sample) -> None:
    assert sample.image.dtype == np.uint8 and sample.image.ndim == 3
    assert sample.mask_a.dtype == bool and sample.mask_a.shape == sample.image.shape[:2]
    assert sample.mask_b.shape == sample.image.shape[:2]
    assert sample.mask_a.any() and sample.mask_b.any()


# --------------------------------------------------------------------------- COCO
def test_coco_polygon_rle_and_crowd(tmp_path):
    src = open_source(f"coco:{write_coco(tmp_path)}", images=tmp_path / "images")
    assert isinstance(src, Source) and src.name == "coco"
    assert len(src) == 1  # image 2 has 4 objects > max_objects
    s = src.load(0)
    _check(s)
    # A = largest (the compressed-RLE blue block), B = the polygon (red block); crowd ignored
    assert s.names == ("table", "cup")
    assert s.box_a == BLUE_BOX
    assert int(s.mask_a.sum()) == 22 * 20
    x0, y0, x1, y1 = s.box_b
    assert abs(x0 - 6) <= 1 and abs(y0 - 8) <= 1 and abs(x1 - 22) <= 1 and abs(y1 - 24) <= 1
    assert s.label is None and s.source == "coco"
    assert json.dumps(src.options())
    assert len(open_source(f"coco:{tmp_path / 'instances.json'}", images=tmp_path / "images", max_objects=4)) == 2


def test_coco_uncompressed_rle_selected_by_saliency(tmp_path):
    from csip.data.coco import decode_segmentation

    write_coco(tmp_path)
    data = json.loads((tmp_path / "instances.json").read_text())
    small = decode_segmentation(data["annotations"][2]["segmentation"], 48, 64)
    assert small.sum() == 16 and small[40:44, 2:6].all()


def test_coco_pickles_and_is_deterministic(tmp_path):
    src = open_source(f"coco:{write_coco(tmp_path)}", images=tmp_path / "images")
    clone = pickle.loads(pickle.dumps(src))
    a, b = src.load(0), clone.load(0)
    assert np.array_equal(a.mask_a, b.mask_a) and np.array_equal(a.image, b.image)


def test_coco_area_rule_on_rles_equals_decoding_every_mask(tmp_path):
    """The fast path (rank, size and box on RLEs; decode two) picks and boxes exactly what
    decoding every mask and measuring it would, on random polygons and RLEs of all kinds."""
    from csip.data.coco import decode_segmentation

    write_random_coco(tmp_path)
    src = open_source(f"coco:{tmp_path / 'ann.json'}", images=tmp_path / "images", min_pixels=1)
    checked = 0
    for i in range(len(src)):
        img_id, _, hh, ww, objs = src._items[i]
        masks = [decode_segmentation(seg, hh, ww) for seg, *_ in objs]
        order = saliency_order(masks, "area")
        try:
            s = src.load(i)
        except SkipItem as exc:
            assert exc.reason == "mask too small" and masks[order[1]].sum() == 0
            continue
        assert np.array_equal(s.mask_a, masks[order[0]]) and np.array_equal(s.mask_b, masks[order[1]])
        assert s.box_a == box_of(masks[order[0]]) and s.box_b == box_of(masks[order[1]])
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("saliency", ["area", "center"])
def test_coco_load_cropped_is_the_union_box_window_of_load(tmp_path, saliency):
    """What precompute loads (only the union box decoded into arrays) is exactly the window
    of the full sample, and prepares to the same cache item, banner included."""
    from csip.cache.prepare import add_banners, prepare_sample
    from csip.descriptor import DescriptorParams

    write_random_coco(tmp_path)
    src = open_source(f"coco:{tmp_path / 'ann.json'}", images=tmp_path / "images", min_pixels=1, saliency=saliency)
    desc = DescriptorParams.make("default", 36, "max")
    compared = smaller = 0
    for i in range(len(src)):
        try:
            full = src.load(i)
        except SkipItem as exc:
            with pytest.raises(SkipItem, match=exc.reason):
                src.load_cropped(i)
            continue
        cut, window = src.load_cropped(i), full.crop(full.union_box())
        smaller += cut.image.shape != full.image.shape
        for name in ("image", "mask_a", "mask_b"):
            np.testing.assert_array_equal(getattr(cut, name), getattr(window, name))
        assert (cut.box_a, cut.box_b, cut.id, cut.names) == (window.box_a, window.box_b, window.id, window.names)
        a, b = add_banners([prepare_sample(cut, i, 32), prepare_sample(full, i, 32)], desc)
        for name in ("image", "boxes", "masks", "sfb"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        compared += 1
    assert compared >= 20 and smaller >= 5


def test_decode_rle_window_equals_pycocotools(tmp_path):
    from pycocotools import mask as mask_utils

    from csip.data.coco import decode_rle, decode_rle_window

    rng = np.random.default_rng(11)
    h, w = 37, 53
    for k in range(60):
        m = np.asfortranarray(rng.random((h, w)) < rng.uniform(0.05, 0.95))
        m[0, 0] = k % 2 == 0  # RLEs that start with a run of 1s (a first count of 0) too
        rle = mask_utils.encode(m.astype(np.uint8))
        counts = {"size": [h, w], "counts": run_lengths(m)}  # the uncompressed form
        assert sum(counts["counts"]) == h * w
        x0, x1 = sorted(rng.choice(w + 1, 2, replace=False))
        y0, y1 = sorted(rng.choice(h + 1, 2, replace=False))
        for r in (rle, counts, {"size": [h, w], "counts": rle["counts"].decode("ascii")}):
            np.testing.assert_array_equal(decode_rle_window(r, h, w, (x0, y0, x1, y1)), m[y0:y1, x0:x1])
            np.testing.assert_array_equal(decode_rle_window(r, h, w, (0, 0, w, h)), decode_rle(rle, h, w))
    assert not decode_rle_window(None, h, w, (1, 2, 5, 9)).any()
    with pytest.raises(ValueError, match="not inside the 53x37 mask"):
        decode_rle_window(rle, h, w, (0, 0, w + 1, h))
    with pytest.raises(ValueError, match="expected 40x53"):
        decode_rle_window(rle, 40, w, (0, 0, w, 40))
    with pytest.raises(ValueError, match="not terminated"):
        decode_rle_window({"counts": b"0o"}, h, w, (0, 0, w, h))  # "o" (0x6f - 48 = 0x3f) promises more
    with pytest.raises(ValueError, match="negative"):
        decode_rle_window({"counts": [5, -1]}, h, w, (0, 0, w, h))
    with pytest.raises(TypeError, match="compressed RLE string"):
        decode_rle_window({"counts": {"a": 1}}, h, w, (0, 0, w, h))
    with pytest.raises(ValueError, match="not inside"):
        decode_rle_window(rle, h, w, (-1, 0, w, h))


def test_sample_crop_and_union_box():
    img = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    a = np.zeros((20, 30), bool)
    a[2:5, 3:9] = True
    b = np.zeros((20, 30), bool)
    b[10:18, 20:26] = True
    s = Sample("x", img, a, b, (3.0, 2.0, 9.0, 5.0), (20.25, 10.0, 25.5, 17.75))
    assert s.union_box() == (3, 2, 26, 18)  # floor of the low ends, ceiling of the high ones
    c = s.crop(s.union_box())
    assert c.image.shape == (16, 23, 3) and np.array_equal(c.image, img[2:18, 3:26])
    assert c.box_a == (0.0, 0.0, 6.0, 3.0) and c.box_b == (17.25, 8.0, 22.5, 15.75)
    assert c.mask_a.sum() == a.sum() and c.mask_b.sum() == b.sum()
    assert (c.id, c.label) == (s.id, s.label)
    far = Sample("y", img, a, b, (-4.0, -3.0, 9.0, 5.0), (20.0, 10.0, 45.0, 27.0))
    assert far.union_box() == (0, 0, 30, 20)  # clamped to the image
    with pytest.raises(ValueError, match="not inside the 30x20 image"):
        s.crop((0, 0, 31, 20))
    with pytest.raises(SkipItem, match="empty union box"):
        Sample("z", img, a, b, (40.0, 1.0, 50.0, 2.0), (41.0, 1.0, 45.0, 3.0)).union_box()


def test_read_rgb_size_check_and_window(tmp_path):
    pixels = write_image(tmp_path / "a.png", height=30, width=40)
    np.testing.assert_array_equal(read_rgb(tmp_path / "a.png", crop=(5, 7, 25, 19)), pixels[7:19, 5:25])
    np.testing.assert_array_equal(read_rgb(tmp_path / "a.png", size=(30, 40)), pixels)
    with pytest.raises(SkipItem, match="image size differs from annotation"):
        read_rgb(tmp_path / "a.png", size=(40, 30))
    with pytest.raises(ValueError, match=r"crop \(0, 0, 41, 30\) is not inside the 40x30 image"):
        read_rgb(tmp_path / "a.png", crop=(0, 0, 41, 30))


# --------------------------------------------------------------------------- SpatialSense
def test_spatialsense_positive_relations_and_boxes(tmp_path):
    path = write_spatialsense(tmp_path)
    with pytest.warns(UserWarning, match="BOXES"):
        src = open_source(f"spatialsense:{path}")
    assert src.options()["masks"] == "boxes"
    assert len(src) == 2  # the negative relation is dropped
    s = src.load(0)
    _check(s)
    assert s.label == PREDICATES.index("to the left of")
    assert s.names == ("cup", "table")
    assert s.box_a == RED_BOX and s.box_b == BLUE_BOX  # [y0, y1, x0, x1] read correctly
    assert np.array_equal(s.mask_a, box_mask(RED_BOX, 48, 64))
    assert [(q.text, q.answer) for q in s.questions] == [("Is the cup to the left of the table?", True)]
    assert src.load(1).id.startswith("spatialsense-r3")  # nyu image found under images/nyu
    assert np.array_equal(pickle.loads(pickle.dumps(src)).load(0).mask_b, s.mask_b)


def test_spatialsense_split_and_negatives(tmp_path):
    path = write_spatialsense(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = open_source(f"spatialsense:{path}", split="train")
        both = open_source(f"spatialsense:{path}", split="train", positives_only=False)
        test = open_source(f"spatialsense:{path}", split="test")
    assert len(train) == 1 and len(both) == 2 and len(test) == 1
    neg = both.load(1)
    assert neg.label is None and neg.questions[0].answer is False
    assert test.load(0).label == PREDICATES.index("to the right of")


def _ss(rel, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_source(rel.spec, **{**rel.options, **extra})


def _split_counts(src):
    from collections import Counter

    from csip.cache.format import SPLIT_NAMES, split_code

    got = Counter(SPLIT_NAMES[split_code(src.load(i).split)] for i in range(len(src)))
    return {name: got.get(name, 0) for name in SPLIT_NAMES}


@pytest.mark.parametrize("splits", ["release", "paper"])
def test_spatialsense_release_layout_and_splits(tmp_path, splits):
    rel = write_spatialsense_release(tmp_path, splits)
    src = _ss(rel)
    assert len(src) == rel.items and _split_counts(src) == rel.splits
    s = src.load(0)
    assert s.box_a == RED_BOX and s.box_b == BLUE_BOX and s.label == PREDICATES.index("to the left of")
    nyu = next(src.load(i) for i in range(len(src)) if src.load(i).id == src.item_id(3))
    assert nyu.image.shape == (48, 64, 3)  # images/nyu/kitchen_0003.png, from the url nyu/kitchen_0003.png
    assert src.options()["splits"] == splits and src.options()["split_seed"] == 0


def test_spatialsense_paper_split_is_by_image_seeded_and_in_the_papers_proportions(tmp_path):
    from csip.data.spatialsense import paper_splits

    rel = write_spatialsense_release(tmp_path, "paper")
    counts = {v: list(paper_splits([f"img{i}" for i in range(5433)], 0).values()).count(v)
              for v in ("train", "valid", "test")}
    assert counts == {"train": 3606, "valid": 681, "test": 1146}  # the paper's split of 5,433 images
    a, b = _ss(rel), _ss(rel)
    assert [a.load(i).split for i in range(len(a))] == [b.load(i).split for i in range(len(b))]
    other = _ss(rel, split_seed=1)
    assert _split_counts(other) == rel.splits
    with_negatives = _ss(rel, positives_only=False)
    by_image = {}
    for i in range(len(with_negatives)):
        smp = with_negatives.load(i)
        by_image.setdefault(with_negatives._items[i][1], set()).add(smp.split)
    assert all(len(v) == 1 for v in by_image.values())  # a split by image: its relations stay together
    only_val = _ss(rel, split="val")
    assert len(only_val) == rel.splits["val"] and {only_val.load(i).split for i in range(len(only_val))} == {"valid"}
    with pytest.raises(ValueError, match="splits='papers'"):
        _ss(rel, splits="papers")


def test_spatialsense_precompute_records_the_split_rule(tmp_path):
    from click.testing import CliRunner

    from csip.cache import Cache
    from csip.cli import main

    rel = write_spatialsense_release(tmp_path / "ss", "paper")
    r = CliRunner().invoke(main, ["precompute", rel.spec, "--out", str(tmp_path / "c"), "--workers", "0",
                                  "--no-progress", "--image-size", "16", "--n-angles", "8", *rel.options_args()])
    assert r.exit_code == 0, r.output
    c = Cache(tmp_path / "c")
    assert c.counts["splits"] == rel.splits and len(c) == rel.kept and c.counts["labelled"] == rel.labelled
    assert c.source["options"]["splits"] == "paper" and c.counts["questions"] == rel.questions


# --------------------------------------------------------------------------- UnRel
def test_unrel_json(tmp_path):
    with pytest.warns(UserWarning):
        src = open_source(f"unrel:{write_unrel(tmp_path)}")
    assert len(src) == 2
    s0, s1 = src.load(0), src.load(1)
    _check(s0)
    assert s0.label == PREDICATES.index("to the left of")  # alias "on the left of"; "ride" skipped
    assert s1.label is None  # "wear" is not spatial
    assert s0.box_a == RED_BOX and s0.names == ("dog", "car")
    assert src.options()["masks"] == "boxes"


def test_unrel_release_annotations_mat(tmp_path):
    """The release's own annotations.mat (MATLAB cells of structs): before, reading it failed
    with "only 0-dimensional arrays can be converted to Python scalars"."""
    pytest.importorskip("scipy")
    rel = write_unrel_release(tmp_path)
    with pytest.warns(UserWarning, match="BOXES"):
        src = open_source(rel.spec)
    assert len(src) == rel.items == 5
    assert [src.item_id(i) for i in range(5)] == ["unrel-1-0", "unrel-1-1", "unrel-2-0", "unrel-2-1", "unrel-3-0"]
    s0, s1, s2 = src.load(0), src.load(1), src.load(2)
    assert s0.box_a == RED_BOX and s0.box_b == BLUE_BOX and s0.names == ("dog", "car")
    assert s0.label == PREDICATES.index("to the left of") and s1.label is None  # 'ride' is not spatial
    assert s2.label == PREDICATES.index("above") and s2.box_b == (2.0, 30.0, 20.0, 46.0)
    assert {s.split for s in (s0, s1, s2)} == {"test"}  # evaluation only: every item a query and a gallery image
    with pytest.raises(SkipItem) as bad:
        src.load(3)
    assert bad.value.reason == "bad annotation"
    assert str(tmp_path / "annotations.mat") in bad.value.details and "obj_box holds 0 numbers" in bad.value.details
    with pytest.raises(SkipItem, match="unreadable image"):
        src.load(4)
    assert src.options()["item_splits"] == "test"


def test_the_unrel_fixture_reads_as_the_published_loaders_read_it(tmp_path):
    """The fixture's layout, checked with the accesses of the loaders it was taken from (see
    write_unrel_release): by field name, and by position."""
    scipy_io = pytest.importorskip("scipy.io")
    write_unrel_release(tmp_path)
    ann = scipy_io.loadmat(str(tmp_path / "annotations.mat"))["annotations"]
    d = ann[0].squeeze(0).item()
    assert d["filename"].item().item() == "1.jpg" and d["im_id"].item().item() == 1
    o = d["objects"].item()[0].squeeze(0).item()
    assert o["category"].item().item() == "dog" and tuple(o["box"].squeeze(0).item().squeeze(0)) == (6, 8, 22, 24)
    r = d["relationships"].item()[0].squeeze(0).item()
    assert [c.item().item() for c in r["rels"].item()] == ["ride", "on the left of"]
    assert tuple(r["obj_box"].squeeze(0).item().squeeze(0)) == (36, 20, 58, 40)
    anno = ann[0]
    assert anno[0][0][0][0][0] == "1.jpg"
    positional = anno[0][0][0][2][0][0][0][0]
    assert (positional[0][0], positional[1][0], list(positional[3][0]), positional[4][0][0][0]) == (
        "dog", "car", [36, 20, 58, 40], "ride")


def test_unrel_precompute_puts_every_item_in_the_test_split(tmp_path):
    """Before, a hash split made a 2-item test split where every CBIR row scored 100.0."""
    pytest.importorskip("scipy")
    from click.testing import CliRunner

    from csip.cache import Cache
    from csip.cli import main

    rel = write_unrel_release(tmp_path / "unrel")
    r = CliRunner().invoke(main, ["precompute", rel.spec, "--out", str(tmp_path / "c"), "--workers", "0",
                                  "--no-progress", "--image-size", "16", "--n-angles", "8", *rel.options_args()])
    assert r.exit_code == 0, r.output
    c = Cache(tmp_path / "c")
    assert (len(c), c.counts["source_items"]) == (rel.kept, rel.items)
    assert c.counts["splits"] == rel.splits and c.skipped["reasons"] == rel.skipped
    assert c.counts["labelled"] == rel.labelled and c.counts["masks"] == {"boxes": rel.kept}
    assert {x["id"] for x in c.skipped["items"]} == {"unrel-2-1", "unrel-3-0"}
    assert "unrel-2-1: bad annotation: " in r.output and "3.jpg" in r.output


@pytest.mark.parametrize("case", ["no scipy", "not a mat file", "another structure"])
def test_unrel_annotations_that_cannot_be_read_are_one_line_naming_the_file(tmp_path, monkeypatch, case):
    pytest.importorskip("scipy")
    import sys

    import scipy.io
    from click.testing import CliRunner

    from csip.cli import main

    write_unrel_release(tmp_path)
    mat = tmp_path / "annotations.mat"
    expect = str(mat)
    if case == "no scipy":
        monkeypatch.setitem(sys.modules, "scipy", None)
        monkeypatch.setitem(sys.modules, "scipy.io", None)
        expect = "pip install 'csip[unrel]'"
    elif case == "not a mat file":
        mat.write_bytes(b"MATLAB 5.0 MAT-file, but nothing after")
    else:
        scipy.io.savemat(mat, {"annotations": np.array([[1.0, 2.0]])})
        expect = "annotations is a float64 array of shape (1, 2), expected a cell array"
    r = CliRunner().invoke(main, ["precompute", f"unrel:{tmp_path}", "--out", str(tmp_path / "c"), "--workers", "0",
                                  "--no-progress"])
    assert r.exit_code == 2 and expect in r.output and str(mat) in r.output, r.output
    assert "Traceback" not in r.output


# --------------------------------------------------------------------------- GQA
def test_gqa_verify_rel(tmp_path):
    path = write_gqa(tmp_path)
    with pytest.warns(UserWarning):
        src = open_source(f"gqa:{path}")
    assert len(src) == 2  # (book, bed) with q1 + q2; (bed, book) from q3's annotations
    s = src.load(0)
    _check(s)
    assert s.names == ("book", "bed")
    assert s.box_a == RED_BOX and s.box_b == BLUE_BOX
    assert [(q.text, q.answer) for q in s.questions] == [
        ("Is the book to the left of the bed?", True),
        ("Is the book to the right of the bed?", False),
    ]
    assert s.label == PREDICATES.index("to the left of")
    s2 = src.load(1)
    assert s2.names == ("bed", "book") and s2.label is None  # no program: predicate unknown
    (summary,) = src.summary()["questions"]  # q4 is open, q5 verifies an attribute
    assert (summary["role"], summary["total"], summary["kept"], summary["items"]) == ("eval", 5, 3, 2)
    assert summary["dropped"] == {"not yes/no": 1, "no verify rel": 1}
    assert {src.load(i).split for i in range(len(src))} == {"test"}  # val_*: an evaluation file
    assert pickle.loads(pickle.dumps(src)).load(1).questions == s2.questions


def test_gqa_program_parsing():
    from csip.data.gqa import is_verify_rel, verify_rel_pair

    q = {
        "answer": "no",
        "types": {"detailed": "relVerifyCo"},
        "semantic": [
            {"operation": "select", "dependencies": [], "argument": "fire truck (1)"},
            {"operation": "verify rel", "dependencies": [0], "argument": "street,next to,o (2)"},
        ],
    }
    assert is_verify_rel(q)
    assert verify_rel_pair(q) == ("1", "2", "next to")  # flag o: the argument is the object
    assert not is_verify_rel({**q, "answer": "street"})


def _gqa(rel, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_source(rel.spec, **{**rel.options, **extra})


def test_gqa_release_train_and_eval_files(tmp_path):
    """Train file -> train/val by image, evaluation file -> test; every question kept or
    dropped with its reason (before, 4 of 28 verify-rel questions of one file vanished)."""
    rel = write_gqa_release(tmp_path)
    src = _gqa(rel)
    assert len(src) == rel.items
    got = src.summary()["questions"]
    assert [{k: f[k] for k in ("file", "role", "total", "kept", "items", "dropped")} for f in got] == rel.summary[
        "questions"
    ]
    for f in got:
        assert f["total"] == f["kept"] + sum(f["dropped"].values())
    samples = [src.load(i) for i in range(len(src))]
    by_split = {}
    for smp in samples:
        by_split.setdefault(smp.split, []).append(smp)
    assert {k: len(v) for k, v in by_split.items()} == {k: v for k, v in rel.splits.items() if v}
    image = lambda smp: smp.id.split("-")[1]  # noqa: E731
    assert not {image(x) for x in by_split["train"]} & {image(x) for x in by_split["val"]}
    assert {image(x) for x in by_split["test"]} == {"2354786", "2381360"}
    assert sum(len(x.questions) for x in samples) == rel.questions
    assert sum(x.label is not None for x in samples) == rel.labelled
    fig5f = next(x for x in samples if x.id == "gqa-2405043-101-102")  # select -> relate -> filter -> verify rel
    assert fig5f.names == ("helmet", "motorcycle") and fig5f.label == PREDICATES.index("to the left of")
    assert fig5f.box_a == RED_BOX and fig5f.box_b == BLUE_BOX and len(fig5f.questions) == 3
    opts = src.options()
    assert opts["role"] == "train" and opts["eval_questions"].endswith("val_balanced_questions.json")


def test_gqa_program_walks_through_relate_and_filter_steps():
    from csip.data.gqa import classify

    def q(*steps, answer="yes"):
        return {"answer": answer, "semantic": [{"operation": o, "argument": a, "dependencies": d} for o, a, d in steps]}

    fig5f = q(("select", "person (3)", []), ("relate", "motorcycle,to the right of,s (2)", [0]),
              ("filter color", "white", [1]), ("verify rel", "helmet,to the right of,s (1)", [2]))
    assert classify(fig5f) == (("1", "2", "to the right of"), None)
    not_small = q(("select", "bed (7)", []), ("filter size", "not(small)", [0]), ("verify rel", "cat,on,s (8)", [1]))
    assert classify(not_small) == (("8", "7", "on"), None)  # "not(small)" is no object id
    flag_o = q(
        ("select", "fire truck (1)", []), ("filter color", "red", [0]), ("verify rel", "street,next to,o (2)", [1])
    )
    assert classify(flag_o) == (("1", "2", "next to"), None)
    assert classify(q(("select", "bed (7)", []), ("verify rel", "cat,on,s (-)", [0])))[1] == "object absent"
    assert classify(q(("select", "cat (-) ", []), ("verify rel", "dog,on,o (8)", [0])))[1] == "object absent"
    assert classify(q(("select", "bed (7)", []), ("verify rel", "cat on (8)", [0])))[1] == "program unreadable"
    assert classify(q(("verify rel", "cat,on,s (8)", [])))[1] == "program unreadable"
    assert classify(q(("select", "bed (7)", []), ("verify rel", "cat,on,s (8)", [0]), answer="bed"))[1] == "not yes/no"


@pytest.mark.parametrize("role, splits", [("eval", {"test"}), ("train", {"train", "val"})])
def test_gqa_a_single_file_declared_train_or_eval(tmp_path, role, splits):
    rel = write_gqa_release(tmp_path)
    src = _gqa(rel, eval_questions=None, role=role, val_fraction=0.5)
    assert len(src) == 4 and {src.load(i).split for i in range(len(src))} == splits
    assert src.summary()["questions"][0]["role"] == role


def test_gqa_file_roles_and_images_are_checked(tmp_path):
    rel = write_gqa_release(tmp_path)
    other = tmp_path / "my_questions.json"
    other.write_text((tmp_path / "train_balanced_questions.json").read_text())
    with pytest.raises(ValueError, match="cannot tell whether my_questions.json .* -O role=train or -O role=eval"):
        open_source(f"gqa:{other}", scene_graphs=tmp_path / "train_sceneGraphs.json")
    with pytest.raises(ValueError, match="role=eval .* eval_questions given"):
        _gqa(rel, role="eval")
    with pytest.raises(ValueError, match=r"image \d+ has questions in .*train_balanced_questions.json and in "
                                         ".*train_balanced_questions.json"):
        _gqa(rel, eval_questions=tmp_path / "train_balanced_questions.json",
             eval_scene_graphs=tmp_path / "train_sceneGraphs.json")
    (tmp_path / "val_sceneGraphs.json").unlink()
    with pytest.raises(FileNotFoundError, match="scene graphs of val_balanced_questions.json .*eval_scene_graphs=FILE"):
        _gqa(rel)


def test_gqa_precompute_prints_and_records_the_questions_kept_and_dropped(tmp_path):
    from click.testing import CliRunner

    from csip.cache import Cache
    from csip.cli import main

    rel = write_gqa_release(tmp_path / "gqa")
    r = CliRunner().invoke(main, ["precompute", rel.spec, "--out", str(tmp_path / "c"), "--workers", "0",
                                  "--no-progress", "--image-size", "16", "--n-angles", "8", *rel.options_args()])
    assert r.exit_code == 0, r.output
    c = Cache(tmp_path / "c")
    assert len(c) == rel.kept and c.counts["splits"] == rel.splits and c.counts["questions"] == rel.questions
    assert c.counts["labelled"] == rel.labelled
    recorded = c.source["summary"]["questions"]
    assert [f["dropped"] for f in recorded] == [f["dropped"] for f in rel.summary["questions"]]
    line = next(x for x in r.output.splitlines() if x.startswith("questions train_balanced_questions.json"))
    assert line.startswith("questions train_balanced_questions.json (train): 7 kept in 4 items, 8 dropped (")
    for reason in rel.summary["questions"][0]["dropped"]:
        assert f"{reason}: 1" in line
    assert ("questions val_balanced_questions.json (eval): 4 kept in 2 items, 2 dropped (not yes/no: 1, "
            "object absent: 1)") in r.output
    info = CliRunner().invoke(main, ["precompute", "info", str(tmp_path / "c")])
    assert info.exit_code == 0 and "8 dropped" in info.output


# --------------------------------------------------------------------------- common + security
def test_path_escape_is_rejected(tmp_path):
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    write_image(tmp_path / "outside.png")
    with pytest.raises(SkipItem, match="path escapes dataset root"):
        resolve_inside(root / "images", "../../outside.png")
    with pytest.raises(SkipItem, match="path escapes dataset root"):
        resolve_inside(root / "images", str(tmp_path / "outside.png"))  # absolute path
    (root / "images" / "link.png").symlink_to(tmp_path / "outside.png")
    with pytest.raises(SkipItem, match="path escapes dataset root"):
        resolve_inside(root / "images", "link.png")
    with pytest.raises(SkipItem, match="missing file"):
        resolve_inside(root / "images", "nope.png")
    # a symlinked folder on the way out, and one that stays inside
    (root / "images" / "out").symlink_to(tmp_path)
    with pytest.raises(SkipItem, match="path escapes dataset root"):
        resolve_inside(root / "images", "out/outside.png")
    (root / "images" / "sub").mkdir()
    write_image(root / "images" / "sub" / "in.png")
    (root / "images" / "alias").symlink_to(root / "images" / "sub")
    assert resolve_inside(root / "images", "alias/in.png") == (root / "images" / "sub" / "in.png").resolve()
    assert resolve_inside(root / "images", "./sub//in.png") == (root / "images" / "sub" / "in.png").resolve()
    with pytest.raises(SkipItem, match="missing file"):
        resolve_inside(root / "images", "sub")  # a folder is no image
    with pytest.raises(SkipItem, match="missing file"):
        resolve_inside(root / "images", "sub/nope/x.png")


def test_path_escape_in_annotations(tmp_path):
    write_image(tmp_path / "secret.png")
    root = tmp_path / "unrel"
    write_unrel(root)
    data = json.loads((root / "annotations.json").read_text())
    data[0]["filename"] = "../../secret.png"
    (root / "annotations.json").write_text(json.dumps(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = open_source(f"unrel:{root}")
    with pytest.raises(SkipItem, match="path escapes dataset root"):
        src.load(0)


def test_corrupt_and_missing_images_are_skipped(tmp_path):
    path = write_coco(tmp_path)
    src = open_source(f"coco:{path}", images=tmp_path / "images")
    (tmp_path / "images" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with pytest.raises(SkipItem, match="unreadable image"):
        src.load(0)
    (tmp_path / "images" / "a.png").unlink()
    with pytest.raises(SkipItem, match="missing file"):
        src.load(0)
    # a truncated JPEG also fails cleanly
    jpg = tmp_path / "t.jpg"
    write_image(jpg, fmt="JPEG")
    jpg.write_bytes(jpg.read_bytes()[:200])
    with pytest.raises(SkipItem, match="unreadable image"):
        read_rgb(jpg)


def test_small_masks_are_skipped(tmp_path):
    path = write_spatialsense(tmp_path)
    data = json.loads(path.read_text())
    data[0]["annotations"][0]["subject"]["bbox"] = [8, 11, 6, 9]  # 3 x 3 = 9 px < 16
    path.write_text(json.dumps(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = open_source(f"spatialsense:{path}")
    with pytest.raises(SkipItem, match="mask too small") as exc:
        src.load(0)
    assert exc.value.details == (f"{(tmp_path / 'images' / 'flickr' / '123_abc.jpg').resolve()}: masks of 9 and 440 "
                                 "pixels, fewer than min_pixels=16")


def test_open_source_specs(tmp_path):
    assert parse_spec("synthetic") == ("synthetic", None)
    assert parse_spec("coco:/x/instances.json") == ("coco", "/x/instances.json")
    src = open_source("synthetic", n=3, seed=1, size=64, images=None)  # None options are ignored
    assert len(src) == 3 and src.options()["size"] == 64
    with pytest.raises(ValueError, match="unknown source"):
        open_source("imagenet:/x")
    with pytest.raises(ValueError, match="needs a path"):
        open_source("coco")
    with pytest.raises(TypeError, match="does not take"):
        open_source("synthetic", images="/x")
    with pytest.raises(FileNotFoundError):
        open_source(f"coco:{tmp_path / 'missing.json'}")
    coco = open_source("coco", annotations=write_coco(tmp_path), images=tmp_path / "images")  # path as an option
    assert len(coco) == 1
    with pytest.raises(ValueError, match="sam_checkpoint"):
        open_source(f"folder:{tmp_path}")


def test_predicate_aliases():
    assert predicate_index("on the left of") == PREDICATES.index("to the left of")
    assert predicate_index("Below") == PREDICATES.index("under")
    assert predicate_index("in front of") == PREDICATES.index("in front of")
    assert predicate_index("ride") is None and predicate_index("") is None


@pytest.mark.parametrize("kind", ["coco", "spatialsense", "unrel", "gqa"])
def test_each_skip_names_its_file_and_the_item_has_an_id_before_loading(tmp_path, kind):
    """Before, `item k: missing file` was all a manifest said, 18 times, without a path."""
    writers = {"coco": lambda: (write_coco(tmp_path), tmp_path / "images" / "a.png"),
               "spatialsense": lambda: (write_spatialsense(tmp_path), tmp_path / "images" / "flickr" / "123_abc.jpg"),
               "unrel": lambda: (write_unrel(tmp_path), tmp_path / "images" / "1.jpg"),
               "gqa": lambda: (write_gqa(tmp_path), tmp_path / "images" / "2354786.jpg")}
    path, image = writers[kind]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = open_source(f"{kind}:{path}", **({"images": tmp_path / "images"} if kind == "coco" else {}))
    assert src.item_id(0) == src.load(0).id
    Image = pytest.importorskip("PIL.Image")
    Image.new("RGB", (10, 7)).save(image, format="PNG")  # another size than annotated (or unreadable)
    with pytest.raises(SkipItem) as exc:
        src.load(0)
    assert str(image.resolve()) in exc.value.details
    if kind != "unrel":  # UnRel has no size in its annotations: the image is read, the box is clipped away
        assert exc.value.reason == "image size differs from annotation" and "10 x 7" in exc.value.details
    image.unlink()
    with pytest.raises(SkipItem) as exc:
        src.load(0)
    assert exc.value.reason == "missing file" and exc.value.details == str(image.resolve())
