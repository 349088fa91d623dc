"""Exclusive run locks: one process at a time on a folder or a plan, released by the OS when the process dies."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from reelset.core.errors import ReelsetError


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, busy_message: str) -> Iterator[None]:
    """Hold an ``flock`` on ``lock_path`` (created if needed) for the duration; ``kill -9`` releases it too.

    A run that ends in an error removes the lock file when it created it, so that a run that could not start leaves
    nothing behind; a run that finishes leaves it (as earlier versions did). Removing a lock file is safe with other
    processes waiting: it is removed while still held, and whoever then gets a lock checks that it is the file now
    at ``lock_path`` (else it tries again).

    Raises:
        ReelsetError: ``busy_message``, when another process holds the lock.
    """
    lock_path = Path(lock_path)
    fd, created = _acquire(lock_path, busy_message)
    try:
        yield
    except BaseException:
        if created:
            with contextlib.suppress(OSError):  # the run's own error is the one to report
                lock_path.unlink()
        raise
    finally:
        os.close(fd)


def _acquire(lock_path: Path, busy_message: str) -> tuple[int, bool]:
    """``(descriptor holding the lock, whether this call created the file)``."""
    while True:
        try:
            fd, created = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), True
        except FileExistsError:
            try:
                fd, created = os.open(lock_path, os.O_WRONLY), False
            except FileNotFoundError:  # removed since: try again
                continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise ReelsetError(busy_message) from exc
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            return fd, created
        os.close(fd)  # a file its failed holder removed before we got it: lock the one there now
