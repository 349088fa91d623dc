"""Fine-tuning on segment ratings (reelset.yt8m.training.segment_tuning, `reelset yt8m train --segments`): it
raises the held-out segment mAP over the base model, only rated outputs count, bad base models are refused with
one line, and an interrupted run resumes to the same weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from reelset.core.errors import ReelsetError
from reelset.yt8m.model import CHECKPOINT_FILE, MODEL_FILE, WEIGHTS_FILE, load_model
from reelset.yt8m.records import dequantize, quantize, write_records
from reelset.yt8m.segments import evaluate_segments
from reelset.yt8m.training import TrainSettings, train
from reelset.yt8m.training.data import load_segments
from reelset.yt8m.training.loop import masked_loss
from reelset.yt8m.training.segment_tuning import SegmentSettings, fine_tune_segments
from reelset.yt8m.training.synthetic import planted_records

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RATED = [3, 7, 8, 11]  # rated classes of the shipped list, the tiny models' outputs
WIDTH = 16
FRAMES = 30  # six segments a video


class Interrupt(Exception):
    pass


def segment_records(count: int, seed: int) -> list[dict]:
    """Frame-level v3 records: video-level labels planted as usual, and, in each positively rated 5-frame window,
    a pattern of the rated class that the video labels never show: what only the ratings can teach."""
    patterns = np.random.default_rng(99).normal(size=(len(RATED), WIDTH)) * 1.5
    rng = np.random.default_rng(seed + 1000)
    records = []
    for record in planted_records(count, level="frame", class_ids=RATED, classes=len(RATED), frames=FRAMES,
                                  rgb_width=WIDTH, audio_width=None, signal=0.8, seed=seed):
        rgb = dequantize(record["rgb"])
        rated = 4
        starts = rng.choice(FRAMES // 5, rated, replace=False) * 5
        classes = rng.integers(0, len(RATED), rated)
        scores = rng.integers(0, 2, rated)
        for start, column, score in zip(starts, classes, scores):
            if score:
                rgb[start:start + 5] += patterns[column]
        records.append({**record, "rgb": quantize(rgb),
                        "segment_labels": np.asarray(RATED, np.int64)[classes],
                        "segment_start_times": starts.astype(np.int64),
                        "segment_scores": scores.astype(np.float32)})
    return records


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("segments-train")
    files = {"train": root / "train.tfrecord", "validate": root / "validate.tfrecord",
             "test": root / "test.tfrecord", "base": root / "base"}
    write_records(files["train"], segment_records(160, seed=1))
    write_records(files["validate"], segment_records(60, seed=2))
    write_records(files["test"], segment_records(80, seed=3))
    # The base model: trained on the video labels only, as a frame model of the rated classes.
    train([files["train"]], files["base"], TrainSettings(level="frame", model="meanpool", classes="3,7,8,11",
                                                         epochs=3, validation_fraction=0.0))
    return files


SETTINGS = SegmentSettings(epochs=8, patience=3, learning_rate=0.02, batch_size=32, top_k=4, max_per_class=1000)


def _map(model_dir: Path, path: Path) -> float:
    return evaluate_segments(load_model(model_dir, device="cpu"), [path], rated=RATED, top_k=4,
                             max_per_class=1000).map


def test_fine_tuning_raises_the_held_out_segment_map_over_the_base_model(task, tmp_path):
    out = tmp_path / "tuned"
    epochs = []
    summary = fine_tune_segments([task["train"]], out, task["base"], SETTINGS, validation_paths=[task["validate"]],
                                 rated=RATED, device="cpu", on_epoch=epochs.append)
    base_map, tuned_map = _map(task["base"], task["test"]), _map(out, task["test"])
    assert tuned_map > base_map + 0.15, (base_map, tuned_map)
    assert epochs and all(result.validation is not None for result in epochs)
    assert summary.best_epoch >= 1 and summary.validation["map"] > summary.base_validation["map"]
    config = load_model(out, device="cpu").config
    training = config["training"]
    assert training["task"] == "segments"
    assert training["base_model"]["path"] == str(task["base"].resolve())
    assert training["base_model"]["weights_sha256"]
    assert training["segments"] == {"rated_classes": 4, "rated_file": None, "window_frames": 5, "top_k": 4,
                                    "max_per_class": 1000}
    assert training["settings"]["learning_rate"] == 0.02 and training["validation_videos"] == 60
    assert config["model"] == "meanpool" and config["classes"]["ids"] == RATED  # the base model's description
    assert not (out / CHECKPOINT_FILE).exists()


def test_held_out_fraction_selects_on_the_segment_map(task, tmp_path):
    out = tmp_path / "fraction"
    summary = fine_tune_segments([task["train"]], out, task["base"],
                                 SegmentSettings(**{**SETTINGS.__dict__, "validation_fraction": 0.25}),
                                 rated=RATED, device="cpu")
    assert 0 < summary.validation_videos < 160 and summary.videos == 160 - summary.validation_videos
    assert _map(out, task["test"]) > _map(task["base"], task["test"])


def test_the_loader_yields_the_rated_windows_below_the_frame_count(task, tmp_path):
    record = segment_records(1, seed=5)[0]
    record = {**record, "rgb": record["rgb"][:12],  # segments at 0, 5, 10 (2 frames)
              "segment_labels": np.array([3, 8, 7, 3, 11, 42], np.int64),  # 42: not a rated class
              "segment_start_times": np.array([5, 5, 10, 5, 15, 0], np.int64),  # 15: past the last frame
              "segment_scores": np.array([1, 0, 1, 0, 1, 1], np.float32)}
    write_records(tmp_path / "one.tfrecord", [record])
    model = load_model(task["base"], device="cpu")
    training, held, count = load_segments([tmp_path / "one.tfrecord"], space=model.space, class_set=model.classes,
                                          rated=RATED)
    assert count == 1 and len(held) == 0
    assert training.starts.tolist() == [5, 10] and training.lengths.tolist() == [5, 2]
    targets, mask = training.targets(np.arange(2), 4)
    # start 5: class 3 rated 1 then 0 (the last wins), class 8 rated 0; start 10: class 7 rated 1
    assert mask.tolist() == [[1, 0, 1, 0], [0, 1, 0, 0]]
    assert targets.tolist() == [[0, 0, 0, 0], [0, 1, 0, 0]]
    np.testing.assert_array_equal(training.frames["rgb"][1, :2], record["rgb"][10:12])
    assert not training.frames["rgb"][1, 2:].any()
    _, held, _ = load_segments([tmp_path / "one.tfrecord"], space=model.space, class_set=model.classes, rated=RATED,
                               held_out=lambda _: True)
    assert held.starts.tolist() == [0, 5, 10] and len(held.ratings) == 1  # every segment, for the ranking


def test_unrated_outputs_do_not_change_the_loss():
    rng = np.random.default_rng(0)
    logits = torch.tensor(rng.normal(size=(6, 5)), requires_grad=True)
    mask = torch.tensor(rng.integers(0, 2, (6, 5)), dtype=torch.float64)
    targets = torch.tensor(rng.integers(0, 2, (6, 5)), dtype=torch.float64)
    loss = masked_loss(torch.nn.functional.logsigmoid(logits), torch.nn.functional.logsigmoid(-logits), targets, mask)
    loss.backward()
    assert (logits.grad[mask == 0] == 0).all() and (logits.grad[mask == 1] != 0).all()
    other_targets = torch.where(mask > 0, targets, 1 - targets)  # unrated targets flipped
    other_logits = torch.where(mask > 0, logits, logits + 10.0).detach()  # unrated outputs moved far
    again = masked_loss(torch.nn.functional.logsigmoid(other_logits), torch.nn.functional.logsigmoid(-other_logits),
                        other_targets, mask)
    assert float(again) == pytest.approx(float(loss.detach()), abs=1e-12)
    everything = masked_loss(torch.nn.functional.logsigmoid(logits), torch.nn.functional.logsigmoid(-logits),
                             targets, torch.ones_like(mask))
    assert float(everything.detach()) > float(loss.detach())  # the mask does leave terms out


def test_bad_base_models_and_records_are_refused(task, tmp_path):
    video = tmp_path / "video-model"
    train([task["train"]], video, TrainSettings(model="logistic", classes="3,7,8,11", epochs=1,
                                                validation_fraction=0.0))
    with pytest.raises(ReelsetError, match=r"a video-level model \(logistic\); --segments fine-tunes a frame-level"):
        fine_tune_segments([task["train"]], tmp_path / "a", video, rated=RATED)
    few = tmp_path / "few-classes"
    train([task["train"]], few, TrainSettings(level="frame", model="meanpool", classes="3,7", epochs=1,
                                              validation_fraction=0.0))
    with pytest.raises(ReelsetError, match=r"its classes miss 2 of the 4 rated classes .*e\.g\. 8, 11"):
        fine_tune_segments([task["train"]], tmp_path / "b", few, rated=RATED)
    with pytest.raises(ReelsetError, match="miss 996 of the 1000 rated classes"):  # the shipped list
        fine_tune_segments([task["train"]], tmp_path / "c", task["base"])
    plain = [{key: value for key, value in record.items() if not key.startswith("segment_")}
             for record in segment_records(4, seed=9)]
    write_records(tmp_path / "plain.tfrecord", plain)
    with pytest.raises(ReelsetError, match="no segment ratings in"):
        fine_tune_segments([tmp_path / "plain.tfrecord"], tmp_path / "d", task["base"], rated=RATED)
    with pytest.raises(ReelsetError, match="the base model's directory"):
        fine_tune_segments([task["train"]], task["base"], task["base"], rated=RATED)
    assert not any((tmp_path / name).exists() for name in "abcd")  # nothing left behind


def test_cli_refusals_are_one_line(task, tmp_path):
    from click.testing import CliRunner

    from reelset.cli import cli

    runner = CliRunner()
    base = ["yt8m", "train", str(task["train"]), "--out", str(tmp_path / "m")]
    for extra, message in [(["--from", str(task["base"])], "error: --from: only with --segments"),
                           (["--segments"], "error: --segments: needs --from MODEL_DIR"),
                           (["--segments", "--from", str(task["base"]), "--level", "frame", "--classes", "3"],
                            "error: --level, --classes: the --from model decides this with --segments"),
                           (["--segments", "--from", str(task["base"])],
                            "error: --from " + str(task["base"]) + ": its classes miss 996 of the 1000")]:
        result = runner.invoke(cli, base + extra)
        assert result.exit_code != 0, result.output
        assert message in result.output and "Traceback" not in result.output, result.output
    assert not (tmp_path / "m").exists()


def test_an_interrupted_fine_tuning_resumes_to_identical_weights(task, tmp_path):
    settings = SegmentSettings(**{**SETTINGS.__dict__, "epochs": 4, "patience": 4})
    whole = tmp_path / "whole"
    fine_tune_segments([task["train"]], whole, task["base"], settings, validation_paths=[task["validate"]],
                       rated=RATED, device="cpu")

    def stop(result):
        if result.epoch == 2:
            raise Interrupt

    resumed = tmp_path / "resumed"
    with pytest.raises(Interrupt):
        fine_tune_segments([task["train"]], resumed, task["base"], settings, validation_paths=[task["validate"]],
                           rated=RATED, device="cpu", on_epoch=stop)
    assert (resumed / CHECKPOINT_FILE).exists() and not (resumed / MODEL_FILE).exists()
    summary = fine_tune_segments([task["train"]], resumed, task["base"], settings,
                                 validation_paths=[task["validate"]], rated=RATED, device="cpu")
    assert summary.resumed_at == "segments epoch 2"
    first, second = (torch.load(path / WEIGHTS_FILE, weights_only=True) for path in (whole, resumed))
    assert first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)

    def history(model_dir):
        return [{k: v for k, v in epoch.items() if k != "seconds"}
                for epoch in load_model(model_dir, device="cpu").config["training"]["history"]]

    assert history(whole) == history(resumed) and len(history(whole)) == 4
    again = fine_tune_segments([task["train"]], resumed, task["base"], settings, validation_paths=[task["validate"]],
                               rated=RATED, device="cpu")
    assert again.already_trained


def test_cli_fine_tunes_a_model_of_every_class(task, tmp_path):
    from click.testing import CliRunner

    from reelset.cli import cli

    base = tmp_path / "every-class"  # 3,862 outputs: covers the 1,000 rated classes of the shipped list
    train([task["train"]], base, TrainSettings(level="frame", model="meanpool", epochs=2, validation_fraction=0.0))
    out = tmp_path / "tuned"
    result = CliRunner().invoke(cli, ["yt8m", "train", str(task["train"]), "--segments", "--from", str(base),
                                      "--out", str(out), "--validation", str(task["validate"]), "--epochs", "3",
                                      "--learning-rate", "0.02", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "segments epoch 1/3" in result.output and "validation: segment mAP" in result.output
    training = load_model(out, device="cpu").config["training"]
    assert training["segments"]["rated_classes"] == 1000 and training["segments"]["rated_file"].endswith(
        "segment_label_ids.csv")
    assert training["validation"]["map"] > training["base_validation"]["map"]
