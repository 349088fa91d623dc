"""The media generators, checked with plain ffprobe calls, and the HLS set as yt-dlp and ffmpeg see it over HTTP."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yt_dlp

from reelset.core.ffmpeg import MediaError
from reelset.sandbox.media import make_hls, make_video
from reelset.sandbox.servers import MediaServer


def _ffprobe(path: Path | str) -> dict[str, Any]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(done.stdout)


def _streams(report: dict[str, Any], codec_type: str) -> list[dict[str, Any]]:
    return [stream for stream in report["streams"] if stream["codec_type"] == codec_type]


def _moov_before_mdat(path: Path) -> bool:
    content = path.read_bytes()
    return content.index(b"moov") < content.index(b"mdat")


# --- make_video -------------------------------------------------------------------------------------------------------


def test_default_mp4_is_h264_aac_exact_length_and_not_faststart(tmp_path: Path) -> None:
    path = make_video(tmp_path / "clip.mp4", seconds=3, width=320, height=240)
    report = _ffprobe(path)
    (video,), (audio,) = _streams(report, "video"), _streams(report, "audio")
    assert (video["codec_name"], video["width"], video["height"], video["pix_fmt"]) == ("h264", 320, 240, "yuv420p")
    assert int(video["nb_frames"]) == 30 and video["avg_frame_rate"] == "10/1"
    assert abs(float(report["format"]["duration"]) - 3) <= 1 / 10
    assert audio["codec_name"] == "aac"
    assert not _moov_before_mdat(path)


def test_faststart_moves_the_index_first(tmp_path: Path) -> None:
    assert _moov_before_mdat(make_video(tmp_path / "fast.mp4", seconds=1, width=160, height=120, faststart=True))


def test_odd_size_without_audio(tmp_path: Path) -> None:
    report = _ffprobe(make_video(tmp_path / "odd.mp4", seconds=2.5, width=321, height=241, audio=None))
    (video,) = _streams(report, "video")
    assert (video["width"], video["height"], video["pix_fmt"]) == (321, 241, "yuv444p")
    assert int(video["nb_frames"]) == 25
    assert _streams(report, "audio") == []


@pytest.mark.parametrize(
    ("name", "options", "video_codec", "audio_codec"),
    [
        ("clip.mkv", {"audio": "opus"}, "h264", "opus"),
        ("clip.webm", {"audio": "opus", "vcodec": "libvpx-vp9"}, "vp9", "opus"),
        ("clip.mov", {"audio": "mp3"}, "h264", "mp3"),
        ("clip.mp4", {"vcodec": "mpeg4", "pattern": "smptebars"}, "mpeg4", "aac"),
    ],
)
def test_containers_and_codecs(tmp_path: Path, name: str, options: dict[str, Any], video_codec: str,
                               audio_codec: str) -> None:
    report = _ffprobe(make_video(tmp_path / name, seconds=2, width=160, height=120, **options))
    assert [s["codec_name"] for s in _streams(report, "video")] == [video_codec]
    assert [s["codec_name"] for s in _streams(report, "audio")] == [audio_codec]
    assert abs(float(report["format"]["duration"]) - 2) <= 1 / 10


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_rotation_is_stored_as_a_display_matrix(tmp_path: Path, rotate: int) -> None:
    path = make_video(tmp_path / "rotated.mp4", seconds=1, width=160, height=120, rotate=rotate, faststart=True)
    (video,) = _streams(_ffprobe(path), "video")
    (matrix,) = [side for side in video["side_data_list"] if side["side_data_type"] == "Display Matrix"]
    assert (matrix["rotation"] - rotate) % 360 == 0  # ffprobe 5.1 wraps the angle: 270 reads as -90
    assert (video["width"], video["height"]) == (160, 120)  # stored size; players show it turned
    assert _moov_before_mdat(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rotated.mp4"]  # no intermediate file left


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("clip.mp4", {"audio": "opus"}),
        ("clip.webm", {"audio": "aac"}),
        ("clip.mkv", {"rotate": 90}),
        ("clip.webm", {"faststart": True, "audio": None}),
        ("clip.mp4", {"rotate": 45}),
        ("clip.avi", {}),
        ("clip.mp4", {"seconds": 0}),
    ],
)
def test_impossible_requests_fail_before_ffmpeg_runs(tmp_path: Path, name: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make_video(tmp_path / name, **{"seconds": 1, "width": 160, "height": 120, **options})
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_failure_carries_ffmpegs_reason_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"odd\.mp4") as caught:
        make_video(tmp_path / "odd.mp4", seconds=1, width=161, height=120, pix_fmt="yuv420p")
    assert "width not divisible by 2" in caught.value.detail  # libx264's own reason
    assert list(tmp_path.iterdir()) == []


# --- make_hls ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hls_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hls")
    make_hls(root / "show", seconds=6)
    return root


@pytest.fixture
def hls_server(hls_root: Path) -> Iterator[MediaServer]:
    with MediaServer(hls_root) as server:
        yield server


def test_master_playlist_has_two_video_variants_and_one_audio_group(hls_root: Path) -> None:
    master = (hls_root / "show" / "master.m3u8").read_text()
    variants = [line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF:")]
    media = [line for line in master.splitlines() if line.startswith("#EXT-X-MEDIA:")]
    assert len(variants) == 2 and len(media) == 1
    assert "RESOLUTION=1280x720" in variants[0] and "RESOLUTION=640x360" in variants[1]
    assert all("BANDWIDTH=" in v and 'CODECS="avc1.' in v and 'AUDIO="group_audio"' in v for v in variants)
    assert 'TYPE=AUDIO,GROUP-ID="group_audio"' in media[0]
    for playlist in ("stream_1280x720", "stream_640x360", "stream_audio"):
        text = (hls_root / "show" / playlist / "index.m3u8").read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")


def test_hls_without_audio_has_no_audio_group(tmp_path: Path) -> None:
    master = make_hls(tmp_path, seconds=2, variants=((320, 180),), audio=False).read_text()
    assert "#EXT-X-MEDIA" not in master and "AUDIO=" not in master
    assert master.count("#EXT-X-STREAM-INF:") == 1


def test_hls_rejects_odd_or_duplicate_variants(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_hls(tmp_path, seconds=2, variants=((321, 180),))
    with pytest.raises(ValueError):
        make_hls(tmp_path, seconds=2, variants=((320, 180), (320, 180)))


def test_yt_dlp_lists_the_heights_and_picks_360p_plus_audio(hls_server: MediaServer) -> None:
    params = {"quiet": True, "noprogress": True, "format": "bv*[height<=?480]+ba/b[height<=?480]"}
    with yt_dlp.YoutubeDL(params) as ydl:
        info = ydl.extract_info(f"{hls_server.url}/show/master.m3u8", download=False)
    formats = {f["format_id"]: f for f in info["formats"]}
    assert sorted(f.get("height") or 0 for f in formats.values() if f["vcodec"] != "none") == [360, 720]
    audio_only = [f for f in formats.values() if f["vcodec"] == "none"]
    assert [f["format_id"] for f in audio_only] == ["group_audio-audio_2"]
    assert {f["protocol"] for f in formats.values()} == {"m3u8_native"}
    chosen = info["requested_formats"]
    assert [f.get("height") for f in chosen] == [360, None] and chosen[1]["vcodec"] == "none"


def test_ffmpeg_merges_a_variant_and_the_audio_over_http(hls_server: MediaServer, tmp_path: Path) -> None:
    out = tmp_path / "merged.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", f"{hls_server.url}/show/stream_640x360/index.m3u8",
         "-i", f"{hls_server.url}/show/stream_audio/index.m3u8", "-map", "0:v:0", "-map", "1:a:0", "-t", "5",
         "-c", "copy", str(out)],
        check=True, capture_output=True, timeout=60,
    )
    report = _ffprobe(out)
    assert [(s["codec_name"], s.get("height")) for s in report["streams"]] == [("h264", 360), ("aac", None)]
    assert abs(float(report["format"]["duration"]) - 5) < 0.2
