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
        return getattr(module, attr)


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
