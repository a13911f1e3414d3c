"""COCO instances (``instances_*.json``) as a :class:`~csip.data.source.Source`.

Following the paper, an item is an image with at least two and at most ``max_objects`` (3)
instance segmentations; crowd annotations (``iscrowd=1``) and annotations without a
segmentation are left out, both of the choice and of the count. The two most salient masks
(``saliency="area"``: the two largest decoded masks; ``"center"`` also favours the image
centre) are object A (most salient) and B. No relation label (``label=None``).

Segmentations are read with ``pycocotools.mask``: polygons (merged when an object has several),
uncompressed RLE (``counts`` a list) and compressed RLE (``counts`` a string). With the
``"area"`` rule the objects are ranked, sized and boxed on their run-length encodings
(``area``, ``toBbox``: exact pixel counts and tight boxes of the decoded masks), and only the two
chosen ones are decoded, by :func:`decode_rle_window`, which decodes only the columns asked
for. Masks are returned in the RLE's column-major (Fortran) order: valid ``(H, W)`` views, with
no copy. Image files are looked up as
``images / file_name`` and must stay inside ``images``. :meth:`CocoSource.load_cropped` gives
the item cut to the union box of its two objects, the window ``csip precompute`` keeps, with
only that window of the decoded image converted to an array.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np

from csip_core import rle_window

from ..base.checks import is_integer, is_number
from ..base.errors import BadFile
from .common import (
    BAD_ANNOTATION,
    MASK_TOO_SMALL,
    about_file,
    check_masks,
    read_json_file,
    read_rgb,
    resolve_inside,
    saliency_order,
)
from .option_values import option_int
from .records import Records
from .sample import Sample, SkipItem, box_of, shift_box, union_box


def check_rle(segmentation: dict, height: int, width: int) -> None:
    """``SkipItem("bad annotation", why)`` for an RLE that does not fit its image: a ``size``
    other than ``[height, width]``, or run lengths (``counts`` a list) that are negative or do
    not sum to ``height × width``. (Compressed counts are checked when decoded.)"""
    size = segmentation.get("size")
    try:
        size_ok = [int(v) for v in size] == [int(height), int(width)]
    except (TypeError, ValueError):
        size_ok = False
    if not size_ok:
        raise SkipItem(BAD_ANNOTATION, f"RLE size {size!r} differs from the image's [height, width] = "
                                       f"[{height}, {width}]")
    counts = segmentation.get("counts")
    if isinstance(counts, list):
        if not all(is_integer(c) for c in counts):
            raise SkipItem(BAD_ANNOTATION, "RLE counts hold a value that is not an integer")
        if any(int(c) < 0 for c in counts):
            raise SkipItem(BAD_ANNOTATION, "RLE counts hold a negative run length")
        total = sum(int(c) for c in counts)
        if total != int(height) * int(width):
            raise SkipItem(BAD_ANNOTATION, f"RLE counts sum to {total}, not height × width = {height} × {width} "
                                           f"= {int(height) * int(width)}")
    elif isinstance(counts, str) and not counts.isascii():
        raise SkipItem(BAD_ANNOTATION, "RLE counts string holds non-ASCII characters")
    elif not isinstance(counts, (str, bytes)):
        raise SkipItem(BAD_ANNOTATION, f"RLE counts are {type(counts).__name__}, expected a list or a string")


def check_polygon(polygon, height: int, width: int) -> None:
    """``SkipItem("bad annotation", why)`` for a polygon that is not a flat list of an even
    number of finite coordinates within reach of the image (each in ``[-S, 2S]``, ``S`` its
    larger side: pycocotools clips what lies outside, but rasterises every edge first, so a
    coordinate of 1e12 or NaN would exhaust the memory)."""
    if not isinstance(polygon, list):
        raise SkipItem(BAD_ANNOTATION, f"a polygon is a {type(polygon).__name__}, expected a list of coordinates")
    if len(polygon) % 2:
        raise SkipItem(BAD_ANNOTATION, f"a polygon has an odd number ({len(polygon)}) of coordinates")
    reach = max(int(height), int(width))
    for v in polygon:
        if not is_number(v):
            raise SkipItem(BAD_ANNOTATION, f"a polygon coordinate is {v!r}, not a number")
        if not -reach <= v <= 2 * reach:  # False for NaN too
            raise SkipItem(BAD_ANNOTATION, f"a polygon coordinate is {v!r}, outside [-{reach}, {2 * reach}] "
                                           f"for a {height} x {width} image")


def segmentation_rle(segmentation, height: int, width: int) -> dict | None:
    """A COCO ``segmentation`` (polygons, RLE or compressed RLE) as one compressed RLE, or
    ``None`` when it has no polygon of at least 3 points. An RLE that does not fit the image
    gives ``SkipItem("bad annotation", why)`` (:func:`check_rle`)."""
    from pycocotools import mask as mask_utils  # pycocotools is optional (the ml extra)

    if isinstance(segmentation, list):
        for polygon in segmentation:
            check_polygon(polygon, height, width)
        polys = [p for p in segmentation if len(p) >= 6]
        if not polys:
            return None
        return mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    if not isinstance(segmentation, dict):
        raise SkipItem(BAD_ANNOTATION, f"the segmentation is a {type(segmentation).__name__}, expected "
                                       "polygons (a list) or an RLE (an object)")
    check_rle(segmentation, height, width)
    if isinstance(segmentation.get("counts"), list):
        return mask_utils.frPyObjects(segmentation, height, width)
    rle = dict(segmentation)
    if isinstance(rle["counts"], str):
        rle["counts"] = rle["counts"].encode("ascii")
    return rle


def decode_rle(rle: dict | None, height: int, width: int) -> np.ndarray:
    """Bool ``(height, width)`` mask of an RLE (all False for ``None``), Fortran-ordered, no copy."""
    from pycocotools import mask as mask_utils  # pycocotools is optional (the ml extra)

    if rle is None:
        return np.zeros((height, width), dtype=bool)
    with warnings.catch_warnings():  # pycocotools' Cython trips numpy 2's __array__(copy=) deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        m = mask_utils.decode(rle)
    if m.ndim == 3:
        return m.any(axis=2)
    return m.view(bool)  # uint8 0/1 -> bool, same buffer


def decode_segmentation(segmentation, height: int, width: int) -> np.ndarray:
    """A COCO ``segmentation`` (polygons, RLE or compressed RLE) as bool ``(height, width)``."""
    return decode_rle(segmentation_rle(segmentation, height, width), height, width)


def decode_rle_window(rle: dict | None, height: int, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """The window ``box = (x0, y0, x1, y1)`` of an RLE's ``(height, width)`` mask, bool
    ``(y1 - y0, x1 - x0)`` (Fortran-ordered), equal to ``decode_rle(rle, height, width)[y0:y1,
    x0:x1]`` but decoding only the columns ``x0..x1`` (the mask is stored column by column), by
    ``csip_core.rle_window``. ``counts`` may be compressed (bytes or str) or a list of run
    lengths. ``ValueError`` for a window outside the mask, a malformed string, or runs that do
    not cover ``height × width`` pixels."""
    window = tuple(int(v) for v in box)
    counts = [int(height) * int(width)] if rle is None else rle["counts"]  # None: all 0s
    return rle_window(counts, int(height), int(width), window)


def rle_area_box(rle: dict | None) -> tuple[int, tuple[float, float, float, float] | None]:
    """Pixel count and tight box ``(x0, y0, x1, y1)`` (exclusive ends) of an RLE's mask."""
    from pycocotools import mask as mask_utils  # pycocotools is optional (the ml extra)

    if rle is None:
        return 0, None
    area = int(mask_utils.area(rle))
    if area == 0:
        return 0, None
    x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
    return area, (x, y, x + w, y + h)


def check_coco_structure(dataset, path: Path) -> None:
    """:class:`~csip.errors.BadFile` naming ``path`` and the first faulty entry when a COCO
    instances document lacks what :class:`CocoSource` reads: ``images`` entries with ``id``,
    ``file_name``, ``height`` and ``width``; ``annotations`` entries with ``id`` and
    ``image_id`` (of a listed image). Ids are integers or strings (``categories`` entries have
    one), annotation ids unique, ``category_id`` (when given) an integer or a string (one that no
    category has gives the name ""), ``iscrowd`` 0 or 1."""
    if not isinstance(dataset, dict):
        raise BadFile(f"COCO annotations {path}: expected a JSON object with 'images' and 'annotations', "
                      f"got a {type(dataset).__name__}")
    for key in ("images", "annotations"):
        if not isinstance(dataset.get(key), list):
            raise BadFile(f"COCO annotations {path}: no {key!r} list")
    rec = Records(path, "COCO annotations")
    for k, cat in enumerate(rec.seq(dataset.get("categories", []), "'categories'")):
        rec.ident(rec.obj(cat, f"categories[{k}]"), "id", f"categories[{k}]")
    ids = set()
    for k, img in enumerate(dataset["images"]):
        rec.obj(img, f"images[{k}]")
        where = f"images[{k}] (id {img.get('id', '?')})"
        rec.ident(img, "id", where)
        ids.add(img["id"])
        if not rec.text(img, "file_name", where) or "\0" in img["file_name"]:
            raise rec.error(where, f"has file_name {img['file_name']!r}, expected a file's relative path")
        rec.integer(img, "height", where, 1), rec.integer(img, "width", where, 1)
    ann_ids = set()
    for k, ann in enumerate(dataset["annotations"]):
        rec.obj(ann, f"annotations[{k}]")
        where = f"annotations[{k}] (id {ann.get('id', '?')})"
        rec.ident(ann, "id", where), rec.ident(ann, "image_id", where)
        if ann["id"] in ann_ids:
            raise rec.error(where, "repeats the id of an earlier annotation")
        ann_ids.add(ann["id"])
        if ann["image_id"] not in ids:  # as COCO indexes them: 1 and "1" are two ids
            raise rec.error(where, f"refers to image_id {ann['image_id']!r}, which no entry of 'images' has")
        rec.ident(ann, "category_id", where, default=None)
        if ann.get("iscrowd", 0) not in (0, 1):  # True/False compare equal to 1/0
            raise rec.error(where, f"has iscrowd {ann['iscrowd']!r}, expected 0 or 1")


class CocoSource:
    """Images of a COCO instances file with 2..``max_objects`` objects; masks A, B by saliency.

    Parameters: ``annotations`` (the JSON file), ``images`` (the image folder; default: the JSON's
    folder), ``max_objects`` (3), ``saliency`` (``"area"`` or ``"center"``), ``min_pixels`` (16:
    smaller masks give ``SkipItem("mask too small")``).
    """

    name = "coco"

    #: The options (``-O name=value``) and what they mean; defaults are the constructor's.
    OPTIONS = {
        "annotations": "the instances JSON (instances_*.json)",
        "images": "image folder, where each image's file_name is looked up (default: the JSON's folder)",
        "max_objects": "images with 2..max_objects instance segmentations (crowds left out) are items",
        "saliency": "which two masks are A and B: 'area' (the two largest) or 'center' (large and central)",
        "min_pixels": "items whose mask A or B has fewer pixels are skipped ('mask too small')",
    }

    def __init__(
        self,
        annotations: str | Path,
        images: str | Path | None = None,
        max_objects: int = 3,
        saliency: str = "area",
        min_pixels: int = 16,
    ):
        from pycocotools.coco import COCO  # optional (the ml extra)

        self.annotations = Path(annotations).expanduser()
        if not self.annotations.is_file():
            raise FileNotFoundError(f"COCO annotations not found: {self.annotations}")
        self.images = Path(images).expanduser() if images is not None else self.annotations.parent
        self.max_objects, self.saliency = option_int(max_objects, "max_objects", lo=2), saliency
        self.min_pixels = option_int(min_pixels, "min_pixels", lo=0)
        saliency_order([], saliency)  # validates the rule
        dataset = read_json_file(self.annotations, "COCO annotations")
        check_coco_structure(dataset, self.annotations)
        with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints progress
            coco = COCO()
            coco.dataset = dataset
            coco.createIndex()
        cats = {c["id"]: c.get("name", str(c["id"])) for c in coco.dataset.get("categories", [])}
        # Keep only what load() needs: a compact, cheaply pickled list.
        # objects: (segmentation, category name, annotation id: for messages)
        self._items: list[tuple[int, str, int, int, list[tuple[object, str, object]]]] = []
        for img_id in sorted(coco.getImgIds()):
            info = coco.imgs[img_id]
            anns = [
                a
                for a in coco.imgToAnns.get(img_id, [])
                if not a.get("iscrowd", 0) and a.get("segmentation")
            ]
            if 2 <= len(anns) <= self.max_objects:
                ordered = sorted(anns, key=lambda a: a["id"])
                objs = [(a["segmentation"], cats.get(a.get("category_id"), ""), a["id"]) for a in ordered]
                self._items.append((img_id, info["file_name"], int(info["height"]), int(info["width"]), objs))

    def __len__(self) -> int:
        return len(self._items)

    def item_id(self, i: int) -> str:
        """The id of item ``i`` (without loading it)."""
        return f"coco-{self._items[i][0]}"

    def load(self, i: int) -> Sample:
        return self._load(i, cropped=False)

    def load_cropped(self, i: int) -> Sample:
        """``load(i)`` cut to the union box of its two objects (:meth:`Sample.crop`), without
        converting or copying the rest of the frame: what ``csip precompute`` keeps."""
        return self._load(i, cropped=True)

    def _load(self, i: int, cropped: bool) -> Sample:
        path = resolve_inside(self.images, self._items[i][1])
        with about_file(path):  # every skip of this item names its image
            return self._load_at(i, path, cropped)

    def _load_at(self, i: int, path: Path, cropped: bool) -> Sample:
        img_id, file_name, h, w, objs = self._items[i]
        rles = []
        for seg, _, ann_id in objs:
            try:
                rles.append(segmentation_rle(seg, h, w))
            except SkipItem as exc:
                if exc.details is not None:
                    raise SkipItem(exc.reason, f"annotation {ann_id}: {exc.details}") from None
                raise
        if self.saliency == "area":
            sized = [rle_area_box(r) for r in rles]
            ia, ib = sorted(range(len(rles)), key=lambda i: -sized[i][0])[:2]  # stable, as saliency_order
            if min(sized[ia][0], sized[ib][0]) < max(1, self.min_pixels):
                raise SkipItem(MASK_TOO_SMALL, f"masks of {sized[ia][0]} and {sized[ib][0]} pixels, fewer than "
                                               f"min_pixels={self.min_pixels}")
            box_a, box_b = sized[ia][1], sized[ib][1]
            # the boxes are the masks' tight boxes: no mask pixel lies outside their union
            crop = union_box(box_a, box_b, h, w) if cropped else (0, 0, w, h)
            mask_a, mask_b = (decode_rle_window(rles[k], h, w, crop) for k in (ia, ib))
        else:
            masks = [decode_rle(r, h, w) for r in rles]
            ia, ib = saliency_order(masks, self.saliency)[:2]
            check_masks(masks[ia], masks[ib], self.min_pixels)
            box_a, box_b = box_of(masks[ia]), box_of(masks[ib])
            crop = union_box(box_a, box_b, h, w) if cropped else (0, 0, w, h)
            mask_a, mask_b = (masks[k][crop[1] : crop[3], crop[0] : crop[2]] for k in (ia, ib))
        x0, y0 = crop[:2]
        image = read_rgb(path, size=(h, w), crop=crop if cropped else None)
        return Sample(
            id=f"coco-{img_id}",
            image=image,
            mask_a=mask_a,
            mask_b=mask_b,
            box_a=shift_box(box_a, x0, y0),
            box_b=shift_box(box_b, x0, y0),
            label=None,
            source=self.name,
            names=(objs[ia][1], objs[ib][1]),
            mask_source="annotated",
        )

    def options(self) -> dict:
        return {
            "annotations": str(self.annotations),
            "images": str(self.images),
            "max_objects": self.max_objects,
            "saliency": self.saliency,
            "min_pixels": self.min_pixels,
            "masks": "annotated",
        }
