"""The model API that `reelset taste` relies on: load_model, TrainedModel's attributes and its three predictions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from reelset.core.errors import ReelsetError
from reelset.yt8m.model import MODEL_FILE, WEIGHTS_FILE, TrainedModel, load_model
from reelset.yt8m.records import dequantize, read_records, write_records
from reelset.yt8m.training import TrainSettings, train
from reelset.yt8m.training.synthetic import planted_records

WIDTHS = {"rgb_width": 40, "audio_width": 8}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def frames_file(tmp_path_factory) -> Path:
    """Frame-level records of different lengths (padding must not change predictions)."""
    path = tmp_path_factory.mktemp("api") / "frames.tfrecord"
    records = []
    for index, record in enumerate(planted_records(60, level="frame", classes=5, frames=9, seed=1, **WIDTHS)):
        keep = 3 + index % 7
        records.append({**record, "rgb": record["rgb"][:keep], "audio": record["audio"][:keep]})
    write_records(path, records)
    return path


@pytest.fixture(scope="module")
def video_model(frames_file) -> TrainedModel:
    out = frames_file.parent / "video-model"
    train([frames_file], out, TrainSettings(model="moe", classes="0,1,2,3,4", epochs=3))
    return load_model(out, device="cpu")


@pytest.fixture(scope="module")
def frame_model(frames_file) -> TrainedModel:
    out = frames_file.parent / "frame-model"
    train([frames_file], out, TrainSettings(level="frame", model="nextvlad", classes="0,1,2,3,4", epochs=2,
                                            options={"clusters": 4, "groups": 4, "hidden": 16}, max_frames=6))
    return load_model(out, device="cpu")


def test_attributes(video_model, frame_model):
    for model in (video_model, frame_model):
        assert model.backbone == "inception-yt8m" and model.features == ("rgb", "audio")
        assert model.widths == {"rgb": 40, "audio": 8}
        assert model.class_ids == [0, 1, 2, 3, 4] and model.class_names == ["0", "1", "2", "3", "4"]
        assert model.class_groups == [""] * 5 and model.num_classes == 5 and model.device == "cpu"
    assert (video_model.level, frame_model.level) == ("video", "frame")
    assert (video_model.max_frames, frame_model.max_frames) == (300, 6)


def test_video_level_predictions_agree(video_model, frames_file):
    records = list(read_records(frames_file, dequantize=True))
    ids, batch = video_model.predict_batch(records)
    assert batch.shape == (60, 5) and batch.dtype == np.float32 and ((batch > 0) & (batch < 1)).all()
    record = records[4]
    one = video_model.predict({"rgb": record["rgb"], "audio": record["audio"]})
    assert one.shape == (5,) and one.dtype == np.float32
    np.testing.assert_allclose(one, batch[4], rtol=1e-6)
    mean = {name: record[name].mean(axis=0, keepdims=True) for name in ("rgb", "audio")}  # like mean_rgb, (1, w)
    np.testing.assert_allclose(video_model.predict(mean), one, rtol=1e-5)
    raw = next(r for i, r in enumerate(read_records(frames_file)) if i == 4)  # bytes are dequantized for you
    np.testing.assert_allclose(video_model.predict(raw), one, rtol=1e-6)
    per_second = video_model.predict_frames({**record, "mean_rgb": mean["rgb"][0], "mean_audio": mean["audio"][0]})
    assert per_second.shape == (len(record["rgb"]), 5)  # the frames, even beside means
    single = video_model.predict({"rgb": record["rgb"][2:3], "audio": record["audio"][2:3]})
    np.testing.assert_allclose(per_second[2], single, rtol=1e-5)


def test_frame_level_predictions_agree_and_ignore_padding(frame_model, frames_file):
    records = list(read_records(frames_file, dequantize=True))
    _, batch = frame_model.predict_batch(records)  # videos of 3 to 9 frames padded together
    for index in (0, 5, 6):
        one = frame_model.predict({"rgb": records[index]["rgb"], "audio": records[index]["audio"]})
        np.testing.assert_allclose(one, batch[index], rtol=1e-4, atol=1e-6)
    padded = list(read_records(frames_file, dequantize=True, max_frames=12))  # the starter reader's zero padding
    np.testing.assert_allclose(frame_model.predict_batch(padded)[1], batch, rtol=1e-4, atol=1e-6)
    long = records[5]  # 8 frames, the model reads the first 6
    np.testing.assert_allclose(frame_model.predict({"rgb": long["rgb"][:6], "audio": long["audio"][:6]}),
                               frame_model.predict(long), rtol=1e-6)
    per_second = frame_model.predict_frames(long)  # every frame, past max_frames too
    assert per_second.shape == (8, 5) and ((per_second > 0) & (per_second < 1)).all()
    window = frame_model.predict({"rgb": long["rgb"][1:6], "audio": long["audio"][1:6]})  # frames 1..5 around 3
    np.testing.assert_allclose(per_second[3], window, rtol=1e-4, atol=1e-6)


def test_inputs_the_model_cannot_read_are_refused(video_model, frame_model, frames_file):
    record = next(iter(read_records(frames_file, dequantize=True)))
    with pytest.raises(ReelsetError, match="no 'audio' features given; the model reads rgb, audio"):
        video_model.predict({"rgb": record["rgb"]})
    with pytest.raises(ReelsetError, match=r"'rgb' features of shape \(5, 41\)"):
        video_model.predict({"rgb": np.zeros((5, 41), np.float32), "audio": record["audio"]})
    with pytest.raises(ReelsetError, match="features from the efficientnet-lite0 backbone, but the model reads "
                                           "inception-yt8m"):
        video_model.predict({**record, "backbone": b"efficientnet-lite0"})
    with pytest.raises(ReelsetError, match=r"record 0 \(id v00100000\): features from the efficientnet-lite0"):
        video_model.predict_batch([{**record, "backbone": b"efficientnet-lite0"}])
    with pytest.raises(ReelsetError, match="a frame-level model reads"):
        frame_model.predict({"rgb": record["rgb"].mean(axis=0), "audio": record["audio"].mean(axis=0)})


def test_load_model_refuses_missing_and_corrupt_directories(video_model, tmp_path):
    with pytest.raises(ReelsetError, match="no such model directory"):
        load_model(tmp_path / "nothing")
    with pytest.raises(ReelsetError, match="not a model directory"):
        load_model(tmp_path)
    copy = tmp_path / "copy"
    copy.mkdir()
    config = (video_model.path / MODEL_FILE).read_text()
    weights = (video_model.path / WEIGHTS_FILE).read_bytes()
    (copy / MODEL_FILE).write_text(config[:40])
    with pytest.raises(ReelsetError, match=f"{copy / MODEL_FILE}: corrupt model description"):
        load_model(copy)
    (copy / MODEL_FILE).write_text(config)
    with pytest.raises(ReelsetError, match="weights.pt: missing"):
        load_model(copy)
    (copy / WEIGHTS_FILE).write_bytes(weights[:len(weights) // 2])
    with pytest.raises(ReelsetError, match="weights.pt: corrupt or not this model's weights") as caught:
        load_model(copy)
    assert "\n" not in str(caught.value)
    other = json.loads(config)
    other["widths"]["rgb"] = 41
    (copy / MODEL_FILE).write_text(json.dumps(other))
    (copy / WEIGHTS_FILE).write_bytes(weights)
    with pytest.raises(ReelsetError, match="corrupt or not this model's weights"):
        load_model(copy)
    with pytest.raises(ReelsetError, match="--device cuda"):
        load_model(video_model.path, device="cuda" if not torch.cuda.is_available() else "cuda:99")


def test_frame_level_resume_is_identical_with_dropout(frames_file, tmp_path):
    settings = TrainSettings(level="frame", model="nextvlad", classes="0,1,2,3,4", epochs=3, patience=3,
                             options={"clusters": 4, "groups": 4, "hidden": 16, "dropout": 0.5})
    train([frames_file], tmp_path / "whole", settings)

    class Stop(Exception):
        pass

    def stop(result):
        if (result.phase, result.epoch) == ("select", 2):
            raise Stop

    with pytest.raises(Stop):
        train([frames_file], tmp_path / "resumed", settings, on_epoch=stop)
    train([frames_file], tmp_path / "resumed", settings)
    whole = torch.load(tmp_path / "whole" / WEIGHTS_FILE, weights_only=True)
    resumed = torch.load(tmp_path / "resumed" / WEIGHTS_FILE, weights_only=True)
    assert all(torch.equal(whole[key], resumed[key]) for key in whole)


def test_dequantized_inputs_match_training(video_model, frames_file):
    """A video-level model reads the mean of the frames dequantized exactly like read_records does."""
    raw = next(iter(read_records(frames_file)))
    floats = next(iter(read_records(frames_file, dequantize=True)))
    assert np.array_equal(dequantize(raw["rgb"]), floats["rgb"])
    assert np.array_equal(video_model.predict(raw), video_model.predict(floats))
