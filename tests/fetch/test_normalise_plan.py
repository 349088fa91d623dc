"""Copy-or-encode decisions, output sizes and the ffmpeg arguments (pure logic, no ffmpeg run)."""

from __future__ import annotations

import struct

import pytest

from reelset.core.ffmpeg import AudioStream, VideoStream, parse_probe
from reelset.fetch.normalise import Input, clip_args, moov_before_mdat, plan_clip, target_size
from reelset.fetch.ytdlp import format_selector


def video(codec="h264", pix_fmt="yuv420p", width=640, height=360, rotation=0) -> VideoStream:
    return VideoStream(codec, pix_fmt, width, height, rotation, 25.0, None)


AAC = AudioStream("aac", 44100, 2)


def test_fitting_source_is_copied() -> None:
    plan = plan_clip(video(), AAC, 480)
    assert plan.copy_video and plan.audio == "copy"
    assert (plan.width, plan.height) == (640, 360)


@pytest.mark.parametrize(
    ("stream", "audio", "why"),
    [
        (video(height=720, width=1280), AAC, "height 720 > 480"),
        (video(codec="vp9"), AAC, "codec vp9"),
        (video(pix_fmt="yuv444p"), AAC, "pixel format yuv444p"),
        (video(width=321, height=241), AAC, "odd size 321x241"),
        (video(rotation=90), AAC, "rotated 90"),
        (video(), AudioStream("opus", 48000, 2), "audio opus"),
    ],
)
def test_misfits_are_encoded_once(stream, audio, why) -> None:
    plan = plan_clip(stream, audio, 480)
    assert not plan.copy_video
    assert why in plan.reason


def test_audio_is_copied_when_aac_even_if_video_is_encoded() -> None:
    plan = plan_clip(video(height=1080, width=1920), AAC, 480)
    assert plan.audio == "copy" and not plan.copy_video
    assert plan_clip(video(), None, 480).audio == "none"


@pytest.mark.parametrize(
    ("width", "height", "rotation", "cap", "expected"),
    [
        (1280, 720, 0, 480, (852, 480)),
        (1920, 1080, 0, 480, (852, 480)),
        (321, 241, 0, 480, (320, 240)),
        (640, 360, 0, 480, (640, 360)),
        (1080, 1920, 0, 480, (270, 480)),
        (1920, 1080, 90, 480, (270, 480)),  # displayed portrait
        (200, 100, 0, 480, (200, 100)),  # never upscaled
    ],
)
def test_target_size_is_even_and_capped(width, height, rotation, cap, expected) -> None:
    assert target_size(video(width=width, height=height, rotation=rotation), cap) == expected


def test_clip_args_limit_reading_and_output_to_max_duration(tmp_path) -> None:
    plan = plan_clip(video(height=720, width=1280), AAC, 480)
    inputs = [Input("http://h/v.m3u8", ("-rw_timeout", "1"), ("0:v:0",)), Input("http://h/a.m3u8", (), ("1:a:0",))]
    args = clip_args(inputs, plan, 90, tmp_path / "x.mp4")
    assert args.count("-t") == 3 and args[args.index("-t") + 1] == "90"
    assert args[args.index("-c:v") + 1] == "libx264"
    assert "scale=852:480,setsar=1" in args
    assert args[args.index("-c:a") + 1] == "copy"
    assert ["-map", "0:v:0", "-map", "1:a:0"] == args[args.index("-map"):args.index("-map") + 4]
    assert "+faststart" in args and args[-1] == str(tmp_path / "x.mp4")
    assert args.index("-rw_timeout") < args.index("http://h/v.m3u8")


def test_format_selector_never_falls_back_uncapped() -> None:
    spec = format_selector(480)
    assert spec == "bv*[height<=?480][protocol!*=dash]+ba[protocol!*=dash]/b[height<=?480][protocol!*=dash]"
    assert all("[height<=?480]" in alternative for alternative in spec.split("/"))


def _box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_moov_before_mdat(tmp_path) -> None:
    fast = tmp_path / "fast.mp4"
    fast.write_bytes(_box(b"ftyp", b"isom") + _box(b"moov", b"x" * 20) + _box(b"mdat", b"y" * 50))
    slow = tmp_path / "slow.mp4"
    slow.write_bytes(_box(b"ftyp", b"isom") + _box(b"mdat", b"y" * 50) + _box(b"moov", b"x" * 20))
    assert moov_before_mdat(fast) and not moov_before_mdat(slow)
    truncated = tmp_path / "trunc.mp4"
    truncated.write_bytes(_box(b"ftyp", b"isom")[:6])
    assert not moov_before_mdat(truncated)


def test_parse_probe_reads_rotation_fps_and_frames() -> None:
    report = {
        "streams": [
            {"codec_type": "video", "codec_name": "h264", "pix_fmt": "yuv420p", "width": 1920, "height": 1080,
             "avg_frame_rate": "30000/1001", "nb_read_packets": "300",
             "side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]},
            {"codec_type": "audio", "codec_name": "aac", "sample_rate": "44100", "channels": 2},
        ],
        "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "10.010000", "size": "12345"},
    }
    info = parse_probe("x.mp4", report)
    assert info.video.rotation == 270 and info.video.display_size == (1080, 1920)
    assert info.video.fps == pytest.approx(29.97, abs=0.01)
    assert info.video.frame_count == 300
    assert info.audio.codec == "aac" and info.duration == pytest.approx(10.01)


def test_parse_probe_tolerates_zero_fps() -> None:
    report = {"streams": [{"codec_type": "video", "codec_name": "h264", "width": 2, "height": 2,
                           "avg_frame_rate": "0/0", "r_frame_rate": "0/0"}], "format": {}}
    assert parse_probe("x", report).video.fps is None
