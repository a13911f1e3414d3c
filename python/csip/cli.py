"""The ``csip`` command line.

Each subcommand lives in its own module and is imported only when used (torch is slow to
import; ``csip --help`` must stay instant). Register a command by adding it to ``COMMANDS``.
"""

from __future__ import annotations

import importlib

import click

from . import __version__

#: name -> "module:attribute" of a click command, imported lazily.
COMMANDS: dict[str, str] = {
    "demo": "csip.commands.demo:demo",
    "precompute": "csip.commands.precompute:precompute",
    "pretrain": "csip.commands.pretrain:pretrain",
    "eval": "csip.commands.evaluate:evaluate",
    "search": "csip.commands.search:search",
    "run": "csip.commands.pipeline:run",
}


def repeated_options(command: click.Command, args: list[str]) -> list[str]:
    """The options of ``command`` that ``args`` gives more than once although they take one
    value (click would silently keep the last one): ``--lr 1 --lr 2``, ``--amp --no-amp``.
    Options declared ``multiple=True`` (``--cache``, ``--task``, ``-O``) may repeat."""
    by_name: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                by_name[name] = param
    seen: dict[str, int] = {}
    names: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            break
        name = token.split("=", 1)[0] if token.startswith("--") else token
        param = by_name.get(name)
        if param is not None:
            seen[param.name] = seen.get(param.name, 0) + 1
            names.setdefault(param.name, [])
            if name not in names[param.name]:
                names[param.name].append(name)
            takes_value = not param.is_flag and not param.count and "=" not in token
            i += 2 if takes_value else 1
            continue
        i += 1
    return [" / ".join(names[n]) for n, k in seen.items()
            if k > 1 and not by_name[names[n][0]].multiple and not by_name[names[n][0]].count]


def _refusing_repeats(command: click.Command) -> click.Command:
    """``command`` (and a group's subcommands) refusing a repeated single-value option with a usage
    error (exit 2) naming it, instead of keeping its last value."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _refusing_repeats(sub)
    if getattr(command, "_csip_refuses_repeats", False):
        return command
    parse = command.parse_args

    def parse_args(ctx: click.Context, args: list[str]) -> list[str]:
        if not isinstance(command, click.Group):
            twice = repeated_options(command, list(args))
            if twice:
                raise click.UsageError(f"{twice[0]} is given more than once; give it once", ctx=ctx)
        return parse(ctx, args)

    command.parse_args = parse_args  # type: ignore[method-assign]
    command._csip_refuses_repeats = True  # type: ignore[attr-defined]
    return command


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name, quiet=True) is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name, quiet=False)

    @staticmethod
    def _load(name: str, quiet: bool) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if quiet and exc.name == module_name:
                return None  # a command not built yet is simply not listed
            raise
        return _refusing_repeats(getattr(module, attr))

    def invoke(self, ctx: click.Context):
        """Run the subcommand; bad input or a full disk that its own handling let through still
        ends in one line and exit code 2 (:func:`csip.commands.failures.reporting_errors`)."""
        from .commands.failures import reporting_errors

        with reporting_errors():
            return super().invoke(ctx)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="csip")
@click.option("-q", "--quiet", "verbosity", flag_value=-1, help="Messages: warnings and errors only.")
@click.option("-v", "--verbose", "verbosity", flag_value=1, help="Messages: also the details (debug).")
def main(verbosity: int | None = None) -> None:
    """C-SIP: spatially aware image representations from symmetric Force Banners.

    Typical flow: ``csip precompute`` (dataset -> cache of images and sFBs), ``csip pretrain``
    (contrastive pretraining), ``csip eval --task cbir|srr|vqa``. ``precompute``,
    ``pretrain``, ``run`` and ``demo`` run on the built-in synthetic scenes when no dataset is
    given; ``eval`` and ``search`` read a cache.

    Messages go to stderr as ``[csip] ...`` (``-q``: warnings only; ``-v``: details too).
    """
    from .base.log import configure

    configure(verbosity or 0)


if __name__ == "__main__":
    main()
