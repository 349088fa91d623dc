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



# Why a host could not be reached, as :func:`unreachable` names it.
DNS, REFUSED, TIMEOUT, TLS = "DNS", "refused", "timeout", "TLS"
_DNS_TEXT = ("name or service not known", "nodename nor servname", "temporary failure in name resolution",
             "failed to resolve", "getaddrinfo failed", "no address associated with hostname", "name resolution")


def exception_chain(error: BaseException) -> list[BaseException]:
    """``error`` and every exception behind it: ``__cause__``, ``__context__``, and what the HTTP clients keep
    elsewhere (urllib3's ``reason``, requests' first argument)."""
    seen: list[BaseException] = []
    pending = [error]
    while pending and len(seen) < 32:
        current = pending.pop(0)
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None),
                    *(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))]
        pending = [item for item in pending if isinstance(item, BaseException)]
    return seen


def unreachable_kind(error: BaseException) -> str | None:
    """Why ``error`` (from requests, urllib3, httpx, huggingface_hub, urllib or a socket) means its host was not
    reached: :data:`DNS` (the name does not resolve), :data:`REFUSED` (nothing listens), :data:`TIMEOUT` (no
    answer in time), :data:`TLS` (no secure connection); None for anything else (an HTTP status, a connection
    dropped mid-transfer, a bad URL)."""
    import socket
    import ssl

    chain = exception_chain(error)
    names = {kind.__name__ for item in chain for kind in type(item).__mro__}
    texts = " ".join(str(item) for item in chain).lower()
    if any(isinstance(item, (ssl.SSLError, ssl.CertificateError)) for item in chain) or "SSLError" in names:
        return TLS
    if any(isinstance(item, socket.gaierror) for item in chain) or "NameResolutionError" in names \
            or any(text in texts for text in _DNS_TEXT):
        return DNS
    if any(isinstance(item, ConnectionRefusedError) or getattr(item, "errno", None) == errno.ECONNREFUSED
           for item in chain) or "connection refused" in texts:
        return REFUSED
    if any(isinstance(item, TimeoutError) or getattr(item, "errno", None) == errno.ETIMEDOUT for item in chain) \
            or any("Timeout" in name for name in names):
        return TIMEOUT
    return None


def host_of(url: str) -> str:
    """The ``host`` or ``host:port`` of ``url`` (user and password left out), or ``url`` itself when it has none."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return url
    if not host:
        return url
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def unreachable(url: str, error: BaseException) -> str | None:
    """``cannot reach <host> (<DNS|refused|timeout|TLS>)`` when ``error`` means that the host of ``url`` could not
    be reached (see :func:`unreachable_kind`), else None, for the caller's own description."""
    kind = unreachable_kind(error)
    return f"cannot reach {host_of(url)} ({kind})" if kind else None


def network_error(url: str, error: BaseException) -> str:
    """What went wrong talking to ``url``, in full, on one line: :func:`unreachable`'s words when they apply,
    else the exception's type and message."""
    return unreachable(url, error) or f"{type(error).__name__} ({one_line(error)})"
