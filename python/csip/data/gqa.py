"""GQA yes/no "verify rel" questions as a :class:`~csip.data.source.Source`.

Inputs, as released by GQA:

- ``*_questions.json``: ``{qid: {"imageId", "question", "answer", "types": {"detailed", ...},
  "annotations": {"question": {"2:4": objId, ...}, ...}, "semantic": [{"operation",
  "argument", "dependencies"}, ...], ...}}``
- ``*_sceneGraphs.json``: ``{imageId: {"width", "height", "objects": {objId: {"name", "x", "y",
  "w", "h", ...}}}}`` (boxes in pixels: top-left corner, width, height).
- images ``images/<imageId>.jpg``.

Kept questions (the paper's subset): answer "yes" or "no", and a ``verify rel`` program step
(``types.detailed`` starting with ``relVerify`` / ``verifyRel``, or a semantic operation
``"verify rel"``); programs with several ``verify rel`` steps (conjunctions) are left out.

The two objects: from the program, ``select: bed (1026412) -> verify rel: book,to the left of,s
(1026411)`` reads "book to the left of bed": the argument's flag ``s`` makes the argument object
the subject (A) and the selected one the object (B); ``o`` the converse. When the program cannot
be read, the two objects annotated in the question text, in order of appearance, are A and B.
Questions about the same ordered pair in the same image form one item, all attached as
:class:`~csip.data.sample.Question` records; ``label`` is the predicate of a "yes" question
when it is one of the nine SpatialSense predicates (aliases accepted), else ``None``.

A question or scene-graph record whose fields have other types than these (``"x": "20"``, a
``null`` object, a span ``"a:b"``) is a :class:`~csip.errors.BadFile` naming it.

Masks: SAM prompted by the scene-graph boxes with ``sam_checkpoint``, else the boxes (warning;
``options()["masks"] == "boxes"``). Default paths: scene graphs ``<split>_sceneGraphs.json``
next to the questions file (``split`` = the file name up to its first ``_``), images in
``images/`` next to it.
"""

from __future__ import annotations

import re
from pathlib import Path

from .common import (SIZE_MISMATCH, about_file, check_masks, clip_box, predicate_index, read_json_file, read_rgb,
                     resolve_inside, size_mismatch)
from .option_values import option_int
from .records import Records, is_integer
from .sam import SAM_OPTIONS, BoxMasker
from .sample import Question, Sample, SkipItem, box_of

_SPAN = re.compile(r"^\d+(:\d+)?$")


def check_question(rec: Records, q, where: str) -> dict:
    """``q`` when the fields that :func:`is_verify_rel` and :func:`verify_rel_pair` read have
    their released types (``imageId``, ``question``, ``answer``; optional ``types``,
    ``semantic`` steps with ``argument`` and integer ``dependencies``, ``annotations.question``
    spans ``"i"`` or ``"i:j"``); else :class:`~csip.errors.BadFile` naming the question."""
    rec.obj(q, where)
    rec.ident(q, "imageId", where)
    rec.text(q, "question", where)
    rec.text(q, "answer", where, default="")  # test and challenge files have none
    if q.get("types") is not None:
        rec.obj(q["types"], f"{where}.types")
    for k, step in enumerate(rec.seq(q.get("semantic") or [], f"{where}.semantic")):
        at = f"{where}.semantic[{k}]"
        rec.obj(step, at)
        rec.text(step, "argument", at, default="")
        deps = rec.seq(step.get("dependencies") or [], f"{at}.dependencies")
        if not all(is_integer(d) for d in deps):
            raise rec.error(at, f"has dependencies {deps!r}, expected a list of integers")
    spans = rec.obj((q.get("annotations") or {}), f"{where}.annotations").get("question") or {}
    for span, obj_id in rec.obj(spans, f"{where}.annotations.question").items():
        if not _SPAN.match(span) or not (is_integer(obj_id) or isinstance(obj_id, str)):
            raise rec.error(f"{where}.annotations.question", f"has {span!r}: {obj_id!r}, expected "
                                                             "'start' or 'start:end' -> an object id")
    return q


def _box(rec: Records, graph_objects: dict, obj_id: str, where: str) -> tuple[str, tuple[float, float, float, float]]:
    """``(name, (x0, y0, x1, y1))`` of a scene-graph object (its ``x, y, w, h`` in pixels)."""
    at = f"{where}.objects[{obj_id!r}]"
    o = rec.obj(graph_objects[obj_id], at)
    x, y, w, h = (rec.number(o, k, at) for k in ("x", "y", "w", "h"))
    return rec.text(o, "name", at, default=""), (x, y, x + w, y + h)

_ID = re.compile(r"\(([^()]*)\)\s*$")


def _arg_id(argument: str) -> str | None:
    """The object id in a program argument such as ``"bed (1026412)"`` (first of several)."""
    m = _ID.search(argument or "")
    if not m:
        return None
    first = m.group(1).split(",")[0].strip()
    return first if first and first != "-" else None


def is_verify_rel(q: dict) -> bool:
    """Whether a GQA question is a yes/no "verify rel" question (see the module docstring)."""
    if str(q.get("answer", "")).lower() not in ("yes", "no"):
        return False
    detailed = str((q.get("types") or {}).get("detailed", ""))
    ops = [s.get("operation") for s in q.get("semantic") or []]
    if ops.count("verify rel") > 1:
        return False
    return detailed.startswith(("verifyRel", "relVerify")) or "verify rel" in ops


def verify_rel_pair(q: dict) -> tuple[str, str, str] | None:
    """``(subject id, object id, predicate)`` of a verify-rel question, or ``None``.

    Read from the program when possible, else from the question's object annotations (two
    distinct objects, in order of appearance; predicate then ``""``).
    """
    sem = q.get("semantic") or []
    for step in sem:
        if step.get("operation") != "verify rel":
            continue
        parts = (step.get("argument") or "").rsplit("(", 1)[0].split(",")
        arg_id = _arg_id(step.get("argument", ""))
        deps = step.get("dependencies") or []
        if len(parts) >= 3 and arg_id and deps and 0 <= deps[0] < len(sem):
            pred = ",".join(parts[1:-1]).strip()
            flag = parts[-1].strip()
            sel_id = _arg_id(sem[deps[0]].get("argument", ""))
            if sel_id and flag in ("s", "o"):
                return (arg_id, sel_id, pred) if flag == "s" else (sel_id, arg_id, pred)
    spans = (q.get("annotations") or {}).get("question") or {}

    def start(span: str) -> int:
        return int(span.split(":")[0])

    ids: list[str] = []
    for span in sorted(spans, key=start):
        oid = str(spans[span])
        if oid not in ids:
            ids.append(oid)
    if len(ids) == 2:
        return ids[0], ids[1], ""
    return None


class GqaSource:
    """GQA verify-rel questions grouped by (image, subject, object); see the module docstring."""

    name = "gqa"

    #: The options (``-O name=value``) and what they mean; defaults are the constructor's.
    OPTIONS = {
        "questions": "a questions file (*_questions.json)",
        "scene_graphs": "its scene graphs (default: <split>_sceneGraphs.json beside it)",
        "images": "image folder, <imageId>.jpg (default: images/ beside the questions file)",
        **SAM_OPTIONS,
        "min_pixels": "items whose mask A or B has fewer pixels are skipped ('mask too small')",
    }

    def __init__(
        self,
        questions: str | Path,
        scene_graphs: str | Path | None = None,
        images: str | Path | None = None,
        sam_checkpoint: str | Path | None = None,
        sam_kind: str | None = None,
        sam_device: str | None = None,
        sam_masks: str | Path | None = None,
        min_pixels: int = 16,
    ):
        self.questions = Path(questions).expanduser()
        if not self.questions.is_file():
            raise FileNotFoundError(f"GQA questions not found: {self.questions}")
        if scene_graphs is None:
            split = self.questions.name.split("_")[0]
            scene_graphs = self.questions.parent / f"{split}_sceneGraphs.json"
        self.scene_graphs = Path(scene_graphs).expanduser()
        if not self.scene_graphs.is_file():
            raise FileNotFoundError(f"GQA scene graphs not found: {self.scene_graphs} (pass scene_graphs=FILE)")
        self.images = Path(images).expanduser() if images is not None else self.questions.parent / "images"
        self.min_pixels = option_int(min_pixels, "min_pixels", lo=0)
        qrec, grec = Records(self.questions, "GQA questions"), Records(self.scene_graphs, "GQA scene graphs")
        qs = qrec.obj(read_json_file(self.questions, "GQA questions"), "")
        graphs = grec.obj(read_json_file(self.scene_graphs, "GQA scene graphs"), "")
        groups: dict[tuple[str, str, str], dict] = {}
        self.dropped = 0  # verify-rel questions whose objects could not be found
        for qid in sorted(qs):
            q = check_question(qrec, qs[qid], f"[{qid!r}]")
            if not is_verify_rel(q):
                continue
            img_id = str(q["imageId"])
            pair = verify_rel_pair(q)
            graph = graphs.get(img_id)
            gw = f"[{img_id!r}]"
            objs = grec.obj(grec.obj(graph, gw).get("objects", {}), f"{gw}.objects") if graph is not None else {}
            if pair is None or pair[0] not in objs or pair[1] not in objs or pair[0] == pair[1]:
                self.dropped += 1
                continue
            sid, oid, pred = pair
            g = groups.setdefault(
                (img_id, sid, oid),
                {"size": (grec.integer(graph, "height", gw, 1), grec.integer(graph, "width", gw, 1)),
                 "a": _box(grec, objs, sid, gw), "b": _box(grec, objs, oid, gw), "qs": [], "label": None},
            )
            yes = str(q["answer"]).lower() == "yes"
            g["qs"].append((q["question"], yes))
            if yes and g["label"] is None:
                g["label"] = predicate_index(pred)
        self._items = []
        for (img_id, sid, oid), g in groups.items():
            self._items.append((f"gqa-{img_id}-{sid}-{oid}", f"{img_id}.jpg", g["size"], g["a"], g["b"],
                                tuple(g["qs"]), g["label"]))
        self.masker = BoxMasker(sam_checkpoint, sam_kind, sam_device, source=self.name, store=sam_masks)
        self.max_workers = self.masker.max_workers  # one SAM per loader process

    def __len__(self) -> int:
        return len(self._items)

    def item_id(self, i: int) -> str:
        """The id of item ``i`` (without loading it)."""
        return self._items[i][0]

    def load(self, i: int) -> Sample:
        sid, fname, (h, w), (aname, abox), (bname, bbox), qs, label = self._items[i]
        path = resolve_inside(self.images, fname)
        with about_file(path):  # every skip of this item names its image
            image = read_rgb(path)
            if image.shape[:2] != (h, w):
                raise SkipItem(SIZE_MISMATCH, size_mismatch(path, image.shape[:2], (h, w)))
            (mask_a, mask_b), how = self.masker.masks(image, [clip_box(abox, h, w), clip_box(bbox, h, w)])
            check_masks(mask_a, mask_b, self.min_pixels)
            return Sample(
                id=sid,
                image=image,
                mask_a=mask_a,
                mask_b=mask_b,
                box_a=box_of(mask_a),
                box_b=box_of(mask_b),
                label=label,
                questions=[Question(t, a) for t, a in qs],
                source=self.name,
                mask_source=how,
                names=(aname, bname),
            )

    def options(self) -> dict:
        return {
            "questions": str(self.questions),
            "scene_graphs": str(self.scene_graphs),
            "images": str(self.images),
            "min_pixels": self.min_pixels,
            "dropped_questions": self.dropped,
            **self.masker.options(),
        }
