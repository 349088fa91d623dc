"""`reelset yt8m train | evaluate | predict` on real-schema TFRecord files (flags, lines, JSON, exit codes), and every
refusal as one line; what own videos' records train on is checked through the API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.yt8m.model import load_model
from reelset.yt8m.records import dequantize, read_records, write_records
from reelset.yt8m.training import TrainSettings, evaluate_model, train
from reelset.yt8m.training.evaluation import predict_records
from reelset.yt8m.training.synthetic import planted_records
from reelset.yt8m.vocabulary import V2_HEADER

VOCABULARY = [("Game", "Games"), ("Video game", "Games"), ("Vehicle", "Autos & Vehicles"),
              ("Car", "Autos & Vehicles"), ("Food", "Food & Drink"), ("Cooking", "Food & Drink"),
              ("Football", "Sports"), ("Dog", "Pets & Animals")]
FAST = ["--threads", "1", "--epochs", "6"]


def write_vocabulary(path: Path) -> Path:
    lines = [",".join(V2_HEADER)]
    for index, (name, vertical) in enumerate(VOCABULARY):
        lines.append(f'{index},{900 - index},/m/0{index:x}z,{name},https://en.wikipedia.org/wiki/{name},{vertical},,,'
                     f'"{name}, a ""topic""."')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def own_video_records(count: int, seed: int):
    """Records as `reelset yt8m extract` writes them: efficientnet-lite0 frames (1280 bytes), mean_rgb, no audio."""
    for record in planted_records(count, level="frame", classes=len(VOCABULARY), rgb_width=1280, audio_width=None,
                                  frames=3, seed=seed, backbone="efficientnet-lite0"):
        yield {**record, "mean_rgb": dequantize(record["rgb"]).mean(axis=0), "audio_source": b"none"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    paths = {name: root / f"{name}.tfrecord" for name in ("frame", "frame_test", "video", "own", "own_test")}
    yt8m = {"classes": len(VOCABULARY), "rgb_width": 1024, "audio_width": 128, "signal": 0.3}
    write_records(paths["frame"], planted_records(160, level="frame", frames=4, seed=1, **yt8m))
    write_records(paths["frame_test"], planted_records(80, level="frame", frames=4, seed=2, **yt8m))
    write_records(paths["video"], planted_records(40, level="video", seed=3, **yt8m))
    write_records(paths["own"], own_video_records(160, seed=4))
    write_records(paths["own_test"], own_video_records(60, seed=5))
    paths["vocabulary"] = write_vocabulary(root / "vocabulary.csv")
    return paths


@pytest.fixture(scope="module")
def model_dir(files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-model") / "model"
    result = CliRunner().invoke(cli, ["yt8m", "train", str(files["frame"]), "--out", str(out), "--vocabulary",
                                      str(files["vocabulary"]), *FAST])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("5-fold cross-validation: logistic l2=")
    assert f"model: {out} (" in result.stdout and "chosen: " in result.stdout
    assert "features: rgb and audio: every record has audio" in result.stdout
    return out


def run(*args: str):
    return CliRunner().invoke(cli, ["yt8m", *args])


def test_train_evaluate_predict_round_trip(files, model_dir):
    config = json.loads((model_dir / "model.json").read_text())
    assert (config["level"], config["backbone"], config["features"]) == ("video", "inception-yt8m", ["rgb", "audio"])
    assert config["widths"] == {"rgb": 1024, "audio": 128}
    assert config["classes"]["ids"] == list(range(8)) and config["classes"]["names"][1] == "Video game"
    assert config["classes"]["groups"][2] == "Autos & Vehicles"
    assert config["vocabulary"]["path"] == str(files["vocabulary"].resolve())

    result = run("evaluate", str(model_dir), str(files["frame_test"]), "--json", "--threads", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    measured = json.loads(lines[0])
    assert list(measured) == ["gap", "map", "hit_at_1", "perr", "num_videos"] and measured["num_videos"] == 80
    assert measured["gap"] > 0.9
    assert measured == evaluate_model(load_model(model_dir), [files["frame_test"]]).metrics

    result = run("evaluate", str(model_dir), str(files["frame_test"]), "--threads", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == ["videos: 80", f"GAP@20: {measured['gap']:.4f}"]
    assert any(line.startswith("Autos & Vehicles ") for line in result.stdout.splitlines())  # per-vertical table

    result = run("predict", str(model_dir), str(files["frame_test"]), "--top-k", "3", "--threads", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    ids = [record["id"] for record in read_records(files["frame_test"])]
    assert len(lines) == 80 and [line.split(": ")[0] for line in lines] == ids
    assert lines[0].count(", ") == 2 and any(name in lines[0] for name, _ in VOCABULARY)

    result = run("predict", str(model_dir), str(files["frame_test"]), "--top-k", "2", "--json")
    assert result.exit_code == 0, result.output
    predictions = [json.loads(line) for line in result.stdout.splitlines()]
    assert [p["id"] for p in predictions] == ids
    first = predictions[0]
    assert len(first["top"]) == 2 and first["top"][0]["score"] >= first["top"][1]["score"]
    assert first["top"][0]["name"] == VOCABULARY[first["top"][0]["class"]][0]
    assert first["top"][0]["vertical"] == VOCABULARY[first["top"][0]["class"]][1]
    hits = sum(p["top"][0]["class"] in p["labels"] for p in predictions)
    assert hits >= 70  # Hit@1 of a learnt model


def test_frame_level_training_from_the_command_line(files, tmp_path):
    out = tmp_path / "frame"
    result = run("train", str(files["frame"]), "--out", str(out), "--level", "frame", "--model", "nextvlad",
                 "--option", "clusters=4", "--option", "expansion=1", "--option", "hidden=16", "--epochs", "2",
                 "--threads", "1")
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert (model.level, model.name, model.max_frames) == ("frame", "nextvlad", 300)
    assert model.config["options"]["clusters"] == 4 and model.class_names[0] == "0"  # no vocabulary: ids
    result = run("evaluate", str(out), str(files["frame_test"]), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["num_videos"] == 80
    result = run("evaluate", str(out), str(files["video"]))  # video-level records have no frames
    assert result.exit_code == 1 and "no 'rgb' frames" in result.stderr


def test_own_videos_train_on_their_own_feature_space(files, tmp_path):
    out = tmp_path / "own"
    train([files["own"]], out, TrainSettings(classes="0,1,2,3,4,5,6,7", epochs=6))
    config = json.loads((out / "model.json").read_text())
    assert (config["backbone"], config["features"], config["widths"]) == ("efficientnet-lite0", ["rgb"],
                                                                          {"rgb": 1280})
    assert config["features_reason"].startswith("rgb only")
    model = load_model(out)
    assert evaluate_model(model, [files["own_test"]]).metrics["gap"] > 0.8
    with pytest.raises(ReelsetError) as refused:
        evaluate_model(model, [files["frame_test"]])
    assert refused.value.exit_code == 1
    assert str(refused.value) == (f"{files['frame_test']} record 0 (id v00200000): features from the inception-yt8m "
                                  f"backbone, but the model reads efficientnet-lite0 features: use records extracted "
                                  f"with --backbone efficientnet-lite0")
    with pytest.raises(ReelsetError, match="features from the inception-yt8m backbone") as refused:
        list(predict_records(model, [files["frame_test"]]))
    assert refused.value.exit_code == 1


def write_label_names(path: Path) -> Path:
    path.write_text("label_id,label_name\n0,Games\n1,Vehicle\n2,Video game\n", encoding="utf-8")
    return path


def refusals(files: dict[str, Path], tmp: Path):
    """(command line, words the one-line error must hold)."""
    empty = tmp / "empty.tfrecord"
    write_records(empty, [])
    out_of_range = tmp / "range.tfrecord"
    write_records(out_of_range, [{**record, "labels": np.array([3, 50])}
                                 for record in planted_records(2, classes=4, rgb_width=8, audio_width=4)])
    v1_range = tmp / "v1range.tfrecord"
    write_records(v1_range, [{**record, "labels": np.array([4000])}
                             for record in planted_records(1, classes=4, rgb_width=8, audio_width=4)])
    mixed = [str(files["video"]), str(files["own"])]
    vocabulary = ["--vocabulary", str(files["vocabulary"])]
    out = ["--out", str(tmp / "m")]
    return [
        (["train", *mixed, *out], "features from the efficientnet-lite0 backbone, but"),
        (["train", str(files["video"]), *out, "--vocabulary", str(write_label_names(tmp / "label_names.csv"))],
         "2017 (v1) vocabulary"),
        (["train", str(out_of_range), *out, *vocabulary], "record 0 (id v00000000): label id 50 is out of range: the "
                                                          "vocabulary has 8 classes (ids 0..7)"),
        (["train", str(v1_range), *out], "label id 4000 is out of range: the vocabulary has 3862 classes (ids "
                                         "0..3861); ids up to 4715 are v1's (2017): is this v1 data?"),
        (["train", str(empty), *out], f"no records in {empty}"),
        (["train", str(files["video"]), *out, "--verticals"], "--verticals needs the vocabulary"),
        (["train", str(files["video"]), *out, "--classes", "Vehicle"], "class names need the vocabulary"),
        (["train", str(files["video"]), *out, "--classes", "Spaceship", *vocabulary], "no class is named 'Spaceship'"),
        (["train", str(files["own"]), *out, "--features", "rgb,audio"], "no 'audio' features, which --features asks"),
        (["train", str(files["video"]), *out, "--level", "frame"], "a video-level record (no frames)"),
        (["train", str(files["video"]), *out, "--model", "nextvlad"], "--model nextvlad is a frame-level model"),
        (["train", str(files["video"]), *out, "--model", "moe", "--option", "clusters=3"],
         "--option clusters: the moe model has no such option"),
        (["train", str(files["video"]), *out, "--resume"], "has no checkpoint to resume"),
        (["evaluate", str(tmp), str(files["video"])], "not a model directory"),
        (["evaluate", str(tmp / "nowhere"), str(files["video"])], "no such model directory"),
    ]


def test_refusals_are_one_line_errors(files, tmp_path, monkeypatch):
    monkeypatch.setenv("REELSET_CACHE_DIR", str(tmp_path / "cache"))  # no cached vocabulary to fall back on
    for args, words in refusals(files, tmp_path):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, (args, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert result.stdout == ""


def test_a_model_reading_audio_refuses_records_without_it(files, model_dir):
    result = run("evaluate", str(model_dir), str(files["own_test"]))
    assert result.exit_code == 1 and "features from the efficientnet-lite0 backbone" in result.stderr
    no_audio = [{key: value for key, value in record.items() if key not in ("audio", "mean_audio")}
                for record in read_records(files["video"])]
    path = model_dir.parent / "no_audio.tfrecord"
    write_records(path, no_audio)
    result = run("evaluate", str(model_dir), str(path))
    assert result.exit_code == 1
    assert "record 0 (id v00300000): no 'mean_audio' or 'audio' frames, which the model reads" in result.stderr
