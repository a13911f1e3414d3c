"""scripts/install_deps.py: the requirements it resolves are pyproject.toml's, extras included."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import tomllib

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install_deps.py"


@pytest.fixture(scope="module")
def install_deps():
    spec = importlib.util.spec_from_file_location("install_deps", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_requirements_are_the_base_list_plus_the_named_extras(install_deps):
    project = tomllib.loads((SCRIPT.parents[1] / "pyproject.toml").read_text())["project"]
    groups = project["optional-dependencies"]
    assert install_deps.requirements([]) == project["dependencies"]
    assert install_deps.requirements(["ml", "test"]) == project["dependencies"] + groups["ml"] + groups["test"]
    assert any(r.startswith("torch==") for r in install_deps.requirements(["ml"]))


def test_an_unknown_extra_is_refused_with_the_known_ones(install_deps):
    with pytest.raises(SystemExit, match=r"unknown extra\(s\) \['gpu'\]; pyproject.toml has \['ml', 'test', 'unrel'\]"):
        install_deps.requirements(["ml", "gpu"])

