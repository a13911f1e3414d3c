"""Bad input, one table: each case is a command line that must fail with exit code 2 and one
clear message naming the file or option at fault, never a traceback (nor click's bare
"Aborted!"), and leave no output behind where it says so."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

pytest.importorskip("csip_core._csip_core", reason="the Rust extension is not built")

from csip.cli import main  # noqa: E402

SRC = "python:cache_helpers:make_source"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """A small cache and a run of one step on it, shared (read-only) by the cases."""
    root = tmp_path_factory.mktemp("bad-inputs")
    cache, run = root / "cache", root / "run"
    r = CliRunner().invoke(main, ["precompute", "synthetic", "--n", "40", "--image-size", "32", "--out", str(cache),
                                  "--workers", "0", "--no-progress"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, _pretrain(cache, run) + ["--max-steps", "1"])
    assert r.exit_code == 0, r.output
    return {"cache": cache, "run": run}


def _pretrain(cache: Path, out: Path, *extra: str) -> list[str]:
    """The test's pretrain command; an option in ``extra`` replaces its default here (an option
    given twice is refused)."""
    defaults = {"--cache": str(cache), "--model": "2d", "--out": str(out), "--epochs": "1", "--batch-size": "8",
                "--feature-dim": "16", "--embed-dim": "8", "--device": "cpu"}
    given = {a for a in extra if a.startswith("--")}
    return ["pretrain", *[x for k, v in defaults.items() if k not in given for x in (k, v)], "--no-progress", *extra]


def _coco(tmp: Path, images: list[dict], annotations: list[dict]) -> Path:
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp / "a.png")  # the image exists: only the annotations are wrong
    p = tmp / "instances.json"
    p.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "x"}]}))
    return p


def _img(**drop_or_set) -> dict:
    img = {"id": 1, "file_name": "a.png", "height": 4, "width": 4}
    for k, v in drop_or_set.items():
        if v is None:
            img.pop(k)
        else:
            img[k] = v
    return img


def _rle_ann(i: int, counts, size=(4, 4), image_id: int | None = 1) -> dict:
    ann = {"id": i, "category_id": 1, "iscrowd": 0, "segmentation": {"size": list(size), "counts": counts}}
    if image_id is not None:
        ann["image_id"] = image_id
    return ann


def _poly_ann(i: int, polygon: list) -> dict:
    return {"id": i, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": [polygon]}


def _json(tmp: Path, doc: dict, name: str = "instances.json") -> Path:
    p = tmp / name
    p.write_text(json.dumps(doc))
    return p


GOOD_ANNS = [_rle_ann(1, [0, 4, 12]), _rle_ann(2, [12, 4])]  # two 4-pixel columns of a 4×4 image


def _precompute_coco(tmp: Path, images, annotations) -> list[str]:
    return ["precompute", f"coco:{_coco(tmp, images, annotations)}", "--out", str(tmp / "out"), "--workers", "0",
            "--no-progress", "--image-size", "16"]


def _file(tmp: Path, name: str, content: bytes) -> Path:
    p = tmp / name
    p.write_bytes(content)
    return p


def _not_a_dir(tmp: Path) -> Path:
    """An output path that cannot be created, even by root: below a regular file."""
    f = tmp / "plain-file"
    f.write_text("x")
    return f / "out"


def _one_item_cache(tmp: Path) -> Path:
    cache = tmp / "one"
    r = CliRunner().invoke(main, ["precompute", "synthetic", "--n", "1", "--image-size", "32", "--out", str(cache),
                                  "--workers", "0", "--no-progress"])
    assert r.exit_code == 0, r.output
    return cache


def _run_copy(world, tmp: Path, damage: Callable[[Path], None]) -> Path:
    import shutil

    run = tmp / "run"
    shutil.copytree(world["run"], run)
    damage(run / "checkpoints" / "last.pt")
    return run


def _damaged_cache(world, tmp: Path, name: str, damage: Callable[[Path], None]) -> Path:
    import shutil

    cache = tmp / "cache"
    shutil.copytree(world["cache"], cache)
    damage(cache / name)
    return cache


def _all_nan(p: Path) -> None:
    import numpy as np

    a = np.load(p)
    np.save(p, np.full_like(a, np.nan))  # same size, shape and dtype


def _flip(p: Path) -> None:
    raw = bytearray(p.read_bytes())
    raw[-5] ^= 0x21
    p.write_bytes(bytes(raw))


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


@dataclass
class Case:
    name: str
    args: Callable[[dict, Path], list[str]]
    expect: list[str]
    absent: Callable[[Path], list[Path]] = field(default=lambda tmp: [])  # paths that must not exist after
    skip: Callable[[], str | None] = field(default=lambda: None)


CASES = [
    # ---- damaged caches (issue 12, §1): no number may be printed from them
    Case(
        "eval on all-NaN banners",
        lambda w, t: [
            "eval",
            "--task",
            "cbir",
            "--cache",
            str(_damaged_cache(w, t, "sfb.npy", _all_nan)),
            "--random-init",
            "--random-init-model",
            "2d",
            "--out",
            str(t / "e"),
            "--no-figures",
        ],
        ["sfb.npy", "checksum mismatch"],
        lambda t: [t / "e" / "results.json"],
    ),
    Case(
        "eval on flipped bytes in boxes.npy",
        lambda w, t: [
            "eval",
            "--task",
            "cbir",
            "--cache",
            str(_damaged_cache(w, t, "boxes.npy", _flip)),
            "--random-init",
            "--random-init-model",
            "2d",
            "--out",
            str(t / "e"),
            "--no-figures",
        ],
        ["boxes.npy", "checksum mismatch"],
        lambda t: [t / "e" / "results.json"],
    ),
    Case(
        "pretrain on flipped bytes in images.npy",
        lambda w, t: _pretrain(_damaged_cache(w, t, "images.npy", _flip), t / "r"),
        ["images.npy", "checksum mismatch"],
        lambda t: [t / "r"],
    ),
    # ---- COCO annotation files
    Case(
        "coco image without file_name",
        lambda w, t: _precompute_coco(t, [_img(file_name=None)], GOOD_ANNS),
        ["instances.json", "images[0] (id 1) has no 'file_name'"],
        lambda t: [t / "out"],
    ),
    Case(
        "coco image without height",
        lambda w, t: _precompute_coco(t, [_img(height=None)], GOOD_ANNS),
        ["instances.json", "images[0] (id 1) has no 'height'"],
    ),
    Case(
        "coco image without id",
        lambda w, t: _precompute_coco(t, [_img(id=None)], GOOD_ANNS),
        ["instances.json", "images[0] (id ?) has no 'id'"],
    ),
    Case(
        "coco annotation without image_id",
        lambda w, t: _precompute_coco(t, [_img()], [_rle_ann(1, [16], image_id=None)]),
        ["instances.json", "annotations[0] (id 1) has no 'image_id'"],
    ),
    Case(
        "empty annotation file",
        lambda w, t: ["precompute", f"coco:{_file(t, 'ann.json', b'')}", "--out", str(t / "out"), "--no-progress"],
        ["ann.json", "the file is empty"],
    ),
    Case(
        "non-JSON annotation file",
        lambda w, t: [
            "precompute",
            f"coco:{_file(t, 'ann.json', b'<html>')}",
            "--out",
            str(t / "out"),
            "--no-progress",
        ],
        ["ann.json", "not valid JSON"],
    ),
    Case(
        "spatialsense non-JSON",
        lambda w, t: [
            "precompute",
            f"spatialsense:{_file(t, 'ss.json', b'{oops')}",
            "--out",
            str(t / "out"),
            "--no-progress",
        ],
        ["SpatialSense annotations", "ss.json", "not valid JSON"],
    ),
    Case(
        "coco category without an id",
        lambda w, t: [
            "precompute",
            f"coco:{_json(t, {'images': [_img()], 'annotations': GOOD_ANNS, 'categories': [{'name': 'x'}]})}",
            "--out",
            str(t / "out"),
            "--no-progress",
        ],
        ["instances.json", "categories[0] has no 'id'"],
        lambda t: [t / "out"],
    ),
    Case(
        "coco annotation ids repeated",
        lambda w, t: _precompute_coco(t, [_img()], [_rle_ann(1, [0, 4, 12]), _rle_ann(1, [12, 4])]),
        ["instances.json", "annotations[1] (id 1) repeats the id of an earlier annotation"],
    ),
    Case(
        "coco category_id a list",
        lambda w, t: _precompute_coco(t, [_img()], [{**GOOD_ANNS[0], "category_id": [1]}, GOOD_ANNS[1]]),
        ["instances.json", "annotations[0] (id 1) has category_id list [1], expected an integer or a string"],
    ),
    Case(
        "coco height a boolean",
        lambda w, t: _precompute_coco(t, [_img(height=True)], GOOD_ANNS),
        ["instances.json", "images[0] (id 1) has height bool True, expected an integer >= 1"],
    ),
    Case(
        "coco file_name a number",
        lambda w, t: _precompute_coco(t, [_img(file_name=5)], GOOD_ANNS),
        ["instances.json", "images[0] (id 1) has file_name int 5, expected a string"],
    ),
    # ---- polygons and RLEs that do not fit their image (every item skipped: the reasons are printed)
    Case(
        "polygon with a NaN coordinate (pycocotools would exhaust the memory)",
        lambda w, t: _precompute_coco(t, [_img()], [_poly_ann(1, [0, 0, 3, float("nan"), 3, 3]), GOOD_ANNS[1]]),
        [
            "coco-1: bad annotation: ",
            "a.png: annotation 1: a polygon coordinate is nan, outside [-4, 8] for a 4 x 4 image",
        ],
    ),
    Case(
        "polygon with a huge coordinate",
        lambda w, t: _precompute_coco(t, [_img()], [_poly_ann(1, [0, 0, 1e12, 0, 3, 3]), GOOD_ANNS[1]]),
        ["coco-1: bad annotation: ", "a.png: annotation 1: a polygon coordinate is 1000000000000.0, outside [-4, 8]"],
    ),
    Case(
        "polygon of strings",
        lambda w, t: _precompute_coco(t, [_img()], [_poly_ann(1, ["0"] * 6), GOOD_ANNS[1]]),
        ["coco-1: bad annotation: ", "a.png: annotation 1: a polygon coordinate is '0', not a number"],
    ),
    Case(
        "segmentation a string",
        lambda w, t: _precompute_coco(t, [_img()], [{**GOOD_ANNS[0], "segmentation": "abc"}, GOOD_ANNS[1]]),
        ["coco-1: bad annotation: ", "a.png: annotation 1: the segmentation is a str, expected polygons"],
    ),
    Case(
        "RLE counts not summing to h*w",
        lambda w, t: _precompute_coco(t, [_img()], [_rle_ann(1, [3, 5]), _rle_ann(2, [12, 4])]),
        [
            "no usable item",
            "coco-1: bad annotation: ",
            "a.png: annotation 1: RLE counts sum to 8, not height × width = 4 × 4 = 16",
        ],
        lambda t: [t / "out" / "manifest.json"],
    ),
    Case(
        "RLE size contradicting the image",
        lambda w, t: _precompute_coco(t, [_img()], [_rle_ann(1, [0, 4, 12]), _rle_ann(2, [12, 4, 9], size=(5, 5))]),
        [
            "coco-1: bad annotation: ",
            "a.png: annotation 2: RLE size [5, 5] differs from the image's [height, width] = [4, 4]",
        ],
    ),
    Case(
        "every item skipped",
        lambda w, t: [
            "precompute",
            SRC,
            "-O",
            "skip_all=true",
            "-O",
            "n=6",
            "--out",
            str(t / "out"),
            "--workers",
            "0",
            "--no-progress",
            "--image-size",
            "16",
        ],
        ["no usable item: all 6 items", "'unlucky': 6", "item 0: unlucky", "item 4: unlucky"],
        lambda t: [t / "out" / "manifest.json"],
    ),
    # ---- output directories
    Case(
        "precompute --out not writable",
        lambda w, t: ["precompute", SRC, "--out", str(_not_a_dir(t)), "--no-progress"],
        ["--out", "plain-file/out", "cannot write there"],
    ),
    Case(
        "pretrain --out not writable",
        lambda w, t: _pretrain(w["cache"], _not_a_dir(t)),
        ["--out", "plain-file/out", "cannot write there"],
    ),
    Case(
        "eval --out not writable",
        lambda w, t: [
            "eval",
            "--task",
            "cbir",
            "--cache",
            str(w["cache"]),
            "--random-init",
            "--random-init-model",
            "2d",
            "--out",
            str(_not_a_dir(t)),
            "--no-figures",
        ],
        ["--out", "plain-file/out", "cannot write there"],
    ),
    # ---- devices
    Case(
        "pretrain --device cuda without CUDA",
        lambda w, t: _pretrain(w["cache"], t / "r", "--device", "cuda"),
        ["--device 'cuda'", "CUDA is not available"],
        lambda t: [t / "r"],
        skip=lambda: "CUDA is available here" if torch.cuda.is_available() else None,
    ),
    Case(
        "pretrain unknown device",
        lambda w, t: _pretrain(w["cache"], t / "r", "--device", "gpu0"),
        ["--device 'gpu0'", "unknown device"],
        lambda t: [t / "r"],
    ),
    Case(
        "eval --probe-lr nan",
        lambda w, t: [
            "eval",
            "--task",
            "srr",
            "--cache",
            str(w["cache"]),
            "--random-init",
            "--out",
            str(t / "e"),
            "--probe-lr",
            "nan",
        ],
        ["--probe-lr nan", "finite number > 0"],
        lambda t: [t / "e"],
    ),
    Case(
        "eval unknown device",
        lambda w, t: [
            "eval",
            "--task",
            "cbir",
            "--cache",
            str(w["cache"]),
            "--random-init",
            "--out",
            str(t / "e"),
            "--device",
            "tpu:3",
        ],
        ["--device 'tpu:3'"],
        lambda t: [t / "e"],
    ),
    # ---- learning rates (no run directory may be left behind)
    Case(
        "pretrain --lr nan",
        lambda w, t: _pretrain(w["cache"], t / "r", "--lr", "nan"),
        ["--lr nan", "finite number > 0"],
        lambda t: [t / "r"],
    ),
    Case(
        "pretrain negative --lr",
        lambda w, t: _pretrain(w["cache"], t / "r", "--lr", "-0.001"),
        ["--lr -0.001", "finite number > 0"],
        lambda t: [t / "r"],
    ),
    # ---- what a run could never measure or learn from
    Case(
        "pretrain --select a supervised metric for C-SIP",
        lambda w, t: _pretrain(w["cache"], t / "r", "--select", "val_acc"),
        ["--select val_acc", "only a --supervised run measures it"],
        lambda t: [t / "r"],
    ),
    Case(
        "pretrain --select with --split all",
        lambda w, t: _pretrain(w["cache"], t / "r", "--select", "val_loss", "--split", "all"),
        ["--select val_loss", "no held-out split"],
        lambda t: [t / "r"],
    ),
    Case(
        "pretrain on one training item",
        lambda w, t: _pretrain(_one_item_cache(t), t / "r"),
        ["only 1 training item:", "a batch needs at least 2"],
        lambda t: [t / "r"],
    ),
    # ---- weight files
    Case(
        "--pretrained for a model without an image backbone",
        lambda w, t: _pretrain(w["cache"], t / "r", "--pretrained", str(_file(t, "r18.pth", b"x"))),
        ["--pretrained", "r18.pth", "no image backbone"],
    ),
    Case(
        "corrupt safetensors header",
        lambda w, t: _pretrain(
            w["cache"],
            t / "r",
            "--model",
            "resnet18",
            "--pretrained",
            str(_file(t, "r18.safetensors", (10**9).to_bytes(8, "little") + b"{not json")),
        ),
        ["r18.safetensors", "cannot read the weights file", "corrupt or not a .safetensors file"],
    ),
    Case(
        "truncated last.pt with --resume",
        lambda w, t: ["pretrain", "--out", str(_run_copy(w, t, _truncate)), "--resume", "--no-progress"],
        ["last.pt", "cannot read the checkpoint", "truncated"],
    ),
    Case(
        "empty last.pt with --resume",
        lambda w, t: [
            "pretrain",
            "--out",
            str(_run_copy(w, t, lambda p: p.write_bytes(b""))),
            "--resume",
            "--no-progress",
        ],
        ["last.pt", "the checkpoint is empty (0 bytes"],
    ),
    Case(
        "text file as a checkpoint",
        lambda w, t: [
            "eval",
            "--task",
            "cbir",
            "--cache",
            str(w["cache"]),
            "--out",
            str(t / "e"),
            "--checkpoint",
            f"mine={_file(t, 'notes.pt', b'epoch 3 was fine')}",
        ],
        ["notes.pt", "cannot read the checkpoint", "not a torch file"],
    ),
    Case(
        "empty checkpoint file in eval",
        lambda w, t: [
            "eval",
            "--task",
            "cbir",
            "--cache",
            str(w["cache"]),
            "--out",
            str(t / "e"),
            "--checkpoint",
            f"mine={_file(t, 'empty.pt', b'')}",
        ],
        ["empty.pt", "the checkpoint is empty"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, world, tmp_path):
    why = case.skip()
    if why:
        pytest.skip(why)
    args = case.args(world, tmp_path)
    res = CliRunner().invoke(main, args)
    out = res.output
    assert res.exit_code == 2, f"exit {res.exit_code}: {out}\n{res.exception!r}"
    assert "Traceback" not in out and "Aborted!" not in out, out
    for text in case.expect:
        assert text in out, f"{text!r} not in:\n{out}"
    for p in case.absent(tmp_path):
        assert not p.exists(), f"{p} was left behind"
    assert len([ln for ln in out.splitlines() if ln.lower().startswith(("error", "usage"))]) >= 1


def test_cbir_on_too_few_items_suggests_split_all_only_where_it_was_not_given(tmp_path):
    cache = _one_item_cache(tmp_path)
    for split, hint in (("test", True), ("all", False)):
        res = CliRunner().invoke(main, ["eval", "--task", "cbir", "--cache", str(cache), "--random-init-model", "2d",
                                        "--out", str(tmp_path / split), "--split", split])
        assert res.exit_code == 2 and "CBIR needs at least 2 items" in res.output, res.output
        assert ("(try --split all)" in res.output) == hint, res.output
