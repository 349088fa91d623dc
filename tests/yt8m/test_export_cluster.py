"""``yt8m export --out-dir --scheduler``: a real Dask LocalCluster on 127.0.0.1 (2 worker processes, no dashboard).

Each input file is encoded on a worker and written by the calling process: the files must be the bytes the local
run writes, whatever order the tasks finish in and whichever worker dies.
"""

from __future__ import annotations

import socket

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.sandbox.yt8m_sample import write_sample_shard
from reelset.yt8m.export import export_per_file, export_records
from reelset.yt8m.records import read_records
from tests.support.cluster import BusyWorkerKiller

distributed = pytest.importorskip("distributed")

FILES = 8


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("yt8m-cluster")
    # Sizes vary (the first is the largest), so tasks finish out of order.
    return [write_sample_shard(root / f"train{index:04d}.tfrecord", "frame", 30 - 2 * index, seed=index,
                               frames=150) for index in range(FILES)]


@pytest.fixture(scope="module")
def local_run(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "parts"
    return out, export_per_file(shards, out)


def contents(summary) -> list[bytes]:
    return [path.read_bytes() for path in summary.files]


def test_same_files_as_the_local_run(client, shards, local_run, tmp_path):
    local_out, local = local_run
    done = []
    summary = export_per_file(shards, tmp_path / "parts", executor=client, on_file=done.append)
    assert contents(summary) == contents(local)
    assert [path.name for path in summary.files] == [f"train{index:04d}.parquet" for index in range(FILES)]
    assert done == list(summary.files)
    expected_records = sum(30 - 2 * index for index in range(FILES))
    assert (summary.records, summary.frames, summary.columns) == (local.records, local.frames, local.columns)
    assert summary.records == expected_records and summary.frames == 150 * expected_records
    dataset = pq.read_table(tmp_path / "parts")  # the folder reads as one table
    assert dataset.num_rows == expected_records
    assert sorted(dataset.column("id").to_pylist()) == sorted(record["id"] for record in read_records(shards))


def test_one_file_per_input_is_the_single_file_export_of_that_input(local_run, shards, tmp_path):
    _, local = local_run
    single = tmp_path / "one.parquet"
    export_records([shards[2]], single)
    assert single.read_bytes() == local.files[2].read_bytes()


def test_npz_dequantized_on_the_cluster(client, shards, tmp_path):
    local = export_per_file(shards[:3], tmp_path / "local", to="npz", dequantize=True)
    remote = export_per_file(shards[:3], tmp_path / "remote", to="npz", dequantize=True, executor=client)
    assert contents(remote) == contents(local)
    with np.load(remote.files[0]) as data:
        assert data["rgb"].dtype == np.float32 and len(data["rgb_offsets"]) == 31


def test_a_worker_killed_mid_run_loses_nothing(client, shards, local_run, tmp_path):
    killer = BusyWorkerKiller(client)
    summary = export_per_file(shards, tmp_path / "parts", executor=client, on_file=killer)
    assert killer.killed, "no busy worker to kill"
    assert contents(summary) == contents(local_run[1])
    assert summary.records == local_run[1].records
    assert killer.replaced()


def test_corrupt_records_stop_or_are_skipped_in_file_order(client, shards, tmp_path):
    data = bytearray(shards[1].read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad0001.tfrecord"
    bad.write_bytes(bytes(data))
    inputs = [shards[0], bad, shards[2]]
    with pytest.raises(ReelsetError, match=rf"{bad}: record \d+ at byte \d+"):
        export_per_file(inputs, tmp_path / "stopped", executor=client)
    assert [path.name for path in (tmp_path / "stopped").iterdir()] == ["train0000.parquet"]  # finished before
    good = sum(1 for _ in read_records(inputs, skip_corrupt=True, on_corrupt=lambda message: None))
    runs = {}
    for scheduler in (None, client):
        skipped = []
        runs[scheduler is None] = export_per_file(inputs, tmp_path / f"skipped-{scheduler is None}",
                                                  skip_corrupt=True, on_corrupt=skipped.append, executor=scheduler)
        assert len(skipped) == 1 and skipped[0].startswith(f"{bad}: record ")
        assert runs[scheduler is None].records == good < 30 + 28 + 26
    assert contents(runs[True]) == contents(runs[False])


def test_refusals(client, shards, tmp_path):
    video_level = write_sample_shard(tmp_path / "video0000.tfrecord", "video", 3, seed=9)
    with pytest.raises(ReelsetError, match="other features than"):
        export_per_file([shards[0], video_level], tmp_path / "mixed", executor=client)
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / shards[0].name).write_bytes(shards[0].read_bytes())
    with pytest.raises(ReelsetError, match="would both be exported to"):
        export_per_file([shards[0], twin / shards[0].name], tmp_path / "twins")


def test_a_scheduler_address_gives_the_local_runs_files(local_cluster, shards, local_run, tmp_path):
    out_dir = tmp_path / "parts"
    summary = export_per_file(shards, out_dir, to="parquet", executor=local_cluster.scheduler_address)
    records = local_run[1].records
    assert (summary.records, summary.frames, len(summary.files), summary.out, summary.columns) == (
        records, 150 * records, FILES, out_dir, ["id", "labels", "rgb", "audio"])
    assert [path.read_bytes() for path in sorted(out_dir.iterdir())] == contents(local_run[1])


def test_cli(shards, tmp_path):
    runner = CliRunner()
    out_dir = tmp_path / "cli-parts"
    result = runner.invoke(cli, ["yt8m", "export", *map(str, shards[-2:]), "--to", "parquet", "--out-dir",
                                 str(out_dir)])
    assert result.exit_code == 0, result.output
    records = sum(1 for _ in read_records(shards[-2:]))
    assert result.output == f"exported {records} records ({150 * records} frames) to 2 files in {out_dir}: id, " \
                            "labels, rgb, audio\n"
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        nowhere = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    result = runner.invoke(cli, ["yt8m", "export", str(shards[-1]), "--to", "parquet", "--out-dir",
                                 str(tmp_path / "never"), "--scheduler", nowhere])
    assert result.exit_code == 1 and result.output.startswith(f"error: --scheduler {nowhere}: cannot reach")
    single = tmp_path / "all.parquet"
    result = runner.invoke(cli, ["yt8m", "export", str(shards[-1]), "--to", "parquet", "--out", str(single)],
                           env={"REELSET_SCHEDULER": nowhere})
    assert result.exit_code == 0 and result.output.startswith("note: one output file is encoded in this process")
    result = runner.invoke(cli, ["yt8m", "export", str(shards[0]), "--to", "parquet", "--out", str(single),
                                 "--out-dir", str(out_dir)])
    assert result.exit_code == 2 and "exactly one of --out FILE and --out-dir FOLDER" in result.output
