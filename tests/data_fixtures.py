"""Tiny dataset fixtures in the real file formats, written into a temporary folder by tests.

Each writer returns what a test needs to open the source and to check the result. Images are
small PNG/JPEG files with two coloured rectangles so box and mask positions are easy to assert.

The ``write_*_release`` writers lay out a tiny copy of each dataset *as its release ships it*
(the files and folders a user downloads, in their published format; each docstring says which
release file and which loader the layout was taken from) and return a :class:`Release`: the
``csip precompute`` SOURCE and options that read it, and the counts a test should expect. A
whole precompute of any of them takes a second or two.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Release:
    """A tiny dataset in its release's layout, and what reading it must give.

    ``spec`` and ``options``: the SOURCE of ``csip precompute`` and its ``-O`` options
    (``options_args()`` as command-line arguments); ``items``: ``len(source)``; ``kept``: items a
    precompute keeps; ``skipped``: ``{reason: count}`` of the others; ``splits``: kept items per
    split (train / val / test); ``labelled``: kept items with a relation label; ``questions``:
    questions in the cache; ``summary``: what the source's summary must say (GQA: the questions
    kept and dropped, by file and reason)."""

    spec: str
    options: dict = field(default_factory=dict)
    items: int = 0
    kept: int = 0
    skipped: dict = field(default_factory=dict)
    splits: dict = field(default_factory=dict)
    labelled: int = 0
    questions: int = 0
    summary: dict = field(default_factory=dict)

    def options_args(self) -> list[str]:
        """``["-O", "key=value", ...]`` for the options."""
        out: list[str] = []
        for k, v in self.options.items():
            out += ["-O", f"{k}={v}"]
        return out



def run_lengths(m: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE of a mask, from the definition: lengths of alternating runs of
    0s and 1s (0s first) over the pixels in column-major order."""
    counts, value, run = [], False, 0
    for px in m.astype(bool).flatten(order="F"):
        if px == value:
            run += 1
        else:
            counts.append(run)
            value, run = px, 1
    counts.append(run)
    return counts

def write_image(path: Path, height: int = 48, width: int = 64, fmt: str | None = None) -> np.ndarray:
    """A deterministic RGB image with a red block (rows 8..24, cols 6..22) and a blue block
    (rows 20..40, cols 36..58); returns the array written."""
    rng = np.random.default_rng(0)
    img = (rng.random((height, width, 3)) * 60 + 90).astype(np.uint8)
    img[8:24, 6:22] = (220, 30, 30)
    img[20:40, 36:58] = (30, 30, 220)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, format=fmt)
    return img


def write_coco(root: Path) -> Path:
    """A COCO instances file with two images.

    Image 1 (``a.png``, 48 x 64): a polygon (red block), a compressed-RLE object (blue block), an
    uncompressed-RLE small object, and a crowd annotation (ignored). Image 2 (``b.png``) has four
    objects, more than ``max_objects=3``, so it is not an item.
    """
    from pycocotools import mask as mask_utils

    images = root / "images"
    write_image(images / "a.png")
    write_image(images / "b.png")
    h, w = 48, 64
    blue = np.zeros((h, w), np.uint8, order="F")
    blue[20:40, 36:58] = 1
    rle = mask_utils.encode(blue)
    rle["counts"] = rle["counts"].decode("ascii")
    small = np.zeros((h, w), np.uint8)
    small[40:44, 2:6] = 1  # 16 px
    runs = run_lengths(small)  # an uncompressed RLE
    poly = [6, 8, 22, 8, 22, 24, 6, 24]  # x, y pairs of the red block's corners
    anns = [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 1,
            "segmentation": [poly],
            "area": 256.0,
            "bbox": [6, 8, 16, 16],
            "iscrowd": 0,
        },
        {
            "id": 2,
            "image_id": 1,
            "category_id": 2,
            "segmentation": rle,
            "area": 440.0,
            "bbox": [36, 20, 22, 20],
            "iscrowd": 0,
        },
        {
            "id": 3,
            "image_id": 1,
            "category_id": 1,
            "segmentation": {"size": [h, w], "counts": runs},
            "area": 16.0,
            "bbox": [2, 40, 4, 4],
            "iscrowd": 0,
        },
        {
            "id": 4,
            "image_id": 1,
            "category_id": 1,
            "segmentation": {"size": [h, w], "counts": runs},
            "area": 9999.0,
            "bbox": [0, 0, 64, 48],
            "iscrowd": 1,
        },
    ]
    for k in range(4):
        anns.append(
            {
                "id": 10 + k,
                "image_id": 2,
                "category_id": 1,
                "segmentation": [[k * 10 + 1, 1, k * 10 + 9, 1, k * 10 + 9, 9, k * 10 + 1, 9]],
                "area": 64.0,
                "bbox": [k * 10 + 1, 1, 8, 8],
                "iscrowd": 0,
            }
        )
    data = {
        "images": [
            {"id": 1, "file_name": "a.png", "height": h, "width": w},
            {"id": 2, "file_name": "b.png", "height": h, "width": w},
        ],
        "annotations": anns,
        "categories": [{"id": 1, "name": "cup"}, {"id": 2, "name": "table"}],
    }
    path = root / "instances.json"
    path.write_text(json.dumps(data))
    return path


def write_random_coco(root: Path, n: int = 30, height: int = 60, width: int = 80, seed: int = 3) -> Path:
    """``root/ann.json`` and ``root/images/``: ``n`` noise PNGs with 2 or 3 random objects each:
    polygons (some objects made of several, some reaching outside the image), compressed RLE
    and uncompressed RLE blocks. Returns the annotation file."""
    from PIL import Image
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(seed)
    h, w = height, width
    (root / "images").mkdir()
    images, anns = [], []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        images.append({"id": i + 1, "file_name": f"{i}.png", "height": h, "width": w})
        for _ in range(int(rng.integers(2, 4))):
            kind = rng.integers(0, 3)
            if kind == 0:  # polygon(s), several for some objects
                polys = [
                    list(rng.uniform(-5, max(h, w) + 5, size=2 * int(rng.integers(3, 8))))
                    for _ in range(int(rng.integers(1, 3)))
                ]
                seg = polys
            else:
                m = np.zeros((h, w), np.uint8, order="F")
                r0, c0 = rng.integers(0, h - 5), rng.integers(0, w - 5)
                m[r0 : r0 + rng.integers(1, 30), c0 : c0 + rng.integers(1, 40)] = rng.random() < 0.9
                rle = mask_utils.encode(m)
                seg = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
                if kind == 2:  # uncompressed counts: run lengths, zeros first, column-major
                    counts, cur, run = [], 0, 0
                    for v in m.ravel(order="F"):
                        if v == cur:
                            run += 1
                        else:
                            counts.append(run)
                            cur, run = v, 1
                    seg = {"size": [h, w], "counts": counts + [run]}
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": 1,
                    "segmentation": seg,
                    "iscrowd": 0,
                    "area": 1.0,
                }
            )
    path = root / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "x"}]}))
    return path


def write_spatialsense(root: Path) -> Path:
    """A SpatialSense annotations.json: one flickr image (train) with a positive and a negative
    relation, one nyu image (test) with a positive one."""
    write_image(root / "images" / "flickr" / "123_abc.jpg", fmt="JPEG")
    write_image(root / "images" / "nyu" / "kitchen_0001.png")
    red = {"name": "cup", "bbox": [8, 24, 6, 22]}  # [y0, y1, x0, x1]
    blue = {"name": "table", "bbox": [20, 40, 36, 58]}
    data = [
        {
            "url": "https://farm4.staticflickr.com/3446/123_abc.jpg",
            "height": 48,
            "width": 64,
            "split": "train",
            "annotations": [
                {"_id": "r1", "subject": red, "object": blue, "predicate": "to the left of", "label": True},
                {"_id": "r2", "subject": red, "object": blue, "predicate": "to the right of", "label": False},
            ],
        },
        {
            "url": "nyu/kitchen_0001.png",
            "height": 48,
            "width": 64,
            "split": "test",
            "annotations": [
                {"_id": "r3", "subject": blue, "object": red, "predicate": "to the right of", "label": True}
            ],
        },
    ]
    path = root / "annotations.json"
    path.write_text(json.dumps(data))
    return path


def write_unrel(root: Path) -> Path:
    """An UnRel folder: annotations.json (the .mat structure as JSON) and images/."""
    write_image(root / "images" / "1.jpg", fmt="JPEG")
    data = [
        {
            "filename": "1.jpg",
            "im_id": 1,
            "objects": [{"category": "dog", "box": [6, 8, 22, 24]}, {"category": "car", "box": [36, 20, 58, 40]}],
            "relationships": [
                {
                    "sub": "dog",
                    "sub_box": [6, 8, 22, 24],
                    "obj": "car",
                    "obj_box": [36, 20, 58, 40],
                    "rels": ["ride", "on the left of"],
                },
                {"sub": "car", "sub_box": [36, 20, 58, 40], "obj": "dog", "obj_box": [6, 8, 22, 24], "rels": ["wear"]},
            ],
        }
    ]
    (root / "annotations.json").write_text(json.dumps(data))
    return root


def write_gqa(root: Path) -> Path:
    """GQA val_balanced_questions.json + val_sceneGraphs.json + images/.

    Two verify-rel questions about the same pair (one yes, one no), a verify-rel question whose
    program is missing (object annotations used), and two questions that are not kept (an
    open question, a verify-attr one).
    """
    write_image(root / "images" / "2354786.jpg", fmt="JPEG")
    graphs = {
        "2354786": {
            "width": 64,
            "height": 48,
            "objects": {
                "100": {"name": "book", "x": 6, "y": 8, "w": 16, "h": 16, "attributes": [], "relations": []},
                "200": {"name": "bed", "x": 36, "y": 20, "w": 22, "h": 20, "attributes": [], "relations": []},
            },
        }
    }
    qs = {
        "q1": {
            "imageId": "2354786",
            "question": "Is the book to the left of the bed?",
            "answer": "yes",
            "types": {"structural": "verify", "semantic": "rel", "detailed": "relVerify"},
            "annotations": {"question": {"3": "100", "9": "200"}, "answer": {}, "fullAnswer": {}},
            "semantic": [
                {"operation": "select", "dependencies": [], "argument": "bed (200)"},
                {"operation": "verify rel", "dependencies": [0], "argument": "book,to the left of,s (100)"},
            ],
        },
        "q2": {
            "imageId": "2354786",
            "question": "Is the book to the right of the bed?",
            "answer": "no",
            "types": {"structural": "verify", "semantic": "rel", "detailed": "relVerifyCr"},
            "annotations": {"question": {"3": "100", "9": "200"}, "answer": {}, "fullAnswer": {}},
            "semantic": [
                {"operation": "select", "dependencies": [], "argument": "bed (200)"},
                {"operation": "verify rel", "dependencies": [0], "argument": "book,to the right of,s (100)"},
            ],
        },
        "q3": {
            "imageId": "2354786",
            "question": "Is the bed to the right of the book?",
            "answer": "yes",
            "types": {"structural": "verify", "semantic": "rel", "detailed": "verifyRel"},
            "annotations": {"question": {"3": "200", "9": "100"}, "answer": {}, "fullAnswer": {}},
        },
        "q4": {
            "imageId": "2354786",
            "question": "What is to the left of the bed?",
            "answer": "book",
            "types": {"structural": "query", "semantic": "rel", "detailed": "relS"},
            "annotations": {"question": {"7": "200"}, "answer": {"0": "100"}, "fullAnswer": {}},
        },
        "q5": {
            "imageId": "2354786",
            "question": "Is the book red?",
            "answer": "yes",
            "types": {"structural": "verify", "semantic": "attr", "detailed": "verifyAttr"},
            "annotations": {"question": {"3": "100"}, "answer": {}, "fullAnswer": {}},
            "semantic": [
                {"operation": "select", "dependencies": [], "argument": "book (100)"},
                {"operation": "verify color", "dependencies": [0], "argument": "red"},
            ],
        },
    }
    (root / "val_sceneGraphs.json").write_text(json.dumps(graphs))
    path = root / "val_balanced_questions.json"
    path.write_text(json.dumps(qs))
    return path


def tiny_sam_checkpoint(path: Path, seed: int = 0) -> Path:
    """Save the state dict of a random tiny SAM (see ``csip.data.sam.build_tiny_sam``)."""
    import torch

    from csip.data.sam import build_tiny_sam

    torch.manual_seed(seed)
    torch.save(build_tiny_sam().state_dict(), path)
    return path


def sam_shaped_checkpoint(path: Path, kind: str = "vit_b") -> Path:
    """A state dict with exactly the tensor names and shapes of SAM ``kind`` (segment-anything's
    ``sam_model_registry[kind]``) but no values: the model built on PyTorch's ``meta`` device and
    saved (about 40 KB). Enough to read the kind from a checkpoint's shapes; it cannot run."""
    import torch
    from segment_anything import sam_model_registry

    with torch.device("meta"):
        model = sam_model_registry[kind]()
    torch.save(model.state_dict(), path)
    return path


# --------------------------------------------------------------------------- UnRel, as released
def _mat_struct(**fields):
    """A MATLAB 1 x 1 struct as scipy.io writes and reads it: a (1, 1) structured array of objects."""
    s = np.empty((1, 1), dtype=[(k, object) for k in fields])
    for k, v in fields.items():
        s[0, 0][k] = v
    return s


def _mat_cell(values):
    """A MATLAB N x 1 cell array: an (N, 1) object array."""
    c = np.empty((len(values), 1), dtype=object)
    for i, v in enumerate(values):
        c[i, 0] = v
    return c


def _mat_box(x0, y0, x1, y1):
    return np.array([[x0, y0, x1, y1]], dtype=np.int32)  # 1 x 4 integers [xmin ymin xmax ymax]


def write_unrel_release(root: Path) -> Release:
    """UnRel as ``unrel-dataset.tar.gz`` unpacks: ``annotations.mat`` + ``images/<im_id>.jpg``.

    Layout of ``annotations.mat``, written with ``scipy.io.savemat`` so that ``scipy.io.loadmat``
    gives what the published loaders read: baldassarreFe/ws-vrd
    ``notebooks/UnRel/UnRel.ipynb`` and ``xib/datasets/unrel`` (``for d in loadmat(...)
    ["annotations"]: d = d.squeeze(0).item(); d["filename"].item().item(); d["im_id"]...;
    d["objects"].item()`` → structs with ``category`` and ``box`` (``box.squeeze(0).item()
    .squeeze(0)``, xmin, ymin, xmax, ymax); ``d["relationships"].item()`` → structs with ``sub``,
    ``obj``, ``sub_box``, ``obj_box``, ``rels`` (a cell of strings)), and the positional reads of
    a dataset-transformer loader (``anno[0][0][0][0][0]`` the filename, field 2 the
    relationships; in a relationship, fields ``sub, obj, sub_box, obj_box, rels`` in that
    order, ``rels[0][0][0]`` the first predicate), which also skips relationships whose boxes
    are not four numbers, and the release's corrupted image 1124.jpg. jpeyre/unrel itself ships
    MATLAB code for the VRD pre-processed data, not a reader of this file.

    Three images: ``1.jpg`` with two relationships (``{'ride'; 'on the left of'}``: label "to
    the left of"; ``{'wear'}``: no label); ``2.jpg`` with one relationship ``{'above'}`` and one
    whose ``obj_box`` is empty (skipped: bad annotation); ``3.jpg`` corrupted (skipped:
    unreadable image). Every kept item is in the test split (UnRel is evaluation only).
    """
    import scipy.io

    images = root / "images"
    write_image(images / "1.jpg", fmt="JPEG")
    write_image(images / "2.jpg", fmt="JPEG")
    images.joinpath("3.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated, as 1124.jpg of the release")
    red, blue, low = _mat_box(6, 8, 22, 24), _mat_box(36, 20, 58, 40), _mat_box(2, 30, 20, 46)

    def rel(sub, sub_box, obj, obj_box, rels):  # the field order of the release
        return _mat_struct(sub=sub, obj=obj, sub_box=sub_box, obj_box=obj_box, rels=_mat_cell(rels))

    def image(name, im_id, objects, rels):
        return _mat_struct(filename=name, im_id=np.array([[im_id]], dtype=np.int32),
                           relationships=_mat_cell(rels),
                           objects=_mat_cell([_mat_struct(category=c, box=b) for c, b in objects]))

    annotations = _mat_cell([
        image("1.jpg", 1, [("dog", red), ("car", blue)],
              [rel("dog", red, "car", blue, ["ride", "on the left of"]), rel("car", blue, "dog", red, ["wear"])]),
        image("2.jpg", 2, [("kite", red), ("person", low)],
              [rel("kite", red, "person", low, ["above"]), rel("kite", red, "person", np.zeros((0, 0)), ["above"])]),
        image("3.jpg", 3, [("dog", red), ("car", blue)], [rel("dog", red, "car", blue, ["under"])]),
    ])
    scipy.io.savemat(root / "annotations.mat", {"annotations": annotations})
    scipy.io.savemat(root / "annotated_triplets.mat",
                     {"triplets": _mat_cell(["dog-ride-car", "car-wear-dog", "kite-above-person", "dog-under-car"])})
    return Release(spec=f"unrel:{root}", items=5, kept=3,
                   skipped={"bad annotation": 1, "unreadable image": 1}, splits={"train": 0, "val": 0, "test": 3},
                   labelled=2, questions=0)


# --------------------------------------------------------------------------- GQA, as released
def _gqa_question(image_id, text, answer, steps, *, detailed, spans, structural="verify", semantic_type="rel",
                  balanced=True, full_answer=""):
    """One question record with every field of the release (``steps``: ``(operation, argument,
    dependencies)``; ``semanticStr`` written from them as the release writes it)."""
    semantic = [{"operation": op, "dependencies": list(deps), "argument": arg} for op, arg, deps in steps]
    semantic_str = "->".join(f"{op}: {arg}" + (f" {list(deps)}" if deps else "") for op, arg, deps in steps)
    q = {"semantic": semantic, "entailed": [], "equivalent": [], "question": text, "imageId": image_id,
         "isBalanced": balanced, "groups": {"global": None, "local": "13-rel"}, "answer": answer,
         "semanticStr": semantic_str, "annotations": {"answer": {}, "question": spans, "fullAnswer": {}},
         "types": {"detailed": detailed, "semantic": semantic_type, "structural": structural},
         "fullAnswer": full_answer or f"{answer.capitalize()}."}
    if not steps:  # a file stripped of its programs (as the MAC network's data zip)
        for key in ("semantic", "semanticStr"):
            q.pop(key)
    return q


def _gqa_graph(objects):
    """One scene graph: ``objects`` ``{id: (name, x, y, w, h)}`` in a 64 x 48 image."""
    return {"width": 64, "height": 48, "location": "street", "weather": "none",
            "objects": {oid: {"name": name, "x": x, "y": y, "w": w, "h": h, "attributes": [], "relations": []}
                        for oid, (name, x, y, w, h) in objects.items()}}


#: The three objects drawn by write_image (red, blue) and a third region: x, y, w, h.
_RED, _BLUE, _LOW = (6, 8, 16, 16), (36, 20, 22, 20), (2, 30, 18, 16)


def write_gqa_release(root: Path) -> Release:
    """GQA as released: ``train_balanced_questions.json`` + ``train_sceneGraphs.json`` (the
    training file), ``val_balanced_questions.json`` + ``val_sceneGraphs.json`` (the evaluation
    file), ``images/<imageId>.jpg``.

    Records with every field of the release (``semantic`` programs of ``operation``,
    ``argument``, ``dependencies``; ``semanticStr``; ``annotations`` spans; ``types``;
    ``fullAnswer``, ``isBalanced``, ``groups``, ``entailed``, ``equivalent``), as the GQA
    download page describes them and as real records show (``select: bed (1026412)->verify rel:
    book,to the left of,s (1026411) [0]``, ``relate: plate,beside,s (-)``, ``filter size:
    not(small)``, ``dishwasher (-) ``); scene graphs ``{imageId: {width, height, location,
    weather, objects: {id: {name, x, y, w, h, attributes, relations}}}}``
    (stanfordnlp/mac-network reads the same files, through its trimmed data1.2.zip).

    Training file, 15 questions on 4 images: kept 7 (select -> relate -> filter -> verify rel,
    the paper's Fig. 5 f; select -> filter -> verify rel with flag ``o``; select -> relate ->
    verify rel; select -> verify rel; a question without a program, by its annotations; one
    answered "no") in 4 items; dropped 8, one per reason: not yes/no, no verify rel, several
    verify rel, object absent ``(-)``, program unreadable, same object twice, image not in the
    scene graphs, object not in the scene graph. With ``val_fraction=0.3`` image 2324119 goes
    to val (``sha256("gqa-image:2324119")`` falls at 0.106), 2405043 and 2329004 to train.
    Evaluation file, 6 questions on 2 images: kept 4 in 2 items (test), dropped 2 (not yes/no,
    object absent). Items: train 3, val 1, test 2; 5 labelled; 11 questions in the cache.
    """
    images = root / "images"
    for image_id in ("2405043", "2324119", "2329004", "2354786", "2381360"):
        write_image(images / f"{image_id}.jpg", fmt="JPEG")
    train_graphs = {
        "2405043": _gqa_graph({"101": ("helmet", *_RED), "102": ("motorcycle", *_BLUE), "103": ("person", *_LOW)}),
        "2324119": _gqa_graph({"201": ("book", *_RED), "202": ("bed", *_BLUE)}),
        "2329004": _gqa_graph({"301": ("cup", *_RED), "302": ("table", *_BLUE)}),
    }
    a, b, c = "2405043", "2324119", "2329004"
    train = {
        # kept: helmet (101) and motorcycle (102), three ways
        "t01": _gqa_question(
            a,
            "Is the helmet to the left of the white motorcycle that is to the right of the person?",
            "yes",
            [
                ("select", "person (103)", []),
                ("relate", "motorcycle,to the right of,s (102)", [0]),
                ("filter color", "white", [1]),
                ("verify rel", "helmet,to the left of,s (101)", [2]),
            ],
            detailed="relVerify",
            spans={"3": "101", "9:11": "102", "17": "103"},
        ),
        "t02": _gqa_question(
            a,
            "Is the helmet to the right of the motorcycle?",
            "no",
            [("select", "motorcycle (102)", []), ("verify rel", "helmet,to the right of,s (101)", [0])],
            detailed="relVerifyCr",
            spans={"3": "101", "9": "102"},
        ),
        "t03": _gqa_question(
            a,
            "Is the red helmet to the left of the motorcycle?",
            "yes",
            [
                ("select", "helmet (101)", []),
                ("filter color", "red", [0]),
                ("verify rel", "motorcycle,to the left of,o (102)", [1]),
            ],
            detailed="relVerify",
            spans={"3:5": "101", "10": "102"},
        ),
        # kept: motorcycle (102) and the person (103) below the helmet
        "t04": _gqa_question(
            a,
            "Is the motorcycle to the right of the person below the helmet?",
            "yes",
            [
                ("select", "helmet (101)", []),
                ("relate", "person,below,s (103)", [0]),
                ("verify rel", "motorcycle,to the right of,s (102)", [1]),
            ],
            detailed="relVerify",
            spans={"3": "102", "9": "103", "12": "101"},
        ),
        "t05": _gqa_question(
            a,
            "Is there a dog next to the motorcycle?",
            "no",
            [("select", "motorcycle (102)", []), ("verify rel", "dog,next to,s (-)", [0])],
            detailed="relVerify",
            spans={"7": "102"},
        ),
        "t06": _gqa_question(
            a,
            "Is the helmet to the left of the motorcycle and to the right of the person?",
            "no",
            [
                ("select", "motorcycle (102)", []),
                ("verify rel", "helmet,to the left of,s (101)", [0]),
                ("select", "person (103)", []),
                ("verify rel", "helmet,to the right of,s (101)", [2]),
                ("and", "", [1, 3]),
            ],
            detailed="relVerifyAnd",
            structural="logical",
            spans={"3": "101"},
        ),
        "t07": _gqa_question(
            a,
            "What is to the left of the motorcycle?",
            "helmet",
            [("select", "motorcycle (102)", []), ("relate", "_,to the left of,s (101)", [0]), ("query", "name", [1])],
            detailed="relS",
            structural="query",
            spans={"7": "102"},
        ),
        "t08": _gqa_question(
            a,
            "Is the helmet red?",
            "yes",
            [("select", "helmet (101)", []), ("verify color", "red", [0])],
            detailed="verifyAttr",
            semantic_type="attr",
            spans={"3": "101"},
        ),
        "t09": _gqa_question(
            a,
            "Is the helmet on the car?",
            "no",
            [("select", "car (999)", []), ("verify rel", "helmet,on,s (101)", [0])],
            detailed="relVerify",
            spans={"3": "101", "7": "999"},
        ),
        "t10": _gqa_question(
            a,
            "Is the helmet to the left of the motorcycle?",
            "yes",
            [("select", "motorcycle (102)", []), ("verify rel", "helmet,to the left of (101)", [0])],
            detailed="relVerify",
            spans={"3": "101", "9": "102"},
        ),
        # kept: book (201) and bed (202), by the program and by the annotations alone
        "t11": _gqa_question(
            b,
            "Is the book to the left of the bed?",
            "yes",
            [("select", "bed (202)", []), ("verify rel", "book,to the left of,s (201)", [0])],
            detailed="relVerify",
            spans={"3": "201", "9": "202"},
        ),
        "t12": _gqa_question(
            b,
            "Is the small book to the left of the bed?",
            "yes",
            [],
            detailed="verifyRel",
            spans={"2:4": "201", "9": "202"},
        ),
        # kept: cup (301) and table (302), answered no (no label)
        "t13": _gqa_question(
            c,
            "Is the cup on the table?",
            "no",
            [("select", "table (302)", []), ("verify rel", "cup,on,s (301)", [0])],
            detailed="relVerify",
            spans={"3": "301", "6": "302"},
        ),
        "t14": _gqa_question(
            c,
            "Is the cup next to the cup?",
            "no",
            [("select", "cup (301)", []), ("verify rel", "cup,next to,s (301)", [0])],
            detailed="relVerify",
            spans={"3": "301"},
        ),
        "t15": _gqa_question(
            "2341659",
            "Is the console on the floor?",
            "yes",
            [("select", "floor (2187054)", []), ("verify rel", "console,on,s (2187053)", [0])],
            detailed="relVerify",
            spans={"3": "2187053", "6": "2187054"},
        ),
    }
    val_graphs = {
        "2354786": _gqa_graph({"100": ("book", *_RED), "200": ("bed", *_BLUE), "300": ("lamp", *_LOW)}),
        "2381360": _gqa_graph({"400": ("dog", *_RED), "500": ("car", *_BLUE)}),
    }
    d, e = "2354786", "2381360"
    val = {
        "e1": _gqa_question(d, "Is the book to the left of the bed?", "yes",
                            [("select", "bed (200)", []), ("verify rel", "book,to the left of,s (100)", [0])],
                            detailed="relVerify", spans={"3": "100", "9": "200"}),
        "e2": _gqa_question(d, "Is the book to the right of the bed?", "no",
                            [("select", "bed (200)", []), ("verify rel", "book,to the right of,s (100)", [0])],
                            detailed="relVerifyCr", spans={"3": "100", "9": "200"}),
        "e3": _gqa_question(d, "Is the book above the bed that is not small and to the right of the lamp?", "yes",
                            [("select", "lamp (300)", []), ("relate", "bed,to the right of,s (200)", [0]),
                             ("filter size", "not(small)", [1]), ("verify rel", "book,above,s (100)", [2])],
                            detailed="relVerify", spans={"3": "100", "6": "200", "15": "300"}),
        "e4": _gqa_question(e, "Is the dog to the left of the car?", "yes",
                            [("select", "car (500)", []), ("verify rel", "dog,to the left of,s (400)", [0])],
                            detailed="relVerify", spans={"3": "400", "9": "500"}),
        "e5": _gqa_question(e, "Which animal is to the left of the car?", "dog",
                            [("select", "car (500)", []), ("relate", "animal,to the left of,s (400)", [0]),
                             ("query", "name", [1])], detailed="relS", structural="query", spans={"8": "500"}),
        "e6": _gqa_question(e, "Is the dog next to a cat?", "no",
                            [("select", "cat (-) ", []), ("verify rel", "dog,next to,o (400)", [0])],
                            detailed="relVerify", spans={"3": "400"}),
    }
    for name, doc in (("train_balanced_questions.json", train), ("train_sceneGraphs.json", train_graphs),
                      ("val_balanced_questions.json", val), ("val_sceneGraphs.json", val_graphs)):
        (root / name).write_text(json.dumps(doc))
    return Release(
        spec=f"gqa:{root / 'train_balanced_questions.json'}",
        options={"eval_questions": str(root / "val_balanced_questions.json"), "val_fraction": 0.3},
        items=6, kept=6, skipped={}, splits={"train": 3, "val": 1, "test": 2}, labelled=5, questions=11,
        summary={"questions": [
            {"file": "train_balanced_questions.json", "role": "train", "total": 15, "kept": 7, "items": 4,
             "dropped": {"not yes/no": 1, "no verify rel": 1, "several verify rel": 1, "object absent": 1,
                         "program unreadable": 1, "same object twice": 1, "image not in the scene graphs": 1,
                         "object not in the scene graph": 1}},
            {"file": "val_balanced_questions.json", "role": "eval", "total": 6, "kept": 4, "items": 2,
             "dropped": {"not yes/no": 1, "object absent": 1}},
        ]},
    )


# --------------------------------------------------------------------------- SpatialSense, as released
def write_spatialsense_release(root: Path, splits: str = "release") -> Release:
    """SpatialSense as released (princeton-vl/SpatialSense README, "Data Format"):
    ``annotations.json`` + ``images/flickr/`` + ``images/nyu/`` (``images.tar.gz`` unpacked).

    ``annotations.json`` is a list of images ``{url, nsid, height, width, split: train | valid |
    test, annotations: [{_id, predicate, subject: {x, y, name, bbox}, object: {...}, label}]}``,
    ``bbox`` = ``[y0, y1, x0, x1]``, ``(x, y)`` a point on the object, ``label`` true for a positive
    relation; an image is ``images/flickr/<last part of url>`` for an http url, else
    ``images/nyu/<last part>`` (``read_img`` of ``baselines/util.py``, ``url2path`` of
    ``visualize.py``; ``baselines/dataloader.py`` reads ``split``, ``bbox`` and ``label`` so).

    Nine images (48 x 64): eight with one positive relation each (six flickr JPEGs, two nyu
    PNGs; release splits: 4 train, 2 valid, 2 test), the first also with a negative relation,
    and a ninth with a negative relation only. ``positives_only`` (the default): 8 items, 8
    labelled, 8 questions. ``splits="release"``: train 4, val 2, test 2; ``splits="paper"``
    (the 8 positive images cut 3606/681/1146 of 5433, seed 0): train 5, val 1, test 2.
    """
    red, blue = [8, 24, 6, 22], [20, 40, 36, 58]  # [y0, y1, x0, x1] of write_image's blocks

    def obj(name, bbox):
        return {"y": (bbox[0] + bbox[1]) // 2, "x": (bbox[2] + bbox[3]) // 2, "name": name, "bbox": bbox}

    def relation(k, subj, pred, objct, label=True):
        return {"_id": f"5a{k:022x}", "predicate": pred, "subject": obj(subj, red if subj in ("cup", "cat") else blue),
                "object": obj(objct, blue if objct in ("table", "sofa") else red), "label": label}

    data = []
    release_splits = ["train", "train", "valid", "test", "train", "valid", "test", "train", "train"]
    for k, split in enumerate(release_splits):
        if k in (3, 6):  # NYU Depth images: no Flickr url
            name = f"kitchen_{k:04d}.png"
            url = f"nyu/{name}"
            write_image(root / "images" / "nyu" / name)
        else:
            name = f"{5704634119 + k}_8b8ccf3229.jpg"
            url = f"https://farm4.staticflickr.com/3543/{name}"
            write_image(root / "images" / "flickr" / name, fmt="JPEG")
        anns = [relation(2 * k, "cup", "to the left of", "table")] if k < 8 else []
        if k in (0, 8):
            anns.append(relation(2 * k + 1, "table", "above", "cup", label=False))
        data.append({"url": url, "nsid": "10392797@N03", "height": 48, "width": 64, "split": split,
                     "annotations": anns})
    (root / "annotations.json").write_text(json.dumps(data))
    split_counts = {"release": {"train": 4, "val": 2, "test": 2}, "paper": {"train": 5, "val": 1, "test": 2}}[splits]
    return Release(spec=f"spatialsense:{root / 'annotations.json'}",
                   options={} if splits == "release" else {"splits": "paper"},
                   items=8, kept=8, skipped={}, splits=split_counts, labelled=8, questions=8)


# --------------------------------------------------------------------------- COCO, as released
def _hashed_split(item_id: str) -> str:
    """The cache's split of an item its source gives none (the rule in csip.cache: the first 8
    bytes of sha256(id), little-endian, mod 100: < 80 train, < 90 val, else test)."""
    import hashlib

    h = int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "little") % 100
    return "train" if h < 80 else "val" if h < 90 else "test"


def write_coco_release(root: Path) -> Release:
    """COCO instances as released (``annotations_trainval2017.zip``: ``annotations/
    instances_val2017.json``; images ``val2017/<file_name>``), the layout pycocotools'
    ``COCO`` reads (cocodataset/cocoapi ``PythonAPI/pycocotools/coco.py``: ``images`` with id,
    file_name, height, width; ``annotations`` with id, image_id, category_id, segmentation
    (polygons, or RLE ``{size, counts}`` compressed or not), area, bbox, iscrowd;
    ``categories`` with id, name, supercategory; ``info``, ``licenses``).

    Five images (48 x 64): 1 with two objects (a polygon, a compressed RLE); 2 with three (a
    polygon, an uncompressed RLE, a polygon) and a crowd (left out); 3 with four (more than
    max_objects=3: not an item); 4 with one (not an item); 5 with two whose file is missing
    (skipped: missing file). Items 3, kept 2; splits by the hash of the ids (coco-1, coco-2).
    """
    from pycocotools import mask as mask_utils

    h, w = 48, 64
    images_dir = root / "val2017"
    for i in (1, 2, 3, 4):
        write_image(images_dir / f"{i:012d}.jpg", fmt="JPEG")
    blue = np.zeros((h, w), np.uint8, order="F")
    blue[20:40, 36:58] = 1
    rle = mask_utils.encode(blue)
    rle["counts"] = rle["counts"].decode("ascii")
    low = np.zeros((h, w), np.uint8)
    low[30:46, 2:20] = 1
    red_poly = [6.0, 8.0, 22.0, 8.0, 22.0, 24.0, 6.0, 24.0]

    def ann(k, image_id, seg, cat=1, crowd=0, area=100.0, bbox=(0, 0, 1, 1)):
        return {"segmentation": seg, "area": area, "iscrowd": crowd, "image_id": image_id, "bbox": list(bbox),
                "category_id": cat, "id": k}

    anns = [ann(11, 1, [red_poly], bbox=(6, 8, 16, 16)), ann(12, 1, rle, cat=2, bbox=(36, 20, 22, 20)),
            ann(21, 2, [red_poly]), ann(22, 2, {"size": [h, w], "counts": run_lengths(low)}, cat=2),
            ann(23, 2, [[40.0, 2.0, 60.0, 2.0, 60.0, 12.0, 40.0, 12.0]]),
            ann(24, 2, {"size": [h, w], "counts": run_lengths(np.ones((h, w), np.uint8))}, crowd=1),
            *[ann(30 + k, 3, [[k * 10 + 1.0, 1.0, k * 10 + 9.0, 1.0, k * 10 + 9.0, 9.0, k * 10 + 1.0, 9.0]])
              for k in range(4)],
            ann(41, 4, [red_poly]),
            ann(51, 5, [red_poly]), ann(52, 5, rle, cat=2)]
    doc = {"info": {"description": "COCO 2017 Dataset", "version": "1.0", "year": 2017},
           "licenses": [{"url": "http://creativecommons.org/licenses/by/2.0/", "id": 4, "name": "Attribution License"}],
           "images": [{"license": 4, "file_name": f"{i:012d}.jpg", "coco_url": "", "height": h, "width": w,
                       "date_captured": "2013-11-14 17:02:52", "flickr_url": "", "id": i} for i in (1, 2, 3, 4, 5)],
           "annotations": anns,
           "categories": [{"supercategory": "kitchen", "id": 1, "name": "cup"},
                          {"supercategory": "furniture", "id": 2, "name": "dining table"}]}
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    path = root / "annotations" / "instances_val2017.json"
    path.write_text(json.dumps(doc))
    splits = {"train": 0, "val": 0, "test": 0}
    for item_id in ("coco-1", "coco-2"):
        splits[_hashed_split(item_id)] += 1
    return Release(spec=f"coco:{path}", options={"images": str(images_dir)}, items=3, kept=2,
                   skipped={"missing file": 1}, splits=splits, labelled=0, questions=0)
