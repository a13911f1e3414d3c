"""Typed errors for bad input (files, options) that commands report in one line, exit code 2.

Library code raises :class:`CsipInputError` (or a subclass) with a message that names the file
or option at fault; :mod:`csip.commands.failures` turns it into ``error: <message>`` and exit
code 2. Subclasses keep the built-in type they refine (``ValueError``, ``OSError``), so code
that caught those still does.
"""

from __future__ import annotations


class CsipInputError(Exception):
    """Bad input given to csip: a file that cannot be read or written, an option out of range."""


class BadOption(CsipInputError, ValueError):
    """An option value that cannot be used (``--lr nan``, ``--device cuda`` without CUDA)."""


class BadFile(CsipInputError, ValueError):
    """A file that exists but cannot be used (corrupt, truncated, empty, of another format)."""


class NotRegularFile(CsipInputError):
    """A file csip reads (a manifest, run file, stamp, chunk file, JSON or checkpoint) that is
    not a regular file: a FIFO or device would block the read or never end it."""


class DiskFull(CsipInputError, OSError):
    """No space left on the device (ENOSPC) or the disk quota exceeded (EDQUOT) while writing
    ``path``; the temporary files of the write are removed before it is raised."""

    def __init__(self, message: str, code: int, path: str | None = None):
        super().__init__(message)
        self.errno, self.filename = code, path

    def __str__(self) -> str:
        return str(self.args[0])


class EvalError(CsipInputError):
    """An evaluation its inputs cannot give: a cache that cannot be opened or lacks what an
    asked task needs (labels, questions, items), or encoder rows that clash or do not exist."""


class UnwritableOutput(CsipInputError, OSError):
    """An output directory that cannot be created or written."""
