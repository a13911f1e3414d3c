"""The queries of ``csip search``, each prepared for the ranking (:mod:`.ranking`) and the figure.

- a **cache item** (its position): ranked by the encoder's features f_v against the gallery's,
  the item left out of its own results;
- an **image file**: its two objects from SAM's automatic masks (``sam_checkpoint``), or, without
  SAM and for an encoder that reads the image alone, the whole image padded to a square;
- a **layout** (:mod:`.layout`: two boxes or a two-colour PNG) or the **banner of a cache item**
  (``--layout-from``): embedded by the C-SIP checkpoint's banner tower g_u∘f_u and ranked against
  the gallery's image embeddings g_v∘f_v (the shared space C-SIP trains), never against f_v.

A query is a dict: ``"mode"`` (how it was made), ``"sfb"`` (its banner ``(R, K)`` or None: the
relevance of each result is the cosine of the banners), ``"view"`` (what the figure draws:
``image`` uint8 ``(S, S, 3)`` or None, ``mask_a``/``mask_b`` bool ``(S, S)`` or None, ``caption``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..base.errors import BadOption
from . import GENERATOR_KEYS, PICK_KEYS


def split_sam_options(pairs) -> tuple[dict, dict]:
    """``[(key, value)]`` of ``-O`` → ``(generator options, pick options)``; :class:`BadOption`
    for a key of neither."""
    gen, pick = {}, {}
    for key, value in pairs:
        if key in GENERATOR_KEYS:
            gen[key] = value
        elif key in PICK_KEYS:
            pick[key] = value
        else:
            raise BadOption(f"-O/--sam-opt: unknown option {key!r}; known: {', '.join(GENERATOR_KEYS + PICK_KEYS)}")
    return gen, pick


def whole_image(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``(H, W, 3)`` → uint8 ``(3, S, S)``: resized to fit ``S`` (aspect kept, bilinear),
    centred on a black square — the cache's pad-and-resize, with the whole image as the crop."""
    from PIL import Image  # Pillow: lazy for `--help`

    h, w = image.shape[:2]
    side = max(h, w)
    nw, nh = max(1, round(w * size / side)), max(1, round(h * size / side))
    small = np.asarray(Image.fromarray(image, mode="RGB").resize((nw, nh), Image.Resampling.BILINEAR))
    out = np.zeros((3, size, size), dtype=np.uint8)
    oy, ox = (size - nh) // 2, (size - nw) // 2
    out[:, oy : oy + nh, ox : ox + nw] = small.transpose(2, 0, 1)
    return out


def image_query(path: Path, cache, sam_checkpoint: Path | None, sam_kind: str, sam_device: str | None,
                gen_opts: dict, pick_opts: dict) -> dict:
    """An image file as a query: ``{"image" (3,S,S) uint8, "boxes" (2,4) or None, "masks"
    (2,S,S) bool or None, "sfb" (R,K) or None, "mode"}``; :class:`BadOption` naming ``--query``
    for an unreadable image or one where SAM finds no usable pair."""
    from ..cache.prepare import prepare_sample
    from ..data.common import read_rgb
    from ..data.folder import pick_two
    from ..data.sam import AutoMasker
    from ..data.sample import Sample, SkipItem, box_of
    from ..descriptor import DescriptorParams, sfb

    try:
        rgb = read_rgb(path, exif_transpose=True)
    except SkipItem as exc:
        raise BadOption(f"--query: query image {path}: {exc}") from None
    s = cache.image_size
    if sam_checkpoint is None:
        return {"image": whole_image(rgb, s), "boxes": None, "masks": None, "sfb": None, "mode": "whole image"}
    masks = AutoMasker(sam_checkpoint, sam_kind, sam_device, gen_opts)(rgb)
    try:
        a, b = pick_two(masks, **pick_opts)
        sample = Sample(id=f"query-{path.name}", image=rgb, mask_a=masks[a], mask_b=masks[b],
                        box_a=box_of(masks[a]), box_b=box_of(masks[b]))
        item = prepare_sample(sample, 0, s)
    except SkipItem as exc:
        raise BadOption(f"--query: query image {path}: SAM found no usable pair of objects ({exc}); "
                        f"{len(masks)} masks before filtering") from None
    banner = sfb(sample.mask_a, sample.mask_b, DescriptorParams.from_json(cache.descriptor))
    m = np.unpackbits(item.masks, axis=-1, count=s).astype(bool)
    return {"image": item.image, "boxes": item.boxes, "masks": m, "sfb": banner, "mode": "SAM masks"}


def image_view(q: dict, caption: str) -> dict:
    """What the figure draws of a prepared image query (:func:`image_query`)."""
    m = q.get("masks")
    return {"image": q["image"].transpose(1, 2, 0), "mask_a": None if m is None else m[0],
            "mask_b": None if m is None else m[1], "caption": caption}


def item_query_view(cache, index: int, caption: str) -> dict:
    """What the figure draws of cache item ``index``: its image and both masks."""
    m = cache.masks(int(index))
    return {"image": np.asarray(cache.images[int(index)]).transpose(1, 2, 0), "mask_a": m[0], "mask_b": m[1],
            "caption": caption}


def layout_query(cache, layout: str | None, layout_from: int | None) -> dict:
    """A layout (``--layout``: boxes or a two-colour PNG) or a cache item's banner
    (``--layout-from``) as a query: ``{"sfb" (R, K), "mode", "view"}``. The layout's figure shows
    its masks on black (no image: a layout has none)."""
    from .layout import layout_banner, layout_masks

    if layout_from is not None:
        view = item_query_view(cache, layout_from, f"banner of #{layout_from}")
        return {"sfb": np.asarray(cache.sfb[layout_from], np.float32), "mode": f"banner of cache item {layout_from}",
                "view": dict(view, image=None)}
    masks, what = layout_masks(layout, cache.image_size)
    banner = layout_banner(masks, cache.descriptor)
    return {"sfb": banner, "mode": f"layout ({what})",
            "view": {"image": None, "mask_a": masks[0], "mask_b": masks[1], "caption": "layout"}}


__all__ = ["image_query", "image_view", "item_query_view", "layout_query",
           "split_sam_options", "whole_image"]
