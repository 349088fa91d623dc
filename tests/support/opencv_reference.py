"""The original extractor's frame loop, reproduced with OpenCV as the decode benchmark's anchor, and the decode-only
benchmark that times it against reelset's decoders: used by ``bench/extract.py`` and checked by
``tests/features/test_frames.py``, outside the installed package. Needs OpenCV (the ``bench`` extra), imported only
when a loop runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelset.core.ffmpeg import MediaError
from reelset.features.frames import DecodedFrames, decode_frames
from reelset.features.frames._common import _check_request, _checked_file

__all__ = ["DecodeFigure", "benchmark_decode", "decode_frames_opencv", "decode_frames_opencv_seek"]


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
