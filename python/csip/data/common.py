"""Helpers shared by the dataset adapters: safe paths, image decoding, box masks, checks.

Every adapter turns the problems of one item into :class:`~csip.data.sample.SkipItem` with one of
a few fixed reasons, so that ``csip precompute`` can count them and record them in the cache
manifest. The reasons are the module constants below; the details of each (recorded beside the
reason, per item) name the file concerned (:func:`about_file`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import stat
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..base.errors import BadFile
from .sample import PREDICATES, Sample, SkipItem, box_of

ESCAPES_ROOT = "path escapes dataset root"
MISSING_FILE = "missing file"
UNREADABLE_IMAGE = "unreadable image"
MASK_TOO_SMALL = "mask too small"
SIZE_MISMATCH = "image size differs from annotation"
BAD_ANNOTATION = "bad annotation"

#: Image file suffixes the folder source lists (lower case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")


def read_json_file(path: str | Path, what: str):
    """The JSON document in ``path``; :class:`~csip.base.errors.BadFile` naming ``path`` and ``what``
    (e.g. "COCO annotations") when the file is empty or not JSON."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except IsADirectoryError:
        raise BadFile(f"{what} {path}: is a directory, expected a JSON file") from None
    if not raw.strip():
        raise BadFile(f"{what} {path}: the file is empty, expected JSON")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadFile(f"{what} {path}: not valid JSON ({exc})") from None


@contextlib.contextmanager
def about_file(path: str | Path):
    """Re-raise a :class:`SkipItem` of the block with ``path`` in its details (unless they name
    it already), so that a skipped item's record says which file it was about."""
    try:
        yield
    except SkipItem as exc:
        details, where = exc.details, str(path)
        if details is None:
            raise SkipItem(exc.reason, where) from None
        if where not in details:
            raise SkipItem(exc.reason, f"{where}: {details}") from None
        raise


@functools.lru_cache(maxsize=256)
def _real_root(root: str) -> Path:
    return Path(root).resolve()


def resolve_inside(root: str | Path, relative: str | Path) -> Path:
    """``root / relative`` resolved (symlinks and ``..`` followed), refused if it leaves ``root``.

    Annotation files name images by relative path; a hostile or broken file could name
    ``../../etc/passwd`` or an absolute path, or a symlink inside the dataset could point
    elsewhere. Raises ``SkipItem("path escapes dataset root")`` for any of these and
    ``SkipItem("missing file")`` when the resolved path does not exist, their details naming
    the path.

    The common case costs one ``lstat`` per component of ``relative`` (the root is resolved
    once per process): a plain relative path whose components are no symlinks cannot leave
    the root. Anything else (``..``, an absolute path, a symlink on the way) is resolved fully.
    """
    base = _real_root(os.fspath(root))
    rel = os.fspath(relative)
    parts = rel.split(os.sep)
    if not os.path.isabs(rel) and ".." not in parts:
        path, mode = base, None
        for part in parts:
            if part in ("", "."):
                continue
            path = path / part
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                raise SkipItem(MISSING_FILE, str(base / rel)) from None
            if stat.S_ISLNK(mode):
                break
        else:
            if mode is None or not stat.S_ISREG(mode):
                raise SkipItem(MISSING_FILE, f"{base / rel} (not a file)" if mode is not None else str(base / rel))
            return path
    path = (base / rel).resolve()
    if not path.is_relative_to(base):
        raise SkipItem(ESCAPES_ROOT, f"{rel!r} leads to {path}, outside {base}")
    if not path.is_file():
        raise SkipItem(MISSING_FILE, str(path))
    return path


#: JPEG colour spaces that simplejpeg (libjpeg-turbo) turns into exactly Pillow's RGB pixels.
_JPEG_SPACES = ("YCbCr", "Gray", "RGB")


def _read_jpeg(path: Path, max_pixels: int | None) -> np.ndarray | None:
    """An 8-bit JPEG decoded by ``simplejpeg``: libjpeg-turbo (the decoder inside Pillow, with the
    same settings) writing RGB straight into an array, without Pillow's buffers and conversions
    (about a quarter faster). The pixels are Pillow's, byte for byte (the tests compare them on
    every subsampling, progressive, grey and real photos). ``None`` (so Pillow decodes) when
    simplejpeg is not installed, the file is not such a JPEG, it is larger than Pillow's
    decompression-bomb limit, or simplejpeg has any complaint: Pillow then decides whether it
    is readable."""
    try:  # simplejpeg is optional (Pillow decodes without it)
        import simplejpeg
    except ImportError:
        return None
    with open(path, "rb") as f:
        data = f.read()
    if data[:3] != b"\xff\xd8\xff":
        return None
    try:
        h, w, space, _ = simplejpeg.decode_jpeg_header(data)
        if space not in _JPEG_SPACES or (max_pixels and h * w > max_pixels):
            return None
        arr = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except ValueError:  # truncated, corrupt or unsupported: Pillow's verdict, Pillow's message
        return None
    return arr if arr.ndim == 3 and arr.shape[2] == 3 and arr.size else None


def read_rgb(
    path: str | Path,
    exif_transpose: bool = False,
    *,
    size: tuple[int, int] | None = None,
    crop: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Decode an image file to RGB ``uint8`` of shape ``(H, W, 3)``.

    Pillow decodes it, except common JPEGs, which :func:`_read_jpeg` decodes to the same pixels
    faster. Grey (8- or 16-bit), palette, CMYK and alpha images are converted to RGB. ``exif_transpose``
    applies the EXIF orientation tag; keep it off for annotated datasets, whose coordinates
    refer to the stored pixel grid. ``size=(H, W)``: the size the annotations give, checked
    (``SkipItem("image size differs from annotation")`` otherwise). ``crop=(x0, y0, x1, y1)``:
    return only that window (``ValueError`` unless it lies inside the image), as a view of the
    decoded image (its rows contiguous; no copy). Missing file ->
    ``SkipItem("missing file")``; anything Pillow cannot fully decode (truncated, corrupt, not
    an image, decompression bomb) -> ``SkipItem("unreadable image")``.
    """
    path = Path(path)
    if not path.is_file():
        raise SkipItem(MISSING_FILE, str(path))
    arr = None if exif_transpose else _read_jpeg(path, Image.MAX_IMAGE_PIXELS)
    if arr is None:
        with about_file(path):
            arr = _read_pillow(path, exif_transpose)
    h, w = arr.shape[:2]
    if size is not None and (h, w) != tuple(size):
        raise SkipItem(SIZE_MISMATCH, size_mismatch(path, (h, w), size))
    if crop is not None:
        x0, y0, x1, y1 = crop
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise ValueError(f"crop {tuple(crop)} is not inside the {w}x{h} image")
        arr = arr[y0:y1, x0:x1]
    return arr


def size_mismatch(path: str | Path, got: tuple[int, int], expected) -> str:
    """The details of ``SkipItem("image size differs from annotation")``."""
    return (f"{path} is {got[1]} x {got[0]} (width x height), the annotations say "
            f"{int(expected[1])} x {int(expected[0])}")


def _high_depth_grey(img: Image.Image) -> np.ndarray | None:
    """RGB ``uint8`` of a 16-bit grey image (Pillow modes ``I;16*``, and ``I`` holding values
    above 255), scaled from ``[0, 65535]`` to ``[0, 255]``: Pillow's ``convert("RGB")`` clips
    them at 255 instead, which turns most of such an image white. ``None`` for an ``I`` image
    whose values fit 8 bits (converted as usual); ``SkipItem("unreadable image")`` for values
    outside ``[0, 65535]``."""
    a = np.asarray(img)
    hi, lo = (int(a.max()), int(a.min())) if a.size else (0, 0)
    if img.mode == "I" and hi <= 255:
        return None
    if lo < 0 or hi > 65535:
        raise SkipItem(UNREADABLE_IMAGE, f"grey values in [{lo}, {hi}], beyond 16 bits")
    grey = ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def _read_pillow(path: Path, exif_transpose: bool) -> np.ndarray:
    """Pillow's RGB decode of any image file; ``SkipItem("unreadable image")`` when it fails."""
    try:
        with Image.open(path) as img:
            img.load()  # force a full decode here, so truncated files fail here
            if exif_transpose:
                img = ImageOps.exif_transpose(img)
            arr = _high_depth_grey(img) if img.mode.startswith("I") else None
            if arr is None:
                arr = np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)
    except SkipItem:
        raise
    except Exception as exc:  # PIL raises OSError, ValueError, SyntaxError, DecompressionBombError...
        raise SkipItem(UNREADABLE_IMAGE, f"{path}: {type(exc).__name__}: {exc}"[:300]) from exc
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise SkipItem(UNREADABLE_IMAGE, f"{path}: decodes to an array of shape {arr.shape}")
    return arr


def box_mask(box: tuple[float, float, float, float], height: int, width: int) -> np.ndarray:
    """A ``bool (height, width)`` mask filling the box ``(x0, y0, x1, y1)`` (pixels, exclusive
    ends), clipped to the image. Pixel ``(r, c)`` is inside when its centre ``(c + .5, r + .5)``
    is, so a box with integer corners covers exactly ``(x1-x0) * (y1-y0)`` pixels."""
    x0, y0, x1, y1 = box
    c0 = max(0, int(math.floor(x0 + 0.5)))
    r0 = max(0, int(math.floor(y0 + 0.5)))
    c1 = min(width, int(math.floor(x1 + 0.5)))
    r1 = min(height, int(math.floor(y1 + 0.5)))
    m = np.zeros((height, width), dtype=bool)
    if c1 > c0 and r1 > r0:
        m[r0:r1, c0:c1] = True
    return m


def check_masks(mask_a: np.ndarray, mask_b: np.ndarray, min_pixels: int) -> None:
    """``SkipItem("mask too small")`` unless both masks have at least ``min_pixels`` pixels."""
    na, nb = int(mask_a.sum()), int(mask_b.sum())
    if na < min_pixels or nb < min_pixels:
        raise SkipItem(MASK_TOO_SMALL, f"masks of {na} and {nb} pixels, fewer than min_pixels={min_pixels}")


#: Spellings of SpatialSense's predicates found in other datasets (VRD/UnRel, GQA), mapped to
#: the canonical one. Only spatial meanings that clearly coincide are mapped; verbs such as
#: "ride" or "hold" are not spatial predicates and give ``label=None``.
PREDICATE_ALIASES: dict[str, str] = {
    "left of": "to the left of",
    "on the left of": "to the left of",
    "right of": "to the right of",
    "on the right of": "to the right of",
    "in the front of": "in front of",
    "front of": "in front of",
    "on top of": "on",
    "on the top of": "on",
    "below": "under",
    "beneath": "under",
    "underneath": "under",
    "over": "above",
    "inside": "in",
    "inside of": "in",
    "beside": "next to",
    "adjacent to": "next to",
}


def predicate_index(predicate: str | None) -> int | None:
    """Index into :data:`PREDICATES` of a predicate string (case/space-insensitive, aliases
    from :data:`PREDICATE_ALIASES`), or ``None`` when it is not one of the nine."""
    if not predicate:
        return None
    p = " ".join(predicate.strip().lower().replace("_", " ").split())
    p = PREDICATE_ALIASES.get(p, p)
    try:
        return PREDICATES.index(p)
    except ValueError:
        return None


def clip_box(box, height: int, width: int) -> tuple[float, float, float, float]:
    """Clip ``(x0, y0, x1, y1)`` to the image; floats. ``SkipItem("bad annotation")`` for a box
    with a value that is not finite (NaN, an infinity)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise SkipItem(BAD_ANNOTATION, f"box {tuple(box)} holds a value that is not finite")
    return (min(max(x0, 0.0), width), min(max(y0, 0.0), height), min(max(x1, 0.0), width), min(max(y1, 0.0), height))


SALIENCY_RULES = ("area", "center")


def saliency_order(masks: list[np.ndarray], rule: str = "area") -> list[int]:
    """Indices of ``masks`` (bool ``(H, W)``), most salient first.

    - ``"area"``: larger first (the paper's rule: the two largest objects).
    - ``"center"``: area times ``1 - d``, with ``d`` the distance of the mask's centroid to the
      image centre divided by the half-diagonal: large objects near the middle first.
    Ties keep the input order (stable sort), so the choice is deterministic.
    """
    if rule not in SALIENCY_RULES:
        raise ValueError(f"unknown saliency rule {rule!r}; expected one of {', '.join(SALIENCY_RULES)}")
    scores = []
    for m in masks:
        area = float(m.sum())
        if rule == "center" and area > 0:
            h, w = m.shape
            ys, xs = np.nonzero(m)
            d = math.hypot(xs.mean() + 0.5 - w / 2, ys.mean() + 0.5 - h / 2) / (0.5 * math.hypot(w, h))
            area *= 1.0 - d
        scores.append(area)
    return sorted(range(len(masks)), key=lambda i: -scores[i])


def box_prompted_sample(path: Path, masker, boxes, min_pixels: int, size: tuple[int, int] | None = None,
                        **fields) -> Sample:
    """The :class:`Sample` of the image at ``path`` whose objects A and B the annotation gives as
    boxes ``(x0, y0, x1, y1)`` in pixels: masks from ``masker`` (a :class:`~csip.data.sam.BoxMasker`:
    SAM prompted by the boxes clipped to the image, or the boxes themselves), ``box_a``/``box_b``
    those of the masks, ``mask_source`` the masker's. ``size``: the ``(h, w)`` the annotation
    records, checked against the image (:data:`SIZE_MISMATCH`). ``fields``: the rest of the
    sample. Every skip names ``path``. What SpatialSense, UnRel and GQA items share."""
    with about_file(path):
        image = read_rgb(path)
        h, w = image.shape[:2]
        if size is not None and (h, w) != tuple(size):
            raise SkipItem(SIZE_MISMATCH, size_mismatch(path, image.shape[:2], tuple(size)))
        (mask_a, mask_b), how = masker.masks(image, [clip_box(b, h, w) for b in boxes])
        check_masks(mask_a, mask_b, min_pixels)
        return Sample(image=image, mask_a=mask_a, mask_b=mask_b, box_a=box_of(mask_a), box_b=box_of(mask_b),
                      mask_source=how, **fields)
