"""``reelset yt8m extract``: the CSV, the records it writes, the cache, the failures, the original command line."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.features.backbones import load_backbone
from reelset.features.extraction import ExtractSummary, extract, find_videos, read_inputs, read_video_csv, shard_paths
from reelset.features.video import ExtractSettings, VideoInput, extract_video_features
from reelset.sandbox.media import make_video
from reelset.yt8m.records import dequantize, read_records

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backbone():
    return load_backbone("efficientnet-lite0", device="cpu")


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """Three small videos (one with a comma and non-ASCII letters in its name, one without audio) and bad files."""
    root = tmp_path_factory.mktemp("videos")
    made = {
        "three": make_video(root / "three seconds.mp4", seconds=3, width=160, height=120),
        "unicode": make_video(root / "vidéo, 東京.mp4", seconds=2, width=96, height=64, audio=None),
        "five": make_video(root / "c.mp4", seconds=4.5, width=128, height=96, pattern="smptebars"),
    }
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("not a video\n")
    made["empty"], made["text"] = root / "empty.mp4", root / "text.mp4"
    return made


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def settings(tmp_path: Path, **values) -> ExtractSettings:
    return ExtractSettings(cache_dir=tmp_path / "cache", **values)


# --------------------------------------------------------------------------------------------------- inputs

def test_csv_lines_take_labels_after_the_last_comma_sorted_and_report_bad_lines(tmp_path):
    csv = tmp_path / "videos.csv"
    csv.write_bytes("\ufeffa.mp4,3;1;2\r\nclips/b, with comma.mp4,7\n\n# a comment\nc.mp4,\nno comma\n"
                    "d.mp4,1;x\ne.mp4,4;-1\nf.mp4,5;5;2\n".encode())
    videos, bad = read_video_csv(csv)
    assert videos == [
        VideoInput("a.mp4", (1, 2, 3)),
        VideoInput("clips/b, with comma.mp4", (7,)),
        VideoInput("c.mp4", ()),
        VideoInput("f.mp4", (2, 5)),
    ]
    assert [line.split(": ")[0] for line in bad] == [f"{csv}:6", f"{csv}:7", f"{csv}:8"]
    assert "expected <video_file>,<labels joined by ;>" in bad[0]
    assert "'1;x'" in bad[1] and "negative" in bad[2]


def test_a_folder_of_videos_is_found_recursively_and_in_order(tmp_path):
    for name in ("b.mp4", "a.MOV", "sub/c.webm", "sub/notes.txt", "d.mkv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [Path(video.path).relative_to(tmp_path).as_posix() for video in find_videos(tmp_path)] == [
        "a.MOV", "b.mp4", "d.mkv", "sub/c.webm"]
    assert read_inputs(tmp_path)[0] == find_videos(tmp_path)
    with pytest.raises(ReelsetError, match="nowhere.csv: no such CSV file or folder"):
        read_inputs(tmp_path / "nowhere.csv")


def test_shard_names():
    assert shard_paths(Path("out/f.tfrecord"), 1) == [Path("out/f.tfrecord")]
    assert shard_paths(Path("out/f.tfrecord"), 3) == [Path(f"out/f-0000{i}-of-00003.tfrecord") for i in range(3)]
    assert shard_paths(Path("out/f"), 2)[1] == Path("out/f-00001-of-00002.tfrecord")


# --------------------------------------------------------------------------------------------------- records

def test_records_hold_the_path_as_written_sorted_labels_and_the_features(tmp_path, videos, backbone):
    out = tmp_path / "out.tfrecord"
    inputs = [VideoInput(str(videos["three"]), (9, 2)), VideoInput(str(videos["unicode"]), (4,))]
    summary = extract(inputs, out, settings(tmp_path), backbone=backbone)
    assert (summary.encoded, summary.total, summary.failures) == (2, 2, [])
    assert summary.line == "Successfully encoded 2 out of 2 videos"
    assert summary.outputs == [out] and sorted(os.listdir(tmp_path)) == ["cache", "out.tfrecord"]
    records = list(read_records(out))
    assert [record["id"] for record in records] == [str(videos["three"]), str(videos["unicode"])]
    assert [record["labels"].tolist() for record in records] == [[2, 9], [4]]
    for record, seconds in zip(records, (3, 2)):
        assert record["rgb"].shape == (seconds, 1280) and record["rgb"].dtype == np.uint8
        assert "audio" not in record and "mean_audio" not in record
        assert record["backbone"] == b"efficientnet-lite0" and record["audio_source"] == b"none"
        # mean_rgb is the mean of the unquantized features: within one 8-bit step of the bytes' mean.
        assert record["mean_rgb"].shape == (1280,)
        assert np.abs(dequantize(record["rgb"]).mean(axis=0) - record["mean_rgb"]).max() <= 4 / 255 + 1e-6
    assert 0 < summary.max_quantization_error <= 4 / 255 + 1e-6
    # Different videos, different features; a video's own frames differ over time (testsrc2 moves).
    assert np.abs(records[0]["mean_rgb"] - records[1]["mean_rgb"]).mean() > 0.01
    assert not np.array_equal(records[0]["rgb"][0], records[0]["rgb"][2])


def test_features_depend_only_on_the_video(tmp_path, videos, backbone):
    alone = extract([VideoInput(str(videos["three"]))], tmp_path / "alone.tfrecord",
                    settings(tmp_path, use_cache=False), backbone=backbone)
    together = extract([VideoInput(str(videos["five"])), VideoInput(str(videos["three"]))],
                       tmp_path / "together.tfrecord", settings(tmp_path, use_cache=False, batch_size=3),
                       backbone=backbone)
    assert alone.encoded == 1 and together.encoded == 2
    first = next(read_records(tmp_path / "alone.tfrecord"))
    second = list(read_records(tmp_path / "together.tfrecord"))[1]
    assert np.array_equal(first["rgb"], second["rgb"])
    assert np.allclose(first["mean_rgb"], second["mean_rgb"], atol=1e-5)


def test_zero_audio_as_the_original_and_video_level_records(tmp_path, videos, backbone):
    inputs = [VideoInput(str(videos["five"]), (1,))]
    extract(inputs, tmp_path / "audio.tfrecord", settings(tmp_path, audio="zeros"),
            backbone=backbone)
    record = next(read_records(tmp_path / "audio.tfrecord"))
    assert record["rgb"].shape == (5, 1280)
    assert record["audio"].shape == (5, 128) and not record["audio"].any()
    assert record["mean_audio"].shape == (128,) and not record["mean_audio"].any()
    assert record["audio_source"] == b"zeros"

    extract(inputs, tmp_path / "video.tfrecord", settings(tmp_path, skip_frame_level_features=True),
            backbone=backbone)
    video_level = next(read_records(tmp_path / "video.tfrecord"))
    assert "rgb" not in video_level and video_level["mean_rgb"].shape == (1280,)
    assert np.allclose(video_level["mean_rgb"], record["mean_rgb"])


def test_feature_keys_of_the_original_flags(tmp_path, videos, backbone):
    tf = pytest.importorskip("tensorflow")
    out = tmp_path / "keys.tfrecord"
    extract([VideoInput(str(videos["three"]), (5, 3))], out,
            settings(tmp_path, image_feature_key="frame", labels_feature_key="tags", video_file_feature_key="path"),
            backbone=backbone)
    payload = next(iter(tf.data.TFRecordDataset(str(out)))).numpy()
    example = tf.train.SequenceExample.FromString(payload)
    context = example.context.feature
    assert context["path"].bytes_list.value == [str(videos["three"]).encode()]
    assert list(context["tags"].int64_list.value) == [3, 5]
    assert len(context["mean_frame"].float_list.value) == 1280
    assert len(example.feature_lists.feature_list["frame"].feature) == 3


def test_tensorflow_reads_the_output_as_youtube8m(tmp_path, videos, backbone):
    tf = pytest.importorskip("tensorflow")
    out = tmp_path / "tf.tfrecord"
    extract([VideoInput(str(videos["unicode"]), (3, 1))], out, settings(tmp_path), backbone=backbone)
    ours = next(read_records(out))
    payload = next(iter(tf.data.TFRecordDataset(str(out))))
    context, lists = tf.io.parse_single_sequence_example(
        payload,
        context_features={"id": tf.io.FixedLenFeature([], tf.string),
                          "labels": tf.io.VarLenFeature(tf.int64),
                          "mean_rgb": tf.io.FixedLenFeature([1280], tf.float32),
                          "backbone": tf.io.FixedLenFeature([], tf.string)},
        sequence_features={"rgb": tf.io.FixedLenSequenceFeature([], dtype=tf.string)})
    assert context["id"].numpy().decode() == str(videos["unicode"])
    assert tf.sparse.to_dense(context["labels"]).numpy().tolist() == [1, 3]
    assert context["backbone"].numpy() == b"efficientnet-lite0"
    rgb = tf.io.decode_raw(lists["rgb"], tf.uint8).numpy()
    assert np.array_equal(rgb, ours["rgb"]) and np.array_equal(context["mean_rgb"].numpy(), ours["mean_rgb"])


def test_library_function_returns_one_videos_features(videos, backbone):
    features = extract_video_features(videos["five"], backbone=backbone)
    assert features.features.shape == (5, 1280) and features.features.dtype == np.float32
    assert features.quantized.dtype == np.uint8 and features.quantized.shape == (5, 1280)
    assert features.timestamps.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert features.backbone == "efficientnet-lite0"
    assert np.abs(dequantize(features.quantized) - features.features).max() <= 4 / 255 + 1e-6
    with pytest.raises(ReelsetError, match="empty.mp4: empty file"):
        extract_video_features(videos["empty"], backbone=backbone)


# --------------------------------------------------------------------------------------------------- shards, cache

def test_shards_take_their_names_only_when_complete(tmp_path, videos, backbone):
    inputs = [VideoInput(str(videos[name])) for name in ("three", "unicode", "five")]
    out = tmp_path / "out" / "feat.tfrecord"
    summary = extract(inputs, out, settings(tmp_path, shard_size=2), backbone=backbone)
    assert summary.outputs == shard_paths(out, 2)
    assert sorted(os.listdir(out.parent)) == ["feat-00000-of-00002.tfrecord", "feat-00001-of-00002.tfrecord"]
    assert [len(list(read_records(path))) for path in summary.outputs] == [2, 1]


def test_a_killed_run_leaves_no_output_and_the_rerun_reuses_finished_videos(tmp_path, videos, backbone):
    inputs = [VideoInput(str(videos[name])) for name in ("three", "unicode", "five")]
    out = tmp_path / "out" / "feat.tfrecord"
    seen = []

    def killed_after_two(video, error):
        seen.append(video)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract(inputs, out, settings(tmp_path), backbone=backbone, on_video=killed_after_two)
    assert not out.parent.exists() or os.listdir(out.parent) == []
    cached = list((tmp_path / "cache" / "features").rglob("*.npz"))
    assert len(cached) == 2

    rerun = extract(inputs, out, settings(tmp_path), backbone=backbone)
    assert (rerun.encoded, rerun.from_cache) == (3, 2)
    again = extract(inputs, tmp_path / "again.tfrecord", settings(tmp_path), backbone=backbone)
    assert again.from_cache == 3
    assert out.read_bytes() == (tmp_path / "again.tfrecord").read_bytes()


def test_cache_keys_follow_content_and_settings(tmp_path, videos, backbone):
    copy = tmp_path / "copy of three.mp4"
    shutil.copy(videos["three"], copy)
    first = extract([VideoInput(str(videos["three"]))], tmp_path / "a.tfrecord", settings(tmp_path),
                    backbone=backbone)
    same_content = extract([VideoInput(str(copy))], tmp_path / "b.tfrecord", settings(tmp_path), backbone=backbone)
    other_rate = extract([VideoInput(str(copy))], tmp_path / "c.tfrecord",
                         settings(tmp_path, frames_per_second=2.0), backbone=backbone)
    uncached = extract([VideoInput(str(copy))], tmp_path / "d.tfrecord", settings(tmp_path, use_cache=False),
                       backbone=backbone)
    assert (first.from_cache, same_content.from_cache, other_rate.from_cache, uncached.from_cache) == (0, 1, 0, 0)
    assert next(read_records(tmp_path / "c.tfrecord"))["rgb"].shape == (6, 1280)
    # A damaged cache entry is computed again, not trusted.
    for entry in (tmp_path / "cache" / "features").rglob("*.npz"):
        entry.write_bytes(b"damaged")
    redone = extract([VideoInput(str(copy))], tmp_path / "e.tfrecord", settings(tmp_path), backbone=backbone)
    assert (redone.encoded, redone.from_cache) == (1, 0)
    assert (tmp_path / "e.tfrecord").read_bytes() == (tmp_path / "b.tfrecord").read_bytes()


# --------------------------------------------------------------------------------------------------- failures

def test_bad_videos_are_reported_and_the_run_goes_on(tmp_path, videos, backbone):
    truncated = tmp_path / "truncated.mp4"  # index at the end: nothing can be read
    truncated.write_bytes(videos["three"].read_bytes()[: videos["three"].stat().st_size // 2])
    streamable = make_video(tmp_path / "streamable.mp4", seconds=6, width=96, height=64, faststart=True)
    cut = tmp_path / "cut.mp4"  # index first: plays up to the cut
    cut.write_bytes(streamable.read_bytes()[: streamable.stat().st_size // 2])
    names = [str(videos["three"]), str(tmp_path / "missing.mp4"), str(videos["empty"]), str(videos["text"]),
             str(truncated), str(tmp_path), str(cut)]
    warned = []
    summary = extract([VideoInput(name) for name in names], tmp_path / "out.tfrecord", settings(tmp_path),
                      invalid=["videos.csv:3: expected <video_file>,<labels joined by ;>, got 'x'"],
                      backbone=backbone, on_warning=warned.append)
    assert summary.line == "Successfully encoded 2 out of 8 videos"
    reasons = dict(failure.split(": ", 1) for failure in summary.failures)
    assert set(reasons) == {"videos.csv:3", *names[1:6]}
    assert reasons[names[1]] == "no such file"
    assert reasons[names[2]] == "empty file (0 bytes)"
    assert reasons[names[3]].startswith("unreadable media")
    assert "moov atom not found" in reasons[names[4]]
    assert "folder" in reasons[names[5]]
    assert len(warned) == 1 and warned == summary.warnings
    assert warned[0].startswith(f"{cut}: damaged or truncated video")
    records = list(read_records(tmp_path / "out.tfrecord"))
    assert [record["id"] for record in records] == [names[0], names[6]]
    assert 1 <= len(records[1]["rgb"]) < 6


def test_the_original_command_line_works_unchanged(tmp_path, videos, monkeypatch):
    monkeypatch.chdir(videos["three"].parent)
    csv = write_csv(tmp_path / "in.csv", ["three seconds.mp4,3;1", "vidéo, 東京.mp4,2", "gone.mp4,4", "bad line"])
    out = tmp_path / "features.tfrecord"
    result = CliRunner().invoke(cli, [
        "yt8m", "extract", "--input_videos_csv", str(csv), "--output_tfrecords_file", str(out),
        "--frames_per_second", "1", "--image_feature_key", "rgb", "--labels_feature_key", "labels",
        "--video_file_feature_key", "id", "--insert_zero_audio_features", "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert "Successfully encoded 2 out of 4 videos" in lines
    assert f"wrote {out}" in lines and "failures: 2" in lines
    assert "  gone.mp4: no such file" in lines
    assert any(line.startswith(f"  {csv}:4: expected") for line in lines)
    records = list(read_records(out))
    assert [(record["id"], record["labels"].tolist()) for record in records] == [
        ("three seconds.mp4", [1, 3]), ("vidéo, 東京.mp4", [2])]
    assert all(record["audio"].shape == (len(record["rgb"]), 128) for record in records)


def test_a_folder_skipping_frame_level_features(tmp_path, videos, backbone):
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(videos["five"], folder / "holiday.mp4")
    out = tmp_path / "mine.tfrecord"
    inputs, bad_lines = read_inputs(folder)
    summary = extract(inputs, out, ExtractSettings(skip_frame_level_features=True, use_cache=False),
                      invalid=bad_lines, backbone=backbone)
    assert not summary.failures
    assert summary.line == "Successfully encoded 1 out of 1 videos"
    (record,) = read_records(out)
    assert record["id"] == str(folder / "holiday.mp4") and "rgb" not in record
    assert not (tmp_path / "cache").exists()


def test_cli_passes_flags_and_environment_prints_the_summary_and_exits_0(tmp_path, monkeypatch):
    extraction = importlib.import_module("reelset.features.extraction")  # the command imports extract from there
    calls = []

    def fake_extract(inputs, out, settings, **kwargs):
        calls.append((inputs, out, settings, kwargs))
        return ExtractSummary(total=2, encoded=2, from_cache=1, frames=7, outputs=[out],
                              max_quantization_error=0.0123)

    monkeypatch.setattr(extraction, "extract", fake_extract)
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.mp4").write_bytes(b"x")
    (folder / "sub" / "a.mp4").write_bytes(b"x")
    out = tmp_path / "mine.tfrecord"
    env = {"REELSET_CACHE_DIR": str(tmp_path / "env-cache"), "REELSET_SCHEDULER": "tcp://127.0.0.1:1"}
    result = CliRunner().invoke(cli, [
        "yt8m", "extract", "--input-videos-csv", str(folder), "--output-tfrecords-file", str(out),
        "--skip-frame-level-features", "--no-cache", "--frames-per-second", "2", "--max-frames", "9",
        "--jobs", "3", "--shard-size", "5", "--device", "cpu"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"wrote {out}", "frames: 7, from cache: 1 videos, largest 8-bit quantization error: 0.0123",
        "Successfully encoded 2 out of 2 videos"]
    [(inputs, called_out, settings, kwargs)] = calls
    assert inputs == [VideoInput(str(folder / "b.mp4")), VideoInput(str(folder / "sub" / "a.mp4"))]
    assert called_out == out and kwargs["invalid"] == [] and kwargs["executor"] == "tcp://127.0.0.1:1"
    assert (settings.skip_frame_level_features, settings.use_cache, settings.cache_dir) == (
        True, False, tmp_path / "env-cache")
    assert (settings.frames_per_second, settings.max_frames, settings.decode_workers, settings.shard_size,
            settings.device) == (2.0, 9, 3, 5, "cpu")


def test_cli_refuses_what_cannot_run(tmp_path, videos):
    empty = write_csv(tmp_path / "empty.csv", ["# nothing here"])
    result = CliRunner().invoke(cli, ["yt8m", "extract", "--input-videos-csv", str(empty),
                                      "--output-tfrecords-file", str(tmp_path / "o.tfrecord")])
    assert result.exit_code != 0 and "no videos to encode" in result.output
    csv = write_csv(tmp_path / "one.csv", [f"{videos['five']},1"])
    result = CliRunner().invoke(cli, ["yt8m", "extract", "--input-videos-csv", str(csv),
                                      "--output-tfrecords-file", str(tmp_path / "o.tfrecord"), "--device", "cuda"])
    assert result.exit_code != 0 and "--device cuda: no CUDA GPU" in result.output
    assert not (tmp_path / "o.tfrecord").exists()
