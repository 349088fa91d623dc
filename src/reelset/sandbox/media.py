"""Small, real media files made with ffmpeg, for the tests and the demo.

The toolkit's hard cases come from the files themselves: an mp4 whose ``moov`` atom sits at the end, odd frame
sizes, rotation metadata, missing audio, and YouTube-style split formats (separate video and audio renditions).
Generating them with the real ffmpeg keeps the repository free of binary fixtures and makes every case one call.
Defaults favour speed (10 fps, ``-preset ultrafast``, short clips): a few seconds of 640x360 take well under a second.

ffmpeg runs through the toolkit's one wrapper, :func:`reelset.core.ffmpeg.run_ffmpeg`, so a failure is the same
:class:`~reelset.core.ffmpeg.MediaError` (ffmpeg's reason in the message, its whole stderr in ``detail``) as anywhere
else. Probing is not here either: that is :func:`reelset.core.ffmpeg.probe`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from reelset.core.atomic import atomic_output, atomic_write_text, temp_path_for
from reelset.core.ffmpeg import run_ffmpeg

__all__ = ["make_hls", "make_phone_video", "make_video"]

_AUDIO_ENCODERS = {"aac": "aac", "mp3": "libmp3lame", "opus": "libopus"}
# Audio codecs each container takes. Opus in mp4 needs ffmpeg's experimental mode, so it is offered in mkv/webm only.
_CONTAINER_AUDIO = {
    ".mp4": {"aac", "mp3"},
    ".mov": {"aac", "mp3"},
    ".mkv": {"aac", "mp3", "opus"},
    ".webm": {"opus"},
}
_MUXERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
# Containers whose ffmpeg 5.1 muxer writes a display matrix (rotation) and has a moov atom to move (faststart).
_QUICKTIME_CONTAINERS = {".mp4", ".mov"}
# The fastest settings of each encoder: test media must be cheap, not pretty.
_SPEED_FLAGS = {
    "libx264": ["-preset", "ultrafast"],
    "libvpx": ["-deadline", "realtime", "-cpu-used", "8"],
    "libvpx-vp9": ["-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1"],
}
_SAMPLE_RATE = 48_000  # the rate Opus requires, fine for the others
_TONE_HZ = 440


def make_video(
    path: str | Path,
    *,
    seconds: float,
    width: int,
    height: int,
    fps: float = 10,
    vcodec: str = "libx264",
    pix_fmt: str | None = None,
    audio: str | None = "aac",
    faststart: bool = False,
    gop_seconds: float = 2.0,
    pattern: str = "testsrc2",
    rotate: int | None = None,
) -> Path:
    """Write a synthetic video (moving test pattern, optional sine tone) and return its path.

    Args:
        path: Output file; its suffix picks the container: ``.mp4``, ``.mov``, ``.mkv`` or ``.webm`` (``.webm``
            needs ``vcodec="libvpx"`` or ``"libvpx-vp9"`` and ``audio="opus"`` or None).
        seconds: Duration; the file has ``round(seconds * fps)`` frames.
        width, height: Frame size. Odd sizes work: see ``pix_fmt``.
        fps: Frame rate; low by default because tests rarely need motion, only frames.
        vcodec: Any ffmpeg video encoder (``libx264``, ``mpeg4``, ``libvpx-vp9``...).
        pix_fmt: Pixel format; None picks ``yuv420p`` for even sizes and ``yuv444p`` for odd ones, because 4:2:0
            needs even dimensions (libx264 refuses odd sizes in yuv420p) while 4:4:4 H.264 (High 4:4:4 profile)
            takes any size and still decodes everywhere ffmpeg does. Encoders that only take 4:2:0 (``mpeg4``) get
            it converted back by ffmpeg and accept odd sizes themselves.
        audio: None for no audio stream, or ``"aac"``, ``"mp3"``, ``"opus"`` (``.mkv``/``.webm`` only): a mono sine.
        faststart: Put the ``moov`` atom first (``.mp4``/``.mov`` only). Off by default on purpose: files with the
            index at the end are common on real servers, and they break clients that cannot send Range requests.
        gop_seconds: Keyframe interval; keyframes are forced at exact multiples so cuts can land on them.
        pattern: An ffmpeg lavfi video source that takes ``size`` and ``rate`` (``testsrc2``, ``testsrc``,
            ``smptebars``, ``mandelbrot``...).
        rotate: Display rotation in degrees (90, 180, 270), stored as a display matrix (``.mp4``/``.mov`` only).
            ffmpeg 5.1 writes it only when remuxing (it has no ``-display_rotation``), so a rotated file is encoded
            first and then remuxed with ``-metadata:s:v:0 rotate=N``; ffprobe then shows a ``Display Matrix`` side
            data whose ``rotation`` is ``N`` wrapped into [-180, 180) (90 -> 90, 180 -> -180, 270 -> -90).

    Raises:
        ValueError: A combination the container cannot hold (checked before ffmpeg runs, for a clearer message).
        reelset.core.ffmpeg.MediaError: ffmpeg failed (``ToolMissingError`` when it is not installed).
    """
    path = Path(path)
    container = path.suffix.lower()
    _check_video_request(container, seconds, width, height, fps, audio, faststart, rotate)
    pix_fmt = pix_fmt or ("yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p")
    muxer = ["-f", _MUXERS[container]]  # the temporary names below do not end in the container's suffix
    encode = [
        *_pattern_input(pattern, width, height, fps),
        *(_tone_input() if audio else []),
        "-t", f"{seconds}",
        # Crop in 4:4:4: ffmpeg's crop rounds odd sizes down in 4:2:0 formats, silently.
        "-vf", f"format=yuv444p,crop={width}:{height}:0:0,format={pix_fmt}",
        *_video_codec_args(vcodec, fps, gop_seconds),
        *(["-c:a", _AUDIO_ENCODERS[audio]] if audio else []),
        *muxer,
    ]
    faststart_args = ["-movflags", "+faststart"] if faststart else []
    # Written beside the target and renamed when complete, so a failed run leaves no broken file behind.
    with atomic_output(path, durable=False) as output:
        if rotate is None:
            _run_ffmpeg([*encode, *faststart_args, str(output)], path)
        else:
            unrotated = temp_path_for(path)
            try:
                _run_ffmpeg([*encode, str(unrotated)], path)
                _run_ffmpeg([
                    "-i", str(unrotated), "-map", "0", "-c", "copy", "-metadata:s:v:0", f"rotate={rotate}",
                    *faststart_args, *muxer, str(output),
                ], path)
            finally:
                unrotated.unlink(missing_ok=True)
    return path


def make_hls(
    out_dir: str | Path,
    *,
    seconds: float,
    variants: Sequence[tuple[int, int]] = ((1280, 720), (640, 360)),
    fps: float = 10,
    audio: bool = True,
    segment_seconds: float = 2.0,
) -> Path:
    """Write an HLS VOD rendition set shaped like YouTube's split formats and return the master playlist's path.

    One H.264 variant per ``(width, height)`` in ``variants`` (each ``#EXT-X-STREAM-INF`` with ``BANDWIDTH``,
    ``RESOLUTION`` and ``CODECS``) and, when ``audio``, ONE AAC rendition (``#EXT-X-MEDIA:TYPE=AUDIO``,
    ``GROUP-ID="group_audio"``) that every variant references. Segments are MPEG-TS, the format yt-dlp's native HLS
    downloader and ffmpeg 5.1 both handle without special flags. A local stand-in for YouTube: yt-dlp sees real
    heights here (unlike a direct mp4) and has to merge a video-only and an audio-only format.

    Layout under ``out_dir``: ``master.m3u8``, ``stream_<W>x<H>/index.m3u8`` + ``seg_NNN.ts`` per variant,
    ``stream_audio/`` for the audio.

    ffmpeg's master playlist also lists the audio rendition as an audio-only variant; that entry is removed, so the
    rendition is the one audio format, as audio is its own single format on YouTube.

    Raises:
        ValueError: no variants, duplicate or odd sizes (4:2:0 H.264 needs even sizes), or non-positive times.
        reelset.core.ffmpeg.MediaError: ffmpeg failed (``ToolMissingError`` when it is not installed).
    """
    out_dir = Path(out_dir)
    _check_hls_request(seconds, variants, fps, segment_seconds)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [f"{width}x{height}" for width, height in variants]
    split = f"[0:v]split={len(variants)}" + "".join(f"[in{i}]" for i in range(len(variants)))
    scales = [f"[in{i}]scale={w}:{h}[out{i}]" for i, (w, h) in enumerate(variants)]
    stream_map = [f"v:{i},name:{name}" + (",agroup:audio" if audio else "") for i, name in enumerate(names)]
    args = [
        *_pattern_input("testsrc2", *max(variants, key=lambda size: size[0] * size[1]), fps),
        *(_tone_input() if audio else []),
        "-t", f"{seconds}",
        "-filter_complex", ";".join([split, *scales]),
    ]
    for i, (width, height) in enumerate(variants):
        args += ["-map", f"[out{i}]", f"-b:v:{i}", f"{_video_bitrate(width, height, fps)}"]
    if audio:
        args += ["-map", "1:a", "-c:a", "aac", "-b:a", "96k"]
        stream_map.append("a:0,name:audio,agroup:audio")
    args += [
        *_video_codec_args("libx264", fps, segment_seconds),
        "-pix_fmt", "yuv420p",
        "-f", "hls",
        "-hls_time", f"{segment_seconds}",
        "-hls_playlist_type", "vod",
        "-hls_segment_filename", str(out_dir / "stream_%v" / "seg_%03d.ts"),
        "-master_pl_name", "master.m3u8",
        "-var_stream_map", " ".join(stream_map),
        str(out_dir / "stream_%v" / "index.m3u8"),
    ]
    master = out_dir / "master.m3u8"
    _run_ffmpeg(args, master)
    atomic_write_text(master, _without_audio_only_variants(master.read_text()), durable=False)
    return master


def make_phone_video(
    path: str | Path,
    *,
    style: str = "android",
    when: datetime | None = None,
    lat: float | None = None,
    lon: float | None = None,
    altitude: float | None = None,
    extra_tags: Mapping[str, str] | None = None,
    seconds: float = 1.0,
    width: int = 160,
    height: int = 90,
    source: str | Path | None = None,
    **video_options,
) -> Path:
    """Write a video carrying when and where it was taken the way phones write it, and return its path.

    ``style="android"`` (Android's MediaMuxer): ``creation_time`` in UTC and the position as ISO 6709
    (``+48.8584+002.2945/``) in the ``location`` tag. In an ``.mp4`` (what phones write) ffmpeg stores it as a
    3GPP ``loci`` box, not Android's ``©xyz``, but ffprobe reads either back the same: ``location`` and
    ``location-eng``, both ``+48.8584+002.2945/``; it parses the text first and drops what it cannot parse. In a
    ``.mov`` it is a ``©xyz`` box holding the text as given (ffprobe: ``location`` only), so a malformed
    ``location`` for a test goes in a ``.mov``.

    ``style="apple"`` (an iPhone's ``.MOV``): QuickTime metadata keys (``-movflags use_metadata_tags`` writes them
    in the ``mdta`` form iPhones use): ``com.apple.quicktime.creationdate`` (the local time with its zone:
    ``when``'s own, ``2023-07-14T12:00:00+0200``), ``com.apple.quicktime.location.ISO6709`` (with the altitude when
    given, ``+48.8584+002.2945+035.000/``), ``com.apple.quicktime.make``/``model``; and ``creation_time`` in UTC.

    ffprobe shows all of these among the container's (format) tags.

    Args:
        path: ``.mp4`` or ``.mov`` (either style; phones use ``.mp4`` and ``.mov`` respectively).
        when: An aware datetime; None writes no time at all (ffmpeg adds none by itself).
        lat, lon, altitude: Degrees and metres; None for ``lat``/``lon`` writes no position.
        extra_tags: More container tags, written as given (e.g. a malformed ``location``, to test a reader).
        seconds, width, height, video_options: As :func:`make_video` (small and short by default).
        source: a video whose streams to use (e.g. a photo made into a video) instead of making one.

    Raises:
        ValueError: An unknown style, a naive ``when``, only one of ``lat``/``lon``, or what :func:`make_video`
            refuses.
        reelset.core.ffmpeg.MediaError: ffmpeg failed.
    """
    path = Path(path)
    container = path.suffix.lower()
    if style not in ("android", "apple"):
        raise ValueError(f"style must be 'android' or 'apple', got {style!r}")
    if container not in _QUICKTIME_CONTAINERS:
        raise ValueError(f"phone videos are .mp4 or .mov, not {container!r}")
    if when is not None and when.utcoffset() is None:
        raise ValueError("when must be an aware datetime (phones know their time zone)")
    if (lat is None) != (lon is None):
        raise ValueError("give both lat and lon, or neither")
    tags = _phone_tags(style, when, lat, lon, altitude)
    tags.update(extra_tags or {})
    movflags = ["+use_metadata_tags"] if style == "apple" else []
    if video_options.pop("faststart", False):
        movflags.append("+faststart")
    # make_video writes no tags; ffmpeg adds them when copying the streams into the final file.
    with tempfile.TemporaryDirectory(prefix="reelset-phone-") as folder:
        plain = Path(source) if source is not None else make_video(
            Path(folder) / f"plain{container}", seconds=seconds, width=width, height=height, **video_options)
        with atomic_output(path, durable=False) as output:
            _run_ffmpeg([
                "-i", str(plain), "-map", "0", "-c", "copy",
                *(["-movflags", "".join(movflags)] if movflags else []),
                *(arg for name, value in tags.items() for arg in ("-metadata", f"{name}={value}")),
                "-f", _MUXERS[container], str(output),
            ], path)
    return path


def _phone_tags(
    style: str, when: datetime | None, lat: float | None, lon: float | None, altitude: float | None
) -> dict[str, str]:
    """The container tags a phone of ``style`` writes, formatted as it formats them."""
    tags: dict[str, str] = {}
    if when is not None:
        tags["creation_time"] = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    # ISO 6709 as both phones write it: 4 decimals, degrees zero-padded to 2 (latitude) and 3 (longitude) digits.
    position = f"{lat:+08.4f}{lon:+09.4f}" if lat is not None else None
    if style == "android":
        if position:
            tags["location"] = f"{position}/"
        return tags
    tags["com.apple.quicktime.make"] = "Apple"
    tags["com.apple.quicktime.model"] = "iPhone 13"
    if when is not None:
        tags["com.apple.quicktime.creationdate"] = when.strftime("%Y-%m-%dT%H:%M:%S%z")
    if position:
        tags["com.apple.quicktime.location.ISO6709"] = f"{position}{'' if altitude is None else f'{altitude:+08.3f}'}/"
    return tags


def _check_video_request(
    container: str, seconds: float, width: int, height: int, fps: float,
    audio: str | None, faststart: bool, rotate: int | None,
) -> None:
    if container not in _CONTAINER_AUDIO:
        raise ValueError(f"unsupported container {container!r}: use one of {sorted(_CONTAINER_AUDIO)}")
    if seconds <= 0 or fps <= 0 or width <= 0 or height <= 0:
        raise ValueError("seconds, fps, width and height must be positive")
    if audio is not None and audio not in _CONTAINER_AUDIO[container]:
        raise ValueError(f"audio {audio!r} cannot go in {container}: use one of {sorted(_CONTAINER_AUDIO[container])}")
    if (faststart or rotate) and container not in _QUICKTIME_CONTAINERS:
        raise ValueError(f"faststart and rotate apply to .mp4/.mov only, not {container}")
    if rotate is not None and rotate not in (90, 180, 270):
        raise ValueError(f"rotate must be 90, 180 or 270, got {rotate}")


def _check_hls_request(
    seconds: float, variants: Sequence[tuple[int, int]], fps: float, segment_seconds: float
) -> None:
    if seconds <= 0 or fps <= 0 or segment_seconds <= 0:
        raise ValueError("seconds, fps and segment_seconds must be positive")
    if not variants or len(set(variants)) != len(variants):
        raise ValueError(f"variants must be distinct (width, height) pairs, got {list(variants)}")
    if any(width % 2 or height % 2 or width <= 0 or height <= 0 for width, height in variants):
        raise ValueError(f"HLS variants need positive even sizes (4:2:0 H.264), got {list(variants)}")


def _pattern_input(pattern: str, width: int, height: int, fps: float) -> list[str]:
    """A lavfi test pattern at least ``width`` x ``height``: sources like testsrc2 round odd sizes down, so the
    source is made one pixel larger where needed and cropped back to the exact size by the caller's filter."""
    source_width, source_height = width + width % 2, height + height % 2
    return ["-f", "lavfi", "-i", f"{pattern}=size={source_width}x{source_height}:rate={fps}"]


def _tone_input() -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency={_TONE_HZ}:sample_rate={_SAMPLE_RATE}"]


def _video_codec_args(vcodec: str, fps: float, gop_seconds: float) -> list[str]:
    """Encoder, its speed flags, and keyframes every ``gop_seconds`` exactly (forced, so scene cuts add none in
    between that matter: segments and cuts can rely on the interval)."""
    gop_frames = max(1, round(gop_seconds * fps))
    return [
        "-c:v", vcodec,
        *_SPEED_FLAGS.get(vcodec, []),
        "-g", str(gop_frames),
        "-force_key_frames", f"expr:gte(t,n_forced*{gop_seconds})",
    ]


def _video_bitrate(width: int, height: int, fps: float) -> int:
    """A bitrate that grows with the pixel rate, so BANDWIDTH orders the variants the way their sizes do."""
    return max(64_000, round(width * height * fps * 0.1))


def _without_audio_only_variants(master: str) -> str:
    """Drop ``#EXT-X-STREAM-INF`` entries without ``RESOLUTION`` (ffmpeg's audio-only variant) and their URI line."""
    kept: list[str] = []
    lines = iter(master.splitlines())
    for line in lines:
        if line.startswith("#EXT-X-STREAM-INF:") and "RESOLUTION=" not in line:
            next(lines, None)
            continue
        if line or (kept and kept[-1]):  # also collapse the blank lines left behind
            kept.append(line)
    return "\n".join(kept).rstrip("\n") + "\n"


def _run_ffmpeg(args: list[str], output: Path) -> None:
    """Run ffmpeg quietly and overwriting; failures raise MediaError naming the file being made."""
    run_ffmpeg(["-loglevel", "error", "-y", *args], label=f"making {output}")
