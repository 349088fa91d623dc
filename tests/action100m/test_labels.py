"""Clip-aware supports, transcript segments, upload dates, and probing clips of every kind (pure logic + files)."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone

import pytest

from reelset.action100m.dataset import probe_clip
from reelset.action100m.labels import Clip, frame_support, transcript_entries, upload_datetime
from reelset.sandbox.media import make_video

CLIP = Clip(fps=10.0, total_frames=900, duration=90.0)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0.0, 1.0, [1, 10]),  # frames 1..10 show 0.0-1.0 s
        (0.05, 0.15, [1, 2]),
        (4.2, 9.999, [43, 100]),
        (80.0, 120.0, [801, 900]),  # crosses the end: clamped to the last frame
        (89.99, 95.0, [900, 900]),
        (90.0, 95.0, None),  # starts at the end: not in the clip
        (100.0, 120.0, None),
        (3.0, 3.0001, [31, 31]),  # shorter than a frame: one frame
    ],
)
def test_frame_support(start, end, expected):
    assert frame_support(start, end, CLIP) == expected


def test_support_with_odd_frame_rate():
    clip = Clip(fps=29.97, total_frames=2697, duration=89.99)
    first, last = frame_support(10.0, 20.0, clip)
    assert (first, last) == (300, 600)


def test_transcript_entries_end_at_the_next_start_and_last_is_sensible():
    raw = [{"time": "0.16", "text": "so  now\\nwe"}, {"time": "2.5", "text": "[Music]"}, {"time": "4.0", "text": "ok"},
           {"time": "bad", "text": "skipped"}, {"time": "1.0", "text": "  "}]
    entries = transcript_entries(raw, video_end=100.0)
    assert entries[0] == (0.16, 2.5, "so now\\nwe")
    assert entries[1] == (2.5, 4.0, "[Music]")
    start, end, text = entries[2]
    assert (start, text) == (4.0, "ok") and end == pytest.approx(4.0 + (2.34 + 1.5) / 2)
    assert transcript_entries([{"time": "99.5", "text": "bye"}], video_end=100.0) == [(99.5, 100.0, "bye")]
    assert transcript_entries(None, 10.0) == [] and transcript_entries([], 10.0) == []


def test_upload_dates():
    assert upload_datetime("20190314") == datetime(2019, 3, 14, tzinfo=timezone.utc)
    assert upload_datetime(None) is None and upload_datetime("") is None and upload_datetime("2019-03-14") is None
    assert upload_datetime("20191340") is None


def test_probe_clip_reads_the_index_and_falls_back_to_ffprobe(tmp_path):
    plain = make_video(tmp_path / "dQw4w9WgXcQ.mp4", seconds=3, width=320, height=180, fps=10)
    probed = probe_clip("dQw4w9WgXcQ", plain)
    assert probed.clip == Clip(fps=10.0, total_frames=30, duration=pytest.approx(3.0))
    assert probed.metadata["frame_width"] == 320 and probed.metadata["encoding_str"] == "h264"

    fragmented = tmp_path / "frag.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(plain), "-c", "copy", "-movflags", "frag_keyframe+empty_moov",
                    str(fragmented)], check=True)
    probed = probe_clip("dQw4w9WgXcQ", fragmented)
    # ffprobe averages over the stream: about 10 fps (the audio makes the file a little longer than the video).
    assert probed.clip is not None and probed.clip.total_frames == 30 and probed.clip.fps == pytest.approx(10, rel=0.02)

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    probed = probe_clip("dQw4w9WgXcQ", broken)
    assert probed.clip is None and probed.error.startswith("broken.mp4: ")


def test_probe_clip_without_frame_rate(monkeypatch, tmp_path):
    """A stream that reports fps 0 (or none): the frame count and duration stand in; with neither, it is skipped."""
    from reelset.action100m import dataset
    from reelset.core.ffmpeg import MediaInfo, VideoStream

    path = tmp_path / "dQw4w9WgXcQ.mp4"
    path.write_bytes(b"x" * 10)
    monkeypatch.setattr(dataset, "read_mp4_video", lambda _: None)

    def fake_probe(frames):
        video = VideoStream("h264", "yuv420p", 640, 360, 0, None, frames)
        return lambda *a, **k: MediaInfo(str(path), "mp4", 12.5, 10, video, None)

    monkeypatch.setattr(dataset, "probe", fake_probe(250))
    probed = dataset.probe_clip("dQw4w9WgXcQ", path)
    assert probed.clip == Clip(fps=20.0, total_frames=250, duration=12.5)
    monkeypatch.setattr(dataset, "probe", fake_probe(None))
    probed = dataset.probe_clip("dQw4w9WgXcQ", path)
    assert probed.clip is None and "frame rate and frame count unknown" in probed.error
