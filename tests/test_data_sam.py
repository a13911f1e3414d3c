"""SAM code paths with a tiny random-weight SAM: box prompts and the image-folder source."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from data_fixtures import tiny_sam_checkpoint, write_image, write_spatialsense

pytest.importorskip("segment_anything")
pytest.importorskip("torch")

from csip.data import SkipItem  # noqa: E402
from csip.data.sam import AutoMasker, BoxMasker, load_sam  # noqa: E402
from csip.data.source import open_source  # noqa: E402


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_sam_checkpoint(tmp_path_factory.mktemp("sam") / "tiny.pt")


def test_box_masker_with_tiny_sam(ckpt):
    image = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    masker = BoxMasker(ckpt, "tiny", "cpu")
    assert masker.mode == "sam" and masker.options()["masks"] == "sam"
    boxes = [(6.0, 8.0, 22.0, 24.0), (36.0, 20.0, 58.0, 40.0)]
    masks = masker(image, boxes)
    assert len(masks) == 2
    for m, (x0, y0, x1, y1) in zip(masks, boxes):
        assert m.shape == (48, 64) and m.dtype == bool
        outside = m.copy()
        outside[int(y0) : int(y1), int(x0) : int(x1)] = False
        assert not outside.any()  # clipped to its box
    # picklable without the model, and reloads lazily
    clone = pickle.loads(pickle.dumps(masker))
    assert clone._model is None
    assert all(np.array_equal(a, b) for a, b in zip(clone(image, boxes), masks))


def test_box_source_with_sam(ckpt, tmp_path):
    path = write_spatialsense(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no box-mask warning when SAM is given
        src = open_source(f"spatialsense:{path}", sam_checkpoint=ckpt, sam_kind="tiny", sam_device="cpu", min_pixels=1)
    assert src.options()["masks"] == "sam"
    try:
        s = src.load(0)
    except SkipItem as e:  # random weights may give an empty mask; the path still ran
        assert str(e) == "mask too small"
    else:
        assert s.mask_a.shape == (48, 64) and s.label is not None


def test_folder_source_with_tiny_sam(ckpt, tmp_path):
    root = tmp_path / "photos"
    write_image(root / "b.png")
    write_image(root / "a.jpg", fmt="JPEG")
    (root / "notes.txt").write_text("not an image")
    src = open_source(
        f"folder:{root}",
        sam_checkpoint=ckpt,
        sam_kind="tiny",
        sam_device="cpu",
        points_per_side=4,
        pred_iou_thresh=0.0,
        stability_score_thresh=0.0,
        box_nms_thresh=1.0,  # random weights: keep every mask
        max_area_frac=1.0,
        max_overlap=1.0,
    )
    assert len(src) == 2 and src.options()["masks"] == "sam-auto"
    s = src.load(0)
    assert s.id == "folder-a.jpg"
    assert s.image.shape == (48, 64, 3)
    assert s.mask_a.shape == (48, 64) and s.mask_b.shape == (48, 64)
    assert s.mask_a.sum() >= s.mask_b.sum() > 0
    clone = pickle.loads(pickle.dumps(src))
    assert np.array_equal(clone.load(0).mask_a, s.mask_a)


def test_pick_two_rules():
    from csip.data.folder import pick_two

    big = np.zeros((20, 20), bool)
    big[:, :] = True
    a = np.zeros((20, 20), bool)
    a[2:12, 2:12] = True
    part = np.zeros((20, 20), bool)
    part[3:10, 3:10] = True
    b = np.zeros((20, 20), bool)
    b[14:19, 14:19] = True
    # background dropped, the part of A passed over, B chosen
    assert pick_two([big, a, part, b]) == (1, 3)
    with pytest.raises(SkipItem, match="fewer than two"):
        pick_two([big, a, part])


def test_load_sam_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_sam(tmp_path / "missing.pth", "vit_b")
    with pytest.raises(ValueError):
        AutoMasker(tmp_path / "x.pth", "vit_zz")
