"""What both decoders share: the result type, the request and file checks, the resize flags (pure helpers, no
decoding; imported by :mod:`._pipe` and :mod:`._seek`, never importing them)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelset.core.errors import one_line
from reelset.core.ffmpeg import MediaError

DEFAULT_TIMEOUT = 600.0
# Interpolation of the optional resize, the same in both decoders. Bilinear matches the resize of the original's
# Inception graph; swscale's bilinear also averages over the footprint when shrinking, so a 1080p frame shrunk to 224
# does not alias.
_SCALE_FLAGS = "bilinear"


@dataclass(frozen=True)
class DecodedFrames:
    """The sampled frames of one video.

    Attributes:
        frames: ``(n, height, width, 3)`` uint8 RGB, upright, C-contiguous and writable.
        timestamps: ``(n,)`` float64 seconds; for :func:`~reelset.features.frames.decode_frames` the sample times
            ``k / fps`` (the frame shown then), for ``decode_frames_opencv`` (the original loop, in
            ``tests/support/opencv_reference.py``) the presentation time of the frame it took.
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
        raise MediaError(f"{path}: cannot read ({one_line(exc, strerror=True)})") from None
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
