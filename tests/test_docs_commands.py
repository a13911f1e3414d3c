"""The commands shown in the README and docs/ exist: every ``csip ...`` line of their shell
blocks names a real (sub)command, and every option it passes is one that command takes.

Docs drift as options are renamed; a reader copying a line from the README must not meet
"no such option". (What the commands then do is tested by the tests of each command.)
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from csip.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.S | re.M)
STOP = {">", ">>", "|", "&&", ";", "2>&1"}


def shell_lines(text: str) -> list[str]:
    """The ``csip`` command lines of the shell blocks of a Markdown text (comments dropped,
    backslash continuations joined)."""
    lines = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("$ "):
                line = line[2:]
            if re.match(r"^(\S*/)?csip\s", line):
                lines.append(line)
    return lines


def resolve(args: list[str]) -> tuple[click.Command, list[str]]:
    """The click command that ``csip args...`` runs, and the arguments it is given."""
    ctx = click.Context(cli)
    command: click.Command = cli
    while isinstance(command, click.Group):
        name = args[0] if args and not args[0].startswith("-") else None
        sub = command.get_command(ctx, name) if name else None
        if sub is None:  # a group with a default subcommand (`csip precompute SOURCE ...`)
            sub = command.get_command(ctx, "run")
            assert sub is not None, f"no subcommand {name!r} of {command.name}"
        else:
            args = args[1:]
        command = sub
    return command, args


def option_names(command: click.Command) -> set[str]:
    names = set()
    for p in command.params:
        if isinstance(p, click.Option):
            names.update(p.opts)
            names.update(p.secondary_opts)
    return names | {"--help", "-h"}


def documented() -> list[tuple[str, str]]:
    return [(f"{doc.relative_to(ROOT)}", line) for doc in DOCS for line in shell_lines(doc.read_text("utf-8"))]


def test_docs_show_commands():
    """The README's recipe is there (so the check below checks something)."""
    readme = [line for doc, line in documented() if doc == "README.md"]
    for sub in ("precompute", "pretrain", "eval", "run"):
        assert any(line.split()[1] == sub for line in readme), sub


@pytest.mark.parametrize(("doc", "line"), documented())
def test_documented_command_exists(doc, line):
    tokens = shlex.split(line)
    for i, tok in enumerate(tokens):
        if tok in STOP:
            tokens = tokens[:i]
            break
    command, args = resolve(tokens[1:])
    known = option_names(command)
    for tok in args:
        if tok.startswith("-") and not re.fullmatch(r"-\d.*", tok):
            name = tok.split("=", 1)[0]
            assert name in known, f"{doc}: `{line}`: {command.name} has no option {name}"


def test_unknown_option_is_caught():
    """The check fails on a renamed option (it is not vacuous)."""
    command, args = resolve(["pretrain", "--cahce", "x"])
    assert "--cahce" not in option_names(command) and command.name == "pretrain"
