"""Clips whose every frame shows its own number as black/white bars, and the numbers read back from any video.

Bar ``i`` is white when bit ``i`` of the frame number is set; the bars survive CRF encoding, so the frames a cut
holds are read back from its pixels (the oracle of the exact-cut tests and of ``bench/export.py``).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from reelset.core.ffmpeg import run_ffmpeg

WIDTH, HEIGHT, BITS = 160, 32, 12


def make_counter_clip(path: Path, *, seconds: float = 8, fps: int = 30, keyframe_seconds: float = 2,
                      b_frames: int = 0, audio: bool = True, width: int = WIDTH, height: int = HEIGHT,
                      sound: str = "sine=f=440:r=48000:d={seconds}") -> Path:
    """An H.264 (+ AAC) MP4 of ``seconds`` at ``fps`` with a keyframe exactly every ``keyframe_seconds``; ``sound``
    is the lavfi source of its audio."""
    bar = width // BITS
    counter = (f"nullsrc=s={width}x{height}:r={fps}:d={seconds},format=gray,"
               f"geq=lum='255*mod(floor(N/pow(2,floor(X/{bar}))),2)'")
    gop = str(round(keyframe_seconds * fps))
    args = ["-y", "-v", "error", "-f", "lavfi", "-i", counter]
    args += ["-f", "lavfi", "-i", sound.format(seconds=seconds)] if audio else []
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
             "-bf", str(b_frames), "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-shortest"] if audio else []
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg([*args, "-movflags", "+faststart", str(path)])
    return Path(path)


def frame_numbers(video: Path, *, width: int = WIDTH, height: int = HEIGHT) -> list[int]:
    """The number shown by each decoded frame of ``video``, in display order."""
    import subprocess

    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt",
                          "gray", "-"], check=True, capture_output=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height, width)
    bar = width // BITS
    rows = slice(height // 4, height - height // 4)
    bits = frames[:, rows, : bar * BITS].reshape(len(frames), -1, BITS, bar).mean(axis=(1, 3)) > 128
    return [int(sum(1 << i for i, on in enumerate(row) if on)) for row in bits]


def has_edit_list(path: Path) -> bool:
    """Whether the MP4 at ``path`` holds an edit list (an ``elst`` box under ``moov/trak/edts``)."""
    data = Path(path).read_bytes()

    def walk(start: int, end: int) -> bool:
        while start + 8 <= end:
            size, kind = struct.unpack_from(">I4s", data, start)
            header = 8
            if size == 1:
                size, header = struct.unpack_from(">Q", data, start + 8)[0], 16
            size = size or end - start
            if kind == b"elst" or (kind in {b"moov", b"trak", b"edts"} and walk(start + header, start + size)):
                return True
            start += max(size, 8)
        return False

    return walk(0, len(data))
