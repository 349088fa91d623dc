"""Cutting the segments of a downloaded clip into MP4s of their own, exactly.

Each output begins with the source frame shown at ``start`` (the last frame whose time is at or before it), holds
only the frames up to ``min(end, clip end)``, and has no MP4 edit list: its first sample is its first frame, so a
loader that counts samples sees exactly the segment (no pre-roll hidden behind an ``elst``, the wrong-frame-count
trap reported against video2dataset). B-frames are kept without an edit list through negative composition offsets
(``ctts`` version 1).

What is copied and what encoded (``CutResult.how``):

- ``copy``: the segment starts on one of the clip's keyframes and either the clip has no B-frames or the segment
  ends on a keyframe or at the clip's end. The clip's video packets are copied as they are.
- ``head re-encoded``: the frames from ``start`` to the next keyframe are encoded, the rest is copied (with B-frames
  and an end between keyframes, the frames from the last keyframe to the end are encoded too: a B-frame's packet
  refers to frames after it). The encoded parts are H.264 in the clip's profile, without B-frames, with parameter
  sets of their own ids (1 and 2), and the file's one sample entry (``avcC``) holds the clip's parameter sets and
  theirs: a plain ``avc1`` stream, no parameter set changes in band. The copied frames decode bit for bit as the
  clip's.
- ``shared encode``: a Tree-of-Captions nests its segments (a parent spans its two children), so when a clip has
  many segments between keyframes their heads add up to more than the clip. Then the stretch of the clip they cover
  is encoded **once**, with a keyframe (IDR) forced on the first and the stop frame of each of them, and every one
  is copied out of that encode (one generation of CRF 18 for the whole segment).
- ``re-encoded``: the segment alone, decoded from the keyframe before ``start`` and encoded: when it lies within one
  GOP (nothing to copy), or when a copy came out wrong.

For each clip the plan encodes the fewest frames: each segment spliced (or alone), or the shared encode. Encodes use
libx264 (CRF 18, the clip's pixel format). Every copy is checked (its frame count, from the moov box); one that came
out wrong is encoded instead. Copies and splices are remuxed in this process (PyAV), encodes run ffmpeg.

The sound is copied: the clip's AAC frames whose middle lies in the segment, the first moved to 0, so it is placed
within half an AAC frame (about 11 ms). A segment encoded alone has its sound encoded too (AAC); without an edit list
the encoder's priming (1024 samples, about 21 ms) is then part of the decoded sound.

A caller cutting several segments of one clip passes them to :func:`cut_segments` together: the clip is indexed once
(every video packet's time and keyframe flag: one demuxing pass, no decoding) and the shared encode is planned.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from reelset.core.atomic import atomic_output
from reelset.core.errors import ReelsetError
from reelset.core.ffmpeg import ffmpeg_process, probe, run_ffmpeg
from reelset.core.mp4 import read_mp4_video

__all__ = ["ClipIndex", "CutResult", "cut_segment", "cut_segments", "index_clip"]

COPY, SPLICED, SHARED_ENCODE, REENCODED = "copy", "head re-encoded", "shared encode", "re-encoded"
HOWS = (COPY, SPLICED, SHARED_ENCODE, REENCODED)
# H.264 profiles an encoded head can be given (to match the clip's, so that one sample entry describes both).
_X264_PROFILES = {"Constrained Baseline": "baseline", "Baseline": "baseline", "Main": "main", "High": "high"}
_CRF = 18
_PRESET = "veryfast"
_AUDIO_BITRATE = "128k"
# Output options that keep the file free of edit lists: B-frames' reordering goes into negative ctts offsets.
_NO_EDIT_LIST = ["-use_editlist", "0", "-movflags", "+negative_cts_offsets+faststart", "-f", "mp4"]
_MUXER_OPTIONS = {"use_editlist": "0", "movflags": "+negative_cts_offsets+faststart"}


@dataclass(frozen=True)
class ClipIndex:
    """Every video frame's presentation time in one clip, its keyframes, and whether frames are reordered."""

    time_base: Fraction
    frame_pts: tuple[int, ...]  # presentation timestamps, sorted, in ``time_base`` units
    frame_dts: tuple[int, ...]  # the decoding timestamp of each of those frames' packets
    keyframe_pts: frozenset[int]
    reorders: bool  # decode order differs from display order (B-frames)
    end_pts: int  # where the last frame stops showing
    has_audio: bool
    pix_fmt: str | None
    profile: str | None = None  # x264's name of the clip's H.264 profile when a head can be spliced in, else None

    def time(self, pts: int) -> float:
        return float(pts * self.time_base)

    @property
    def duration(self) -> float:
        return self.time(self.end_pts)

    @property
    def keyframe_times(self) -> list[float]:
        return sorted(self.time(pts) for pts in self.keyframe_pts)

    def stop_time(self, stop: int) -> float:
        """Where frame ``stop - 1`` stops showing (frame indexes count from 0)."""
        return self.time(self.frame_pts[stop] if stop < len(self.frame_pts) else self.end_pts)

    def splice_points(self, first: int, stop: int) -> tuple[int, int] | None:
        """``(k1, k2)``: frames ``[first, k1)`` to encode (the head), ``[k1, k2)`` to copy, ``[k2, stop)`` to encode
        (a tail: only when frames reorder and ``stop`` is not a keyframe). None when nothing could be copied."""
        if self.profile is None:
            return None
        keys = sorted(bisect.bisect_left(self.frame_pts, pts) for pts in self.keyframe_pts)
        k1 = next((key for key in keys if key >= first), None)
        if k1 is None or k1 >= stop:
            return None
        k2 = stop
        if self.reorders and stop < len(self.frame_pts) and self.frame_pts[stop] not in self.keyframe_pts:
            k2 = max(key for key in keys if key < stop)
        return (k1, k2) if k2 > k1 else None

    def copyable(self, first: int, stop: int) -> bool:
        """Whether frames ``[first, stop)`` can be copied: a keyframe first, and a clean end when frames reorder."""
        if self.frame_pts[first] not in self.keyframe_pts:
            return False
        return not self.reorders or stop == len(self.frame_pts) or self.frame_pts[stop] in self.keyframe_pts


@dataclass(frozen=True)
class CutResult:
    """One written segment: its frame count, the source frame it starts with, its length and how it was made."""

    path: Path
    frames: int
    first_pts: int  # the first frame's source timestamp, in the clip's video time base
    first_time: float  # the same in seconds
    duration: float  # seconds of video written
    how: str  # one of HOWS
    bytes: int


_HEADER = re.compile(r"^#tb 0: (\d+)/(\d+)")


def index_clip(clip: Path) -> ClipIndex:
    """Read every video packet's time and keyframe flag (one ``-c copy`` pass through ffmpeg's framecrc muxer).

    Raises:
        ReelsetError: ``<clip>: unreadable clip (...)`` or ``<clip>: no video stream``.
    """
    clip = Path(clip)
    info = probe(clip)
    if info.video is None:
        raise ReelsetError(f"{clip}: no video stream")
    time_base, rows = None, []
    with ffmpeg_process(["-v", "error", "-i", str(clip), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"],
                        timeout=300) as running:
        for raw in running.stdout:
            line = raw.decode("ascii", errors="replace").strip()
            header = _HEADER.match(line)
            if header:
                time_base = Fraction(int(header[1]), int(header[2]))
            elif line and not line.startswith("#"):
                fields = [field.strip() for field in line.split(",")]
                # framecrc prints "F=0x.." only when the flags differ from "key" alone.
                flags = next((int(field[2:], 16) for field in fields[6:] if field.startswith("F=")), 1)
                rows.append((int(fields[1]), int(fields[2]), int(fields[3]), bool(flags & 1)))
    if running.proc.returncode != 0 or time_base is None or not rows:
        raise ReelsetError(f"{clip}: unreadable clip (no video packets could be read)")
    pts_in_decode_order = [pts for _, pts, _, _ in rows]
    frame_pts = tuple(sorted(pts_in_decode_order))
    last = max(rows, key=lambda row: row[1])
    dts_of = {pts: dts for dts, pts, _, _ in rows}
    return ClipIndex(
        time_base=time_base,
        frame_pts=frame_pts,
        frame_dts=tuple(dts_of[pts] for pts in frame_pts),
        keyframe_pts=frozenset(pts for _, pts, _, key in rows if key),
        reorders=pts_in_decode_order != list(frame_pts),
        end_pts=last[1] + max(last[2], 1),
        has_audio=info.audio is not None,
        pix_fmt=info.video.pix_fmt,
        profile=_splice_profile(clip, info.video.pix_fmt),
    )


def _splice_profile(clip: Path, pix_fmt: str | None) -> str | None:
    """x264's name for the clip's profile when an encoded head can join its packets: H.264 in an ``avcC`` sample
    entry, 8-bit 4:2:0, a profile x264 can be held to."""
    import av

    try:
        with av.open(str(clip)) as container:
            context = container.streams.video[0].codec_context
            extradata = bytes(context.extradata or b"")
            if context.name != "h264" or not extradata.startswith(b"\x01") or pix_fmt not in ("yuv420p", "yuvj420p"):
                return None
            return _X264_PROFILES.get(context.profile or "")
    except (av.error.FFmpegError, OSError, IndexError):
        return None


def frame_span(index: ClipIndex, start: float, end: float, *, clip: Path | str = "clip") -> tuple[int, int]:
    """Frames ``[first, stop)`` (indexes from 0) of the segment ``[start, min(end, clip end))``.

    Raises:
        ReelsetError: ``end <= start`` or ``start`` outside the clip, naming ``clip``.
    """
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise ReelsetError(f"{clip}: segment end {end:g} s is not after its start {start:g} s")
    if start < 0 or start >= index.duration:
        raise ReelsetError(f"{clip}: segment start {start:g} s is outside the clip (0 to {index.duration:.3f} s)")
    # A frame is "shown at start" from its own time on; a microsecond's slack absorbs decimal rounding.
    slack = Fraction(1, 1_000_000) / index.time_base
    start_pts = Fraction(start) / index.time_base + slack
    end_pts = min(Fraction(end) / index.time_base - slack, Fraction(index.end_pts))
    first = max(bisect.bisect_right(index.frame_pts, start_pts) - 1, 0)
    stop = max(bisect.bisect_left(index.frame_pts, end_pts), first + 1)
    return first, stop


def cut_segment(clip: Path, start: float, end: float, out: Path, *, index: ClipIndex | None = None) -> CutResult:
    """Write ``out`` (atomically): the segment ``[start, min(end, clip end))`` of ``clip`` as an MP4 of its own.

    One segment of :func:`cut_segments`; see there.
    """
    return cut_segments(clip, [(start, end, out)], index=index)[0]


def cut_segments(clip: Path, segments: Sequence[tuple[float, float, Path]], *,
                 index: ClipIndex | None = None) -> list[CutResult]:
    """Write each ``(start, end, out)`` of ``clip`` to its ``out`` (atomically), exactly (the module's notes).

    Args:
        clip: the downloaded clip.
        segments: ``(start, end, out)``: seconds of the clip's timeline and the MP4 to write.
        index: :func:`index_clip`'s answer for ``clip``, when the caller has it already.

    Returns:
        One :class:`CutResult` per segment, in order; ``how`` says whether the video was copied or encoded.

    Raises:
        ReelsetError: one line naming the clip: unreadable, a segment with ``end <= start`` or starting outside the
            clip (checked before anything is written), or ffmpeg's reason when a cut fails.
    """
    clip = Path(clip)
    index = index or index_clip(clip)
    spans = [frame_span(index, start, end, clip=clip) for start, end, _ in segments]
    outs = [Path(out) for _, _, out in segments]
    results: list[CutResult | None] = [None] * len(spans)
    encode = [i for i, (first, stop) in enumerate(spans) if not index.copyable(first, stop)]
    for i, (first, stop) in enumerate(spans):
        if i not in encode:
            results[i] = _write(clip, index, first, stop, outs[i], source=None)
    if not encode:
        return [result for result in results if result is not None]
    # Frames to encode: each segment alone or spliced (its head, and its tail with B-frames), or the stretch they
    # cover once (the shared encode): the least.
    splices = {i: index.splice_points(*spans[i]) for i in encode}
    own_cost = sum(_splice_cost(index, spans[i], splices[i]) for i in encode)
    low, high = min(spans[i][0] for i in encode), max(spans[i][1] for i in encode)
    with tempfile.TemporaryDirectory(prefix=".reelset-cut-", dir=outs[encode[0]].parent) as work:
        if len(encode) > 1 and _encode_cost(index, low, high) < own_cost:
            cuts = sorted({spans[i][0] for i in encode} | {spans[i][1] for i in encode if spans[i][1] < high})
            shared = _shared_encode(clip, index, low, high, cuts, Path(work) / "shared.mp4")
            for i in encode:
                results[i] = _write(clip, index, *spans[i], outs[i], source=(shared, low))
        else:
            for i in encode:
                results[i] = _write(clip, index, *spans[i], outs[i], source=None, splice=splices[i], work=Path(work))
    return [result for result in results if result is not None]


def _encode_cost(index: ClipIndex, first: int, stop: int) -> float:
    """The work of encoding frames ``[first, stop)`` in frames encoded: the frames, the decoding from the keyframe
    before (a decoded frame costs about a fifth of an encoded one) and the run itself (ffmpeg's start, the encoder's
    set-up: about 15 frames' worth)."""
    if stop <= first:
        return 0.0
    before = bisect.bisect_right(index.frame_pts, max(
        (pts for pts in index.keyframe_pts if pts <= index.frame_pts[first]), default=index.frame_pts[0])) - 1
    return (stop - first) + (first - before) / 5 + 15


def _splice_cost(index: ClipIndex, span: tuple[int, int], splice: tuple[int, int] | None) -> float:
    first, stop = span
    if splice is None:
        return _encode_cost(index, first, stop)
    return _encode_cost(index, first, splice[0]) + _encode_cost(index, splice[1], stop)


def _write(clip: Path, index: ClipIndex, first: int, stop: int, out: Path,
           *, source: tuple[tuple[Path, ClipIndex] | None, int] | None, splice: tuple[int, int] | None = None,
           work: Path | None = None) -> CutResult:
    """Write frames ``[first, stop)`` of ``clip`` to ``out``: copied from the clip, from the shared encode
    (``source``: the encode and its index, or None if it failed, and the clip frame it starts at), or spliced
    (``splice``: an encoded head, copied packets, an encoded tail), checked, and encoded alone when none of those
    is right."""
    frames = stop - first
    first_time, stop_time = index.time(index.frame_pts[first]), index.stop_time(stop)
    duration = stop_time - first_time
    with atomic_output(out) as tmp:
        how = None
        if source is None and index.copyable(first, stop):
            how = COPY
            copied = _remux(clip, index, first, stop, clip if index.has_audio else None, first_time, duration, tmp)
        elif source is not None and source[0] is not None:
            (shared, shared_index), low = source
            how = SHARED_ENCODE
            copied = _remux(shared, shared_index, first - low, stop - low, clip if index.has_audio else None,
                            first_time, duration, tmp)
        elif splice is not None and work is not None:
            how = SPLICED
            copied = _splice(clip, index, first, *splice, stop, first_time, duration, tmp, work)
        if how is None or not copied or _frames_in(tmp) != frames:  # a layout the copy cannot cut: encode instead
            how = REENCODED
            _encode(clip, tmp, index, first, stop, audio=index.has_audio, duration=duration)
        written = _frames_in(tmp)
        if written is None:
            raise ReelsetError(f"{clip}: the cut {first_time:.3f}+{duration:.3f} s gave an unreadable MP4")
        size = tmp.stat().st_size
    return CutResult(out, written, index.frame_pts[first], first_time, duration, how, size)


def _video_encoder(index: ClipIndex) -> list[str]:
    """libx264 with the clip's pixel format, B-frames only if the clip has them, frames passed through as timed."""
    args = ["-c:v", "libx264", "-preset", _PRESET, "-crf", str(_CRF), "-fps_mode", "passthrough"]
    args += ["-pix_fmt", index.pix_fmt] if index.pix_fmt else []
    return args + ([] if index.reorders else ["-bf", "0"])


def _shared_encode(clip: Path, index: ClipIndex, low: int, high: int, cuts: list[int],
                   out: Path) -> tuple[Path, ClipIndex] | None:
    """Encode frames ``[low, high)`` of ``clip`` once, with an IDR frame on each of ``cuts`` (clip frame indexes);
    None when the encode does not hold those frames with those keyframes (each segment is then encoded alone)."""
    seek = max(0.0, index.time(index.frame_pts[low]) - 0.001)
    forced = "+".join(f"eq(n,{cut - low})" for cut in cuts)
    run_ffmpeg(["-y", "-v", "error", "-ss", f"{seek:.6f}", "-i", str(clip), "-map", "0:v:0", *_video_encoder(index),
                "-force_key_frames", f"expr:{forced}", "-forced-idr", "1", "-frames:v", str(high - low),
                "-an", "-sn", "-dn", "-map_metadata", "-1", *_NO_EDIT_LIST, str(out)],
               label=f"{clip}: encoding frames {low}-{high} once for its cuts", timeout=3600)
    shared = index_clip(out)
    keyframes = {shared.frame_pts.index(pts) for pts in shared.keyframe_pts}
    if len(shared.frame_pts) != high - low or not {cut - low for cut in cuts} <= keyframes:
        return None
    return out, shared


def _remux(video: Path, index: ClipIndex, first: int, stop: int, audio: Path | None, audio_at: float,
           duration: float, tmp: Path) -> bool:
    """Copy frames ``[first, stop)`` of ``video`` (described by ``index``; ``first`` a keyframe) and the AAC frames of
    ``audio`` whose middle lies in ``[audio_at, audio_at + duration)`` into ``tmp``, in this process (PyAV: no
    process to start, nothing decoded). Every timestamp is moved so that both streams start at 0: the sound is
    placed within half an AAC frame (about 11 ms). False when the packets cannot be read or written."""
    import av

    first_pts, stop_pts = index.frame_pts[first], index.frame_pts[stop] if stop < len(index.frame_pts) else None
    stop_dts = index.frame_dts[stop] if stop < len(index.frame_pts) else None
    try:
        with contextlib.ExitStack() as stack:
            source = stack.enter_context(av.open(str(video)))
            out = stack.enter_context(av.open(str(tmp), "w", format="mp4", options=_MUXER_OPTIONS))
            video_in = source.streams.video[0]
            video_out = out.add_stream_from_template(video_in)
            sound = stack.enter_context(av.open(str(audio))) if audio is not None else None
            audio_in = sound.streams.audio[0] if sound is not None and sound.streams.audio else None
            audio_out = out.add_stream_from_template(audio_in) if audio_in is not None else None
            source.seek(first_pts, stream=video_in, backward=True)
            for packet in source.demux(video_in):
                if packet.dts is None:
                    continue
                if stop_dts is not None and packet.dts >= stop_dts:
                    break  # every packet after it in decoding order shows a frame at or after the stop
                if packet.pts is None or packet.pts < first_pts or (stop_pts is not None and packet.pts >= stop_pts):
                    continue
                packet.pts -= first_pts
                packet.dts -= first_pts
                packet.stream = video_out
                out.mux(packet)
            if audio_in is not None:
                _copy_audio(sound, audio_in, audio_out, out, audio_at, audio_at + duration)
    except (av.error.FFmpegError, OSError, ValueError):
        return False
    return True


def _splice(clip: Path, index: ClipIndex, first: int, k1: int, k2: int, stop: int, first_time: float,
            duration: float, tmp: Path, work: Path) -> bool:
    """Frames ``[first, k1)`` and ``[k2, stop)`` encoded (H.264, the clip's profile, no B-frames, parameter set ids
    1 and 2), ``[k1, k2)`` copied, joined under one sample entry that holds every parameter set; the sound copied.
    False when an encode or the join does not work out (the caller encodes the segment alone)."""
    import av

    parts = {}
    for name, (a, b), sps_id in (("head", (first, k1), 1), ("tail", (k2, stop), 2)):
        if b > a:
            parts[name] = work / f"{name}.mp4"
            _encode_video(clip, index, a, b, parts[name], sps_id)
            if _frames_in(parts[name]) != b - a:
                return False
    first_pts = index.frame_pts[first]
    delay = index.frame_pts[k1] - index.frame_dts[k1]  # the clip's reorder delay: encoded frames decode as early
    stop_dts = index.frame_dts[k2] if k2 < len(index.frame_pts) else None
    try:
        with contextlib.ExitStack() as stack:
            source = stack.enter_context(av.open(str(clip)))
            encoded = {name: stack.enter_context(av.open(str(path))) for name, path in parts.items()}
            out = stack.enter_context(av.open(str(tmp), "w", format="mp4", options=_MUXER_OPTIONS))
            video_in = source.streams.video[0]
            video_out = out.add_stream_from_template(video_in)
            video_out.codec_context.extradata = _joined_avcc(
                bytes(video_in.codec_context.extradata),
                *(bytes(container.streams.video[0].codec_context.extradata) for container in encoded.values()))
            sound = stack.enter_context(av.open(str(clip))) if index.has_audio else None
            audio_in = sound.streams.audio[0] if sound is not None and sound.streams.audio else None
            audio_out = out.add_stream_from_template(audio_in) if audio_in is not None else None

            def mux_encoded(name: str, start: int) -> None:
                for number, packet in enumerate(p for p in encoded[name].demux(video=0) if p.dts is not None):
                    packet.pts = index.frame_pts[start + number] - first_pts
                    packet.dts = packet.pts - delay
                    packet.stream = video_out
                    out.mux(packet)

            if "head" in parts:
                mux_encoded("head", first)
            source.seek(index.frame_pts[k1], stream=video_in, backward=True)
            for packet in source.demux(video_in):
                if packet.dts is None or packet.pts is None or packet.pts < index.frame_pts[k1]:
                    continue
                if stop_dts is not None and packet.dts >= stop_dts:
                    break
                packet.pts -= first_pts
                packet.dts -= first_pts
                packet.stream = video_out
                out.mux(packet)
            if "tail" in parts:
                mux_encoded("tail", k2)
            if audio_in is not None:
                _copy_audio(sound, audio_in, audio_out, out, first_time, first_time + duration)
    except (av.error.FFmpegError, OSError, ValueError, IndexError):
        return False
    return True


def _joined_avcc(clip: bytes, *encoded: bytes) -> bytes:
    """One ``avcC`` record with the clip's parameter sets and the encoded parts' (their ids differ), the clip's
    profile and the highest level."""
    header, sps, pps, rest = _split_avcc(clip)
    level = header[3]
    for record in encoded:
        other = _split_avcc(record)
        sps += [item for item in other[1] if item not in sps]
        pps += [item for item in other[2] if item not in pps]
        level = max(level, other[0][3])
    joined = bytearray(header[:3]) + bytes([level, header[4], 0xE0 | len(sps)])
    for item in sps:
        joined += len(item).to_bytes(2, "big") + item
    joined.append(len(pps))
    for item in pps:
        joined += len(item).to_bytes(2, "big") + item
    return bytes(joined + rest)


def _split_avcc(record: bytes) -> tuple[bytes, list[bytes], list[bytes], bytes]:
    """``(the five header bytes, SPS list, PPS list, what follows)`` of an ``avcC`` record."""
    position, lists = 6, []
    for count in (record[5] & 0x1F, None):
        if count is None:
            count, position = record[position], position + 1
        items = []
        for _ in range(count):
            size = int.from_bytes(record[position:position + 2], "big")
            items.append(record[position + 2:position + 2 + size])
            position += 2 + size
        lists.append(items)
    return record[:5], lists[0], lists[1], record[position:]


def _encode_video(clip: Path, index: ClipIndex, first: int, stop: int, out: Path, sps_id: int) -> None:
    """Frames ``[first, stop)`` of ``clip`` encoded alone (video only, no B-frames) with parameter sets of id
    ``sps_id`` and the clip's profile."""
    run_ffmpeg(["-y", "-v", "error", *_decoded_input(clip, index, first, stop), "-map", "0:v:0", "-c:v", "libx264",
                "-preset", _PRESET, "-crf", str(_CRF), "-fps_mode", "passthrough", "-bf", "0", "-profile:v",
                str(index.profile), "-x264-params", f"sps-id={sps_id}", "-pix_fmt", index.pix_fmt or "yuv420p",
                "-an", "-sn", "-dn", "-map_metadata", "-1", *_NO_EDIT_LIST, str(out)],
               label=f"{clip}: encoding frames {first}-{stop}", timeout=600)


def _copy_audio(sound, audio_in, audio_out, out, start: float, end: float) -> None:
    """The audio packets whose middle lies in ``[start, end)``, the first moved to 0."""
    base = audio_in.time_base
    sound.seek(max(0, int((start - 0.1) / base)), stream=audio_in, backward=True)
    offset = None
    for packet in sound.demux(audio_in):
        if packet.pts is None:
            continue
        middle = float((packet.pts + (packet.duration or 0) / 2) * base)
        if middle >= end:
            break
        if middle < start:
            continue
        offset = packet.pts if offset is None else offset
        packet.pts -= offset
        packet.dts = packet.pts
        packet.stream = audio_out
        out.mux(packet)


def _encode(clip: Path, tmp: Path, index: ClipIndex, first: int, stop: int, *, audio: bool, duration: float) -> None:
    """Frames ``[first, stop)`` of ``clip`` decoded from the keyframe before and encoded (libx264), and its sound over
    the same span encoded (AAC) from a second input, so that the video's limit stays its own."""
    first_time = index.time(index.frame_pts[first])
    args = ["-y", "-v", "error", *_decoded_input(clip, index, first, stop)]
    outputs = ["-map", "0:v:0", *_video_encoder(index)]
    if audio:
        args += ["-ss", f"{first_time:.6f}", "-i", str(clip)]
        outputs += ["-map", "1:a:0", "-c:a", "aac", "-b:a", _AUDIO_BITRATE, "-af", f"atrim=duration={duration:.6f}"]
    args += [*outputs, "-map_metadata", "-1", "-sn", "-dn", *_NO_EDIT_LIST, str(tmp)]
    run_ffmpeg(args, label=f"{clip}: encoding {first_time:.3f}+{duration:.3f} s", timeout=600)


def _decoded_input(clip: Path, index: ClipIndex, first: int, stop: int) -> list[str]:
    """ffmpeg's input options that decode exactly frames ``[first, stop)`` of ``clip``: decoding discards frames
    before -ss, and a little earlier keeps the first frame whatever the rounding; the limit is on the input (an
    output frame limit would end the sound with the video's last packet), half a frame before the stop frame."""
    seek = max(0.0, index.time(index.frame_pts[first]) - 0.001)
    limit = [] if stop >= len(index.frame_pts) else ["-t", f"{index.stop_time(stop) - seek - _half_frame(index):.6f}"]
    return ["-ss", f"{seek:.6f}", *limit, "-i", str(clip)]


def _half_frame(index: ClipIndex) -> float:
    return index.time(min((b - a for a, b in zip(index.frame_pts, index.frame_pts[1:])), default=1)) / 2


def _frames_in(path: Path) -> int | None:
    facts = read_mp4_video(path)
    return facts.frame_count if facts else None
