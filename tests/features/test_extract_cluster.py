"""``yt8m extract --scheduler``: a real Dask LocalCluster on 127.0.0.1 (2 worker processes, no dashboard).

The reference is the local run in this process with one torch thread: Dask's workers run with OMP_NUM_THREADS=1,
and CPU convolutions sum in an order that depends on the thread count (mean_rgb would differ in its last bits).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.features.extraction import ExtractSettings, VideoInput, extract
from reelset.sandbox.media import make_video
from reelset.yt8m.records import read_records
from tests.support.cluster import BusyWorkerKiller

distributed = pytest.importorskip("distributed")
torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow

VIDEOS = 8


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cluster-videos")
    for index in range(VIDEOS):
        make_video(root / f"clip {index}.mp4", seconds=2, width=96, height=64, fps=8 + index,  # distinct files
                   pattern=("testsrc2", "smptebars")[index % 2])
    return root


@pytest.fixture(scope="module")
def inputs(folder) -> list[VideoInput]:
    """As a CSV would give them: relative paths (to the folder, the working directory of the tests below), labels,
    and one video that does not exist."""
    videos = [VideoInput(f"clip {index}.mp4", (index, 100 + index)) for index in range(VIDEOS)]
    return videos[:3] + [VideoInput("missing.mp4", (1,))] + videos[3:]


@pytest.fixture()
def in_folder(folder, monkeypatch) -> Path:
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture(scope="module")
def reference(folder, inputs, tmp_path_factory) -> tuple[bytes, object]:
    """The local run (no cache), with one torch thread like a Dask worker."""
    out = tmp_path_factory.mktemp("reference") / "local.tfrecord"
    threads = torch.get_num_threads()
    cwd = os.getcwd()
    torch.set_num_threads(1)
    os.chdir(folder)
    try:
        summary = extract(inputs, out, ExtractSettings(use_cache=False, device="cpu"))
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
    return out.read_bytes(), summary


def test_same_file_as_the_local_run_and_same_summary(client, inputs, reference, in_folder, tmp_path):
    out = tmp_path / "cluster.tfrecord"
    seen = []
    summary = extract(inputs, out, ExtractSettings(use_cache=False, device="cpu"), executor=client,
                      on_video=lambda video, error: seen.append((video.path, error)))
    local_bytes, local_summary = reference
    assert out.read_bytes() == local_bytes
    assert summary.line == local_summary.line == f"Successfully encoded {VIDEOS} out of {VIDEOS + 1} videos"
    assert summary.failures == local_summary.failures == ["missing.mp4: no such file"]
    assert (summary.frames, summary.max_quantization_error) == (local_summary.frames,
                                                                local_summary.max_quantization_error)
    assert [path for path, _ in seen] == [video.path for video in inputs]  # in input order
    assert [record["id"] for record in read_records(out)] == [video.path for video in inputs
                                                              if video.path != "missing.mp4"]


def test_a_worker_killed_mid_run_loses_nothing(client, inputs, reference, in_folder, tmp_path):
    killer = BusyWorkerKiller(client)
    out = tmp_path / "killed.tfrecord"
    summary = extract(inputs, out, ExtractSettings(use_cache=False, device="cpu"), executor=client, on_video=killer)
    assert killer.killed, "no busy worker to kill"
    assert out.read_bytes() == reference[0]  # every record, once, in order
    assert (summary.encoded, summary.total, len(summary.failures)) == (VIDEOS, VIDEOS + 1, 1)
    assert killer.replaced()  # the nanny started a new worker process


def test_scheduler_and_shared_cache(local_cluster, inputs, reference, in_folder, tmp_path):
    out = tmp_path / "cached.tfrecord"
    settings = ExtractSettings(device="cpu", cache_dir=Path("cache"))  # relative: made absolute for the workers
    first = extract(inputs, out, settings, executor=local_cluster.scheduler_address)
    assert first.failures == ["missing.mp4: no such file"]  # the missing video
    assert first.line == f"Successfully encoded {VIDEOS} out of {VIDEOS + 1} videos"
    assert out.read_bytes() == reference[0]
    assert len(list((in_folder / "cache" / "features").rglob("*.npz"))) == VIDEOS  # written by the workers
    out.unlink()
    again = extract(inputs, out, settings, executor=local_cluster.scheduler_address)
    assert again.from_cache == VIDEOS
    assert out.read_bytes() == reference[0]


def test_unreachable_scheduler_is_one_line_before_anything_is_written(inputs, in_folder, tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "never.tfrecord"
    result = CliRunner().invoke(cli, ["yt8m", "extract", "--input_videos_csv", ".", "--output_tfrecords_file",
                                      str(out), "--scheduler", f"127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(f"error: --scheduler 127.0.0.1:{port}: cannot reach")
    assert not out.exists() and not list(tmp_path.iterdir())
