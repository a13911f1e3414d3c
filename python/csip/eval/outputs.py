"""An evaluation's outputs are replaced, never emptied: :func:`staged_outputs` gives the
evaluation a staging directory inside ``--out`` and swaps its files in only when the
evaluation is complete, so a failed, full-disk or killed run leaves the previous evaluation
whole.

Layout while an evaluation runs (``--out`` is locked by it, :func:`csip.base.lock.output_lock`,
so these names are never another writer's)::

    OUT/.csip-eval-new/   the evaluation being written (results.json, report.md, tables, figures)
    OUT/.csip-eval-old/   during the swap only: the previous evaluation's files

The swap moves the previous files (``results.json`` first) into ``.csip-eval-old``, then the new
ones (``results.json`` last) into ``OUT``, then removes both directories: every step a rename
in one directory, none copying data. ``OUT/results.json`` therefore exists only when one whole
evaluation is in place. A run killed during the swap leaves ``.csip-eval-old``: the next
evaluation into ``OUT`` (:func:`recover`, before anything else) puts it back when
``results.json`` is missing, and otherwise removes it; a leftover ``.csip-eval-new`` is removed.
A directory the evaluation does not write (its tables, figures, report) is never touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

#: The staging and backup directories inside ``--out``.
STAGE, BACKUP = ".csip-eval-new", ".csip-eval-old"
#: Moved out first and in last: its presence means one whole evaluation is in place.
RESULTS = "results.json"
#: In the backup once every previous file is in it (the new files may then be arriving).
MOVED = ".moved"


def _results_last(names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda n: (n == RESULTS, n))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(out: Path, names: Iterable[str]) -> None:
    """Undo what a killed evaluation left in ``out``: a swap that stopped half-way is rolled
    back (the previous evaluation in ``.csip-eval-old`` moved back, in place of the new files
    of ``names`` that had arrived), a finished one cleaned; the staging directory removed."""
    backup = out / BACKUP
    if backup.is_dir():
        if not (out / RESULTS).is_file():
            log.warning("%s: an earlier evaluation was stopped while swapping in its results; "
                        "putting the previous results back", out)
            if (backup / MOVED).exists():  # every previous file was in the backup: those in out are new
                for name in names:
                    (out / name).unlink(missing_ok=True)
                (backup / MOVED).unlink()
            for name in _results_last(p.name for p in backup.iterdir()):
                os.replace(backup / name, out / name)
            _fsync_dir(out)
        shutil.rmtree(backup)
    shutil.rmtree(out / STAGE, ignore_errors=True)


def swap_in(stage: Path, out: Path, names: Iterable[str]) -> None:
    """Replace the files of ``names`` in ``out`` (the previous evaluation's) by those of
    ``stage`` (the new one's): see the module docstring for the order."""
    backup = out / BACKUP
    backup.mkdir()
    for name in _results_last(n for n in names if (out / n).exists())[::-1]:  # results.json first
        os.replace(out / name, backup / name)
    (backup / MOVED).touch()  # from here on, a file of ``names`` in out is a new one
    for name in _results_last(p.name for p in stage.iterdir()):
        os.replace(stage / name, out / name)
    _fsync_dir(out)
    shutil.rmtree(backup)
    stage.rmdir()


@contextlib.contextmanager
def staged_outputs(out: Path, names: Iterable[str]) -> Iterator[Path]:
    """A fresh staging directory for the evaluation's files; when the block ends normally they
    replace the files of ``names`` in ``out`` (:func:`swap_in`), when it raises (any error, a
    full disk, an interrupt) the staging directory is removed and ``out`` is left as it was."""
    names = tuple(names)
    recover(out, names)
    stage = out / STAGE
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    swap_in(stage, out, names)


def final_path(path: str, stage: Path, out: Path) -> str:
    """``path`` (a file written into ``stage``) as it is named once swapped into ``out``."""
    p = Path(path)
    with contextlib.suppress(ValueError):
        return str(out / p.relative_to(stage))
    return path


__all__ = ["BACKUP", "STAGE", "final_path", "recover", "staged_outputs", "swap_in"]
