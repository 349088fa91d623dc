"""Training: planted signal is learnt, shuffled labels are not, the default is at least logistic regression and kNN,
evaluation matches the metrics module, resumed runs and same seeds give identical weights, frame order is learnt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from reelset.yt8m import metrics
from reelset.yt8m.model import CHECKPOINT_FILE, MODEL_FILE, WEIGHTS_FILE, load_model
from reelset.yt8m.records import read_records, write_records
from reelset.yt8m.training import TrainSettings, evaluate_model, train
from reelset.yt8m.training.data import resolve_class_set
from reelset.yt8m.training.synthetic import order_records, planted_records
from reelset.yt8m.vocabulary import V2_HEADER, load_vocabulary

SMALL = {"rgb_width": 48, "audio_width": 16}
CLASSES = 12
# (name, verticals) of the fake vocabulary's classes: a few verticals, one class without a name, one with two
VOCABULARY = [("Game", ("Games",)), ("Video game", ("Games",)), ("Vehicle", ("Autos & Vehicles",)),
              ("Car", ("Autos & Vehicles",)), ("Food", ("Food & Drink",)), ("", ("Food & Drink",)),
              ("Football", ("Sports",)), ("Racing", ("Sports", "Autos & Vehicles")), ("Cooking", ("Food & Drink",)),
              ("Dog", ("Pets & Animals",)), ("Cat", ("Pets & Animals",)), ("Music", ("Arts & Entertainment",))]


def write_vocabulary(path: Path, rows=VOCABULARY) -> Path:
    """A vocabulary.csv in the exact v2 format (header, Index 0..n-1, quoted descriptions)."""
    lines = [",".join(V2_HEADER)]
    for index, (name, verticals) in enumerate(rows):
        columns = [str(index), str(1000 - index), f"/m/0{index:x}k", name,
                   f"https://en.wikipedia.org/wiki/{name}" if name else "",
                   *(f'"{v}"' if "," in v else v for v in (list(verticals) + ["", "", ""])[:3]),
                   f'"{name or "A topic"}, as people film it."']
        lines.append(",".join(columns))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train")
    files = {
        "vocabulary": write_vocabulary(root / "vocabulary.csv"),
        "train": root / "train.tfrecord", "test": root / "test.tfrecord",
        "shuffled": root / "shuffled.tfrecord",
    }
    write_records(files["train"], planted_records(300, classes=10, signal=0.6, seed=1, **SMALL))
    write_records(files["test"], planted_records(200, classes=10, signal=0.6, seed=2, **SMALL))
    write_records(files["shuffled"], planted_records(300, classes=10, signal=0.6, seed=1, shuffle_labels=True,
                                                     **SMALL))
    return files


@pytest.fixture(scope="module")
def vocabulary(data):
    return load_vocabulary(data["vocabulary"])


@pytest.fixture(scope="module")
def trained(data, vocabulary, tmp_path_factory) -> Path:
    """The default model (auto) trained on the planted set, with the vocabulary."""
    out = tmp_path_factory.mktemp("model") / "model"
    train([data["train"]], out, TrainSettings(epochs=12), vocabulary=vocabulary)
    return out


def test_learns_the_planted_signal_and_the_default_is_at_least_the_baselines(data, vocabulary, trained, tmp_path):
    default = evaluate_model(load_model(trained), [data["test"]]).metrics
    assert default["gap"] > 0.95 and default["num_videos"] == 200
    baselines = {}
    for name in ("logistic", "knn"):
        train([data["train"]], tmp_path / name, TrainSettings(model=name), vocabulary=vocabulary)
        baselines[name] = evaluate_model(load_model(tmp_path / name), [data["test"]]).metrics["gap"]
    assert default["gap"] >= max(baselines.values()) - 0.01, (default, baselines)
    config = load_model(trained).config
    # Small data: auto cross-validated the shallow models and kept the best by its out-of-fold GAP.
    assert set(config["training"]["candidates"]) == {"logistic", "knn", "blend"}
    assert config["training"]["selection"] == "5-fold cross-validation" and config["inputs"] == "unit"
    chosen = config["training"]["candidates"][config["model"]]["validation"]["gap"]
    assert chosen == max(c["validation"]["gap"] for c in config["training"]["candidates"].values())
    assert not (trained / CHECKPOINT_FILE).exists()  # finished: the checkpoint is gone


def test_shuffled_labels_stay_at_chance(data, vocabulary, tmp_path):
    train([data["shuffled"]], tmp_path / "m", TrainSettings(epochs=8), vocabulary=vocabulary)
    learnt = evaluate_model(load_model(tmp_path / "m"), [data["test"]]).metrics["gap"]
    # Chance: each class's frequency as its score (broken ties: random order), the best guess without features.
    records = list(read_records(data["test"]))
    truth = [record["labels"] for record in records]
    frequency = np.bincount(np.concatenate(truth), minlength=CLASSES) / len(truth)
    noise = np.random.default_rng(0).random((len(truth), CLASSES)) * 1e-9
    chance = metrics.gap(frequency + noise, truth)
    assert abs(learnt - chance) < 0.06, (learnt, chance)
    assert learnt < 0.6  # far from what the real labels give (> 0.95)


def test_evaluate_matches_the_metrics_module_on_the_same_predictions(data, trained):
    model = load_model(trained)
    records = list(read_records(data["test"], dequantize=True))
    ids, probabilities = model.predict_batch(records)
    assert ids == [record["id"] for record in records] and probabilities.dtype == np.float32
    expected = metrics.evaluate(probabilities, [record["labels"] for record in records])
    evaluation = evaluate_model(model, [data["test"]])
    got = evaluation.metrics
    assert got["gap"] == expected["gap"] and got["map"] == expected["map"]  # the same top-20 pool, same order
    assert got["hit_at_1"] == pytest.approx(expected["hit_at_1"], abs=1e-12)  # summed batch by batch
    assert got["perr"] == pytest.approx(expected["perr"], abs=1e-12)
    assert got["num_videos"] == expected["num_videos"] == 200
    # The per-vertical table: each class in its first vertical; the classes' APs average to mAP.
    rows = {row.group: row for row in evaluation.groups}
    assert set(rows) == {"Games", "Autos & Vehicles", "Food & Drink", "Sports", "Pets & Animals",
                         "Arts & Entertainment"}
    assert rows["Games"].classes == 2 and rows["Sports"].classes == 2 and rows["Arts & Entertainment"].classes == 1
    assert sum(row.classes_seen for row in rows.values()) == 10  # classes 10, 11 never occur in the data
    seen = [row for row in rows.values() if row.classes_seen]
    mean_of_classes = sum(row.map * row.classes_seen for row in seen) / sum(row.classes_seen for row in seen)
    assert mean_of_classes == pytest.approx(got["map"], abs=1e-12)
    per_class = metrics.per_class_average_precision(probabilities, [record["labels"] for record in records])
    assert rows["Games"].map == pytest.approx(np.nanmean(per_class[[0, 1]]), abs=1e-12)


class Interrupt(Exception):
    pass


def _weights(model_dir: Path) -> dict:
    return torch.load(model_dir / WEIGHTS_FILE, weights_only=True)


def _assert_identical(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


@pytest.mark.parametrize("stop_at", [("select", "moe", 3), ("refit", "moe", 1)])
def test_an_interrupted_run_resumes_to_identical_weights(data, vocabulary, tmp_path, stop_at):
    settings = TrainSettings(model="moe", epochs=6, patience=2, seed=3)
    whole = tmp_path / "whole"
    train([data["train"]], whole, settings, vocabulary=vocabulary)

    def stop(result):
        if (result.phase, result.model, result.epoch) == stop_at:
            raise Interrupt

    resumed = tmp_path / "resumed"
    with pytest.raises(Interrupt):
        train([data["train"]], resumed, settings, vocabulary=vocabulary, on_epoch=stop)
    assert (resumed / CHECKPOINT_FILE).exists() and not (resumed / MODEL_FILE).exists()
    with pytest.raises(Exception, match="training has not finished"):
        load_model(resumed)
    summary = train([data["train"]], resumed, settings, vocabulary=vocabulary)
    assert summary.resumed_at == f"{stop_at[0]} {stop_at[1]} epoch {stop_at[2]}"
    _assert_identical(_weights(whole), _weights(resumed))

    def history(model_dir):  # the same epochs with the same losses and scores (times aside)
        return [{key: value for key, value in epoch.items() if key != "seconds"}
                for epoch in load_model(model_dir).config["training"]["history"]]

    assert history(resumed) == history(whole)
    again = train([data["train"]], resumed, settings, vocabulary=vocabulary)  # finished: nothing to do
    assert again.already_trained


def test_large_data_choice_is_checkpointed_and_resumed(data, vocabulary, tmp_path):
    """Above cv_max_videos, auto chooses the shallow setting on the validation videos once (checkpointed), then
    trains the strong model by epochs, and keeps the better: a run stopped in the strong model's epochs does not
    choose again and ends with the same weights."""
    settings = TrainSettings(epochs=3, patience=2, cv_max_videos=100)
    whole = train([data["train"]], tmp_path / "whole", settings, vocabulary=vocabulary)
    assert whole.selection == "validation videos" and whole.validation_videos == 30
    assert set(whole.candidates) == {"logistic", "knn", "blend", "moe"}
    assert whole.model == max(whole.candidates, key=lambda name: whole.candidates[name]["validation"]["gap"])

    def stop(result):
        if getattr(result, "phase", None) == "select":
            raise Interrupt

    with pytest.raises(Interrupt):
        train([data["train"]], tmp_path / "resumed", settings, vocabulary=vocabulary, on_epoch=stop)
    settings_seen = []
    summary = train([data["train"]], tmp_path / "resumed", settings, vocabulary=vocabulary,
                    on_epoch=lambda result: settings_seen.append(result))
    assert summary.resumed_at == "select moe epoch 1" and summary.model == whole.model
    assert not any(hasattr(result, "setting") for result in settings_seen)  # the choice was not made again
    _assert_identical(_weights(tmp_path / "whole"), _weights(tmp_path / "resumed"))


def test_a_shallow_choice_stopped_midway_is_made_again_to_the_same_model(data, vocabulary, tmp_path):
    whole = train([data["train"]], tmp_path / "whole", TrainSettings(), vocabulary=vocabulary)
    seen = []

    def stop(result):
        seen.append(result.line())
        if len(seen) == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        train([data["train"]], tmp_path / "again", TrainSettings(), vocabulary=vocabulary, on_epoch=stop)
    assert not (tmp_path / "again").exists()  # nothing was written: no empty folder left either
    assert seen[0].startswith("5-fold cross-validation: logistic l2=")
    again = train([data["train"]], tmp_path / "again", TrainSettings(), vocabulary=vocabulary)
    assert again.model == whole.model and again.setting == whole.setting
    _assert_identical(_weights(tmp_path / "whole"), _weights(tmp_path / "again"))


def test_a_checkpoint_of_other_settings_is_refused(data, vocabulary, tmp_path):
    def stop(result):
        raise Interrupt

    moe = {"model": "moe", "epochs": 3}
    with pytest.raises(Interrupt):
        train([data["train"]], tmp_path / "m", TrainSettings(**moe), vocabulary=vocabulary, on_epoch=stop)
    with pytest.raises(Exception, match="checkpoint of another training"):
        train([data["train"]], tmp_path / "m", TrainSettings(**moe, seed=9), vocabulary=vocabulary)
    summary = train([data["train"]], tmp_path / "m", TrainSettings(**moe, seed=9), vocabulary=vocabulary,
                    resume="restart")
    assert summary.resumed_at is None and (tmp_path / "m" / MODEL_FILE).exists()
    with pytest.raises(Exception, match="already holds a model trained on other data or settings"):
        train([data["train"]], tmp_path / "m", TrainSettings(model="moe", epochs=4), vocabulary=vocabulary)


def test_the_same_seed_gives_the_same_model(data, vocabulary, tmp_path):
    settings = TrainSettings(model="moe", epochs=3)
    for name in ("a", "b"):
        torch.manual_seed(len(name) * 1000 + ord(name))  # the global RNG must not matter
        train([data["train"]], tmp_path / name, settings, vocabulary=vocabulary)
    train([data["train"]], tmp_path / "c", TrainSettings(model="moe", epochs=3, seed=1), vocabulary=vocabulary)
    _assert_identical(_weights(tmp_path / "a"), _weights(tmp_path / "b"))
    key = "classifier.experts.weight"
    assert not torch.equal(_weights(tmp_path / "c")[key], _weights(tmp_path / "a")[key])


def test_verticals_are_the_verticals_of_the_labels(data, vocabulary, tmp_path):
    class_set = resolve_class_set(vocabulary, verticals=True)
    assert class_set.names == tuple(sorted({v for _, verticals in VOCABULARY for v in verticals}))
    position = {name: index for index, name in enumerate(class_set.names)}
    assert class_set.outputs_of([7]) == sorted([position["Sports"], position["Autos & Vehicles"]])  # Racing
    assert class_set.outputs_of([0, 1, 9]) == sorted([position["Games"], position["Pets & Animals"]])
    train([data["train"]], tmp_path / "v", TrainSettings(verticals=True, epochs=12), vocabulary=vocabulary)
    model = load_model(tmp_path / "v")
    assert model.class_names == model.class_groups == list(class_set.names)
    assert model.class_ids == list(range(len(class_set.names)))
    evaluation = evaluate_model(model, [data["test"]])
    assert evaluation.metrics["gap"] > 0.85
    assert [row.group for row in evaluation.groups] == sorted(class_set.names)
    assert all(row.classes == 1 for row in evaluation.groups)


def test_classes_by_id_and_name(data, vocabulary, tmp_path):
    train([data["train"]], tmp_path / "m", TrainSettings(classes="Vehicle,0,Cat", epochs=4), vocabulary=vocabulary)
    model = load_model(tmp_path / "m")
    assert model.class_ids == [2, 0, 10] and model.class_names == ["Vehicle", "Game", "Cat"]
    assert model.class_groups == ["Autos & Vehicles", "Games", "Pets & Animals"]
    assert model.outputs_of([0, 3, 10]) == [1, 2]  # label 3 is not one of the model's classes
    config = model.config
    assert config["vocabulary"]["version"] == 2 and config["vocabulary"]["classes"] == CLASSES
    assert len(config["vocabulary"]["sha256"]) == 64


def test_frame_level_model_learns_frame_order_where_mean_pooling_cannot(tmp_path):
    write_records(tmp_path / "train.tfrecord", order_records(600, frames=8, seed=1))
    write_records(tmp_path / "test.tfrecord", order_records(200, frames=8, seed=2))
    scores = {}
    for model, options in (("meanpool", {}), ("nextvlad", {"clusters": 8, "groups": 4, "hidden": 32})):
        settings = TrainSettings(level="frame", model=model, options=options, classes="0,1", epochs=12,
                                 validation_fraction=0, batch_size=32, learning_rate=3e-3)
        train([tmp_path / "train.tfrecord"], tmp_path / model, settings)
        scores[model] = evaluate_model(load_model(tmp_path / model), [tmp_path / "test.tfrecord"]).metrics["gap"]
    assert scores["meanpool"] < 0.65  # same frames, same mean: chance
    assert scores["nextvlad"] > 0.9 and scores["nextvlad"] > scores["meanpool"] + 0.25, scores
