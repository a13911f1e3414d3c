"""UnRel (unusual relations, Peyre et al. 2017) as a :class:`~csip.data.source.Source`.

UnRel ships ``annotations.mat`` and ``images/``. Its structure, per image: ``filename``,
``im_id``, ``objects`` (``category``, ``box``) and ``relationships`` (``sub``, ``sub_box``,
``obj``, ``obj_box``, ``rels``: a list of predicates), boxes ``[xmin, ymin, xmax, ymax]`` in pixels.
This adapter reads the same structure as JSON, ``annotations.json``::

    [{"filename": "12.jpg", "im_id": 12,
      "objects": [{"category": "person", "box": [x0, y0, x1, y1]}, ...],        # optional
      "relationships": [{"sub": "person", "sub_box": [x0, y0, x1, y1],
                         "obj": "bike",   "obj_box": [x0, y0, x1, y1],
                         "rels": ["ride", "on"]}, ...]}, ...]

and ``annotations.mat`` itself when scipy is installed (converted to the records above; scipy is
not a dependency of csip). ``unrel:PATH`` takes the dataset folder (``PATH/annotations.json``,
else ``PATH/annotations.mat``; images in ``PATH/images``) or the annotation file itself.

One item per relationship: A = subject box, B = object box. ``label`` is the first of ``rels``
that is (or is an alias of, see :data:`~csip.data.common.PREDICATE_ALIASES`) one of the nine
SpatialSense predicates, else ``None`` (UnRel's "ride", "hold"... are not spatial). Boxes are used
as ``(x0, y0, x1, y1)`` with exclusive ends. Masks: SAM prompted by the boxes with
``sam_checkpoint``, else the boxes (warning; ``options()["masks"] == "boxes"``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import about_file, check_masks, clip_box, predicate_index, read_json_file, read_rgb, resolve_inside
from .option_values import option_int
from .records import Records
from .sam import SAM_OPTIONS, BoxMasker
from .sample import Sample, box_of


def _relationship(rec: Records, r: dict, where: str) -> tuple[str, tuple, str, tuple, int | None]:
    """``(subject, its box, object, its box, label)`` of one relationship record."""
    rec.obj(r, where)
    rels = r.get("rels", [])
    rels = [rels] if isinstance(rels, str) else rec.seq(rels, f"{where}.rels")
    if not all(isinstance(p, str) for p in rels):
        raise rec.error(where, f"has rels {rels!r}, expected a list of predicate strings")
    label = next((predicate_index(p) for p in rels if predicate_index(p) is not None), None)
    return (rec.text(r, "sub", where), rec.box(r, "sub_box", where), rec.text(r, "obj", where),
            rec.box(r, "obj_box", where), label)


def read_unrel_mat(path: str | Path) -> list[dict]:
    """UnRel's ``annotations.mat`` as the JSON records of the module docstring (needs scipy)."""
    try:  # scipy is optional: only UnRel's .mat annotations need it
        import scipy.io
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading UnRel's annotations.mat needs scipy; or convert it to annotations.json") from exc

    def text(x):
        return str(np.asarray(x).squeeze().item()) if np.asarray(x).size else ""

    def box(x):
        return [float(v) for v in np.asarray(x).squeeze().tolist()] if np.asarray(x).size else [0, 0, 0, 0]

    out = []
    for d in scipy.io.loadmat(str(path))["annotations"]:
        d = d.squeeze(0).item()
        rels = []
        for r in np.atleast_1d(d["relationships"].item()):
            r = r.squeeze(0).item() if hasattr(r, "squeeze") and r.dtype == object else r
            preds = [text(c) for c in np.atleast_1d(np.asarray(r["rels"]).squeeze())]
            rels.append({"sub": text(r["sub"]), "sub_box": box(r["sub_box"]), "obj": text(r["obj"]), "obj_box": box(r["obj_box"]), "rels": preds})
        out.append({"filename": text(d["filename"]), "im_id": text(d["im_id"]), "relationships": rels})
    return out


class UnRelSource:
    """UnRel relationships; see the module docstring for the format and options."""

    name = "unrel"

    #: The options (``-O name=value``) and what they mean; defaults are the constructor's.
    OPTIONS = {
        "path": "the dataset folder (annotations.json, else annotations.mat; images/) or the annotation file",
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
        if self.annotations.suffix.lower() == ".mat":
            records = read_unrel_mat(self.annotations)
        else:
            records = read_json_file(self.annotations, "UnRel annotations")
        rec = Records(self.annotations, "UnRel annotations")
        self._items: list[tuple] = []
        for i, img in enumerate(rec.seq(records, "")):
            where = f"[{i}]"
            rec.obj(img, where)
            fname = rec.text(img, "filename", where)
            im_id = rec.ident(img, "im_id", where, default=fname)
            for k, r in enumerate(rec.seq(img.get("relationships", []), f"{where}.relationships")):
                self._items.append((f"unrel-{im_id}-{k}", fname, *_relationship(rec, r, f"{where}.relationships[{k}]")))
        self.masker = BoxMasker(sam_checkpoint, sam_kind, sam_device, source=self.name, store=sam_masks)
        self.max_workers = self.masker.max_workers  # one SAM per loader process

    def __len__(self) -> int:
        return len(self._items)

    def item_id(self, i: int) -> str:
        """The id of item ``i`` (without loading it)."""
        return self._items[i][0]

    def load(self, i: int) -> Sample:
        sid, fname, sname, sbox, oname, obox, label = self._items[i]
        path = resolve_inside(self.images, fname)
        with about_file(path):  # every skip of this item names its image
            image = read_rgb(path)
            h, w = image.shape[:2]
            (mask_a, mask_b), how = self.masker.masks(image, [clip_box(sbox, h, w), clip_box(obox, h, w)])
            check_masks(mask_a, mask_b, self.min_pixels)
            return Sample(
                id=sid,
                image=image,
                mask_a=mask_a,
                mask_b=mask_b,
                box_a=box_of(mask_a),
                box_b=box_of(mask_b),
                label=label,
                source=self.name,
                mask_source=how,
                names=(sname, oname),
            )

    def options(self) -> dict:
        return {"annotations": str(self.annotations), "images": str(self.images), "min_pixels": self.min_pixels, **self.masker.options()}
