"""The one HTTP client of reelset's own downloads (YouTube-8M shards and plans, vocabularies, model files).

Files are written to ``<name>.part`` beside their destination and renamed into place only once complete and
verified (size, and md5 or sha256 when expected), so a final name never holds a partial or corrupt file. A
``.part`` left by an interrupted run is resumed with an HTTP ``Range`` request; a server that ignores the range
(answers 200) is read from the start again. Transient failures (connection errors, timeouts, 5xx, 429) are retried
with capped back-off; a checksum mismatch is retried once from scratch before it becomes an error naming the file.
A host that cannot be reached is named as such, in full: ``<url>: cannot reach <host> (DNS|refused|timeout|TLS)``
(:func:`reelset.core.errors.unreachable`); a TLS failure and a name that does not exist are not retried (they do
not go away by themselves; a temporary DNS failure is).
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from reelset import __version__
from reelset.core.atomic import fsync_dir
from reelset.core.digest import file_digests
from reelset.core.errors import TLS, ReelsetError, exception_chain, network_error, unreachable_kind

USER_AGENT = f"reelset/{__version__}"
STREAM_CHUNK = 64 << 10  # a dropped connection loses at most this much of what arrived
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class HttpError(ReelsetError):
    """A request failed for good: ``status`` is the HTTP status (None for a connection problem); ``unreachable``
    says why the host could not be reached (``"DNS"``, ``"refused"``, ``"timeout"``, ``"TLS"``), None when it was."""

    def __init__(self, message: str, *, status: int | None = None, unreachable: str | None = None):
        super().__init__(message)
        self.status = status
        self.unreachable = unreachable


class _Dropped(requests.ConnectionError):
    """The connection ended before the body did: its message says after how many bytes (the host was reached)."""


def _connection_failure(url: str, exc: requests.RequestException) -> HttpError:
    if isinstance(exc, _Dropped):
        return HttpError(f"{url}: {exc}")
    return HttpError(f"{url}: {network_error(url, exc)}", unreachable=unreachable_kind(exc))


def _for_good(failure: HttpError, exc: BaseException) -> bool:
    """Whether retrying cannot help: a TLS failure, or a host name that does not exist (not a DNS time-out)."""
    return failure.unreachable == TLS or any(
        isinstance(item, socket.gaierror) and item.errno == socket.EAI_NONAME for item in exception_chain(exc))


class ChecksumError(ReelsetError):
    """A downloaded file does not have the expected checksum (it never takes its final name)."""


@dataclass(frozen=True)
class Downloaded:
    path: Path
    bytes: int
    md5: str
    sha256: str
    resumed_from: int  # bytes already there from an earlier, interrupted run


def part_path(destination: Path) -> Path:
    return Path(destination).with_name(Path(destination).name + ".part")


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def _pause(attempt: int, base: float) -> None:
    time.sleep(min(30.0, base * 2 ** (attempt - 1)) * random.uniform(0.75, 1.25))


def fetch_bytes(url: str, *, timeout: float = 30, retries: int = 3, backoff: float = 1.0,
                session: requests.Session | None = None) -> bytes:
    """GET a small resource (a plan, a vocabulary, a JSONP answer) with retries; raise :class:`HttpError` (its
    ``status`` set for an HTTP error, its ``unreachable`` for a host that could not be reached)."""
    session = session or _session()
    for attempt in range(1, retries + 1):
        try:
            response = session.get(url, timeout=timeout)
        except requests.RequestException as exc:
            failure = _connection_failure(url, exc)
            if attempt == retries or _for_good(failure, exc):
                raise failure from exc
        else:
            if response.status_code == 200:
                return response.content
            if response.status_code not in RETRY_STATUSES or attempt == retries:
                raise HttpError(f"{url}: HTTP {response.status_code}", status=response.status_code)
        _pause(attempt, backoff)
    raise AssertionError("unreachable")


def content_length(url: str, *, timeout: float = 30, session: requests.Session | None = None) -> int | None:
    """The size the server announces for ``url`` (HEAD), or None when it does not say or cannot be asked."""
    try:
        response = (session or _session()).head(url, timeout=timeout, allow_redirects=True)
    except requests.RequestException:
        return None
    length = response.headers.get("Content-Length")
    return int(length) if response.status_code == 200 and length and length.isdigit() else None


def _transfer(session: requests.Session, url: str, part: Path, timeout: float,
              on_progress: Callable[[int, int | None], None] | None) -> int:
    """Append the rest of ``url`` to ``part`` (Range from its size); return the bytes it had before."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
        if response.status_code == 416 and have:
            return have  # nothing left to fetch: the part is complete (the checksum decides)
        if response.status_code not in (200, 206):
            raise HttpError(f"{url}: HTTP {response.status_code}", status=response.status_code)
        if response.status_code == 200:
            have = 0  # the server ignored the range: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        done = have
        part.parent.mkdir(parents=True, exist_ok=True)  # only now: a host that cannot be reached leaves no folder
        with open(part, "ab" if have else "wb") as handle:
            try:
                for chunk in response.iter_content(STREAM_CHUNK):
                    handle.write(chunk)
                    done += len(chunk)
                    if on_progress:
                        on_progress(done, total)
            except requests.RequestException as exc:
                raise _Dropped(f"connection dropped after {done} of {total or '?'} bytes") from exc
            finally:
                handle.flush()
            os.fsync(handle.fileno())
        if total is not None and done != total:
            raise _Dropped(f"connection closed after {done} of {total} bytes")
        return have


def download_file(
    url: str,
    destination: Path,
    *,
    expected_md5: str | None = None,
    expected_sha256: str | None = None,
    timeout: float = 30,
    retries: int = 4,
    backoff: float = 1.0,
    checksum_retries: int = 1,
    on_progress: Callable[[int, int | None], None] | None = None,
    session: requests.Session | None = None,
) -> Downloaded:
    """Download ``url`` to ``destination`` resumably and atomically; see the module docstring.

    Args:
        on_progress: called with ``(bytes so far, total or None)`` as data arrives.

    Raises:
        HttpError: the server refused (4xx other than 408/425/429), kept failing, or could not be reached.
        ChecksumError: the file's checksum was wrong on every try; no file is left under either name.
    """
    destination = Path(destination)
    part = part_path(destination)
    session = session or _session()
    first_resume: int | None = None
    for checksum_try in range(checksum_retries + 1):
        for attempt in range(1, retries + 1):
            try:
                resumed = _transfer(session, url, part, timeout, on_progress)
                first_resume = resumed if first_resume is None else first_resume
                break
            except HttpError as exc:
                if exc.status not in RETRY_STATUSES or attempt == retries:
                    raise
            except requests.RequestException as exc:
                failure = _connection_failure(url, exc)
                if attempt == retries or _for_good(failure, exc):
                    raise failure from exc
            _pause(attempt, backoff)
        md5, sha256 = file_digests(part, ("md5", "sha256"))
        wrong = [name for name, want, got in (("md5", expected_md5, md5), ("sha256", expected_sha256, sha256))
                 if want and want.lower() != got]
        if not wrong:
            size = part.stat().st_size
            os.replace(part, destination)
            fsync_dir(destination.parent)
            return Downloaded(destination, size, md5, sha256, first_resume or 0)
        part.unlink()  # a bad file is never resumed from, nor renamed into place
    raise ChecksumError(f"{destination.name}: {wrong[0]} does not match after {checksum_retries + 1} download(s) "
                        f"from {url}")
