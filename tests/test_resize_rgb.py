"""``csip_core.resize_rgb``: the cache's image resize, byte for byte Pillow's antialiased bilinear.

The cache's images follow the paper's code (Pillow ``Image.resize(..., BILINEAR)``); the engine
computes the same bytes faster. Pillow itself is the reference here: any size, growing or
shrinking along either axis (the order of its two passes depends on the sizes), any layout.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import csip_core


def pillow(img: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.asarray(
        Image.fromarray(np.ascontiguousarray(img), mode="RGB").resize((width, height), Image.Resampling.BILINEAR)
    )


def test_equals_pillow_on_random_sizes():
    rng = np.random.default_rng(0)
    for t in range(400):
        h, w = (int(v) for v in rng.integers(1, 160, size=2))
        if t % 2:  # any sizes
            oh, ow = (int(v) for v in rng.integers(1, 160, size=2))
        else:  # near the input size, where the order of Pillow's two passes flips
            oh, ow = int(rng.integers(max(1, h - 6), h + 7)), int(rng.integers(max(1, w - 6), w + 7))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        np.testing.assert_array_equal(
            csip_core.resize_rgb(img, oh, ow), pillow(img, oh, ow), err_msg=f"{(h, w)} -> {(oh, ow)}"
        )


@pytest.mark.parametrize("size", [(640, 480), (480, 300)])
def test_equals_pillow_on_photo_like_crops(size):
    """COCO-sized frames cut to boxes and brought to 224 on the long side, as the cache does."""
    rng = np.random.default_rng(size[0])
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.clip(np.stack([127 + 90 * np.sin(xx / 23.0 + c) * np.cos(yy / 41.0) for c in range(3)], -1)
                  + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        x1, y1 = int(rng.integers(x0 + 1, w + 1)), int(rng.integers(y0 + 1, h + 1))
        crop = img[y0:y1, x0:x1]
        side = max(x1 - x0, y1 - y0)
        nw, nh = max(1, round((x1 - x0) * 224 / side)), max(1, round((y1 - y0) * 224 / side))
        np.testing.assert_array_equal(csip_core.resize_rgb(crop, nh, nw), pillow(crop, nh, nw))


def test_layouts_and_closed_forms():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (30, 41, 3), dtype=np.uint8)
    want = csip_core.resize_rgb(img, 17, 9)
    big = np.zeros((50, 60, 3), np.uint8)
    big[7:37, 11:52] = img
    np.testing.assert_array_equal(csip_core.resize_rgb(big[7:37, 11:52], 17, 9), want)  # a window
    np.testing.assert_array_equal(csip_core.resize_rgb(np.asfortranarray(img), 17, 9), want)
    np.testing.assert_array_equal(csip_core.resize_rgb(img, 30, 41), img)  # same size: the identity
    flat = np.full((33, 47, 3), (12, 200, 99), np.uint8)
    assert (csip_core.resize_rgb(flat, 8, 70) == (12, 200, 99)).all()  # constants stay constant
    # halving: weights 1/8, 3/8, 3/8, 1/8 over pixels 2j-1..2j+2; alternating 0/200 gives 100
    stripes = np.zeros((1, 16, 3), np.uint8)
    stripes[:, 1::2] = 200
    assert (csip_core.resize_rgb(stripes, 1, 8)[0, 1:7] == 100).all()


def test_bad_input_is_named():
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="height must be at least 1"):
        csip_core.resize_rgb(img, 0, 3)
    with pytest.raises(ValueError, match="must be a 3-D"):
        csip_core.resize_rgb(np.zeros((4, 4), np.uint8), 2, 2)
    with pytest.raises(ValueError, match="got 4 channels"):
        csip_core.resize_rgb(np.zeros((4, 4, 4), np.uint8), 2, 2)
    with pytest.raises(TypeError, match="dtype uint8, got float32"):
        csip_core.resize_rgb(np.zeros((4, 4, 3), np.float32), 2, 2)
    with pytest.raises(ValueError, match="must not be empty"):
        csip_core.resize_rgb(np.zeros((0, 4, 3), np.uint8), 2, 2)
