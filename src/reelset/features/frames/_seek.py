"""The same sampled frames as the ffmpeg pipe (:mod:`._pipe`), decoded in-process with PyAV, decoding only the source
frames the samples depend on: what :func:`reelset.features.frames.decode_frames` uses by default.

The ffmpeg pipe decodes every frame of the video (the fps filter then keeps one a second), as the original OpenCV
loop does. This decoder picks the frames first and decodes only what they need:

1. **Index** (no decoding): the video stream's packets are demuxed up to the last sample's time (plus a few packets
   of slack for B-frame reordering; a long file is not read to its end), noting each frame's presentation time
   (pts), keyframe flag and decode order.
2. **Choose**: sample ``k`` is the last frame whose pts, relative to the first frame's (ffmpeg's
   ``setpts=PTS-STARTPTS``), is ``<= k / fps``, for every ``k / fps`` before the end of the last frame (its pts plus
   its duration), at most ``max_frames``: the rule of :mod:`reelset.features.frames`, computed with exact integers
   in the stream's time base (``pts * tb * fps <= k``, the ``fps`` rational made as the pipe makes it).
3. **Decode what they depend on**: for each chosen frame, the packets in decode order from the keyframe that starts
   its GOP (the previous keyframe for an open-GOP leading frame, whose pts is before its keyframe's) up to the
   packet carrying it. Overlapping ranges are merged; between ranges the decoder is drained and reset, so the tail
   of every GOP after its last chosen frame is never decoded. Inside a range, packets nothing refers to and no
   sample shows are not decoded either: those the container flags disposable, and H.264 non-reference pictures
   (``nal_ref_idc == 0``, most B-frames). At 1 sample per second that is one frame per sample with 1 s GOPs, about
   half the source frames with 2 s GOPs of I/P frames and about a third with B-frames (the pipe and OpenCV decode
   all of them).
4. **Convert** only the chosen frames with an FFmpeg filter graph that is the pipe's own chain after the frame
   choice: ffmpeg's autorotation filter (``transpose``/``hflip``/``vflip`` chosen from the display matrix exactly
   as the ffmpeg 5.1 command line does), then ``scale=W:H:flags=bilinear,format=rgb24``. The output equals the
   pipe's byte for byte on the formats tested (PyAV's FFmpeg 8 and the system's ffmpeg 5.1 give the same pixels;
   ``VideoFrame.reformat`` does not: up to 30 levels off when shrinking).

Everything else is the pipe's: the :class:`DecodedFrames` result (``decoded_frames`` counts the frames this decoder
actually decoded), the one-line :class:`MediaError` messages naming the file (an unreadable file is described by
ffprobe, as the pipe does), and a truncated file gives the frames up to the damage plus a one-line warning.

What it does not handle exactly raises :class:`SeekUnsupported` (a :class:`MediaError`) before anything is returned,
so :func:`~reelset.features.frames.decode_frames` can fall back to the pipe: PyAV missing, packets without
timestamps, two frames with the same timestamp, a display matrix other than quarter turns and flips, a last frame
without a duration when the video ends before ``max_frames``, a range start flagged as a keyframe that does not
decode as one (an mp4 without a sync-sample table marks every frame key), a chosen frame the decoder did not output
or flagged as corrupt, and damage in the middle of the file (a corrupt packet followed by more, a decoding error):
the pipe conceals it and warns.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from reelset.core.errors import one_line
from reelset.core.ffmpeg import MediaError, ToolMissingError, probe
from reelset.features.frames._common import (
    _SCALE_FLAGS,
    DEFAULT_TIMEOUT,
    DecodedFrames,
    _check_request,
    _checked_file,
    _file_url,
)

__all__ = ["SeekUnsupported", "available", "decode_frames_seek"]

# Packets demuxed past the first one beyond the last sample's time: a frame shown earlier can still follow in decode
# order (B-frame reordering, at most 16 frames deep in H.264/HEVC).
_REORDER_SLACK = 32
# Packets kept in memory from the index pass for the decode pass, up to this many bytes; past it the file is demuxed
# a second time (about 15 ms per 15 MB) instead.
_KEEP_BYTES = 32 << 20
_PICTURE_I = 1  # AV_PICTURE_TYPE_I
# FFmpeg's frame + slice threading when threads is None or > 1. Measured on 2 cores: with 1-2 s GOPs one thread
# costs no more wall time and less CPU (each range is short and drained); with 5 s GOPs or B-frames frame threads
# cut wall time by about a third for 15% more CPU.
_THREAD_TYPE = "AUTO"


class SeekUnsupported(MediaError):
    """The file has something this decoder does not reproduce exactly; the ffmpeg pipe handles it."""


def available() -> bool:
    """Whether PyAV can be imported."""
    import importlib

    try:
        importlib.import_module("av")
    except ImportError:
        return False
    return True


@dataclass
class _Index:
    """What the index pass learnt, in decode order (one entry per packet of the video stream)."""

    pts: list[int]
    duration: list[int]
    key: list[bool]
    shown: list[bool]  # not flagged discard: the decoder outputs the frame (a discarded one is only a reference)
    packets: list | None  # the packets themselves, while they fit in _KEEP_BYTES
    start: int  # pts of the first frame shown
    complete: bool  # False: stopped after the last sample's time, before the end of the file
    damage: str | None  # why the file ended early (truncated or corrupt), None when it did not


def decode_frames_seek(
    path: str | Path,
    *,
    fps: float = 1.0,
    max_frames: int = 300,
    size: tuple[int, int] | None = None,
    threads: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> DecodedFrames:
    """Decode the frames shown at ``t = 0, 1/fps, 2/fps, ...``, the frames :func:`decode_frames` gives, decoding
    only what they depend on (see the module docstring).

    Args:
        path: a local video file.
        fps: samples per second of video.
        max_frames: at most this many samples, from the start; the file is read only up to the last one.
        size: ``(width, height)`` to resize every frame to (plain bilinear resize); None keeps the displayed size.
        threads: decoder threads; None lets FFmpeg choose (one per core), with frame and slice threading.
        timeout: wall-clock limit in seconds, checked between packets.

    Raises:
        SeekUnsupported: the file needs the ffmpeg pipe (see the module docstring); one line naming the file.
        MediaError: as :func:`~reelset.features.frames.decode_frames`.
        ValueError: a non-positive ``fps``, ``max_frames`` or ``size``.
    """
    _check_request(fps, max_frames, size)
    name = str(path)
    local = _checked_file(path)
    try:
        import av
    except ImportError:
        raise SeekUnsupported(f"{name}: PyAV is not installed") from None
    deadline = None if timeout is None else time.monotonic() + timeout
    clock = _Clock(name, timeout, deadline)
    try:
        container = av.open(_file_url(local), metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise _open_error(name, local, exc, timeout) from None
    try:
        stream = _video_stream(container)
        if stream is None or stream.codec_context is None or stream.width <= 0 or stream.height <= 0:
            raise MediaError(f"{name}: no video stream")
        rate = Fraction(fps).limit_denominator(1_000_000)  # as the pipe's fps filter gets it
        tb = stream.time_base
        if tb is None or tb <= 0:
            raise SeekUnsupported(f"{name}: the video stream has no time base")
        # Sample k is the last frame with (pts - start) * tb * rate <= k, i.e. pts - start <= k * per // over.
        per, over = tb.denominator * rate.denominator, tb.numerator * rate.numerator
        index = _index(container, stream, name, (max_frames - 1) * per // over, clock)
        chosen = _choose(index, name, per, over, max_frames)
        decoded, frames, rotation = _decode(container, stream, local, index, chosen, size, threads, name, clock)
        duration = container.duration / 1_000_000 if container.duration and container.duration > 0 else None
        source_size = (stream.width, stream.height)
    finally:
        container.close()
    timestamps = np.arange(len(frames), dtype=np.float64) / fps
    warnings = ()
    if index.damage:
        of_total = f" of {duration:.1f} s" if duration else ""
        warnings = (
            f"{name}: damaged or truncated video: {len(frames)} frames decoded, up to {timestamps[-1]:.1f} s"
            f"{of_total} ({index.damage})",
        )
    return DecodedFrames(
        frames=frames,
        timestamps=timestamps,
        source=name,
        duration=duration,
        rotation=rotation,
        source_size=source_size,
        decoded_frames=decoded,
        warnings=warnings,
    )


@dataclass
class _Clock:
    name: str
    timeout: float | None
    deadline: float | None

    def check(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise MediaError(f"{self.name}: decoding timed out after {self.timeout:.0f} s")


def _open_error(name: str, local: Path, exc: Exception, timeout: float | None) -> MediaError:
    """The pipe's message for a file FFmpeg cannot open (ffprobe's own reason, e.g. "moov atom not found"); PyAV
    keeps FFmpeg's log quiet, so its exception only has the generic reason."""
    try:
        probe(_file_url(local), label=name, timeout=timeout)
    except MediaError as probed:
        return probed
    except ToolMissingError:
        pass
    return MediaError(f"{name}: unreadable media ({one_line(exc, strerror=True)})")


def _video_stream(container):
    """The first video stream that is not cover art (the pipe's ``-map 0:V:0``)."""
    import av

    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _index(container, stream, name: str, last_threshold: int, clock: _Clock) -> _Index:
    """Demux (no decoding) until every frame that can be a sample's is known: all of them when the file ends first,
    else up to ``_REORDER_SLACK`` packets past the first one shown after the last sample's time."""
    import av

    pts_list: list[int] = []
    durations: list[int] = []
    keys: list[bool] = []
    shown: list[bool] = []
    packets: list | None = []
    kept = 0
    start = None
    beyond = 0
    damage = None
    complete = True
    demuxer = container.demux(stream)
    try:
        for packet in demuxer:
            if packet.size == 0 and packet.pts is None:
                continue  # PyAV's flush packet at the end
            clock.check()
            if damage is not None:  # damage in the middle: the pipe conceals it and goes on, with a warning
                raise SeekUnsupported(f"{name}: damaged video ({damage}) followed by more packets")
            if packet.is_corrupt:  # a truncated file's last, partial packet: the video ends before it
                damage = f"truncated or corrupt packet at {_seconds(packet.pts, stream)}"
                continue
            pts = packet.pts
            if pts is None:
                raise SeekUnsupported(f"{name}: video packets without timestamps")
            visible = not packet.is_discard
            pts_list.append(pts)
            durations.append(packet.duration or 0)
            keys.append(packet.is_keyframe)
            shown.append(visible)
            if packets is not None:
                kept += packet.size
                if kept <= _KEEP_BYTES:
                    packets.append(packet)
                else:
                    packets = None
            if visible:
                if start is None or pts < start:
                    start = pts
                if pts - start > last_threshold:
                    beyond += 1
                    if beyond >= _REORDER_SLACK:
                        complete = False
                        break
    except av.error.FFmpegError as exc:
        damage = f"demuxing failed: {getattr(exc, 'strerror', None) or exc}"
    finally:
        demuxer.close()
    if start is None:
        reason = damage or "the video stream has no frames"
        raise MediaError(f"{name}: no frame could be decoded ({reason})")
    return _Index(pts_list, durations, keys, shown, packets, start, complete, damage)


def _seconds(pts, stream) -> str:
    return "an unknown time" if pts is None else f"{float(pts * stream.time_base):.1f} s"


@dataclass
class _Choice:
    samples: list[int]  # per sample, the decode-order index of its frame
    ranges: list[tuple[int, int]]  # decode-order [first, last] packet ranges to decode, merged, in order


def _choose(index: _Index, name: str, per: int, over: int, max_frames: int) -> _Choice:
    """Each sample's frame (the rule, in integers) and the packet ranges their decoding needs."""
    visible = sorted((p, i) for i, p in enumerate(index.pts) if index.shown[i])
    ordered_pts = [p for p, _ in visible]
    if any(a == b for a, b in zip(ordered_pts, ordered_pts[1:])):
        raise SeekUnsupported(f"{name}: two frames with the same timestamp")
    start = index.start
    count = max_frames
    if index.complete:
        # Slot k exists iff k / fps < end, the end of the last frame shown (its pts plus its duration).
        last = visible[-1][1]
        if index.duration[last] <= 0:
            raise SeekUnsupported(f"{name}: the last frame has no duration")
        end = index.pts[last] + index.duration[last] - start
        count = min(max_frames, -(-end * over // per))  # the k with k * per < end * over
    samples = [visible[bisect_right(ordered_pts, start + k * per // over) - 1][1] for k in range(count)]
    keyframes = [i for i, key in enumerate(index.key) if key]
    wanted = []
    for i in sorted(set(samples)):
        at = bisect_right(keyframes, i) - 1
        if at < 0:
            first = 0  # no keyframe before it: from the first packet (checked when decoding)
        else:
            first = keyframes[at]
            if index.pts[i] < index.pts[first]:  # an open-GOP leading frame refers to the previous GOP
                first = keyframes[at - 1] if at > 0 else 0
        wanted.append((first, i))
    wanted.sort()
    ranges: list[tuple[int, int]] = []
    for first, last in wanted:
        if ranges and first <= ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], last))
        else:
            ranges.append((first, last))
    return _Choice(samples, ranges)


def _decode(container, stream, local: Path, index: _Index, choice: _Choice, size, threads, name: str, clock: _Clock):
    """Decode the ranges and convert the chosen frames; returns (frames decoded, RGB frames, rotation)."""
    import av

    context = stream.codec_context
    context.thread_type = _THREAD_TYPE
    context.thread_count = threads or 0
    targets: dict[int, list[int]] = {}  # pts -> samples showing that frame
    for k, i in enumerate(choice.samples):
        targets.setdefault(index.pts[i], []).append(k)
    # The first frame of each range must decode as a keyframe, or the range did not start where decoding can.
    starts = {index.pts[first] for first, _ in choice.ranges if index.shown[first] and index.key[first]}
    chosen = set(targets)
    droppable = _non_reference_test(stream)
    converter = _Converter(size, stream, name)
    frames = None
    decoded = 0

    def take(frame) -> None:
        nonlocal frames, decoded
        decoded += 1
        pts = frame.pts
        if pts in starts and not (frame.key_frame or frame.pict_type == _PICTURE_I):
            raise SeekUnsupported(f"{name}: a frame flagged as a keyframe is not one")
        ks = targets.pop(pts, None)
        if ks is None:
            return
        if frame.is_corrupt:
            raise SeekUnsupported(f"{name}: a chosen frame decoded with errors")
        rgb = converter.convert(frame)
        if frames is None:
            frames = np.empty((len(choice.samples), *rgb.shape), dtype=np.uint8)
        for k in ks:
            frames[k] = rgb

    packets = _Packets(container, stream, local, index, name)
    try:
        for first, last in choice.ranges:
            if packets.position != first:
                if packets.position is not None:  # a gap: drain the previous range, reset the decoder
                    for frame in context.decode(None):
                        take(frame)
                    context.flush_buffers()
            for at, packet in packets.read(first, last):
                clock.check()
                if index.pts[at] not in chosen and droppable(packet):
                    continue  # nothing refers to it and no sample shows it
                for frame in context.decode(packet):
                    take(frame)
        for frame in context.decode(None):
            take(frame)
    except (av.error.FFmpegError, ValueError) as exc:  # ValueError: a frame format the filter graph refuses
        raise SeekUnsupported(f"{name}: decoding error ({getattr(exc, 'strerror', None) or exc})") from None
    finally:
        packets.close()
    if targets:
        raise SeekUnsupported(f"{name}: the decoder did not output {len(targets)} chosen frame(s)")
    return decoded, frames, converter.rotation


class _Packets:
    """The packets of decode-order ranges: from the index pass's memory, else demuxed again from the start."""

    def __init__(self, container, stream, local: Path, index: _Index, name: str):
        self._index = index
        self._name = name
        self._local = local
        self._stream_index = stream.index
        self._reopened = None
        self._demuxer = None
        self._next = 0  # decode-order index of the next packet the demuxer gives
        self.position = None  # index after the last packet read (None before any)

    def read(self, first: int, last: int):
        if self._index.packets is not None:
            yield from enumerate(self._index.packets[first:last + 1], first)
            self.position = last + 1
            return
        if self._demuxer is None:
            import av

            self._reopened = av.open(_file_url(self._local), metadata_errors="replace")
            self._demuxer = self._reopened.demux(self._reopened.streams[self._stream_index])
        for packet in self._demuxer:
            if packet.size == 0 and packet.pts is None:
                break
            at = self._next
            self._next += 1
            if packet.pts != self._index.pts[at]:
                raise SeekUnsupported(f"{self._name}: the second demuxing pass differs from the first")
            if at >= first:
                yield at, packet
            if at >= last:
                break
        self.position = last + 1

    def close(self) -> None:
        if self._demuxer is not None:
            self._demuxer.close()
        if self._reopened is not None:
            self._reopened.close()


def _non_reference_test(stream):
    """A test for packets that no other frame refers to (their frames need not be decoded unless shown): those
    flagged disposable by the container, and H.264 pictures whose slices all have ``nal_ref_idc == 0`` (what
    FFmpeg's ``skip_frame=nonref`` skips; dropping them leaves no gap in ``frame_num`` and no change to the order
    counts of the reference pictures)."""
    if stream.codec_context.name != "h264":
        return lambda packet: packet.is_disposable
    extradata = stream.codec_context.extradata or b""
    # avcC (mp4, mkv): NAL units prefixed by their length; else Annex B start codes (MPEG-TS, raw streams).
    length_size = (extradata[4] & 3) + 1 if len(extradata) > 4 and extradata[0] == 1 else None

    def droppable(packet) -> bool:
        if packet.is_disposable:
            return True
        if packet.is_keyframe:
            return False
        data = bytes(packet)
        headers = _avcc_nal_headers(data, length_size) if length_size else _annexb_nal_headers(data)
        slices = 0
        for header in headers:
            kind = header & 0x1F
            if kind in (1, 2, 3, 4, 5):  # coded slices (5: IDR, always a reference)
                if header & 0x60 or kind == 5:
                    return False
                slices += 1
            elif kind in (14, 15, 20, 21):  # SVC / MVC extensions: leave them alone
                return False
        return slices > 0

    return droppable


def _avcc_nal_headers(data: bytes, length_size: int):
    at = 0
    while at + length_size < len(data):
        length = int.from_bytes(data[at:at + length_size], "big")
        yield data[at + length_size]
        at += length_size + length


def _annexb_nal_headers(data: bytes):
    at = data.find(b"\x00\x00\x01")
    while 0 <= at < len(data) - 3:
        yield data[at + 3]
        at = data.find(b"\x00\x00\x01", at + 3)


class _Converter:
    """The pipe's filter chain after the frame choice, as an FFmpeg filter graph: autorotation (ffmpeg 5.1's
    choice of filters from the display matrix), ``scale=W:H:flags=bilinear``, ``format=rgb24``; rebuilt when the
    decoded frames change size or format (the command line reconfigures its graph too)."""

    def __init__(self, size, stream, name: str):
        self._name = name
        self._size = size
        self._stream = stream
        self._graph = None
        self._key = None
        self._rotate: list[tuple[str, str]] | None = None
        self.rotation = 0

    def convert(self, frame) -> np.ndarray:
        if self._rotate is None:
            self._rotate, self.rotation = _autorotation(frame, self._name)
        key = (frame.width, frame.height, frame.format.name, frame.colorspace, frame.color_range)
        if key != self._key:
            self._graph = self._build(frame)
            self._key = key
        self._graph.push(frame)
        return self._graph.pull().to_ndarray()

    def _build(self, frame):
        import av

        stream = self._stream
        if self._size is not None:
            width, height = self._size
        elif any(name == "transpose" for name, _ in self._rotate):
            width, height = stream.height, stream.width
        else:
            width, height = stream.width, stream.height
        graph = av.filter.Graph()
        sar = stream.sample_aspect_ratio or Fraction(1, 1)
        chain = [graph.add(
            "buffer",
            video_size=f"{frame.width}x{frame.height}",
            pix_fmt=str(frame.format.name),
            time_base=str(stream.time_base),
            pixel_aspect=f"{sar.numerator}/{sar.denominator}",
            colorspace=str(frame.colorspace),
            range=str(frame.color_range),
        )]
        for filter_name, args in self._rotate:
            chain.append(graph.add(filter_name, args))
        chain.append(graph.add("scale", f"{width}:{height}:flags={_SCALE_FLAGS}"))
        chain.append(graph.add("format", "rgb24"))
        chain.append(graph.add("buffersink"))
        for a, b in zip(chain, chain[1:]):
            a.link_to(b)
        graph.configure()
        return graph


def _autorotation(frame, name: str) -> tuple[list[tuple[str, str]], int]:
    """ffmpeg 5.1's autorotate filters for the frame's display matrix (``ffmpeg_filter.c``), and the rotation in
    ffprobe's convention (counter-clockwise degrees, 0..359) as :class:`DecodedFrames` reports it."""
    import av

    matrix = None
    for side in frame.side_data:
        if side.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
            matrix = np.frombuffer(bytes(side), dtype="<i4")[:9].astype(np.float64)
            break
    if matrix is None:
        return [], 0
    scale0, scale1 = math.hypot(matrix[0], matrix[3]), math.hypot(matrix[1], matrix[4])
    if scale0 == 0 or scale1 == 0:
        return [], 0  # ffmpeg treats a degenerate matrix as no rotation (NaN)
    rotation = -math.degrees(math.atan2(matrix[1] / scale1, matrix[0] / scale0))  # av_display_rotation_get
    theta = -float(round(rotation))
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    if abs(theta - 90) < 1:
        filters = [("transpose", "cclock_flip" if matrix[3] > 0 else "clock")]
    elif abs(theta - 180) < 1:
        filters = ([("hflip", "")] if matrix[0] < 0 else []) + ([("vflip", "")] if matrix[4] < 0 else [])
    elif abs(theta - 270) < 1:
        filters = [("transpose", "clock_flip" if matrix[3] < 0 else "cclock")]
    elif abs(theta) > 1:
        raise SeekUnsupported(f"{name}: a display rotation that is not a quarter turn ({rotation:.1f} degrees)")
    else:
        filters = [("vflip", "")] if matrix[4] < 0 else []
    return filters, int(round(rotation)) % 360
