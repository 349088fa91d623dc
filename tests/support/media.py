"""Test-only media made with ffmpeg: videos whose frames show their own index, to check which source frame a
decoder picked (constant and variable frame rate), the rule a viewer follows, and ffmpeg run for a test's own odd
inputs. The media the demo also uses (:func:`~reelset.sandbox.media.make_video`, ``make_hls``) is in
:mod:`reelset.sandbox.media`.
"""

from __future__ import annotations

import math
import subprocess
from fractions import Fraction
from pathlib import Path

from reelset.core.ffmpeg import run_ffmpeg


def _run_ffmpeg(args: list[str], output: Path) -> None:
    """Run ffmpeg quietly and overwriting; failures raise MediaError naming the file being made."""
    run_ffmpeg(["-loglevel", "error", "-y", *args], label=f"making {output}")


# --- Videos whose frames show their own index (to check which source frame a decoder picked) ----------------------


def make_index_video(
    path: str | Path,
    *,
    frames: int,
    rate: float = 10,
    size: tuple[int, int] = (64, 48),
    times_ms: tuple[int, ...] | None = None,
    codec: tuple[str, ...] = ("-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv444p"),
    extra: tuple[str, ...] = (),
) -> Path:
    """``frames`` frames at ``rate`` (or at ``times_ms``, millisecond presentation times), frame n showing n as three
    grey bands (hundreds, tens, units; :func:`read_frame_indexes` reads them back); lossless 4:4:4 H.264 by default."""
    path = Path(path)
    width, height = size
    band = height // 3
    digit = f"if(lt(Y,{band}),floor(N/100),if(lt(Y,{2 * band}),mod(floor(N/10),10),mod(N,10)))"
    chain = ["settb=1/1000", "format=yuv444p", f"geq=lum='16+20*{digit}':cb=128:cr=128"]
    timing: list[str] = []
    if times_ms is not None:
        if len(times_ms) != frames:
            raise ValueError(f"times_ms has {len(times_ms)} values for {frames} frames")
        pts = str(times_ms[-1])
        for n in range(len(times_ms) - 2, -1, -1):
            pts = f"if(eq(N,{n}),{times_ms[n]},{pts})"
        chain.append(f"setpts='{pts}'")  # the time base is 1/1000: the expression is in ms
        timing = ["-fps_mode", "passthrough", "-enc_time_base", "1/1000"]
    _run_ffmpeg(["-f", "lavfi", "-i", f"color=c=black:s={width}x{height}:r={rate}", "-vf", ",".join(chain),
                 "-frames:v", str(frames), "-c:v", "libx264", *codec, *timing, *extra, str(path)], path)
    return path


# The variable-frame-rate index video of the decoder tests. Irregular presentation times (ms): frame 3 is held 1.5 s
# (on screen at t = 1 and t = 2), frames 4-7 are a burst no sample sees, frame 8 sits exactly on t = 3 (``<=``, not
# ``<``), and the last frame (5.2 s) lasts 1 s (every frame of the generator's 1 fps source does), so the video ends
# at 6.2 s. VFR_EXPECTED: what a viewer sees at t = 0, 1, ..., 6.
VFR_TIMES_MS = (0, 500, 600, 700, 2200, 2250, 2300, 2999, 3000, 3001, 4500, 5200)
VFR_END_MS = 6200
VFR_EXPECTED = [0, 3, 3, 8, 9, 10, 11]


def make_vfr_videos(folder: Path, *, offset_ms: int) -> dict[str, Path]:
    """The :data:`VFR_TIMES_MS` index video as ``mkv`` and ``mp4``, and as ``mkv-offset`` with its frames starting
    ``offset_ms`` into the stream (t = 0 is the first frame, not the stream's zero)."""
    folder = Path(folder)
    frames = len(VFR_TIMES_MS)
    return {
        "mkv": make_index_video(folder / "vfr.mkv", frames=frames, rate=1, times_ms=VFR_TIMES_MS),
        "mp4": make_index_video(folder / "vfr.mp4", frames=frames, rate=1, times_ms=VFR_TIMES_MS),
        "mkv-offset": make_index_video(folder / "vfr_offset.mkv", frames=frames, rate=1,
                                       times_ms=tuple(t + offset_ms for t in VFR_TIMES_MS)),
    }


def ffmpeg_quietly(*args: str) -> None:
    """``ffmpeg -nostdin -v error -y ARGS`` for a test's own odd inputs (CalledProcessError when it fails)."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, capture_output=True)


def read_frame_indexes(frames) -> list[int]:
    """The source frame index each decoded RGB frame of :func:`make_index_video` shows (bands read at their
    centres); ValueError when a band is not a clean level."""
    height = frames.shape[1]
    found = []
    for frame in frames:
        gray = frame.astype("float64").mean(axis=2)
        value = 0
        for i in range(3):
            # The middle of band i (rows i/3..(i+1)/3 of the height, a margin off each edge: resizes blend them).
            top, bottom = math.ceil((4 * i + 1) * height / 12), math.floor((4 * i + 3) * height / 12)
            level = gray[top:bottom + 1, 2:-2].mean()
            digit = level * 219 / 255 / 20  # limited-range luma back from full-range RGB
            if abs(digit - round(digit)) >= 0.25:
                raise ValueError(f"band {i} unreadable: {level:.1f}")
            value = 10 * value + round(digit)
        found.append(value)
    return found


def viewer_rule(times_ms, end_ms, fps, max_frames: int = 300) -> list[int]:
    """The frames a viewer sees at t = k / fps for every t before the end: the last frame with pts <= t, computed
    with exact arithmetic from millisecond presentation times (the rule of :mod:`reelset.features.frames`)."""
    start = times_ms[0]
    rel = [Fraction(t - start, 1000) for t in times_ms]
    end = Fraction(end_ms - start, 1000)
    fps = Fraction(fps)
    picked: list[int] = []
    k = 0
    while k / fps < end and len(picked) < max_frames:
        picked.append(max(i for i, t in enumerate(rel) if t <= k / fps))
        k += 1
    return picked

