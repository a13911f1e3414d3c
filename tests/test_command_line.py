"""commands.command_line.typed_command: the command line a command records or prints to resume."""

from __future__ import annotations

import shlex
import sys

from csip.commands.command_line import typed_command


def test_the_typed_command_is_this_process_command_line_only_for_that_command(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/csip", "run", "--out", "a b", "--seeds", "0"])
    assert typed_command("run") == ["csip", "run", "--out", "a b", "--seeds", "0"]
    assert shlex.join(typed_command("run")) == "csip run --out 'a b' --seeds 0"  # the resume hint, pasteable
    assert typed_command("eval") is None  # csip run calling the evaluation records no csip eval command
    monkeypatch.setattr(sys, "argv", ["/venv/bin/csip"])
    assert typed_command("run") is None
