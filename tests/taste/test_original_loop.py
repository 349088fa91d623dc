"""The whole loop of the original project, on the original recipe's form: own videos -> ``yt8m extract --backbone
inception-yt8m`` (a tiny graph with the real tensor names and a PCA fixture, served on 127.0.0.1) -> ``yt8m train``
-> ``taste --model`` on new videos, which must be told apart as the labels of the training videos said."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.core.ffmpeg import executable
from reelset.sandbox.servers import MediaServer
from reelset.yt8m.records import read_records
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


def test_extract_train_then_taste_with_the_model(tmp_path):
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

    runner = CliRunner()
    with MediaServer(tmp_path / "served") as server:
        env = {"REELSET_INCEPTION_URL": f"{server.url}/{archives['inception-2015-12-05.tgz'].name}",
               "REELSET_YT8M_PCA_URL": f"{server.url}/{archives['yt8m_pca.tgz'].name}"}
        common = ["--cache-dir", str(tmp_path / "cache")]
        extracted = runner.invoke(cli, [
            "yt8m", "extract", "--input_videos_csv", str(tmp_path / "videos.csv"), "--output_tfrecords_file",
            str(tmp_path / "mine.tfrecord"), "--backbone", "inception-yt8m", "--model_dir", str(tmp_path / "yt8m"),
            *common], env=env)
        assert extracted.exit_code == 0, extracted.output
        assert "Successfully encoded 8 out of 8 videos" in extracted.stdout.splitlines()
        records = list(read_records(tmp_path / "mine.tfrecord"))
        assert {record["backbone"] for record in records} == {b"inception-yt8m"}
        assert all(record["rgb"].shape == (2, 1024) for record in records)

        trained = runner.invoke(cli, [
            "yt8m", "train", str(tmp_path / "mine.tfrecord"), "--out", str(tmp_path / "model"), "--model",
            "logistic", "--classes", f"{RED},{BLUE}", "--validation-fraction", "0", "--epochs", "40"])
        assert trained.exit_code == 0, trained.output

        tasted = runner.invoke(cli, [
            "taste", str(tmp_path / "new"), "--model", str(tmp_path / "model"), "--backbone-dir",
            str(tmp_path / "yt8m"), "--out", str(tmp_path / "report"), "--no-dataset", "--top-k", "2", *common],
            env=env)
        assert tasted.exit_code == 0, tasted.output
    predictions = {Path(item["path"]).name: item["labels"] for item in
                   json.loads((tmp_path / "report" / "predictions.json").read_text())}
    assert predictions["red.mp4"][0]["name"] == str(RED)
    assert predictions["blue.mp4"][0]["name"] == str(BLUE)
    assert predictions["red.mp4"][0]["score"] > predictions["red.mp4"][1]["score"]
    # The model refuses features of another space: the offline backbone's records.
    other = runner.invoke(cli, ["yt8m", "extract", "--input-videos-csv", str(tmp_path / "new"),
                                "--output-tfrecords-file", str(tmp_path / "other.tfrecord"), "--no-cache"])
    assert other.exit_code == 0, other.output
    refused = runner.invoke(cli, ["yt8m", "evaluate", str(tmp_path / "model"), str(tmp_path / "other.tfrecord")])
    assert refused.exit_code != 0 and "efficientnet-lite0" in refused.output
