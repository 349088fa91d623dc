"""`action100m build`: ids, download and fiftyone in one command against the local hub and video server."""

from __future__ import annotations

import fiftyone as fo
from click.testing import CliRunner

from reelset.action100m.hub import DEFAULT_REPO
from reelset.cli import cli
from reelset.sandbox.action100m_sample import make_sample_rows, write_sample_repo
from reelset.sandbox.media import make_video
from reelset.sandbox.servers import FakeHub, MediaServer


def test_build_runs_all_three_steps_and_resumes(tmp_path):
    rows = make_sample_rows(3, seed=9, video_seconds=(10, 14), max_depths=(8, 8))
    write_sample_repo(tmp_path / "repo", rows)
    for row in rows[:2]:  # the third video is gone
        make_video(tmp_path / "served" / f"{row['video_uid']}.mp4", seconds=row["nodes"][0]["end"], width=320,
                   height=180)
    with FakeHub({DEFAULT_REPO: tmp_path / "repo"}) as hub, MediaServer(tmp_path / "served") as media:
        args = ["action100m", "build", "--data-dir", str(tmp_path / "data"), "--ids", str(tmp_path / "ids.txt"),
                "--out", str(tmp_path / "videos"), "--endpoint", hub.url, "--url-template", f"{media.url}/{{id}}.mp4",
                "--sleep", "0", "--max-sleep", "0", "--sleep-requests", "0", "--max-duration", "8",
                "--name", "test-build"]
        first = CliRunner().invoke(cli, args)
        assert first.exit_code == 0, first.output
        assert "wrote 3 ids to" in first.output
        assert "summary: 2 ok, 1 unavailable" in first.output
        assert "fiftyone: dataset 'test-build' has 2 samples: 2 added" in first.output
        second = CliRunner().invoke(cli, args)
        assert second.exit_code == 0, second.output
        assert "this run: nothing" in second.output
        assert "fiftyone: dataset 'test-build' has 2 samples: 0 added, 2 already there" in second.output
    dataset = fo.load_dataset("test-build")
    assert sorted(dataset.values("video_uid")) == sorted(row["video_uid"] for row in rows[:2])
    assert all(value <= 8.1 for value in dataset.values("clip_seconds"))


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
        def build(where: str, *extra: str):
            args = ["action100m", "build", "--data-dir", str(tmp_path / "data"), "--ids", str(tmp_path / "ids.txt"),
                    "--out", str(tmp_path / where), "--endpoint", hub.url, "--url-template",
                    f"{media.url}/{{id}}.mp4", "--sleep", "0", "--max-sleep", "0", "--sleep-requests", "0",
                    "--max-duration", "5", "--name", f"test-build-{where}", *extra]
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, result.output
            assert "summary: 3 ok" in result.output and "3 added" in result.output
            return fo.load_dataset(f"test-build-{where}"), result.output

        local, _ = build("local")
        remote, output = build("cluster", "--scheduler", local_cluster.scheduler_address)
    assert "dask: attempts run on the cluster at" in output
    for field in ("video_uid", "clip_seconds", "tree_depth"):
        assert remote.values(field) == local.values(field), field
    for field in ("gpt_summary_brief", "gpt_action_brief"):
        expected = [without_ids(labels) for labels in local.values(field)]
        assert [without_ids(labels) for labels in remote.values(field)] == expected, field
        assert all(expected)
    for name in (f"{row['video_uid']}.mp4" for row in rows):
        assert (tmp_path / "cluster" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
