"""``action100m fiftyone --scheduler``: a real Dask LocalCluster on 127.0.0.1 (2 worker processes, no dashboard),
real FiftyOne (the session's private MongoDB), real parquet and mp4 clips.

The workers probe the clips and make the documents; this process inserts them. The reference is the local build:
the stored documents must be the same, in the same order, but for ids and timestamps.
"""

from __future__ import annotations

import copy
import os
import socket
import time

import fiftyone as fo
import pytest
from click.testing import CliRunner

from reelset.action100m.dataset import build_dataset, summary_lines
from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.sandbox.action100m_sample import make_sample_rows, write_parquet
from reelset.sandbox.media import make_video
from tests.support.cluster import BusyWorkerKiller

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

CLIPS = 5
VOLATILE = {"_id", "_dataset_id", "created_at", "last_modified_at", "_rand"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Seven rows in four row groups: five with a clip (one of them not a tree), one with a broken clip, one
    without a clip; and a clip without a row."""
    root = tmp_path_factory.mktemp("a100m-cluster")
    rows = make_sample_rows(7, seed=11, video_seconds=(30, 50), max_depths=(6, 7))
    rows[2] = copy.deepcopy(rows[2])
    rows[2]["nodes"].append(dict(rows[2]["nodes"][-1], node_id="orphan", parent_id="nobody"))
    write_parquet(rows, root / "data" / "data" / "part-00000.parquet", row_group_size=2)
    videos = root / "videos"
    ids = [row["video_uid"] for row in rows]
    for index, video_id in enumerate(ids[:CLIPS]):
        make_video(videos / f"{video_id}.mp4", seconds=4 + index, width=160, height=90, fps=10, faststart=True,
                   audio=None)
    (videos / f"{ids[5]}.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom broken file")
    make_video(videos / "NoRowForMe1.mp4", seconds=2, width=64, height=64, fps=10, audio=None)
    return {"root": root, "ids": ids}


@pytest.fixture()
def in_root(corpus, monkeypatch):
    """The corpus root as the working directory: the folders are given relative, the tasks need absolute paths."""
    monkeypatch.chdir(corpus["root"])
    return corpus["root"]


def documents(name: str) -> list[dict]:
    """The dataset's stored documents in id order (the insertion order), without ids and timestamps (at any
    depth: labels have ids too)."""
    def stable(value):
        if isinstance(value, list):
            return [stable(item) for item in value]
        return {key: stable(item) for key, item in value.items() if key not in VOLATILE} if isinstance(
            value, dict) else value

    return [stable(document) for document in fo.load_dataset(name)._sample_collection.find({}).sort("_id", 1)]


def counts(summary) -> tuple:
    return (summary.added, summary.already, summary.no_clip, summary.total, summary.broken, summary.tree_problems)


@pytest.fixture(scope="module")
def reference(corpus):
    """The local build (threads in this process), with relative folders."""
    cwd = os.getcwd()
    os.chdir(corpus["root"])
    try:
        summary = build_dataset("data", "videos", name="test-a100m-cluster-local", overwrite=True)
    finally:
        os.chdir(cwd)
    return summary, documents("test-a100m-cluster-local")


def test_the_local_reference_is_what_the_checks_below_need(corpus, reference):
    summary, stored = reference
    ids = corpus["ids"]
    assert (summary.added, summary.no_clip, summary.total) == (CLIPS, 1, CLIPS)
    assert len(summary.broken) == 1 and summary.broken[0].startswith(f"{ids[5]}: ")
    assert len(summary.tree_problems) == 1 and "nobody" in summary.tree_problems[0]
    assert [document["video_uid"] for document in stored] == ids[:CLIPS]  # row order
    assert {document["filepath"] for document in stored} == {
        str((corpus["root"] / "videos" / f"{video_id}.mp4").resolve()) for video_id in ids[:CLIPS]}


def test_same_dataset_as_the_local_build(dask_client, reference, in_root):
    problems = []
    summary = build_dataset("data", "videos", name="test-a100m-cluster", overwrite=True, executor=dask_client,
                            on_problem=problems.append)
    assert counts(summary) == counts(reference[0])
    assert documents("test-a100m-cluster") == reference[1]
    local, remote = fo.load_dataset("test-a100m-cluster-local"), fo.load_dataset("test-a100m-cluster")
    assert remote.get_field_schema(flat=True).keys() == local.get_field_schema(flat=True).keys()
    assert len(problems) == 2 and problems[0].startswith("tree ") and problems[1].startswith("skipped ")
    again = build_dataset("data", "videos", name="test-a100m-cluster", executor=dask_client)
    assert (again.added, again.already, again.total) == (0, CLIPS, CLIPS)


@pytest.fixture()
def slow_workers(dask_client):
    """Each clip's task takes half a second on the workers there now (a worker started later is not slowed), so
    a worker is surely busy when the test kills it."""

    def slow_down() -> None:
        from reelset.action100m import dataset

        original = dataset.probe_clip

        def slow_probe(*args, **kwargs):
            time.sleep(0.5)
            return original(*args, **kwargs)

        slow_probe.original = original
        dataset.probe_clip = slow_probe

    def restore() -> None:
        from reelset.action100m import dataset

        dataset.probe_clip = getattr(dataset.probe_clip, "original", dataset.probe_clip)

    dask_client.run(slow_down)
    yield
    dask_client.run(restore)


def test_a_worker_killed_mid_run_loses_nothing(dask_client, slow_workers, reference, in_root):
    killer = BusyWorkerKiller(dask_client)
    summary = build_dataset("data", "videos", name="test-a100m-cluster-killed", overwrite=True,
                            executor=dask_client, on_added=killer)
    assert killer.killed, "no busy worker to kill"
    assert counts(summary) == counts(reference[0])  # exact counts: nothing lost, nothing twice
    assert documents("test-a100m-cluster-killed") == reference[1]
    assert killer.replaced()  # the nanny started a new worker process


def test_a_scheduler_address_builds_the_local_dataset_then_adds_nothing(local_cluster, corpus, reference, in_root):
    problems = []
    summary = build_dataset("data", "videos", name="test-a100m-cluster-address", overwrite=True,
                            executor=local_cluster.scheduler_address, on_problem=problems.append)
    lines = problems + summary_lines(summary)
    assert any(line.startswith(f"skipped {corpus['ids'][5]}: ") for line in lines)
    assert any(line.startswith(f"tree {corpus['ids'][2]}: ") for line in lines)
    assert f"fiftyone: dataset 'test-a100m-cluster-address' has {CLIPS} samples: {CLIPS} added, 0 already there, " \
           "1 broken clips skipped, 1 clips without a parquet row, 1 malformed trees" in lines
    assert documents("test-a100m-cluster-address") == reference[1]
    again = build_dataset("data", "videos", name="test-a100m-cluster-address",
                          executor=local_cluster.scheduler_address)
    assert any(f"has {CLIPS} samples: 0 added, {CLIPS} already there" in line for line in summary_lines(again))


def test_cli_takes_the_scheduler_from_the_flag_or_the_environment(in_root):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["action100m", "fiftyone", "--data-dir", "data", "--videos", "videos", "--name", "test-a100m-cluster-cli"]
    for extra, env in ((["--scheduler", f"127.0.0.1:{port}"], {"REELSET_SCHEDULER": None}),
                       ([], {"REELSET_SCHEDULER": f"127.0.0.1:{port}"})):
        result = CliRunner().invoke(cli, [*args, *extra], env=env)
        assert result.exit_code == 1, result.output
        assert result.output.startswith(f"error: --scheduler 127.0.0.1:{port}: cannot reach the Dask scheduler")
        assert result.output.count("\n") == 1
    assert not fo.dataset_exists("test-a100m-cluster-cli")


def test_unreachable_scheduler_fails_before_the_dataset_is_touched(in_root):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ReelsetError, match=rf"--scheduler 127.0.0.1:{port}: cannot reach the Dask scheduler"):
        build_dataset("data", "videos", name="test-a100m-cluster-never", executor=f"127.0.0.1:{port}")
    assert not fo.dataset_exists("test-a100m-cluster-never")
