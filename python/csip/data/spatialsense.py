"""SpatialSense ``annotations.json`` as a :class:`~csip.data.source.Source`.

The released file is a list of images::

    [{"url": "https://farm4.staticflickr.com/.../123_abc.jpg", "height": 375, "width": 500,
      "split": "train" | "valid" | "test",
      "annotations": [{"_id": "...", "predicate": "on", "label": true,
                       "subject": {"name": "cup", "bbox": [y0, y1, x0, x1], ...},
                       "object":  {"name": "table", "bbox": [y0, y1, x0, x1], ...}}, ...]}, ...]

One item per relation annotation (subject = A, object = B). Images are found as SpatialSense's own
loader does: ``images/flickr/<last part of url>`` for ``http`` urls, ``images/nyu/<last part>``
otherwise, ``images`` defaulting to the ``images`` folder next to the JSON.

- ``positives_only=True`` (default; pretraining and the paper's evaluation) keeps ``label: true``
  relations; ``label`` is then the predicate's index in :data:`~csip.data.sample.PREDICATES`.
  With ``positives_only=False`` negative relations are kept too, with ``label=None``.
- Every item carries the relation as a question, "Is the cup on the table?", answered by the
  annotation's ``label`` (so negatives are not lost).
- ``splits``: how items get their split, by image (never by a hash of their id):
  ``"release"`` (default) keeps each image's ``split`` of the file (``"valid"`` is the cache's
  val); ``"paper"`` makes the paper's split instead (its authors split the 5,433 images with a
  positive relation 3606 / 681 / 1146, not as the release does): the images with a positive
  relation, ordered by ``sha256("<split_seed>:<url>")``, the first ``round(n · 3606/5433)``
  to train, the next ``round(n · 681/5433)`` to val, the rest to test (``n = 5433`` gives
  exactly the paper's counts); images with negative relations only, kept with
  ``positives_only=False``, are cut in the same proportions among themselves. The manifest
  records which (``options.splits``, ``options.split_seed``).
- ``split``: ``"train"``, ``"valid"`` (or ``"val"``), ``"test"``: keep only the items of that
  split (of the chosen ``splits``); ``None`` for all.
- A record that lacks a field the adapter reads, or holds one of another type (a ``label``
  that is not ``true``/``false``, a box that is not four finite numbers), is a
  :class:`~csip.base.errors.BadFile` naming its place in the file.
- Boxes are ``[y0, y1, x0, x1]`` in pixels (treated as ``x0, y0, x1, y1`` with exclusive ends).
  Masks come from SAM prompted by the boxes when ``sam_checkpoint`` is given, otherwise they
  are the boxes (warning; ``options()["masks"] == "boxes"``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .common import (
    box_prompted_sample,
    predicate_index,
    read_json_file,
    resolve_inside,
)
from .option_values import option_bool, option_int
from .records import Records
from .sam import SAM_OPTIONS, BoxMasker
from .sample import Question, Sample

SPLITS = ("train", "valid", "test")
SPLIT_RULES = ("release", "paper")
#: The paper's split of SpatialSense's images with a positive relation: train, val, test of 5,433.
PAPER_SPLIT = (3606, 681, 1146)


def paper_splits(keys: list[str], seed: int) -> dict[str, str]:
    """``{key: "train" | "valid" | "test"}``: ``keys`` (image urls) ordered by
    ``sha256("<seed>:<key>")`` and cut in the paper's proportions (see the module docstring)."""
    order = sorted(keys, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())
    total = sum(PAPER_SPLIT)
    n_train = round(len(order) * PAPER_SPLIT[0] / total)
    n_val = round(len(order) * PAPER_SPLIT[1] / total)
    return {k: "train" if r < n_train else "valid" if r < n_train + n_val else "test" for r, k in enumerate(order)}


def spatialsense_image_path(url: str) -> str:
    """Relative image path of a SpatialSense ``url`` (``flickr/NAME`` or ``nyu/NAME``)."""
    name = url.rstrip("/").split("/")[-1]
    return f"flickr/{name}" if url.startswith("http") else f"nyu/{name}"


def ss_box(bbox) -> tuple[float, float, float, float]:
    """SpatialSense ``[y0, y1, x0, x1]`` -> ``(x0, y0, x1, y1)``."""
    y0, y1, x0, x1 = (float(v) for v in bbox)
    return (x0, y0, x1, y1)


def _object(rec: Records, ann: dict, key: str, where: str) -> tuple[str, tuple[float, float, float, float]]:
    """``(name, (x0, y0, x1, y1))`` of an annotation's ``subject`` or ``object``."""
    obj = rec.record(ann, key, where)
    return rec.text(obj, "name", f"{where}.{key}"), ss_box(rec.box(obj, "bbox", f"{where}.{key}"))


class SpatialSenseSource:
    """SpatialSense relations; see the module docstring for the format and options."""

    name = "spatialsense"

    #: The options (``-O name=value``) and what they mean; defaults are the constructor's.
    OPTIONS = {
        "annotations": "the release's annotations.json",
        "images": "image folder holding flickr/ and nyu/ (default: images/ beside annotations.json)",
        "split": "keep only the items of this split: train, valid (val) or test (default: all)",
        "splits": "how images get their split: release (the file's own) or paper (3606/681/1146 of 5433, seeded)",
        "split_seed": "seed of splits=paper (images ordered by sha256 of seed and url)",
        "positives_only": "keep only the positive relations (label true), as pretraining and the paper do",
        "min_pixels": "items whose mask A or B has fewer pixels are skipped ('mask too small')",
        **SAM_OPTIONS,
    }

    def __init__(
        self,
        annotations: str | Path,
        images: str | Path | None = None,
        split: str | None = None,
        splits: str = "release",
        split_seed: int = 0,
        positives_only: bool = True,
        sam_checkpoint: str | Path | None = None,
        sam_kind: str | None = None,
        sam_device: str | None = None,
        sam_masks: str | Path | None = None,
        min_pixels: int = 16,
    ):
        self.annotations = Path(annotations).expanduser()
        if not self.annotations.is_file():
            raise FileNotFoundError(f"SpatialSense annotations not found: {self.annotations}")
        split = "valid" if split == "val" else split
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
        if splits not in SPLIT_RULES:
            raise ValueError(f"option splits={splits!r}: expected one of {', '.join(SPLIT_RULES)}")
        self.images = Path(images).expanduser() if images is not None else self.annotations.parent / "images"
        self.split, self.positives_only = split, option_bool(positives_only, "positives_only")
        self.splits, self.split_seed = splits, option_int(split_seed, "split_seed", lo=0)
        self.min_pixels = option_int(min_pixels, "min_pixels", lo=0)
        rec = Records(self.annotations, "SpatialSense annotations")
        data = rec.seq(read_json_file(self.annotations, "SpatialSense annotations"), "")
        # per image: (url, its split in the file, its items); an item is
        # (id, relative image path, h, w, subj name, subj box, pred, obj name, obj box, truth)
        images: list[tuple[str, str | None, list[tuple], bool]] = []
        for i, img in enumerate(data):
            where = f"[{i}]"
            rec.obj(img, where)
            img_split = rec.text(img, "split", where, default=None)
            if img_split is not None and img_split not in SPLITS:
                raise rec.error(where, f"has split {img_split!r}, expected one of {', '.join(SPLITS)}")
            url = rec.text(img, "url", where)
            rel_path = spatialsense_image_path(url)
            h, w = rec.integer(img, "height", where, 1), rec.integer(img, "width", where, 1)
            items, positive = [], False
            for k, ann in enumerate(rec.seq(img.get("annotations", []), f"{where}.annotations")):
                at = f"{where}.annotations[{k}]"
                rec.obj(ann, at)
                truth = rec.flag(ann, "label", at, True)
                positive = positive or truth
                if self.positives_only and not truth:
                    continue
                (sname, sbox), (oname, obox) = _object(rec, ann, "subject", at), _object(rec, ann, "object", at)
                ann_id = rec.ident(ann, "_id", at, default=None) or f"{rel_path}#{k}"
                items.append((f"spatialsense-{ann_id}", rel_path, h, w, sname, sbox,
                              rec.text(ann, "predicate", at), oname, obox, truth))
            images.append((url, img_split, items, positive))
        if self.splits == "paper":
            assigned = paper_splits([u for u, _, _, pos in images if pos], self.split_seed)
            assigned.update(paper_splits([u for u, _, _, pos in images if not pos], self.split_seed))
            images = [(u, assigned[u], items, pos) for u, _, items, pos in images]
        self._items: list[tuple] = [item + (img_split,) for _, img_split, items, _ in images
                                    if split is None or img_split == split for item in items]
        self.masker = BoxMasker(sam_checkpoint, sam_kind, sam_device, source=self.name, store=sam_masks)
        self.max_workers = self.masker.max_workers  # one SAM per loader process

    def __len__(self) -> int:
        return len(self._items)

    def item_id(self, i: int) -> str:
        """The id of item ``i`` (without loading it)."""
        return self._items[i][0]

    def load(self, i: int) -> Sample:
        sid, rel_path, h, w, sname, sbox, pred, oname, obox, truth, split = self._items[i]
        return box_prompted_sample(resolve_inside(self.images, rel_path), self.masker, (sbox, obox), self.min_pixels,
                                   size=(h, w), id=sid, label=predicate_index(pred) if truth else None,
                                   questions=[Question(f"Is the {sname} {pred} the {oname}?", truth)],
                                   source=self.name, names=(sname, oname), split=split)

    def options(self) -> dict:
        return {
            "annotations": str(self.annotations),
            "images": str(self.images),
            "split": self.split,
            "splits": self.splits,  # release: the file's own; paper: the paper's 3606/681/1146 by image
            "split_seed": self.split_seed,
            # items take their image's split (before, a hash of their id): recorded, so that a
            # precompute begun by a csip that hashed them is not resumed with this one's chunks
            "item_splits": "image",
            "positives_only": self.positives_only,
            "min_pixels": self.min_pixels,
            **self.masker.options(),
        }
