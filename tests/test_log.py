"""csip's messages go through one logger tree ("csip"), configured once by the command line."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from csip.base.log import LOGGER_NAME, configure
from csip.cli import main


@pytest.fixture(autouse=True)
def _restore_logger():
    logger = logging.getLogger(LOGGER_NAME)
    saved = logger.handlers[:], logger.level, logger.propagate
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


@pytest.mark.parametrize("verbosity, shown", [(-1, ["W"]), (0, ["I", "W"]), (1, ["D", "I", "W"])])
def test_configure_sets_the_level_and_one_stderr_handler(capsys, verbosity, shown):
    configure(0)
    configure(verbosity)  # a second call replaces the first one's handler
    log = logging.getLogger("csip.some.module")
    log.debug("D")
    log.info("I")
    log.warning("W")
    err = capsys.readouterr().err
    assert err.splitlines() == [f"[csip] {m}" for m in shown]


def test_the_handler_follows_a_replaced_stderr(capsys):
    configure(0)
    logging.getLogger("csip.x").info("first")
    assert capsys.readouterr().err == "[csip] first\n"
    logging.getLogger("csip.x").info("second")  # capsys swapped sys.stderr in between
    assert capsys.readouterr().err == "[csip] second\n"


@pytest.mark.parametrize("flags, level", [(["-q"], logging.WARNING), ([], logging.INFO), (["-v"], logging.DEBUG)])
def test_the_command_line_configures_the_level_from_its_flags(flags, level):
    logging.getLogger(LOGGER_NAME).setLevel(logging.NOTSET)
    res = CliRunner().invoke(main, [*flags, "precompute", "info", "/nonexistent-cache"])
    assert res.exit_code == 2  # a bad cache path: the command ran, and failed on its input
    assert logging.getLogger(LOGGER_NAME).level == level
