"""One settings fingerprint (csip.base.fingerprint) for caches, training runs and evaluations: its
value, what changes it and what does not, and that work made before runs and results
recorded it is still reused and resumed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from csip.base.errors import BadOption
from csip.base.fingerprint import (
    ABSENT,
    cache_identity,
    cache_identity_at,
    describe_diff,
    fingerprint,
    path_identity,
    settings_diff,
)
from csip.cache import format as cache_format
from csip.eval.config import EvalConfig, eval_settings
from csip.study.stages import StudyError, run_eval, train_run
from csip.train.config import RUN_DEFINING_FIELDS, TrainConfig, run_settings, stored_run_settings
from csip.train.run import train
from eval_helpers import one_thread, synthetic_cache

pytestmark = pytest.mark.usefixtures("single_thread")

IDENTITY = {"content_hash": "c" * 64, "params_hash": "0123456789abcdef"}


# --------------------------------------------------------------------------- the mechanism


def test_fingerprint_is_sha256_of_the_canonical_json_and_ignores_key_order():
    expected = hashlib.sha256(b'{"a":1,"b":[2,"x"],"c":{"d":null}}').hexdigest()[:16]
    assert fingerprint({"b": [2, "x"], "a": 1, "c": {"d": None}}) == expected
    assert fingerprint({"c": {"d": None}, "a": 1, "b": [2, "x"]}) == expected
    assert fingerprint({"a": 1, "b": [2, "x"], "c": {"d": 0}}) != expected


def test_the_cache_params_hash_is_the_fingerprint_and_existing_caches_keep_their_hash(cache):
    assert cache_format.params_hash is fingerprint
    manifest = json.loads((cache / "manifest.json").read_text())
    assert fingerprint(manifest["run"]["params"]) == manifest["run"]["params_hash"]
    assert cache_identity_at(cache) == {"content_hash": manifest["content_hash"],
                                        "params_hash": manifest["run"]["params_hash"]}
    assert cache_identity({"content_hash": "h"}) == {"content_hash": "h"}  # a cache without build params
    assert cache_identity_at(cache.parent / "no-such-cache") is None


def test_settings_diff_names_each_differing_key_readably():
    stored = {"config": {"epochs": 2, "lr": 5e-4, "model": "2d"}, "cache": {"content_hash": "a"}}
    asked = {"config": {"epochs": 3, "lr": 5e-4, "model": "2d", "width": 32}, "cache": {"content_hash": "b"}}
    diff = settings_diff(stored, asked)
    assert diff == {"cache.content_hash": ("a", "b"), "config.epochs": (2, 3), "config.width": (ABSENT, 32)}
    assert describe_diff(diff) == ("cache.content_hash: 'a' there, 'b' asked; config.epochs: 2 there, 3 asked; "
                                   "config.width: <absent> there, 32 asked")
    assert settings_diff(stored, json.loads(json.dumps(stored))) == {}


def test_the_cache_mismatch_message_names_every_key_that_changes_the_params_hash():
    stored = {"min_area": 1, "descriptor": {"n_angles": 180, "levels": [0.0, 1.0]}, "seed": 0}
    asked = {"min_area": 1.0, "descriptor": {"n_angles": 180, "levels": (0.0, 1.0)}, "extra": "x" * 80}
    assert cache_format.params_hash(stored) != cache_format.params_hash(asked)
    assert cache_format.diff_keys(stored, asked) == [  # 1 != 1.0 to the hash, a tuple is its list
        "extra: <absent> != '" + "x" * 66 + "...",  # a long value cut to 70 characters
        "min_area: 1 != 1.0", "seed: 0 != <absent>"]


def test_path_identity_is_the_content_of_a_file_or_a_directory(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.bin").write_bytes(b"abc")
    (tmp_path / "d" / "sub" / "b.bin").write_bytes(b"xyz")
    assert path_identity(tmp_path / "d" / "a.bin") == hashlib.sha256(b"abc").hexdigest()
    sums = "".join(f"{n}:{hashlib.sha256(b).hexdigest()}\n" for n, b in (("a.bin", b"abc"), ("sub/b.bin", b"xyz")))
    assert path_identity(tmp_path / "d") == hashlib.sha256(sums.encode()).hexdigest()
    shutil.copytree(tmp_path / "d", tmp_path / "e")
    assert path_identity(tmp_path / "e") == path_identity(tmp_path / "d")
    (tmp_path / "e" / "sub" / "b.bin").write_bytes(b"xyZ")
    assert path_identity(tmp_path / "e") != path_identity(tmp_path / "d")


# --------------------------------------------------------------------------- training runs


def _other(value):
    """A different value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    if isinstance(value, str):
        return value + "-other"
    return "something"  # None


def test_equal_run_settings_give_equal_fingerprints():
    a, b = TrainConfig(out="a", cache="c"), TrainConfig(out="a", cache="c")
    assert fingerprint(run_settings(a, IDENTITY)) == fingerprint(run_settings(b, dict(IDENTITY)))
    stored = json.loads(json.dumps(run_settings(a, IDENTITY), default=str))  # as params.json holds it
    assert fingerprint(stored) == fingerprint(run_settings(a, IDENTITY))


@pytest.mark.parametrize("name", RUN_DEFINING_FIELDS)
def test_each_run_defining_field_changes_the_fingerprint(name):
    cfg = TrainConfig(out="a", cache="c")
    other = dataclasses.replace(cfg, **{name: _other(getattr(cfg, name))})
    assert fingerprint(run_settings(other, IDENTITY)) != fingerprint(run_settings(cfg, IDENTITY))
    assert list(settings_diff(run_settings(cfg, IDENTITY), run_settings(other, IDENTITY))) == [f"config.{name}"]


@pytest.mark.parametrize("name, value", [("workers", 3), ("progress", False), ("device", "cuda:1"), ("log_every", 1),
                                         ("save_every", 7), ("tensorboard", True), ("compile", True),
                                         ("resume", True), ("out", "elsewhere"), ("cache", "/moved/cache")])
def test_a_field_that_does_not_define_the_run_leaves_the_fingerprint(name, value):
    cfg = TrainConfig(out="a", cache="c")
    other = dataclasses.replace(cfg, **{name: value})
    assert fingerprint(run_settings(other, IDENTITY)) == fingerprint(run_settings(cfg, IDENTITY))


def test_the_cache_content_changes_the_fingerprint():
    cfg = TrainConfig(out="a", cache="c")
    assert fingerprint(run_settings(cfg, {**IDENTITY, "content_hash": "d" * 64})) != fingerprint(
        run_settings(cfg, IDENTITY)
    )
    assert fingerprint(run_settings(cfg, None)) != fingerprint(run_settings(cfg, IDENTITY))


def test_an_old_params_json_gets_its_settings_from_its_stored_config(tmp_path):
    cfg = TrainConfig(out="a", cache=str(tmp_path / "cache"))
    old = {"config": json.loads(json.dumps(dataclasses.asdict(cfg), default=str))}  # no fingerprint: before the change
    asked = run_settings(cfg, IDENTITY)
    assert fingerprint(stored_run_settings(old, cfg.cache, IDENTITY)) == fingerprint(asked)
    moved = stored_run_settings(old, str(tmp_path / "other-cache"), IDENTITY)  # made on another cache
    assert settings_diff(moved, asked) == {"cache.content_hash": (ABSENT, IDENTITY["content_hash"]),
                                          "cache.params_hash": (ABSENT, IDENTITY["params_hash"]),
                                          "cache.path": (cfg.cache, ABSENT)}
    recorded = {**old, "fingerprint_settings": asked, "fingerprint": fingerprint(asked)}
    assert stored_run_settings(recorded, "anything", None) == asked


def _tiny(out: Path, cache: Path, **kw) -> TrainConfig:
    base = dict(out=str(out), cache=str(cache), model="2d", epochs=1, batch_size=64, workers=0, progress=False,
                feature_dim=16, embed_dim=8, spatial_channels=4, log_every=100, device="cpu")
    return TrainConfig(**{**base, **kw})


def _strip_fingerprint(params_path: Path) -> None:
    """Make ``params.json`` look like one written before runs recorded their fingerprint."""
    params = json.loads(params_path.read_text())
    for k in ("fingerprint", "fingerprint_settings"):
        params.pop(k)
    params["data"].pop("identity")
    params_path.write_text(json.dumps(params, indent=2))


def test_a_run_records_its_fingerprint_and_resume_refuses_another_cache(tmp_path, cache):
    other_cache = synthetic_cache(tmp_path, n=200, seed=1)  # same shapes, other scenes
    cfg = _tiny(tmp_path / "run", cache)
    done = train(cfg)
    params = json.loads((tmp_path / "run" / "params.json").read_text())
    expected = run_settings(cfg, cache_identity_at(cache))
    assert params["fingerprint_settings"] == json.loads(json.dumps(expected))
    assert params["fingerprint"] == fingerprint(expected)
    with pytest.raises(BadOption, match=r"--resume: .* other settings \(cache.content_hash: '[0-9a-f]{64}' in the "
                                        r"run, '[0-9a-f]{64}' now; cache.params_hash"):
        train(_tiny(tmp_path / "run", other_cache, resume=True))
    _strip_fingerprint(tmp_path / "run" / "params.json")  # a run from before: still resumable
    again = train(_tiny(tmp_path / "run", cache, resume=True, workers=1, epochs=5))  # epochs: the run's (1)
    assert again["steps"] == done["steps"] > 0 and again["steps_run"] == 0
    assert json.loads((tmp_path / "run" / "params.json").read_text())["fingerprint"] == fingerprint(expected)


def test_the_study_reuses_an_old_run_and_refuses_other_settings_with_a_readable_diff(tmp_path, cache):
    tc = _tiny(tmp_path / "run", cache)
    assert train_run(tc) == "trained"
    assert train_run(_tiny(tmp_path / "run", cache, workers=1, progress=False)) == "skipped"
    _strip_fingerprint(tmp_path / "run" / "params.json")
    assert train_run(_tiny(tmp_path / "run", cache)) == "skipped"  # made before runs recorded fingerprints
    with pytest.raises(StudyError, match=r"holds a run made with other settings \(config.epochs: 1 there, 2 asked; "
                                         r"config.lr: 0.0005 there, 0.001 asked\)"):
        train_run(_tiny(tmp_path / "run", cache, epochs=2, lr=1e-3))
    copy = synthetic_cache(tmp_path, n=200, seed=1)
    with pytest.raises(StudyError, match=r"other settings \(cache.content_hash"):
        train_run(_tiny(tmp_path / "run", copy))


# --------------------------------------------------------------------------- evaluations


def test_eval_settings_leave_out_where_the_results_go_and_hash_the_checkpoints(tmp_path):
    ck = tmp_path / "a.pt"
    ck.write_bytes(b"weights")
    ec = EvalConfig(cache=tmp_path / "cache", out=tmp_path / "out", tasks=("cbir",), checkpoints={"a": ck}, seed=3)
    s = eval_settings(ec, "h")
    assert s == {"args": ["--cache", str(tmp_path / "cache"), "--task", "cbir", "--checkpoint", f"a={ck}",
                          "--seed", "3"],
                 "checkpoints": {"a": hashlib.sha256(b"weights").hexdigest()}, "runs": {}, "cache": "h"}
    moved = dataclasses.replace(ec, out=tmp_path / "elsewhere", quiet=True, workers=0)
    assert fingerprint(eval_settings(moved, "h")) == fingerprint(s)
    for changed in (dataclasses.replace(ec, seed=4), dataclasses.replace(ec, features="embed")):
        assert fingerprint(eval_settings(changed, "h")) != fingerprint(s)
    assert fingerprint(eval_settings(ec, "other cache")) != fingerprint(s)
    ck.write_bytes(b"retrained")
    assert fingerprint(eval_settings(ec, "h")) != fingerprint(s)


def _eval_config(cache: Path, out: Path, ckpt: Path) -> EvalConfig:
    return EvalConfig(cache=cache, out=out, tasks=("cbir",), checkpoints={"c-sip-seed0": ckpt},
                      random_init_models=("2d",), figures=False, device="cpu", quiet=True)


def test_the_study_reuses_an_evaluation_by_fingerprint_and_an_old_one_by_arguments_and_time(tmp_path, cache):
    run_dir = tmp_path / "run"
    with one_thread():
        train(_tiny(run_dir, cache))
    ckpt = run_dir / "checkpoints" / "final.pt"
    ec = _eval_config(cache, tmp_path / "eval", ckpt)
    first, reused = run_eval(ec, {"c": ckpt})
    assert not reused and first.fingerprint is not None
    stored = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert stored["command_args"] == ec.to_args() and stored["fingerprint"] == first.fingerprint
    again, reused = run_eval(ec, {"c": ckpt})
    assert reused and again == first
    os.utime(ckpt)  # newer checkpoint, same content: the fingerprint still matches (no modification times)
    assert run_eval(ec, {"c": ckpt})[1]

    # results.json written before results recorded a fingerprint: reused by arguments and time, as before
    old = {k: v for k, v in stored.items() if k not in ("fingerprint", "fingerprint_settings")}
    res_path = tmp_path / "eval" / "results.json"
    res_path.write_text(json.dumps(old, indent=2))
    os.utime(res_path, (ckpt.stat().st_mtime + 10,) * 2)
    res, reused = run_eval(ec, {"c": ckpt})
    assert reused and res.fingerprint is None and res.to_json() == old
    os.utime(res_path, (ckpt.stat().st_mtime - 10,) * 2)  # older than the checkpoint: evaluated again
    res, reused = run_eval(ec, {"c": ckpt})
    assert not reused and res.fingerprint == first.fingerprint

    # another checkpoint content (a retrained run) at the same path: evaluated again
    with one_thread():
        train(_tiny(tmp_path / "run2", cache, seed=1))
    shutil.copy(tmp_path / "run2" / "checkpoints" / "final.pt", ckpt)
    res, reused = run_eval(ec, {"c": ckpt})
    assert not reused and res.fingerprint != first.fingerprint


def test_eval_settings_count_pretrained_weights_by_content_and_only_when_given(tmp_path):
    """New weights at the same path are a new evaluation; an evaluation without weights keeps
    the fingerprint it had before weights were part of the settings."""
    ec = EvalConfig(cache=tmp_path / "cache", out=tmp_path / "out", tasks=("cbir",), seed=3)
    assert "weights" not in eval_settings(ec, "h")
    w = tmp_path / "r18.pth"
    w.write_bytes(b"imagenet v1")
    text = tmp_path / "minilm"
    text.mkdir()
    (text / "model.safetensors").write_bytes(b"text v1")
    with_w = dataclasses.replace(ec, imagenet_resnet18=w, text_encoder=text)
    s = eval_settings(with_w, "h")
    assert s["weights"] == {"--imagenet-resnet18": hashlib.sha256(b"imagenet v1").hexdigest(),
                            "--text-encoder": path_identity(text)}
    w.write_bytes(b"imagenet v2")
    assert fingerprint(eval_settings(with_w, "h")) != fingerprint(s)
    w.write_bytes(b"imagenet v1")
    (text / "model.safetensors").write_bytes(b"text v2")
    assert fingerprint(eval_settings(with_w, "h")) != fingerprint(s)
