"""The paper's protocol end to end: ``csip run --print-config paper`` → a template, filled in
(TOML) with tiny datasets in each release's published format (tests/data_fixtures.py) and a
tiny random SAM, run through the command line; then its dry run and its bad configs.

The datasets are far too small for the numbers to mean anything: the test checks that every
stage runs, that ``summary.md`` has Tables 2 (SpatialSense and UnRel) and 3 and Figs. 3 and 4
with each number beside the paper's, that the degenerate evaluations are flagged, and that a
rerun skips every stage.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from data_fixtures import (
    tiny_sam_checkpoint,
    write_coco_release,
    write_gqa_release,
    write_spatialsense_release,
    write_unrel_release,
)

pytest.importorskip("scipy")
pytest.importorskip("segment_anything")

from csip.commands.pipeline import run  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dump(doc: dict) -> str:
    """A TOML document of top-level values and one level of tables (all a config has)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for name, table in doc.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _template() -> dict:
    res = CliRunner().invoke(run, ["--print-config", "paper"])
    assert res.exit_code == 0, res.output
    return tomllib.loads(res.output)


def _datasets(root: Path) -> dict:
    """The tiny releases and a tiny SAM under ``root``; the config's dataset and weight tables."""
    ss = write_spatialsense_release(root / "spatialsense")
    write_coco_release(root / "coco")
    write_unrel_release(root / "unrel")
    gqa = write_gqa_release(root / "gqa")
    sam = tiny_sam_checkpoint(root / "sam_tiny.pth")
    return {
        "spatialsense": {"annotations": ss.spec.split(":", 1)[1], "images": str(root / "spatialsense" / "images")},
        "coco": {"instances": str(root / "coco" / "annotations" / "instances_val2017.json"),
                 "images": str(root / "coco" / "val2017")},
        "unrel": {"path": str(root / "unrel")},
        "gqa": {"train_questions": gqa.spec.split(":", 1)[1], "eval_questions": gqa.options["eval_questions"],
                "images": str(root / "gqa" / "images"), "val_fraction": 0.3},
        "weights": {"sam": str(sam)},
    }


def _config(tmp: Path) -> Path:
    """The printed template, filled in: tiny datasets, tiny trainings, the fast encoders."""
    doc = _template()
    data = _datasets(tmp / "data")
    for name in ("spatialsense", "coco", "unrel", "gqa"):
        doc[name].update(data[name])
    doc["weights"] = data["weights"]  # only SAM: the ImageNet, CLIP and text rows are skipped
    doc.update(out=str(tmp / "out"), encoders=["resnet18", "2d"], device="cpu", progress=False, threads=1,
               precompute_workers=0)
    doc["train"].update(image_size=32, width=4, batch_size=4, epochs=1, lrs=[1e-4, 1e-3], forces="-1:1:0.5",
                        n_angles=8, workers=0)
    doc["eval"].update(vqa_epochs=1, probe_epochs=2, batch_size=16)
    path = tmp / "paper.toml"
    path.write_text(_dump(doc))
    return path


@pytest.fixture
def _sam_store(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def test_the_paper_protocol_end_to_end_and_rerun(tmp_path, _sam_store):
    cfg = _config(tmp_path)
    t0 = time.perf_counter()
    res = CliRunner().invoke(run, ["--config", str(cfg)], catch_exceptions=False)
    first = time.perf_counter() - t0
    assert res.exit_code == 0, res.output
    out = tmp_path / "out"
    md = (out / "summary.md").read_text()
    assert "## Table 2" in md and "spatialsense NDCG@10" in md and "unrel NDCG@25" in md
    assert "## Table 3" in md and "## Fig. 4" in md
    for fig in ("Fig. 3", "Fig. 4"):
        paths = re.findall(rf"- spatialsense seed 0: {fig}: `([^`]+)`", md)
        assert paths and all(Path(p).is_file() for p in paths), (fig, md)
    # every paper number beside ours: "ours (paper, Δ)" in the rows that ran
    assert re.search(r"\| C-SIP \| ResNet18 \| -?\d+\.\d \(63\.7, [+-]\d+\.\d\) \|", md), md
    assert re.search(r"\| supervised \| 2D \| -?\d+\.\d \(73\.3, [+-]\d+\.\d\) \|", md), md
    assert re.search(r"\| ResNet18/C-SIP \+ BERT \| \d+\.\d\d \(72\.06, [+-]\d+\.\d\d\) \|", md), md
    assert "not meaningful" in md  # tiny splits: flagged, never a bold 100.0
    assert "**100.0" not in md
    assert "Rows are named as in the paper, whose text encoder is BERT; ours use " in md
    for table in ("table2", "table3"):
        assert table in (out / "summary.json").read_text()
    layouts = json.loads((out / "summary.json").read_text())["layouts"]  # the banner tower, on SpatialSense
    for task in ("crossmodal", "zeroshot"):
        rows = {(r["label"], r["row"]): r for r in layouts[task]}
        assert rows[("spatialsense", "c-sip resnet18")]["group"] == "C-SIP", rows
    assert "## Layouts: cross-modal retrieval" in md and "## Layouts: relation recognition" in md
    before = _stamps(out)
    t1 = time.perf_counter()
    res2 = CliRunner().invoke(run, ["--config", str(cfg)], catch_exceptions=False)
    assert res2.exit_code == 0, res2.output
    assert _stamps(out) == before  # every cache, run and evaluation reused, not rewritten
    print(f"paper protocol e2e: {first:.1f} s, rerun {time.perf_counter() - t1:.1f} s")


def _stamps(out: Path) -> dict[str, int]:
    """Every file of the stages (summary files aside) and its modification time (ns)."""
    return {str(p): p.stat().st_mtime_ns for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.startswith("summary.")}


def test_the_dry_run_prints_the_plan_with_sizes_and_writes_nothing(tmp_path, _sam_store):
    cfg = _config(tmp_path)
    res = CliRunner().invoke(run, ["--config", str(cfg), "--dry-run"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    text = res.output
    # the release fixtures' item counts (tests/data_fixtures.py) and the cache bytes they take
    for name, items in (("spatialsense", 8), ("coco", 3), ("unrel", 5), ("gqa", 6)):
        line = rf"  {name}: {name}:\S+ -> \S+ \(<= {items} items, 32 px, banner 5x8; \d+\.\d kB\)"
        assert re.search(line, text), text
    # 2 encoders x (supervised, C-SIP), each at 2 learning rates; C-SIP on SpatialSense + COCO
    assert "trainings (4, 8 runs with the learning-rate grids):" in text
    assert re.search(r"resnet18/c-sip-seed0: csip resnet18, 1 epochs, .*lr 0\.0001, 0\.001 .*spatialsense \+ \S+coco",
                     text)
    assert "evaluations (3):" in text and "rows c-sip resnet18 — VQA: Table 3" in text
    assert re.search(r"expected on disk: \d+\.\d (kB|MB)", text)
    assert not (tmp_path / "out").exists()


def _bad(tmp_path: Path, edit) -> tuple[int, str]:
    doc = _template()
    edit(doc)
    path = tmp_path / "bad.toml"
    path.write_text(_dump(doc))
    res = CliRunner().invoke(run, ["--config", str(path), "--dry-run"])
    return res.exit_code, res.output


@pytest.mark.parametrize("edit, expect", [
    (lambda d: d["train"].update(epochz=3), "train.epochz: unknown key"),
    (lambda d: d.update(colour="red"), "colour: unknown key"),
    (lambda d: d["train"].update(epochs=0), "train.epochs 0: expected an integer >= 1"),
    (lambda d: d["train"].update(epochs="ten"), "train.epochs 'ten': expected an integer >= 1"),
    (lambda d: d["train"].update(lrs=[1e-4, -1]), "train.lrs -1: must be a finite number > 0"),
    (lambda d: d["eval"].update(features="both"), "eval.features 'both': expected one of pre, embed"),
    (lambda d: d.update(seeds=0), "seeds 0: expected a list"),
    (lambda d: d["train"].update(image_size=[224]), "train.image_size [224]: expected one value, not a list"),
    (lambda d: d["spatialsense"].pop("annotations"), "spatialsense.annotations missing"),
    (lambda d: d["spatialsense"].update(splits=3), "spatialsense.splits 3: expected one of release, paper"),
])
def test_a_bad_config_is_one_line_naming_its_key_exit_2(tmp_path, edit, expect):
    code, out = _bad(tmp_path, edit)
    assert code == 2, out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], out
