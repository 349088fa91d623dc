"""YouTube-8M v2 ids (4 characters) to YouTube video ids, through the official JSONP endpoint.

For an id ``XE00`` the dataset site serves ``http://data.yt8m.org/2/j/i/XE/XE00.js`` with the body
``i("XE00","mLEJIW9HeIw");``: the 4-character id, then the YouTube id. A video that has left YouTube (or the
dataset) has no such file: the storage host answers an XML error document (``<Error><Code>NoSuchKey</Code>...``),
or 403/404. Each id ends in one of four states:

- ``ok``: the answer names the id asked for and a valid YouTube id (checked with
  :func:`reelset.core.video_ids.is_youtube_id` before it is used or stored);
- ``gone``: an error answer (XML error document, 403, 404, 410): the video is gone, which is reported, not raised;
- ``failed``: the question could not be answered (network, 5xx after retries, a malformed body, an answer about
  another id, an invalid YouTube id): asked again on the next run;
- ``invalid``: not a 4-character id of ``[A-Za-z0-9_-]``; never becomes a URL.

Answers (``ok`` and ``gone``) are cached in SQLite (``<cache>/yt8m/youtube_ids.sqlite``, one row per base URL and
id, committed as each answer arrives), so a rerun asks only for what is missing, and a killed run keeps what it had.
Requests run on a few threads (:data:`DEFAULT_JOBS`, at most :data:`MAX_JOBS`): the endpoint is a static file host,
and a handful of parallel requests is polite to it.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import requests

from reelset.core.atomic import check_output
from reelset.core.errors import ReelsetError
from reelset.core.http import USER_AGENT, HttpError, fetch_bytes
from reelset.core.video_ids import is_youtube_id, show_id, why_invalid
from reelset.core.cache import default_cache_dir
from reelset.yt8m.constants import DEFAULT_BASE_URL, DEFAULT_JOBS, MAX_JOBS
from reelset.yt8m.vocabulary import CACHE_SUBDIR

CACHE_FILE = "youtube_ids.sqlite"
GONE_STATUSES = frozenset({403, 404, 410})

OK, GONE, FAILED, INVALID = "ok", "gone", "failed", "invalid"
STATUSES = (OK, GONE, FAILED, INVALID)

V2_ID = re.compile(r"[A-Za-z0-9_-]{4}")
_JSONP = re.compile(r'\s*i\(\s*"([^"\\]*)"\s*,\s*"([^"\\]*)"\s*\)\s*;?\s*')
_XML_CODE = re.compile(r"<Code>([^<]{1,80})</Code>")

__all__ = ["DEFAULT_BASE_URL", "IdResult", "YoutubeIdCache", "answer_url", "lookup_youtube_id", "parse_answer",
           "resolve_youtube_ids", "summary_line"]


@dataclass(frozen=True)
class IdResult:
    """What became of one id: ``status`` is one of :data:`STATUSES`; ``reason`` says why it is not ``ok``."""

    id: str
    status: str
    youtube_id: str | None = None
    reason: str = ""
    cached: bool = False


def is_v2_id(value: object) -> bool:
    return isinstance(value, str) and V2_ID.fullmatch(value) is not None


def answer_url(video_id: str, base_url: str = DEFAULT_BASE_URL) -> str:
    """``{base_url}/2/j/i/{id[:2]}/{id}.js`` for a valid v2 id."""
    if not is_v2_id(video_id):
        raise ValueError(f"not a YouTube-8M v2 id: {show_id(video_id)}")
    return f"{base_url.rstrip('/')}/2/j/i/{video_id[:2]}/{video_id}.js"


def parse_answer(video_id: str, body: bytes) -> IdResult:
    """Read one answer body: a JSONP call (``ok``, or ``failed`` when it is malformed or about another id) or the
    storage host's XML error document (``gone``)."""
    text = body.decode("utf-8", errors="replace").strip()
    if text.startswith("<"):
        if "<Error>" in text:
            code = _XML_CODE.search(text)
            return IdResult(video_id, GONE, reason=f"error answer ({code.group(1) if code else 'XML error document'})")
        return IdResult(video_id, FAILED, reason=f"unexpected answer {show_id(text, 60)}")
    match = _JSONP.fullmatch(text)
    if match is None:
        return IdResult(video_id, FAILED, reason=f"malformed answer {show_id(text, 60)}")
    answered_id, youtube_id = match.groups()
    if answered_id != video_id:
        return IdResult(video_id, FAILED, reason=f"the answer is about {show_id(answered_id)}, not {video_id!r}")
    if not is_youtube_id(youtube_id):
        return IdResult(video_id, FAILED,
                        reason=f"the answer's YouTube id {show_id(youtube_id)} is invalid: {why_invalid(youtube_id)}")
    return IdResult(video_id, OK, youtube_id=youtube_id)


def lookup_youtube_id(video_id: str, *, base_url: str = DEFAULT_BASE_URL, session: requests.Session | None = None,
                      timeout: float = 30, retries: int = 3, backoff: float = 1.0) -> IdResult:
    """Ask the endpoint about one id (no cache). Never raises for an answer: every outcome is an :class:`IdResult`."""
    if not is_v2_id(video_id):
        return _invalid(video_id)
    try:
        body = fetch_bytes(answer_url(video_id, base_url), timeout=timeout, retries=retries, backoff=backoff,
                           session=session)
    except HttpError as exc:
        if exc.status in GONE_STATUSES:
            return IdResult(video_id, GONE, reason=f"HTTP {exc.status}")
        return IdResult(video_id, FAILED, reason=str(exc))
    return parse_answer(video_id, body)


def _invalid(value: object) -> IdResult:
    if not isinstance(value, str):
        why = f"not a string ({type(value).__name__})"
    elif len(value) != 4:
        why = f"{len(value)} characters"
    else:
        why = "characters outside A-Z a-z 0-9 _ -"
    return IdResult(str(value), INVALID, reason=f"not a 4-character YouTube-8M v2 id ({why})")


class YoutubeIdCache:
    """Answers already known, per base URL, in SQLite (atomic commits; safe with several processes).

    Rows read back are checked again (``is_youtube_id``), so an edited or damaged cache cannot inject an id.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        check_output(self.path)  # a cache under a file, or in a folder not ours: one line naming it
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS answers (base_url TEXT NOT NULL, id TEXT NOT NULL, "
                             "status TEXT NOT NULL, youtube_id TEXT, reason TEXT NOT NULL, checked_at REAL NOT NULL, "
                             "PRIMARY KEY (base_url, id))")
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise ReelsetError(f"{self.path}: cannot open the YouTube id cache ({exc}); delete it to start afresh") \
                from None
        self._lock = threading.Lock()

    def get(self, base_url: str, ids: list[str]) -> dict[str, IdResult]:
        known: dict[str, IdResult] = {}
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                rows = self._db.execute(
                    f"SELECT id, status, youtube_id, reason FROM answers WHERE base_url = ? AND id IN "
                    f"({','.join('?' * len(chunk))})", [base_url, *chunk]).fetchall()
                for video_id, status, youtube_id, reason in rows:
                    if status == OK and is_youtube_id(youtube_id):
                        known[video_id] = IdResult(video_id, OK, youtube_id=youtube_id, cached=True)
                    elif status == GONE:
                        known[video_id] = IdResult(video_id, GONE, reason=reason, cached=True)
        return known

    def put(self, base_url: str, result: IdResult) -> None:
        """Store an ``ok`` or ``gone`` answer (others are not answers: they are asked again next time)."""
        if result.status not in (OK, GONE):
            return
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                             (base_url, result.id, result.status, result.youtube_id, result.reason, time.time()))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def resolve_youtube_ids(
    ids: Iterable[str],
    *,
    base_url: str = DEFAULT_BASE_URL,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    retry_gone: bool = False,
    jobs: int = DEFAULT_JOBS,
    timeout: float = 30,
    retries: int = 3,
    backoff: float = 1.0,
    on_result: Callable[[IdResult], None] | None = None,
) -> list[IdResult]:
    """Map v2 ids to YouTube ids; one :class:`IdResult` per distinct id, in the order first given.

    Args:
        base_url: the endpoint's host (``http://data.yt8m.org``); tests and mirrors use their own.
        cache_dir: reelset's cache folder (default :func:`default_cache_dir`); the answers go to
            ``<cache>/yt8m/youtube_ids.sqlite``. ``use_cache=False`` neither reads nor writes it.
        retry_gone: ask again about ids the cache knows as gone.
        jobs: requests in flight at once (1..:data:`MAX_JOBS`).
        on_result: called (in the calling thread) with each result as it is known, cached ones first.
    """
    if not 1 <= jobs <= MAX_JOBS:
        raise ReelsetError(f"jobs must be between 1 and {MAX_JOBS}, got {jobs}")
    base_url = base_url.rstrip("/")
    ordered = _unique(str(video_id) for video_id in ids)
    results: dict[str, IdResult] = {}
    valid = [video_id for video_id in ordered if is_v2_id(video_id)]
    # Opened (and made) only when there is something to look up: invalid ids alone leave no cache behind.
    cache = YoutubeIdCache(Path(cache_dir or default_cache_dir()) / CACHE_SUBDIR / CACHE_FILE) \
        if use_cache and valid else None

    def settle(result: IdResult) -> None:
        results[result.id] = result
        if on_result:
            on_result(result)

    try:
        for video_id in ordered:
            if not is_v2_id(video_id):
                settle(_invalid(video_id))
        known = cache.get(base_url, valid) if cache else {}
        for video_id in valid:
            if video_id in known and not (retry_gone and known[video_id].status == GONE):
                settle(known[video_id])
        missing = [video_id for video_id in valid if video_id not in results]
        for result in _ask(missing, base_url, jobs, timeout, retries, backoff):
            if cache:
                cache.put(base_url, result)
            settle(result)
    finally:
        if cache:
            cache.close()
    return [results[video_id] for video_id in ordered]


def _ask(ids: list[str], base_url: str, jobs: int, timeout: float, retries: int, backoff: float) -> Iterator[IdResult]:
    """Look the ids up on ``jobs`` threads (one HTTP session each); yield results as they complete."""
    local = threading.local()
    sessions: list[requests.Session] = []

    def lookup(video_id: str) -> IdResult:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["User-Agent"] = USER_AGENT
            sessions.append(local.session)
        return lookup_youtube_id(video_id, base_url=base_url, session=local.session, timeout=timeout,
                                 retries=retries, backoff=backoff)

    if not ids:
        return
    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="reelset-ytid") as pool:
            futures = [pool.submit(lookup, video_id) for video_id in ids]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                for future in futures:
                    future.cancel()
    finally:  # the pool has waited for its threads: no session is in use any more
        for session in sessions:
            session.close()


def summary_line(results: list[IdResult]) -> str:
    """``youtube-ids: 3 ok, 1 gone, 0 failed, 0 invalid (2 from cache)``."""
    counts = Counter(result.status for result in results)
    cached = sum(result.cached for result in results)
    return (f"youtube-ids: {', '.join(f'{counts[status]} {status}' for status in STATUSES)} "
            f"({cached} from cache)")

