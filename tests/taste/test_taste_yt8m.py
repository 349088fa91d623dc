"""``reelset taste --yt8m`` end to end, offline: the original project's loop against a local YouTube-8M mirror and
the tiny Inception-format archives (tests/support/inception.py), all served from 127.0.0.1.

The mirror holds three video-level files of shard 1,100 of ``2/video/train`` in the real format, with ``mean_audio``
like YouTube-8M's own. Their ``mean_rgb`` are the tiny backbone's features of reddish frames labelled "Tomato" and
bluish frames labelled "Swimming pool", so a model trained on them tells the person's red and blue videos apart in
YouTube-8M's entities and verticals. With ``--audio vggish`` the narrow VGGish files of
:mod:`reelset.sandbox.vggish_files` are served too. The training is a logistic regression (:data:`FAST`: ``--model
auto`` cross-validates more candidates); which defaults a run uses is checked on its own.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.core.ffmpeg import executable
from reelset.core.progress import Reporter
from reelset.features.backbones import load_backbone
from reelset.features.backbones.inception import EXTRA_HINT
from reelset.features.constants import INCEPTION_YT8M
from reelset.features.video import ExtractSettings
from reelset.sandbox.servers import Fault, MediaServer
from reelset.sandbox.vggish_files import write_vggish_files
from reelset.sandbox.yt8m_mirror import remote_names, write_partition
from reelset.taste import yt8m_loop
from reelset.taste.predict import NO_SOUND
from reelset.taste.run import summary_lines
from reelset.taste.verticals import VERTICALS
from reelset.taste.yt8m_loop import PARTITION, Yt8mSource, prepare_yt8m_model, run_taste_yt8m, training_settings
from reelset.yt8m.download import Shard, local_name
from reelset.yt8m.records import write_records
from reelset.yt8m.training import TrainSettings
from tests.support.inception import write_tiny_inception_archives
from tests.support.network import unreachable_hosts

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow", reason="the inception-yt8m backbone runs on the optional tensorflow extra")
pytestmark = pytest.mark.slow

TOMATO, POOL = 624, 311  # YouTube-8M label ids: "Tomato" (Food & Drink), "Swimming pool" (Home & Garden)
FAST = TrainSettings(model="logistic", options={"l2": 1e-4}, epochs=3, validation_fraction=0, batch_size=4,
                     learning_rate=0.01)  # epochs etc.: for the moe of the resume test  # one L2: the grid is --model auto's job, tested with training
SHARD_FILES = [name for name in remote_names("train") if name in Shard(1, 100)][:3]
RECORDS_PER_FILE = 16


def colour_video(path: Path, colour: str, seconds: int = 2, tone: int | None = None) -> Path:
    """A noisy frame of one colour (what the labels of the mirror's records follow), with a sine of ``tone`` Hz or
    without an audio stream."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sound = [] if tone is None else ["-f", "lavfi", "-i", f"sine=frequency={tone}:duration={seconds}", "-c:a", "aac"]
    subprocess.run([executable("ffmpeg"), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c={colour}:size=64x48:rate=5:duration={seconds},noise=alls=12:allf=t", *sound,
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True, capture_output=True)
    return path


def shard_records(backbone, file_index: int) -> list[dict]:
    """Video-level records whose ``mean_rgb`` is the backbone's mean over three frames of a shade of red (label
    Tomato) or of blue (Swimming pool), with random ``mean_audio`` as YouTube-8M's records have."""
    rng = np.random.default_rng(file_index)
    records = []
    for index in range(RECORDS_PER_FILE):
        red = index % 2 == 0
        strong, weak = rng.integers(170, 256), rng.integers(0, 90, size=2)
        colour = np.array([strong, *weak] if red else [*weak, strong], np.float64)
        frames = np.clip(colour + rng.normal(0, 12, (3, 48, 64, 3)), 0, 255).astype(np.uint8)
        records.append({"id": f"f{file_index}v{index:02d}", "labels": np.array([TOMATO if red else POOL]),
                        "mean_rgb": backbone.embed(frames).mean(axis=0).astype(np.float32),
                        "mean_audio": rng.normal(0, 0.5, 128).astype(np.float32)})
    return records


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The server (archives, a mirror, an empty-records mirror), the person's videos, shared backbone files."""
    root = tmp_path_factory.mktemp("served")
    archives = write_tiny_inception_archives(root / "archives")
    with MediaServer(root) as server:
        urls = {name: f"{server.url}/archives/{name}" for name in archives}
        backbone = load_backbone(INCEPTION_YT8M, model_dir=tmp_path_factory.mktemp("fixture-backbone"), urls=urls,
                                 device="cpu")
        contents = {}
        for index, name in enumerate(SHARD_FILES):
            path = tmp_path_factory.mktemp("records") / name
            write_records(path, shard_records(backbone, index))
            contents[name] = path.read_bytes()
        write_partition(root / "mirror", PARTITION, contents, full_plan=False)
        write_partition(root / "empty", PARTITION, {SHARD_FILES[0]: b""}, full_plan=False)
        videos = tmp_path_factory.mktemp("videos")
        colour_video(videos / "red.mp4", "0xd83020")
        colour_video(videos / "blue.mp4", "0x2040d8")
        sound_videos = tmp_path_factory.mktemp("sound-videos")
        colour_video(sound_videos / "red.mp4", "0xd83020", tone=440)
        colour_video(sound_videos / "blue.mp4", "0x2040d8", tone=1200)
        colour_video(sound_videos / "mute.mp4", "0x2040d8")
        vggish_urls = {name: f"{server.url}/vggish/{name}" for name in write_vggish_files(root / "vggish")}
        yield types.SimpleNamespace(server=server, root=root, urls=urls, mirror=f"{server.url}/mirror",
                                    empty=f"{server.url}/empty", videos=videos, sound_videos=sound_videos,
                                    vggish_urls=vggish_urls, backbone_dir=tmp_path_factory.mktemp("yt8m"))


def source(world, **changes) -> Yt8mSource:
    return replace(Yt8mSource(plan_base_url=world.mirror, data_base_url=world.mirror, backbone_urls=world.urls,
                              retries=1, timeout=5), **changes)


def settings(cache: Path, backbone_dir: Path) -> ExtractSettings:
    return ExtractSettings(backbone=INCEPTION_YT8M, cache_dir=cache, model_dir=backbone_dir, device="cpu")


def quiet() -> Reporter:
    return Reporter(interactive=False, out=io.StringIO(), err=io.StringIO())


def lines_of(reporter: Reporter) -> list[str]:
    return reporter.out.getvalue().splitlines()


def one(lines: list[str], start: str) -> str:
    found = [line for line in lines if line.startswith(start)]
    assert len(found) == 1, (start, lines)
    return found[0]


@pytest.fixture(scope="module")
def first_run(world, tmp_path_factory):
    """The whole loop once, from nothing: backbone files, download, training, the report."""
    cache, out = tmp_path_factory.mktemp("cache"), tmp_path_factory.mktemp("first") / "report"
    reporter = quiet()
    summary = run_taste_yt8m([world.videos], out, settings(cache, world.backbone_dir), source(world),
                             train_settings=FAST, reporter=reporter, dataset=None, top_k=3)
    return types.SimpleNamespace(cache=cache, out=out, summary=summary, lines=lines_of(reporter))


# --- the loop --------------------------------------------------------------------------------------------------------


def test_the_loop_trains_on_the_shard_and_reports_in_youtube8m_terms(world, first_run):
    lines = first_run.lines
    assert one(lines, "yt8m backbone: ").startswith(
        f"yt8m backbone: fetched inception-2015-12-05.tgz, yt8m_pca.tgz into {world.backbone_dir}")
    data = first_run.cache / "yt8m" / "2_video_train"
    assert sorted(path.name for path in data.glob("*.tfrecord")) == sorted(map(local_name, SHARD_FILES))
    megabytes = f"{sum(path.stat().st_size for path in data.glob('*.tfrecord')) / 1e6:.1f} MB"
    downloaded = one(lines, "yt8m data: downloaded")
    assert downloaded == (f"yt8m data: downloaded 3 file(s) ({megabytes}), 3 files ({megabytes}) of shard 1,100 of "
                          f"2/video/train in {data}")
    assert len([line for line in lines if line.startswith("yt8m data: Succesfully downloaded train")]) == 3
    trained = one(lines, "yt8m model: trained")
    # One L2 given in full: fitted without a choice, so no validation GAP to report.
    assert trained.startswith(f"yt8m model: trained logistic on {3 * RECORDS_PER_FILE} videos (rgb) in ")
    assert not [line for line in lines if line.startswith("yt8m audio: ")]  # no VGGish without --audio vggish
    model_dir = Path(trained.rsplit(" in ", 1)[1])
    assert model_dir.parent == first_run.cache / "yt8m" / "models"
    config = json.loads((model_dir / "model.json").read_text())
    # Every record has mean_audio, yet the model reads rgb alone: without --audio vggish the videos have no audio.
    assert (config["backbone"], config["features"], len(config["classes"]["ids"])) == ("inception-yt8m", ["rgb"], 3862)
    # A line per step, in order (the report's lines are the caller's: summary_lines).
    steps = [lines.index(line) for line in (one(lines, "yt8m backbone: "), downloaded, trained)]
    assert steps == sorted(steps) and steps[-1] == len(lines) - 1

    summary = first_run.summary
    assert summary.tagged == 2 and not summary.skipped
    assert summary.tagger.startswith(f"YouTube-8M video-level model {model_dir} (3862 entities, inception-yt8m")
    predictions = {Path(item["path"]).name: item for item in json.loads(summary.predictions_json.read_text())}
    red, blue = predictions["red.mp4"], predictions["blue.mp4"]
    assert (red["labels"][0]["name"], red["labels"][0]["vertical"]) == ("Tomato", "Food & Drink")
    assert (blue["labels"][0]["name"], blue["labels"][0]["vertical"]) == ("Swimming pool", "Home & Garden")
    assert red["labels"][0]["score"] > 0.8 and red["labels"][1]["score"] < 0.2
    assert {red["vertical"], blue["vertical"]} <= set(VERTICALS)
    report = summary.report.read_text()
    assert "Tomato" in report and "Swimming pool" in report and "Food &amp; Drink" in report


def test_a_second_run_downloads_and_trains_nothing(world, first_run, tmp_path, monkeypatch):
    """Through the command line, as people run it: every step says cached and no request reaches the server."""
    monkeypatch.setattr(yt8m_loop, "default_train_settings", lambda: FAST)
    world.server.clear_requests()
    out = tmp_path / "again"
    result = CliRunner().invoke(cli, [
        "taste", str(world.videos), "--yt8m", "--out", str(out), "--no-dataset", "--top-k", "2",
        "--cache-dir", str(first_run.cache), "--backbone-dir", str(world.backbone_dir), "--device", "cpu",
        "--plan-base-url", world.mirror, "--data-base-url", world.mirror,
        "--inception-url", world.urls["inception-2015-12-05.tgz"], "--pca-url", world.urls["yt8m_pca.tgz"]],
        prog_name="reelset")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert one(lines, "yt8m backbone: ") == (
        f"yt8m backbone: cached: the Inception + PCA files in {world.backbone_dir} (sha256 verified)")
    assert one(lines, "yt8m data: ").startswith("yt8m data: cached: 3 files (")
    assert one(lines, "yt8m model: ").startswith(f"yt8m model: cached: {first_run.cache / 'yt8m' / 'models'}")
    assert one(lines, "yt8m model: ").endswith(f"(logistic, rgb, {3 * RECORDS_PER_FILE} videos)")
    assert not [line for line in lines if "epoch" in line]
    assert world.server.requests == []
    assert lines[-1] == f"taste: 2 videos (0.0 hours) tagged, 0 skipped; report: {out / 'report.html'}"
    predictions = json.loads((out / "predictions.json").read_text())
    assert {Path(item["path"]).name: item["labels"][0]["name"] for item in predictions} == {
        "red.mp4": "Tomato", "blue.mp4": "Swimming pool"}


class CtrlCAfterFirstEpoch(Reporter):
    """A Ctrl-C that arrives as the first epoch is reported (its checkpoint is written by then)."""

    def line(self, text: str) -> None:
        super().line(text)
        if " epoch 1/" in text:
            raise KeyboardInterrupt


def test_an_interrupted_training_resumes_from_its_checkpoint(world, first_run):
    extract = settings(first_run.cache, world.backbone_dir)
    # A model trained by epochs (the logistic regression is fitted in one go), in another model dir than the first
    # run's: trained from nothing here. Two outputs keep its checkpoints small.
    other = replace(FAST, model="moe", options={}, seed=7, classes=f"{TOMATO},{POOL}")
    interrupted = CtrlCAfterFirstEpoch(interactive=False, out=io.StringIO(), err=io.StringIO())
    with pytest.raises(KeyboardInterrupt):
        prepare_yt8m_model(extract, source(world), train_settings=other, reporter=interrupted)
    models = first_run.cache / "yt8m" / "models"
    (model_dir,) = [folder for folder in models.iterdir() if (folder / "checkpoint.pt").exists()]
    assert not (model_dir / "model.json").exists()

    reporter = quiet()
    prepared = prepare_yt8m_model(extract, source(world), train_settings=other, reporter=reporter)
    assert prepared.model_dir == model_dir
    lines = lines_of(reporter)
    assert one(lines, "yt8m model: trained").endswith(f"(rgb, resumed after refit moe epoch 1) in {model_dir}")
    epochs = [line.split(":")[1].strip() for line in lines if line.startswith("yt8m model: refit moe epoch ")]
    assert epochs == ["refit moe epoch 2/3", "refit moe epoch 3/3"]  # epoch 1 is not trained again
    assert prepared.training.final_epochs == 3 and (model_dir / "model.json").exists()


def test_an_interrupted_download_resumes_where_it_stopped(world, tmp_path):
    """A connection that drops mid-file: the run fails naming the file, keeps the others and the partial one; the
    next run asks only for the rest of that file (HTTP Range)."""
    cut = SHARD_FILES[1]
    size = (world.root / "mirror" / PARTITION / cut).stat().st_size
    world.server.set_fault(f"/mirror/{PARTITION}/{cut}", Fault("drop", after_bytes=size - 1000, times=1))
    extract = settings(tmp_path / "cache", world.backbone_dir)
    try:
        with pytest.raises(ReelsetError, match=rf"^yt8m data: 1 of 3 file\(s\) not downloaded: {cut} .*run the same "
                                               "command again to retry them"):
            prepare_yt8m_model(extract, source(world), train_settings=FAST, reporter=quiet())
    finally:
        world.server.clear_faults()
    data = tmp_path / "cache" / "yt8m" / "2_video_train"
    assert sorted(path.name for path in data.glob("*.tfrecord")) == sorted(
        local_name(name) for name in SHARD_FILES if name != cut)
    kept = (data / f"{local_name(cut)}.part").stat().st_size
    assert 0 < kept < size

    world.server.clear_requests()
    reporter = quiet()
    prepare_yt8m_model(extract, source(world), train_settings=FAST, reporter=reporter)
    assert one(lines_of(reporter), "yt8m data: downloaded").startswith("yt8m data: downloaded 1 file(s) (")
    asked = [request for request in world.server.requests if request.method == "GET" and "/mirror/" in request.path]
    assert [(request.path.rsplit("/", 1)[1], request.headers.get("range")) for request in asked] == [
        (cut, f"bytes={kept}-")]


# --- what the model reads --------------------------------------------------------------------------------------------


def test_the_default_model_reads_what_the_videos_will_have():
    from reelset.yt8m.training import TrainSettings as Defaults

    assert training_settings(ExtractSettings()) == replace(Defaults(), features=("rgb",))
    assert training_settings(ExtractSettings(audio="zeros")).features == ("rgb",)  # silence is no audio
    assert training_settings(ExtractSettings(audio="vggish"), FAST) == replace(FAST, features=("rgb", "audio"))


def test_the_command_line_offers_the_downloaders_mirrors():
    from reelset.cli.taste import command
    from reelset.yt8m import constants, download

    (mirror,) = [option for option in command.params if option.name == "mirror"]
    assert tuple(mirror.type.choices) == constants.MIRRORS and download.MIRRORS is constants.MIRRORS
    assert yt8m_loop.DEFAULT_MIRROR in constants.MIRRORS


# --- bad inputs: one line each ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--yt8m", "--model", "{folder}"], "error: --yt8m and --model exclude each other"),
    (["--mirror", "eu"], "error: --mirror goes with --yt8m"),
    (["--yt8m", "--yt8m-shard", "0,5"], "error: Invalid value for '--yt8m-shard': Invalid shard \"0,5\""),
    (["--yt8m", "--yt8m-shard", "5"], "error: Invalid value for '--yt8m-shard': Optional environment variable"),
])
def test_command_line_mistakes_are_one_usage_line(world, tmp_path, args, message):
    result = CliRunner().invoke(cli, ["taste", str(world.videos), "--out", str(tmp_path / "out"), "--no-dataset",
                                      "--cache-dir", str(tmp_path / "cache"),
                                      *[arg.format(folder=tmp_path) for arg in args]], prog_name="reelset")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert "(see 'reelset taste --help')" in result.stderr
    assert sorted(tmp_path.iterdir()) == []


def test_without_tensorflow_nothing_is_downloaded(world, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` fails as when it is not installed
    extract = settings(tmp_path / "cache", tmp_path / "yt8m")
    with pytest.raises(ReelsetError) as raised:
        prepare_yt8m_model(extract, source(world), train_settings=FAST, reporter=quiet())
    assert str(raised.value).endswith(EXTRA_HINT) and "TensorFlow" in str(raised.value)
    assert not (tmp_path / "yt8m").exists() and not (tmp_path / "cache" / "yt8m").exists()


def test_an_unreachable_mirror_is_one_line(world, tmp_path):
    with unreachable_hosts() as hosts:
        url, host = hosts["refused"]
        with pytest.raises(ReelsetError) as raised:
            prepare_yt8m_model(settings(tmp_path / "cache", world.backbone_dir),
                               source(world, plan_base_url=url, data_base_url=url), train_settings=FAST,
                               reporter=quiet())
    message = str(raised.value)
    assert message.startswith("yt8m data: Could not download file list: ") and "\n" not in message
    assert f"cannot reach {host} (refused)" in message
    assert not (tmp_path / "cache" / "yt8m").exists()  # nothing of the data step is left


def test_a_shard_without_files_is_one_line(world, tmp_path):
    with pytest.raises(ReelsetError, match=r"^shard 2,100 of 2/video/train: the download plan lists no file in it "
                                           r"\(--yt8m-shard 2,100\); choose a larger fraction, e\.g\. --yt8m-shard "
                                           r"1,10$"):
        prepare_yt8m_model(settings(tmp_path / "cache", world.backbone_dir), source(world, shard="2,100"),
                           train_settings=FAST, reporter=quiet())


def test_a_shard_without_records_is_one_line(world, tmp_path):
    with pytest.raises(ReelsetError, match=r"^shard 1,100 of 2/video/train: its 1 file\(s\) in .* hold no records: "
                                           r"nothing to train on; choose another --yt8m-shard$"):
        prepare_yt8m_model(settings(tmp_path / "cache", world.backbone_dir),
                           source(world, plan_base_url=world.empty, data_base_url=world.empty),
                           train_settings=FAST, reporter=quiet())
    assert not (tmp_path / "cache" / "yt8m" / "models").exists()


def test_an_unknown_audio_is_refused_before_anything(world, tmp_path):
    extract = replace(settings(tmp_path / "cache", tmp_path / "yt8m"), audio="loud")
    with pytest.raises(ReelsetError, match=r"^--audio 'loud': expected one of none, zeros, vggish$"):
        run_taste_yt8m([world.videos], tmp_path / "out", extract, source(world), train_settings=FAST,
                       reporter=quiet(), dataset=None)
    assert sorted(tmp_path.iterdir()) == []


# --- --audio vggish: an rgb+audio model, fed the videos' sound -------------------------------------------------------


@pytest.fixture(scope="module")
def audio_run(world, first_run, tmp_path_factory):
    """The loop with VGGish audio, on the first run's cache: its shard is there, the rgb+audio model is not."""
    out, audio_dir = tmp_path_factory.mktemp("audio") / "report", tmp_path_factory.mktemp("vggish")
    reporter = quiet()
    extract = replace(settings(first_run.cache, world.backbone_dir), audio="vggish", audio_model_dir=audio_dir)
    summary = run_taste_yt8m([world.sound_videos], out, extract, source(world, audio_urls=world.vggish_urls),
                             train_settings=FAST, reporter=reporter, dataset=None, top_k=3)
    return types.SimpleNamespace(out=out, audio_dir=audio_dir, summary=summary, lines=lines_of(reporter))


def test_with_audio_the_loop_trains_on_rgb_and_audio_and_feeds_the_videos_sound(world, first_run, audio_run):
    from reelset.features.audio import load_vggish
    from reelset.features.video import extract_video_features
    from reelset.yt8m.model import load_model

    lines = audio_run.lines
    fetched = one(lines, "yt8m audio: ")
    assert fetched == (f"yt8m audio: fetched vggish_model.ckpt, vggish_pca_params.npz into {audio_run.audio_dir} "
                       "(sha256 recorded)")
    data = one(lines, "yt8m data: ")
    assert data.startswith("yt8m data: cached: 3 files (")  # the shard serves both models
    trained = one(lines, "yt8m model: trained")
    assert trained.startswith(f"yt8m model: trained logistic on {3 * RECORDS_PER_FILE} videos (rgb+audio) in ")
    steps = [lines.index(line) for line in (one(lines, "yt8m backbone: "), fetched, data, trained)]
    assert steps == sorted(steps)  # VGGish's files before the data and the training: a bad URL fails first
    model_dir = Path(trained.rsplit(" in ", 1)[1])
    assert json.loads((model_dir / "model.json").read_text())["features"] == ["rgb", "audio"]

    summary = audio_run.summary
    mute = world.sound_videos / "mute.mp4"
    assert summary.tagged == 2 and [(item.path, item.reason) for item in summary.skipped] == [(str(mute), NO_SOUND)]
    assert f"skipped {mute}: {NO_SOUND}" in summary_lines(summary)
    assert summary.tagger.endswith("(3862 entities, inception-yt8m features and VGGish audio)")
    predictions = {Path(item["path"]).name: item for item in json.loads(summary.predictions_json.read_text())}
    assert set(predictions) == {"red.mp4", "blue.mp4"}
    assert predictions["red.mp4"]["labels"][0]["name"] == "Tomato"
    assert predictions["blue.mp4"]["labels"][0]["name"] == "Swimming pool"
    # The scores are the model's for the video's rgb and VGGish features both: the audio was fed, and it counts.
    model = load_model(model_dir, device="cpu")
    features = extract_video_features(world.sound_videos / "red.mp4", device="cpu",
                                      backbone=load_backbone(INCEPTION_YT8M, model_dir=world.backbone_dir,
                                                             device="cpu"),
                                      audio=load_vggish(audio_run.audio_dir, device="cpu"))
    scores = model.predict({"rgb": features.features, "audio": features.audio})
    shown = predictions["red.mp4"]["labels"]
    assert shown[0]["score"] == pytest.approx(float(scores.max()), abs=2e-6)
    for label in shown:
        assert label["score"] == pytest.approx(float(scores[model.class_names.index(label["name"])]), abs=2e-6)
    silent = model.predict({"rgb": features.features, "audio": np.zeros_like(features.audio)})
    assert np.abs(silent - scores).max() > 1e-3


def test_with_audio_a_second_run_through_the_command_line_fetches_nothing(world, first_run, audio_run, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(yt8m_loop, "default_train_settings", lambda: FAST)
    monkeypatch.setenv("REELSET_VGGISH_URL", f"{world.server.url}/nowhere.ckpt")  # cached: never asked
    world.server.clear_requests()
    out = tmp_path / "again"
    result = CliRunner().invoke(cli, [
        "taste", str(world.sound_videos), "--yt8m", "--audio", "vggish", "--audio-model-dir", str(audio_run.audio_dir),
        "--out", str(out), "--no-dataset", "--top-k", "3", "--cache-dir", str(first_run.cache),
        "--backbone-dir", str(world.backbone_dir), "--device", "cpu", "--plan-base-url", world.mirror,
        "--data-base-url", world.mirror], prog_name="reelset")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert one(lines, "yt8m audio: ") == (f"yt8m audio: cached: the VGGish files in {audio_run.audio_dir} "
                                          "(sha256 verified)")
    assert one(lines, "yt8m model: ").endswith(f"(logistic, rgb+audio, {3 * RECORDS_PER_FILE} videos)")
    assert world.server.requests == []
    assert f"skipped {world.sound_videos / 'mute.mp4'}: {NO_SOUND}" in lines
    assert lines[-1] == f"taste: 2 videos (0.0 hours) tagged, 1 skipped; report: {out / 'report.html'}"
    assert (out / "predictions.json").read_text() == audio_run.summary.predictions_json.read_text()
