"""The command line this process was started with, for the records and resume hints that
commands print."""

from __future__ import annotations

import sys


def typed_command(name: str) -> list[str] | None:
    """``["csip", name, *arguments]`` when this process is ``csip NAME ...``; None when it is
    another command (``csip run`` calling the evaluation) or a library call."""
    return ["csip", name, *sys.argv[2:]] if sys.argv[1:2] == [name] else None
