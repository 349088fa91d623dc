"""``reelset yt8m extract --audio vggish``: one VGGish vector per rgb frame in the records, ``mean_audio``,
``audio_source``, videos without sound, the feature cache, TensorFlow reading the records, the command line."""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.features.audio import Vggish, vggish_features
from reelset.features.backbones import load_backbone
from reelset.features.backbones.model_files import VggishFiles
from reelset.features.extraction import ExtractSummary, extract
from reelset.features.video import ExtractSettings, VideoInput, extract_video_features
from reelset.sandbox.media import make_video
from reelset.sandbox.servers import MediaServer
from reelset.sandbox.vggish_files import CHECKPOINT_NAME as CKPT
from reelset.sandbox.vggish_files import PCA_NAME as PCA
from reelset.sandbox.vggish_files import write_vggish_files
from reelset.yt8m.records import dequantize, read_records
from tests.support.media import ffmpeg_quietly


@pytest.fixture(scope="module")
def backbone():
    return load_backbone("efficientnet-lite0", device="cpu")


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict:
    """A steady tone (3 s), no audio stream (2 s), and a rising chirp (4.5 s: 5 frames)."""
    root = tmp_path_factory.mktemp("videos")
    silent = make_video(root / "long-silent.mp4", seconds=4.5, width=64, height=48, pattern="smptebars", audio=None)
    ffmpeg_quietly("-i", str(silent), "-f", "lavfi", "-i", "aevalsrc=0.5*sin(2*PI*(200+300*t)*t):s=44100:d=4.5",
                   "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(root / "long.mp4"))
    return {
        "tone": make_video(root / "tone.mp4", seconds=3, width=64, height=48),
        "mute": make_video(root / "mute.mp4", seconds=2, width=64, height=48, audio=None),
        "long": root / "long.mp4",
    }


def settings(tmp_path, **values) -> ExtractSettings:
    return ExtractSettings(cache_dir=tmp_path / "cache", audio="vggish", **values)


def test_records_hold_one_vggish_vector_per_frame_and_say_so(tmp_path, videos, backbone, vggish):
    inputs = [VideoInput(str(videos[name])) for name in ("tone", "mute", "long")]
    out = tmp_path / "out.tfrecord"
    summary = extract(inputs, out, settings(tmp_path), backbone=backbone, vggish=vggish)
    assert (summary.encoded, summary.failures, summary.no_sound) == (3, [], [str(videos["mute"])])
    tone, mute, long = read_records(out)
    for record, frames in ((tone, 3), (long, 5)):
        assert record["rgb"].shape == (frames, 1280)
        assert record["audio"].shape == (frames, 128) and record["audio"].dtype == np.uint8
        assert record["audio_source"] == b"vggish" and record["mean_audio"].shape == (128,)
    # The bytes are VGGish's for the rgb frames' times, mean_audio the mean of the unquantized floats.
    alone = vggish_features(videos["tone"], [0.0, 1.0, 2.0], vggish)
    assert np.array_equal(tone["audio"], alone.quantized)
    np.testing.assert_allclose(tone["mean_audio"], alone.mean, rtol=1e-6, atol=1e-6)
    unclipped = (np.abs(alone.features) < 2).all(axis=0)  # clipped dimensions' bytes cannot tell their mean
    assert unclipped.sum() > 64
    assert np.abs(dequantize(tone["audio"]).mean(axis=0) - tone["mean_audio"])[unclipped].max() <= 4 / 255
    assert not np.array_equal(tone["audio"][0], long["audio"][0])  # other sound, other features
    assert np.abs(long["audio"][0].astype(int) - long["audio"][3]).mean() > 5  # the chirp rose
    assert "audio" not in mute and "mean_audio" not in mute and mute["audio_source"] == b"none"
    assert mute["rgb"].shape == (2, 1280)

    video_level = extract(inputs[:1], tmp_path / "video.tfrecord", settings(tmp_path, skip_frame_level_features=True),
                          backbone=backbone, vggish=vggish)
    (record,) = read_records(tmp_path / "video.tfrecord")
    assert video_level.from_cache == 1 and "audio" not in record and "rgb" not in record
    assert np.array_equal(record["mean_audio"], tone["mean_audio"]) and record["audio_source"] == b"vggish"


def test_the_library_function_gives_the_audio_too(videos, backbone, vggish):
    features = extract_video_features(videos["long"], backbone=backbone, audio=vggish)
    assert features.audio.shape == (5, 128) and features.audio_quantized.shape == (5, 128)
    assert features.audio_source == "vggish" and not features.no_sound
    assert np.array_equal(features.audio_quantized,
                          vggish_features(videos["long"], features.timestamps, vggish).quantized)
    silent = extract_video_features(videos["mute"], backbone=backbone, audio=vggish)
    assert silent.audio is None and silent.no_sound and silent.audio_source == "none"
    with pytest.raises(ReelsetError, match="audio 'zeros': expected none or vggish"):
        extract_video_features(videos["mute"], backbone=backbone, audio="zeros")


def test_the_cache_key_holds_the_audio_choice_and_vggishs_files(tmp_path, videos, backbone, vggish):
    inputs = [VideoInput(str(videos["tone"]))]
    first = extract(inputs, tmp_path / "none.tfrecord", ExtractSettings(cache_dir=tmp_path / "cache"),
                    backbone=backbone)
    with_audio = extract(inputs, tmp_path / "a.tfrecord", settings(tmp_path), backbone=backbone, vggish=vggish)
    again = extract(inputs, tmp_path / "b.tfrecord", settings(tmp_path), backbone=backbone, vggish=vggish)
    assert (first.from_cache, with_audio.from_cache, again.from_cache) == (0, 0, 1)
    assert (tmp_path / "a.tfrecord").read_bytes() == (tmp_path / "b.tfrecord").read_bytes()
    other_files = write_vggish_files(tmp_path / "other", seed=1)
    other = Vggish(VggishFiles(other_files[CKPT], other_files[PCA]), device="cpu")
    changed = extract(inputs, tmp_path / "c.tfrecord", settings(tmp_path), backbone=backbone, vggish=other)
    assert changed.from_cache == 0
    (a,), (c,) = read_records(tmp_path / "a.tfrecord"), read_records(tmp_path / "c.tfrecord")
    assert np.array_equal(a["rgb"], c["rgb"]) and not np.array_equal(a["audio"], c["audio"])
    zeros = extract(inputs, tmp_path / "z.tfrecord", ExtractSettings(cache_dir=tmp_path / "cache", audio="zeros"),
                    backbone=backbone)
    assert zeros.from_cache == 1  # zeros are written at record time: the cached video features serve


def test_tensorflow_reads_the_audio_as_youtube8m(tmp_path, videos, backbone, vggish):
    tf = pytest.importorskip("tensorflow")
    out = tmp_path / "tf.tfrecord"
    extract([VideoInput(str(videos["long"]), (2,))], out, settings(tmp_path), backbone=backbone, vggish=vggish)
    (ours,) = read_records(out)
    payload = next(iter(tf.data.TFRecordDataset(str(out))))
    context, lists = tf.io.parse_single_sequence_example(
        payload,
        context_features={"id": tf.io.FixedLenFeature([], tf.string),
                          "mean_rgb": tf.io.FixedLenFeature([1280], tf.float32),
                          "mean_audio": tf.io.FixedLenFeature([128], tf.float32),
                          "audio_source": tf.io.FixedLenFeature([], tf.string)},
        sequence_features={"rgb": tf.io.FixedLenSequenceFeature([], dtype=tf.string),
                           "audio": tf.io.FixedLenSequenceFeature([], dtype=tf.string)})
    audio = tf.io.decode_raw(lists["audio"], tf.uint8).numpy()
    rgb = tf.io.decode_raw(lists["rgb"], tf.uint8).numpy()
    assert audio.shape == (5, 128) and rgb.shape == (5, 1280)
    assert np.array_equal(audio, ours["audio"]) and context["audio_source"].numpy() == b"vggish"
    assert np.array_equal(context["mean_audio"].numpy(), ours["mean_audio"])
    # The starter code's dequantize, as TensorFlow computes it, is the records' reader's.
    assert np.array_equal(tf.cast(audio, tf.float32).numpy() * (4 / 255) + (4 / 512 - 2), dequantize(ours["audio"]))


def test_the_command_line_fetches_the_files_and_names_videos_without_sound(tmp_path, videos, files, monkeypatch):
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("tone", "mute"):
        os.link(videos[name], folder / f"{name}.mp4")
    out = tmp_path / "mine.tfrecord"
    with MediaServer(files[CKPT].parent) as server:
        monkeypatch.setenv("REELSET_VGGISH_URL", server.url_for(CKPT))
        monkeypatch.setenv("REELSET_VGGISH_PCA_URL", server.url_for(PCA))
        result = CliRunner().invoke(cli, [
            "yt8m", "extract", "--input-videos-csv", str(folder), "--output-tfrecords-file", str(out),
            "--audio", "vggish", "--audio-model-dir", str(tmp_path / "models"), "--cache-dir", str(tmp_path / "c"),
            "--device", "cpu"])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[-3:] == ["Successfully encoded 2 out of 2 videos",
                              "no sound: 1 videos (their records have no audio)", f"  {folder / 'mute.mp4'}"]
        assert (tmp_path / "models" / CKPT).read_bytes() == files[CKPT].read_bytes()
        records = {record["id"]: record for record in read_records(out)}
        assert records[str(folder / "tone.mp4")]["audio"].shape == (3, 128)
        assert "audio" not in records[str(folder / "mute.mp4")]

        monkeypatch.setenv("REELSET_VGGISH_URL", server.url_for("nowhere.ckpt"))
        failed = CliRunner().invoke(cli, [
            "yt8m", "extract", "--input-videos-csv", str(folder), "--output-tfrecords-file", str(tmp_path / "x"),
            "--audio", "vggish", "--audio-model-dir", str(tmp_path / "empty"), "--device", "cpu"])
    assert failed.exit_code == 1
    assert failed.output == f"error: {server.url_for('nowhere.ckpt')}: HTTP 404\n"
    assert not (tmp_path / "x").exists() and not (tmp_path / "empty").exists()


@pytest.mark.parametrize(("flags", "audio"), [
    ([], "none"), (["--audio", "vggish"], "vggish"), (["--insert_zero_audio_features"], "zeros"),
    (["--insert-zero-audio-features", "--audio", "none"], "zeros"), (["--noinsert_zero_audio_features"], "none"),
    (["--audio", "vggish", "--audio-model-dir", "m", "--audio-expected-sha256", "x=y"], "vggish")])
def test_the_audio_flags_and_the_originals_old_one(tmp_path, monkeypatch, flags, audio):
    extraction = importlib.import_module("reelset.features.extraction")
    calls = []
    monkeypatch.setattr(extraction, "extract", lambda inputs, out, settings, **kwargs: calls.append(settings) or
                        ExtractSummary(total=1, encoded=1, outputs=[out]))
    (tmp_path / "a.mp4").write_bytes(b"x")
    result = CliRunner().invoke(cli, ["yt8m", "extract", "--input-videos-csv", str(tmp_path),
                                      "--output-tfrecords-file", str(tmp_path / "o.tfrecord"), *flags])
    assert result.exit_code == 0, result.output
    assert calls[0].audio == audio
    if "--audio-model-dir" in flags:
        assert (calls[0].audio_model_dir.name, calls[0].audio_expected_sha256) == ("m", "x=y")


def test_an_unknown_audio_choice_is_refused_before_anything_is_written(tmp_path, videos, backbone):
    with pytest.raises(ReelsetError, match="--audio 'loud': expected one of none, zeros, vggish"):
        extract([VideoInput(str(videos["tone"]))], tmp_path / "o.tfrecord",
                ExtractSettings(audio="loud", cache_dir=tmp_path / "cache"), backbone=backbone)
    assert os.listdir(tmp_path) == []
