"""A spatial layout as a query: two objects A and B given without an image.

Two forms (``csip search --layout``):

- **boxes**: ``"A=x0,y0,x1,y1 B=x0,y0,x1,y1"``, relative coordinates in [0, 1] of the cache's
  image frame (x to the right, y down, ``x0 < x1``, ``y0 < y1``; the boxes may overlap). A box
  covers the pixels ``⌊x0·S⌋ .. max(⌊x0·S⌋ + 1, ⌈x1·S⌉) − 1`` (the same for y) of the ``S × S``
  frame: at least one pixel, whatever its size;
- **a two-colour PNG** (any image file Pillow reads): **A is red, B is blue**, anything else is
  background. A pixel is A when its red channel is ≥ 128 and green and blue are < 128; B when
  blue is ≥ 128 and red and green are < 128 (so pure ``#ff0000`` and ``#0000ff`` on black or
  white, and anti-aliased edges, all read as meant). The image is padded to a centred square and
  resized to ``S × S`` (nearest neighbour), as the cache pads and resizes its crops.

The banner is :func:`csip.descriptor.sfb` of the two ``S × S`` masks with the cache's descriptor
settings (its manifest's forces, angles and normalisation). The cache computed its banners from
the source's full-resolution masks; with ``normalize="max"`` each force level is divided by its
maximum over θ, which makes the banner invariant to the scale of the pair, so the resolution of
the layout changes it only by rasterisation.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..base.errors import BadOption

#: The option the messages name.
OPTION = "--layout"

_BOX = re.compile(r"^([AaBb])=(.*)$")


def is_box_text(text: str) -> bool:
    """Whether ``text`` is meant as boxes (it holds ``=``), not as a PNG path."""
    return "=" in text


def parse_boxes(text: str) -> dict[str, tuple[float, float, float, float]]:
    """``"A=x0,y0,x1,y1 B=x0,y0,x1,y1"`` → ``{"A": box, "B": box}``; :class:`BadOption` naming
    ``--layout`` and what is wrong (not two boxes, a name other than A and B or given twice, not
    four numbers, a number that is not finite or not in [0, 1], an empty box)."""
    parts = text.split()
    if len(parts) != 2:
        raise BadOption(f"{OPTION} {text!r}: expected two boxes 'A=x0,y0,x1,y1 B=x0,y0,x1,y1', "
                        f"got {len(parts)} part(s)")
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for part in parts:
        m = _BOX.match(part)
        if m is None:
            raise BadOption(f"{OPTION} {part!r}: expected A=x0,y0,x1,y1 or B=x0,y0,x1,y1")
        name = m.group(1).upper()
        if name in boxes:
            raise BadOption(f"{OPTION} {text!r}: box {name} is given twice (give A and B)")
        boxes[name] = _box_numbers(name, m.group(2))
    return boxes


def _box_numbers(name: str, text: str) -> tuple[float, float, float, float]:
    """The four checked numbers of box ``name`` written ``"x0,y0,x1,y1"``."""
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise BadOption(f"{OPTION} {name}={text}: not four numbers x0,y0,x1,y1") from None
    if len(vals) != 4:
        raise BadOption(f"{OPTION} {name}={text}: expected four numbers x0,y0,x1,y1, got {len(vals)}")
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in vals):
        raise BadOption(f"{OPTION} {name}={text}: coordinates must be finite and in [0, 1] (relative to the image)")
    x0, y0, x1, y1 = vals
    if not (x0 < x1 and y0 < y1):
        raise BadOption(f"{OPTION} {name}={text}: need x0 < x1 and y0 < y1")
    return x0, y0, x1, y1


def _span(lo: float, hi: float, size: int) -> slice:
    """The pixels ``[lo, hi]`` (relative) covers in ``size`` pixels: at least one."""
    a = min(int(math.floor(lo * size)), size - 1)
    return slice(a, max(a + 1, min(size, int(math.ceil(hi * size)))))


def box_masks(boxes: dict[str, tuple[float, float, float, float]], size: int) -> np.ndarray:
    """The boxes rasterised: bool ``(2, S, S)``, A then B."""
    out = np.zeros((2, size, size), dtype=bool)
    for k, name in enumerate(("A", "B")):
        x0, y0, x1, y1 = boxes[name]
        out[k, _span(y0, y1, size), _span(x0, x1, size)] = True
    return out


def png_masks(path: Path, size: int) -> np.ndarray:
    """The two masks of a two-colour image (A red, B blue; see the module), padded to a centred
    square and resized to ``S × S``: bool ``(2, S, S)``. :class:`BadOption` for an unreadable
    file or a colour with no pixel."""
    from PIL import Image  # Pillow: lazy, only an image layout needs it

    from ..data.common import read_rgb
    from ..data.sample import SkipItem

    try:
        rgb = read_rgb(path).astype(np.int16)
    except SkipItem as exc:
        raise BadOption(f"{OPTION} {path}: cannot read it as an image ({exc})") from None
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    masks = [(r >= 128) & (g < 128) & (b < 128), (b >= 128) & (r < 128) & (g < 128)]
    for name, colour, m in zip("AB", ("red", "blue"), masks):
        if not m.any():
            raise BadOption(f"{OPTION} {path}: no {colour} pixel, so no object {name} (A red, B blue)")
    h, w = masks[0].shape
    side = max(h, w)
    out = np.zeros((2, size, size), dtype=bool)
    for k, m in enumerate(masks):
        square = np.zeros((side, side), dtype=np.uint8)
        oy, ox = (side - h) // 2, (side - w) // 2
        square[oy:oy + h, ox:ox + w] = m.astype(np.uint8) * 255
        small = np.asarray(Image.fromarray(square).resize((size, size), Image.Resampling.NEAREST)) > 0
        if not small.any():
            raise BadOption(f"{OPTION} {path}: object {name_of(k)} vanishes at the cache's {size} px (draw it larger)")
        out[k] = small
    return out


def name_of(k: int) -> str:
    """``0`` → ``"A"``, ``1`` → ``"B"``."""
    return "AB"[k]


def layout_masks(text: str, size: int) -> tuple[np.ndarray, str]:
    """``(masks bool (2, S, S), description)`` of a ``--layout`` value: boxes when it holds ``=``,
    else a PNG path (:class:`BadOption` when it is neither)."""
    if is_box_text(text):
        boxes = parse_boxes(text)
        return box_masks(boxes, size), "boxes " + " ".join(f"{n}=" + ",".join(f"{v:g}" for v in boxes[n]) for n in "AB")
    path = Path(text).expanduser()
    if not path.is_file():
        raise BadOption(f"{OPTION} {text!r}: neither boxes 'A=x0,y0,x1,y1 B=x0,y0,x1,y1' nor an existing image file")
    return png_masks(path, size), f"masks of {path.name}"


def layout_banner(masks: np.ndarray, descriptor: dict) -> np.ndarray:
    """The banner float32 ``(R, K)`` of masks ``(2, S, S)`` with the cache's descriptor settings
    (its manifest's ``descriptor``: forces, n_angles, normalize)."""
    from ..descriptor import DescriptorParams, sfb

    return sfb(masks[0], masks[1], DescriptorParams.from_json(descriptor))


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """Relative boxes float32 ``(2, 4)`` (x0, y0, x1, y1) of masks ``(2, S, S)``, as the cache
    stores boxes (what a box-reading encoder would be given)."""
    s = masks.shape[-1]
    out = np.zeros((2, 4), dtype=np.float32)
    for k in range(2):
        rows, cols = np.flatnonzero(masks[k].any(axis=1)), np.flatnonzero(masks[k].any(axis=0))
        out[k] = (cols[0] / s, rows[0] / s, (cols[-1] + 1) / s, (rows[-1] + 1) / s)
    return out


__all__ = ["OPTION", "box_masks", "is_box_text", "layout_banner", "layout_masks", "mask_boxes", "parse_boxes",
           "png_masks"]
