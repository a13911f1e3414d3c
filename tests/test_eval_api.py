"""The evaluation as a library: :class:`csip.eval.EvalConfig` (the defaults of ``csip eval``, its
arguments both ways) and :func:`csip.eval.run` (the results of ``csip eval``, typed errors)."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from csip.base.errors import BadFile, BadOption, EvalError
from csip.cli import main
from csip.commands.evaluate import evaluate
from csip.eval import EvalConfig, run
from csip.eval.config import CHOICES, MINIMUM, RANDOM_INIT_MODELS, SPLITS, TASKS
from eval_helpers import bare_cache, trained_run

pytestmark = pytest.mark.usefixtures("single_thread")


def _parsed(args: list[str]) -> EvalConfig:
    """``args`` parsed by the ``csip eval`` command, as the command builds its config."""
    return EvalConfig(**evaluate.make_context("eval", list(args)).params)


# ---------------------------------------------------------------- EvalConfig <-> csip eval


def test_click_options_are_the_config_fields_with_its_defaults():
    params = {p.name: p for p in evaluate.params if p.name != "help"}
    fields = {f.name: f for f in dataclasses.fields(EvalConfig)}
    assert set(params) == set(fields)
    for name, f in fields.items():
        if f.default is dataclasses.MISSING:
            assert params[name].required, name
        else:
            default = params[name].default
            assert (tuple(default) if params[name].multiple else default) == f.default, name
    assert _parsed(["--cache", "c", "--out", "o"]) == EvalConfig(cache="c", out="o")


def test_option_choices_are_those_of_the_command():
    params = {p.name: p for p in evaluate.params}
    for name, allowed in CHOICES.items():
        assert tuple(params[name].type.choices) == allowed, name
    for name, lo in MINIMUM.items():
        assert params[name].type.min == lo, name


def test_random_init_models_are_the_table1_encoders_of_models_and_study():
    from csip.eval.baselines import TABLE1_MODELS
    from csip.models import IMAGE_ENCODERS
    from csip.study.config import TABLE1_ENCODERS

    assert RANDOM_INIT_MODELS == tuple(TABLE1_MODELS) == TABLE1_ENCODERS
    assert set(RANDOM_INIT_MODELS) == set(IMAGE_ENCODERS)


def test_to_args_of_the_defaults_names_only_cache_and_out():
    assert EvalConfig(cache="a b", out=Path("o")).to_args() == ["--cache", "a b", "--out", "o"]


_name = st.text(st.sampled_from("abcXYZ019-_."), min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))
_path = st.lists(_name, min_size=1, max_size=3).map(lambda parts: "/".join(parts))
_configs = st.builds(
    EvalConfig,
    cache=_path, out=_path,
    tasks=st.lists(st.sampled_from([*TASKS, "all"]), min_size=1, max_size=3).map(tuple),
    checkpoints=st.dictionaries(_name, _path, max_size=3),
    runs=st.lists(_path, max_size=2).map(tuple),
    imagenet_resnet18=st.none() | _path, clip=st.none() | _path, text_encoder=st.none() | _path,
    pretrained_size=st.integers(16, 512), random_init=st.booleans(),
    random_init_models=st.lists(st.sampled_from(RANDOM_INIT_MODELS), max_size=2).map(tuple),
    random_init_width=st.none() | st.integers(1, 128), split=st.sampled_from(SPLITS),
    gallery=st.none() | st.sampled_from(SPLITS), ks=st.lists(st.integers(1, 100), min_size=1, max_size=3).map(tuple),
    probe=st.sampled_from(["linear", "mlp"]),
    probe_lr=st.none() | st.floats(1e-6, 1.0, allow_nan=False), vqa_images=st.lists(_name, max_size=2).map(tuple),
    seed=st.integers(0, 2**31), device=st.none() | st.sampled_from(["cpu", "cuda", "cuda:1"]),
    threads=st.none() | st.integers(1, 64), workers=st.integers(0, 8), figures=st.booleans(),
    grid_encoder=st.none() | _name, features=st.sampled_from(["pre", "embed"]), quiet=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(_configs)
def test_to_args_parsed_by_csip_eval_gives_back_the_config(cfg):
    assert _parsed(cfg.to_args()) == cfg
    # what a shell makes of the printed command, too
    assert _parsed(shlex.split(" ".join(shlex.quote(a) for a in cfg.to_args()))) == cfg


def test_checkpoints_take_pairs_mappings_and_name_equals_path_alike():
    want = (("a", Path("x/a.pt")), ("run7", Path("runs/run7/checkpoints/best.pt")))
    for given_as in ([("a", "x/a.pt"), "runs/run7/checkpoints/best.pt"],
                     {"a": Path("x/a.pt"), "run7": "runs/run7/checkpoints/best.pt"},
                     ("a=x/a.pt", " =runs/run7/checkpoints/best.pt")):
        assert EvalConfig(cache="c", out="o", checkpoints=given_as).checkpoints == want


@pytest.mark.parametrize("bad, message", [
    (dict(split="validation"), "--split 'validation': expected one of train, val, test, all"),
    (dict(tasks=("cbir", "ocr")), "--task 'ocr'"),
    (dict(features="post"), "--features 'post'"),
    (dict(random_init_models=("vit",)), "--random-init-model 'vit'"),
    (dict(ks=(10, 0)), "-k 0: expected an integer >= 1"),
    (dict(pretrained_size=8), "--pretrained-size 8: expected an integer >= 16"),
    (dict(workers=-1), "--workers -1: expected an integer >= 0"),
    (dict(batch_size=2.5), "--batch-size 2.5"),
    (dict(seed="0"), "--seed '0': expected an integer"),
    (dict(seed=-1), "--seed -1: expected an integer >= 0"),
    (dict(tasks=()), "--task: no task given"),
    (dict(checkpoints=["mine="]), "--checkpoint: expected NAME=PATH, got 'mine='"),
    (dict(checkpoints={"a=b": "x.pt"}), "--checkpoint: expected NAME=PATH"),
    (dict(checkpoints=["a=x.pt", "a=y.pt"]), "--checkpoint: the name 'a' is given twice"),
    (dict(probe_lr=float("nan")), "--probe-lr nan: must be a finite number > 0"),
    (dict(probe_lr=0.0), "--probe-lr 0.0: must be a finite number > 0"),
    (dict(probe_lr=float("inf")), "--probe-lr inf: must be a finite number > 0"),
])
def test_config_refuses_what_the_command_refuses(bad, message):
    with pytest.raises(BadOption) as err:
        EvalConfig(cache="c", out="o", **bad)
    assert message in str(err.value)


# ---------------------------------------------------------------- run


def test_run_returns_results_json_and_matches_csip_eval(base, cache, tmp_path):
    run_dir = trained_run(base, cache, "2d")
    cfg = EvalConfig(cache=cache, out=tmp_path / "lib", tasks=("cbir", "srr"), checkpoints={"c2d": run_dir},
                     random_init_models=("2d",), probe_epochs=3, figures=False, device="cpu", ks=(5, 10))
    res = run(cfg)
    assert res == json.loads((tmp_path / "lib" / "results.json").read_text())
    assert res["command"] is None and res["tasks"] == ["cbir", "srr"]
    assert {r["name"] for r in res["cbir"]["rows"]} >= {"c2d", "random-init 2D"}
    assert (tmp_path / "lib" / "report.md").is_file() and (tmp_path / "lib" / "cbir.md").is_file()
    # the same config through the command line: the same numbers
    args = dataclasses.replace(cfg, out=tmp_path / "cli").to_args()
    cli = CliRunner().invoke(main, ["eval", *args, "--quiet"], catch_exceptions=False)
    assert cli.exit_code == 0, cli.output
    again = json.loads((tmp_path / "cli" / "results.json").read_text())
    for task in ("cbir", "srr"):
        assert again[task]["rows"] == res[task]["rows"]
    assert again["encoders"] == res["encoders"] and again["settings"] == res["settings"]


@pytest.mark.parametrize("case, error, message", [
    ("no cache", EvalError, "--cache: "),
    ("no labels", EvalError, "SRR needs relation labels"),
    ("missing checkpoint", BadOption, "--checkpoint mine: not found"),
    ("text file checkpoint", BadFile, "cannot load it"),
    ("unknown row", EvalError, "--grid-encoder 'nobody': no such encoder row"),
    ("unknown device", BadOption, "--device 'tpu:3'"),
])
def test_run_raises_typed_errors_before_any_output(base, cache, tmp_path, case, error, message):
    junk = tmp_path / "notes.pt"
    junk.write_text("epoch 3 was fine")
    kw = {
        "no cache": dict(cache=tmp_path / "nowhere"),
        "no labels": dict(cache=bare_cache(base), tasks=("srr",)),
        "missing checkpoint": dict(checkpoints={"mine": tmp_path / "missing.pt"}),
        "text file checkpoint": dict(checkpoints={"mine": junk}),
        "unknown row": dict(grid_encoder="nobody"),
        "unknown device": dict(device="tpu:3"),
    }[case]
    cfg = EvalConfig(**{"cache": cache, "out": tmp_path / "out", "tasks": ("cbir",), "random_init_models": ("2d",),
                        **kw})
    with pytest.raises(error) as err:
        run(cfg)
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()


def test_study_runs_the_config_its_printed_command_gives():
    """The study's evaluation config, its printed ``csip eval`` command and its ``command_args``
    are one thing: the command parsed by ``csip eval`` (plus --quiet) gives back the config."""
    from csip.study import StudyConfig
    from csip.study.stages import eval_command, eval_config

    for study in (StudyConfig(), StudyConfig(tasks=("cbir",), features="pre", figures=False, device="cpu",
                                             text_encoder="/models/bert x", width=64)):
        ec = eval_config(study, Path("out/cache"), Path("out/eval/2d/seed1"), "2d", 1,
                         {"supervised-seed1": Path("r/s/checkpoints/best.pt"),
                          "c-sip-seed1": Path("r/c/checkpoints/final.pt")})
        assert ec.quiet and ec.random_init_models == ("2d",) and ec.seed == 1 and ec.split == study.eval_split
        assert ec.features == study.features and ec.random_init_width == study.width
        assert ec.vqa_epochs == (study.vqa_epochs if "vqa" in study.tasks else 30)
        cmd = eval_command(ec)
        assert cmd.startswith("csip eval --cache out/cache --out out/eval/2d/seed1 ") and "--quiet" not in cmd
        assert _parsed([*shlex.split(cmd)[2:], "--quiet"]) == ec


def test_evaluations_given_one_text_encoder_dict_share_the_encoder_per_path_and_device(monkeypatch):
    """csip run passes one dict to all its evaluations: the VQA text encoder (and the question
    embeddings it keeps) is built once per (path, device), not once per evaluation."""
    from pathlib import Path

    from csip.eval import vqa

    built = []
    monkeypatch.setattr(vqa, "TextEncoder", lambda path, device: built.append((path, device)) or object())
    made: dict = {}
    first = vqa.shared_text_encoder(None, "cpu", made)
    assert vqa.shared_text_encoder(None, "cpu", made) is first
    assert vqa.shared_text_encoder(None, "cuda", made) is not first
    assert vqa.shared_text_encoder(Path("/te"), "cpu", made) is not first
    assert built == [(None, "cpu"), (None, "cuda"), (Path("/te"), "cpu")]
    assert vqa.shared_text_encoder(None, "cpu", {}) is not first  # a fresh dict: a new one
