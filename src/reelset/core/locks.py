"""Exclusive run locks: one process at a time on a folder or a plan, released by the OS when the process dies."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from reelset.core.errors import ReelsetError


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, busy_message: str) -> Iterator[None]:
    """Hold an ``flock`` on ``lock_path`` (created if needed) for the duration; ``kill -9`` releases it too.

    Raises:
        ReelsetError: ``busy_message``, when another process holds the lock.
    """
    handle = open(lock_path, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        raise ReelsetError(busy_message) from exc
    try:
        yield
    finally:
        handle.close()
