"""Frames of a video at a fixed rate (1 per second for YouTube-8M), as RGB arrays, decoded in-process by PyAV or by one
ffmpeg process.

Two decoders give the same frames, byte for byte on every format tested (``tests/features/test_frames_seek.py``).
By default (``method="auto"``) :mod:`reelset.features.frames_seek` decodes in-process with PyAV and only what the
chosen frames depend on (each from its GOP's keyframe; the rest of the GOP and non-reference B-frames are skipped):
one frame per sample with 1 s GOPs, about half the frames with 2 s GOPs, where the pipe below decodes every frame,
and no ffprobe or process start. What it cannot reproduce exactly (PyAV missing, packets without timestamps, damage
in the middle of a file...) goes to the ffmpeg pipe, which ``method="ffmpeg"`` always uses and the rest of this
docstring describes.

The frame-choice rule (the original extractor's intent, made exact):

    Sample ``k`` is taken at ``t = k / fps`` seconds after the video's first frame, for every ``t`` before the end of
    the video (the end of its last frame), at most ``max_frames`` of them. It is the frame a viewer sees at ``t``:
    the last frame whose presentation time is ``<= t``.

So a 10.0 s video gives 10 samples at 1 fps (t = 0..9; nothing is on screen at t = 10.0), a 10.5 s one 11, a 0.4 s
one 1. Presentation times, not frame counts, decide, so variable frame rate is handled: a frame held for 1.5 s can be
picked twice, a burst of short frames gives one.

How ffmpeg implements it (checked frame by frame on a variable-frame-rate file whose frames carry their own index,
see ``tests/features/test_frames.py``): ``setpts=PTS-STARTPTS`` makes t = 0 the first frame (OpenCV's position is
relative to the stream's start too), then ``fps=fps=F:round=up``. The fps filter outputs, for slot ``n``, the
latest input frame whose timestamp *rounded into the 1/F time base* is ``<= n``; rounding **up** makes that
``ceil(pts * F) <= n``, i.e. ``pts <= n / F``: exactly the rule. ``round=down`` would pick the last frame *before*
``(n + 1) / F`` (a frame from the future, and the first sample at 0.5 s on a file whose second frame is at 0.5 s),
and the default ``round=near`` the last one before ``(n + 0.5) / F``. At the end, the filter emits slots up to the
end-of-stream time rounded the same way (up), so slot ``n`` exists iff ``n / F < end``. ``-frames:v max_frames``
makes ffmpeg stop as soon as the last sample is out, so a two-hour file costs only its first ``max_frames / fps``
seconds; the fps filter comes before scaling and colour conversion, so only picked frames are converted.

The original extractor (youtube-8m ``feature_extractor/extract_tfrecords_main.py``, ``frame_iterator``) reads every
frame with OpenCV and compares ``CAP_PROP_POS_MSEC`` (the time of the frame just read); its quirks are reproduced by
:func:`decode_frames_opencv` and described there. On constant-frame-rate video it takes the frame *one after* the one
at ``t`` (``0, 11, 21, ...`` on a 10 fps source; ``0, 2, 3, 4, ...`` on a 1 fps one) and, on variable frame rate,
its sampling drifts (each interval starts at the overshooting frame): this module takes the frame at ``t``.

Other facts:
- Rotation: ffmpeg applies the display matrix (autorotate), so frames come out upright as a viewer sees them (a
  90-degree phone video is portrait), the same orientation as OpenCV 4's own auto-rotation.
- ``size=(w, h)`` resizes inside ffmpeg, after the frame choice, to exactly ``w`` x ``h`` with bilinear
  interpolation, ignoring the aspect ratio (a plain resize, like the original's Inception graph, which resized the
  whole decoded frame to 299 x 299). Without ``size`` frames keep their displayed size (odd sizes included);
  non-square pixels (sample aspect ratio) are not corrected, as OpenCV does not either.
- Audio, subtitles and data streams are ignored; the first video stream that is not cover art is decoded.
- A damaged or truncated file that ffmpeg can partly decode gives the frames up to the damage, like a viewer plays it
  up to there, plus a one-line warning in :attr:`DecodedFrames.warnings` naming the file and ffmpeg's first error
  (callers decide whether to keep partial features); a file from which no frame can be decoded raises.
- Failures are :class:`reelset.core.ffmpeg.MediaError` (a :class:`~reelset.core.errors.ReelsetError`): one line
  naming the file and the reason (missing, a folder, empty, unreadable, not a video, no video stream, timeout).
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from reelset.core.ffmpeg import MediaError, executable, probe

__all__ = [
    "DecodeFigure",
    "DecodedFrames",
    "benchmark_decode",
    "decode_frames",
    "decode_frames_opencv",
]

DEFAULT_TIMEOUT = 600.0
# Interpolation of the optional resize. Bilinear matches the resize of the original's Inception graph; swscale's
# bilinear also averages over the footprint when shrinking, so a 1080p frame shrunk to 224 does not alias.
_SCALE_FLAGS = "bilinear"
# ffmpeg's log lines with their level: "[h264 @ 0x55..] [error] Invalid NAL unit size" or "[error] Error while ...".
_LOG_LINE = re.compile(r"^(?:\[[^\]]* @ 0x[0-9a-f]+\] )?\[(?P<level>[a-z]+)\] (?P<text>.*)$")
_DECODED = re.compile(r"Input stream #\d+:\d+ \(video\): \d+ packets read \(\d+ bytes\); (\d+) frames decoded")


@dataclass(frozen=True)
class DecodedFrames:
    """The sampled frames of one video.

    Attributes:
        frames: ``(n, height, width, 3)`` uint8 RGB, upright, C-contiguous and writable.
        timestamps: ``(n,)`` float64 seconds; for :func:`decode_frames` the sample times ``k / fps`` (the frame shown
            then), for :func:`decode_frames_opencv` the presentation time of the frame the original loop took.
        source: the path as given.
        duration: the container's duration in seconds (ffprobe's), None when unknown.
        rotation: the display rotation read from the file's metadata and applied, in degrees (0, 90, 180, 270; ffprobe's
            counter-clockwise convention).
        source_size: ``(width, height)`` of the frames as stored, before rotation and scaling.
        decoded_frames: how many source frames ffmpeg decoded (its final statistics): shows that a long video was
            not decoded to its end. None for the OpenCV loop or when ffmpeg did not report it.
        warnings: one-line messages naming the file (a damaged or truncated video decoded up to the damage).
    """

    frames: np.ndarray
    timestamps: np.ndarray
    source: str
    duration: float | None
    rotation: int
    source_size: tuple[int, int]
    decoded_frames: int | None = None
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.frames)


def decode_frames(
    path: str | Path,
    *,
    fps: float = 1.0,
    max_frames: int = 300,
    size: tuple[int, int] | None = None,
    threads: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    method: str = "auto",
) -> DecodedFrames:
    """Decode the frames shown at ``t = 0, 1/fps, 2/fps, ...`` (see the module docstring for the exact rule).

    Args:
        path: a local video file (any name: non-ASCII, spaces, colons and leading dashes are safe).
        fps: samples per second of video.
        max_frames: at most this many samples, from the start; ffmpeg stops once they are out.
        size: ``(width, height)`` to resize every frame to (plain resize, aspect not kept); None keeps the displayed
            size.
        threads: ffmpeg decoder threads; None lets ffmpeg choose (one per core).
        timeout: wall-clock limit in seconds for the whole decode (ffmpeg is killed when it is reached).
        method: ``"auto"``: PyAV (:func:`reelset.features.frames_seek.decode_frames_seek`) when it is installed,
            the ffmpeg pipe when it is not or the file needs the pipe; ``"pyav"``: PyAV only
            (:class:`~reelset.features.frames_seek.SeekUnsupported` for such a file); ``"ffmpeg"``: the pipe.

    Returns:
        The frames, their sample times and the source facts; ``warnings`` is non-empty for a damaged file.

    Raises:
        MediaError: the file is missing, a folder, empty, unreadable, not a video, has no video stream, no frame could
            be decoded, or the timeout was reached; one line naming the file.
        ValueError: a non-positive ``fps``, ``max_frames`` or ``size``, or an unknown ``method``.
    """
    _check_request(fps, max_frames, size)
    if method not in ("auto", "pyav", "ffmpeg"):
        raise ValueError(f"method must be 'auto', 'pyav' or 'ffmpeg', got {method!r}")
    if method != "ffmpeg":
        from reelset.features import frames_seek  # it imports this module: not at the top

        if method == "pyav" or frames_seek.available():
            try:
                return frames_seek.decode_frames_seek(path, fps=fps, max_frames=max_frames, size=size,
                                                      threads=threads, timeout=timeout)
            except frames_seek.SeekUnsupported:
                if method == "pyav":
                    raise
    name = str(path)
    local = _checked_file(path)
    info = probe(_file_url(local), label=name, timeout=timeout)
    video = info.video
    if video is None or video.width <= 0 or video.height <= 0:
        raise MediaError(f"{name}: no video stream")
    width, height = size or video.display_size
    command = [
        executable("ffmpeg"), "-nostdin", "-hide_banner", "-nostats",
        # "verbose" for the final "N frames decoded" statistics; "level" tags each line so errors can be told apart.
        "-loglevel", "level+verbose",
        *(["-threads", str(threads)] if threads else []),
        "-i", _file_url(local),
        "-map", "0:V:0", "-an", "-sn", "-dn",
        "-vf", _filter_chain(fps, width, height),
        # The fps filter's output is the sample sequence; the rawvideo muxer must neither drop nor duplicate any.
        "-fps_mode", "passthrough",
        "-frames:v", str(max_frames),
        "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
    ]
    expected = _expected_samples(info.duration, fps, max_frames)
    run = _run_rawvideo(command, (height, width, 3), max_frames, expected, timeout)
    if run.timed_out:
        raise MediaError(f"{name}: decoding timed out after {timeout:.0f} s")
    errors = run.errors()
    if run.returncode != 0:
        raise MediaError(f"{name}: cannot decode video ({(errors or [run.last_line()])[0]})", detail=run.stderr)
    if len(run.frames) == 0:
        reason = errors[0] if errors else "the video stream has no frames"
        raise MediaError(f"{name}: no frame could be decoded ({reason})", detail=run.stderr)
    timestamps = np.arange(len(run.frames), dtype=np.float64) / fps
    warnings = ()
    if errors:
        of_total = f" of {info.duration:.1f} s" if info.duration else ""
        warnings = (
            f"{name}: damaged or truncated video: {len(run.frames)} frames decoded, up to "
            f"{timestamps[-1]:.1f} s{of_total} ({errors[0]})",
        )
    return DecodedFrames(
        frames=run.frames,
        timestamps=timestamps,
        source=name,
        duration=info.duration,
        rotation=video.rotation,
        source_size=(video.width, video.height),
        decoded_frames=run.decoded_frames,
        warnings=warnings,
    )


def _check_request(fps: float, max_frames: int, size: tuple[int, int] | None) -> None:
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames!r}")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise ValueError(f"size must be (width, height) with positive values, got {size!r}")


def _checked_file(path: str | Path) -> Path:
    """The file as an absolute path, or a one-line error that says why it cannot be a video (before ffprobe's
    less direct messages)."""
    local = Path(path)
    try:
        stat = local.stat()
    except FileNotFoundError:
        raise MediaError(f"{path}: no such file") from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if local.is_dir():
        raise MediaError(f"{path}: is a folder, not a video file")
    if stat.st_size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")
    if not os.access(local, os.R_OK):
        raise MediaError(f"{path}: permission denied")
    return local.absolute()


def _file_url(path: Path) -> str:
    """ffmpeg reads ``name:...`` as a protocol (``a:b.mp4`` fails) and ``-`` as stdin: the file protocol avoids both."""
    return f"file:{path}"


def _filter_chain(fps: float, width: int, height: int) -> str:
    rate = Fraction(fps).limit_denominator(1_000_000)
    return ",".join([
        "setpts=PTS-STARTPTS",  # t = 0 is the first frame of the video stream
        f"fps=fps={rate.numerator}/{rate.denominator}:round=up",  # slot n: last frame with pts <= n / fps
        # Always scale, even to the displayed size: the colour conversion happens here, once, and a mid-stream
        # resolution change cannot change the frame size the pipe is read with.
        f"scale={width}:{height}:flags={_SCALE_FLAGS}",
        "format=rgb24",
    ])


def _expected_samples(duration: float | None, fps: float, max_frames: int) -> int:
    """How many samples a video of ``duration`` gives (a first guess for the buffer; the pipe has the last word)."""
    if not duration:
        return min(max_frames, 64)
    return max(1, min(max_frames, math.ceil(duration * fps)))


@dataclass
class _RawvideoRun:
    frames: np.ndarray
    returncode: int
    stderr: str
    timed_out: bool
    decoded_frames: int | None

    def errors(self) -> list[str]:
        """ffmpeg's error lines, in order, without their ``[component @ address] [level]`` prefixes."""
        found = []
        for line in self.stderr.splitlines():
            match = _LOG_LINE.match(line.strip())
            if match and match["level"] in ("error", "fatal", "panic"):
                found.append(match["text"].strip())
        return found

    def last_line(self) -> str:
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"ffmpeg exited with status {self.returncode}"


def _run_rawvideo(
    command: Sequence[str], frame_shape: tuple[int, int, int], max_frames: int, expected: int, timeout: float | None
) -> _RawvideoRun:
    """Run ffmpeg writing raw frames of ``frame_shape`` to stdout; read them straight into one array.

    ffmpeg runs in its own process group; a timer kills the group at the deadline, and the ``finally`` kills it if
    anything else goes wrong (including KeyboardInterrupt), so no ffmpeg outlives this call and none is left unreaped.
    """
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    stderr_chunks: list[bytes] = []
    pump = threading.Thread(target=lambda: stderr_chunks.extend(iter(lambda: proc.stderr.read(65536), b"")),
                            daemon=True)
    pump.start()
    timed_out = threading.Event()

    def on_deadline() -> None:
        timed_out.set()
        _kill_group(proc)

    timer = threading.Timer(timeout, on_deadline) if timeout is not None else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        frames = _read_frames(proc.stdout, frame_shape, max_frames, expected)
        proc.wait(timeout=None if timeout is None else max(timeout, 1))
    finally:
        if timer:
            timer.cancel()
        if proc.poll() is None:
            _kill_group(proc)
        proc.wait()
        proc.stdout.close()
        pump.join(timeout=5)
        proc.stderr.close()
    stderr = b"".join(stderr_chunks).decode("utf-8", errors="replace")
    decoded = _DECODED.search(stderr)
    return _RawvideoRun(
        frames=frames,
        returncode=proc.returncode,
        stderr=stderr,
        timed_out=timed_out.is_set(),
        decoded_frames=int(decoded[1]) if decoded else None,
    )


def _read_frames(stream, frame_shape: tuple[int, int, int], max_frames: int, expected: int) -> np.ndarray:
    """Whole frames from ``stream`` into one preallocated array (grown by doubling if ``expected`` was short); a
    partial frame at the end (ffmpeg killed mid-write) is dropped."""
    buffer = np.empty((max(1, expected), *frame_shape), dtype=np.uint8)
    count = 0
    while count < max_frames:
        if count == len(buffer):
            grown = np.empty((min(max_frames, 2 * len(buffer)), *frame_shape), dtype=np.uint8)
            grown[:count] = buffer[:count]
            buffer = grown
        if not _read_exactly(stream, memoryview(buffer[count]).cast("B")):
            break
        count += 1
    return buffer[:count] if count == len(buffer) else buffer[:count].copy()


def _read_exactly(stream, view: memoryview) -> bool:
    filled = 0
    while filled < len(view):
        got = stream.readinto(view[filled:])
        if not got:
            return False
        filled += got
    return True


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --- The original extractor's loop, reproduced as the benchmark's anchor -----------------------------------------


def decode_frames_opencv(path: str | Path, *, fps: float = 1.0, max_frames: int = 300) -> DecodedFrames:
    """The original extractor's frame loop (youtube-8m ``frame_iterator``), reproduced faithfully with OpenCV.

    The original reads *every* frame (it never seeks) and, with ``every_ms = 1000 / fps`` and ``last_ts = -99999``::

        while count < max_frames:
            while POS_MSEC < every_ms + last_ts:     # POS_MSEC: time of the frame just read (0 before any read)
                if not read(): return
            last_ts = POS_MSEC
            frame = read(); if none: break
            yield frame                               # BGR; its caller reversed the channels to RGB

    Quirks kept: the first frame is frame 0; after it, the loop reads up to the first frame at or past
    ``last_ts + every_ms`` and yields the frame *after* that one, and the next interval starts at the overshooting
    frame's time. So on a 10 fps source it yields frames 0, 11, 21, 31, ... (``k * 1 s + 0.1 s``) instead of 0, 10,
    20, ...; on a source at exactly ``fps`` it skips frame 1 and then yields every frame (0, 2, 3, 4, ...); on
    variable frame rate the overshoots add up and samples drift later (a 6 s file can give 4 samples instead of 6).
    The counts match :func:`decode_frames` on constant frame rate at other source rates.

    Not kept: the original printed a message and yielded nothing for a file it could not open; here that and a file
    without frames raise :class:`MediaError`, as :func:`decode_frames` does. Frames are converted with
    ``cv2.cvtColor`` (the same values as the original's ``[:, :, ::-1]``, but contiguous). OpenCV 4 rotates by the
    display matrix, as the original's OpenCV 3 did not; timestamps here are the taken frames' own times.
    """
    import cv2  # optional: only the benchmark anchor needs OpenCV

    _check_request(fps, max_frames, None)
    name = str(path)
    local = _checked_file(path)
    every_ms = 1000.0 / fps
    capture = cv2.VideoCapture(str(local))
    try:
        if not capture.isOpened():
            raise MediaError(f"{name}: OpenCV cannot open the video")
        frames: list[np.ndarray] = []
        times: list[float] = []
        last_ts = -99999.0
        while len(frames) < max_frames:
            if not _skip_until(capture, every_ms + last_ts):
                break
            last_ts = capture.get(cv2.CAP_PROP_POS_MSEC)
            has_frame, frame = capture.read()
            if not has_frame:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            times.append(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
        # OpenCV reports the displayed size and a clockwise angle; DecodedFrames holds the stored size and
        # ffprobe's counter-clockwise angle.
        rotation = -int(capture.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
        displayed = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        source_size = displayed[::-1] if rotation % 180 else displayed
        frame_count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        native_fps = capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()
    if not frames:
        raise MediaError(f"{name}: OpenCV decoded no frame")
    return DecodedFrames(
        frames=np.stack(frames),
        timestamps=np.asarray(times, dtype=np.float64),
        source=name,
        duration=frame_count / native_fps if native_fps > 0 and frame_count > 0 else None,
        rotation=rotation,
        source_size=source_size,
    )


def _skip_until(capture, until_ms: float) -> bool:
    """Read frames while the position is before ``until_ms``; False at the end of the video (the original returns)."""
    import cv2

    while capture.get(cv2.CAP_PROP_POS_MSEC) < until_ms:
        if not capture.read()[0]:
            return False
    return True


def decode_frames_opencv_seek(path: str | Path, *, fps: float = 1.0, max_frames: int = 300) -> np.ndarray:
    """Timing helper: OpenCV *seeking* to ``k * 1000 / fps`` ms before each read (a common rewrite of the original's
    loop; each seek decodes from the previous keyframe, which is why it is slower). Returns the RGB frames."""
    import cv2

    capture = cv2.VideoCapture(str(_checked_file(path)))
    frames = []
    try:
        while len(frames) < max_frames:
            capture.set(cv2.CAP_PROP_POS_MSEC, len(frames) * 1000.0 / fps)
            has_frame, frame = capture.read()
            if not has_frame:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return np.stack(frames) if frames else np.empty((0, 0, 0, 3), np.uint8)


# --- Decode-only benchmark ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecodeFigure:
    """One method's decode-only speed: ``frames`` sampled in ``seconds`` (best of the repeats)."""

    method: str
    frames: int
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def benchmark_decode(
    path: str | Path,
    *,
    fps: float = 1.0,
    max_frames: int = 300,
    size: tuple[int, int] = (224, 224),
    repeats: int = 3,
    methods: Sequence[str] | None = None,
) -> list[DecodeFigure]:
    """Time each decode method on one video: sampled frames per second of wall time, best of ``repeats``.

    Methods: ``ffmpeg-pipe`` (:func:`decode_frames` with ``method="ffmpeg"``, displayed size),
    ``ffmpeg-pipe-scaled`` (resized to ``size`` in ffmpeg), ``ffmpeg-pipe-1thread`` (one decoder thread, as one of
    several parallel workers would run), ``opencv-loop`` (:func:`decode_frames_opencv`, the original),
    ``opencv-seek`` (seek per sample); and, when named, ``pyav-scaled`` (the default decoder, resized to ``size``).
    """
    runners: dict[str, Callable[[], int]] = {
        "ffmpeg-pipe": lambda: len(decode_frames(path, fps=fps, max_frames=max_frames, method="ffmpeg")),
        "ffmpeg-pipe-scaled": lambda: len(decode_frames(path, fps=fps, max_frames=max_frames, size=size,
                                                        method="ffmpeg")),
        "ffmpeg-pipe-1thread": lambda: len(decode_frames(path, fps=fps, max_frames=max_frames, threads=1,
                                                         method="ffmpeg")),
        "opencv-loop": lambda: len(decode_frames_opencv(path, fps=fps, max_frames=max_frames)),
        "opencv-seek": lambda: len(decode_frames_opencv_seek(path, fps=fps, max_frames=max_frames)),
        "pyav-scaled": lambda: len(decode_frames(path, fps=fps, max_frames=max_frames, size=size, method="pyav")),
    }
    figures = []
    for method in methods or [name for name in runners if name != "pyav-scaled"]:
        best, frames = math.inf, 0
        for _ in range(repeats):
            started = time.perf_counter()
            frames = runners[method]()
            best = min(best, time.perf_counter() - started)
        figures.append(DecodeFigure(method, frames, best))
    return figures
