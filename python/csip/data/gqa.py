"""GQA yes/no "verify rel" questions as a :class:`~csip.data.source.Source`.

Inputs, as released by GQA (``questions1.2.zip``, ``sceneGraphs.zip``, ``images.zip``):

- ``*_questions.json`` (``train_balanced_questions.json``, ``val_balanced_questions.json``,
  ``train_all_questions/train_all_questions_<k>.json``, ...): ``{qid: {"imageId", "question",
  "answer", "fullAnswer", "isBalanced", "types": {"structural", "semantic", "detailed"},
  "annotations": {"question": {"2:4": objId, "9": objId}, "answer": ..., "fullAnswer": ...},
  "semantic": [{"operation", "argument", "dependencies"}, ...], "semanticStr", "groups",
  "entailed", "equivalent"}}``. The ``semantic`` program is a list of steps, each reading the
  results of its ``dependencies`` (indices of earlier steps): ``select: bed (1026412)`` picks an
  object, ``relate: helmet,to the right of,s (2)`` goes to the object (2, a helmet) that is
  to the right of the current one (``s``: the new object is the relation's subject, ``o``: its
  object), ``filter color: white`` keeps the current object when it is white, ``verify rel:
  book,to the left of,s (1026411)`` asks whether the book stands in the relation to the current
  object. An argument's ``(id)`` is a scene-graph object; ``(-)`` one that is not in the image.
- ``*_sceneGraphs.json`` (``train_sceneGraphs.json``, ``val_sceneGraphs.json``; GQA publishes
  none for testdev, test and challenge): ``{imageId: {"width", "height", "location",
  "weather", "objects": {objId: {"name", "x", "y", "w", "h", "attributes", "relations":
  [{"name", "object"}]}}}}`` (boxes in pixels: top-left corner, width, height).
- images ``images/<imageId>.jpg``.

Kept questions (the paper's subset): answer ``yes`` or ``no`` and exactly one ``verify rel``
step (or, for a question without a program, a ``types.detailed`` starting with
``relVerify``/``verifyRel``). The two objects come from the program: the argument of ``verify
rel`` names one, and the object it is compared with is the result of the step it depends on,
found by following the dependencies back through the steps without an object of their own
(``filter ...``) to the nearest ``select`` or ``relate``: ``select: person (3) -> relate:
motorcycle,to the right of,s (2) -> filter color: white -> verify rel: helmet,to the right
of,s (1)`` ("Is the helmet to the right of the white motorcycle that is to the right of the
person?", the paper's Fig. 5 f) is about the helmet (1) and the motorcycle (2). Flag ``s``: the
argument's object is the subject (A), the other the object (B); ``o`` the converse. A question
without a program falls back on the two objects annotated in its text, in order of appearance.

Every other question is dropped and counted, by file and reason (:data:`DROP_REASONS`): ``not
yes/no``, ``no verify rel``, ``several verify rel`` (conjunctions), ``object absent`` (the
program says ``(-)``), ``program unreadable``, ``same object twice``, ``image not in the scene
graphs``, ``object not in the scene graph``. :meth:`GqaSource.summary` gives the counts (the
cache manifest records them as ``source.summary``; ``csip precompute`` prints them).

Questions about the same ordered pair in the same image form one item, id
``gqa-<imageId>-<A>-<B>``, all attached as :class:`~csip.data.sample.Question` records;
``label`` is the predicate of a "yes" question when it is one of the nine SpatialSense
predicates (aliases accepted), else ``None``.

**Splits by file.** GQA ships its training and evaluation questions as separate files, on
disjoint images. The questions file of the spec has a ``role``: ``train`` (its items go to the
cache's train and val splits, by a hash of the image id, so that train and val share no image:
``val_fraction`` of the images, by ``sha256("gqa-image:" + imageId)``) or ``eval`` (its items go
to the test split). ``role=auto`` (the default) reads it from the file name (``train*``: train;
``val*``, ``testdev*``, ``test*``, ``challenge*``: eval), and is ``train`` when
``eval_questions`` is given: that second file's items go to the test split, so one cache holds
both (``gqa:train_balanced_questions.json -O eval_questions=val_balanced_questions.json``).
Each file's scene graphs default to ``<split>_sceneGraphs.json`` beside it (``split``: its
name up to the first ``_``), or in the folder above (for ``train_all_questions/``); or give
``scene_graphs`` and ``eval_scene_graphs``. Images of both are looked up in ``images``
(default: ``images/`` beside the spec's file). The two files may share no image.

A question or scene-graph record whose fields have other types than these (``"x": "20"``, a
``null`` object, a span ``"a:b"``) is a :class:`~csip.errors.BadFile` naming it.

Masks: SAM prompted by the scene-graph boxes with ``sam_checkpoint``, else the boxes (warning;
``options()["masks"] == "boxes"``).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

from ..base.checks import is_integer
from .common import (
    box_prompted_sample,
    predicate_index,
    read_json_file,
    resolve_inside,
)
from .option_values import option_float, option_int
from .records import Records
from .sam import SAM_OPTIONS, BoxMasker
from .sample import Question, Sample

_SPAN = re.compile(r"^\d+(:\d+)?$")
#: The object reference at the end of a program argument: ``(123)``, ``(1,2)`` or ``(-)``.
_ID = re.compile(r"\((-|\d+(?:\s*,\s*\d+)*)\)\s*$")

NOT_YES_NO = "not yes/no"
NO_VERIFY_REL = "no verify rel"
SEVERAL_VERIFY_REL = "several verify rel"
ABSENT = "object absent"
UNREADABLE = "program unreadable"
SAME_OBJECT = "same object twice"
NO_GRAPH = "image not in the scene graphs"
NOT_IN_GRAPH = "object not in the scene graph"
#: Why a question is not kept, in the order :meth:`GqaSource.summary` lists them.
DROP_REASONS = (NOT_YES_NO, NO_VERIFY_REL, SEVERAL_VERIFY_REL, ABSENT, UNREADABLE, SAME_OBJECT, NO_GRAPH,
                NOT_IN_GRAPH)
ROLES = ("auto", "train", "eval")
_EVAL_PREFIXES = ("val", "testdev", "test", "challenge", "submission")


def check_question(rec: Records, q, where: str) -> dict:
    """``q`` when the fields that :func:`classify` reads have their released types
    (``imageId``, ``question``, ``answer``; optional ``types``, ``semantic`` steps with
    ``argument`` and integer ``dependencies``, ``annotations.question`` spans ``"i"`` or
    ``"i:j"``); else :class:`~csip.errors.BadFile` naming the question."""
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


def _arg_id(argument: str) -> str | None:
    """The object id in a program argument such as ``"bed (1026412)"`` (the first of several),
    ``"-"`` for an object not in the image, ``None`` for an argument without one (``"white"``)."""
    m = _ID.search(argument or "")
    return m.group(1).split(",")[0].strip() if m else None


def _result_object(sem: list[dict], k: int) -> str | None:
    """The object step ``k`` of a program results in: its argument's id, else (a ``filter``
    step, ...) that of the step it depends on, and so on back."""
    seen: set[int] = set()
    while 0 <= k < len(sem) and k not in seen:
        seen.add(k)
        obj = _arg_id(sem[k].get("argument", ""))
        if obj is not None:
            return obj
        deps = sem[k].get("dependencies") or []
        if not deps:
            return None
        k = deps[0]
    return None


def is_verify_rel(q: dict) -> bool:
    """Whether a GQA question is a yes/no question with one "verify rel" step (see the module
    docstring)."""
    return classify(q)[1] not in (NOT_YES_NO, NO_VERIFY_REL, SEVERAL_VERIFY_REL)


def classify(q: dict) -> tuple[tuple[str, str, str] | None, str | None]:
    """``((subject id, object id, predicate), None)`` for a kept verify-rel question, else
    ``(None, reason)`` (a reason of :data:`DROP_REASONS`; the scene-graph checks are the
    source's). The predicate is ``""`` when the objects come from the annotations."""
    if str(q.get("answer", "")).lower() not in ("yes", "no"):
        return None, NOT_YES_NO
    sem = q.get("semantic") or []
    steps = [k for k, s in enumerate(sem) if s.get("operation") == "verify rel"]
    if len(steps) > 1:
        return None, SEVERAL_VERIFY_REL
    if steps:
        step = sem[steps[0]]
        argument = step.get("argument") or ""
        head = _ID.sub("", argument).strip()
        parts = [p.strip() for p in head.split(",")]
        arg_id = _arg_id(argument)
        deps = step.get("dependencies") or []
        other = _result_object(sem, deps[0]) if deps else None
        if arg_id == "-" or other == "-":
            return None, ABSENT
        if len(parts) < 3 or parts[-1] not in ("s", "o") or arg_id is None or other is None:
            return None, UNREADABLE
        pred = ",".join(parts[1:-1])
        pair = (arg_id, other, pred) if parts[-1] == "s" else (other, arg_id, pred)
        return (None, SAME_OBJECT) if pair[0] == pair[1] else (pair, None)
    detailed = str((q.get("types") or {}).get("detailed", ""))
    if sem or not detailed.startswith(("verifyRel", "relVerify")):
        return None, NO_VERIFY_REL
    spans = (q.get("annotations") or {}).get("question") or {}  # no program: the annotated objects
    ids: list[str] = []
    for span in sorted(spans, key=lambda s: int(s.split(":")[0])):
        if str(spans[span]) not in ids:
            ids.append(str(spans[span]))
    return ((ids[0], ids[1], ""), None) if len(ids) == 2 else (None, UNREADABLE)


def verify_rel_pair(q: dict) -> tuple[str, str, str] | None:
    """``(subject id, object id, predicate)`` of a kept verify-rel question, or ``None``."""
    return classify(q)[0]


def val_share(image_id: str) -> float:
    """Where image ``image_id`` falls in ``[0, 1)``: images below ``val_fraction`` go to val."""
    h = hashlib.sha256(f"gqa-image:{image_id}".encode()).digest()
    return int.from_bytes(h[:8], "little") / 2.0**64


def default_scene_graphs(questions: Path) -> Path:
    """``<split>_sceneGraphs.json`` beside a questions file, else in the folder above it."""
    name = f"{questions.name.split('_')[0]}_sceneGraphs.json"
    beside = questions.parent / name
    above = questions.parent.parent / name
    return beside if beside.is_file() or not above.is_file() else above


def resolve_role(role: str, questions: Path, has_eval: bool) -> str:
    """``train`` or ``eval`` for the spec's questions file (see the module docstring)."""
    if role not in ROLES:
        raise ValueError(f"option role={role!r}: expected one of {', '.join(ROLES)}")
    if role == "eval" and has_eval:
        raise ValueError(f"GQA: role=eval for {questions} and eval_questions given: the spec's file is then the "
                         "training one (role=train)")
    if role != "auto":
        return role
    if has_eval or questions.name.startswith("train"):
        return "train"
    if questions.name.startswith(_EVAL_PREFIXES):
        return "eval"
    raise ValueError(f"GQA: cannot tell whether {questions.name} holds training or evaluation questions; "
                     "pass -O role=train or -O role=eval")


class GqaSource:
    """GQA verify-rel questions grouped by (image, subject, object); see the module docstring."""

    name = "gqa"

    #: The options (``-O name=value``) and what they mean; defaults are the constructor's.
    OPTIONS = {
        "questions": "a questions file (*_questions.json); with eval_questions, the training one",
        "eval_questions": "an evaluation questions file (e.g. val_balanced_questions.json): its items go to test",
        "role": "role of the spec's file: train (train + val splits), eval (test split), or auto (from its name)",
        "scene_graphs": "scene graphs of the spec's file (default: <split>_sceneGraphs.json beside it)",
        "eval_scene_graphs": "scene graphs of eval_questions (default: <split>_sceneGraphs.json beside it)",
        "images": "image folder, <imageId>.jpg (default: images/ beside the spec's file)",
        "val_fraction": "share of the training file's images whose items go to val (hashed by image id)",
        **SAM_OPTIONS,
        "min_pixels": "items whose mask A or B has fewer pixels are skipped ('mask too small')",
    }

    def __init__(
        self,
        questions: str | Path,
        eval_questions: str | Path | None = None,
        role: str = "auto",
        scene_graphs: str | Path | None = None,
        eval_scene_graphs: str | Path | None = None,
        images: str | Path | None = None,
        val_fraction: float = 0.1,
        sam_checkpoint: str | Path | None = None,
        sam_kind: str | None = None,
        sam_device: str | None = None,
        sam_masks: str | Path | None = None,
        min_pixels: int = 16,
    ):
        self.questions = Path(questions).expanduser()
        if not self.questions.is_file():
            raise FileNotFoundError(f"GQA questions not found: {self.questions}")
        self.eval_questions = None if eval_questions is None else Path(eval_questions).expanduser()
        if self.eval_questions is not None and not self.eval_questions.is_file():
            raise FileNotFoundError(f"GQA evaluation questions not found: {self.eval_questions} (eval_questions=)")
        self.role = resolve_role(role, self.questions, self.eval_questions is not None)
        self.val_fraction = option_float(val_fraction, "val_fraction", 0.0, 1.0)
        self.images = Path(images).expanduser() if images is not None else self.questions.parent / "images"
        self.min_pixels = option_int(min_pixels, "min_pixels", lo=0)
        files = [(self.questions, self.role, scene_graphs, "scene_graphs")]
        if self.eval_questions is not None:
            files.append((self.eval_questions, "eval", eval_scene_graphs, "eval_scene_graphs"))
        self.scene_graphs: list[Path] = []
        self._summary: list[dict] = []
        self._items: list[tuple] = []
        seen_images: dict[str, Path] = {}
        for qpath, file_role, graphs_opt, graphs_name in files:
            graphs_path = default_scene_graphs(qpath) if graphs_opt is None else Path(graphs_opt).expanduser()
            if not graphs_path.is_file():
                raise FileNotFoundError(f"GQA scene graphs of {qpath.name} not found: {graphs_path} "
                                        f"(pass {graphs_name}=FILE)")
            self.scene_graphs.append(graphs_path)
            items, summary = self._read(qpath, file_role, graphs_path)
            for img_id in sorted({it[1][:-4] for it in items}):
                if img_id in seen_images:
                    raise ValueError(f"GQA: image {img_id} has questions in {seen_images[img_id]} and in {qpath}: "
                                     "the training and evaluation files must be of disjoint images")
                seen_images[img_id] = qpath
            self._items.extend(items)
            self._summary.append(summary)
        self.masker = BoxMasker(sam_checkpoint, sam_kind, sam_device, source=self.name, store=sam_masks)
        self.max_workers = self.masker.max_workers  # one SAM per loader process

    def _read(self, qpath: Path, role: str, graphs_path: Path) -> tuple[list[tuple], dict]:
        """The items of one questions file and its summary (questions kept, dropped by reason)."""
        qrec, grec = Records(qpath, "GQA questions"), Records(graphs_path, "GQA scene graphs")
        qs = qrec.obj(read_json_file(qpath, "GQA questions"), "")
        graphs = grec.obj(read_json_file(graphs_path, "GQA scene graphs"), "")
        groups: dict[tuple[str, str, str], dict] = {}
        dropped: Counter = Counter()
        for qid in sorted(qs):
            q = check_question(qrec, qs[qid], f"[{qid!r}]")
            pair, reason = classify(q)
            img_id = str(q["imageId"])
            graph = graphs.get(img_id)
            gw = f"[{img_id!r}]"
            if pair is not None and graph is None:
                reason = NO_GRAPH
            elif pair is not None:
                objs = grec.obj(grec.obj(graph, gw).get("objects", {}), f"{gw}.objects")
                if pair[0] not in objs or pair[1] not in objs:
                    reason = NOT_IN_GRAPH
            if reason is not None:
                dropped[reason] += 1
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
        items = []
        for (img_id, sid, oid), g in sorted(groups.items()):
            split = "test" if role == "eval" else ("val" if val_share(img_id) < self.val_fraction else "train")
            items.append((f"gqa-{img_id}-{sid}-{oid}", f"{img_id}.jpg", g["size"], g["a"], g["b"], tuple(g["qs"]),
                          g["label"], split))
        kept = sum(len(g["qs"]) for g in groups.values())
        summary = {"file": qpath.name, "path": str(qpath), "role": role, "scene_graphs": str(graphs_path),
                   "total": len(qs), "kept": kept, "items": len(items),
                   "dropped": {r: dropped[r] for r in DROP_REASONS if dropped[r]}}
        return items, summary

    def __len__(self) -> int:
        return len(self._items)

    def item_id(self, i: int) -> str:
        """The id of item ``i`` (without loading it)."""
        return self._items[i][0]

    def summary(self) -> dict:
        """Per questions file: its role, how many questions it has, how many are kept (and the
        items they make), how many are dropped for each reason of :data:`DROP_REASONS`."""
        return {"questions": [dict(s) for s in self._summary]}

    def load(self, i: int) -> Sample:
        sid, fname, (h, w), (aname, abox), (bname, bbox), qs, label, split = self._items[i]
        return box_prompted_sample(resolve_inside(self.images, fname), self.masker, (abox, bbox), self.min_pixels,
                                   size=(h, w), id=sid, label=label, questions=[Question(t, a) for t, a in qs],
                                   source=self.name, names=(aname, bname), split=split)

    def options(self) -> dict:
        return {
            "questions": str(self.questions),
            "eval_questions": None if self.eval_questions is None else str(self.eval_questions),
            "role": self.role,
            "scene_graphs": [str(p) for p in self.scene_graphs],
            "images": str(self.images),
            "val_fraction": self.val_fraction,
            # items take their file's split (before, a hash of their id): recorded, so that a
            # precompute begun by a csip that hashed them is not resumed with this one's chunks
            "item_splits": "by file: train -> train/val by image, eval -> test",
            "min_pixels": self.min_pixels,
            **self.masker.options(),
        }
