"""`action100m download` end to end: real yt-dlp and ffmpeg against a Range-capable server on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from reelset.core.errors import ReelsetError
from reelset.fetch.download import DownloadSettings, download_videos, folder_lock, summary_lines
from reelset.sandbox.servers import Fault
from tests.support.downloads import fast_settings, status_records


def settings_for(out_dir, server, sources, **overrides) -> DownloadSettings:
    return fast_settings(out_dir, server, sources, **overrides)


def status_of(out_dir) -> dict[str, dict]:
    return status_records(out_dir)


def streams(info: dict, kind: str) -> list[dict]:
    return [stream for stream in info["streams"] if stream["codec_type"] == kind]


def test_every_kind_of_source_becomes_a_verified_clip(tmp_path, media_server, sources, ffprobe, quiet_reporter):
    out = tmp_path / "videos"
    ids = [*sources.SERVED, sources.GONE, "../../etc/passwd", "short", "x" * 12, "ünïcödé_abc"]
    summary = download_videos(ids, settings_for(out, media_server, sources), quiet_reporter)

    status = status_of(out)
    for video_id in sources.SERVED:
        assert status[video_id]["status"] == "ok", status[video_id]
        info = ffprobe(out / f"{video_id}.mp4")
        video = streams(info, "video")[0]
        assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
        assert video["width"] % 2 == 0 and video["height"] % 2 == 0 and video["height"] <= 480
        assert 0 < float(info["format"]["duration"]) <= sources.CLIP_SECONDS + 0.15
        assert all(stream["codec_name"] == "aac" for stream in streams(info, "audio"))
        assert status[video_id]["bytes"] == (out / f"{video_id}.mp4").stat().st_size
        assert (out / "logs" / f"{video_id}.log").is_file()

    sizes = {video_id: (status[video_id]["width"], status[video_id]["height"]) for video_id in sources.SERVED}
    assert sizes[sources.TALL] == (852, 480) and status[sources.TALL]["mode"] == "encode"
    assert sizes[sources.FITS] == (640, 360) and status[sources.FITS]["mode"] == "copy"
    assert sizes[sources.ODD] == (320, 240) and status[sources.ODD]["mode"] == "encode"
    assert sizes[sources.HLS] == (640, 360) and status[sources.HLS]["mode"] == "copy"
    assert status[sources.SHORT]["clip_seconds"] == pytest.approx(2.0, abs=0.15)
    assert not streams(ffprobe(out / f"{sources.SILENT}.mp4"), "audio")
    # The 720p variant of the HLS master was never fetched: the height cap chose the 360p one.
    assert not [r for r in media_server.requests if f"{sources.HLS}/" in r.path and "1280x720" in r.path]

    assert status[sources.GONE]["status"] == "unavailable" and "404" in status[sources.GONE]["message"]
    assert not (out / f"{sources.GONE}.mp4").exists()
    for bad in ("../../etc/passwd", "short", "x" * 12, "ünïcödé_abc"):
        assert status[bad]["status"] == "invalid"
    assert not list(tmp_path.rglob("passwd")) and not (out / "logs" / "short.log").exists()

    assert (out / "missing_ids.txt").read_text().split() == [sources.GONE]
    assert summary.counts["ok"] == 6 and summary.counts["unavailable"] == 1 and summary.counts["invalid"] == 4
    assert summary.exit_code == 0
    assert not (out / ".partial").exists()
    assert not [path for path in out.iterdir() if ".tmp-" in path.name]
    lines = summary_lines(summary)
    assert lines[0] == "summary: 6 ok, 1 unavailable, 0 blocked, 0 rate_limited, 0 env_error, 0 failed, 4 invalid, 0 pending"
    assert f"missing: 1 ids listed in {out / 'missing_ids.txt'}" in lines


def test_rerun_does_nothing_new_and_retry_failed_tries_again(tmp_path, media_server, sources, quiet_reporter):
    out = tmp_path / "videos"
    ids = [sources.FITS, sources.GONE]
    download_videos(ids, settings_for(out, media_server, sources), quiet_reporter)
    media_server.clear_requests()
    again = download_videos(ids, settings_for(out, media_server, sources), quiet_reporter)
    assert media_server.requests == []
    assert sum(again.new.values()) == 0 and again.counts["ok"] == 1
    retried = download_videos(ids, settings_for(out, media_server, sources, retry_failed=True), quiet_reporter)
    assert [r.path for r in media_server.requests] == [f"/watch/{sources.GONE}"]
    assert retried.new["unavailable"] == 1 and status_of(out)[sources.GONE]["attempts"] == 2


def test_transient_error_is_retried_then_succeeds(tmp_path, media_server, sources, quiet_reporter):
    media_server.set_fault(f"/watch/{sources.FITS}", Fault("status", status=503, times=1))
    download_videos([sources.FITS], settings_for(out := tmp_path / "v", media_server, sources), quiet_reporter)
    record = status_of(out)[sources.FITS]
    assert record["status"] == "ok" and record["attempts"] == 2


def test_rate_limited_after_all_tries(tmp_path, media_server, sources, quiet_reporter):
    media_server.set_fault(f"/watch/{sources.FITS}", Fault("status", status=429))
    summary = download_videos([sources.FITS], settings_for(tmp_path / "v", media_server, sources, tries=3),
                              quiet_reporter)
    record = status_of(tmp_path / "v")[sources.FITS]
    assert record["status"] == "rate_limited" and record["attempts"] == 3 and "429" in record["message"]
    assert summary.exit_code == 4
    assert len([r for r in media_server.requests if r.path == f"/watch/{sources.FITS}"]) == 3


def test_connection_dropped_mid_body_once_is_resumed(tmp_path, media_server, sources, quiet_reporter):
    media_server.set_fault(f"/files/{sources.TALL}.mp4", Fault("drop", after_bytes=20_000, times=2))
    download_videos([sources.TALL], settings_for(tmp_path / "v", media_server, sources), quiet_reporter)
    assert status_of(tmp_path / "v")[sources.TALL]["status"] == "ok"


def test_connection_dropped_every_time_resumes_with_ranges(tmp_path, media_server, sources, quiet_reporter):
    # Every response is cut after 20 kB, yet each reconnect asks for the rest (Range) and the clip completes.
    media_server.set_fault(f"/files/{sources.TALL}.mp4", Fault("drop", after_bytes=20_000))
    download_videos([sources.TALL], settings_for(tmp_path / "v", media_server, sources), quiet_reporter)
    assert status_of(tmp_path / "v")[sources.TALL]["status"] == "ok"
    ranges = [r.headers.get("range") for r in media_server.requests if r.path == f"/files/{sources.TALL}.mp4"]
    assert len([value for value in ranges if value and not value.startswith("bytes=0-")]) > 3


def test_connection_that_never_delivers_fails_and_leaves_nothing(tmp_path, media_server, sources, quiet_reporter):
    media_server.set_fault(f"/files/{sources.TALL}.mp4", Fault("drop", after_bytes=0))
    out = tmp_path / "v"
    download_videos([sources.TALL], settings_for(out, media_server, sources), quiet_reporter)
    assert status_of(out)[sources.TALL]["status"] == "failed"
    assert sorted(path.name for path in out.iterdir() if not path.name.startswith(".")) == [
        "logs", "missing_ids.txt", "status.jsonl"]


def test_stalled_server_times_out(tmp_path, media_server, sources, quiet_reporter):
    media_server.set_fault(f"/files/{sources.FITS}.mp4", Fault("stall", seconds=30))
    out = tmp_path / "v"
    download_videos([sources.FITS], settings_for(out, media_server, sources, socket_timeout=1, tries=1),
                    quiet_reporter)
    record = status_of(out)[sources.FITS]
    assert record["status"] == "failed"
    assert "timed out" in record["message"].lower() or "timeout" in record["message"].lower()
    assert not (out / f"{sources.FITS}.mp4").exists()


def test_connection_refused_is_transient(tmp_path, sources, quiet_reporter):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = DownloadSettings(out_dir=tmp_path / "v", url_template=f"http://127.0.0.1:{port}/watch/{{id}}",
                                sleep=0, max_sleep=0, sleep_requests=0, tries=1)
    download_videos([sources.FITS], settings, quiet_reporter)
    record = status_of(tmp_path / "v")[sources.FITS]
    assert record["status"] == "failed" and "refused" in record["message"].lower()


def test_max_videos_counts_successes_not_ids(tmp_path, media_server, sources, quiet_reporter):
    out = tmp_path / "v"
    ids = [sources.GONE, sources.FITS, sources.SHORT, sources.SILENT]
    summary = download_videos(ids, settings_for(out, media_server, sources, jobs=1, max_videos=2), quiet_reporter)
    assert summary.counts["ok"] == 2 and summary.new["unavailable"] == 1
    assert not (out / f"{sources.SILENT}.mp4").exists()
    # Earlier runs count: the same limit again does nothing more.
    media_server.clear_requests()
    download_videos(ids, settings_for(out, media_server, sources, jobs=1, max_videos=2), quiet_reporter)
    assert media_server.requests == []


def test_cookies_reach_the_server_but_never_the_logs(tmp_path, media_server, sources, quiet_reporter, capfd):
    secret = "s3cr3t-cookie-value-do-not-log"
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(f"# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t2147483647\tSESSION\t{secret}\n")
    media_server.set_fault(f"/files/{sources.FITS}.mp4", Fault("status", status=500, times=1))
    out = tmp_path / "v"
    download_videos([sources.FITS], settings_for(out, media_server, sources, cookies=cookies), quiet_reporter)
    sent = [r for r in media_server.requests if secret in r.headers.get("cookie", "")]
    assert {r.path for r in sent} >= {f"/watch/{sources.FITS}", f"/files/{sources.FITS}.mp4"}  # yt-dlp and ffmpeg
    written = "".join(path.read_text(errors="replace") for path in out.rglob("*") if path.is_file()
                      and path.suffix != ".mp4")
    printed = capfd.readouterr()
    assert secret not in written + quiet_reporter.out.getvalue() + quiet_reporter.err.getvalue()
    assert secret not in printed.out + printed.err


def test_circuit_breaker_pauses_then_stops(tmp_path, media_server, sources, quiet_reporter):
    media_server.set_fault("/watch/", Fault("status", status=403))
    ids = [*sources.SERVED]
    settings = settings_for(tmp_path / "v", media_server, sources, jobs=1, breaker_threshold=2, breaker_pause=0.3)
    summary = download_videos(ids, settings, quiet_reporter)
    status = status_of(tmp_path / "v")
    assert [status[video_id]["status"] for video_id in ids[:4]] == ["blocked"] * 4
    assert all(video_id not in status for video_id in ids[4:])  # never attempted: still pending
    assert summary.exit_code == 3 and summary.stopped.startswith("stopped: YouTube keeps refusing")
    assert "pausing all downloads" in quiet_reporter.err.getvalue()


def test_existing_files_are_verified_adopted_or_replaced(tmp_path, media_server, sources, quiet_reporter):
    out = tmp_path / "v"
    download_videos([sources.FITS], settings_for(out, media_server, sources), quiet_reporter)
    (out / "status.jsonl").unlink()  # as if the run died between the rename and the status line
    (out / f"{sources.SHORT}.mp4").write_bytes(b"not a video at all")
    media_server.clear_requests()
    download_videos([sources.FITS, sources.SHORT], settings_for(out, media_server, sources), quiet_reporter)
    status = status_of(out)
    assert status[sources.FITS]["message"] == "verified existing file"
    assert {r.path for r in media_server.requests} == {f"/watch/{sources.SHORT}", f"/files/{sources.SHORT}.mp4"}
    assert status[sources.SHORT]["status"] == "ok" and status[sources.SHORT]["clip_seconds"] > 1


def test_leftovers_of_a_killed_run_are_cleaned(tmp_path, media_server, sources, quiet_reporter):
    out = tmp_path / "v"
    (out / ".partial" / sources.FITS).mkdir(parents=True)
    (out / ".partial" / sources.FITS / f"{sources.FITS}.mp4").write_bytes(b"half")
    (out / f"{sources.TALL}.mp4.part").write_bytes(b"half")
    (out / f".{sources.TALL}.mp4.tmp-123-abcd").write_bytes(b"half")
    (out / "notes.txt").write_text("mine")
    download_videos([sources.FITS], settings_for(out, media_server, sources), quiet_reporter)
    names = sorted(path.name for path in out.iterdir())
    assert f"{sources.TALL}.mp4.part" not in names and f".{sources.TALL}.mp4.tmp-123-abcd" not in names
    assert "notes.txt" in names and f"{sources.FITS}.mp4" in names
    assert "cleaned 3 leftover(s)" in quiet_reporter.out.getvalue()


def test_one_run_per_folder(tmp_path, media_server, sources, quiet_reporter):
    out = tmp_path / "v"
    out.mkdir()
    with folder_lock(out):
        with pytest.raises(ReelsetError, match="another download is running"):
            download_videos([sources.FITS], settings_for(out, media_server, sources), quiet_reporter)


# One download run in a process of its own, to be killed: argv is the output folder, the URL template and the ids.
KILLABLE_RUN = """
import sys
from pathlib import Path
from reelset.core.progress import Reporter
from reelset.fetch.download import DownloadSettings, download_videos
out, url_template, *ids = sys.argv[1:]
settings = DownloadSettings(out_dir=Path(out), url_template=url_template, max_duration=4, jobs=2, sleep=0,
                            max_sleep=0, sleep_requests=0)
sys.exit(download_videos(ids, settings, Reporter(interactive=False)).exit_code)
"""


def test_kill_9_mid_run_then_rerun_loses_nothing(tmp_path, media_server, sources, ffprobe, quiet_reporter):
    chosen = [sources.TALL, sources.FITS, sources.ODD, sources.SILENT]
    out = tmp_path / "videos"
    url_template = f"{media_server.url}/watch/{{id}}"
    media_server.bytes_per_second = 150_000  # slow enough to be caught mid-transfer
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE_RUN, str(out), url_template, *chosen],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = [path for path in (out / ".partial").rglob("*.mp4") if path.stat().st_size > 0] \
            if (out / ".partial").exists() else []
        if partial:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError("the run never got to writing a partial clip")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    # Whatever is in place after the kill is complete: no final file is ever half-written.
    for clip in out.glob("*.mp4"):
        assert float(ffprobe(clip)["format"]["duration"]) > 0
    media_server.bytes_per_second = None
    settings = DownloadSettings(out_dir=out, url_template=url_template, max_duration=4, jobs=2, sleep=0,
                                max_sleep=0, sleep_requests=0)
    rerun = download_videos(chosen, settings, quiet_reporter)
    assert rerun.exit_code == 0, quiet_reporter.out.getvalue()
    assert "cleaned" in quiet_reporter.out.getvalue()  # the killed run's partial files
    records = status_of(out)
    assert {video_id: records[video_id]["status"] for video_id in chosen} == dict.fromkeys(chosen, "ok")
    assert not (out / ".partial").exists()
    assert sorted(path.name for path in out.glob("*.mp4")) == sorted(f"{video_id}.mp4" for video_id in chosen)
