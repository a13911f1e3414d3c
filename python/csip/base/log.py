"""csip's messages: one :mod:`logging` tree under the ``"csip"`` logger.

Library code logs through ``logging.getLogger(__name__)`` (``csip.eval.api``, ``csip.study.run``,
...): progress lines at INFO, problems the run survives at WARNING, details at DEBUG. A library
caller configures logging as it likes; by default Python shows WARNING and above.

The command line calls :func:`configure` once: INFO and above on stderr as ``[csip] message``
(``csip.cli``'s ``--quiet`` shows warnings only, ``--verbose`` adds DEBUG). ``metrics.jsonl``,
progress bars (tqdm) and the tables a command prints are not log records.
"""

from __future__ import annotations

import logging
import sys

#: The root of csip's loggers.
LOGGER_NAME = "csip"

_HANDLER_FLAG = "_csip_cli_handler"


class _StderrHandler(logging.StreamHandler):
    """A stream handler writing to whatever ``sys.stderr`` is when a record is emitted (a test
    runner or a notebook may replace it after :func:`configure`)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure(verbosity: int = 0) -> logging.Logger:
    """Send csip's records to stderr: ``verbosity`` -1 (quiet: warnings), 0 (info) or 1 (debug).
    Idempotent: a second call replaces the first one's handler."""
    logger = logging.getLogger(LOGGER_NAME)
    for h in [h for h in logger.handlers if getattr(h, _HANDLER_FLAG, False)]:
        logger.removeHandler(h)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("[csip] %(message)s"))
    setattr(handler, _HANDLER_FLAG, True)
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO)
    logger.propagate = False
    return logger


__all__ = ["LOGGER_NAME", "configure"]
