"""yt-dlp as a library: find the streams of one video (format choice, cookies, JS runtime), download nothing.

reelset asks yt-dlp only for what it is best at: resolving a video page into stream URLs, with YouTube's JavaScript
challenges, cookies and extractor options. The bytes are then read by a single ffmpeg process that fetches just the
first ``MAX_DURATION`` seconds and writes the final clip (see :mod:`reelset.fetch.normalise`), which is exactly what
yt-dlp's own section download (``download_ranges``) does with ffmpeg, minus the intermediate file and with ffmpeg's
output under our control (per-video logs, timeouts, progress).

Format choice: the best video of height ``<= MAX_HEIGHT`` plus the best audio, preferring H.264 and AAC so that a
fitting source is stream-copied rather than encoded. Formats of unknown height (a direct file) pass the cap
(``height<=?N``) and are scaled down by the encode; there is no uncapped fallback.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import io
import optparse
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yt_dlp
import yt_dlp.cookies
from yt_dlp.utils import DownloadCancelled, DownloadError

from reelset.core.errors import ReelsetError, one_line

MIN_DENO = (2, 3)
MIN_NODE = (22, 0)


def format_selector(max_height: int) -> str:
    """yt-dlp format spec: capped best video + best audio, else a capped single file; never an uncapped fallback.

    Formats that only yt-dlp's own fragment downloader can read (DASH manifests) are left out: ffmpeg reads the URLs.
    """
    cap = f"[height<=?{max_height}]"
    readable = "[protocol!*=dash]"
    return f"bv*{cap}{readable}+ba{readable}/b{cap}{readable}"


def format_sort(max_height: int) -> list[str]:
    """Prefer the largest height within the cap, then H.264 and AAC (they can be copied without an encode)."""
    return [f"res:{max_height}", "vcodec:h264", "acodec:aac"]


@dataclass(frozen=True)
class JsRuntime:
    name: str
    path: str
    version: str
    supported: bool


def _version_tuple(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(part) for part in match.groups(default="0")) if match else (0,)


def _run_version(path: str) -> str:
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else ""


def find_js_runtimes() -> list[JsRuntime]:
    """JavaScript runtimes yt-dlp can use for YouTube: deno (PATH, else the ``deno`` PyPI package) and node."""
    found = []
    deno_path = shutil.which("deno")
    if not deno_path:
        try:
            import deno  # the PyPI package that ships the binary

            deno_path = deno.find_deno_bin()
        except (ImportError, FileNotFoundError, OSError):
            deno_path = None
    if deno_path:
        version = _run_version(deno_path)
        found.append(JsRuntime("deno", deno_path, version, _version_tuple(version) >= MIN_DENO))
    node_path = shutil.which("node")
    if node_path:
        version = _run_version(node_path)
        found.append(JsRuntime("node", node_path, version, _version_tuple(version) >= MIN_NODE))
    return found


def parse_extra_args(text: str | None) -> dict[str, Any]:
    """yt-dlp command-line options (e.g. ``--extractor-args "youtube:po_token=..." --js-runtimes node``) turned into
    the library parameters that differ from yt-dlp's defaults, so they can be merged into ours.

    Raises:
        ReelsetError: yt-dlp rejects the options.
    """
    if not text or not text.strip():
        return {}
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise ReelsetError(f"--yt-dlp-args: cannot split {text!r} ({exc})") from exc
    parsed = _ytdlp_options(argv, "--yt-dlp-args")
    defaults = _ytdlp_options([], "--yt-dlp-args")
    return {key: value for key, value in parsed.items() if defaults.get(key) != value}


def _ytdlp_options(argv: list[str], flag: str) -> dict[str, Any]:
    """yt-dlp's library parameters for a command line, with its complaint turned into a one-line error."""
    complaint = io.StringIO()
    try:
        with contextlib.redirect_stderr(complaint):
            return yt_dlp.parse_options(argv).ydl_opts
    except (ValueError, SystemExit, optparse.OptParseError) as exc:
        said = [line for line in [*str(exc).splitlines(), *complaint.getvalue().splitlines()] if "error:" in line]
        reason = said[-1].split("error:", 1)[1].strip() if said else one_line(exc)
        raise ReelsetError(f"{flag}: yt-dlp rejected {' '.join(argv)!r}: {reason}") from exc


def load_cookie_jar(cookies_file: Path | None, cookies_from: str | None) -> http.cookiejar.CookieJar | None:
    """Load cookies once for the whole run (a Netscape cookies file, or a browser as yt-dlp's ``--cookies-from-browser``
    spells it: ``BROWSER[+KEYRING][:PROFILE][::CONTAINER]``).

    Loading once means the browser's store is decrypted once, and yt-dlp never writes the jar back into the user's
    cookies file from several threads at once.
    """
    if not cookies_file and not cookies_from:
        return None
    if cookies_file and not Path(cookies_file).is_file():
        raise ReelsetError(f"{cookies_file}: cookies file not found")
    browser = None
    if cookies_from:
        # yt-dlp's own parser of the spec, so that it is spelled exactly as with yt-dlp
        browser = _ytdlp_options(["--cookies-from-browser", cookies_from], "--cookies-from")["cookiesfrombrowser"]
    # yt-dlp's loader directly: a YoutubeDL given a cookiefile writes the jar back into it when it closes.
    # Its messages quote cookie lines, so they are dropped rather than logged.
    silent = YtdlpLogger(lambda line: None)
    with yt_dlp.YoutubeDL({"quiet": True, "no_warnings": True, "logger": silent}) as ydl:
        try:
            # yt-dlp prints skipped cookie-file lines, values included, straight to stderr: keep them off the screen.
            with contextlib.redirect_stderr(io.StringIO()):
                jar = yt_dlp.cookies.load_cookies(str(cookies_file) if cookies_file else None, browser, ydl)
        except yt_dlp.cookies.CookieLoadError as exc:
            cause = exc.__context__ or exc
            name = cookies_file or cookies_from
            hint = "; is it a Netscape cookies file?" if cookies_file else ""
            raise ReelsetError(f"{name}: cookies could not be loaded ({type(cause).__name__}{hint})") from exc
    copy = http.cookiejar.CookieJar()
    for cookie in jar:
        copy.set_cookie(cookie)
    return copy


def cookie_secrets(jar: http.cookiejar.CookieJar | None) -> list[str]:
    """The cookie values that must never appear in a log or a status record."""
    return sorted({cookie.value for cookie in jar or () if cookie.value and len(cookie.value) >= 4}, key=len,
                  reverse=True)


@dataclass(frozen=True)
class SourceStream:
    """One stream URL chosen by yt-dlp, with what ffmpeg needs to read it like yt-dlp would."""

    url: str
    protocol: str
    headers: dict[str, str]
    cookies: str  # in ffmpeg's ``-cookies`` syntax; empty when none apply
    has_video: bool
    has_audio: bool
    format_id: str
    height: int | None
    # The server said "Accept-Ranges: bytes" when yt-dlp asked for this URL: ffmpeg can seek in it (False: unknown).
    accepts_ranges: bool = False


@dataclass(frozen=True)
class Extraction:
    """What yt-dlp resolved: ``direct`` when the URL is itself the media file (its generic extractor's direct link),
    whose server may not be able to seek (see :func:`reelset.fetch.clip.local_sources`)."""

    video_id: str
    title: str | None
    duration: float | None
    streams: tuple[SourceStream, ...]
    direct: bool = False


class YtdlpLogger:
    """Receives yt-dlp's messages (debug, info, warnings, errors) and hands each line to ``write``."""

    def __init__(self, write: Callable[[str], None]):
        self._write = write

    def debug(self, message: str) -> None:
        self._write(message)

    info = debug

    def warning(self, message: str) -> None:
        self._write(message if message.startswith("WARNING") else f"WARNING: {message}")

    def error(self, message: str) -> None:
        self._write(message)


class StartCancelled(DownloadCancelled):
    """Raised by a ``before_request`` hook: the run stopped while this video waited for its start slot."""

    msg = "stopped before the first request"


class _GatedYoutubeDL(yt_dlp.YoutubeDL):
    """A YoutubeDL that calls ``before_request`` once, just before its first HTTP request: the start slot is taken
    when the video page is about to be asked for, after yt-dlp's own start-up (its extractors' URL patterns cost
    about a second in a fresh process)."""

    def __init__(self, params: dict[str, Any], before_request: Callable[[], None] | None):
        super().__init__(params)
        self._before_request = before_request
        self.range_urls: set[str] = set()  # answered with "Accept-Ranges: bytes"

    def urlopen(self, req):
        if self._before_request is not None:
            gate, self._before_request = self._before_request, None
            gate()
        response = super().urlopen(req)
        # Remembered so that a direct file whose server says it can seek costs no request of ours to find out.
        if "bytes" in (response.headers.get("Accept-Ranges") or "").lower():
            self.range_urls.add(response.url)
        return response


class YtdlpSession:
    """What every video of a run shares: yt-dlp parameters, the loaded cookies, the JavaScript runtime.

    A session pickles (to run attempts on Dask workers): the cookies travel as values, loaded once here, and the
    receiving process finds its own JavaScript runtime. Its ``repr`` shows no cookie.
    """

    def __init__(
        self,
        *,
        max_height: int,
        socket_timeout: float,
        sleep_requests: float,
        cookies_file: Path | None = None,
        cookies_from: str | None = None,
        extra_args: str | None = None,
        cookies: list[http.cookiejar.Cookie] | None = None,
    ):
        """``cookies``: cookies already loaded (instead of ``cookies_file`` / ``cookies_from``)."""
        self._options = dict(max_height=max_height, socket_timeout=socket_timeout, sleep_requests=sleep_requests,
                             extra_args=extra_args)
        self.max_height = max_height
        if cookies is not None:
            self.cookie_jar = http.cookiejar.CookieJar()
            for cookie in cookies:
                self.cookie_jar.set_cookie(cookie)
        else:
            self.cookie_jar = load_cookie_jar(cookies_file, cookies_from)
        self.secrets = cookie_secrets(self.cookie_jar)
        self.extra_params = parse_extra_args(extra_args)
        runtimes = [runtime for runtime in find_js_runtimes() if runtime.supported]
        self.js_runtime = runtimes[0] if runtimes else None
        self.base_params: dict[str, Any] = {
            "format": format_selector(max_height),
            "format_sort": format_sort(max_height),
            "noplaylist": True,
            "quiet": True,
            "no_warnings": False,
            "noprogress": True,
            "color": {"stdout": "no_color", "stderr": "no_color"},
            "socket_timeout": socket_timeout,
            "sleep_interval_requests": sleep_requests,
            "extractor_retries": 2,
            "retries": 2,
        }
        if self.js_runtime:
            self.base_params["js_runtimes"] = {self.js_runtime.name: {"path": self.js_runtime.path}}
        self.base_params.update(self.extra_params)

    def __reduce__(self):
        cookies = None if self.cookie_jar is None else list(self.cookie_jar)
        return _session_from_state, (self._options, cookies)

    def __repr__(self) -> str:
        cookies = 0 if self.cookie_jar is None else len(self.cookie_jar)
        return f"YtdlpSession(max_height={self.max_height}, {cookies} cookie(s))"

    def extract(self, video_id: str, url: str, write_log: Callable[[str], None], *,
                before_request: Callable[[], None] | None = None) -> Extraction:
        """Resolve ``url`` into the streams to read; ``before_request`` runs just before the first HTTP request
        (to wait for a start slot; it raises :class:`StartCancelled` to give up).

        Raises:
            yt_dlp.utils.DownloadError: yt-dlp's failure, whose message the caller classifies.
            StartCancelled: from ``before_request``.
        """
        params = dict(self.base_params, logger=YtdlpLogger(write_log))
        with _GatedYoutubeDL(params, before_request) as ydl:
            if self.cookie_jar is not None:
                for cookie in self.cookie_jar:
                    ydl.cookiejar.set_cookie(cookie)
            info = ydl.extract_info(url, download=False)
            if info is None:
                raise DownloadError(f"[reelset] {video_id}: yt-dlp returned no information")
            if info.get("_type") in {"playlist", "multi_video"}:
                raise DownloadError(f"[reelset] {video_id}: the URL is a playlist, not one video")
            chosen = info.get("requested_formats") or [info]
            streams = tuple(self._stream(ydl, info, fmt) for fmt in chosen)
        if not any(stream.has_video for stream in streams):
            raise DownloadError(f"[reelset] {video_id}: Requested format is not available (no video stream chosen)")
        return Extraction(video_id, info.get("title"), info.get("duration"), streams, bool(info.get("direct")))

    @staticmethod
    def _stream(ydl: _GatedYoutubeDL, info: dict, fmt: dict) -> SourceStream:
        url = fmt["url"]
        cookies = ""
        if re.match(r"https?://", url):
            cookies = "".join(
                f"{cookie.name}={cookie.value}; path={cookie.path}; domain={cookie.domain};\r\n"
                for cookie in ydl.cookiejar.get_cookies_for_url(url)
            )
        headers = dict(fmt.get("http_headers") or info.get("http_headers") or {})
        headers.pop("Cookie", None)  # cookies travel through ffmpeg's -cookies, scoped to their domain
        vcodec, acodec = fmt.get("vcodec"), fmt.get("acodec")
        return SourceStream(
            url=url,
            protocol=str(fmt.get("protocol") or ""),
            headers=headers,
            cookies=cookies,
            has_video=vcodec != "none",
            has_audio=acodec != "none",  # unknown (None) may have audio: mapped optionally
            format_id=str(fmt.get("format_id") or ""),
            height=fmt.get("height"),
            accepts_ranges=url in ydl.range_urls,
        )


def _session_from_state(options: dict[str, Any], cookies: list[http.cookiejar.Cookie] | None) -> YtdlpSession:
    return YtdlpSession(**options, cookies=cookies)
