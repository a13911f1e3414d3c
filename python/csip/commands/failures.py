"""How commands turn typed library errors into a message and exit code 2.

The bodies of ``csip pretrain``, ``eval`` and ``run`` run inside :func:`reporting_errors` (``csip
precompute`` calls :func:`fail` itself; ``csip search`` raises click usage errors): an error of :func:`user_error_types`
(a damaged cache, unusable data, a bad checkpoint, a bad option value, an unwritable output
directory) prints ``error: <message>`` on stderr, one line naming the file or option, and
exits with code 2, never a traceback. So does a full disk or quota anywhere (an ``OSError``
with errno ENOSPC or EDQUOT: "no space left writing PATH"); the ``csip`` group runs every
subcommand inside :func:`reporting_errors` too, so that no command lets one through as a
traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import click

from ..base.errors import CsipInputError

#: Exit code of every failure caused by the input (click's own usage errors use it too).
EXIT_BAD_INPUT = 2


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exception types that mean "bad input", not "bug"."""
    from ..cache.format import CacheError  # numpy: lazy, every command's --help imports this module

    types: list[type[BaseException]] = [CacheError, CsipInputError]
    if "csip.train" in sys.modules:  # only a command that trains can raise it; torch is slow to import
        from ..train.data import DataError

        types.append(DataError)
    return tuple(types)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    """Print ``error: message`` on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def one_line(exc: BaseException) -> str | None:
    """The one-line message of an error that is the input's or the machine's fault (an error of
    :func:`user_error_types`, a full disk or quota), or ``None`` for a bug."""
    from ..base.files import DISK_FULL_ERRNOS, disk_full

    if isinstance(exc, user_error_types()):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return str(disk_full(exc))
    return None


@contextlib.contextmanager
def reporting_errors() -> Iterator[None]:
    """Run a command's body; an error of :func:`user_error_types` or a full disk -> :func:`fail`."""
    try:
        yield
    except (click.ClickException, click.exceptions.Exit):  # usage errors, --help: click's own
        raise
    except Exception as exc:  # noqa: BLE001 - filtered just below
        message = one_line(exc)
        if message is not None:
            fail(message)
        raise
