"""Any folder of images as a :class:`~csip.data.source.Source`, masks from SAM.

Every image file under ``root`` (suffixes in :data:`~csip.data.common.IMAGE_SUFFIXES`; sub-folders
with ``recursive=True``), sorted by relative path, is an item. Its masks come from
``SamAutomaticMaskGenerator`` (a local ``sam_checkpoint`` is required); then:

1. masks covering more than ``max_area_frac`` of the image (background, sky, table tops that
   fill the frame) or fewer than ``min_pixels`` pixels are dropped;
2. the rest are ranked by ``saliency`` (``"area"``: largest first, the paper's rule; or
   ``"center"``);
3. A is the first, B the next one that is not mostly the same region: SAM returns nested
   whole/part masks, so a candidate whose overlap with A exceeds ``max_overlap`` of the smaller
   mask is passed over.

``points_per_side``, ``pred_iou_thresh``, ``stability_score_thresh`` and ``box_nms_thresh`` are
passed to the generator (defaults: SAM's own).

Fewer than two masks left -> ``SkipItem("fewer than two objects")``. EXIF orientation is applied
(masks are computed on the upright image). ``label=None``, no questions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import IMAGE_SUFFIXES, about_file, read_rgb, resolve_inside, saliency_order
from .option_values import option_bool, option_float, option_int
from .sam import SAM_OPTIONS, AutoMasker
from .sample import Sample, SkipItem, box_of

FEWER_THAN_TWO = "fewer than two objects"


def pick_two(
    masks: list[np.ndarray],
    saliency: str = "area",
    max_area_frac: float = 0.95,
    max_overlap: float = 0.8,
    min_pixels: int = 16,
) -> tuple[int, int]:
    """Indices ``(a, b)`` of the two masks chosen by the rules of the module docstring, or
    ``SkipItem("fewer than two objects")``."""
    keep = [i for i, m in enumerate(masks) if min_pixels <= int(m.sum()) <= max_area_frac * m.size]
    order = [keep[j] for j in saliency_order([masks[i] for i in keep], saliency)]
    if not order:
        raise SkipItem(FEWER_THAN_TWO)
    a = order[0]
    na = int(masks[a].sum())
    for b in order[1:]:
        nb = int(masks[b].sum())
        if int((masks[a] & masks[b]).sum()) <= max_overlap * min(na, nb):
            return a, b
    raise SkipItem(FEWER_THAN_TWO)


class FolderSource:
    """Images of a folder with SAM automatic masks; see the module docstring."""

    name = "folder"

    #: The options (``-O name=value``) and what they mean; defaults are the constructor's.
    OPTIONS = {
        "root": "the image folder",
        "sam_checkpoint": "local SAM checkpoint file (required: every mask comes from SAM's automatic generator)",
        "sam_kind": SAM_OPTIONS["sam_kind"],
        "sam_device": SAM_OPTIONS["sam_device"],
        "recursive": "also list the images of sub-folders",
        "saliency": "order of the masks: 'area' (largest first) or 'center' (large and central first)",
        "max_area_frac": "masks covering more of the image than this fraction (background) are dropped",
        "max_overlap": "B is the next mask overlapping A by at most this fraction of the smaller one",
        "points_per_side": "SAM generator: prompt points per image side",
        "pred_iou_thresh": "SAM generator: masks below this predicted IoU are dropped",
        "stability_score_thresh": "SAM generator: masks below this stability score are dropped",
        "box_nms_thresh": "SAM generator: box IoU above which duplicate masks are suppressed",
        "min_pixels": "masks with fewer pixels are dropped",
    }

    def __init__(
        self,
        root: str | Path,
        sam_checkpoint: str | Path | None = None,
        sam_kind: str | None = None,
        sam_device: str | None = None,
        recursive: bool = False,
        saliency: str = "area",
        max_area_frac: float = 0.95,
        max_overlap: float = 0.8,
        points_per_side: int = 32,
        pred_iou_thresh: float = 0.88,
        stability_score_thresh: float = 0.95,
        box_nms_thresh: float = 0.7,
        min_pixels: int = 16,
    ):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder not found: {self.root}")
        if sam_checkpoint is None:
            raise ValueError("folder source: masks come from SAM; pass sam_checkpoint=FILE (a local SAM checkpoint)")
        saliency_order([], saliency)  # validates the rule
        self.recursive, self.saliency = option_bool(recursive, "recursive"), saliency
        self.max_area_frac = option_float(max_area_frac, "max_area_frac", 0.0, 1.0)
        self.max_overlap = option_float(max_overlap, "max_overlap", 0.0, 1.0)
        self.min_pixels = option_int(min_pixels, "min_pixels", lo=0)
        pattern = "**/*" if self.recursive else "*"
        self._files = sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.glob(pattern)
            if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir()
        )
        self.masker = AutoMasker(
            sam_checkpoint,
            sam_kind,
            sam_device,
            {
                "points_per_side": option_int(points_per_side, "points_per_side", 1, 256),
                "pred_iou_thresh": option_float(pred_iou_thresh, "pred_iou_thresh", 0.0, 1.0),
                "stability_score_thresh": option_float(stability_score_thresh, "stability_score_thresh", 0.0, 1.0),
                "box_nms_thresh": option_float(box_nms_thresh, "box_nms_thresh", 0.0, 1.0),
            },
        )
        self.max_workers = self.masker.max_workers  # one SAM per loader process

    def __len__(self) -> int:
        return len(self._files)

    def item_id(self, i: int) -> str:
        """The id of item ``i`` (without loading it)."""
        return f"folder-{self._files[i]}"

    def load(self, i: int) -> Sample:
        rel = self._files[i]
        path = resolve_inside(self.root, rel)
        with about_file(path):  # every skip of this item names its image
            image = read_rgb(path, exif_transpose=True)
            masks = self.masker(image)
            a, b = pick_two(masks, self.saliency, self.max_area_frac, self.max_overlap, self.min_pixels)
            return Sample(
                id=f"folder-{rel}",
                image=image,
                mask_a=masks[a],
                mask_b=masks[b],
                box_a=box_of(masks[a]),
                box_b=box_of(masks[b]),
                label=None,
                source=self.name,
                mask_source="sam-auto",
            )

    def options(self) -> dict:
        return {
            "root": str(self.root),
            "recursive": self.recursive,
            "saliency": self.saliency,
            "max_area_frac": self.max_area_frac,
            "max_overlap": self.max_overlap,
            "min_pixels": self.min_pixels,
            **self.masker.options(),
        }
