"""`action100m build`: ids, download and fiftyone in one call against the local hub and video server.

The pipeline is checked through :func:`reelset.action100m.pipeline.build`; the CLI tests check only what the command
adds (flags and environment variables reaching the function, its lines, its exit code).
"""

from __future__ import annotations

import importlib
import io
from collections import Counter

import fiftyone as fo
from click.testing import CliRunner

from reelset.action100m.pipeline import BuildSummary, build
from reelset.action100m.dataset import IngestSummary
from reelset.action100m.hub import DEFAULT_REPO
from reelset.cli import cli
from reelset.core.progress import Reporter
from reelset.fetch.download import DownloadSettings, DownloadSummary
from reelset.sandbox.action100m_sample import make_sample_rows, write_sample_repo
from reelset.sandbox.media import make_video
from reelset.sandbox.servers import FakeHub, MediaServer

NO_WAIT = {"sleep": 0, "max_sleep": 0, "sleep_requests": 0}


def quiet() -> Reporter:
    """A non-interactive reporter whose lines can be read back (as tests/conftest.py's ``quiet_reporter``)."""
    return Reporter(interactive=False, out=io.StringIO(), err=io.StringIO())


def lines_of(reporter: Reporter) -> list[str]:
    return reporter.out.getvalue().splitlines()


def test_build_runs_all_three_steps_and_resumes(tmp_path):
    rows = make_sample_rows(3, seed=9, video_seconds=(10, 14), max_depths=(8, 8))
    write_sample_repo(tmp_path / "repo", rows)
    for row in rows[:2]:  # the third video is gone
        make_video(tmp_path / "served" / f"{row['video_uid']}.mp4", seconds=row["nodes"][0]["end"], width=320,
                   height=180)
    with FakeHub({DEFAULT_REPO: tmp_path / "repo"}) as hub, MediaServer(tmp_path / "served") as media:
        settings = DownloadSettings(out_dir=tmp_path / "videos", url_template=f"{media.url}/{{id}}.mp4",
                                    max_duration=8, **NO_WAIT)

        def run() -> tuple[BuildSummary, list[str]]:
            reporter = quiet()
            summary = build(tmp_path / "data", tmp_path / "ids.txt", settings, endpoint=hub.url,
                            dataset="test-build", reporter=reporter)
            return summary, lines_of(reporter)

        first, first_lines = run()
        assert first.exit_code == 0, first_lines
        assert len(first.ids.written) == 3
        assert f"wrote 3 ids to {tmp_path / 'ids.txt'}" in first_lines
        assert (first.download.counts["ok"], first.download.counts["unavailable"]) == (2, 1)
        assert any(line.startswith("summary: 2 ok, 1 unavailable") for line in first_lines)
        assert (first.dataset.name, first.dataset.total, first.dataset.added) == ("test-build", 2, 2)
        assert any(line.startswith("fiftyone: dataset 'test-build' has 2 samples: 2 added") for line in first_lines)
        second, second_lines = run()
        assert second.exit_code == 0, second_lines
        assert not +second.download.new  # this run did nothing
        assert any(line.startswith("this run: nothing") for line in second_lines)
        assert (second.dataset.total, second.dataset.added, second.dataset.already) == (2, 0, 2)
        assert any(line.startswith("fiftyone: dataset 'test-build' has 2 samples: 0 added, 2 already there")
                   for line in second_lines)
    dataset = fo.load_dataset("test-build")
    assert sorted(dataset.values("video_uid")) == sorted(row["video_uid"] for row in rows[:2])
    assert all(value <= 8.1 for value in dataset.values("clip_seconds"))


def test_cli_build_flags_environment_lines_and_exit_code(tmp_path):
    rows = make_sample_rows(1, seed=5, video_seconds=(6, 6), max_depths=(3, 3))
    write_sample_repo(tmp_path / "repo", rows, shards=1)
    make_video(tmp_path / "served" / f"{rows[0]['video_uid']}.mp4", seconds=rows[0]["nodes"][0]["end"], width=320,
               height=180)
    with FakeHub({DEFAULT_REPO: tmp_path / "repo"}) as hub, MediaServer(tmp_path / "served") as media:
        env = {"HF_ENDPOINT": hub.url, "OUTPUT_DIR": str(tmp_path / "env-videos"), "MAX_DURATION": "3",
               "REELSET_URL_TEMPLATE": f"{media.url}/{{id}}.mp4"}
        result = CliRunner().invoke(cli, [
            "action100m", "build", "--data-dir", str(tmp_path / "data"), "--ids", str(tmp_path / "ids.txt"),
            "--sleep", "0", "--max-sleep", "0", "--sleep-requests", "0", "--name", "test-build-cli"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"wrote 1 ids to {tmp_path / 'ids.txt'}" in lines
    assert "summary: 1 ok, 0 unavailable, 0 blocked, 0 rate_limited, 0 env_error, 0 failed, 0 invalid, 0 pending" \
        in lines
    assert any(line.startswith("clips: 1 files, ") and line.endswith(f" in {tmp_path / 'env-videos'}")
               for line in lines)  # OUTPUT_DIR reached the download
    assert any(line.startswith("fiftyone: dataset 'test-build-cli' has 1 samples: 1 added") for line in lines)
    assert "open it with: reelset action100m app --name test-build-cli" in lines


def test_cli_build_passes_every_step_its_options_and_exits_with_the_download_status(tmp_path, monkeypatch):
    # The module itself: the package's attribute `build` is the function or the module, by import order.
    build_module = importlib.import_module("reelset.action100m.pipeline")
    calls = []

    def fake_build(data_dir, ids_file, download, **kwargs):
        calls.append((data_dir, ids_file, download, kwargs))
        kwargs["reporter"].line("fake build ran")
        return BuildSummary(ids=None, download=DownloadSummary(tmp_path / "v", counts=Counter(ok=1, failed=1)),
                            dataset=IngestSummary("x"))

    monkeypatch.setattr(build_module, "build", fake_build)
    env = {"REELSET_SCHEDULER": "tcp://127.0.0.1:1", "JOBS": "2", "MAX_VIDEOS": "0", "MAX_HEIGHT": "240"}
    result = CliRunner().invoke(cli, [
        "action100m", "build", "--data-dir", str(tmp_path / "data"), "--ids", str(tmp_path / "ids.txt"),
        "--out", str(tmp_path / "v"), "--max-duration", "5", "--limit", "7", "--seed", "3", "--name", "n",
        "--keep-na", "--stage2", "--overwrite", "--workers", "2", "--retry-failed"], env=env)
    assert result.exit_code == 4, result.output  # some ids still to retry
    assert result.output.splitlines() == ["fake build ran"]
    [(data_dir, ids_file, download, kwargs)] = calls
    assert (data_dir, ids_file) == (tmp_path / "data", tmp_path / "ids.txt")
    assert download == DownloadSettings(out_dir=tmp_path / "v", jobs=2, max_videos=None, max_height=240,
                                        max_duration=5.0, retry_failed=True)
    assert kwargs["executor"] == "tcp://127.0.0.1:1"
    assert (kwargs["limit"], kwargs["sample"], kwargs["seed"], kwargs["dataset"]) == (7, None, 3, "n")
    assert (kwargs["options"].keep_na, kwargs["options"].drop_crossing, kwargs["options"].stage2) == (True, False, True)
    assert (kwargs["overwrite"], kwargs["workers"]) == (True, 2)


def without_ids(labels) -> list[dict] | None:
    """Temporal detections as plain values, their ids (new in every build) left out."""
    if labels is None:
        return None
    return [{key: value for key, value in detection.to_dict().items() if key not in ("_id", "id")}
            for detection in labels.detections]


def test_build_on_a_dask_cluster_gives_the_local_dataset(tmp_path, local_cluster):
    rows = make_sample_rows(3, seed=4, video_seconds=(8, 10), max_depths=(6, 6))
    write_sample_repo(tmp_path / "repo", rows)
    for row in rows:
        make_video(tmp_path / "served" / f"{row['video_uid']}.mp4", seconds=row["nodes"][0]["end"], width=320,
                   height=180)
    with FakeHub({DEFAULT_REPO: tmp_path / "repo"}) as hub, MediaServer(tmp_path / "served") as media:
        def run(where: str, executor: str | None = None):
            reporter = quiet()
            settings = DownloadSettings(out_dir=tmp_path / where, url_template=f"{media.url}/{{id}}.mp4",
                                        max_duration=5, **NO_WAIT)
            summary = build(tmp_path / "data", tmp_path / "ids.txt", settings, endpoint=hub.url,
                            dataset=f"test-build-{where}", executor=executor, reporter=reporter)
            lines = lines_of(reporter)
            assert summary.exit_code == 0, lines
            assert summary.download.counts["ok"] == 3 and summary.dataset.added == 3
            assert any(line.startswith("summary: 3 ok") for line in lines)
            assert any("3 added" in line for line in lines)
            return fo.load_dataset(f"test-build-{where}"), lines

        local, _ = run("local")
        remote, lines = run("cluster", local_cluster.scheduler_address)
    assert any(line.startswith("dask: attempts run on the cluster at") for line in lines)
    for field in ("video_uid", "clip_seconds", "tree_depth"):
        assert remote.values(field) == local.values(field), field
    for field in ("gpt_summary_brief", "gpt_action_brief"):
        expected = [without_ids(labels) for labels in local.values(field)]
        assert [without_ids(labels) for labels in remote.values(field)] == expected, field
        assert all(expected)
    for name in (f"{row['video_uid']}.mp4" for row in rows):
        assert (tmp_path / "cluster" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
