"""The task registry (csip.eval.tasks): CBIR, SRR and VQA are three registered tasks, and a new
task is one file (tests/toy_task.py) plus one registration, run by csip.eval.evaluate and
``csip eval`` like the built-in ones."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from csip.cli import main
from csip.eval import EvalConfig, evaluate
from csip.eval.results import EvalResults
from csip.eval.task import Task
from csip.eval.tasks import TASKS, load_task, register_task, task_names, unregister_task

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def toy():
    """The toy task registered for the test, and removed after it."""
    register_task("toy", "toy_task:MeanNorm")
    try:
        yield load_task("toy")
    finally:
        unregister_task("toy")


def test_the_registry_names_are_the_task_classes_names_in_report_order():
    assert task_names() == ("cbir", "srr", "vqa", "crossmodal", "zeroshot")
    for name in TASKS:
        task = load_task(name)
        assert isinstance(task, Task) and task.name == name and task.table_type.__name__.lower() == f"{name}table"
    from csip.eval.config import CHOICES
    from csip.eval.config import TASKS as CONFIG_TASKS

    assert CONFIG_TASKS == task_names() and CHOICES["tasks"] == (*task_names(), "all")


def test_register_refuses_bad_taken_and_reserved_names():
    for name in ("Toy", "2d", "all", "cache", "fingerprint", "tables", "cbir"):
        with pytest.raises(ValueError):
            register_task(name, "toy_task:MeanNorm")
    with pytest.raises(ValueError, match="module:Class"):
        register_task("toy", "toy_task.MeanNorm")
    register_task("wrong", "toy_task:MeanNorm")  # a class whose name is not the registered one
    try:
        with pytest.raises(TypeError, match="its name is 'toy'"):
            load_task("wrong")
    finally:
        unregister_task("wrong")
    assert "wrong" not in task_names()


def _direct_mean_norm(cache_dir) -> float:
    """The toy number of the random-init 2D row, computed here without the evaluation."""
    from csip.cache import Cache
    from csip.eval import baselines as B
    from csip.eval.features import extract

    cache = Cache(cache_dir)
    idx = cache.indices("test")
    table = extract(B.random_init_spec("2d", 0, 256).load(), cache, idx, device="cpu")
    return float(np.linalg.norm(table.rows(idx), axis=1).mean())


def test_a_toy_task_in_one_file_runs_through_evaluate(toy, cache, tmp_path):
    out = tmp_path / "e"
    res = evaluate(EvalConfig(cache=cache, out=out, tasks=("toy",), random_init_models=("2d",), figures=False,
                              device="cpu"))
    assert list(res.tables) == ["toy"] and res.cbir is None and res.toy is res.tables["toy"]
    row = next(r for r in res.toy.rows if r.name == "random-init 2D")
    assert row.mean_norm == pytest.approx(_direct_mean_norm(cache), rel=1e-6)
    skipped = next(r for r in res.toy.rows if r.name == "CLIP image encoder")
    assert skipped.status == "skipped" and skipped.mean_norm is None
    doc = json.loads((out / "results.json").read_text())
    assert doc["tasks"] == ["toy"] and list(doc)[list(doc).index("figures") + 1] == "toy"
    assert doc["toy"]["rows"][0].keys() == {"name", "group", "model", "status", "note", "mean_norm"}
    assert "timings_s" in doc and "toy" in doc["timings_s"]
    back = EvalResults.from_json(doc)
    assert back.toy == res.toy and back.to_json() == doc
    report = (out / "report.md").read_text()
    assert "## Toy — mean feature norm over the test split" in report and f"{row.mean_norm:.4f}" in report
    assert (out / "toy.md").read_text() == res.toy.markdown + "\n"


def test_a_toy_task_runs_through_csip_eval_beside_a_built_in_one(toy, cache, tmp_path):
    out = tmp_path / "cli"
    help_text = CliRunner().invoke(main, ["eval", "--help"]).output
    assert "toy" in help_text  # --task's choices are the registry's
    res = CliRunner().invoke(main, ["eval", "--cache", str(cache), "--out", str(out), "--task", "cbir", "--task", "toy",
                                    "--random-init-model", "2d", "--no-figures", "--device", "cpu", "-k", "5"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "[csip] features random-init 2D: (" in res.output  # progress lines: log records, printed by csip eval
    doc = json.loads((out / "results.json").read_text())
    assert doc["tasks"] == ["cbir", "toy"] and [k for k in doc if k in ("cbir", "toy")] == ["cbir", "toy"]
    assert {r["name"] for r in doc["toy"]["rows"]} >= {"random-init 2D"}
    report = (out / "report.md").read_text()
    assert report.index("## CBIR") < report.index("## Toy")  # report order: the registry's
    assert "## Toy" in res.output  # the printed tables
    again = CliRunner().invoke(main, ["eval", "--cache", str(cache), "--out", str(out), "--task", "cbir",
                                      "--random-init-model", "2d", "--no-figures", "--device", "cpu", "-k", "5",
                                      "--quiet"], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert not (out / "toy.md").exists()  # an evaluation into a used --out removes the earlier one's tables


def test_an_unregistered_task_is_refused_by_name():
    from csip.base.errors import BadOption

    with pytest.raises(BadOption, match="--task 'toy': expected one of cbir, srr, vqa, crossmodal, zeroshot, all"):
        EvalConfig(cache="c", out="o", tasks=("toy",))
    res = CliRunner().invoke(main, ["eval", "--cache", "c", "--out", "o", "--task", "toy"])
    assert res.exit_code == 2 and "'toy' is not one of" in res.output
