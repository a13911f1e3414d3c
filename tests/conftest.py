"""Fixtures shared by the evaluation tests (the memoised artefacts live in ``eval_helpers``)."""

from __future__ import annotations

import pytest

from eval_helpers import one_thread, shared_base, synthetic_cache


@pytest.fixture
def single_thread():
    """One torch intra-op thread for the test (small models on 2 shared cores)."""
    with one_thread():
        yield


@pytest.fixture(scope="session")
def base(tmp_path_factory):
    """The session's directory of memoised evaluation artefacts."""
    return shared_base(tmp_path_factory)


@pytest.fixture(scope="session")
def cache(base):
    """A tiny synthetic cache with labels and questions, built once per session."""
    return synthetic_cache(base)
