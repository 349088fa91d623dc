"""The one wrapper around the ffmpeg and ffprobe executables.

Everything reelset does to media goes through :func:`probe` and :func:`run_ffmpeg`: both take a file path or a URL,
both turn a failure into a :class:`MediaError` whose message is one line naming the input and ffmpeg's own reason.
:func:`ffmpeg_process` is for a caller that reads ffmpeg's output itself (the frame decoder's raw-video pipe): the
same process handling (own process group, killed and reaped whatever happens), the caller judging the result.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from reelset.core.errors import ReelsetError

INSTALL_HINT = "install it with: sudo apt-get install ffmpeg"


class MediaError(ReelsetError):
    """ffmpeg or ffprobe could not read or write a piece of media.

    ``detail`` keeps the tool's full error output (for classification and logs); the message is its key line.
    """

    def __init__(self, message: str, *, detail: str = ""):
        super().__init__(message)
        self.detail = detail


class ToolMissingError(ReelsetError):
    """ffmpeg or ffprobe is not installed."""


def executable(name: str) -> str:
    """Path of ``ffmpeg`` or ``ffprobe`` (``REELSET_FFMPEG`` / ``REELSET_FFPROBE`` override the PATH lookup)."""
    override = os.environ.get(f"REELSET_{name.upper()}")
    found = override or shutil.which(name)
    if not found:
        raise ToolMissingError(f"{name} not found on PATH: {INSTALL_HINT}")
    return found


@dataclass(frozen=True)
class VideoStream:
    codec: str
    pix_fmt: str | None
    width: int
    height: int
    rotation: int
    fps: float | None
    frame_count: int | None

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown to a viewer (a 90 or 270 degree rotation swaps them)."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class AudioStream:
    codec: str
    sample_rate: int | None
    channels: int | None


@dataclass(frozen=True)
class MediaInfo:
    source: str
    format_name: str
    duration: float | None
    size: int | None
    video: VideoStream | None
    audio: AudioStream | None
    creation_time: str | None = None  # the container's (else the video stream's) creation_time tag, as written
    # The container's metadata tags, then each stream's for names the container lacks (phones' creation date and
    # ISO 6709 location: reelset.taste.capture reads them).
    tags: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


def _fraction(text: str | None) -> float | None:
    if not text or text in {"0/0", "N/A"}:
        return None
    try:
        value = float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 and math.isfinite(value) else None


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return int(round(float(side["rotation"]))) % 360
    tag = (stream.get("tags") or {}).get("rotate")
    return int(tag) % 360 if tag and tag.lstrip("-").isdigit() else 0


def _optional_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_probe(source: str, report: dict) -> MediaInfo:
    """Turn ffprobe's JSON (``-show_streams -show_format``) into a :class:`MediaInfo`."""
    streams = report.get("streams") or []
    fmt = report.get("format") or {}
    video = audio = None
    for stream in streams:
        kind = stream.get("codec_type")
        if kind == "video" and video is None and not (stream.get("disposition") or {}).get("attached_pic"):
            frames = stream.get("nb_read_packets") or stream.get("nb_frames")
            video = VideoStream(
                codec=stream.get("codec_name") or "unknown",
                pix_fmt=stream.get("pix_fmt"),
                width=int(stream.get("width") or 0),
                height=int(stream.get("height") or 0),
                rotation=_rotation(stream),
                fps=_fraction(stream.get("avg_frame_rate")) or _fraction(stream.get("r_frame_rate")),
                frame_count=_optional_int(frames),
            )
        elif kind == "audio" and audio is None:
            audio = AudioStream(
                codec=stream.get("codec_name") or "unknown",
                sample_rate=_optional_int(stream.get("sample_rate")),
                channels=_optional_int(stream.get("channels")),
            )
    duration = _fraction(fmt.get("duration"))
    return MediaInfo(
        source=source,
        format_name=fmt.get("format_name") or "",
        duration=duration,
        size=_optional_int(fmt.get("size")),
        video=video,
        audio=audio,
        creation_time=_creation_time(fmt, streams),
        tags=_tags(fmt, streams),
    )


def _tags(fmt: dict, streams: list[dict]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for tags in [fmt.get("tags") or {}, *((stream.get("tags") or {}) for stream in streams)]:
        for name, value in tags.items():
            merged.setdefault(str(name), str(value))
    return merged


def _creation_time(fmt: dict, streams: list[dict]) -> str | None:
    """Cameras and phones write ``creation_time`` (ISO 8601, UTC) in the container; some only in the streams."""
    for tags in [fmt.get("tags") or {}, *((stream.get("tags") or {}) for stream in streams)]:
        value = tags.get("creation_time")
        if value and not value.startswith("1970-01-01") and not value.startswith("1904-01-01"):
            return value
    return None


_KEY_LINE = re.compile(
    r"error|returned|fail|invalid|timed out|refused|denied|not found|prematurely|no such|unable|forbidden", re.I
)


# "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55942a590180] moov atom not found": the address means nothing to a reader.
_COMPONENT = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")


def key_error_line(stderr: str) -> str:
    """The line of ffmpeg's output that says what went wrong.

    ffmpeg states the cause first and then generic consequences ("Error initializing output stream",
    "Input/output error"), so this is the first error-like line among the last few; else the last line.
    """
    lines = [_COMPONENT.sub("", line.strip()) for line in stderr.splitlines() if line.strip()][-12:]
    errors = [line for line in lines if _KEY_LINE.search(line)]
    return errors[0] if errors else (lines or ["no error output"])[-1]


def probe(
    source: str | Path,
    *,
    count_frames: bool = False,
    input_args: Sequence[str] = (),
    timeout: float | None = 120,
    label: str | None = None,
) -> MediaInfo:
    """Probe a file or URL with ffprobe.

    Args:
        source: a path or an ``http(s)://`` URL.
        count_frames: demux the whole input and count video packets (``frame_count``); this also proves that the
            container is readable to its end, which is why the downloader's output check uses it.
        input_args: options placed before ``-i`` (headers, cookies, timeouts for a URL).
        label: how to name the input in an error message (defaults to ``source``; URLs with secrets pass a label).

    Raises:
        MediaError: ffprobe failed or found no streams; the message is one line naming the input.
    """
    name = label or str(source)
    cmd = [executable("ffprobe"), "-hide_banner", "-v", "error"]
    if count_frames:
        cmd += ["-count_packets"]
    cmd += [*input_args, "-show_streams", "-show_format", "-of", "json", "-i", str(source)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"{name}: ffprobe timed out after {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise MediaError(f"{name}: unreadable media ({key_error_line(done.stderr)})", detail=done.stderr)
    try:
        report = json.loads(done.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise MediaError(f"{name}: ffprobe gave unparsable output") from exc
    info = parse_probe(name, report)
    if info.video is None and info.audio is None:
        raise MediaError(f"{name}: no audio or video stream found")
    return info


@dataclass(frozen=True)
class FfmpegResult:
    returncode: int
    stderr: str


def run_ffmpeg(
    args: Sequence[str],
    *,
    timeout: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    on_stderr_line: Callable[[str], None] | None = None,
    label: str = "ffmpeg",
    check: bool = True,
    cancel: threading.Event | None = None,
) -> FfmpegResult:
    """Run ``ffmpeg <args>`` with a wall-clock limit, streaming its progress and its messages.

    ``-nostdin -hide_banner`` and a machine-readable progress stream are added. ffmpeg runs in its own process group
    so that a timeout (or our own interruption) kills it and whatever it spawned, never leaving it running.

    Args:
        on_progress: called with the output time reached, in seconds, as ffmpeg reports it.
        on_stderr_line: called with each line ffmpeg prints (logs, warnings, errors).
        label: how to name the job in an error message.
        cancel: when set, ffmpeg is killed and :class:`MediaError` raised ("cancelled").

    Raises:
        MediaError: non-zero exit (when ``check``) or timeout; the message is one line: ``label``: ffmpeg's last line.
    """
    cmd = [executable("ffmpeg"), "-nostdin", "-hide_banner", "-nostats", "-progress", "pipe:1", *args]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    stderr_lines: list[str] = []

    def pump_stderr() -> None:
        for line in proc.stderr:
            line = line.rstrip("\n")
            stderr_lines.append(line)
            if on_stderr_line:
                on_stderr_line(line)

    def pump_progress() -> None:
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            if on_progress and key == "out_time_us" and value.lstrip("-").isdigit():
                on_progress(max(0, int(value)) / 1e6)

    pumps = [threading.Thread(target=pump_stderr, daemon=True), threading.Thread(target=pump_progress, daemon=True)]
    for pump in pumps:
        pump.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while proc.poll() is None:
            if cancel is not None and cancel.is_set():
                _kill_group(proc)
                raise MediaError(f"{label}: cancelled")
            if deadline is not None and time.monotonic() > deadline:
                _kill_group(proc)
                raise MediaError(f"{label}: ffmpeg timed out after {timeout:.0f} s")
            try:
                proc.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                pass
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        for pump in pumps:
            pump.join(timeout=5)
    stderr = "\n".join(stderr_lines)
    if check and proc.returncode != 0:
        raise MediaError(f"{label}: {key_error_line(stderr)}", detail=stderr)
    return FfmpegResult(proc.returncode, stderr)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


@dataclass
class FfmpegProcess:
    """A running ffmpeg started by :func:`ffmpeg_process`: read :attr:`stdout` inside the block; :attr:`stderr` is
    complete once the block is left."""

    proc: subprocess.Popen
    timed_out: bool = False  # set (before the kill) when the deadline killed ffmpeg
    _stderr: list[bytes] = field(default_factory=list)

    @property
    def stdout(self):
        """ffmpeg's standard output, a binary pipe."""
        return self.proc.stdout

    @property
    def stderr(self) -> str:
        """Everything ffmpeg wrote to its standard error, decoded (bad bytes replaced)."""
        return b"".join(self._stderr).decode("utf-8", errors="replace")


@contextmanager
def ffmpeg_process(args: Sequence[str], *, timeout: float | None = None) -> Iterator[FfmpegProcess]:
    """Run ``ffmpeg -nostdin -hide_banner -nostats <args>`` for the duration of the block, its stdout a pipe to read.

    ffmpeg runs in its own process group, stdin closed; a thread collects its stderr. A timer kills the group after
    ``timeout`` seconds (``timed_out`` is set first; reading stdout then meets its end). Leaving the block kills the
    group if ffmpeg is still running (an exception, KeyboardInterrupt, or the caller stopped reading early), reaps
    it and closes its pipes, so no ffmpeg outlives the block and none is left unreaped. The exit status is
    ``proc.returncode`` after the block; judging it is the caller's business.

    Raises:
        ToolMissingError: ffmpeg is not installed.
    """
    proc = subprocess.Popen(
        [executable("ffmpeg"), "-nostdin", "-hide_banner", "-nostats", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    running = FfmpegProcess(proc)
    pump = threading.Thread(target=lambda: running._stderr.extend(iter(lambda: proc.stderr.read(65536), b"")),
                            daemon=True)
    pump.start()

    def on_deadline() -> None:
        running.timed_out = True
        _kill_group(proc)

    timer = threading.Timer(timeout, on_deadline) if timeout is not None else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        yield running
    finally:
        if timer:
            timer.cancel()
        if proc.poll() is None:
            _kill_group(proc)
        proc.wait()
        proc.stdout.close()
        pump.join(timeout=5)
        proc.stderr.close()


def tool_version(name: str) -> str:
    """First line of ``<name> -version`` (e.g. ``ffmpeg version 5.1.6-0+deb12u1 ...``)."""
    done = subprocess.run([executable(name), "-version"], capture_output=True, text=True, timeout=30)
    return (done.stdout.splitlines() or ["unknown"])[0]


def has_encoder(name: str) -> bool:
    """Whether this ffmpeg build can encode with ``name`` (e.g. ``libx264``, ``aac``)."""
    done = subprocess.run(
        [executable("ffmpeg"), "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30
    )
    return any(line.split()[1:2] == [name] for line in done.stdout.splitlines() if line.strip())
