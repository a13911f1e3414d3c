"""Helpers of the cache / precompute tests: a tiny random Source (also ``python:cache_helpers:make_source``)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
try:
    import csip  # noqa: F401
except ImportError:  # a source tree that was never installed
    sys.path.insert(0, str(REPO / "python"))

from csip.data.sample import Question, Sample, SkipItem, box_of  # noqa: E402


def subprocess_env() -> dict[str, str]:
    """Environment for a `python -m csip.cli` subprocess that sees the same csip and the tests' helpers."""
    env = dict(os.environ)
    paths = [str(REPO / "python"), str(TESTS)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return env


#: ``"PATH:K"``: items ``>= K`` wait while the file PATH exists. A test that must signal a run
#: mid-way sets it, so that the run cannot end before the signal however loaded the machine is;
#: it is read from the environment, not the source options, so the items and the cache's
#: parameters are those of a run without it.
HOLD_ENV = "CSIP_TEST_HOLD"


def _wait_on_hold(i: int) -> None:
    hold = os.environ.get(HOLD_ENV)
    if not hold:
        return
    path, _, first = hold.rpartition(":")
    while i >= int(first) and os.path.exists(path):
        time.sleep(0.01)


class RandomSource:
    """``n`` random scenes of ``size``×``size`` px with two rectangles or ellipses.

    ``skip_every=k``: items ``i % k == k-1`` raise SkipItem("unlucky"); ``error_every=k``:
    items ``i % k == 1`` raise ZeroDivisionError; ``skip_all``: every item is skipped;
    ``delay``: seconds of sleep per item; ``crash_at=i``: loading item ``i`` kills the process
    (use with loader workers only); ``with_split``: samples carry a ``split`` attribute.
    """

    name = "random-test"

    def __init__(self, n: int = 40, seed: int = 0, size: int = 64, skip_every: int = 0,
                 error_every: int = 0, skip_all: bool = False, with_split: bool = False,
                 delay: float = 0.0, crash_at: int = -1):
        self.n, self.seed, self.size = int(n), int(seed), int(size)
        self.skip_every, self.error_every, self.skip_all = int(skip_every), int(error_every), bool(skip_all)
        self.with_split = bool(with_split)
        self.delay = float(delay)  # seconds of sleep per item (to kill a run mid-way in tests)
        self.crash_at = int(crash_at)  # this item kills the (loader) process that loads it

    def __len__(self) -> int:
        return self.n

    def options(self) -> dict:
        return {"n": self.n, "seed": self.seed, "size": self.size, "skip_every": self.skip_every,
                "error_every": self.error_every, "skip_all": self.skip_all, "with_split": self.with_split,
                "delay": self.delay, "crash_at": self.crash_at}

    def load(self, i: int) -> Sample:
        if not 0 <= i < self.n:
            raise IndexError(i)
        if self.delay:
            time.sleep(self.delay)
        _wait_on_hold(i)
        if i == self.crash_at:
            os._exit(3)
        if self.skip_all or (self.skip_every and i % self.skip_every == self.skip_every - 1):
            raise SkipItem("unlucky")
        if self.error_every and i % self.error_every == 1:
            raise ZeroDivisionError("division by zero")
        rng = np.random.default_rng([self.seed, i])
        s = self.size
        h = s + int(rng.integers(0, s // 2))
        w = s + int(rng.integers(0, s // 2))
        image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        yy, xx = np.mgrid[0:h, 0:w]
        masks = []
        for _ in range(2):
            y0, x0 = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 8))
            y1, x1 = int(rng.integers(y0 + 4, h + 1)), int(rng.integers(x0 + 4, w + 1))
            if rng.random() < 0.5:
                m = (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1)
            else:
                cy, cx, ry, rx = (y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) / 2, (x1 - x0) / 2
                m = ((yy + 0.5 - cy) / ry) ** 2 + ((xx + 0.5 - cx) / rx) ** 2 <= 1
                if not m.any():
                    m[y0, x0] = True
            masks.append(m)
        label = None if i % 3 == 0 else int(rng.integers(0, 9))
        qs = [Question(f"is A left of B in scene {i}?", bool(i % 2))] if i % 4 == 0 else []
        sample = Sample(id=f"rnd-{self.seed}-{i}", image=image, mask_a=masks[0], mask_b=masks[1],
                        box_a=box_of(masks[0]), box_b=box_of(masks[1]), label=label, questions=qs,
                        source=self.name, names=("a", "b"))
        if self.with_split:
            sample.split = ("train", "val", "test")[i % 3]  # type: ignore[attr-defined]
        return sample


def make_source(**opts) -> RandomSource:
    """Factory for the ``python:cache_helpers:make_source`` spec."""
    return RandomSource(**opts)
