"""Atomic file writes: a reader sees the old file or the complete new one, never a half-written one.

Every output reelset writes goes through here. The temporary file lives beside the target (same filesystem, so the
final ``os.replace`` is atomic) and is named ``.<name>.tmp-<pid>-<random>`` so that leftovers of a killed run are
recognisable and can be removed with :func:`remove_stale_temps`.

A write that fails leaves nothing behind: its temporary file is removed, and so are the folders it created for the
target, and the cleanup never replaces the write's own error with one of its own. :func:`check_output` is the
check before any of it: a command calls it for each output before it creates, locks or writes anything.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from reelset.core.errors import ReelsetError

TEMP_MARKER = ".tmp-"


def check_output(target: Path, *, folder: bool = False) -> None:
    """Check, touching nothing, that ``target`` (a file, or a folder when ``folder``) can be written: what is there
    is of that kind, and the nearest folder on its path that exists is a folder this process may write in (the
    target's own folder for a file, written by rename; the target itself for an existing folder).

    Raises:
        ReelsetError: ``<target>: <what is wrong>``: a folder where a file is expected or the reverse, a part of
            the path that is a file, a folder without write permission or on a read-only file system.
    """
    target = Path(target)
    try:
        writable = _folder_to_write(target, folder)
    except PermissionError as error:  # a folder on the way that this user may not even look into
        raise ReelsetError(f"{target}: cannot be written: {error.filename or target} is not accessible (check the "
                           "permissions, or write elsewhere)") from None
    if not os.access(writable, os.W_OK | os.X_OK):
        where = f"{target}:" if writable == target else f"{target}: cannot be written: {writable}"
        raise ReelsetError(f"{where} {_why_not_writable(writable)}")


def _folder_to_write(target: Path, folder: bool) -> Path:
    """The folder in which writing ``target`` creates or renames something (see :func:`check_output`)."""
    if target.is_dir():
        if not folder:
            raise ReelsetError(f"{target}: is a folder, expected a file")
        writable = target
    elif target.exists() or target.is_symlink():
        if folder:
            raise ReelsetError(f"{target}: is a file, expected a folder")
        writable = target.parent
    else:
        writable = target.parent
        while not writable.exists() and writable != writable.parent:
            writable = writable.parent
        if not writable.is_dir():
            raise ReelsetError(f"{target}: cannot be created: {writable} is a file, not a folder")
    return writable


def _why_not_writable(folder: Path) -> str:
    with contextlib.suppress(OSError):
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "is on a read-only file system (write to a folder on a writable file system)"
    return "is not writable (check the permissions, or write elsewhere)"


def _make_parents(target: Path) -> list[Path]:
    """Create the missing folders above ``target``; return them, outermost first (for :func:`_remove_folders`)."""
    missing = []
    parent = Path(target).parent
    while not parent.is_dir() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def _remove_folders(folders: list[Path]) -> None:
    """Remove ``folders`` (from :func:`_make_parents`), innermost first, where they are still empty; a folder that
    cannot be removed stays, silently (this runs while another error is being reported)."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


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
    """Yield a temporary path to write; on success it replaces ``target``, on any exception it is removed (with the
    folders made for ``target``), and the exception is the one raised.

    Example::

        with atomic_output(Path("out.mp4")) as tmp:
            run_ffmpeg(..., tmp)
    """
    target = Path(target)
    created = _make_parents(target)
    tmp = temp_path_for(target)
    try:
        yield tmp
        if durable and tmp.exists():
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
        if durable:
            fsync_dir(target.parent)
    except BaseException:
        _discard([tmp])
        _remove_folders(created)
        raise


def _discard(paths: list[Path]) -> None:
    """Remove temporary files; one that cannot be removed is left for :func:`remove_stale_temps` (this runs on the
    way out of a write, often while its own error is being raised: that error is the one to report)."""
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def atomic_write_bytes(target: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_output(target, durable=durable) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path, text: str, *, durable: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"), durable=durable)


class StagedOutputs:
    """Several files that take their final names together, once every one is complete (their names may be known
    only then: ``<stem>-00000-of-00003``): each is written to a temporary path beside ``anchor`` (:meth:`new`), and
    :meth:`commit` renames them all. Made by :func:`atomic_outputs`."""

    def __init__(self, anchor: Path, durable: bool):
        self.anchor = Path(anchor)
        self.durable = durable
        self.paths: list[Path] = []

    def new(self) -> Path:
        """A fresh temporary path for the next file."""
        path = temp_path_for(self.anchor)
        self.paths.append(path)
        return path

    def drop(self, path: Path) -> None:
        """Give up one temporary file (an empty last shard, say)."""
        self.paths.remove(path)
        path.unlink(missing_ok=True)

    def commit(self, targets: list[Path]) -> None:
        """Give the staged files, in order, the names ``targets``."""
        if len(targets) != len(self.paths):
            raise ValueError(f"{len(self.paths)} staged files, {len(targets)} names")
        for path in self.paths:
            if self.durable and path.exists():
                with open(path, "rb+") as handle:
                    os.fsync(handle.fileno())
        for path, target in zip(self.paths, targets):
            os.replace(path, target)
        self.paths = []
        if self.durable:
            fsync_dir(self.anchor.parent)


@contextlib.contextmanager
def atomic_outputs(anchor: Path, *, durable: bool = True) -> Iterator[StagedOutputs]:
    """Several outputs written atomically together (:class:`StagedOutputs`); on any exception, or without a
    commit, every staged file is removed (on an exception, also the folders made for them). Temporary files that a
    killed run left beside ``anchor`` are removed first (:func:`remove_stale_temps_of`).

    Example::

        with atomic_outputs(Path("out.tfrecord")) as staged:
            write(staged.new()); write(staged.new())
            staged.commit([Path("out-00000-of-00002.tfrecord"), Path("out-00001-of-00002.tfrecord")])
    """
    anchor = Path(anchor)
    created = _make_parents(anchor)
    remove_stale_temps_of(anchor)
    staged = StagedOutputs(anchor, durable)
    try:
        yield staged
    except BaseException:
        _discard(staged.paths)
        _remove_folders(created)
        raise
    finally:
        _discard(staged.paths)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def remove_stale_temps_of(target: Path) -> list[Path]:
    """Remove the temporary files of ``target`` (``.<name>.tmp-<pid>-<random>``) whose writing process is gone;
    those of a run still writing (another process, another output in a shared folder) are left alone."""
    target = Path(target)
    removed = []
    prefix = f".{target.name}{TEMP_MARKER}"
    if not target.parent.is_dir():
        return removed
    for path in target.parent.iterdir():
        pid = path.name[len(prefix):].split("-", 1)[0] if path.name.startswith(prefix) else ""
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)) and path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


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
