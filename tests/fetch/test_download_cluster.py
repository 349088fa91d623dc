"""``action100m download --scheduler``: real yt-dlp and ffmpeg on the workers of a Dask LocalCluster on 127.0.0.1
(2 worker processes), against the Range-capable media server. Politeness must hold for the cluster as a whole."""

from __future__ import annotations

import json
import threading
import time

import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.fetch.download import DownloadSettings, download_videos
from reelset.fetch.ytdlp import YtdlpSession
from reelset.sandbox.servers import Fault
from reelset.scale.cluster import ClusterPacer
from tests.support.cluster import BusyWorkerKiller
from tests.support.downloads import fast_settings, status_records

distributed = pytest.importorskip("distributed")

CLIP_FIELDS = ("status", "clip_seconds", "bytes", "width", "height", "mode")


def settings_for(out_dir, server, sources, **overrides) -> DownloadSettings:
    return fast_settings(out_dir, server, sources, **{"jobs": 4, "socket_timeout": 5, **overrides})


def status_of(out_dir) -> dict[str, dict]:
    return status_records(out_dir)


def page_requests(server) -> list[float]:
    """When the server saw each video page request (what YouTube counts and rate-limits), in order."""
    return sorted(record.time for record in server.requests if record.path.startswith("/watch/"))


def variables_left(client) -> list[str]:
    """The names of the Variables still on the scheduler once deletions (sent, not awaited) have landed."""
    for _ in range(50):
        names = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.extensions["variables"].variables))
        if not names:
            break
        time.sleep(0.1)
    return names


def test_same_clips_and_status_as_the_local_run(tmp_path, media_server, sources, dask_client, quiet_reporter):
    ids = [sources.TALL, sources.FITS, sources.HLS, sources.SILENT, sources.GONE, "../etc/passwd"]
    local = download_videos(ids, settings_for(tmp_path / "local", media_server, sources), quiet_reporter)
    with distributed.get_task_stream(client=dask_client) as stream:
        remote = download_videos(ids, settings_for(tmp_path / "remote", media_server, sources), quiet_reporter,
                                 executor=dask_client)
    assert len({task["worker"] for task in stream.data}) == 2  # both workers made attempts
    assert remote.counts == local.counts and remote.counts["ok"] == 4 and remote.exit_code == local.exit_code
    local_status, remote_status = status_of(tmp_path / "local"), status_of(tmp_path / "remote")
    assert set(remote_status) == set(local_status)
    for video_id, record in local_status.items():
        assert {key: remote_status[video_id].get(key) for key in CLIP_FIELDS} == \
               {key: record.get(key) for key in CLIP_FIELDS}, video_id
    for video_id in ids[:4]:
        assert (tmp_path / "remote" / f"{video_id}.mp4").read_bytes() == \
               (tmp_path / "local" / f"{video_id}.mp4").read_bytes()
        assert "[reelset] ok:" in (tmp_path / "remote" / "logs" / f"{video_id}.log").read_text()
    assert (tmp_path / "remote" / "missing_ids.txt").read_text() == f"{sources.GONE}\n"
    assert not (tmp_path / "remote" / ".partial").exists()
    assert not any(name.startswith("reelset-") for name in variables_left(dask_client))


def test_the_rate_limit_holds_across_all_workers(tmp_path, media_server, sources, dask_client, quiet_reporter):
    ids = [sources.TALL, sources.FITS, sources.ODD, sources.SHORT, sources.SILENT]
    media_server.set_fault(f"/watch/{sources.ODD}", Fault("status", status=503, times=1))  # a retry is paced too
    media_server.clear_requests()
    with distributed.get_task_stream(client=dask_client) as stream:
        summary = download_videos(ids, settings_for(tmp_path / "v", media_server, sources, sleep=1, max_sleep=1),
                                  quiet_reporter, executor=dask_client)
    assert summary.counts["ok"] == len(ids)
    assert len({task["worker"] for task in stream.data}) == 2
    starts = page_requests(media_server)
    assert len(starts) == len(ids) + 1
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:])]
    # One request a second for the whole cluster (a little less for the time from the slot to the request).
    assert min(gaps) >= 0.85, gaps
    assert all(sum(1 for start in starts if t <= start < t + 0.85) == 1 for t in starts)


def test_the_circuit_breaker_pauses_every_worker_then_stops(tmp_path, media_server, sources, dask_client,
                                                           quiet_reporter):
    media_server.set_fault("/watch/", Fault("status", status=403))
    media_server.clear_requests()
    ids = list(sources.SERVED)
    settings = settings_for(tmp_path / "v", media_server, sources, jobs=2, tries=1, breaker_threshold=2,
                            breaker_pause=1.5)
    summary = download_videos(ids, settings, quiet_reporter, executor=dask_client)
    status = status_of(tmp_path / "v")
    starts = page_requests(media_server)
    blocked = [video_id for video_id in ids if status.get(video_id, {}).get("status") == "blocked"]
    assert len(blocked) == len(starts) >= 4 and len(blocked) < len(ids)  # the rest never started: pending
    assert summary.counts["pending"] == len(ids) - len(blocked)
    assert summary.exit_code == 3 and summary.stopped.startswith("stopped: YouTube keeps refusing")
    assert "pausing all downloads for 1.5 s" in quiet_reporter.err.getvalue()
    assert max(later - earlier for earlier, later in zip(starts, starts[1:])) >= 1.3  # no worker started meanwhile


def test_a_worker_killed_mid_clip_loses_nothing(tmp_path, media_server, sources, dask_client, quiet_reporter):
    ids = [sources.TALL, sources.FITS, sources.ODD, sources.SILENT]
    out = tmp_path / "v"
    killer = BusyWorkerKiller(dask_client)
    media_server.bytes_per_second = 150_000  # slow enough to be caught mid-transfer

    def kill_a_worker_mid_clip() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killer.killed:
            if (out / ".partial").exists() and any(path.stat().st_size > 0
                                                   for path in (out / ".partial").rglob("*.mp4")):
                killer()
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_a_worker_mid_clip)
    watcher.start()
    try:
        summary = download_videos(ids, settings_for(out, media_server, sources, jobs=2), quiet_reporter,
                                  executor=dask_client)
    finally:
        watcher.join()
        media_server.bytes_per_second = None
    assert killer.killed, "no worker was caught mid-clip"
    assert summary.counts["ok"] == len(ids) and summary.exit_code == 0 and not summary.missing
    status = status_of(out)
    lines = (out / "status.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(ids)  # one record each, nothing twice
    for video_id in ids:
        assert status[video_id]["status"] == "ok"
        assert status[video_id]["bytes"] == (out / f"{video_id}.mp4").stat().st_size
    assert killer.replaced()


def test_pacer_state_is_shared_and_removed(dask_client):
    pacer = ClusterPacer("reelset-test-pacer", 2, 2, dask_client)
    pacer.open()
    try:
        assert pacer.reserve() == pytest.approx(0, abs=0.05)
        # A worker's copy (its own client) sees the same schedule: its slot comes 2 s after ours.
        assert dask_client.submit(ClusterPacer.reserve, pacer, pure=False).result() == pytest.approx(2, abs=0.2)
        pacer.hold_for(30)
        assert pacer.reserve() == pytest.approx(30, abs=0.2)
    finally:
        pacer.close()
    assert "reelset-test-pacer" not in variables_left(dask_client)


def test_a_session_travels_with_its_cookies_but_never_shows_them(tmp_path):
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n"
                       ".example.com\tTRUE\t/\tFALSE\t2147483647\tSID\tsecret-cookie-value\n")
    session = YtdlpSession(max_height=360, socket_timeout=5, sleep_requests=0, cookies_file=cookies)
    copy = distributed.protocol.deserialize(*distributed.protocol.serialize(session))
    assert [(cookie.name, cookie.value) for cookie in copy.cookie_jar] == [("SID", "secret-cookie-value")]
    assert copy.base_params["format"] == session.base_params["format"] and copy.secrets == session.secrets
    assert "secret-cookie-value" not in repr(session) + repr(copy)


def test_cli_with_the_scheduler_variable(tmp_path, media_server, sources, local_cluster):
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{sources.FITS}\n{sources.SHORT}\n")
    env = {"REELSET_SCHEDULER": local_cluster.scheduler_address}
    result = CliRunner().invoke(cli, ["action100m", "download", "--ids", str(ids), "--out", str(tmp_path / "v"),
                                      "--url-template", f"{media_server.url}/watch/{{id}}", "--sleep", "0",
                                      "--max-sleep", "0", "--sleep-requests", "0"], env=env)
    assert result.exit_code == 0, result.output
    assert f"dask: attempts run on the cluster at {local_cluster.scheduler_address} (2 worker threads now), at most 4 " \
           "at a time" in result.output.splitlines()
    assert "summary: 2 ok, 0 unavailable, 0 blocked, 0 rate_limited, 0 env_error, 0 failed, 0 invalid, 0 pending" \
        in result.output.splitlines()
    result = CliRunner().invoke(cli, ["action100m", "download", "--ids", str(ids), "--out", str(tmp_path / "w"),
                                      "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 1
    assert result.output.startswith("error: --scheduler tcp://127.0.0.1:9: cannot reach the Dask scheduler")
    assert not (tmp_path / "w").exists()  # nothing written
