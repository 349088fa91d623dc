"""Real HTTP servers on 127.0.0.1 for the tests and the demo.

The toolkit is tested against the real clients (yt-dlp, ffmpeg, ``huggingface_hub``), so the stand-ins for the
internet must speak real HTTP with the details those clients depend on: byte ranges (ffmpeg seeks to a trailing
``moov`` atom, yt-dlp and ``huggingface_hub`` resume with ``Range``), exact ``Content-Length``, and the Hub's
headers and error codes. Python's ``http.server`` alone has no ``Range`` support: with it a section download of a
non-faststart mp4 yields a broken file while yt-dlp exits 0, which is the trap these servers exist to avoid.

Three classes:

- :class:`LocalServer`: the lifecycle (free port, daemon thread, prompt close), the request log, fault injection
  and the bandwidth throttle, shared by the two servers below.
- :class:`MediaServer`: static files under a folder, the way a video host or CDN serves them.
- :class:`FakeHub`: dataset repos from local folders, behind the endpoints ``huggingface_hub`` calls.

Only the standard library is used, so the servers run wherever the tests run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal, Self
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["FakeHub", "Fault", "LocalServer", "MediaServer", "RequestRecord"]

_CHUNK_BYTES = 64 * 1024
# A throttled body is written in pieces of about this many seconds, so the rate is smooth and a close is prompt.
_PACE_SECONDS = 0.05
# How often the accept loop checks for shutdown: bounds how long close() waits for it.
_POLL_SECONDS = 0.05

_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".json": "application/json",
    ".parquet": "application/octet-stream",
    # yt-dlp's generic extractor treats a URL as a direct media link only when the Content-Type is audio/* or
    # video/*, so the other containers the generators write get their real types too.
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".mov": "video/quicktime",
    ".mp3": "audio/mpeg",
}
_DEFAULT_CONTENT_TYPE = "application/octet-stream"
_SINGLE_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it, for tests that assert on client behaviour (retries, ranges, pacing).

    ``time`` is wall-clock ``time.time()`` so it can be compared with timestamps taken in other processes.
    ``headers`` has lower-cased names, because clients differ in how they spell them (httpx sends ``range``,
    urllib ``Range``). ``status`` is the status sent, or 0 when the server sent none (a stall ended by close()).
    """

    time: float
    method: str
    path: str
    headers: dict[str, str]
    status: int


@dataclass(frozen=True)
class Fault:
    """A misbehaviour to inject into the responses whose path contains a pattern (see ``LocalServer.set_fault``).

    Kinds:
        ``status``: answer ``status`` (404, 403, 429, 503, ...) with a short text body and extra ``headers``
            (e.g. ``{"Retry-After": "1"}``).
        ``drop``: send the headers announcing the full length, then ``after_bytes`` of the body, then close the
            connection, like a server or proxy that dies mid-body. Clients see a short read. HEAD requests are
            left alone (they have no body) and do not count against ``times``.
        ``stall``: read the request, then send nothing for ``seconds`` (0: until the server closes), so the client's
            timeout is what ends the exchange. A stall that outlives its ``seconds`` goes on to a normal response.

    ``times`` is how many matching requests get the fault (None: all of them); ``Fault("drop", after_bytes=50_000,
    times=1)`` breaks the first transfer only, so a client that resumes with ``Range`` recovers.
    """

    kind: Literal["status", "drop", "stall"]
    status: int = 0
    after_bytes: int = 0
    seconds: float = 0
    times: int | None = None
    headers: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("status", "drop", "stall"):
            raise ValueError(f"unknown fault kind {self.kind!r}: use 'status', 'drop' or 'stall'")
        if self.kind == "status" and not 100 <= self.status <= 599:
            raise ValueError(f"a 'status' fault needs an HTTP status code, got {self.status}")
        if self.after_bytes < 0 or self.seconds < 0 or (self.times is not None and self.times < 0):
            raise ValueError("after_bytes, seconds and times cannot be negative")


class _FaultTable:
    """Faults by path pattern, with their remaining counts, shared by all request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, tuple[Fault, int | None]] = {}

    def set(self, pattern: str, fault: Fault) -> None:
        with self._lock:
            self._rules[pattern] = (fault, fault.times)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, path: str, *, head: bool) -> Fault | None:
        """Return the fault for this request, if any, and count it against its ``times``.

        A ``drop`` cuts a body, so it skips HEAD requests: otherwise the metadata HEAD that ``huggingface_hub``
        sends before each GET would use up a ``times=1`` drop meant for the transfer.
        """
        with self._lock:
            for pattern, (fault, remaining) in self._rules.items():
                if pattern in path and remaining != 0 and not (head and fault.kind == "drop"):
                    self._rules[pattern] = (fault, None if remaining is None else remaining - 1)
                    return fault
        return None


class _UnsatisfiableRange(ValueError):
    """The Range header asks for bytes the file does not have: the answer is 416."""


def _parse_byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Parse a single-range ``Range`` header into the inclusive (first, last) byte positions to send.

    Returns None when the whole file should be sent: no header, a header we may ignore (RFC 9110 lets a server
    ignore malformed ranges and multi-range requests, which none of our clients send). Raises
    :class:`_UnsatisfiableRange` when the range starts past the end of the file or is an empty suffix.
    """
    match = _SINGLE_RANGE.fullmatch(header.strip()) if header is not None else None
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first_text, last_text = match.groups()
    if not first_text:  # bytes=-n: the last n bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise _UnsatisfiableRange(header)
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:  # invalid, so ignorable (not unsatisfiable)
        return None
    if first >= size:
        raise _UnsatisfiableRange(header)
    return first, min(int(last_text), size - 1) if last_text else size - 1


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a code http.HTTPStatus does not name, e.g. Cloudflare's 520
        return "Error"


def _file_chunks(handle: IO[bytes], offset: int, length: int) -> Iterator[bytes]:
    """Yield ``length`` bytes of an open file from ``offset`` in chunks, so big files never sit in memory."""
    handle.seek(offset)
    while length > 0:
        chunk = handle.read(min(_CHUNK_BYTES, length))
        if not chunk:
            return
        length -= len(chunk)
        yield chunk


class _Handler(BaseHTTPRequestHandler):
    """One connection. Speaks HTTP/1.1 so clients keep connections alive as they do against real servers."""

    protocol_version = "HTTP/1.1"
    server: _Server
    # Set per request by LocalServer: how many body bytes to send before dropping the connection (None: all).
    body_limit: int | None = None

    def do_GET(self) -> None:
        self.server.owner._dispatch(self, head=False)

    def do_HEAD(self) -> None:
        self.server.owner._dispatch(self, head=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: per-request lines on stderr would bury test output. ``LocalServer.requests`` has them."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Record the request: ``send_response`` calls this with the status, which is what the log needs."""
        self.server.owner._record(self, int(code))

    def start_response(self, status: int, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def send_bytes(
        self, status: int, body: bytes, content_type: str, *, head: bool, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send a small in-memory body (JSON, error text) with its exact length."""
        self.start_response(
            status, {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})}
        )
        if not head:
            self.write_body([body])

    def send_file(
        self, path: Path, content_type: str, *, head: bool, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send a file or the byte range the request asks for (200, 206 or 416), streamed from disk."""
        size = path.stat().st_size
        common = {"Accept-Ranges": "bytes", **(headers or {})}
        try:
            byte_range = _parse_byte_range(self.headers.get("Range"), size)
        except _UnsatisfiableRange:
            self.send_bytes(
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, b"", content_type, head=head,
                headers={**common, "Content-Range": f"bytes */{size}"},
            )
            return
        if byte_range is None:
            status, first, last = HTTPStatus.OK, 0, size - 1
        else:
            status, (first, last) = HTTPStatus.PARTIAL_CONTENT, byte_range
            common["Content-Range"] = f"bytes {first}-{last}/{size}"
        length = last - first + 1
        self.start_response(status, {"Content-Type": content_type, "Content-Length": str(length), **common})
        if not head:
            with path.open("rb") as handle:
                self.write_body(_file_chunks(handle, first, length))

    def write_body(self, chunks: Iterable[bytes]) -> None:
        """Write a body, honouring an injected drop and the throttle; a client that hangs up is not an error.

        Clients hang up mid-body on purpose: yt-dlp's generic extractor GETs a direct video, reads the headers and
        closes. So broken pipes end the response quietly instead of printing tracebacks.
        """
        remaining = self.body_limit
        try:
            for chunk in chunks:
                if remaining is not None:
                    chunk = chunk[:remaining]
                    remaining -= len(chunk)
                if not self._write_paced(chunk) or remaining == 0:
                    break
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if remaining is not None or self.server.owner._closing.is_set():
            self.close_connection = True

    def _write_paced(self, data: bytes) -> bool:
        """Write ``data`` at the server's current ``bytes_per_second``; False when the server closed meanwhile."""
        view = memoryview(data)
        owner = self.server.owner
        while view:
            rate = owner.bytes_per_second
            step = len(view) if not rate else max(1, min(len(view), int(rate * _PACE_SECONDS)))
            self.wfile.write(view[:step])
            view = view[step:]
            if rate and owner._closing.wait(step / rate):
                return False
        return True


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its open connections, so close() can cut them, stalled ones included."""

    daemon_threads = True

    def __init__(self, owner: LocalServer) -> None:
        self.owner: LocalServer = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Shut down every open connection: blocked reads see EOF and blocked writes a broken pipe, at once."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its own thread: nothing left to cut
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up (the normal end of a cancelled download); report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LocalServer(ABC):
    """An HTTP server on 127.0.0.1 at a free port, serving from a daemon thread until ``close()``.

    It starts in the constructor, so ``url`` is usable at once; use it as a context manager to close it. Tests
    share one machine with parallel runs, hence port 0 rather than a fixed port.

    Shared by the subclasses: the request log (``requests``), fault injection (``set_fault``) and a bandwidth
    throttle for bodies (``bytes_per_second``, settable while running, e.g. to keep a download in flight long enough
    to interrupt it).
    """

    def __init__(self, *, bytes_per_second: float | None = None) -> None:
        self.bytes_per_second = bytes_per_second
        self._closing = threading.Event()
        self._faults = _FaultTable()
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._httpd = _Server(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": _POLL_SECONDS},
            name=f"{type(self).__name__}:{self.port}", daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:40123``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def set_fault(self, pattern: str, fault: Fault) -> None:
        """Inject ``fault`` into requests whose path (with query) contains ``pattern``; replaces that pattern's fault.

        Patterns are checked in the order they were first set; the first one that matches applies.
        """
        self._faults.set(pattern, fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    def close(self) -> None:
        """Stop serving and cut open connections. Idempotent, and prompt even while a client holds a stalled
        connection: the stall waits on ``_closing`` and the connection is shut down under it."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.cut_connections()
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url})"

    @abstractmethod
    def _respond(self, request: _Handler, *, head: bool) -> None:
        """Answer one GET or HEAD request (faults already applied)."""

    def _dispatch(self, request: _Handler, *, head: bool) -> None:
        """Apply an injected fault, if one matches, then let the subclass answer."""
        fault = self._faults.take(request.path, head=head)
        request.body_limit = fault.after_bytes if fault is not None and fault.kind == "drop" else None
        if fault is not None and fault.kind == "status":
            body = f"{fault.status} {_reason(fault.status)} (injected fault)\n".encode()
            request.send_bytes(fault.status, body, "text/plain; charset=utf-8", head=head, headers=fault.headers)
            return
        if fault is not None and fault.kind == "stall" and self._closing.wait(fault.seconds or None):
            request.close_connection = True
            self._record(request, 0)
            return
        self._respond(request, head=head)

    def _record(self, request: _Handler, status: int) -> None:
        # A request line too malformed to parse is answered (400) before ``path`` and ``headers`` exist.
        headers = getattr(request, "headers", None)
        record = RequestRecord(
            time=time.time(),
            method=request.command or "",
            path=getattr(request, "path", ""),
            headers={name.lower(): value for name, value in (headers or {}).items()},
            status=status,
        )
        with self._log_lock:
            self._log.append(record)


class MediaServer(LocalServer):
    """Serves the files under ``root`` like a video host: Range requests, HEAD, content types, no listings.

    Paths map to files under ``root`` (``/a/b.mp4`` -> ``root/a/b.mp4``); anything else, including paths that
    resolve outside ``root`` (``..``, symlinks), is a 404. ``add_redirect`` makes a page-like path (``/watch/<id>``)
    answer ``302 Found`` to a file, the way a video page resolves to its media for yt-dlp.
    """

    def __init__(self, root: Path, bytes_per_second: float | None = None) -> None:
        self.root = Path(root).resolve()
        self._redirects: dict[str, str] = {}
        super().__init__(bytes_per_second=bytes_per_second)

    def add_redirect(self, path: str, target: str) -> None:
        """Answer requests for ``path`` (exact, query ignored) with ``302 Found`` to ``target`` (a path or URL)."""
        self._redirects[path] = target

    def url_for(self, relative_path: str | Path) -> str:
        """The URL of a file under ``root``, given its path relative to ``root``."""
        return f"{self.url}/{Path(relative_path).as_posix().lstrip('/')}"

    def _respond(self, request: _Handler, *, head: bool) -> None:
        target = self._redirects.get(urlsplit(request.path).path)
        if target is not None:
            request.send_bytes(HTTPStatus.FOUND, b"", "text/plain; charset=utf-8", head=head,
                               headers={"Location": target})
            return
        path = self._local_path(request.path)
        if path is None:
            request.send_bytes(HTTPStatus.NOT_FOUND, b"404 Not Found\n", "text/plain; charset=utf-8", head=head)
            return
        content_type = _CONTENT_TYPES.get(path.suffix.lower(), _DEFAULT_CONTENT_TYPE)
        request.send_file(path, content_type, head=head)

    def _local_path(self, request_path: str) -> Path | None:
        """The file a request path names, or None when there is none inside ``root``."""
        relative = unquote(urlsplit(request_path).path).lstrip("/")
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate


# Suffixes stored in Git LFS on the Hub (as in its default .gitattributes); their ETag is the content's sha256.
_LFS_SUFFIXES = frozenset({".parquet", ".arrow", ".tfrecord", ".mp4", ".bin", ".zip", ".tar", ".gz"})
_REVISIONS_FOLDER = ".revisions"
_DEFAULT_BRANCH = "main"


@dataclass(frozen=True)
class _RepoFile:
    """A file of a repo at a revision, with the identifiers the Hub reports for it."""

    path: str
    local: Path
    size: int
    blob_id: str  # git blob sha1 of what git stores: the content, or the LFS pointer for LFS files
    sha256: str | None  # content sha256, for LFS files only

    @property
    def lfs_pointer_size(self) -> int:
        return len(_lfs_pointer(self.sha256 or "", self.size))

    def tree_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "oid": self.blob_id, "size": self.size, "path": self.path}
        if self.sha256 is not None:
            entry["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": self.lfs_pointer_size}
        return entry


@dataclass(frozen=True)
class _Snapshot:
    """All files of a repo at one revision, and the commit sha that names them."""

    sha: str
    files: dict[str, _RepoFile]


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()




class FakeHub(LocalServer):
    """A fake Hugging Face Hub serving dataset repos from local folders to the real ``huggingface_hub`` client.

    ``repos`` maps repo ids (``facebook/action100m-preview``) to folders whose files, recursively, are the repo's files
    on ``main``. A subfolder ``.revisions/<branch>/`` holds the files of another branch. Repo ids match
    case-insensitively, as on the real Hub. Point the client at it with ``endpoint=hub.url`` (``snapshot_download``,
    ``hf_hub_download``, ``HfApi``); ``HF_ENDPOINT`` works too but ``huggingface_hub`` reads it once, at import.

    Endpoints (those ``snapshot_download`` and ``hf_hub_download`` call in huggingface_hub 2.4):
        ``GET /api/datasets/{repo}[/revision/{rev}]``: repo info with ``sha`` and ``siblings``.
        ``GET /api/datasets/{repo}/tree/{rev}[/{path}]?recursive=``: the listing, one page (no ``Link`` header);
            ``expand`` is accepted and ignored.
        ``HEAD|GET /datasets/{repo}/resolve/{rev}/{path}``: the file, with ``X-Repo-Commit``, a quoted ``ETag`` and
            ``Range`` support. LFS-like files (.parquet, ...) are served as the Hub serves LFS files: the listing
            carries their sha256 and ``X-Linked-Etag``/``X-Linked-Size`` name it, so the client can verify a file it
            already has by hashing it instead of downloading it again.

    The commit sha is derived from the files' names and contents, so it changes when a test edits a folder, like a
    push would. Errors carry the Hub's ``X-Error-Code`` header, which is what the client turns into its error
    classes: unknown repo 401 ``RepoNotFound`` (``RepositoryNotFoundError``), unknown revision 404
    ``RevisionNotFound`` (``RevisionNotFoundError``), missing file 404 ``EntryNotFound``
    (``RemoteEntryNotFoundError``).

    Client behaviour worth knowing (huggingface_hub 2.4, seen against this server; not changed here):
        - Offline (``HF_HUB_OFFLINE=1``), ``snapshot_download(local_dir=...)`` sends nothing and returns a non-empty
          ``local_dir``. It raises ``IncompleteSnapshotError`` only when it can resolve the revision to a commit (a
          sha, or ``refs/<branch>`` under ``cache_dir`` from an earlier online call); otherwise a partial folder comes
          back without error. Callers must check completeness themselves.
        - The same fallback applies online when the repo-info call fails (401 unknown repo, 5xx): a non-empty
          ``local_dir`` is returned with a warning instead of the error.
        - ``local_dir`` downloads still write ``refs/`` under ``cache_dir`` (default ``~/.cache/huggingface/hub``).
    """

    def __init__(self, repos: Mapping[str, Path], bytes_per_second: float | None = None) -> None:
        self._repos = {repo_id.lower(): (repo_id, Path(folder).resolve()) for repo_id, folder in repos.items()}
        self._hashes: dict[tuple[Path, int, int], tuple[str, str]] = {}
        self._hashes_lock = threading.Lock()
        super().__init__(bytes_per_second=bytes_per_second)

    def commit_sha(self, repo_id: str, revision: str = _DEFAULT_BRANCH) -> str:
        """The commit sha the hub reports for a repo's revision now (it follows the folder's current content)."""
        _, folder = self._repos[repo_id.lower()]
        snapshot = self._snapshots(folder).get(revision)
        if snapshot is None:
            raise KeyError(f"{repo_id} has no revision {revision!r}")
        return snapshot.sha

    def _respond(self, request: _Handler, *, head: bool) -> None:
        split = urlsplit(request.path)
        for prefix, handler in (("/api/datasets/", self._api), ("/datasets/", self._resolve)):
            if split.path.startswith(prefix):
                rest = split.path[len(prefix) :]
                repo = self._find_repo(rest)
                if repo is None:
                    self._error(request, HTTPStatus.UNAUTHORIZED, "RepoNotFound", "Repository not found", head=head)
                    return
                repo_id, folder = repo
                handler(request, repo_id, folder, rest[len(repo_id) :].lstrip("/"), split.query, head=head)
                return
        request.send_bytes(HTTPStatus.NOT_FOUND, b"404 Not Found\n", "text/plain; charset=utf-8", head=head)

    def _find_repo(self, rest: str) -> tuple[str, Path] | None:
        """The repo a path (after ``/api/datasets/`` or ``/datasets/``) names, matched case-insensitively."""
        lowered = rest.lower()
        for key, repo in self._repos.items():
            if lowered == key or lowered.startswith(key + "/"):
                return repo
        return None

    def _api(self, request: _Handler, repo_id: str, folder: Path, tail: str, query: str, *, head: bool) -> None:
        parts = tail.split("/") if tail else []
        if not parts or (parts[0] == "revision" and len(parts) == 2):
            revision = unquote(parts[1]) if parts else _DEFAULT_BRANCH
            snapshot = self._snapshot_or_error(request, folder, revision, head=head)
            if snapshot is not None:
                self._send_json(request, self._repo_info(repo_id, snapshot), snapshot, head=head)
        elif parts[0] == "tree" and len(parts) >= 2:
            snapshot = self._snapshot_or_error(request, folder, unquote(parts[1]), head=head)
            if snapshot is not None:
                self._tree(request, snapshot, unquote("/".join(parts[2:])), query, head=head)
        else:
            request.send_bytes(HTTPStatus.NOT_FOUND, b"404 Not Found\n", "text/plain; charset=utf-8", head=head)

    def _resolve(self, request: _Handler, repo_id: str, folder: Path, tail: str, query: str, *, head: bool) -> None:
        kind, _, rest = tail.partition("/")
        revision, _, file_path = rest.partition("/")
        if kind != "resolve" or not revision:
            request.send_bytes(HTTPStatus.NOT_FOUND, b"404 Not Found\n", "text/plain; charset=utf-8", head=head)
            return
        snapshot = self._snapshot_or_error(request, folder, unquote(revision), head=head)
        if snapshot is None:
            return
        repo_file = snapshot.files.get(unquote(file_path))
        if repo_file is None:
            self._error(request, HTTPStatus.NOT_FOUND, "EntryNotFound", "Entry not found", head=head,
                        headers={"X-Repo-Commit": snapshot.sha})
            return
        headers = {"X-Repo-Commit": snapshot.sha, "ETag": f'"{repo_file.blob_id}"'}
        if repo_file.sha256 is not None:
            headers.update({"X-Linked-Etag": f'"{repo_file.sha256}"', "X-Linked-Size": str(repo_file.size)})
        request.send_file(repo_file.local, _DEFAULT_CONTENT_TYPE, head=head, headers=headers)

    def _tree(self, request: _Handler, snapshot: _Snapshot, folder_path: str, query: str, *, head: bool) -> None:
        """List files and folders under ``folder_path`` (recursively when asked), as the Hub's tree endpoint does."""
        recursive = parse_qs(query).get("recursive", ["false"])[0].lower() in ("true", "1")
        prefix = f"{folder_path.strip('/')}/" if folder_path.strip("/") else ""
        below = [repo_file for path, repo_file in sorted(snapshot.files.items()) if path.startswith(prefix)]
        if prefix and not below:
            self._error(request, HTTPStatus.NOT_FOUND, "EntryNotFound", "Entry not found", head=head)
            return
        folders = sorted({
            str(parent)
            for repo_file in below
            for parent in PurePosixPath(repo_file.path).parents
            if parent.name and str(parent).startswith(prefix)  # the root "." has no name
        })
        entries = [
            {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}
            for path in folders
        ] + [repo_file.tree_entry() for repo_file in below]
        if not recursive:
            depth = prefix.count("/")
            entries = [entry for entry in entries if entry["path"].count("/") == depth]
        self._send_json(request, entries, snapshot, head=head)

    @staticmethod
    def _repo_info(repo_id: str, snapshot: _Snapshot) -> dict[str, Any]:
        return {
            "_id": snapshot.sha[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0] if "/" in repo_id else None,
            "sha": snapshot.sha,
            "private": False,
            "gated": False,
            "disabled": False,
            "tags": [],
            "siblings": [{"rfilename": path} for path in sorted(snapshot.files)],
        }

    def _snapshot_or_error(self, request: _Handler, folder: Path, revision: str, *, head: bool) -> _Snapshot | None:
        """The snapshot for a branch name or commit sha, or None after answering 404 ``RevisionNotFound``."""
        snapshots = self._snapshots(folder)
        snapshot = snapshots.get(revision) or next((s for s in snapshots.values() if s.sha == revision), None)
        if snapshot is None:
            self._error(request, HTTPStatus.NOT_FOUND, "RevisionNotFound", f"Invalid rev id: {revision}", head=head)
        return snapshot

    def _snapshots(self, folder: Path) -> dict[str, _Snapshot]:
        """Snapshots by branch: ``main`` is the folder, others are ``.revisions/<branch>/``. Read on every request
        so edits to the folders show up as new commits; file hashes are cached by (path, size, mtime)."""
        snapshots = {_DEFAULT_BRANCH: self._snapshot(folder, skip_revisions=True)}
        revisions_root = folder / _REVISIONS_FOLDER
        if revisions_root.is_dir():
            for branch in sorted(p for p in revisions_root.iterdir() if p.is_dir()):
                snapshots[branch.name] = self._snapshot(branch, skip_revisions=False)
        return snapshots

    def _snapshot(self, folder: Path, *, skip_revisions: bool) -> _Snapshot:
        files: dict[str, _RepoFile] = {}
        for local in sorted(folder.rglob("*")):
            relative = local.relative_to(folder)
            if not local.is_file() or (skip_revisions and relative.parts[0] == _REVISIONS_FOLDER):
                continue
            files[relative.as_posix()] = self._repo_file(relative.as_posix(), local)
        commit = hashlib.sha1()
        for path, repo_file in files.items():
            commit.update(f"{path}\0{repo_file.blob_id}\n".encode())
        return _Snapshot(sha=commit.hexdigest(), files=files)

    def _repo_file(self, path: str, local: Path) -> _RepoFile:
        stat = local.stat()
        key = (local, stat.st_size, stat.st_mtime_ns)
        with self._hashes_lock:
            cached = self._hashes.get(key)
        if cached is None:
            cached = self._hash_file(local, stat.st_size)
            with self._hashes_lock:
                self._hashes[key] = cached
        blob_id, sha256 = cached
        if local.suffix.lower() not in _LFS_SUFFIXES:
            return _RepoFile(path=path, local=local, size=stat.st_size, blob_id=blob_id, sha256=None)
        pointer = _lfs_pointer(sha256, stat.st_size)
        pointer_blob_id = hashlib.sha1(f"blob {len(pointer)}\0".encode() + pointer).hexdigest()
        return _RepoFile(path=path, local=local, size=stat.st_size, blob_id=pointer_blob_id, sha256=sha256)

    @staticmethod
    def _hash_file(local: Path, size: int) -> tuple[str, str]:
        """(git blob sha1, sha256) of a file's content, read once in chunks."""
        blob = hashlib.sha1(f"blob {size}\0".encode())
        content = hashlib.sha256()
        with local.open("rb") as handle:
            for chunk in _file_chunks(handle, 0, size):
                blob.update(chunk)
                content.update(chunk)
        return blob.hexdigest(), content.hexdigest()

    @staticmethod
    def _send_json(request: _Handler, payload: Any, snapshot: _Snapshot, *, head: bool) -> None:
        body = json.dumps(payload).encode()
        request.send_bytes(HTTPStatus.OK, body, "application/json; charset=utf-8", head=head,
                           headers={"X-Repo-Commit": snapshot.sha})

    @staticmethod
    def _error(
        request: _Handler, status: int, code: str, message: str, *, head: bool,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """An error as the Hub sends it: JSON ``{"error": ...}`` plus ``X-Error-Code``/``X-Error-Message``."""
        body = json.dumps({"error": message}).encode()
        request.send_bytes(status, body, "application/json; charset=utf-8", head=head,
                           headers={"X-Error-Code": code, "X-Error-Message": message, **(headers or {})})
