"""cut_segment(s) against real ffmpeg: clips whose every frame shows its own number as black/white bars."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from reelset.action100m.cut import COPY, REENCODED, SHARED_ENCODE, SPLICED, cut_segment, cut_segments, index_clip
from reelset.core.errors import ReelsetError
from reelset.core.ffmpeg import run_ffmpeg
from tests.support.counter_video import frame_numbers, has_edit_list, make_counter_clip

FPS, SECONDS = 30, 8
RATE = 48_000
AAC_FRAME = 1024 / RATE


@pytest.fixture(scope="module", params=[0, 2], ids=["no-b-frames", "b-frames"])
def clip(request, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / f"clip-bf{request.param}.mp4"
    return make_counter_clip(path, seconds=SECONDS, fps=FPS, b_frames=request.param)


def _frame_numbers(video: Path, tmp: Path) -> list[int]:
    return frame_numbers(video)


def _audio_seconds(video: Path, tmp: Path) -> float:
    raw = tmp / f"{video.stem}.pcm"
    run_ffmpeg(["-y", "-v", "error", "-i", str(video), "-map", "0:a:0", "-f", "s16le", "-ac", "1", "-ar", str(RATE),
                str(raw)])
    return raw.stat().st_size / 2 / RATE


@pytest.mark.parametrize(("start", "end", "expected_how"), [
    (2.0, 4.0, COPY),  # keyframe to keyframe
    (2.5, 3.7, REENCODED),  # between keyframes
    (5.1, 20.0, SPLICED),  # past the clip's end: ends with it; the head to 6.0 encoded, the rest copied
    (0.5, 5.0, SPLICED),  # head to 2.0 encoded, copied to 4.0 (and on to 5.0, or a tail encoded with B-frames)
    (6.0, 30.0, COPY),  # keyframe to the clip's end
])
def test_cut_is_exactly_the_segment(clip, tmp_path, start, end, expected_how):
    out = tmp_path / "segment.mp4"
    result = cut_segment(clip, start, end, out)

    numbers = _frame_numbers(out, tmp_path)
    span = min(end, SECONDS) - start
    assert numbers[0] == int(start * FPS + 1e-6), "first frame is the source frame shown at start"
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), "consecutive source frames, none repeated"
    assert abs(len(numbers) - round(span * FPS)) <= 1
    assert result.frames == len(numbers)
    assert result.first_time == pytest.approx(numbers[0] / FPS)
    assert result.duration == pytest.approx(len(numbers) / FPS)
    assert result.bytes == out.stat().st_size
    # Copies hold with B-frames too: the copy stops at the next keyframe's decoding time, not its display time.
    assert result.how == expected_how
    assert not has_edit_list(out), "no edit list, no hidden pre-roll"
    # Copied sound is whole AAC frames of the clip; encoded sound adds the encoder's priming (one frame, no edit list
    # to hide it).
    priming = AAC_FRAME if result.how == REENCODED else 0
    assert abs(_audio_seconds(out, tmp_path) - priming - result.duration) <= AAC_FRAME + 1e-3
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == [], "no temporary file left"


def test_one_index_serves_many_cuts(clip, tmp_path):
    index = index_clip(clip)
    assert index.keyframe_times == pytest.approx([0.0, 2.0, 4.0, 6.0])
    assert index.reorders == ("bf2" in clip.name)
    first = cut_segment(clip, 4.0, 5.0, tmp_path / "a.mp4", index=index)
    second = cut_segment(clip, 0.5, 1.0, tmp_path / "b.mp4", index=index)
    assert (first.frames, second.frames) == (30, 15)
    assert _frame_numbers(tmp_path / "b.mp4", tmp_path)[0] == 15


@pytest.mark.parametrize(("start", "end", "message"), [
    (3.0, 3.0, "is not after its start"),
    (9.0, 10.0, "is outside the clip"),
    (-1.0, 1.0, "is outside the clip"),
])
def test_bad_segment_is_one_line_naming_the_clip(clip, tmp_path, start, end, message):
    with pytest.raises(ReelsetError, match=message) as caught:
        cut_segment(clip, start, end, tmp_path / "x.mp4")
    assert str(clip) in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "x.mp4").exists()


def test_unreadable_clip(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 10)
    with pytest.raises(ReelsetError, match="broken.mp4") as caught:
        cut_segment(broken, 0.0, 1.0, tmp_path / "x.mp4")
    assert "\n" not in str(caught.value)


def _check_cuts(spans, results, tmp_path):
    for i, ((start, end), result) in enumerate(zip(spans, results)):
        numbers = _frame_numbers(result.path, tmp_path)
        assert numbers == list(range(int(start * FPS + 1e-6), int(start * FPS + 1e-6) + len(numbers))), (start, end)
        assert len(numbers) == result.frames == round((min(end, SECONDS) - start) * FPS)
        assert not has_edit_list(result.path)
        decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(result.path), "-f", "null", "-"],
                                 capture_output=True, text=True)
        assert decoded.returncode == 0 and not decoded.stderr, "decodes without a complaint"
    assert sorted(path.name for path in tmp_path.iterdir() if path.suffix == ".mp4") == \
        sorted(result.path.name for result in results)
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")], "no encode left behind"


def test_a_dense_tree_shares_one_encode(clip, tmp_path):
    # Three levels of a Tree-of-Captions whose cuts fall just after keyframes: encoding each head (nearly a whole
    # 2 s GOP each) would cost more than encoding 0.1-7.2 s once.
    spans = [(0.1, 7.2), (0.1, 4.1), (4.1, 7.2), (0.1, 2.1), (2.1, 4.1), (4.1, 6.1), (6.1, 7.2), (2.0, 4.0)]
    results = cut_segments(clip, [(start, end, tmp_path / f"s{i}.mp4") for i, (start, end) in enumerate(spans)])

    assert [result.how for result in results] == [SHARED_ENCODE] * 7 + [COPY]
    _check_cuts(spans, results, tmp_path)


def test_sparse_segments_have_their_heads_encoded(clip, tmp_path):
    spans = [(0.5, 7.3), (1.9, 5.0)]  # heads 0.5-2.0 and 1.9-2.0 (and, with B-frames, tails 6.0-7.3 and 4.0-5.0)
    results = cut_segments(clip, [(start, end, tmp_path / f"s{i}.mp4") for i, (start, end) in enumerate(spans)])

    assert [result.how for result in results] == [SPLICED, SPLICED]
    _check_cuts(spans, results, tmp_path)
    # Only the heads (and tails) are encoded: the frames between are the clip's own, decoded bit for bit.
    source = _frame_hashes(clip)
    for (start, end), result in zip(spans, results):
        first = int(start * FPS + 1e-6)
        copied = range(2 * FPS - first, (6 if end > 7 else 4) * FPS - first)
        hashes = _frame_hashes(result.path)
        assert [hashes[i] for i in copied] == [source[first + i] for i in copied]
        assert hashes[0] != source[first], "the head is encoded (CRF 18: close, not identical)"


def _frame_hashes(video: Path) -> list[str]:
    listing = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-map", "0:v:0", "-f", "framemd5", "-"],
                             capture_output=True, text=True, check=True).stdout
    return [line.rsplit(",", 1)[1].strip() for line in listing.splitlines() if line and not line.startswith("#")]


def test_a_lone_segment_between_keyframes_is_encoded_alone(clip, tmp_path):
    (result,) = cut_segments(clip, [(2.5, 3.7, tmp_path / "a.mp4")])
    assert result.how == REENCODED and result.frames == 36


def _pcm(video: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-map", "0:a:0", "-f", "f32le", "-ac", "1", "-ar",
                          str(RATE), "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32)


def test_the_sound_is_the_segments_sound(tmp_path):
    # A chirp (its pitch rises all along): a stretch of it matches the source at one offset only.
    clip = make_counter_clip(tmp_path / "chirp.mp4", seconds=SECONDS, fps=FPS, b_frames=2,
                             sound="aevalsrc='0.5*sin(2*PI*(200*t+90*t*t))':s=48000:d={seconds}")
    source = _pcm(clip)
    spans = [(2.0, 4.0), (0.5, 5.0), (2.5, 3.7)]  # copied, spliced, encoded alone
    results = [cut_segment(clip, start, end, tmp_path / f"s{i}.mp4") for i, (start, end) in enumerate(spans)]
    dense = [(0.1, 7.2), (0.1, 4.1), (4.1, 7.2), (0.1, 2.1), (2.1, 4.1), (4.1, 6.1), (6.1, 7.2)]
    spans.append(dense[2])
    results.append(cut_segments(clip, [(a, b, tmp_path / f"d{i}.mp4") for i, (a, b) in enumerate(dense)])[2])
    assert [result.how for result in results] == [COPY, SPLICED, REENCODED, SHARED_ENCODE]
    for (start, end), result in zip(spans, results):
        sound = _pcm(result.path)
        probe_at = 4096  # past the first AAC frames (priming, or a copied stream's first frame)
        window = sound[probe_at:probe_at + 4096]
        lo = int((start - 0.1) * RATE) + probe_at
        candidates = np.lib.stride_tricks.sliding_window_view(source[lo:lo + int(0.2 * RATE) + 4096], 4096)
        offset = (lo + int(np.argmin(((candidates - window) ** 2).sum(axis=1))) - probe_at) / RATE
        priming = AAC_FRAME if result.how == REENCODED else 0
        assert abs(offset + priming - start) <= AAC_FRAME / 2 + 1e-3, f"{result.how}: sound starts at {offset:.4f} s"
        assert abs(len(sound) / RATE - priming - result.duration) <= AAC_FRAME + 1e-3
