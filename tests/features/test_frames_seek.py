"""The PyAV decoder (``reelset.features.frames._seek``) against the ffmpeg pipe (``decode_frames(method="ffmpeg")``)
on real files made with ffmpeg: the same frames, byte for byte, while decoding fewer source frames.

"Index videos" show their own frame number ``n`` in three horizontal bands (hundreds, tens, units; luma
``16 + 20 * digit``), so every sample can be read back to the source frame it came from; the expected frames are
computed here, independently of both decoders, from the known frame times (the viewer's rule: the last frame with
``pts <= k / fps``, for every ``k / fps`` before the end of the last frame).
"""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from reelset.core.errors import ReelsetError
from reelset.core.ffmpeg import MediaError
from reelset.features.frames import decode_frames
from reelset.sandbox.media import make_video
from tests.support.media import (
    VFR_END_MS,
    VFR_EXPECTED,
    VFR_TIMES_MS,
    ffmpeg_quietly,
    make_index_video,
    make_vfr_videos,
    read_frame_indexes,
    viewer_rule,
)

pytest.importorskip("av")

from reelset.features.frames._seek import SeekUnsupported, available, decode_frames_seek  # noqa: E402

# --- Making and reading index videos ----------------------------------------------------------------------------------


def _cfr_rule(frames: int, rate: int, fps, max_frames=300) -> list[int]:
    return viewer_rule([n * 1000 // rate for n in range(frames)], frames * 1000 // rate, fps, max_frames)


def _packets(path: Path) -> list[tuple[int, bool]]:
    """(pts in ms, keyframe) of the video packets in decode order."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
         "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout
    return [(round(float(line.split(",")[0]) * 1000), "K" in line.split(",")[1]) for line in out.split()]


def _pipe(path, **kwargs):
    return decode_frames(path, method="ffmpeg", **kwargs)


def _assert_same_as_pipe(path: Path, **kwargs):
    """Our frames equal the pipe's byte for byte, with the same facts, from fewer (or as many) decoded frames."""
    ours, pipe = decode_frames_seek(path, **kwargs), _pipe(path, **kwargs)
    assert ours.frames.shape == pipe.frames.shape
    assert ours.frames.dtype == np.uint8 and ours.frames.flags["C_CONTIGUOUS"] and ours.frames.flags["WRITEABLE"]
    difference = np.abs(ours.frames.astype(np.int16) - pipe.frames)
    assert difference.max() == 0, (difference.max(), difference.mean())
    np.testing.assert_array_equal(ours.timestamps, pipe.timestamps)
    assert ours.duration == pytest.approx(pipe.duration)
    assert (ours.source, ours.rotation, ours.source_size, ours.warnings) == (
        pipe.source, pipe.rotation, pipe.source_size, pipe.warnings)
    assert 1 <= ours.decoded_frames <= pipe.decoded_frames
    return ours, pipe


# --- Fixtures ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("frames_seek")


@pytest.fixture(scope="module")
def gop_index_videos(media) -> dict[float, Path]:
    """10 s index videos at 10 fps with a keyframe every 1 s, 2 s and 10 s (no scene cuts)."""
    return {
        gop: make_index_video(media / f"index_gop{gop:g}.mp4", frames=100,
                          extra=("-g", str(round(gop * 10)), "-sc_threshold", "0"))
        for gop in (1, 2, 10)
    }


@pytest.fixture(scope="module")
def bframe_videos(media) -> dict[str, Path]:
    """Index videos with B-frames (x264 medium, 3 B-frames, near-lossless 4:2:0), a keyframe every 2 s: closed GOPs,
    and open GOPs (non-IDR keyframes whose leading B-frames refer to the previous GOP)."""
    codec = ("-preset", "medium", "-bf", "3", "-qp", "4", "-pix_fmt", "yuv420p", "-g", "20")
    return {
        "closed": make_index_video(media / "bframes.mp4", frames=100, codec=codec,
                               extra=("-x264-params", "scenecut=0:b-adapt=0")),
        "open": make_index_video(media / "open_gop.mp4", frames=100, codec=codec,
                             extra=("-x264-params", "open-gop=1:scenecut=0:b-adapt=0")),
        # MPEG-TS: Annex B start codes instead of mp4's length-prefixed NAL units, a 90 kHz clock starting at 1.4 s.
        "closed-ts": make_index_video(media / "bframes.ts", frames=100, codec=codec,
                                  extra=("-x264-params", "scenecut=0:b-adapt=0")),
    }


@pytest.fixture(scope="module")
def vfr_videos(media) -> dict[str, Path]:
    return make_vfr_videos(media, offset_ms=1000)


# --- Which frames, and how few are decoded ----------------------------------------------------------------------------


@pytest.mark.parametrize(("gop", "decoded"), [(1, 10), (2, 55), (10, 91)])
def test_constant_frame_rate_picks_the_frames_shown_and_decodes_only_their_dependencies(gop_index_videos, gop,
                                                                                        decoded):
    path = gop_index_videos[gop]
    assert sum(key for _, key in _packets(path)) == 10 // gop  # the file really has those GOPs
    ours, pipe = _assert_same_as_pipe(path)
    assert read_frame_indexes(ours.frames) == _cfr_rule(100, 10, 1) == list(range(0, 100, 10))
    # Sample k is frame 10k. GOP 1 s: every sample is a keyframe, 1 frame decoded each. GOP 2 s: odd samples need
    # their GOP up to them (0..10, 20..30, ...: 11 frames per 2 samples). GOP 10 s: frames 0..90, the tail skipped.
    assert ours.decoded_frames == decoded
    assert pipe.decoded_frames == 100


@pytest.mark.parametrize("fps", [2, 3, 0.5, 2.5, Fraction(10, 39)])
def test_other_sampling_rates(gop_index_videos, fps):
    path = gop_index_videos[2]
    ours, _ = _assert_same_as_pipe(path, fps=float(fps))
    assert read_frame_indexes(ours.frames) == _cfr_rule(100, 10, Fraction(float(fps)).limit_denominator(1_000_000))


@pytest.mark.parametrize("kind", ["closed", "open", "closed-ts"])
@pytest.mark.parametrize("fps", [1, Fraction(10, 39), 10])
def test_b_frames_and_open_gop(bframe_videos, kind, fps):
    path = bframe_videos[kind]
    packets = _packets(path)
    decode_order = [ms for ms, _ in packets]
    assert decode_order != sorted(decode_order)  # B-frames: decode order is not presentation order
    keyframes = [n for n, (_, key) in enumerate(packets) if key]
    leading = [packets[n + 1][0] < packets[n][0] for n in keyframes[1:]]
    # Open GOP: after each later keyframe, frames shown before it (17-19 before 20, ...). Closed: none.
    assert all(leading) if kind == "open" else not any(leading)
    ours, pipe = _assert_same_as_pipe(path, fps=float(fps))
    assert pipe.decoded_frames == 100
    if fps == 1:
        # Samples at frames 0, 10, 20, ...: the GOP up to frame 10 in decode order is 11 packets (I0 P4 B2 B1 B3 P8
        # B6 B5 B7 P12 B10 with 3 B-frames and x264's B-pyramid), of which the non-reference B1 B3 B5 B7 are not
        # decoded: 7 per 2 s, 35 in all (55 if every frame up to each sample were decoded).
        assert ours.decoded_frames == 35
    expected = _cfr_rule(100, 10, Fraction(float(fps)).limit_denominator(1_000_000))
    if fps == Fraction(10, 39):
        assert expected == [0, 39, 78]  # 39 and 78 are leading frames of the keyframes 40 and 80 (open GOP)
    assert read_frame_indexes(ours.frames) == expected


@pytest.mark.parametrize("kind", ["mkv", "mp4", "mkv-offset"])
@pytest.mark.parametrize("fps", [1, 2])
def test_variable_frame_rate(vfr_videos, kind, fps):
    ours, _ = _assert_same_as_pipe(vfr_videos[kind], fps=fps)
    expected = viewer_rule(VFR_TIMES_MS, VFR_END_MS, fps)
    assert expected == (VFR_EXPECTED if fps == 1 else [0, 1, 3, 3, 3, 6, 8, 9, 9, 10, 10, 11, 11])
    assert read_frame_indexes(ours.frames) == expected


def test_max_frames_smaller_than_the_video(gop_index_videos):
    ours, _ = _assert_same_as_pipe(gop_index_videos[1], max_frames=3)
    assert read_frame_indexes(ours.frames) == [0, 10, 20]
    assert ours.decoded_frames == 3
    assert ours.duration == pytest.approx(10.0)


def test_long_video_is_read_only_up_to_the_last_sample(media):
    # 20 minutes at 1 fps, one keyframe every 250 frames (x264's default): 300 samples need frames 0..299.
    path = make_index_video(media / "long.mp4", frames=1200, rate=1, size=(32, 24))
    result = decode_frames_seek(path, max_frames=300)
    assert read_frame_indexes(result.frames) == list(range(300))
    assert result.decoded_frames == 300
    assert result.duration == pytest.approx(1200.0)


def test_short_video_gives_one_frame(media):
    path = make_index_video(media / "short.mp4", frames=4)  # 0.4 s
    ours, _ = _assert_same_as_pipe(path)
    assert read_frame_indexes(ours.frames) == [0]
    assert ours.decoded_frames == 1


# --- Pixels: the pipe's, byte for byte --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("gop1.mp4", dict(gop_seconds=1.0)),
        ("gop2.mp4", dict(gop_seconds=2.0)),
        ("gop10.mp4", dict(gop_seconds=10.0)),
        ("silent.mp4", dict(audio=None)),
        ("odd.mp4", dict(width=65, height=49)),
        ("mpeg4.mkv", dict(vcodec="mpeg4")),
        ("vp9.webm", dict(vcodec="libvpx-vp9", audio="opus")),
        ("yuv422p10.mov", dict(pix_fmt="yuv422p10le")),
    ],
)
@pytest.mark.parametrize("size", [None, (224, 224), (33, 17)])
def test_same_pixels_as_the_pipe(media, name, options, size):
    path = media / name
    if not path.exists():
        make_video(path, **{"seconds": 5, "width": 96, "height": 64, **options})
    ours, _ = _assert_same_as_pipe(path, size=size)
    assert len(ours) == 5


@pytest.mark.parametrize("colour", ["bt709", "full-range"])
def test_tagged_colours_convert_like_the_pipe(media, colour):
    path = media / f"{colour}.mp4"
    tags = (["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"] if colour == "bt709"
            else ["-pix_fmt", "yuvj420p"])
    ffmpeg_quietly("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=3", "-c:v", "libx264", "-preset", "ultrafast", *tags,
            str(path))
    _assert_same_as_pipe(path)
    _assert_same_as_pipe(path, size=(48, 48))


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_rotation_is_applied_like_the_pipe(media, rotate):
    path = make_video(media / f"rotated_{rotate}.mp4", seconds=2, width=64, height=48, audio=None, rotate=rotate)
    ours, _ = _assert_same_as_pipe(path)
    assert ours.rotation == rotate and ours.source_size == (64, 48)
    assert ours.frames.shape == ((2, 64, 48, 3) if rotate % 180 else (2, 48, 64, 3))
    _assert_same_as_pipe(path, size=(40, 30))


# --- File names, damage and errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vidéo 東京 ,x.mp4", "-dash.mp4", "a:b.mp4"])
def test_awkward_file_names(gop_index_videos, tmp_path, monkeypatch, name):
    shutil.copyfile(gop_index_videos[1], tmp_path / name)
    monkeypatch.chdir(tmp_path)
    result = decode_frames_seek(name, max_frames=3)
    assert result.source == name
    assert read_frame_indexes(result.frames) == [0, 10, 20]


def _cut_in_half(source: Path, target: Path) -> Path:
    content = source.read_bytes()
    target.write_bytes(content[: len(content) // 2])
    return target


def test_truncated_faststart_file_gives_the_frames_up_to_the_damage(tmp_path):
    whole = make_index_video(tmp_path / "whole.mp4", frames=100, extra=("-movflags", "+faststart"))
    path = _cut_in_half(whole, tmp_path / "cut.mp4")
    ours, pipe = decode_frames_seek(path), _pipe(path)
    assert len(ours) == len(pipe) >= 3
    assert read_frame_indexes(ours.frames) == read_frame_indexes(pipe.frames) == [10 * k for k in range(len(ours))]
    assert np.array_equal(ours.frames, pipe.frames)
    (warning,) = ours.warnings
    assert "\n" not in warning
    assert warning.startswith(f"{path}: damaged or truncated video: {len(ours)} frames decoded, up to ")
    assert ours.duration == pytest.approx(10.0)


def test_damage_in_the_middle_is_left_to_the_pipe(tmp_path):
    path = make_video(tmp_path / "damaged.mp4", seconds=10, width=160, height=120, audio=None, faststart=True)
    # Overwrite the middle of the keyframe at 4 s (the frame of sample 4) with garbage.
    packets = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,pos,size,flags",
         "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    pts, pos, size = next((float(t), int(p), int(n)) for t, n, p, flags in (line.split(",") for line in packets)
                          if "K" in flags and abs(float(t) - 4.0) < 1e-6)
    content = bytearray(path.read_bytes())
    content[pos + size // 4: pos + size // 4 + size // 2] = np.random.default_rng(0).integers(
        0, 256, size // 2, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(content))
    with pytest.raises(SeekUnsupported) as caught:
        decode_frames_seek(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)
    # auto: the pipe's frames and its warning (one decoder thread: with several, ffmpeg's concealment of the damaged
    # frame differs from run to run).
    result, pipe = decode_frames(path, threads=1), _pipe(path, threads=1)
    assert result.decoded_frames == pipe.decoded_frames == 100
    assert np.array_equal(result.frames, pipe.frames) and result.warnings == pipe.warnings != ()


def _bad_input(kind: str, folder: Path, sample: Path) -> Path:
    if kind == "missing":
        return folder / "missing.mp4"
    if kind == "folder":
        (folder / "a folder.mp4").mkdir()
        return folder / "a folder.mp4"
    if kind == "empty":
        (folder / "empty.mp4").touch()
        return folder / "empty.mp4"
    if kind == "text":
        (folder / "text.mp4").write_text("not a video, only text\n" * 20)
        return folder / "text.mp4"
    if kind == "truncated-moov-at-end":
        return _cut_in_half(sample, folder / "truncated.mp4")  # not faststart: the index is in the lost half
    if kind == "audio-only":
        ffmpeg_quietly("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(folder / "audio.m4a"))
        return folder / "audio.m4a"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", "no such file"),
        ("folder", "is a folder"),
        ("empty", "empty file"),
        ("text", "unreadable media"),
        ("truncated-moov-at-end", "moov atom not found"),
        ("audio-only", "no video stream"),
    ],
)
def test_bad_input_raises_the_pipes_one_line_error(tmp_path, gop_index_videos, kind, reason):
    path = _bad_input(kind, tmp_path, gop_index_videos[1])
    with pytest.raises(MediaError) as ours:
        decode_frames_seek(path)
    with pytest.raises(MediaError) as pipe:
        _pipe(path)
    assert isinstance(ours.value, ReelsetError) and not isinstance(ours.value, SeekUnsupported)
    assert str(ours.value) == str(pipe.value)
    assert str(ours.value).startswith(f"{path}: ") and "\n" not in str(ours.value) and reason in str(ours.value)


@pytest.mark.parametrize(
    "request_args",
    [dict(fps=0), dict(fps=-1), dict(fps=float("nan")), dict(max_frames=0), dict(size=(0, 10))],
)
def test_bad_requests_raise_value_error(gop_index_videos, request_args):
    with pytest.raises(ValueError):
        decode_frames_seek(gop_index_videos[1], **request_args)


def test_timeout(gop_index_videos):
    with pytest.raises(MediaError, match="timed out"):
        decode_frames_seek(gop_index_videos[1], timeout=0)


# --- What it leaves to the pipe, and the dispatch in decode_frames ----------------------------------------------------


def test_raw_stream_without_timestamps_is_left_to_the_pipe(media):
    path = media / "raw.h264"
    ffmpeg_quietly("-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=3", "-c:v", "libx264", "-preset", "ultrafast",
            "-f", "h264", str(path))
    with pytest.raises(SeekUnsupported) as caught:
        decode_frames_seek(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)
    result = decode_frames(path)  # auto: falls back to the pipe
    assert len(result) == len(_pipe(path)) == 3


def test_decode_frames_dispatches_to_pyav_by_default(gop_index_videos):
    assert available()
    path = gop_index_videos[2]
    auto, pyav, pipe = decode_frames(path), decode_frames(path, method="pyav"), _pipe(path)
    assert auto.decoded_frames == pyav.decoded_frames == 55 and pipe.decoded_frames == 100
    assert np.array_equal(auto.frames, pipe.frames)
    with pytest.raises(ValueError):
        decode_frames(path, method="opencv")
