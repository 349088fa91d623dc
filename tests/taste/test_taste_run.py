"""``reelset taste`` end to end on generated videos: real ffmpeg, the real EfficientNet-Lite0, real FiftyOne.

The library: two test-pattern videos (one with a ``creation_time`` tag), two videos of real photos shipped in
installed packages (matplotlib's Grace Hopper, scikit-image's espresso), a file truncated before its index (skipped)
and one damaged half-way (tagged from what decodes, with a warning).
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import sys
import types
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import click
import numpy as np
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from reelset.cli import ReelsetGroup
from reelset.cli.taste import command
from reelset.core.errors import ReelsetError
from reelset.core.progress import Reporter
from reelset.sandbox.media import make_video
from reelset.taste import predict
from reelset.taste.predict import Yt8mTagger
from reelset.taste.run import TasteSummary, run_taste, summary_lines
from reelset.taste.samples import make_photo_video, sample_photo, set_creation_time

DATASET = "taste-test"
TAKEN = datetime(2023, 5, 4, 15, 30, tzinfo=timezone.utc)
TOP_K = 3


@click.group(cls=ReelsetGroup)
def cli() -> None:
    """The command as the lead registers it (errors become one line)."""


cli.add_command(command)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    videos = tmp_path_factory.mktemp("taste-library")
    make_video(videos / "holiday" / "beach.mp4", seconds=3, width=96, height=64, audio=None)
    set_creation_time(videos / "holiday" / "beach.mp4", TAKEN)
    make_video(videos / "holiday" / "walk.mkv", seconds=2, width=96, height=64, audio=None, pattern="smptebars")
    make_photo_video(sample_photo("grace_hopper"), videos / "people" / "grace.mp4", seconds=2, size=(256, 300))
    make_photo_video(sample_photo("coffee"), videos / "food" / "coffee.mov", seconds=2, size=(300, 200))
    whole = make_video(videos / "whole.mp4", seconds=3, width=96, height=64, audio=None)
    (videos / "broken.mp4").write_bytes(whole.read_bytes()[:2000])  # cut before its index (moov at the end)
    whole = make_video(videos / "whole.mp4", seconds=6, width=160, height=96, audio=None, faststart=True)
    (videos / "damaged.mp4").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # index first: plays
    whole.unlink()
    return videos


class Run(NamedTuple):
    """One run_taste call: its summary and the warnings its reporter printed."""

    summary: TasteSummary
    warnings: str


def quiet_run(paths, out, **kwargs) -> Run:
    """run_taste with a reporter whose warnings can be read back."""
    reporter = Reporter(interactive=False, out=io.StringIO(), err=io.StringIO())
    summary = run_taste(paths, out, reporter=reporter, **kwargs)
    return Run(summary, reporter.err.getvalue())


@pytest.fixture(scope="module")
def first_run(library, tmp_path_factory):
    """The first run, through the API, with a fresh cache and a FiftyOne dataset."""
    work = tmp_path_factory.mktemp("taste-run")
    out, cache = work / "report", work / "cache"
    return out, cache, quiet_run([library], out, cache_dir=cache, dataset=DATASET, top_k=TOP_K)


def test_first_run_tags_skips_and_says_so(first_run, library):
    out, _, run = first_run
    assert run.summary.tagged  # the command exits 0 when a video was tagged
    lines = summary_lines(run.summary)
    assert lines[-1] == f"taste: 5 videos (0.0 hours) tagged, 1 skipped; report: {out / 'report.html'}"
    assert "from cache: 0 of 6 videos" in lines
    assert f"skipped {library / 'broken.mp4'}: unreadable media (moov atom not found)" in lines
    assert f"warning: skipped {library / 'broken.mp4'}" in run.warnings
    assert f"warning: {library / 'damaged.mp4'}: damaged or truncated video" in run.warnings
    assert any(line.startswith(f"fiftyone: dataset '{DATASET}' has 5 videos") for line in lines)


def test_real_photos_get_their_labels_and_exports_agree(first_run, library):
    out, _, _ = first_run
    records = json.loads((out / "predictions.json").read_text())
    by_name = {Path(record["path"]).name: record for record in records}
    assert list(by_name) == ["damaged.mp4", "coffee.mov", "beach.mp4", "walk.mkv", "grace.mp4"]  # scan order
    assert by_name["grace.mp4"]["labels"][0]["name"] == "military uniform"
    assert by_name["grace.mp4"]["labels"][0]["vertical"] == "Other"  # a class that maps to no YouTube-8M entity
    # espresso (the photo's ImageNet class) is YouTube-8M's "Food", in "Food & Drink".
    assert by_name["coffee.mov"]["labels"][0]["name"] == "Food"
    assert by_name["coffee.mov"]["vertical"] == by_name["coffee.mov"]["labels"][0]["vertical"] == "Food & Drink"
    tagger, _ = predict.load_tagger()
    vertical = dict(zip(tagger.names, tagger.groups))
    for record in records:
        assert set(record) == {"path", "vertical", "labels", "taken", "taken_from", "place", "lat", "lon",
                               "duration", "shots", "duplicate_of"}
        labels = record["labels"]
        assert len(labels) == TOP_K and all(set(label) == {"name", "score", "vertical", "unsure"} for label in labels)
        assert [label["score"] for label in labels] == sorted((label["score"] for label in labels), reverse=True)
        assert all(0 <= label["score"] <= 1 and label["vertical"] == vertical[label["name"]] for label in labels)
        assert all(label["unsure"] == (label["score"] < predict.IMAGENET_UNSURE_BELOW) or not label["unsure"]
                   for label in labels)
        assert record["shots"] == 1 and record["place"] is None and record["duplicate_of"] is None
    assert all(label["unsure"] for label in by_name["walk.mkv"]["labels"])  # colour bars are nothing it knows
    with open(out / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["path"], row["vertical"], int(row["rank"]), row["name"], float(row["score"]), row["label_vertical"],
             row["unsure"] == "1", row["taken"], row["taken_from"]) for row in rows] == [
        (record["path"], record["vertical"], rank, label["name"], label["score"], label["vertical"], label["unsure"],
         record["taken"], record["taken_from"])
        for record in records for rank, label in enumerate(record["labels"], 1)]


def test_the_report_counts_and_shows_every_video(first_run, library):
    out, _, _ = first_run
    soup = BeautifulSoup((out / "report.html").read_text(), "html.parser")
    totals = {tag["data-total"]: tag.get_text() for tag in soup.select("[data-total]")}
    assert totals["videos"] == "5" and totals["skipped"] == "1" and totals["from-cache"] == "0"
    assert float(totals["hours"]) == pytest.approx(15 / 3600, abs=0.006)
    for section in ("verticals", "labels", "timeline", "videos", "skipped"):
        assert soup.find("section", id=section) is not None
    cards = {Path(card["data-path"]).name: card for card in soup.select("#videos article.video")}
    assert set(cards) == {"damaged.mp4", "coffee.mov", "beach.mp4", "walk.mkv", "grace.mp4"}
    assert cards["beach.mp4"].find("time")["data-source"] == "metadata"
    assert datetime.fromisoformat(cards["beach.mp4"].find("time")["datetime"]) == TAKEN
    assert cards["grace.mp4"].find("time")["data-source"] == "file"
    assert cards["grace.mp4"].select_one("ol.labels li")["data-name"] == "military uniform"
    assert all(card.find("img")["src"].startswith("thumbnails/") and card.find("img")["loading"] == "lazy"
               for card in cards.values())
    assert [row["data-path"] for row in soup.select("#skipped tr[data-path]")] == [str(library / "broken.mp4")]
    assert "3 frames decoded, up to 2.0 s of 6.0 s" in soup.find("section", id="skipped").get_text()
    assert "damaged or truncated" in cards["damaged.mp4"].get_text()
    shown = {out / card.find("img")["src"] for card in cards.values()}
    assert len(shown) == 5 and all(path.stat().st_size > 500 for path in shown)
    moments = {out / img["src"] for img in soup.select("#moments img")}
    assert set((out / "thumbnails").glob("*.jpg")) == shown | moments  # nothing else kept


def test_the_fiftyone_dataset_has_video_and_per_second_labels(first_run, library):
    import fiftyone as fo

    dataset = fo.load_dataset(DATASET)
    assert len(dataset) == 5 and dataset.media_type == "video" and dataset.persistent
    beach = dataset.one({"filepath": str((library / "holiday" / "beach.mp4").resolve())})
    assert [label.label for label in beach["video_tags"].classifications][:1] and len(
        beach["video_tags"].classifications) == TOP_K
    assert beach["video_tags"].classifications[0]["category"] and beach["vertical"] is not None
    assert beach["taken_from"] == "metadata" and beach.metadata.frame_rate == 10
    # 3 s at 10 fps sampled at t = 0, 1, 2 s: the frames shown then are 1, 11 and 21.
    assert sorted(beach.frames.keys()) == [1, 11, 21]
    assert len(beach.frames[11]["tags"].classifications) == TOP_K
    grace = dataset.one({"filepath": str((library / "people" / "grace.mp4").resolve())})
    assert grace["video_tags"].classifications[0].label == "military uniform"
    assert sorted(grace.frames.keys()) == [1, 3]  # 2 fps video
    assert dataset.count("frames") == 3 + 2 + 2 + 2 + 3


def test_rerun_reads_the_cache_and_updates_the_dataset_in_place(first_run, library, monkeypatch):
    import fiftyone as fo

    out, cache, _ = first_run
    ids_before = dict(zip(*fo.load_dataset(DATASET).values(["filepath", "id"])))
    before = (out / "predictions.json").read_text()

    module = importlib.import_module("reelset.features.video")
    decoded, decode_frames = [], module.decode_frames

    def counted(path, **kwargs):
        decoded.append(Path(path).name)
        return decode_frames(path, **kwargs)

    monkeypatch.setattr(module, "decode_frames", counted)
    summary = run_taste([library], out, cache_dir=cache, dataset=DATASET, top_k=TOP_K)
    assert summary.from_cache == 5 and summary.tagged == 5 and len(summary.skipped) == 1
    assert decoded == ["broken.mp4"]  # a broken file is tried again (it may have been fixed), no other
    assert (out / "predictions.json").read_text() == before
    assert dict(zip(*fo.load_dataset(DATASET).values(["filepath", "id"]))) == ids_before
    assert fo.load_dataset(DATASET).count("frames") == 12 and fo.load_dataset(DATASET).count(
        "frames.tags.classifications") == 12 * TOP_K
    assert summary.dataset.updated == 5 and summary.dataset.added == 0


def test_limit_takes_the_first_videos_found(first_run, library, tmp_path):
    import fiftyone as fo

    _, cache, _ = first_run
    summary = run_taste([library], tmp_path, cache_dir=cache, dataset=DATASET, limit=2)
    assert summary.tagged  # the command exits 0 when a video was tagged
    lines = summary_lines(summary)
    assert lines[-1].startswith("taste: 1 videos (0.0 hours) tagged, 1 skipped")
    assert "from cache: 1 of 2 videos" in lines
    records = json.loads((tmp_path / "predictions.json").read_text())
    assert [Path(record["path"]).name for record in records] == ["damaged.mp4"]
    assert len(fo.load_dataset(DATASET)) == 1  # the dataset mirrors the last run


def test_cli_flags_environment_lines_and_exit_code(first_run, library, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["taste", str(library), "--out", str(out), "--limit", "2", "--top-k", "1",
                                      "--no-dataset"], env={"REELSET_CACHE_DIR": str(first_run[1])})
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"wrote {out / 'predictions.json'}", f"wrote {out / 'predictions.csv'}", f"thumbnails in {out / 'thumbnails'}",
        "from cache: 1 of 2 videos",  # --limit 2, from the cache of REELSET_CACHE_DIR
        f"skipped {library / 'broken.mp4'}: unreadable media (moov atom not found)",
        f"taste: 1 videos (0.0 hours) tagged, 1 skipped; report: {out / 'report.html'}"]
    assert f"warning: {library / 'damaged.mp4'}: damaged or truncated video" in result.stderr
    [record] = json.loads((out / "predictions.json").read_text())
    assert len(record["labels"]) == 1  # --top-k 1


def test_nothing_tagged_is_an_error_and_writes_nothing(library, tmp_path, first_run):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["taste", str(library / "broken.mp4"), "--out", str(out),
                                      "--cache-dir", str(first_run[1]), "--no-dataset"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.splitlines()[-1] == (f"error: no video could be tagged: 1 skipped (first: "
                                              f"{library / 'broken.mp4'}: unreadable media (moov atom not found)); "
                                              "nothing written")
    assert not out.exists()


def test_missing_wordnet_is_a_one_line_error(library, tmp_path):
    result = CliRunner().invoke(cli, ["taste", str(library), "--out", str(tmp_path / "out"),
                                      "--wordnet-dir", str(tmp_path), "--no-dataset"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: WordNet 3.0 not found") and "apt-get install wordnet-base" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


class StandInModel:
    """A tiny stand-in for ``reelset.yt8m.model.TrainedModel`` (the real module is written in parallel): fixed
    random logistic layers over the efficientnet-lite0 features, three entities in two verticals."""

    def __init__(self, *, level: str = "frame", features=("rgb",), backbone: str = "efficientnet-lite0"):
        self.backbone, self.level, self.features = backbone, level, tuple(features)
        self.class_ids = [3, 7, 11]
        self.class_names = ["Cat", "Coffee", "Uniform"]
        self.class_groups = ["Pets & Animals", "Food & Drink", ""]
        self.max_frames = 300
        self._weights = np.random.default_rng(0).normal(size=(1280, 3)).astype(np.float32) / 30

    def _sigmoid(self, rgb: np.ndarray) -> np.ndarray:
        return (1 / (1 + np.exp(-(rgb @ self._weights)))).astype(np.float32)

    def predict(self, features):
        return self._sigmoid(features["rgb"].mean(axis=0))

    def predict_frames(self, features):
        return self._sigmoid(features["rgb"]) if self.level == "frame" else None


def test_a_youtube8m_model_tags_with_entities_and_verticals(first_run, library, tmp_path):
    _, cache, _ = first_run
    summary = run_taste([library / "holiday", library / "food"], tmp_path, model=StandInModel(), cache_dir=cache,
                        dataset=None, top_k=2)
    assert summary.tagged == 3 and summary.from_cache == 3
    records = json.loads((tmp_path / "predictions.json").read_text())
    groups = dict(zip(StandInModel().class_names, StandInModel().class_groups))
    for record in records:
        assert [label["vertical"] for label in record["labels"]] == [groups[label["name"]]
                                                                     for label in record["labels"]]
    assert all(video.frame_labels is not None and len(video.frame_labels) == len(video.timestamps)
               for video in summary.videos)
    soup = BeautifulSoup((tmp_path / "report.html").read_text(), "html.parser")
    assert soup.find("section", id="verticals") is not None
    no_verticals = StandInModel(level="video")
    no_verticals.class_groups = ["", "", ""]
    video_level = run_taste([library / "food"], tmp_path / "video-level", model=no_verticals, cache_dir=cache,
                            dataset=None)
    assert video_level.videos[0].frame_labels is None
    soup = BeautifulSoup((tmp_path / "video-level" / "report.html").read_text(), "html.parser")
    # A model without verticals: the shipped YouTube-8M vocabulary knows "Cat"'s; "Coffee" and "Uniform" are not
    # YouTube-8M names, so they have none.
    assert Yt8mTagger(no_verticals).groups == ["Pets & Animals", "", ""]
    assert soup.find("section", id="verticals") is not None and soup.find("section", id="labels") is not None


def test_the_model_option_loads_the_model_folder(first_run, library, tmp_path, monkeypatch):
    loaded = []
    stand_in = types.ModuleType("reelset.yt8m.model")
    stand_in.load_model = lambda path, device="auto": loaded.append(path) or StandInModel()
    monkeypatch.setitem(sys.modules, "reelset.yt8m.model", stand_in)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    result = CliRunner().invoke(cli, ["taste", str(library / "food"), "--model", str(model_dir), "--out",
                                      str(tmp_path / "out"), "--cache-dir", str(first_run[1]), "--no-dataset"])
    assert result.exit_code == 0, result.output
    assert loaded == [model_dir]
    assert json.loads((tmp_path / "out" / "predictions.json").read_text())[0]["labels"][0]["name"] in {
        "Cat", "Coffee", "Uniform"}


def test_models_that_cannot_tag_own_videos_are_refused(monkeypatch):
    assert Yt8mTagger(StandInModel(features=("rgb",)), "m").audio == "none"
    assert Yt8mTagger(StandInModel(features=("rgb", "audio")), "m").audio == "vggish"  # extraction runs VGGish
    with pytest.raises(ReelsetError, match=r"^m: the model reads audio features; taste gives it rgb, or rgb\+audio$"):
        Yt8mTagger(StandInModel(features=("audio",)), "m")
    narrow = StandInModel(features=("rgb", "audio"))
    narrow.widths = {"rgb": 1280, "audio": 64}
    with pytest.raises(ReelsetError, match=r"^m: the model reads audio features of width 64; YouTube-8M's "
                                           r"\(VGGish\) have 128$"):
        Yt8mTagger(narrow, "m")

    def no_tensorflow(name, **kwargs):
        raise ReelsetError("inception-yt8m needs TensorFlow: pip install 'reelset[tensorflow]'")

    monkeypatch.setattr(predict, "load_backbone", no_tensorflow)
    with pytest.raises(ReelsetError) as raised:
        predict.load_tagger(StandInModel(backbone="inception-yt8m"))
    assert "trained on inception-yt8m features, and that backbone cannot be loaded here" in str(raised.value)
    assert "TensorFlow" in str(raised.value)


def test_a_model_trained_by_reelset_tags_own_videos(first_run, library, tmp_path):
    """End to end with the real ``reelset.yt8m.model`` (skipped where training is not there): records extracted
    from the library, a small frame-level model trained on them, then ``run_taste(model=...)``."""
    pytest.importorskip("reelset.yt8m.model")
    from reelset.features.extraction import ExtractSettings, extract, read_inputs
    from reelset.yt8m.training import TrainSettings, train

    cache = first_run[1]
    labelled = {"food/coffee.mov": 1, "people/grace.mp4": 2, "holiday/beach.mp4": 0, "holiday/walk.mkv": 0}
    (tmp_path / "videos.csv").write_text("".join(f"{library / name},{label}\n" for name, label in labelled.items()))
    inputs, bad_lines = read_inputs(tmp_path / "videos.csv")
    extracted = extract(inputs, tmp_path / "mine.tfrecord", ExtractSettings(cache_dir=cache), invalid=bad_lines)
    assert not extracted.failures, extracted.failures
    train([tmp_path / "mine.tfrecord"], tmp_path / "model",
          TrainSettings(level="frame", model="meanpool", features=("rgb",), classes="0,1,2", validation_fraction=0,
                        epochs=20))
    run = quiet_run([library], tmp_path / "out", model=tmp_path / "model", cache_dir=cache, dataset=None, top_k=3)
    assert run.summary.tagged  # the command exits 0 when a video was tagged
    assert "from cache: 5 of 6 videos" in summary_lines(run.summary)  # the model reads efficientnet-lite0 features
    records = {Path(record["path"]).name: record for record in
               json.loads((tmp_path / "out" / "predictions.json").read_text())}
    assert {label["name"] for record in records.values() for label in record["labels"]} == {"0", "1", "2"}
    assert records["coffee.mov"]["labels"][0]["name"] == "1"
    assert records["grace.mp4"]["labels"][0]["name"] == "2"


# --- models that read rgb+audio, and a video's vertical ---------------------------------------------------------------


class StandInAudioModel(StandInModel):
    """A video-level stand-in reading rgb and audio, both weighing on its scores; it keeps what it was fed."""

    def __init__(self):
        super().__init__(level="video", features=("rgb", "audio"))
        self.widths = {"rgb": 1280, "audio": 128}
        self._audio_weights = np.random.default_rng(1).normal(size=(128, 3)).astype(np.float32) / 5
        self.fed: list[dict] = []

    def predict(self, features):
        self.fed.append(features)
        logits = features["rgb"].mean(axis=0) @ self._weights + features["audio"].mean(axis=0) @ self._audio_weights
        return (1 / (1 + np.exp(-logits))).astype(np.float32)


@pytest.fixture(scope="module")
def sound_library(tmp_path_factory) -> Path:
    """A video with a tone and one without an audio stream."""
    videos = tmp_path_factory.mktemp("sound-library")
    make_video(videos / "tone.mp4", seconds=2, width=96, height=64)
    make_video(videos / "mute.mp4", seconds=2, width=96, height=64, audio=None)
    return videos


@pytest.fixture()
def served_vggish(tmp_path, monkeypatch):
    """The narrow VGGish files of reelset.sandbox.vggish_files, served on 127.0.0.1 where the environment says."""
    from reelset.sandbox.servers import MediaServer
    from reelset.sandbox.vggish_files import write_vggish_files

    files = write_vggish_files(tmp_path / "served")
    with MediaServer(tmp_path / "served") as server:
        for variable, name in (("REELSET_VGGISH_URL", "vggish_model.ckpt"),
                               ("REELSET_VGGISH_PCA_URL", "vggish_pca_params.npz")):
            monkeypatch.setenv(variable, server.url_for(name))
        yield types.SimpleNamespace(files=files, server=server)


def test_a_model_that_reads_audio_is_fed_vggish_and_skips_videos_without_sound(sound_library, served_vggish,
                                                                                  tmp_path, monkeypatch):
    from reelset.features.audio import load_vggish, vggish_features

    model = StandInAudioModel()
    stand_in = types.ModuleType("reelset.yt8m.model")
    stand_in.load_model = lambda path, device="auto": model
    monkeypatch.setitem(sys.modules, "reelset.yt8m.model", stand_in)
    (tmp_path / "model").mkdir()
    out, audio_dir = tmp_path / "out", tmp_path / "vggish"
    result = CliRunner().invoke(cli, ["taste", str(sound_library), "--model", str(tmp_path / "model"), "--out",
                                      str(out), "--audio-model-dir", str(audio_dir), "--cache-dir",
                                      str(tmp_path / "cache"), "--device", "cpu", "--no-dataset"])
    assert result.exit_code == 0, result.output
    mute, tone = sound_library / "mute.mp4", sound_library / "tone.mp4"
    lines = result.stdout.splitlines()
    assert f"skipped {mute}: {predict.NO_SOUND}" in lines
    assert lines[-1] == f"taste: 1 videos (0.0 hours) tagged, 1 skipped; report: {out / 'report.html'}"
    assert f"warning: skipped {mute}: no audio stream: the model reads rgb+audio features" in result.stderr
    # The files were fetched from the environment's URLs into --audio-model-dir, then used.
    assert (audio_dir / "vggish_model.ckpt").read_bytes() == served_vggish.files["vggish_model.ckpt"].read_bytes()
    assert [Path(record["path"]).name for record in json.loads((out / "predictions.json").read_text())] == [
        "tone.mp4"]
    # The model got the tone's VGGish features, one vector per rgb frame, as the floats (not the bytes).
    (fed,) = model.fed
    expected = vggish_features(tone, [0.0, 1.0], load_vggish(audio_dir, device="cpu"))
    assert fed["rgb"].shape == (2, 1280)
    np.testing.assert_allclose(fed["audio"], expected.features, rtol=1e-5, atol=1e-6)
    soup = BeautifulSoup((out / "report.html").read_text(), "html.parser")
    assert [row["data-path"] for row in soup.select("#skipped tr[data-path]")] == [str(mute)]
    assert "cannot tag a video from its pictures alone" in soup.find("section", id="skipped").get_text()
    assert "and VGGish audio" in soup.get_text()  # the report says what the model reads

    model.fed.clear()  # a rerun takes the audio from the feature cache, and fetches nothing
    served_vggish.server.clear_requests()
    again = run_taste([sound_library], tmp_path / "again", model=model, cache_dir=tmp_path / "cache", device="cpu",
                      audio_model_dir=audio_dir, dataset=None)
    assert (again.tagged, again.from_cache, [item.reason for item in again.skipped]) == (1, 1, [predict.NO_SOUND])
    np.testing.assert_array_equal(model.fed[0]["audio"], fed["audio"])
    assert served_vggish.server.requests == []


def test_only_a_model_that_reads_audio_takes_the_audio_options(sound_library, tmp_path):
    for args, message in ((["--audio-model-dir", str(tmp_path)], "error: --audio-model-dir goes with --yt8m --audio "
                                                                 "vggish, or a --model that reads audio"),
                          (["--audio", "vggish"], "error: --audio goes with --yt8m"),
                          (["--yt8m", "--audio-model-dir", str(tmp_path)], "error: --audio-model-dir goes with"),
                          (["--yt8m", "--audio", "zeros"], "error: Invalid value for '--audio': 'zeros' is not one "
                                                           "of 'none', 'vggish'")):
        result = CliRunner().invoke(cli, ["taste", str(sound_library), "--out", str(tmp_path / "out"),
                                          "--no-dataset", *args])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert sorted(tmp_path.iterdir()) == []


class SureModel:
    """A stand-in video-level model over YouTube-8M's 3,862 classes, without verticals of its own (the shipped
    vocabulary names them): sure of one class (0.999), and 0.01 for each of the others."""

    backbone, level, features, max_frames = "efficientnet-lite0", "video", ("rgb",), 300

    def __init__(self, sure: str):
        from reelset.taste.verticals import load_entities

        self.class_names = [entity.name for entity in load_entities()]
        self.class_ids = list(range(len(self.class_names)))
        self.class_groups = [""] * len(self.class_names)
        self._scores = np.full(len(self.class_names), 0.01, np.float32)
        self._scores[self.class_names.index(sure)] = 0.999

    def predict(self, features):
        return self._scores


def test_a_videos_vertical_is_that_of_its_top_labels_not_of_all_scores(sound_library, tmp_path):
    """"Tomato" at 0.999 is Food & Drink; the 0.01 of Games' 734 entities add up to 7.3, and must not count."""
    tagger = Yt8mTagger(SureModel("Tomato"))
    scores = SureModel("Tomato").predict({})
    assert predict.group_scores(scores, tagger.groups)["Games"] > 7  # what the vertical was taken from before
    labels = predict.top_labels(scores, tagger.names, tagger.groups, 5, tagger.unsure)
    assert (labels[0].name, labels[0].category) == ("Tomato", "Food & Drink")
    assert predict.video_vertical(labels) == "Food & Drink"
    assert predict.video_vertical([]) == ""
    label = predict.Label
    # The verticals' sums over the labels shown; equal sums: the better label's vertical.
    assert predict.video_vertical([label("a", 0.4, "Pets & Animals"), label("b", 0.3, "Sports"),
                                   label("c", 0.3, "Sports")]) == "Sports"
    assert predict.video_vertical([label("a", 0.5, ""), label("b", 0.3, "Sports"), label("c", 0.3, "Games")]) == \
        "Sports"

    summary = run_taste([sound_library / "tone.mp4"], tmp_path / "out", model=SureModel("Tomato"), device="cpu",
                        cache_dir=tmp_path / "cache", dataset=None, top_k=3)
    (record,) = json.loads(summary.predictions_json.read_text())
    assert record["labels"][0]["name"] == "Tomato" and record["vertical"] == "Food & Drink"


@pytest.mark.parametrize("flags, kept", [
    ([], "the features cached in {cache}/features/ and the thumbnails in {out}/thumbnails/"),
    (["--yt8m"], "the Inception + PCA files, the YouTube-8M files downloaded so far in {data}/ (a partial one "
                 "continues where it stopped), the last training checkpoint in {models}/, the features cached in "
                 "{cache}/features/ and the thumbnails in {out}/thumbnails/"),
    (["--yt8m", "--audio", "vggish", "--no-cache"], "the Inception + PCA and VGGish files, the YouTube-8M files "
                                                    "downloaded so far in {data}/ (a partial one continues where it "
                                                    "stopped), the last training checkpoint in {models}/, the "
                                                    "thumbnails in {out}/thumbnails/"),
])
def test_ctrl_c_says_what_is_kept_where_the_loop_keeps_it(sound_library, tmp_path, monkeypatch, flags, kept):
    from reelset.taste import run as run_module
    from reelset.taste import yt8m_loop

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(yt8m_loop, "run_taste_yt8m", interrupted)
    monkeypatch.setattr(run_module, "run_taste", interrupted)
    cache, out = tmp_path / "cache", tmp_path / "out"
    result = CliRunner().invoke(cli, ["taste", str(sound_library), "--cache-dir", str(cache), "--out", str(out),
                                      "--no-dataset", *flags])
    assert result.exit_code == 130, result.output
    # The folders yt8m_loop writes: its constants, not a copy of them.
    yt8m = cache / yt8m_loop.YT8M_SUBDIR
    where = dict(cache=cache, out=out, data=yt8m / yt8m_loop.PARTITION.replace("/", "_"),
                 models=yt8m / yt8m_loop.MODELS_SUBDIR)
    assert result.stderr.splitlines()[-1] == (f"interrupted: {kept.format(**where)} are kept, no new report is "
                                              "written; rerun the same command to resume")
