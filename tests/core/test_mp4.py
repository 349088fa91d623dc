"""The MP4 index reader against ffprobe, on files made by the real ffmpeg."""

from __future__ import annotations

import subprocess

import pytest

from reelset.core.mp4 import read_mp4_video
from reelset.sandbox.media import make_video


def ffprobe_video(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=codec_tag_string,width,height,nb_frames,duration:stream_side_data=rotation", "-of", "json", str(path)],
        capture_output=True, text=True, check=True).stdout
    import json
    return json.loads(out)["streams"][0]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("plain.mp4", dict(seconds=3, width=320, height=180, fps=10)),
        ("faststart.mp4", dict(seconds=2.5, width=640, height=360, fps=25, faststart=True)),
        ("odd.mp4", dict(seconds=2, width=321, height=241, fps=10)),
        ("silent.mov", dict(seconds=2, width=160, height=90, fps=12, audio=None)),
        ("rotated.mp4", dict(seconds=2, width=320, height=180, fps=10, rotate=90)),
    ],
)
def test_matches_ffprobe(tmp_path, name, kwargs):
    path = make_video(tmp_path / name, **kwargs)
    expected = ffprobe_video(path)
    video = read_mp4_video(path)
    assert video is not None
    assert video.codec_tag == expected["codec_tag_string"]
    assert (video.width, video.height) == (expected["width"], expected["height"])
    assert video.frame_count == int(expected["nb_frames"])
    assert video.duration == pytest.approx(float(expected["duration"]), abs=1e-3)
    rotation = -int((expected.get("side_data_list") or [{}])[0].get("rotation", 0)) % 360
    assert video.rotation == rotation
    if rotation == 90:
        assert video.display_size == (expected["height"], expected["width"])


def test_not_an_mp4_or_damaged_is_none(tmp_path):
    mkv = make_video(tmp_path / "x.mkv", seconds=1, width=64, height=64)
    assert read_mp4_video(mkv) is None
    good = make_video(tmp_path / "good.mp4", seconds=1, width=64, height=64, faststart=True)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[:200])
    assert read_mp4_video(truncated) is None
    (tmp_path / "garbage.mp4").write_bytes(b"\x00\x00\x00\x01garbage" * 10)
    assert read_mp4_video(tmp_path / "garbage.mp4") is None
    assert read_mp4_video(tmp_path / "missing.mp4") is None


def test_fragmented_mp4_has_no_frame_count_here(tmp_path):
    source = make_video(tmp_path / "src.mp4", seconds=2, width=64, height=64)
    fragmented = tmp_path / "frag.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-c", "copy", "-movflags",
                    "frag_keyframe+empty_moov", str(fragmented)], check=True)
    video = read_mp4_video(fragmented)
    assert video is None or video.frame_count == 0  # callers then ask ffprobe
