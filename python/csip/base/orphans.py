"""Child processes that never outlive their parent.

A worker process forked by a pool is re-parented to PID 1 (or a subreaper) when its parent
dies without stopping it (SIGKILL, a crash, the out-of-memory killer), and then lives on,
holding files open. :func:`die_with_parent`, called first thing in a worker, prevents that:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (through ctypes): the kernel kills the worker
  the moment the thread that forked it ends (here: the parent's main thread, so its death);
- everywhere, a daemon thread polls ``os.getppid()`` every ``interval`` seconds and exits the
  worker when the parent is no longer ``parent_pid`` (the fallback where prctl is missing, and
  the guard against the parent dying between the fork and the prctl call).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only);
    whether it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # this process's symbols: libc's prctl, no ldconfig run
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process now holds the pid
        return False
    return True


def _orphaned(parent_pid: int, first_ppid: int) -> bool:
    """The parent is gone: this process was re-parented, or ``parent_pid`` no longer exists."""
    return os.getppid() != first_ppid or not _alive(parent_pid)


def _watch(parent_pid: int, first_ppid: int, interval: float) -> None:
    while True:
        if _orphaned(parent_pid, first_ppid):
            os._exit(1)
        time.sleep(interval)


def die_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Make this (worker) process exit when the process ``parent_pid`` that started it dies:
    the death signal, then a check that the parent is still there (it may have died before),
    then a watchdog thread. See the module docstring.

    ``parent_pid`` is usually this process's parent; under the ``forkserver`` start method the
    parent is the fork server, and the watchdog then also checks that ``parent_pid`` exists."""
    first_ppid = os.getppid()
    set_parent_death_signal(signal.SIGKILL)
    if first_ppid == 1 or _orphaned(parent_pid, first_ppid):
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid, first_ppid, interval), name="csip-parent-watchdog",
                     daemon=True).start()
