"""One attempt at one video: resolve its streams, fetch and normalise the first seconds, verify, then place it.

:func:`fetch_clip` never raises for a failure of the video itself: it returns an :class:`Outcome` whose status comes
from :func:`reelset.fetch.classify.classify_error`. Nothing but a verified file ever takes the name ``<id>.mp4``: the
work happens in ``<out>/.partial/<id>-<random>/`` and the result is moved into place with one atomic rename.

ffmpeg reads the stream URLs itself and fetches only the first seconds, seeking with HTTP ``Range`` requests where
the container needs it. A direct file on a server that ignores ``Range`` (a plain static server) cannot be read that
way when its index (``moov``) follows the media data: :func:`local_sources` then saves the whole file in the
attempt's folder first, and the clip is made from that copy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import os
import shutil
import struct
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from yt_dlp.utils import DownloadError

from reelset.core.atomic import fsync_dir
from reelset.core.errors import one_line
from reelset.core.ffmpeg import MediaError, MediaInfo, probe, run_ffmpeg
from reelset.fetch.classify import OK, classify_error
from reelset.fetch.normalise import Input, Plan, clip_args, plan_clip, verify_clip
from reelset.fetch.ytdlp import Extraction, SourceStream, YtdlpSession

PARTIAL_DIR = ".partial"
LOGS_DIR = "logs"
SOURCE_CHUNK = 1 << 20
# ISO BMFF (MP4, MOV) top-level boxes that may precede the media data; any other first box: not an MP4 file.
_LEADING_BOXES = frozenset({b"ftyp", b"styp", b"free", b"skip", b"wide", b"pdin", b"uuid", b"meta", b"sidx",
                            b"prft", b"junk", b"pnot"})
_MAX_LEADING_BYTES = 64 << 20  # boxes before moov or mdat beyond this: the file is saved whole, to be safe


@dataclass
class Outcome:
    """The result of one attempt (``status`` is one of :data:`reelset.fetch.classify.STATUSES`)."""

    video_id: str
    status: str
    message: str = ""
    clip_seconds: float | None = None
    bytes: int | None = None
    width: int | None = None
    height: int | None = None
    mode: str | None = None  # "copy" or "encode"

    def record(self) -> dict:
        """The fields stored in the status file (``None`` fields are left out)."""
        return {key: value for key, value in asdict(self).items() if value is not None and key != "video_id"}


class Redactor:
    """Replaces secrets (cookie values) in any text that goes to a log or the status file."""

    def __init__(self, secrets: list[str]):
        self.secrets = [secret for secret in secrets if secret]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text


class VideoLog:
    """``<out>/logs/<id>.log``: every attempt appends its yt-dlp and ffmpeg messages, secrets redacted."""

    def __init__(self, path: Path, redact: Redactor):
        self.path = path
        self._redact = redact
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, text: str) -> None:
        line = self._redact(" ".join(str(text).splitlines()) if "\n" in str(text) else str(text))
        stamp = time.strftime("%H:%M:%S")
        with self._lock, open(self.path, "a", encoding="utf-8", errors="replace") as handle:
            handle.write(f"{stamp} {line}\n")


@dataclass(frozen=True)
class ClipSettings:
    """What one attempt needs to know (a subset of the run's settings)."""

    out_dir: Path
    url_template: str
    max_height: int
    max_duration: float
    socket_timeout: float
    attempt_timeout: float


def clip_path(out_dir: Path, video_id: str) -> Path:
    return Path(out_dir) / f"{video_id}.mp4"


def input_options(stream: SourceStream, socket_timeout: float) -> tuple[str, ...]:
    """ffmpeg options to read one stream as yt-dlp would: its headers and cookies, with timeouts and reconnects."""
    if not stream.url.startswith(("http://", "https://")):
        return ()
    options = ["-rw_timeout", str(int(socket_timeout * 1_000_000))]
    if stream.protocol in {"http", "https"}:
        # A progressive file: on a dropped connection ffmpeg reconnects and resumes with a Range request.
        options += ["-reconnect", "1", "-reconnect_on_network_error", "1", "-reconnect_delay_max", "4"]
    if stream.headers:
        options += ["-headers", "".join(f"{key}: {value}\r\n" for key, value in stream.headers.items())]
    if stream.cookies:
        options += ["-cookies", stream.cookies]
    return tuple(options)


def printable_args(args: list[str]) -> str:
    """The ffmpeg command for a log, with header and cookie values hidden."""
    shown = []
    for index, arg in enumerate(args):
        shown.append("<redacted>" if index and args[index - 1] in {"-headers", "-cookies"} else arg)
    return " ".join(shown)


def prepare_inputs(extraction: Extraction, *, max_height: int, socket_timeout: float) -> tuple[list[Input], Plan]:
    """Probe the chosen streams and decide how to make the clip: which inputs, which streams, copy or encode."""
    streams = extraction.streams
    video_stream = next(stream for stream in streams if stream.has_video)
    audio_stream = next((stream for stream in streams if not stream.has_video and stream.has_audio), None)

    def probe_stream(stream: SourceStream) -> MediaInfo:
        return probe(
            stream.url,
            input_args=input_options(stream, socket_timeout),
            label=f"{extraction.video_id} source format {stream.format_id or '?'}",
            timeout=max(60.0, socket_timeout * 3),
        )

    video_probe = probe_stream(video_stream)
    if video_probe.video is None:
        raise MediaError(f"{extraction.video_id}: the chosen format has no video stream")
    audio_probe = probe_stream(audio_stream) if audio_stream else None
    inputs = [Input(video_stream.url, input_options(video_stream, socket_timeout), ("0:v:0",))]
    audio = None
    if audio_probe is not None and audio_probe.audio is not None:
        inputs.append(Input(audio_stream.url, input_options(audio_stream, socket_timeout), ("1:a:0",)))
        audio = audio_probe.audio
    elif video_probe.audio is not None:
        inputs[0] = Input(inputs[0].source, inputs[0].options, ("0:v:0", "0:a:0"))
        audio = video_probe.audio
    return inputs, plan_clip(video_probe.video, audio, max_height)


def _cookie_header(ffmpeg_cookies: str) -> str:
    """``name=value; name2=value2`` from ffmpeg's ``-cookies`` lines (``name=value; path=...; domain=...;``)."""
    pairs = [line.split(";", 1)[0].strip() for line in ffmpeg_cookies.splitlines()]
    return "; ".join(pair for pair in pairs if pair)


def _read_exactly(response, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = response.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _index_after_media(response) -> tuple[bool, bytes]:
    """Whether the body is an MP4/MOV whose ``moov`` follows its ``mdat`` (it cannot be read without seeking), and
    the bytes read to find out (the top-level boxes up to the first ``moov``, ``mdat`` or ``moof`` header)."""
    head = b""
    while True:
        header = _read_exactly(response, 8)
        head += header
        if len(header) < 8:
            return False, head
        size, kind = struct.unpack(">I4s", header)
        if kind == b"mdat":
            return True, head
        if kind in {b"moov", b"moof"} or kind not in _LEADING_BOXES:
            return False, head  # index first, fragments, or not MP4 at all: read from the start, no seek needed
        if size == 1:
            extended = _read_exactly(response, 8)
            head += extended
            if len(extended) < 8:
                return False, head
            size = struct.unpack(">Q", extended)[0] - 8
        if size < 8:  # 0: the box runs to the end of the file, with no moov or mdat after it
            return False, head
        if len(head) + size - 8 > _MAX_LEADING_BYTES:
            return True, head  # saved whole, streamed to disk from here: never held in memory
        payload = _read_exactly(response, size - 8)
        head += payload
        if len(payload) < size - 8:
            return False, head


def _save_source(video_id: str, response, head: bytes, destination: Path, settings: ClipSettings,
                 cancel: threading.Event | None) -> int:
    """Write ``head`` and the rest of ``response`` to ``destination``; the bytes written."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    deadline = time.monotonic() + settings.attempt_timeout
    done = 0
    with open(destination, "wb") as handle:
        chunk = head
        while chunk:
            handle.write(chunk)
            done += len(chunk)
            if cancel is not None and cancel.is_set():
                raise MediaError(f"{video_id} source: cancelled")
            if time.monotonic() > deadline:
                raise MediaError(f"{video_id} source: reading the whole file timed out after "
                                 f"{settings.attempt_timeout:.0f} s ({done} of {total or '?'} bytes)")
            try:
                chunk = response.read(SOURCE_CHUNK)
            except (OSError, http.client.HTTPException) as exc:  # a reset, a read timeout: tried again
                raise MediaError(f"{video_id} source: connection dropped after {done} of {total or '?'} bytes "
                                 f"({one_line(exc)})") from exc
    if total is not None and done != total:
        raise MediaError(f"{video_id} source: connection closed after {done} of {total} bytes")
    return done


def local_sources(extraction: Extraction, work: Path, settings: ClipSettings, log: VideoLog, *,
                  cancel: threading.Event | None = None) -> Extraction:
    """``extraction`` with each direct file that ffmpeg could not read from its server replaced by a copy in
    ``work``: one whose server ignores HTTP ``Range`` (answers 200 to a range request) and whose ``moov`` follows its
    ``mdat``, so that ffmpeg would have to seek back after reading it all.

    Streams resolved by an extractor (YouTube's) and direct files whose server announced ``Accept-Ranges: bytes``
    are left as they are, with no request made; otherwise one request with ``Range: bytes=0-0`` settles it, its
    body read on when the file must be saved whole. When that request fails (refused, 404) the stream is left to
    ffmpeg too, whose message classifies the failure as for any other stream.

    Raises:
        MediaError: the whole file could not be read (dropped, timed out, cancelled).
    """
    if not extraction.direct:
        return extraction
    streams = []
    for index, stream in enumerate(extraction.streams):
        if stream.accepts_ranges or stream.protocol not in {"http", "https"}:
            streams.append(stream)
            continue
        headers = {**stream.headers, "Range": "bytes=0-0", "Accept-Encoding": "identity"}
        if stream.cookies:
            headers["Cookie"] = _cookie_header(stream.cookies)
        request = urllib.request.Request(stream.url, headers=headers)
        with contextlib.ExitStack() as stack:
            try:
                response = stack.enter_context(urllib.request.urlopen(request, timeout=settings.socket_timeout))
                unseekable, head = (False, b"") if response.status != 200 else _index_after_media(response)
            except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
                log.write(f"[reelset] range check of the source failed ({one_line(exc)}): ffmpeg reads the URL")
                streams.append(stream)
                continue
            if response.status != 200:
                streams.append(stream)  # 206: the server seeks
                continue
            if not unseekable:
                log.write("[reelset] the server ignores Range requests; the file needs no seeking: ffmpeg reads it")
                streams.append(stream)
                continue
            log.write("[reelset] the server ignores Range requests and the file's index (moov) follows its media "
                      "data: reading the whole file before clipping")
            local = work / f"source-{index}.mp4"  # ffmpeg's mov demuxer reads MP4 and MOV alike
            size = _save_source(extraction.video_id, response, head, local, settings, cancel)
        log.write(f"[reelset] source saved: {size} bytes")
        streams.append(dataclasses.replace(stream, url=str(local), protocol="file", headers={}, cookies=""))
    return dataclasses.replace(extraction, streams=tuple(streams))


def _failure(video_id: str, message: str, detail: str = "") -> Outcome:
    status = classify_error(f"{message}\n{detail}")
    return Outcome(video_id, status, " ".join(message.split()))


def _error_text(exc: DownloadError) -> str:
    return one_line(exc).removeprefix("ERROR: ")


def fetch_clip(
    video_id: str,
    settings: ClipSettings,
    session: YtdlpSession,
    log: VideoLog,
    *,
    on_progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    before_request: Callable[[], None] | None = None,
) -> Outcome:
    """One attempt: streams from yt-dlp, one ffmpeg pass, the output check, the atomic rename.

    ``video_id`` must already be a valid YouTube id (it becomes a URL and a file name). ``before_request`` runs just
    before the first request to the video's page (the start slot); the :class:`~reelset.fetch.ytdlp.StartCancelled`
    it may raise goes through to the caller.
    """
    # A folder of its own for each attempt: an ffmpeg orphaned by a killed process (a Dask worker's, say) may still
    # be writing in an earlier attempt's folder, and its +faststart pass reopens the output by name.
    (Path(settings.out_dir) / PARTIAL_DIR).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{video_id}-", dir=Path(settings.out_dir) / PARTIAL_DIR))
    url = settings.url_template.format(id=video_id)
    try:
        log.write(f"[reelset] resolving {url}")
        try:
            extraction = session.extract(video_id, url, log.write, before_request=before_request)
        except DownloadError as exc:
            return _failure(video_id, _error_text(exc))
        try:
            extraction = local_sources(extraction, work, settings, log, cancel=cancel)
            inputs, plan = prepare_inputs(extraction, max_height=settings.max_height,
                                          socket_timeout=settings.socket_timeout)
        except MediaError as exc:
            log.write(exc.detail or str(exc))
            return _failure(video_id, str(exc), exc.detail)
        log.write(f"[reelset] {plan.reason}")
        partial = work / f"{video_id}.mp4"
        args = clip_args(inputs, plan, settings.max_duration, partial)
        log.write(f"[reelset] ffmpeg {printable_args(args)}")
        try:
            run_ffmpeg(
                ["-loglevel", "warning", *args],
                timeout=settings.attempt_timeout,
                on_progress=on_progress,
                on_stderr_line=log.write,
                label=f"{video_id} ffmpeg",
                cancel=cancel,
            )
            info = verify_clip(partial, max_height=settings.max_height, max_duration=settings.max_duration,
                               label=f"{video_id}.mp4")
        except MediaError as exc:
            log.write(str(exc))
            return _failure(video_id, str(exc), exc.detail)
        final = clip_path(settings.out_dir, video_id)
        size = partial.stat().st_size
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, final)
        fsync_dir(final.parent)
        log.write(f"[reelset] ok: {final.name} {info.duration:.2f} s {info.video.width}x{info.video.height} "
                  f"{size} bytes ({plan.mode})")
        return Outcome(video_id, OK, "", round(info.duration, 3), size, info.video.width, info.video.height,
                       plan.mode)
    finally:
        shutil.rmtree(work, ignore_errors=True)
