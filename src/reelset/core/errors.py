"""The error type every command reports as one clear line, and :func:`one_line` to describe a caught exception."""

from __future__ import annotations

import errno


class ReelsetError(Exception):
    """A failure the user can act on: the message names the thing and what is wrong, on one line.

    The CLI prints ``error: <message>`` and exits with ``exit_code``; library callers can catch it.
    """

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(" ".join(str(message).split()))
        if exit_code is not None:
            self.exit_code = exit_code


def one_line(error: BaseException, *, limit: int | None = None, strerror: bool = False, first_line: bool = False,
             typed: bool = False) -> str:
    """``error`` described on one line, for the part of a message that says why something failed.

    The text is the exception's message with every run of whitespace (newlines included) made one space, cut to
    its first ``limit`` characters; when that leaves nothing, the exception's type name stands in, so the
    description is never empty. For example ``f"{path}: not readable ({one_line(exc, limit=160)})"``.

    Args:
        limit: the most characters of the message kept (None: all of it).
        strerror: use an ``OSError``'s ``strerror`` ("No such file or directory") when it has one, rather than its
            full text, which repeats the path the caller's message names already.
        first_line: keep only the first line of the message (torch and TensorFlow put pages of detail after it).
        typed: prefix the type name, ``"ValueError: bad value"`` (for failures whose type is itself news, such as
            a task that failed on a cluster worker).
    """
    text = (getattr(error, "strerror", None) if strerror else None) or str(error)
    if first_line:
        text = (text.strip().splitlines() or [""])[0]
    text = " ".join(text.split())[:limit]
    name = type(error).__name__
    if typed:
        return f"{name}: {text}" if text else name
    return text or name


_OS_HINTS = {
    errno.ENOSPC: "free some space, or write elsewhere",
    errno.EDQUOT: "free some space, or write elsewhere",
    errno.EROFS: "write to a folder on a writable file system",
    errno.EACCES: "check the permissions, or write elsewhere",
    errno.EPERM: "check the permissions, or write elsewhere",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "something that is not a folder is in the way",
    errno.EISDIR: "give a file, not a folder",
}


def os_error_line(error: OSError) -> str:
    """An operating system's refusal as ``<path>: <what is wrong> (<hint>)``: the one line the command line prints
    for an ``OSError`` that no step turned into a :class:`ReelsetError` (a full disk, a read-only folder, a path
    under a file)."""
    paths = [str(path) for path in (error.filename, error.filename2) if path is not None]
    what = error.strerror or one_line(error)
    hint = _OS_HINTS.get(error.errno)
    text = f"{' -> '.join(paths)}: {what}" if paths else what
    return f"{text} ({hint})" if hint else text

