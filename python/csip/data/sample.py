"""The one record every data source yields: :class:`Sample`.

Every adapter (COCO, SpatialSense, UnRel, GQA, image folders with SAM masks, the built-in
synthetic scenes) turns its own format into ``Sample`` objects, so that ``csip precompute``,
the cache and every later stage deal with a single shape of data.

Conventions
-----------
- ``image`` is RGB, ``uint8``, shape ``(H, W, 3)``.
- ``mask_a`` / ``mask_b`` are ``bool`` arrays of shape ``(H, W)``: object A (the *subject*,
  e.g. "cup" in "cup on table") and object B (the *referent*). The symmetric Force Banner does
  not depend on their order; the relation label does.
- Boxes are ``(x0, y0, x1, y1)`` in pixels, ``x`` along columns, ``y`` along rows (row 0 at the
  top), ``x1``/``y1`` exclusive.
- ``label`` is an index into :data:`PREDICATES` (SpatialSense's nine predicates), or ``None``
  where no relation is known or well defined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

#: SpatialSense's nine spatial predicates; a ``Sample.label`` indexes this tuple.
PREDICATES: tuple[str, ...] = (
    "above",
    "behind",
    "in",
    "in front of",
    "next to",
    "on",
    "to the left of",
    "to the right of",
    "under",
)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Question:
    """A yes/no question about the image, e.g. ``("Is the cup on the table?", True)``."""

    text: str
    answer: bool


class SkipItem(Exception):
    """Raised by a source's ``load(i)`` when item ``i`` cannot be used; the message is the
    reason that ``csip precompute`` counts and records in the cache manifest
    (e.g. ``"unreadable image"``, ``"mask too small"``). ``SkipItem(reason, message)`` adds
    details for this item (recorded beside the reason, not counted separately)."""

    @property
    def reason(self) -> str:
        """The reason counted: the first argument of ``SkipItem(reason, message)``, else the message."""
        return str(self.args[0]) if len(self.args) == 2 else str(self)

    @property
    def details(self) -> str | None:
        """The message of ``SkipItem(reason, message)``; None for ``SkipItem(reason)``."""
        return str(self.args[1]) if len(self.args) == 2 else None


@dataclass
class Sample:
    """One image with its two main objects; see the module docstring for conventions."""

    id: str
    image: np.ndarray
    mask_a: np.ndarray
    mask_b: np.ndarray
    box_a: Box
    box_b: Box
    label: int | None = None
    questions: list[Question] = field(default_factory=list)
    source: str = ""
    names: tuple[str, str] = ("", "")
    split: str | None = None  # the source's own split ("train", "val", "test" or an alias); None: hashed from id
    #: where the masks come from: "annotated" (the dataset's), "sam" (SAM prompted by the boxes),
    #: "boxes" (the boxes themselves: no SAM, or SAM found nothing), "sam-auto", "exact" (synthetic);
    #: counted in the cache manifest (counts.masks). None: not said.
    mask_source: str | None = None

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"Sample {self.id!r}: image must be uint8 (H, W, 3), got {self.image.dtype} {self.image.shape}"
            )
        hw = self.image.shape[:2]
        for name in ("mask_a", "mask_b"):
            m = getattr(self, name)
            if m.shape != hw:
                raise ValueError(f"Sample {self.id!r}: {name} has shape {m.shape}, image has {hw}")
            if m.dtype != np.bool_:
                setattr(self, name, m.astype(bool))
        if self.label is not None and not 0 <= self.label < len(PREDICATES):
            raise ValueError(f"Sample {self.id!r}: label {self.label} is not in 0..{len(PREDICATES) - 1}")

    def union_box(self) -> tuple[int, int, int, int]:
        """The integer box around ``box_a ∪ box_b``, clamped to the image: see :func:`union_box`."""
        h, w = self.image.shape[:2]
        return union_box(self.box_a, self.box_b, h, w)

    def crop(self, box: tuple[int, int, int, int]) -> Sample:
        """The sample cut to the integer box ``(x0, y0, x1, y1)``: image and masks are views of
        that window, the boxes are shifted by ``(-x0, -y0)`` (exactly: integer shifts of floats
        below 2**52 do not round). Everything else is kept."""
        x0, y0, x1, y1 = (int(v) for v in box)
        h, w = self.image.shape[:2]
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise ValueError(f"Sample {self.id!r}: crop box {box} is not inside the {w}x{h} image")
        return replace(
            self,
            image=self.image[y0:y1, x0:x1],
            mask_a=self.mask_a[y0:y1, x0:x1],
            mask_b=self.mask_b[y0:y1, x0:x1],
            box_a=shift_box(self.box_a, x0, y0),
            box_b=shift_box(self.box_b, x0, y0),
        )


def shift_box(box: Box, dx: int, dy: int) -> Box:
    """``box`` moved by ``(-dx, -dy)`` pixels."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return (x0 - dx, y0 - dy, x1 - dx, y1 - dy)


def union_box(box_a: Box, box_b: Box, height: int, width: int) -> tuple[int, int, int, int]:
    """Integer ``(x0, y0, x1, y1)`` (exclusive ends) covering ``box_a ∪ box_b`` (floor of the
    low ends, ceiling of the high ones), clamped to a ``height × width`` image;
    ``SkipItem("empty union box")`` when nothing is left. The cache keeps the pixels of this
    box, cropped, padded to a square and resized (:mod:`csip.cache.prepare`)."""
    ax0, ay0, ax1, ay1 = (float(v) for v in box_a)
    bx0, by0, bx1, by1 = (float(v) for v in box_b)
    x0 = max(0, int(math.floor(min(ax0, bx0))))
    y0 = max(0, int(math.floor(min(ay0, by0))))
    x1 = min(int(width), int(math.ceil(max(ax1, bx1))))
    y1 = min(int(height), int(math.ceil(max(ay1, by1))))
    if x1 <= x0 or y1 <= y0:
        raise SkipItem("empty union box")
    return x0, y0, x1, y1


def box_of(mask: np.ndarray) -> Box:
    """The tight box ``(x0, y0, x1, y1)`` (exclusive ends, pixels) of a non-empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("box_of: the mask is empty")
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
