"""SAM code paths with a tiny random-weight SAM: box prompts and the image-folder source."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest

from data_fixtures import sam_shaped_checkpoint, tiny_sam_checkpoint, write_image, write_spatialsense

pytest.importorskip("segment_anything")
pytest.importorskip("torch")

from csip.data import SkipItem  # noqa: E402
from csip.data.sam import AutoMasker, BoxMasker, load_sam  # noqa: E402
from csip.data.source import open_source  # noqa: E402


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_sam_checkpoint(tmp_path_factory.mktemp("sam") / "tiny.pt")


@pytest.fixture(autouse=True)
def _own_mask_store(tmp_path, monkeypatch):
    """The default SAM mask store (``$XDG_CACHE_HOME/csip/sam-masks``) in the test's folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


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
        assert e.reason == "mask too small"
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


# --------------------------------------------------------------------------- the kind, from the checkpoint
@pytest.mark.parametrize("kind", ["vit_b", "vit_l", "vit_h"])
def test_the_kind_is_read_from_the_checkpoint_shapes(tmp_path, kind):
    from csip.data.sam import check_sam_checkpoint

    path = sam_shaped_checkpoint(tmp_path / f"{kind}.pth", kind)
    assert check_sam_checkpoint(path) == kind == check_sam_checkpoint(path, kind)
    other = "vit_h" if kind != "vit_h" else "vit_b"
    with pytest.raises(ValueError, match=f"{path} holds a {kind} model, not {other}"):
        check_sam_checkpoint(path, other)


def test_the_tiny_checkpoint_is_recognised_and_loads_without_a_kind(ckpt):
    masker = BoxMasker(ckpt, device="cpu")
    assert masker.kind == "tiny" and masker.options()["sam_kind"] == "tiny"
    assert len(masker.options()["sam_sha256"]) == 64
    assert load_sam(ckpt, device="cpu").image_encoder.patch_embed.proj.weight.shape[0] == 32


def _spatialsense_cmd(tmp_path, ckpt, *extra):
    path = write_spatialsense(tmp_path / "ss")
    return ["precompute", f"spatialsense:{path}", "--out", str(tmp_path / "out"), "--workers", "0", "--no-progress",
            "--image-size", "16", "--n-angles", "8", "--sam-checkpoint", str(ckpt), *extra]


@pytest.mark.parametrize("case", ["other kind", "not a checkpoint", "no SAM", "missing"])
def test_a_checkpoint_that_does_not_load_fails_before_the_first_item(tmp_path, ckpt, case):
    """One line naming the file, exit 2, no chunk written: before, every item reloaded the
    checkpoint and failed with torch's "Missing key(s)" dump."""
    import time

    import torch
    from click.testing import CliRunner

    from csip.cli import main

    extra: tuple[str, ...] = ()
    if case == "other kind":
        bad, extra, expect = ckpt, ("-O", "sam_kind=vit_b"), "holds a tiny model, not vit_b"
    elif case == "not a checkpoint":
        bad, expect = tmp_path / "x.pth", "cannot be read as a PyTorch state dict"
        bad.write_bytes(b"not a checkpoint at all")
    elif case == "no SAM":
        bad, expect = tmp_path / "y.pth", "fit none of the SAM kinds"
        torch.save({"weight": torch.zeros(3)}, bad)
    else:
        bad, expect = tmp_path / "missing.pth", "SAM checkpoint not found"
    t0 = time.perf_counter()
    r = CliRunner().invoke(main, _spatialsense_cmd(tmp_path, bad, *extra))
    assert r.exit_code == 2, r.output
    assert expect in r.output and str(bad) in r.output and "Traceback" not in r.output
    assert len([line for line in r.output.splitlines() if line.startswith("error:")]) == 1
    assert not (tmp_path / "out" / "chunks").exists() and time.perf_counter() - t0 < 20


# --------------------------------------------------------------------------- one embedding per image, the store
class _CountingPredictor:
    """Wraps a SamPredictor, counting set_image calls (and optionally making every mask empty)."""

    def __init__(self, inner, empty=False):
        self.inner, self.empty, self.set_images, self.predicts = inner, empty, 0, 0

    def set_image(self, image):
        self.set_images += 1
        self.inner.set_image(image)

    def predict(self, **kw):
        self.predicts += 1
        masks, q, low = self.inner.predict(**kw)
        return (np.zeros_like(masks) if self.empty else masks), q, low


def _counting(masker, empty=False):
    masker._model = _CountingPredictor(BoxMasker._build(load_sam(masker.checkpoint, device="cpu")), empty)
    return masker._model


def _image(seed):
    return (np.random.default_rng(seed).random((48, 64, 3)) * 255).astype(np.uint8)


BOXES_1 = [(6.0, 8.0, 22.0, 24.0), (36.0, 20.0, 58.0, 40.0)]
BOXES_2 = [(6.0, 8.0, 22.0, 24.0), (2.0, 30.0, 20.0, 46.0)]


def test_one_image_embedding_per_image_shared_by_its_boxes(ckpt):
    masker = BoxMasker(ckpt, device="cpu", store="off")
    spy = _counting(masker)
    masker(_image(0), BOXES_1)
    masker(_image(0), BOXES_2)  # another relation of the same image: the embedding is kept
    assert (spy.set_images, spy.predicts) == (1, 4)
    masker(_image(1), BOXES_1)
    masker(_image(0), BOXES_1)
    assert spy.set_images == 3


def test_stored_masks_are_reused_by_a_later_masker_without_running_sam(ckpt, tmp_path):
    store = tmp_path / "store"
    first = BoxMasker(ckpt, device="cpu", store=store)
    masks, how = first.masks(_image(0), BOXES_1)
    assert how in ("sam", "boxes") and len(list(store.rglob("*.npy"))) == 2
    about = json.loads(next(store.rglob("model.json")).read_text())
    assert about["kind"] == "tiny" and about["checkpoint_sha256"] == first.sha256

    again = pickle.loads(pickle.dumps(BoxMasker(ckpt, device="cpu", store=store)))  # as a worker gets it
    spy = _counting(again)
    masks2, how2 = again.masks(_image(0), BOXES_1)
    assert spy.set_images == spy.predicts == 0 and how2 == how
    assert all(np.array_equal(a, b) for a, b in zip(masks, masks2))
    again.masks(_image(0), BOXES_2)  # one new box: SAM for that one only
    assert (spy.set_images, spy.predicts) == (1, 1)

    other = tiny_sam_checkpoint(tmp_path / "other.pt", seed=1)  # another model: its own store
    BoxMasker(other, device="cpu", store=store).masks(_image(0), BOXES_1)
    assert len([p for p in store.iterdir() if p.is_dir()]) == 2

    for f in store.rglob("*.npy"):  # a damaged file is computed again
        f.write_bytes(b"garbage")
    fresh = BoxMasker(ckpt, device="cpu", store=store)
    spy = _counting(fresh)
    assert all(np.array_equal(a, b) for a, b in zip(fresh(_image(0), BOXES_1), masks))
    assert spy.predicts == 2


def test_an_empty_sam_mask_falls_back_to_its_box(ckpt):
    from csip.data.common import box_mask

    masker = BoxMasker(ckpt, device="cpu", store="off")
    _counting(masker, empty=True)
    masks, how = masker.masks(_image(0), BOXES_1)
    assert how == "boxes"
    assert all(np.array_equal(m, box_mask(b, 48, 64)) for m, b in zip(masks, BOXES_1))
    with pytest.warns(UserWarning, match="BOXES"):
        assert BoxMasker(None, source="x").masks(_image(0), BOXES_1)[1] == "boxes"


def test_the_manifest_counts_sam_and_box_masks(tmp_path, ckpt):
    from click.testing import CliRunner

    from csip.cache import Cache
    from csip.cli import main

    r = CliRunner().invoke(main, _spatialsense_cmd(tmp_path, ckpt, "-O", "min_pixels=1", "-O", "sam_device=cpu",
                                                   "-O", f"sam_masks={tmp_path / 'store'}"))
    assert r.exit_code == 0, r.output
    c = Cache(tmp_path / "out")
    masks = c.counts["masks"]
    assert set(masks) <= {"sam", "boxes"} and sum(masks.values()) == len(c) == 2
    assert "masks: " in r.output
    assert c.source["options"]["sam_kind"] == "tiny" and "sam_masks" not in c.source["options"]
    assert len(list((tmp_path / "store").rglob("*.npy"))) == 4  # two items, two boxes each
