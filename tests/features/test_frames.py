"""The frame decoder against videos whose frames carry their own index, made with the real ffmpeg.

Every "index video" here is lossless H.264 (``-qp 0``, 4:4:4) whose frame ``n`` shows ``n`` in three horizontal bands
(hundreds, tens, units; luma ``16 + 20 * digit``), so each sample can be read back to the source frame it came from.
The expectations are computed independently of the module: the viewer's rule (last frame with ``pts <= k / fps``,
for every ``k / fps`` before the end of the last frame) and the original youtube-8m loop, simulated on the known
frame times.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from reelset.core.errors import ReelsetError
from reelset.core.ffmpeg import MediaError
from reelset.features.frames import DecodedFrames, decode_frames
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
from tests.support.opencv_reference import benchmark_decode, decode_frames_opencv

VFR_OFFSET_MS = 1300  # not a whole second: sampling from the stream's zero would pick other frames


# --- Making and reading index videos ----------------------------------------------------------------------------------


def _original_loop(times_ms, fps, max_frames=300) -> list[int]:
    """youtube-8m ``frame_iterator`` on frames at ``times_ms``: POS_MSEC is the time of the frame just read (0 before
    any read); it reads up to the first frame at or past ``last_ts + every_ms`` and yields the one after it."""
    every_ms = 1000 / fps
    position, last_read, last_ts = 0.0, -1, -99999.0
    taken: list[int] = []
    while len(taken) < max_frames:
        while position < every_ms + last_ts:
            last_read += 1
            if last_read >= len(times_ms):
                return taken
            position = times_ms[last_read] - times_ms[0]
        last_ts = position
        last_read += 1
        if last_read >= len(times_ms):
            break
        position = times_ms[last_read] - times_ms[0]
        taken.append(last_read)
    return taken


def _cfr_times(frames: int, rate: int) -> list[int]:
    return [n * 1000 // rate for n in range(frames)]


def _packet_times_ms(path: Path) -> list[int]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0",
         str(path)],
        capture_output=True, text=True, check=True,
    ).stdout
    return sorted(round(float(line) * 1000) for line in out.split())


def _assert_one_line_naming(error: Exception, name: str, *reason: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"{name}: "), message
    for fragment in reason:
        assert fragment in message, message


# --- Fixtures: each video made once per module ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("frames")


@pytest.fixture(scope="module")
def cfr_videos(media) -> dict[tuple[int, int], Path]:
    """Index videos by (frame count, rate): 10.0 s, 10.5 s, 0.4 s and 1 s at 10 fps, 10 s at 1 fps."""
    return {
        (frames, rate): make_index_video(media / f"cfr_{frames}_{rate}.mp4", frames=frames, rate=rate)
        for frames, rate in [(100, 10), (105, 10), (4, 10), (10, 10), (10, 1)]
    }


@pytest.fixture(scope="module")
def ten_seconds(cfr_videos) -> Path:
    return cfr_videos[(100, 10)]


@pytest.fixture(scope="module")
def vfr_videos(media) -> dict[str, Path]:
    return make_vfr_videos(media, offset_ms=VFR_OFFSET_MS)


@pytest.fixture(scope="module")
def red_video(media) -> Path:
    path = media / "red.mp4"
    ffmpeg_quietly("-f", "lavfi", "-i", "color=c=red:s=64x48:r=10:d=2", "-c:v", "libx264", "-preset", "ultrafast",
            "-pix_fmt", "yuv420p", str(path))
    return path


# --- Constant frame rate: counts, times and which frames -------------------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "rate", "count"),
    [
        (100, 10, 10),  # 10.0 s: t = 0..9, nothing is on screen at t = 10.0
        (105, 10, 11),  # 10.5 s
        (4, 10, 1),  # 0.4 s
        (10, 10, 1),  # 1 s
        (10, 1, 10),  # 10 s at exactly the sampling rate: every frame
    ],
)
def test_constant_frame_rate_count_times_and_frames(cfr_videos, ffprobe, frames, rate, count):
    path = cfr_videos[(frames, rate)]
    result = decode_frames(path)
    assert isinstance(result, DecodedFrames)
    assert len(result) == count
    np.testing.assert_array_equal(result.timestamps, np.arange(count, dtype=np.float64))
    assert result.timestamps.dtype == np.float64
    expected = [k * rate for k in range(count)]
    assert read_frame_indexes(result.frames) == expected == viewer_rule(_cfr_times(frames, rate), frames * 1000 // rate, 1)
    assert result.frames.shape == (count, 48, 64, 3) and result.frames.dtype == np.uint8
    assert result.frames.flags["C_CONTIGUOUS"] and result.frames.flags["WRITEABLE"]
    assert result.source == str(path)
    assert result.duration == pytest.approx(float(ffprobe(path)["format"]["duration"]))
    assert result.duration == pytest.approx(frames / rate)
    assert (result.rotation, result.source_size, result.warnings) == (0, (64, 48), ())
    # The ffmpeg pipe decodes a short file to its end; the default decoder only what the samples depend on.
    assert decode_frames(path, method="ffmpeg").decoded_frames == frames
    assert 1 <= result.decoded_frames <= frames


@pytest.mark.parametrize("fps", [2, 3, 0.5, 2.5])
def test_other_sampling_rates_pick_the_frame_shown(ten_seconds, fps):
    result = decode_frames(ten_seconds, fps=fps)
    expected = viewer_rule(_cfr_times(100, 10), 10_000, fps)
    assert len(expected) == math.ceil(10 * fps)
    assert read_frame_indexes(result.frames) == expected
    np.testing.assert_allclose(result.timestamps, np.arange(len(expected)) / fps, rtol=0, atol=1e-12)


def test_max_frames_smaller_than_the_video_stops_early(ten_seconds):
    result = decode_frames(ten_seconds, max_frames=3)
    assert read_frame_indexes(result.frames) == [0, 10, 20]
    np.testing.assert_array_equal(result.timestamps, [0.0, 1.0, 2.0])
    assert result.duration == pytest.approx(10.0)  # the file's, not the samples'
    assert result.decoded_frames is not None and 21 <= result.decoded_frames < 100


def test_long_video_gives_max_frames_without_decoding_to_the_end(media):
    # 20 minutes at 1 fps, 32x24: 1200 frames, cheap to make, far longer than max_frames seconds.
    path = make_index_video(media / "long.mp4", frames=1200, rate=1, size=(32, 24))
    result = decode_frames(path, max_frames=300)
    assert len(result) == 300
    assert read_frame_indexes(result.frames) == list(range(300))
    assert result.timestamps[-1] == 299.0
    assert result.duration == pytest.approx(1200.0)
    # ffmpeg stopped once the 300th sample was out: about 300 frames of 1200 decoded (a few more in flight).
    assert result.decoded_frames is not None and 300 <= result.decoded_frames < 600


# --- Variable frame rate --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mkv", "mp4", "mkv-offset"])
def test_variable_frame_rate_takes_the_frame_a_viewer_sees(vfr_videos, kind):
    path = vfr_videos[kind]
    offset = VFR_OFFSET_MS if kind == "mkv-offset" else 0
    # The file really has the irregular times (a regular one would make this test prove nothing).
    assert _packet_times_ms(path) == [t + offset for t in VFR_TIMES_MS]
    result = decode_frames(path)
    assert viewer_rule(VFR_TIMES_MS, VFR_END_MS, 1) == VFR_EXPECTED  # the oracle agrees with the hand count
    assert read_frame_indexes(result.frames) == VFR_EXPECTED  # frame 3 (held 1.5 s) twice, the burst 4-7 never
    np.testing.assert_array_equal(result.timestamps, np.arange(len(VFR_EXPECTED), dtype=np.float64))
    assert result.warnings == ()


def test_variable_frame_rate_at_two_per_second(vfr_videos):
    result = decode_frames(vfr_videos["mp4"], fps=2)
    expected = viewer_rule(VFR_TIMES_MS, VFR_END_MS, 2)
    assert expected == [0, 1, 3, 3, 3, 6, 8, 9, 9, 10, 10, 11, 11]
    assert read_frame_indexes(result.frames) == expected


# --- Geometry: rotation, odd sizes, resizing, audio ------------------------------------------------------------------


@pytest.fixture(scope="module")
def unrotated(media) -> Path:
    return make_video(media / "unrotated.mp4", seconds=1, width=64, height=48, audio=None)


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_rotation_metadata_gives_upright_frames(media, unrotated, ffprobe, rotate):
    # The same encode as ``unrotated`` (make_video remuxes it with the display matrix), so only the rotation differs.
    rotated = make_video(media / f"rotated_{rotate}.mp4", seconds=1, width=64, height=48, audio=None, rotate=rotate)
    (stream,) = ffprobe(rotated)["streams"]
    angle = next(int(side["rotation"]) for side in stream["side_data_list"] if "rotation" in side) % 360
    plain, result = decode_frames(unrotated), decode_frames(rotated)
    assert result.rotation == angle == rotate
    assert result.source_size == (64, 48)
    portrait = rotate % 180 == 90
    assert result.frames.shape == ((1, 64, 48, 3) if portrait else (1, 48, 64, 3))
    # ffprobe's angle is counter-clockwise, as np.rot90 turns: the viewer's frame is the stored one turned by it.
    upright = np.rot90(plain.frames[0], k=angle // 90).astype(np.int16)
    wrong = np.rot90(plain.frames[0], k=(angle // 90 + 2) % 4).astype(np.int16)
    assert np.abs(result.frames[0] - upright).mean() < 1.0
    assert np.abs(result.frames[0] - wrong).mean() > 20


def test_odd_size_keeps_its_exact_size_and_pixels(media):
    path = make_video(media / "odd.mp4", seconds=2, width=65, height=49, pix_fmt="yuv444p")
    result = decode_frames(path)
    assert result.frames.shape == (2, 49, 65, 3)
    assert result.source_size == (65, 49)
    # Independent decode of source frame 10 (t = 1 s), straight to RGB.
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vf", r"select=eq(n\,10)", "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
        capture_output=True, check=True,
    ).stdout
    direct = np.frombuffer(raw, np.uint8).reshape(49, 65, 3).astype(np.int16)
    assert np.abs(result.frames[1] - direct).max() <= 2


def test_video_without_audio(media, ffprobe):
    path = make_video(media / "silent.mp4", seconds=3, width=64, height=48, audio=None)
    assert [s["codec_type"] for s in ffprobe(path)["streams"]] == ["video"]
    result = decode_frames(path)
    assert len(result) == 3 and result.frames.shape == (3, 48, 64, 3)


@pytest.mark.parametrize("size", [(40, 30), (33, 17), (224, 224)])
def test_size_resizes_to_exactly_that_shape(ten_seconds, size):
    result = decode_frames(ten_seconds, size=size, max_frames=4)
    width, height = size
    assert result.frames.shape == (4, height, width, 3)
    assert result.source_size == (64, 48)
    assert read_frame_indexes(result.frames) == [0, 10, 20, 30]  # the same frames, only resized


# --- File names ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vidéo 東京 ,x.mp4", "-dash.mp4", "a:b.mp4", "-i:x y.mp4"])
def test_awkward_file_names(ten_seconds, tmp_path, monkeypatch, name):
    shutil.copyfile(ten_seconds, tmp_path / name)
    monkeypatch.chdir(tmp_path)  # relative names: "-dash.mp4" could be an option, "a:b.mp4" a protocol
    result = decode_frames(name, max_frames=3)
    assert result.source == name
    assert read_frame_indexes(result.frames) == [0, 10, 20]
    absent = name.replace(".mp4", " absent.mp4")
    with pytest.raises(MediaError) as missing:
        decode_frames(absent)
    _assert_one_line_naming(missing.value, absent, "no such file")


def test_awkward_file_names_with_opencv(ten_seconds, tmp_path, monkeypatch):
    pytest.importorskip("cv2")
    name = "vidéo 東京 ,x:-.mp4"
    shutil.copyfile(ten_seconds, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    assert read_frame_indexes(decode_frames_opencv(name, max_frames=3).frames) == [0, 11, 21]


# --- Bad input -----------------------------------------------------------------------------------------------------


def _cut_in_half(source: Path, target: Path) -> Path:
    content = source.read_bytes()
    target.write_bytes(content[: len(content) // 2])
    return target


def _bad_input(kind: str, folder: Path) -> Path:
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
        whole = make_index_video(folder / "whole.mp4", frames=30)  # not faststart: the index is in the cut-off half
        return _cut_in_half(whole, folder / "truncated.mp4")
    if kind == "audio-only":
        ffmpeg_quietly("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(folder / "audio.m4a"))
        return folder / "audio.m4a"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", ["no such file"]),
        ("folder", ["is a folder"]),
        ("empty", ["empty file"]),
        ("text", ["unreadable media"]),
        ("truncated-moov-at-end", ["unreadable media", "moov atom not found"]),
        ("audio-only", ["no video stream"]),
    ],
)
def test_bad_input_raises_one_line_naming_the_file(tmp_path, kind, reason):
    path = _bad_input(kind, tmp_path)
    with pytest.raises(MediaError) as caught:
        decode_frames(path)
    assert isinstance(caught.value, ReelsetError)
    _assert_one_line_naming(caught.value, str(path), *reason)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", "no such file"),
        ("folder", "is a folder"),
        ("empty", "empty file"),
        ("text", "OpenCV cannot open the video"),
        ("truncated-moov-at-end", "OpenCV cannot open the video"),
    ],
)
def test_bad_input_raises_with_opencv_too(tmp_path, kind, reason):
    pytest.importorskip("cv2")
    path = _bad_input(kind, tmp_path)
    with pytest.raises(MediaError) as caught:
        decode_frames_opencv(path)
    _assert_one_line_naming(caught.value, str(path), reason)


def test_truncated_faststart_file_gives_frames_up_to_the_damage_and_a_warning(tmp_path):
    whole = make_index_video(tmp_path / "whole.mp4", frames=100, extra=("-movflags", "+faststart"))
    path = _cut_in_half(whole, tmp_path / "cut.mp4")
    cut = path.stat().st_size
    packets = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pos,size", "-of", "csv=p=0",
         str(whole)],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    intact = [n for n, line in enumerate(packets) if sum(int(x) for x in line.split(",")) <= cut]
    last_intact = max(intact)
    # The cut is mid-file, and the first damaged frame is no sample's frame (were it half-decoded it is not picked).
    assert 20 < last_intact < 80 and last_intact % 10 != 9
    result = decode_frames(path)
    assert read_frame_indexes(result.frames) == [10 * k for k in range(last_intact // 10 + 1)]
    assert result.duration == pytest.approx(10.0)
    (warning,) = result.warnings
    assert "\n" not in warning
    assert warning.startswith(f"{path}: damaged or truncated video: {len(result)} frames decoded")


@pytest.mark.parametrize(
    "request_args",
    [dict(fps=0), dict(fps=-1), dict(fps=float("nan")), dict(fps=float("inf")), dict(max_frames=0),
     dict(max_frames=-3), dict(size=(0, 10)), dict(size=(10, -1))],
)
def test_bad_requests_raise_value_error(ten_seconds, request_args):
    with pytest.raises(ValueError):
        decode_frames(ten_seconds, **request_args)


@pytest.mark.parametrize("request_args", [dict(fps=0), dict(fps=-1), dict(max_frames=0)])
def test_bad_requests_raise_value_error_with_opencv(ten_seconds, request_args):
    pytest.importorskip("cv2")
    with pytest.raises(ValueError):
        decode_frames_opencv(ten_seconds, **request_args)


# --- Colour ----------------------------------------------------------------------------------------------------------


def test_red_video_is_rgb(red_video):
    pixels = decode_frames(red_video).frames.reshape(-1, 3).astype(int)
    assert pixels[:, 0].min() >= 240 and pixels[:, 1:].max() <= 15


def test_red_video_is_rgb_with_opencv(red_video):
    pytest.importorskip("cv2")
    pixels = decode_frames_opencv(red_video).frames.reshape(-1, 3).astype(int)
    assert pixels[:, 0].min() >= 240 and pixels[:, 1:].max() <= 15


# --- The original loop (OpenCV) --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "rate", "expected"),
    [
        (100, 10, [0, 11, 21, 31, 41, 51, 61, 71, 81, 91]),  # the frame one after the one at t
        (105, 10, [0, 11, 21, 31, 41, 51, 61, 71, 81, 91, 101]),
        (10, 1, [0, 2, 3, 4, 5, 6, 7, 8, 9]),  # at exactly fps: frame 1 skipped, then every frame
        (4, 10, [0]),
    ],
)
def test_opencv_loop_reproduces_the_original_quirks(cfr_videos, frames, rate, expected):
    pytest.importorskip("cv2")
    path = cfr_videos[(frames, rate)]
    result = decode_frames_opencv(path)
    assert _original_loop(_cfr_times(frames, rate), 1) == expected
    assert read_frame_indexes(result.frames) == expected
    np.testing.assert_allclose(result.timestamps, np.array(expected) / rate, atol=1e-6)
    assert result.decoded_frames is None and result.rotation == 0 and result.source_size == (64, 48)
    assert result.frames.flags["C_CONTIGUOUS"]


def test_opencv_loop_max_frames(ten_seconds):
    pytest.importorskip("cv2")
    assert read_frame_indexes(decode_frames_opencv(ten_seconds, max_frames=3).frames) == [0, 11, 21]


def test_opencv_loop_drifts_on_variable_frame_rate(vfr_videos):
    pytest.importorskip("cv2")
    result = decode_frames_opencv(vfr_videos["mp4"])
    expected = _original_loop(VFR_TIMES_MS, 1)
    assert expected == [0, 5, 11]  # 3 samples where a viewer-time decoder takes 7
    assert read_frame_indexes(result.frames) == expected
    np.testing.assert_allclose(result.timestamps, [0.0, 2.25, 5.2], atol=1e-6)


def test_opencv_loop_rotation_matchesffmpeg_quietly(media):
    pytest.importorskip("cv2")
    path = make_video(media / "rotated_cv.mp4", seconds=1, width=64, height=48, audio=None, rotate=90)
    ours, original = decode_frames(path), decode_frames_opencv(path)
    assert (original.rotation, original.source_size) == (ours.rotation, ours.source_size) == (90, (64, 48))
    assert original.frames.shape == ours.frames.shape == (1, 64, 48, 3)
    assert np.abs(original.frames[0].astype(int) - ours.frames[0]).mean() < 2.0


# --- Benchmark -------------------------------------------------------------------------------------------------------


def test_benchmark_decode_gives_one_figure_per_method(red_video):
    pytest.importorskip("cv2")
    figures = benchmark_decode(red_video, repeats=1, size=(32, 32))
    assert [f.method for f in figures] == [
        "ffmpeg-pipe", "ffmpeg-pipe-scaled", "ffmpeg-pipe-1thread", "opencv-loop", "opencv-seek",
    ]
    for figure in figures:
        assert figure.frames == 2, figure  # a 2 s video at 1 fps, whichever method
        assert figure.seconds > 0 and figure.frames_per_second > 0
