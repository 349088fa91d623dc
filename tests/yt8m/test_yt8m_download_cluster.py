"""``yt8m download --scheduler``: a real Dask LocalCluster on 127.0.0.1 (2 worker processes, no dashboard) against a
local YouTube-8M mirror.

The workers download, check and rename the files; this process alone prints the lines and rewrites the plan. The
folder (files, partial files, plan) and the counts must be the local run's, whatever order the files finish in and
whichever worker dies.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.core.progress import Reporter
from reelset.sandbox.servers import Fault, MediaServer
from reelset.sandbox.yt8m_mirror import sample_bytes, write_partition
from reelset.yt8m.download import (
    FileTask,
    config_from_environment,
    download_partition,
    download_task,
    local_name,
)
from tests.support.cluster import BusyWorkerKiller

distributed = pytest.importorskip("distributed")

PARTITION = "2/frame/train"
PLAN_NAME = "2_frame_train_download_plan.json"
# Shard 1,1000 of the full train plan; sizes differ so that the files finish out of order.
SIZES = {"traindw.tfrecord": 90_000, "traineA.tfrecord": 4_000, "trainha.tfrecord": 60_000,
         "trainjw.tfrecord": 1_000, "trainI1.tfrecord": 30_000}
NAMES = list(SIZES)
ALL_DONE = "All done. No more files to download."


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirror")
    return write_partition(root, PARTITION, {name: sample_bytes(name, size) for name, size in SIZES.items()})


@pytest.fixture()
def server(mirror):
    with MediaServer(mirror.plan_path.parents[2]) as media:
        yield media


@pytest.fixture(scope="module")
def local_run(mirror, tmp_path_factory):
    """The local run's folder, summary and lines (its own server: the request log is the tests')."""
    out = tmp_path_factory.mktemp("local") / "out"
    with MediaServer(mirror.plan_path.parents[2]) as media:
        summary, lines = run(media, out)
        return out, summary, lines, media.url


def run(server, out: Path, *, scheduler=None, shard: str = "1,1000", **options):
    reporter = Reporter(interactive=False, out=io.StringIO(), err=io.StringIO())
    config = config_from_environment(partition=PARTITION, mirror="us", shard=shard, environ={}, out_dir=out,
                                      plan_base_url=server.url, data_base_url=server.url, jobs=2, retries=2,
                                      backoff=0.01, **options)
    summary = download_partition(config, reporter, executor=scheduler)
    return summary, reporter.out.getvalue().splitlines()


def folder(out: Path) -> dict[str, bytes]:
    """Everything in the output folder, hidden files included, by name."""
    return {path.name: path.read_bytes() for path in sorted(out.iterdir())}


def gets(server, remote_name: str) -> list[tuple[str | None, int]]:
    return [(r.headers.get("range"), r.status) for r in server.requests
            if r.method == "GET" and r.path.endswith(f"/{remote_name}")]


def same_lines(lines: list[str], local_lines: list[str], local_url: str, url: str) -> bool:
    """The same lines as the local run's, the per-file ones in any order (tasks finish in any order)."""
    local_lines = [line.replace(local_url, url) for line in local_lines]
    return (lines[:4] == local_lines[:4] and lines[-1] == local_lines[-1]
            and sorted(lines[4:-1]) == sorted(local_lines[4:-1]))


def test_same_folder_plan_lines_and_counts_as_the_local_run(dask_client, server, mirror, local_run, tmp_path):
    local_out, local, local_lines, local_url = local_run
    out = tmp_path / "out"
    summary, lines = run(server, out, scheduler=dask_client)
    assert lines[-1] == ALL_DONE and not summary.failed
    assert same_lines(lines, local_lines, local_url, server.url)
    assert len(lines) == len(local_lines) == 4 + 2 * len(NAMES) + 1
    # Counts exact: every file downloaded once, none twice, nothing skipped.
    assert sorted(summary.downloaded) == sorted(local.downloaded) == sorted(map(local_name, NAMES))
    assert summary.bytes_downloaded == local.bytes_downloaded == sum(SIZES.values())
    assert all(gets(server, name) == [(None, 200)] for name in NAMES)
    # Same files, same plan (byte for byte, as the official script writes it), nothing else left behind.
    assert folder(out) == folder(local_out)
    assert json.loads((out / PLAN_NAME).read_text())["files"].keys().isdisjoint(NAMES)
    for name in NAMES:
        assert hashlib.md5((out / local_name(name)).read_bytes()).hexdigest() == mirror.files[name]

    server.clear_requests()
    rerun, lines = run(server, out, scheduler=dask_client)
    assert lines == ["Resuming download ...", "Files remaining 0", ALL_DONE]
    assert rerun.downloaded == [] and server.requests == []


def test_resumes_what_a_local_run_or_a_dead_attempt_left(dask_client, server, mirror, local_run, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / PLAN_NAME).write_bytes(mirror.plan_path.read_bytes())
    data = {name: mirror.written[name].read_bytes() for name in NAMES}
    local_part, in_place, two_parts, renamed, fresh = NAMES
    (out / f"{local_name(local_part)}.part").write_bytes(data[local_part][:1000])  # a local run's
    (out / local_name(in_place)).write_bytes(data[in_place])
    (out / f"{local_name(two_parts)}.part").write_bytes(data[two_parts][:500])
    (out / f".{local_name(two_parts)}.0123456789ab.part").write_bytes(data[two_parts][:2000])  # a dead worker's
    (out / f".{local_name(renamed)}.ba9876543210").write_bytes(data[renamed])  # died between its two renames

    summary, lines = run(server, out, scheduler=dask_client)
    assert lines[:2] == ["Resuming download ...", "Files remaining 5"] and lines[-1] == ALL_DONE
    assert f"Skipping already downloaded file {local_name(in_place)}" in lines
    assert summary.already_there == [local_name(in_place)] and gets(server, in_place) == []
    assert gets(server, local_part) == [("bytes=1000-", 206)]
    assert gets(server, two_parts) == [("bytes=2000-", 206)]  # the longer partial file, the other deleted
    assert gets(server, renamed) == [(f"bytes={SIZES[renamed]}-", 416)]  # complete: only its md5 was checked
    assert gets(server, fresh) == [(None, 200)]
    assert sorted(summary.downloaded) == sorted(local_name(name) for name in NAMES if name != in_place)
    assert summary.bytes_downloaded == sum(SIZES.values()) - SIZES[in_place]
    assert folder(out) == folder(local_run[0])


def test_a_worker_killed_mid_file_loses_nothing(dask_client, tmp_path):
    root = tmp_path / "slow-mirror"
    big = {name: sample_bytes(name, 400_000) for name in NAMES[:4]}
    written = write_partition(root, PARTITION, big, full_plan=False)
    out = tmp_path / "out"
    killer = BusyWorkerKiller(dask_client)
    with MediaServer(root, bytes_per_second=200_000) as media, ThreadPoolExecutor(1) as background:
        running = background.submit(run, media, out, scheduler=dask_client, shard="1,1")
        deadline = time.monotonic() + 30
        # Both workers are mid-file: each has written part of a file to its attempt's own .part.
        while sum(path.stat().st_size > 0 for path in out.glob(".*.part")) < 2:
            assert time.monotonic() < deadline and not running.done(), "the workers never got to a partial file"
            time.sleep(0.02)
        killer()
        assert killer.killed, "no busy worker to kill"
        media.bytes_per_second = None
        summary, lines = running.result(timeout=120)
        resumed = [r for r in media.requests if r.method == "GET" and r.headers.get("range")]
    assert lines[-1] == ALL_DONE and not summary.failed
    assert sorted(summary.downloaded) == sorted(map(local_name, big)) and summary.already_there == []
    assert summary.bytes_downloaded == 4 * 400_000
    for name, content in big.items():
        assert (out / local_name(name)).read_bytes() == content
        assert hashlib.md5(content).hexdigest() == written.files[name]
    # The rerun took up what the dead worker had written instead of starting over.
    assert [r.status for r in resumed] == [206]
    assert json.loads((out / PLAN_NAME).read_text()) == {"files": {}}
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [PLAN_NAME, f".{PLAN_NAME}.lock", *map(local_name, big)])
    assert killer.replaced()


def test_failures_are_reported_by_name_and_leave_the_local_runs_folder(dask_client, tmp_path):
    root = tmp_path / "bad-mirror"
    bad, dead = NAMES[2], NAMES[0]
    contents = {name: sample_bytes(name, size) for name, size in SIZES.items()}
    write_partition(root, PARTITION, contents, md5_overrides={bad: "0" * 32})
    runs = {}
    with MediaServer(root) as media:
        media.set_fault(f"/{dead}", Fault("drop", after_bytes=0))
        for where, scheduler in (("local", None), ("cluster", dask_client)):
            media.clear_requests()
            runs[where] = (*run(media, tmp_path / where, scheduler=scheduler), folder(tmp_path / where))
            assert len(gets(media, bad)) == 2  # downloaded once more before giving up, on the cluster too
    (local, local_lines, local_folder), (remote, lines, remote_folder) = runs["local"], runs["cluster"]
    assert f"Error downloading {bad}. MD5 does not match!" in lines
    assert sorted(lines) == sorted(local_lines) and ALL_DONE not in lines
    assert sorted(remote.failed, key=str) == sorted(local.failed, key=str)
    assert {failure.remote_name for failure in remote.failed} == {bad, dead}
    assert f"{local_name(bad)}: md5 does not match after 2 download(s)" in str(remote.failed)
    with pytest.raises(ReelsetError, match="2 of 5 file\\(s\\) not downloaded: "):
        remote.check()
    # Nothing under the bad file's name; the dead one's empty partial file kept where the local run keeps it.
    assert remote_folder == local_folder
    assert local_name(bad) not in remote_folder and f"{local_name(dead)}.part" in remote_folder
    plan = json.loads(remote_folder[PLAN_NAME])["files"]
    assert bad in plan and dead in plan and not plan.keys() & {NAMES[1], NAMES[3], NAMES[4]}


def test_a_worker_that_does_not_see_the_folder_does_not_write_elsewhere(dask_client, server, mirror, tmp_path):
    name = NAMES[3]
    missing = tmp_path / "not-shared"
    task = FileTask(f"{server.url}/{PARTITION}/{name}", mirror.files[name], str(missing / local_name(name)), 5.0, 1,
                    0.01)
    result = dask_client.submit(download_task, task, pure=False).result()
    assert result.outcome == "failed" and result.size == 0
    assert result.error.startswith(f"{missing}: no such folder on worker ")
    assert not missing.exists() and gets(server, name) == []


def test_a_scheduler_address_gives_the_local_runs_folder_and_lines(local_cluster, server, local_run, tmp_path):
    local_out, _, local_lines, local_url = local_run
    out = tmp_path / "address"
    summary, lines = run(server, out, scheduler=local_cluster.scheduler_address)
    summary.check()  # nothing failed
    assert same_lines(lines, local_lines, local_url, server.url)
    assert folder(out) == folder(local_out)
    assert all(len(gets(server, name)) == 1 for name in NAMES)  # once each: the workers downloaded them


def test_cli_with_the_flag_and_with_the_environment(server, tmp_path):
    runner = CliRunner()
    flags = ["--partition", PARTITION, "--mirror", "us", "--shard", "1,1000", "--plan-base-url", server.url,
             "--data-base-url", server.url]
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        nowhere = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    out = tmp_path / "unreachable"
    for extra, env in ((["--scheduler", nowhere], {"REELSET_SCHEDULER": None}),
                       ([], {"REELSET_SCHEDULER": nowhere})):
        result = runner.invoke(cli, ["yt8m", "download", *flags, "--out", str(out), *extra], env=env)
        assert result.exit_code == 1 and "cannot reach the Dask scheduler" in result.stderr
        assert result.stdout == ""
        assert not out.exists()  # refused before the plan was fetched
    result = runner.invoke(cli, ["yt8m", "download", *flags, "--out", str(out), "--dry-run"],
                           env={"REELSET_SCHEDULER": nowhere})
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"total: 5 files, {sum(SIZES.values())} bytes"
    help_text = " ".join(runner.invoke(cli, ["yt8m", "download", "--help"]).output.split())
    assert "renamed into place by a worker, straight into --out" in help_text and "REELSET_SCHEDULER" in help_text
