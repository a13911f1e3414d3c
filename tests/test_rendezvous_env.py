"""``RANK``/``WORLD_SIZE`` left in the environment without torchrun's rendezvous variables:
``csip pretrain`` exits 2 with one line naming the missing ones (torch would raise "MASTER_ADDR
expected" from inside ``init_process_group``), before any training."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from csip.cli import main

PRECOMPUTE = ["precompute", "python:cache_helpers:make_source", "--n", "16", "--chunk", "16", "--workers", "0",
              "-O", "size=32", "--image-size", "32", "--n-angles", "12", "--forces", "-1:1:0.5", "--no-progress"]


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory):
    out = tmp_path_factory.mktemp("rdv") / "cache"
    r = CliRunner().invoke(main, [*PRECOMPUTE, "--out", str(out)], env={"RANK": None, "WORLD_SIZE": None})
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.parametrize("env, missing", [
    ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": None, "MASTER_PORT": None}, "MASTER_ADDR, MASTER_PORT are not"),
    ({"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": None}, "MASTER_PORT is not"),
    ({"RANK": None, "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}, "RANK is not"),
])
def test_pretrain_without_the_rendezvous_variables_exits_2_naming_them(small_cache, tmp_path, env, missing):
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["pretrain", "--cache", str(small_cache), "--out", str(out), "--epochs", "1",
                                  "--max-steps", "1", "--batch-size", "8", "--workers", "0", "--device", "cpu",
                                  "--feature-dim", "8", "--embed-dim", "4", "--no-progress"], env=env)
    assert r.exit_code == 2, r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "WORLD_SIZE=2 is set but" in errors[0] and missing in errors[0], r.output
    assert "torchrun" in errors[0] and "Traceback" not in r.output
    assert not (out / "checkpoints" / "last.pt").exists()


def test_a_malformed_world_size_is_refused():
    from csip.base.distributed import env_world_size
    from csip.base.errors import BadOption

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORLD_SIZE", "two")
        with pytest.raises(BadOption, match="WORLD_SIZE='two'"):
            env_world_size()
        mp.setenv("WORLD_SIZE", "1")
        mp.delenv("MASTER_ADDR", raising=False)
        assert env_world_size() == 1  # one process needs no rendezvous
