"""Files written so that a crash never leaves half of one (a temporary file in the same
directory, fsync, then ``os.replace`` onto the name), and strict JSON written that way.

Also the two failure rules of every file csip touches: a control file is read only when it is
a regular file (:func:`open_regular`: a FIFO named ``manifest.json`` would block the read for
ever), and a full disk or quota (ENOSPC, EDQUOT) becomes one :class:`DiskFull` line naming the
path (:func:`naming_disk_full`), after the write's temporary files are removed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import DiskFull, NotRegularFile

#: errno values meaning "no room to write": the device is full, or the user's quota is.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def _kind(mode: int) -> str:
    """What a non-regular file is, in words (for the refusal's message)."""
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _refusal(path: str | os.PathLike, mode: int) -> OSError | NotRegularFile:
    """The error of reading ``path`` of ``mode``: a directory gives ``IsADirectoryError``, as a
    plain ``open`` does (readers that treat an unreadable file as absent keep doing so); a FIFO,
    device or socket, whose read could block, :class:`NotRegularFile`."""
    if stat.S_ISDIR(mode):
        return IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    return NotRegularFile(f"{path} is {_kind(mode)}, not a regular file: refusing to read it "
                          "(replace it with the file csip wrote, or remove it)")


def require_regular(path: str | os.PathLike) -> Path:
    """``path`` when it is a regular file (symlinks followed), else :class:`NotRegularFile`;
    for readers that must open by name themselves (``np.load`` memory maps, ``torch.load``).
    ``FileNotFoundError`` as ``os.stat`` raises it, ``IsADirectoryError`` for a directory."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise _refusal(path, mode)
    return Path(path)


def open_regular(path: str | os.PathLike, mode: str = "r", encoding: str | None = "utf-8") -> IO[Any]:
    """Open ``path`` for reading (``mode`` ``"r"`` or ``"rb"``) only if it is a regular file.

    Opened with ``O_NONBLOCK`` (so that a FIFO without a writer does not block the open) and
    checked with ``fstat`` on the descriptor itself (no window between check and open); a
    regular file is then read in blocking mode as usual. A directory: ``IsADirectoryError``;
    anything else: :class:`NotRegularFile`.
    """
    if mode not in ("r", "rb"):
        raise ValueError(f"open_regular reads only ('r' or 'rb'), got mode {mode!r}")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st_mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(st_mode):
            raise _refusal(path, st_mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, mode, encoding=None if "b" in mode else encoding)
    except BaseException:
        os.close(fd)
        raise


def read_regular_text(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """The text of ``path``, a regular file (:func:`open_regular`)."""
    with open_regular(path, "r", encoding=encoding) as f:
        return f.read()


def read_regular_json(path: str | os.PathLike) -> Any:
    """``json.load`` of ``path``, a regular file (:func:`open_regular`)."""
    with open_regular(path, "r") as f:
        return json.load(f)


def disk_full(exc: OSError, path: str | os.PathLike | None = None) -> DiskFull:
    """The one-line :class:`DiskFull` of ``exc`` (an ENOSPC or EDQUOT), naming ``path``, else the
    file the error names."""
    where = path if path is not None else exc.filename
    where = where if where is not None else "an output file (the error names none)"
    why = "disk quota exceeded" if exc.errno == errno.EDQUOT else "device full"
    return DiskFull(f"no space left writing {where} ({why}); free some space and rerun the same command",
                    exc.errno, str(where))


@contextlib.contextmanager
def naming_disk_full(path: str | os.PathLike) -> Iterator[None]:
    """Within the block, an ENOSPC/EDQUOT ``OSError`` becomes :func:`disk_full` naming
    ``path`` (when the error names no file itself); other errors pass unchanged."""
    try:
        yield
    except DiskFull:
        raise
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:
            raise disk_full(exc, exc.filename or path) from exc
        raise


def atomic_write(path: str | Path, write) -> Path:
    """Call ``write(tmp_path)`` then move the file onto ``path`` atomically (same directory).

    On any failure the temporary file is removed and ``path`` is left as it was; a full disk
    or quota is raised as :class:`DiskFull` naming ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide checkpoints from co-workers
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, DiskFull) and exc.errno in DISK_FULL_ERRNOS:
            raise disk_full(exc, path) from exc
        raise
    return path



def _jsonable(obj: Any) -> Any:
    """Dict keys to strings, numpy scalars/arrays to Python, NaN to None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if type(obj).__module__ == "numpy" and hasattr(obj, "tolist"):  # a numpy scalar or array (numpy not imported
        obj = obj.tolist()  # here: `csip --help` stays light); tolist gives Python numbers or lists
        if isinstance(obj, list):
            return _jsonable(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_ready(data: dict) -> dict:
    """``data`` as :func:`write_json` writes it (and ``json.load`` reads it back): string keys,
    lists, Python numbers, NaN as None."""
    return _jsonable(data)


def write_json(path: str | Path, data: dict) -> Path:
    """Write ``data`` as indented strict JSON, atomically (temporary file + rename)."""
    text = json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


__all__ = ["DISK_FULL_ERRNOS", "atomic_write", "disk_full", "json_ready", "naming_disk_full", "open_regular",
           "read_regular_json", "read_regular_text", "require_regular", "write_json"]
