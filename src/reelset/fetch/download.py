"""Step 2 of Action100M: download the first seconds of every video, in parallel, politely, resumably.

:func:`download_videos` is the whole ``reelset action100m download`` command as a library call. The run:

1. checks what it needs before it touches the folder (:func:`prepare_download`: the settings, ffmpeg, that the
   folder can be written, the cookies), then takes the output folder's lock (one run per folder), removes leftovers
   of killed runs (``.partial/``, temporary files, ``.part``/``.ytdl`` files), and opens the status file
   ``<out>/status.jsonl``;
2. sorts the ids: invalid ones are recorded as ``invalid`` and never touch the disk; a verified ``<id>.mp4`` counts as
   done (a file without an ``ok`` record is verified first, then adopted or removed); permanent failures are skipped
   unless ``retry_failed``;
3. runs the rest on ``jobs`` threads, each attempt one task (:func:`reelset.fetch.attempt.attempt_task`) run by the
   executor (:mod:`reelset.scale`): in that thread, or on a Dask worker (``--scheduler``; the output folder shared at
   the same absolute path). Each start waits for the executor's pacer (one schedule for every thread, or for the
   whole cluster); transient failures are retried with capped back-off; the circuit breaker (which sees every
   attempt's result, whichever worker made it) pauses every start, then stops the run. This process stays the only
   writer of the status file;
4. writes ``<out>/missing_ids.txt`` and returns a :class:`DownloadSummary`.

``MAX_VIDEOS`` counts successes: verified clips in the folder, those of earlier runs included, so a run killed at 60
of 100 and started again stops at 100.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
from collections.abc import Callable
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from reelset.core.atomic import atomic_write_text, check_output, remove_stale_temps
from reelset.core.errors import ReelsetError, one_line
from reelset.core.ffmpeg import MediaError, executable
from reelset.core.locks import exclusive_lock
from reelset.core.progress import Reporter
from reelset.core.status import StatusStore, utc_now
from reelset.core.textfile import read_text
from reelset.core.video_ids import id_from_url, is_youtube_id, show_id, why_invalid
from reelset.fetch import politeness
from reelset.fetch.classify import (
    ENV_ERROR,
    INVALID,
    OK,
    PERMANENT,
    RATE_LIMITED,
    RETRY_IN_RUN,
    STATUSES,
    is_session_limit,
)
from reelset.fetch.attempt import AttemptTask, attempt_task
from reelset.fetch.clip import LOGS_DIR, PARTIAL_DIR, ClipSettings, Outcome, Redactor, VideoLog, clip_path
from reelset.fetch.constants import DEFAULT_URL_TEMPLATE
from reelset.fetch.normalise import verify_clip
from reelset.fetch.ytdlp import YtdlpSession
from reelset.scale import Executor, executor_for

STATUS_FILE = "status.jsonl"
MISSING_FILE = "missing_ids.txt"
LOCK_FILE = ".lock"
EXIT_INCOMPLETE = 4
EXIT_STOPPED = 3
_LEFTOVER = re.compile(r"[A-Za-z0-9_-]{11}\..*(?:\.part|\.ytdl|\.temp|\.tmp|-Frag\d+)(?:\.\w+)?")


@dataclass
class DownloadSettings:
    """Everything a download run can be told; the CLI fills it from flags and the original environment variables."""

    out_dir: Path = Path("videos")
    jobs: int = 4
    max_videos: int | None = None
    max_height: int = 480
    max_duration: float = 90.0
    cookies: Path | None = None
    cookies_from: str | None = None
    url_template: str = DEFAULT_URL_TEMPLATE
    retry_failed: bool = False
    tries: int = 3
    sleep: float = politeness.DEFAULT_SLEEP
    max_sleep: float = politeness.DEFAULT_MAX_SLEEP
    sleep_requests: float = politeness.DEFAULT_SLEEP_REQUESTS
    retry_base: float = politeness.DEFAULT_RETRY_BASE
    rate_limit_base: float = politeness.DEFAULT_RATE_LIMIT_BASE
    retry_cap: float = politeness.DEFAULT_RETRY_CAP
    breaker_threshold: int = politeness.DEFAULT_BREAKER_THRESHOLD
    breaker_pause: float = politeness.DEFAULT_BREAKER_PAUSE
    session_limit_pause: float = politeness.DEFAULT_SESSION_LIMIT_PAUSE
    socket_timeout: float = 30.0
    attempt_timeout: float = 1800.0
    yt_dlp_args: str | None = None

    def validate(self) -> None:
        checks = [
            (self.jobs >= 1, f"JOBS must be at least 1, got {self.jobs}"),
            (self.max_height >= 2, f"MAX_HEIGHT must be at least 2, got {self.max_height}"),
            (self.max_duration > 0, f"MAX_DURATION must be above 0, got {self.max_duration:g}"),
            (self.tries >= 1, f"--tries must be at least 1, got {self.tries}"),
            (0 <= self.sleep <= self.max_sleep, f"--sleep {self.sleep:g} must be between 0 and --max-sleep"),
            ("{id}" in self.url_template, f"--url-template must contain {{id}}: {self.url_template!r}"),
            (self.max_videos is None or self.max_videos >= 0, f"MAX_VIDEOS must be 0 or more, got {self.max_videos}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ReelsetError(message)

    def clip_settings(self) -> ClipSettings:
        return ClipSettings(self.out_dir, self.url_template, self.max_height, self.max_duration,
                            self.socket_timeout, self.attempt_timeout)


@dataclass
class DownloadSummary:
    """What a run did and where the folder stands."""

    out_dir: Path
    counts: Counter = field(default_factory=Counter)  # final status of every id in the input (this run or earlier)
    new: Counter = field(default_factory=Counter)  # results of this run
    ok_bytes: int = 0
    ok_seconds: float = 0.0
    new_bytes: int = 0
    missing: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early (circuit breaker, environment), if it did
    elapsed: float = 0.0

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return EXIT_STOPPED
        unfinished = sum(count for status, count in self.counts.items() if status not in {OK, *PERMANENT})
        return EXIT_INCOMPLETE if unfinished else 0

    def estimate_rest_bytes(self) -> int | None:
        ok = self.counts.get(OK, 0)
        return round(self.ok_bytes / ok * len(self.missing)) if ok else None


def read_ids(path: Path) -> list[str]:
    """The ids of an ids file, one per line: an 11-character id or a YouTube video URL (``watch?v=``, ``youtu.be/``,
    ``shorts/``, ``embed/``, ``live/``, as yt-dlp reads them), recorded as its id; blank lines and ``#`` comments
    are skipped. Lines that are not ids are kept (the download records them as ``invalid``).

    Raises:
        ReelsetError: the file is missing, a folder, unreadable, binary or not UTF-8, or holds no valid id at all
            (the message says why its lines were rejected). Nothing has been written then.
    """
    text = read_text(path, expected="an ids file (one YouTube id or video URL per line)",
                     missing="ids file not found (run `reelset action100m ids` first)")
    ids = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            ids.append(id_from_url(line) or line)
    if not ids:
        raise ReelsetError(f"{path}: no ids (the file is empty or holds only comments); run `reelset action100m ids`"
                           " or list one YouTube id or video URL per line")
    if not any(is_youtube_id(video_id) for video_id in ids):
        raise ReelsetError(f"{path}: no valid YouTube id in its {len(ids)} line(s); the first: {show_id(ids[0])}: "
                           f"{why_invalid(ids[0])} (an id is 11 characters of A-Z a-z 0-9 _ -, or a video URL)")
    return ids


def folder_lock(out_dir: Path):
    """One download run per output folder (the lock dies with the process, ``kill -9`` included)."""
    return exclusive_lock(Path(out_dir) / LOCK_FILE, f"{out_dir}: another download is running in this folder")


def clean_leftovers(out_dir: Path) -> int:
    """Remove what killed runs leave behind; never a finished ``<id>.mp4``. Returns the number of items removed."""
    removed = len(remove_stale_temps(out_dir))
    partial = Path(out_dir) / PARTIAL_DIR
    if partial.exists():
        removed += sum(1 for _ in partial.iterdir())
        shutil.rmtree(partial, ignore_errors=True)
    for path in Path(out_dir).iterdir():
        if path.is_file() and _LEFTOVER.fullmatch(path.name):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


class _Run:
    """The state of one run, shared by the scheduling loop (main thread) and the job threads: the executor that runs
    the attempts, its pacer and stop flag, the circuit breaker."""

    def __init__(self, settings: DownloadSettings, reporter: Reporter, store: StatusStore, session: YtdlpSession,
                 executor: Executor, pacer, stop):
        self.settings = settings
        self.reporter = reporter
        self.store = store
        self.session = session
        self.executor = executor
        self.clip = replace(settings.clip_settings(), out_dir=executor.shared_path(settings.out_dir))
        self.redact = Redactor(session.secrets)
        self.stop = stop
        self.stop_reason: str | None = None
        self.pacer = pacer
        self.breaker = politeness.CircuitBreaker(self.pacer, threshold=settings.breaker_threshold,
                                                 pause=settings.breaker_pause)
        self.env_streak = 0
        self._lock = threading.Lock()

    def request_stop(self, reason: str) -> None:
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        self.stop.set()

    def after_attempt(self, outcome: Outcome) -> None:
        """Feed the circuit breaker and the environment check with every attempt's result; a session that YouTube
        rate-limits for up to an hour holds every start for ``session_limit_pause`` (an hour by default)."""
        if outcome.status == RATE_LIMITED and is_session_limit(outcome.message):
            self.pacer.hold_for(self.settings.session_limit_pause)
            self.reporter.warn(f"YouTube rate-limits this session for up to an hour ({outcome.video_id}); no video "
                               f"starts for {self.settings.session_limit_pause:g} s")
        action = self.breaker.record(outcome.status)
        if action == politeness.CircuitBreaker.PAUSE:
            self.reporter.warn(
                f"{self.breaker.threshold} videos in a row were refused ({outcome.status}: {outcome.message}); "
                f"pausing all downloads for {self.settings.breaker_pause:g} s"
            )
        elif action == politeness.CircuitBreaker.STOP:
            self.request_stop(
                f"stopped: YouTube keeps refusing this session ({outcome.status}: {outcome.message}); wait before "
                "running again, pass cookies (--cookies / --cookies-from), or slow down (--sleep)"
            )
        with self._lock:
            self.env_streak = self.env_streak + 1 if outcome.status == ENV_ERROR else 0
            streak = self.env_streak
        if streak >= max(1, self.settings.breaker_threshold):
            self.request_stop(f"stopped: {streak} environment errors in a row ({outcome.message}); run `reelset doctor`")

    def attempt(self, video_id: str, attempt: int, progress: Callable[[float], None]) -> Outcome | None:
        task = AttemptTask(video_id, attempt, self.settings.tries, self.clip, self.session, self.pacer, self.stop,
                           self.executor.in_process(progress))
        return self.executor.call(attempt_task, task, on_error=_attempt_failed)

    def download_one(self, video_id: str, progress) -> tuple[Outcome, int]:
        """All attempts at one video (runs on a job thread). Returns the last outcome and the attempts made."""
        outcome = Outcome(video_id, "failed", "not attempted")
        attempts = 0
        for attempt in range(1, self.settings.tries + 1):
            if self.stop.is_set():
                break
            result = self.attempt(video_id, attempt, progress)
            if result is None:
                break
            outcome, attempts = result, attempt
            self.after_attempt(outcome)
            if outcome.status not in RETRY_IN_RUN or attempt == self.settings.tries or self.stop.is_set():
                break
            delay = politeness.backoff_delay(attempt, outcome.status, base=self.settings.retry_base,
                                             rate_limit_base=self.settings.rate_limit_base, cap=self.settings.retry_cap)
            VideoLog(Path(self.settings.out_dir) / LOGS_DIR / f"{video_id}.log", self.redact).write(
                f"[reelset] retrying in {delay:.1f} s")
            if self.stop.wait(delay):
                break
        return outcome, attempts


def _attempt_failed(task: AttemptTask, error: Exception) -> Outcome:
    """An attempt whose task failed for good (on a cluster: it killed ``allowed-failures`` workers, or the
    scheduler was lost): a transient failure, retried like one."""
    return Outcome(task.video_id, "failed", f"the task failed: {one_line(error, typed=True)}")


def _triage(ids: Iterable[str], settings: DownloadSettings, store: StatusStore, reporter: Reporter):
    """Split the input into what to do now; record invalid ids; verify files that have no ``ok`` record."""
    pending: list[str] = []
    seen: set[str] = set()
    invalid = 0
    for raw in ids:
        if not is_youtube_id(raw):
            invalid += 1
            reason = why_invalid(raw)
            reporter.line(f"invalid {show_id(raw)}: {reason}")
            store.update(raw, {"status": INVALID, "message": f"not a YouTube id: {reason}"})
            continue
        if raw in seen:
            continue
        seen.add(raw)
        record = store.get(raw) or {}
        path = clip_path(settings.out_dir, raw)
        if record.get("status") == OK and path.is_file() and path.stat().st_size == record.get("bytes"):
            continue
        if path.is_file():
            adopted = _adopt(raw, path, settings, store)
            if adopted:
                continue
        if record.get("status") in PERMANENT and not settings.retry_failed:
            continue
        pending.append(raw)
    return sorted(seen), pending, invalid


def _adopt(video_id: str, path: Path, settings: DownloadSettings, store: StatusStore) -> bool:
    """A clip without an ``ok`` record (placed by hand, or the run died before recording it): verify, then keep."""
    try:
        info = verify_clip(path, max_height=settings.max_height, max_duration=settings.max_duration)
    except MediaError as exc:
        path.unlink(missing_ok=True)
        store.update(video_id, {"status": "failed", "message": f"existing file removed: {exc}"})
        return False
    store.update(video_id, {"status": OK, "message": "verified existing file", "clip_seconds": round(info.duration, 3),
                            "bytes": path.stat().st_size, "width": info.video.width, "height": info.video.height})
    return True


def _record(store: StatusStore, outcome: Outcome, attempts: int) -> dict:
    previous = store.get(outcome.video_id) or {}
    fields = {"status": outcome.status, "message": outcome.message,
              "attempts": int(previous.get("attempts", 0)) + attempts, "last_attempt": utc_now()}
    fields.setdefault("first_attempt", previous.get("first_attempt") or fields["last_attempt"])
    if outcome.status == OK:
        fields.update(outcome.record())
    else:
        for stale in ("clip_seconds", "bytes", "width", "height", "mode"):
            previous.pop(stale, None)
    return store.update(outcome.video_id, fields)


def _result_line(outcome: Outcome, attempts: int, tries: int) -> str:
    if outcome.status == OK:
        return (f"ok {outcome.video_id} {outcome.clip_seconds:.1f}s {outcome.width}x{outcome.height} "
                f"{outcome.bytes / 1e6:.1f}MB {outcome.mode}")
    return f"{outcome.status} {outcome.video_id} (attempt {attempts}/{tries}): {outcome.message}"


def prepare_download(settings: DownloadSettings) -> YtdlpSession:
    """Check what a download run needs, touching nothing: the settings, ffmpeg and ffprobe, that the output folder
    can be written (or made), the cookies (loaded once for the run). Returns the run's yt-dlp session.

    Raises:
        ReelsetError: the run cannot start; nothing has been written.
    """
    settings.validate()
    for tool in ("ffmpeg", "ffprobe"):
        executable(tool)
    check_output(settings.out_dir, folder=True)
    return YtdlpSession(max_height=settings.max_height, socket_timeout=settings.socket_timeout,
                        sleep_requests=settings.sleep_requests, cookies_file=settings.cookies,
                        cookies_from=settings.cookies_from, extra_args=settings.yt_dlp_args)


def download_videos(ids: Iterable[str], settings: DownloadSettings, reporter: Reporter | None = None, *,
                    executor: Executor | str | None = None, session: YtdlpSession | None = None) -> DownloadSummary:
    """Download and normalise the first ``max_duration`` seconds of each video; see the module docstring.

    Args:
        executor: where the attempts run (:func:`reelset.scale.executor_for`: an Executor, or a Dask scheduler's
            address, connected before the folder is touched, or ``distributed.Client``); default: in the job
            threads of this process. ``settings.jobs`` attempts are in flight either way.
        session: the session :func:`prepare_download` returned for these settings (a caller that checks before
            other steps write); default: prepared here.

    Raises:
        ReelsetError: the run cannot start (settings, ffmpeg missing, the folder not writable, cookies unreadable,
            scheduler unreachable, folder locked); nothing has been written then.
    """
    reporter = reporter or Reporter()
    session = session or prepare_download(settings)
    started = time.monotonic()
    with executor_for(executor) as running:  # a cluster is connected first: an unreachable one writes nothing
        summary = _download_into(Path(settings.out_dir), ids, settings, reporter, running, session)
    summary.elapsed = time.monotonic() - started
    return summary


def _download_into(out_dir: Path, ids: Iterable[str], settings: DownloadSettings, reporter: Reporter,
                   executor: Executor, session: YtdlpSession) -> DownloadSummary:
    out_dir.mkdir(parents=True, exist_ok=True)
    with folder_lock(out_dir):
        removed = clean_leftovers(out_dir)
        if removed:
            reporter.line(f"cleaned {removed} leftover(s) of an interrupted run in {out_dir}")
        if session.js_runtime is None and "youtube.com" in settings.url_template:
            reporter.warn("no JavaScript runtime for yt-dlp (deno >= 2.3 or node >= 22): YouTube downloads will "
                          "fail with env_error; run `reelset doctor`")
        where = executor.where()
        if where:
            reporter.line(f"dask: attempts run on {where}, at most {settings.jobs} at a time")
        with (StatusStore(out_dir / STATUS_FILE) as store, executor.pacer(settings.sleep, settings.max_sleep) as pacer,
              executor.stop_flag() as stop):
            if store.damaged_lines:
                reporter.warn(f"{out_dir / STATUS_FILE}: ignored {store.damaged_lines} damaged line(s)")
            unique_ids, pending, invalid = _triage(ids, settings, store, reporter)
            run = _Run(settings, reporter, store, session, executor, pacer, stop)
            summary = DownloadSummary(out_dir)
            summary.new[INVALID] = invalid
            _schedule(run, unique_ids, pending, summary)
            _summarise(summary, unique_ids, store, invalid)
            summary.stopped = run.stop_reason
        with contextlib.suppress(OSError):
            (out_dir / PARTIAL_DIR).rmdir()  # only when empty
        atomic_write_text(out_dir / MISSING_FILE, "".join(f"{video_id}\n" for video_id in summary.missing))
    return summary


def _schedule(run: _Run, unique_ids: list[str], pending: list[str], summary: DownloadSummary) -> None:
    settings = run.settings
    limit = settings.max_videos or None

    def ok_count() -> int:
        return sum(1 for video_id in unique_ids if (run.store.get(video_id) or {}).get("status") == OK)

    done = ok_count()
    queue = list(reversed(pending))
    reporter = run.reporter
    with reporter.live(), ThreadPoolExecutor(max_workers=settings.jobs, thread_name_prefix="reelset-dl") as pool:
        overall = reporter.task("videos", total=len(pending) if limit is None else max(0, min(len(pending),
                                                                                              limit - done)))
        running: dict[Future, tuple[str, object]] = {}
        try:
            while queue or running:
                while (queue and len(running) < settings.jobs and not run.stop.is_set()
                       and (limit is None or done + len(running) < limit)):
                    video_id = queue.pop()
                    bar = reporter.task(f"  {video_id}", total=settings.max_duration)
                    future = pool.submit(run.download_one, video_id,
                                         lambda seconds, bar=bar: bar.update(completed=seconds))
                    running[future] = (video_id, bar)
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    video_id, bar = running.pop(future)
                    bar.remove()
                    outcome, attempts = future.result()
                    if attempts == 0:
                        continue  # stopped before its first attempt: stays pending
                    _record(run.store, outcome, attempts)
                    summary.new[outcome.status] += 1
                    if outcome.status == OK:
                        done += 1
                        summary.new_bytes += outcome.bytes or 0
                    overall.advance()
                    reporter.line(_result_line(outcome, attempts, settings.tries))
        except KeyboardInterrupt:
            run.request_stop("interrupted")
            raise


def _summarise(summary: DownloadSummary, unique_ids: list[str], store: StatusStore, invalid: int) -> None:
    for video_id in unique_ids:
        record = store.get(video_id) or {}
        status = record.get("status")
        if status == OK:
            summary.ok_bytes += int(record.get("bytes") or 0)
            summary.ok_seconds += float(record.get("clip_seconds") or 0)
        summary.counts[status if status in STATUSES else "pending"] += 1
        if status != OK:
            summary.missing.append(video_id)
    summary.counts[INVALID] += invalid


def summary_lines(summary: DownloadSummary) -> list[str]:
    """The end-of-run report, one plain line each (scripts may read them)."""
    order = [OK, "unavailable", "blocked", "rate_limited", "env_error", "failed", INVALID, "pending"]
    counts = ", ".join(f"{summary.counts.get(status, 0)} {status}" for status in order)
    new = ", ".join(f"{count} {status}" for status, count in summary.new.items() if count) or "nothing"
    lines = [
        f"summary: {counts}",
        f"this run: {new}; {summary.new_bytes / 1e6:.1f} MB in {summary.elapsed:.1f} s",
        f"clips: {summary.counts.get(OK, 0)} files, {summary.ok_bytes / 1e6:.1f} MB, {summary.ok_seconds:.1f} s of video"
        f" in {summary.out_dir}",
    ]
    estimate = summary.estimate_rest_bytes()
    if summary.missing:
        lines.append(f"missing: {len(summary.missing)} ids listed in {summary.out_dir / MISSING_FILE}")
        if estimate is not None:
            lines.append(f"estimate for the missing: about {estimate / 1e6:.1f} MB more disk")
    else:
        lines.append("missing: none")
    if summary.stopped:
        lines.append(summary.stopped)
    return lines
