"""UnRel (unusual relations, Peyre et al. 2017) as a :class:`~csip.data.source.Source`.

The release (``unrel-dataset.tar.gz``, from the UnRel page linked by jpeyre/unrel) unpacks to
``annotations.mat``, ``annotated_triplets.mat`` and ``images/<im_id>.jpg``. ``annotations.mat``
holds one variable, ``annotations``: a MATLAB cell array (N x 1) with one struct per image,
fields ``filename`` (``'12.jpg'``), ``im_id`` (an integer), ``relationships`` and ``objects``.
``relationships`` is a cell array of structs with ``sub``, ``obj`` (category names), ``sub_box``,
``obj_box`` (1 x 4 integers ``[xmin, ymin, xmax, ymax]`` in pixels) and ``rels`` (a cell array
of predicates, e.g. ``{'ride'; 'on'}``); ``objects`` a cell array of structs with ``category``
and ``box``. Read by ``scipy.io.loadmat`` (default options) a cell is an object array, a struct
a ``1 x 1`` structured array, a string a ``(1,)`` ``str`` array: what
:func:`read_unrel_mat` walks (scipy is optional: ``pip install 'csip[unrel]'``).

The same records as JSON, ``annotations.json``, are read too (a converted copy)::

    [{"filename": "12.jpg", "im_id": 12,
      "relationships": [{"sub": "person", "sub_box": [x0, y0, x1, y1],
                         "obj": "bike",   "obj_box": [x0, y0, x1, y1],
                         "rels": ["ride", "on"]}, ...]}, ...]

``unrel:PATH`` takes the dataset folder (``PATH/annotations.json``, else
``PATH/annotations.mat``; images in ``PATH/images``) or the annotation file itself.

One item per relationship: A = subject box, B = object box, id ``unrel-<im_id>-<k>`` (``k``: the
relationship's place in its image, from 0). ``label`` is the first of ``rels`` that is (or is an
alias of, see :data:`~csip.data.common.PREDICATE_ALIASES`) one of the nine SpatialSense
predicates, else ``None`` (UnRel's "ride", "hold"... are not spatial). Boxes are used as ``(x0,
y0, x1, y1)`` with exclusive ends; a relationship whose box is not four numbers (the release has
a few) is skipped when loaded, with the reason. UnRel is for evaluation only (it has no train
split): every item is in the **test** split, so that CBIR takes each as a query and as a
gallery image. Masks: SAM prompted by the boxes with ``sam_checkpoint``, else the boxes
(warning; ``options()["masks"] == "boxes"``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..base.errors import BadFile
from .common import (
    BAD_ANNOTATION,
    box_prompted_sample,
    predicate_index,
    read_json_file,
    resolve_inside,
)
from .option_values import option_int
from .records import Records
from .sam import SAM_OPTIONS, BoxMasker
from .sample import Sample, SkipItem


def _relationship(rec: Records, r: dict, where: str) -> tuple[str, tuple, str, tuple, int | None]:
    """``(subject, its box, object, its box, label)`` of one JSON relationship record."""
    rec.obj(r, where)
    rels = r.get("rels", [])
    rels = [rels] if isinstance(rels, str) else rec.seq(rels, f"{where}.rels")
    if not all(isinstance(p, str) for p in rels):
        raise rec.error(where, f"has rels {rels!r}, expected a list of predicate strings")
    return (rec.text(r, "sub", where), rec.box(r, "sub_box", where), rec.text(r, "obj", where),
            rec.box(r, "obj_box", where), _label(rels))


def _label(rels: list[str]) -> int | None:
    """The first of ``rels`` that is one of the nine predicates (or an alias), else ``None``."""
    return next((predicate_index(p) for p in rels if predicate_index(p) is not None), None)


def _unwrap(value):
    """``value`` without the 1-element object arrays that scipy.io wraps MATLAB values in
    (a struct field, a cell holding one value)."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.ravel()[0]
    return value


class _MatReader:
    """Reads UnRel's ``annotations.mat`` as ``scipy.io.loadmat`` (default options) gives it:
    MATLAB cells are object arrays (here ``N x 1``), structs ``1 x 1`` structured arrays whose
    fields hold the values, a string a ``(1,)`` array of ``str``, a number or a box a ``1 x k``
    numeric array. A value of another shape is a :class:`~csip.errors.BadFile` naming its place."""

    def __init__(self, path: Path):
        self.rec = Records(path, "UnRel annotations")

    def cells(self, value, where: str) -> list:
        value = value if isinstance(value, np.ndarray) else np.asarray(value)
        if value.dtype == object:
            return list(value.ravel(order="F"))
        if value.dtype.names is not None:  # a struct array instead of a cell: its elements
            return list(value.ravel(order="F"))
        if value.size == 0:  # an empty cell is saved as a 0 x 0 double
            return []
        raise self.rec.error(where, f"is a {value.dtype} array of shape {value.shape}, expected a cell array")

    def struct(self, value, where: str) -> dict:
        value = _unwrap(value)
        if isinstance(value, np.ndarray) and value.dtype.names is not None and value.size == 1:
            value = value.ravel()[0]
        if isinstance(value, np.void) and value.dtype.names is not None:
            return {name: value[name] for name in value.dtype.names}
        shape = getattr(value, "shape", None)
        raise self.rec.error(
            where, f"is {type(value).__name__} {shape or ''}, expected a 1 x 1 struct".replace("  ", " ")
        )

    def text(self, value, where: str) -> str:
        value = _unwrap(value)
        if isinstance(value, str):
            return value
        if isinstance(value, np.ndarray) and value.dtype.kind in "US":
            if value.size == 0:
                return ""
            if value.size == 1:
                return str(value.ravel()[0])
        raise self.rec.error(where, f"is {getattr(value, 'dtype', type(value).__name__)} "
                                    f"{getattr(value, 'shape', '')}, expected a string")

    def numbers(self, value, where: str) -> list[float]:
        value = _unwrap(value)
        arr = np.asarray(value)
        if arr.dtype.kind not in "iuf" and not (arr.dtype == object and arr.size == 0):
            raise self.rec.error(where, f"is {arr.dtype} {arr.shape}, expected numbers")
        return [float(v) for v in arr.ravel(order="F")]

    def ident(self, value, where: str) -> str:
        value = _unwrap(value)
        arr = np.asarray(value)
        if arr.dtype.kind in "US":
            return self.text(value, where)
        nums = self.numbers(value, where)
        if len(nums) != 1:
            raise self.rec.error(where, f"holds {len(nums)} numbers, expected one id")
        return str(int(nums[0])) if nums[0].is_integer() else str(nums[0])

    def images(self, mat: dict) -> list[dict]:
        """The records of the module docstring; a box that is not four numbers is kept as read
        (its item is skipped, with the reason, when loaded)."""
        if "annotations" not in mat:
            names = sorted(k for k in mat if not k.startswith("__"))
            raise self.rec.error("", f"has no variable 'annotations' (it has {', '.join(names) or 'none'})")
        out = []
        for i, cell in enumerate(self.cells(mat["annotations"], "annotations")):
            where = f"annotations{{{i + 1}}}"  # MATLAB's own indexing, 1-based
            d = self.struct(cell, where)
            for key in ("filename", "relationships"):
                if key not in d:
                    raise self.rec.error(where, f"has no field {key!r} (fields: {', '.join(d)})")
            fname = self.text(d["filename"], f"{where}.filename")
            im_id = self.ident(d["im_id"], f"{where}.im_id") if "im_id" in d else fname
            rels = []
            for k, r_cell in enumerate(self.cells(_unwrap(d["relationships"]), f"{where}.relationships")):
                at = f"{where}.relationships{{{k + 1}}}"
                r = self.struct(r_cell, at)
                missing = [f for f in ("sub", "sub_box", "obj", "obj_box") if f not in r]
                if missing:
                    raise self.rec.error(at, f"has no field(s) {', '.join(missing)} (fields: {', '.join(r)})")
                rels_v = _unwrap(r["rels"]) if "rels" in r else []
                preds = (
                    [self.text(rels_v, f"{at}.rels")]
                    if isinstance(rels_v, (str, np.ndarray)) and np.asarray(rels_v).dtype.kind in "US"
                    else [self.text(c, f"{at}.rels{{{j + 1}}}") for j, c in enumerate(self.cells(rels_v, f"{at}.rels"))]
                )
                rels.append(
                    {
                        "sub": self.text(r["sub"], f"{at}.sub"),
                        "sub_box": self.numbers(r["sub_box"], f"{at}.sub_box"),
                        "obj": self.text(r["obj"], f"{at}.obj"),
                        "obj_box": self.numbers(r["obj_box"], f"{at}.obj_box"),
                        "rels": preds,
                    }
                )
            out.append({"filename": fname, "im_id": im_id, "relationships": rels})
        return out


def read_unrel_mat(path: str | Path) -> list[dict]:
    """UnRel's ``annotations.mat`` as the JSON records of the module docstring (needs scipy).

    ``ImportError`` naming the extra to install when scipy is missing; :class:`BadFile` naming
    the file for a file scipy cannot read or a structure other than the release's."""
    path = Path(path)
    try:  # scipy is optional: only UnRel's .mat annotations need it
        import scipy.io
    except ImportError:
        raise ImportError(f"UnRel annotations {path}: reading a MATLAB .mat file needs scipy, which is not "
                          "installed: pip install 'csip[unrel]' (or pip install scipy)") from None
    try:
        mat = scipy.io.loadmat(str(path))
    except NotImplementedError as exc:  # MATLAB v7.3 (HDF5) files
        raise BadFile(f"UnRel annotations {path}: a MATLAB file scipy cannot read ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - scipy raises ValueError, TypeError, MatReadError... for a bad file
        raise BadFile(f"UnRel annotations {path}: not a MATLAB .mat file scipy can read "
                      f"({type(exc).__name__}: {exc})") from None
    return _MatReader(path).images(mat)


def _box_or_reason(box: list[float], name: str) -> tuple[tuple | None, str | None]:
    """``(box, None)`` for four numbers, else ``(None, why)``: the release has a few relationships
    whose boxes are not four numbers; their items are skipped when loaded, with this reason."""
    if len(box) == 4:
        return tuple(box), None
    return None, f"{name} holds {len(box)} numbers, expected [xmin, ymin, xmax, ymax]"


class UnRelSource:
    """UnRel relationships; see the module docstring for the format and options."""

    name = "unrel"

    #: The options (``-O name=value``) and what they mean; defaults are the constructor's.
    OPTIONS = {
        "path": "the dataset folder (annotations.mat or annotations.json, images/) or the annotation file",
        "images": "image folder (default: images/ beside the annotation file)",
        **SAM_OPTIONS,
        "min_pixels": "items whose mask A or B has fewer pixels are skipped ('mask too small')",
    }

    def __init__(
        self,
        path: str | Path,
        images: str | Path | None = None,
        sam_checkpoint: str | Path | None = None,
        sam_kind: str | None = None,
        sam_device: str | None = None,
        sam_masks: str | Path | None = None,
        min_pixels: int = 16,
    ):
        path = Path(path).expanduser()
        if path.is_dir():
            cands = [path / "annotations.json", path / "annotations.mat"]
            found = [c for c in cands if c.is_file()]
            if not found:
                raise FileNotFoundError(f"UnRel: no annotations.json or annotations.mat in {path}")
            self.annotations = found[0]
        elif path.is_file():
            self.annotations = path
        else:
            raise FileNotFoundError(f"UnRel annotations not found: {path}")
        self.images = Path(images).expanduser() if images is not None else self.annotations.parent / "images"
        self.min_pixels = option_int(min_pixels, "min_pixels", lo=0)
        # (id, file name, subject, its box or None, object, its box or None, label, why a box is unusable)
        self._items: list[tuple] = []
        if self.annotations.suffix.lower() == ".mat":
            for img in read_unrel_mat(self.annotations):
                for k, r in enumerate(img["relationships"]):
                    (sbox, why_s), (obox, why_o) = (
                        _box_or_reason(r["sub_box"], "sub_box"),
                        _box_or_reason(r["obj_box"], "obj_box"),
                    )
                    why = why_s or why_o
                    self._items.append((f"unrel-{img['im_id']}-{k}", img["filename"], r["sub"], sbox, r["obj"], obox,
                                        _label(r["rels"]),
                                        why and f"{self.annotations}: {img['filename']}, relationship {k + 1}: {why}"))
        else:
            rec = Records(self.annotations, "UnRel annotations")
            for i, img in enumerate(rec.seq(read_json_file(self.annotations, "UnRel annotations"), "")):
                where = f"[{i}]"
                rec.obj(img, where)
                fname = rec.text(img, "filename", where)
                im_id = rec.ident(img, "im_id", where, default=fname)
                for k, r in enumerate(rec.seq(img.get("relationships", []), f"{where}.relationships")):
                    self._items.append((f"unrel-{im_id}-{k}", fname,
                                        *_relationship(rec, r, f"{where}.relationships[{k}]"), None))
        self.masker = BoxMasker(sam_checkpoint, sam_kind, sam_device, source=self.name, store=sam_masks)
        self.max_workers = self.masker.max_workers  # one SAM per loader process

    def __len__(self) -> int:
        return len(self._items)

    def item_id(self, i: int) -> str:
        """The id of item ``i`` (without loading it)."""
        return self._items[i][0]

    def load(self, i: int) -> Sample:
        sid, fname, sname, sbox, oname, obox, label, bad_box = self._items[i]
        if bad_box is not None:
            raise SkipItem(BAD_ANNOTATION, bad_box)
        return box_prompted_sample(resolve_inside(self.images, fname), self.masker, (sbox, obox), self.min_pixels,
                                   id=sid, label=label, source=self.name, names=(sname, oname),
                                   split="test")  # evaluation only: every item is a query and a gallery image of CBIR

    def options(self) -> dict:
        return {"annotations": str(self.annotations), "images": str(self.images), "min_pixels": self.min_pixels,
                # every item in the test split (before, a hash of its id): recorded, so that a precompute
                # begun by a csip that hashed them is not resumed with this one's chunks
                "item_splits": "test", **self.masker.options()}
