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


def test_help_lists_every_command_without_importing_torch():
    """``csip --help`` imports each command's module to list it; none of them may import torch
    (over a second to import), numpy or the engine at module level."""
    import subprocess

    from csip.cli import COMMANDS

    probe = (
        "import sys\nfrom csip.cli import main\n"
        "for args in (['--help'], ['pretrain', '--help'], ['eval', '--help'], ['run', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit as exc:\n        assert exc.code == 0, (args, exc.code)\n"
        "print('IMPORTED', [m for m in ('torch', 'numpy', 'csip_core') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.rstrip().endswith("IMPORTED []"), out[-500:]
    listing = out.split("Commands:")[1]
    assert all(name in listing for name in COMMANDS), listing


import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from csip.cli import main  # noqa: E402


@pytest.mark.parametrize("args, named", [
    (["pretrain", "--out", "x", "--lr", "1e-3", "--lr", "2e-3"], "--lr"),
    (["pretrain", "--out", "x", "--amp", "--no-amp"], "--amp / --no-amp"),
    (["pretrain", "--out=x", "--out", "y"], "--out"),
    (["eval", "--cache", "c", "--out", "o", "--seed", "1", "--seed=2"], "--seed"),
    (["precompute", "info", "c", "--verify", "--verify"], "--verify"),
    (["run", "--epochs", "1", "--epochs", "2"], "--epochs"),
])
def test_an_option_given_twice_is_refused_not_silently_replaced(tmp_path, args, named):
    """click keeps the last value of a single-value option given twice; csip refuses the line."""
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert f"{named} is given more than once" in res.output
    assert not (tmp_path / "x").exists()


def test_repeatable_options_may_repeat_and_values_that_look_like_options_are_values(tmp_path):
    from csip.cli import repeated_options
    from csip.commands.evaluate import evaluate
    from csip.commands.pretrain import pretrain

    assert repeated_options(evaluate, ["--task", "cbir", "--task", "srr", "-k", "10", "-k", "25"]) == []
    assert repeated_options(pretrain, ["--cache", "a", "--cache", "b", "--out", "--lr"]) == []  # --lr: --out's value
    assert repeated_options(pretrain, ["--out", "x", "--", "--out"]) == []  # after --: arguments
