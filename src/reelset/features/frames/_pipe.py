"""The sampled frames from one ffmpeg process: every frame decoded, the fps filter picks the samples, raw RGB read
from its stdout into one array. What ``method="ffmpeg"`` always uses and the fallback of the PyAV decoder.

How ffmpeg implements the frame-choice rule of :mod:`reelset.features.frames` (checked frame by frame on a
variable-frame-rate file whose frames carry their own index, see ``tests/features/test_frames.py``):
``setpts=PTS-STARTPTS`` makes t = 0 the first frame (OpenCV's position is relative to the stream's start too), then
``fps=fps=F:round=up``. The fps filter outputs, for slot ``n``, the latest input frame whose timestamp *rounded into
the 1/F time base* is ``<= n``; rounding **up** makes that ``ceil(pts * F) <= n``, i.e. ``pts <= n / F``: exactly
the rule. ``round=down`` would pick the last frame *before* ``(n + 1) / F`` (a frame from the future, and the first
sample at 0.5 s on a file whose second frame is at 0.5 s), and the default ``round=near`` the last one before
``(n + 0.5) / F``. At the end, the filter emits slots up to the end-of-stream time rounded the same way (up), so slot
``n`` exists iff ``n / F < end``. ``-frames:v max_frames`` makes ffmpeg stop as soon as the last sample is out, so a
two-hour file costs only its first ``max_frames / fps`` seconds; the fps filter comes before scaling and colour
conversion, so only picked frames are converted.

The process itself (its own process group, the deadline, killed and reaped whatever happens) is
:func:`reelset.core.ffmpeg.ffmpeg_process`'s.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from reelset.core.ffmpeg import MediaError, ffmpeg_process, probe
from reelset.features.frames._common import (
    _SCALE_FLAGS,
    DEFAULT_TIMEOUT,
    DecodedFrames,
    _check_request,
    _checked_file,
    _file_url,
)

# ffmpeg's log lines with their level: "[h264 @ 0x55..] [error] Invalid NAL unit size" or "[error] Error while ...".
_LOG_LINE = re.compile(r"^(?:\[[^\]]* @ 0x[0-9a-f]+\] )?\[(?P<level>[a-z]+)\] (?P<text>.*)$")
_DECODED = re.compile(r"Input stream #\d+:\d+ \(video\): \d+ packets read \(\d+ bytes\); (\d+) frames decoded")


def decode_frames_pipe(
    path: str | Path,
    *,
    fps: float = 1.0,
    max_frames: int = 300,
    size: tuple[int, int] | None = None,
    threads: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> DecodedFrames:
    """:func:`reelset.features.frames.decode_frames` with ``method="ffmpeg"``: ffprobe, then one ffmpeg process
    (arguments and errors as documented there)."""
    _check_request(fps, max_frames, size)
    name = str(path)
    local = _checked_file(path)
    info = probe(_file_url(local), label=name, timeout=timeout)
    video = info.video
    if video is None or video.width <= 0 or video.height <= 0:
        raise MediaError(f"{name}: no video stream")
    width, height = size or video.display_size
    args = [
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
    run = _run_rawvideo(args, (height, width, 3), max_frames, expected, timeout)
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
    args: Sequence[str], frame_shape: tuple[int, int, int], max_frames: int, expected: int, timeout: float | None
) -> _RawvideoRun:
    """Run ffmpeg with ``args`` writing raw frames of ``frame_shape`` to stdout; read them straight into one array.

    :func:`~reelset.core.ffmpeg.ffmpeg_process` kills ffmpeg's process group at the deadline and on leaving the
    block if it is still running (anything going wrong, KeyboardInterrupt included), so no ffmpeg outlives this call
    and none is left unreaped.
    """
    with ffmpeg_process(args, timeout=timeout) as ffmpeg:
        frames = _read_frames(ffmpeg.stdout, frame_shape, max_frames, expected)
        ffmpeg.proc.wait(timeout=None if timeout is None else max(timeout, 1))
    stderr = ffmpeg.stderr
    decoded = _DECODED.search(stderr)
    return _RawvideoRun(
        frames=frames,
        returncode=ffmpeg.proc.returncode,
        stderr=stderr,
        timed_out=ffmpeg.timed_out,
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
