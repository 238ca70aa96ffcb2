"""The run lock: only one grading run (or one run of a shard) at a time.

A run holds an exclusive :func:`fcntl.flock` on a lock file, which names the
process that holds it; the operating system releases it when that process
ends, however it ends.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from softsign_grader.course import GradingError

try:
    import fcntl
except ImportError:  # Windows: runs are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = ["release_inherited_locks", "run_lock"]

#: Lock files this process holds; a forked worker closes its copies.
_held_locks: set[int] = set()


@contextlib.contextmanager
def run_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive :func:`fcntl.flock` on ``path`` (created, never deleted).

    The file then names this process (pid, host, start time, command). If another
    process holds the lock, :class:`GradingError` says which one and what it guards
    (``what``), at once. The operating system releases the lock when its process
    ends, however it ends, so a lock is never stale.
    """
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GradingError(
                f"{what} is already running: {_lock_holder(path)}. Wait for it to end, or "
                f"stop that process; its lock ({path}) is released when it ends."
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        _held_locks.add(fd)
        try:
            yield
        finally:
            _held_locks.discard(fd)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _lock_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        return (
            f"process {holder['pid']} on {holder['host']}, since {holder['since']} "
            f"({holder['command']})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (which has not written its name yet)"


def release_inherited_locks() -> None:
    """Close the lock files a forked process inherited: a lock belongs to its taker."""
    for fd in list(_held_locks):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held_locks.clear()
