"""One writer per output directory: :func:`output_lock`, an exclusive ``fcntl.flock`` on
``<dir>/.csip-lock`` held for the lifetime of the command that writes ``dir``.

Every command that writes a directory (``csip precompute``, ``precompute merge``, ``pretrain``,
``eval``, ``run``) takes it through its library entry point. A second writer of the same
directory fails at once with :class:`OutputLocked` (exit code 2 on the command line), naming the
directory and the pid that holds it. The kernel drops a flock when its holder dies, however it
dies, so a lock left by a killed process is simply taken over (its stale pid overwritten).

The lock is re-entrant within one process: a library call that locks a directory its caller
already holds (``csip run``'s stages call the library in the same process) counts up instead of
deadlocking. The file is removed when the outermost holder lets go; a waiter that opened the
removed file sees that its inode is no longer the one at the path and opens the new one, so two
processes can never both believe they hold the lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import CsipInputError, UnwritableOutput

log = logging.getLogger(__name__)

#: The lock file inside the directory it guards.
LOCK_NAME = ".csip-lock"

_held: dict[str, list] = {}  # realpath of a lock file -> [fd or None, depth]
_guard = threading.Lock()


class OutputLocked(CsipInputError, OSError):
    """Another live process writes the directory (its pid in the message): exit code 2."""


def holder_pid(directory: str | os.PathLike, name: str = LOCK_NAME) -> int | None:
    """The pid recorded in ``directory``'s lock file (None when there is none or it is unreadable).
    Only meaningful while the lock is held: a dead holder's pid stays until the next taker."""
    try:
        fd = os.open(Path(directory) / name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        text = os.read(fd, 32).decode("ascii", "replace").strip() if stat.S_ISREG(os.fstat(fd).st_mode) else ""
    finally:
        os.close(fd)
    return int(text) if text.isdigit() else None


#: Why a lock file cannot be created in a directory this process may not write anyway (a
#: finished read-only cache that ``csip precompute`` only finds complete): no lock is taken.
_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


def _open_lock_file(path: Path) -> int | None:
    """An fd on the regular file ``path`` (created 0666 & ~umask), None when the directory is
    read-only to this process. Non-blocking open: a FIFO put there cannot hang the command;
    anything but a regular file is refused."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno in _READ_ONLY:
            return None
        reason = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        raise UnwritableOutput(f"{path.parent}: cannot open its lock file {path.name} ({reason})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OutputLocked(f"{path.parent}: its lock file {path.name} is not a regular file; remove it")
    return fd


def _acquire(directory: Path, name: str) -> int | None:
    """The fd of ``directory``'s lock file, flocked exclusively by this process, this pid written
    in it; None for a directory this process cannot write."""
    path = directory / name
    while True:
        fd = _open_lock_file(path)
        if fd is None:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = holder_pid(directory, name)
            who = f"pid {pid}" if pid is not None else "another process"
            raise OutputLocked(f"{directory} is being written by another csip ({who}); wait for it to end "
                               "or choose another output directory") from None
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file as we opened it: lock the one at the path now
    stale = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    if stale:
        log.info("%s: took over the lock left by pid %s (no longer running)", directory, stale)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def launched_as_rank0() -> bool:
    """Whether this process is rank 0 of its launch (``RANK`` unset, as without torchrun, or
    ``"0"``): the one that holds a torchrun job's lock, read before any process group exists."""
    return os.environ.get("RANK", "0") == "0"


@contextlib.contextmanager
def output_lock(directory: str | os.PathLike, enabled: bool = True, name: str = LOCK_NAME) -> Iterator[Path]:
    """Hold the exclusive lock of ``directory`` (created with its parents if needed) for the
    ``with`` block; yields the directory. :class:`OutputLocked` at once when another process
    holds it. ``enabled=False`` (the other ranks of a torchrun job: rank 0 holds the run's
    lock) makes it a no-op. ``name``: the lock file (the shards of one precompute, which may
    share a directory, each lock their own)."""
    d = Path(directory)
    if not enabled:
        yield d
        return
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnwritableOutput(f"{d}: cannot create it ({exc.strerror or exc})") from None
    key = os.path.join(os.path.realpath(d), name)
    with _guard:
        entry = _held.get(key)
        if entry is None:
            entry = _held[key] = [_acquire(d, name), 0]
        entry[1] += 1
    try:
        yield d
    finally:
        with _guard:
            entry[1] -= 1
            if entry[1] == 0:
                del _held[key]
                if entry[0] is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(d / name)  # before letting go: see the module docstring
                    os.close(entry[0])


__all__ = ["LOCK_NAME", "OutputLocked", "holder_pid", "launched_as_rank0", "output_lock"]
