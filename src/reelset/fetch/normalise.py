"""One ffmpeg pass from the source streams to the final clip, and the check every clip passes before it counts.

The output contract (the original scripts' format, now enforced): MP4 with ``+faststart``, H.264 (libx264) video in
yuv420p with even width and height, height <= ``MAX_HEIGHT``, AAC audio when the source has audio, and a duration of
at most ``MAX_DURATION`` seconds (plus a frame).

At most one encode: when the source already fits (H.264, yuv420p, even size within the cap, no rotation, AAC or no
audio) the streams are copied; otherwise video is encoded once, scaled to the cap, and audio is copied when it is
already AAC. The original approach encoded twice (keyframes forced at the cut, then libx264).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reelset.core.ffmpeg import AudioStream, MediaError, MediaInfo, VideoStream, probe, run_ffmpeg

X264_PRESET = "veryfast"
X264_CRF = 23
AAC_BITRATE = "128k"
# One AAC frame at 44.1 kHz is 23 ms: the container may run that much past the video.
DURATION_SLACK = 0.05


@dataclass(frozen=True)
class Plan:
    """How the clip is made from the source: copied or encoded, and at which size."""

    copy_video: bool
    audio: str  # "copy", "encode" or "none"
    width: int
    height: int
    reason: str

    @property
    def mode(self) -> str:
        return "copy" if self.copy_video else "encode"


def even_floor(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def target_size(video: VideoStream, max_height: int) -> tuple[int, int]:
    """The output's (width, height): the display size, scaled down to ``max_height`` if taller, both even."""
    width, height = video.display_size
    if height > max_height:
        width, height = width * max_height / height, max_height
    return even_floor(round(width)), even_floor(height)


def plan_clip(video: VideoStream, audio: AudioStream | None, max_height: int) -> Plan:
    """Decide copy or encode for a source with these streams."""
    width, height = target_size(video, max_height)
    misfits = []
    if video.codec != "h264":
        misfits.append(f"codec {video.codec}")
    if video.pix_fmt != "yuv420p":
        misfits.append(f"pixel format {video.pix_fmt}")
    if video.width % 2 or video.height % 2:
        misfits.append(f"odd size {video.width}x{video.height}")
    if video.display_size[1] > max_height:
        misfits.append(f"height {video.display_size[1]} > {max_height}")
    if video.rotation:
        misfits.append(f"rotated {video.rotation}")
    audio_mode = "none" if audio is None else ("copy" if audio.codec == "aac" else "encode")
    if audio_mode == "encode":
        misfits.append(f"audio {audio.codec}")
    if misfits:
        return Plan(False, audio_mode, width, height, "encode: " + ", ".join(misfits))
    return Plan(True, audio_mode, width, height, f"copy: h264 yuv420p {width}x{height}")


@dataclass(frozen=True)
class Input:
    """One input of the ffmpeg pass: a URL or path, the options before its ``-i``, the streams taken from it."""

    source: str
    options: tuple[str, ...] = ()
    maps: tuple[str, ...] = ()  # e.g. ("0:v:0", "0:a:0") or ("1:a:0",)


def clip_args(inputs: Sequence[Input], plan: Plan, max_duration: float, output: Path) -> list[str]:
    """ffmpeg arguments for the single pass (without the executable and the global options)."""
    args: list[str] = []
    for item in inputs:
        # Reading stops at max_duration on every input, so no more of the source is fetched than the clip needs.
        args += [*item.options, "-t", f"{max_duration:g}", "-i", item.source]
    for item in inputs:
        for spec in item.maps:
            args += ["-map", spec]
    if plan.copy_video:
        args += ["-c:v", "copy"]
    else:
        args += [
            "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF),
            "-vf", f"scale={plan.width}:{plan.height},setsar=1", "-pix_fmt", "yuv420p",
        ]
    if plan.audio == "copy":
        args += ["-c:a", "copy"]
    elif plan.audio == "encode":
        args += ["-c:a", "aac", "-b:a", AAC_BITRATE]
    args += ["-sn", "-dn", "-map_metadata", "-1", "-t", f"{max_duration:g}", "-movflags", "+faststart"]
    args += ["-f", "mp4", "-y", str(output)]
    return args


def moov_before_mdat(path: Path) -> bool:
    """Whether the MP4's index (moov) precedes its media data (mdat): what ``+faststart`` guarantees."""
    with open(path, "rb") as handle:
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return False
            size, kind = struct.unpack(">I4s", header)
            if kind == b"moov":
                return True
            if kind == b"mdat":
                return False
            if size == 1:
                size = struct.unpack(">Q", handle.read(8))[0]
                handle.seek(size - 16, 1)
            elif size < 8:
                return False
            else:
                handle.seek(size - 8, 1)


def verify_clip(path: Path, *, max_height: int, max_duration: float, label: str | None = None) -> MediaInfo:
    """Check that ``path`` honours the output contract; return its probe.

    The whole file is demuxed (every packet counted) and the first and last two seconds are decoded.

    Raises:
        MediaError: one line naming the clip and the first rule it breaks.
    """
    name = label or str(path)
    info = probe(path, count_frames=True, label=name)
    video = info.video

    def fail(reason: str) -> MediaError:
        return MediaError(f"{name}: output check failed: {reason}")

    if "mp4" not in info.format_name.split(","):
        raise fail(f"container {info.format_name}, expected mp4")
    if video is None:
        raise fail("no video stream")
    if video.codec != "h264":
        raise fail(f"video codec {video.codec}, expected h264")
    if video.pix_fmt != "yuv420p":
        raise fail(f"pixel format {video.pix_fmt}, expected yuv420p")
    if video.width <= 0 or video.height <= 0 or video.width % 2 or video.height % 2:
        raise fail(f"size {video.width}x{video.height} is not even")
    if video.display_size[1] > max_height:
        raise fail(f"height {video.display_size[1]} above the cap {max_height}")
    if not video.frame_count:
        raise fail("no video frames")
    if info.audio is not None and info.audio.codec != "aac":
        raise fail(f"audio codec {info.audio.codec}, expected aac")
    frame = 1 / video.fps if video.fps else 0.1
    if not info.duration or info.duration <= 0:
        raise fail("duration is 0")
    if info.duration > max_duration + frame + DURATION_SLACK:
        raise fail(f"duration {info.duration:.3f} s above {max_duration:g} s")
    if not moov_before_mdat(path):
        raise fail("moov atom after mdat (not +faststart)")
    # Decode the first and the last two seconds: a damaged start or a cut-off end fails here.
    for before_input, after_input in (([], ["-t", "2"]), (["-sseof", "-2"], [])):
        args = ["-v", "error", "-xerror", *before_input, "-i", str(path), *after_input, "-map", "0:v:0", "-f", "null", "-"]
        try:
            run_ffmpeg(args, label=name, timeout=120)
        except MediaError as exc:
            raise fail(f"does not decode ({exc})") from exc
    return info
