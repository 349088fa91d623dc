"""Atomic file writes: a reader sees the old file or the complete new one, never a half-written one.

Every output reelset writes goes through here. The temporary file lives beside the target (same filesystem, so the
final ``os.replace`` is atomic) and is named ``.<name>.tmp-<pid>-<random>`` so that leftovers of a killed run are
recognisable and can be removed with :func:`remove_stale_temps`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

TEMP_MARKER = ".tmp-"


def temp_path_for(target: Path) -> Path:
    """A fresh temporary path beside ``target``."""
    target = Path(target)
    return target.with_name(f".{target.name}{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")


def is_temp_path(path: Path) -> bool:
    """Whether ``path`` is a temporary file made by :func:`temp_path_for`."""
    name = Path(path).name
    return name.startswith(".") and TEMP_MARKER in name


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort on filesystems that refuse it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_output(target: Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target``, on any exception it is removed.

    Example::

        with atomic_output(Path("out.mp4")) as tmp:
            run_ffmpeg(..., tmp)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        yield tmp
        if durable and tmp.exists():
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
        if durable:
            fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(target: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_output(target, durable=durable) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path, text: str, *, durable: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"), durable=durable)


def remove_stale_temps(directory: Path) -> list[Path]:
    """Remove temporary files left in ``directory`` by killed runs; return what was removed."""
    removed = []
    if not Path(directory).is_dir():
        return removed
    for path in Path(directory).iterdir():
        if path.is_file() and is_temp_path(path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed
