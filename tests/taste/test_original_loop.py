"""The whole loop of the original project, on the original recipe's form, through the library calls behind the
commands: own videos -> ``extract`` with the inception-yt8m backbone (``yt8m extract --backbone inception-yt8m``; a
tiny graph with the real tensor names and a PCA fixture, served on 127.0.0.1) -> ``train`` (``yt8m train``) ->
``run_taste`` with the model (``taste --model``) on new videos, which must be told apart as the labels of the
training videos said."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from reelset.core.errors import ReelsetError
from reelset.core.ffmpeg import executable
from reelset.features.extraction import ExtractSettings, extract, read_inputs
from reelset.sandbox.servers import MediaServer
from reelset.taste.run import run_taste
from reelset.yt8m.model import load_model
from reelset.yt8m.records import read_records
from reelset.yt8m.training import TrainSettings, evaluate_model, train
from tests.support.inception import write_tiny_inception_archives

pytestmark = pytest.mark.slow
RED, BLUE = 5, 9  # YouTube-8M-like label ids of the two kinds of video


def colour_video(path: Path, colour: str, seconds: int = 2) -> Path:
    """A moving test pattern tinted with ``colour``: every frame differs, the tint is what the labels follow."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([executable("ffmpeg"), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=64x48:rate=5:duration={seconds}", "-f", "lavfi", "-i",
                    f"color=c={colour}:size=64x48:rate=5:duration={seconds}", "-filter_complex",
                    "[0][1]blend=all_mode=multiply", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
                   check=True, capture_output=True)
    return path


def test_extract_train_then_taste_with_the_model(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    archives = write_tiny_inception_archives(tmp_path / "served")
    reds = ["0xff3030", "0xe02010", "0xff5050", "0xc00000"]
    blues = ["0x3030ff", "0x1020e0", "0x5050ff", "0x0000c0"]
    lines = []
    for index, (red, blue) in enumerate(zip(reds, blues)):
        lines.append(f"{colour_video(tmp_path / 'mine' / f'red {index}.mp4', red)},{RED}")
        lines.append(f"{colour_video(tmp_path / 'mine' / f'blue {index}.mp4', blue)},{BLUE}")
    (tmp_path / "videos.csv").write_text("\n".join(lines) + "\n")
    colour_video(tmp_path / "new" / "red.mp4", "0xf04040", seconds=3)
    colour_video(tmp_path / "new" / "blue.mp4", "0x4040f0", seconds=3)

    with MediaServer(tmp_path / "served") as server:
        monkeypatch.setenv("REELSET_INCEPTION_URL", f"{server.url}/{archives['inception-2015-12-05.tgz'].name}")
        monkeypatch.setenv("REELSET_YT8M_PCA_URL", f"{server.url}/{archives['yt8m_pca.tgz'].name}")
        cache = tmp_path / "cache"
        inputs, bad_lines = read_inputs(tmp_path / "videos.csv")
        extracted = extract(inputs, tmp_path / "mine.tfrecord",
                            ExtractSettings(backbone="inception-yt8m", model_dir=tmp_path / "yt8m", cache_dir=cache),
                            invalid=bad_lines)
        assert not extracted.failures, extracted.failures
        assert extracted.line == "Successfully encoded 8 out of 8 videos"
        records = list(read_records(tmp_path / "mine.tfrecord"))
        assert {record["backbone"] for record in records} == {b"inception-yt8m"}
        assert all(record["rgb"].shape == (2, 1024) for record in records)

        train([tmp_path / "mine.tfrecord"], tmp_path / "model",
              TrainSettings(model="logistic", classes=f"{RED},{BLUE}", validation_fraction=0, epochs=40))

        tasted = run_taste([tmp_path / "new"], tmp_path / "report", model=tmp_path / "model",
                           backbone_model_dir=tmp_path / "yt8m", dataset=None, top_k=2, cache_dir=cache)
        assert tasted.tagged  # the command exits 0 when a video was tagged
    predictions = {Path(item["path"]).name: item["labels"] for item in
                   json.loads((tmp_path / "report" / "predictions.json").read_text())}
    assert predictions["red.mp4"][0]["name"] == str(RED)
    assert predictions["blue.mp4"][0]["name"] == str(BLUE)
    assert predictions["red.mp4"][0]["score"] > predictions["red.mp4"][1]["score"]
    # The model refuses features of another space: the offline backbone's records.
    other = extract(read_inputs(tmp_path / "new")[0], tmp_path / "other.tfrecord", ExtractSettings(use_cache=False))
    assert not other.failures, other.failures
    with pytest.raises(ReelsetError, match="efficientnet-lite0"):
        evaluate_model(load_model(tmp_path / "model"), [tmp_path / "other.tfrecord"])
