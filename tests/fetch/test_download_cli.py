"""The download command as users run it: the original environment variables, flags, kill -9 and rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner

from reelset.cli import cli

NO_WAIT = ["--sleep", "0", "--max-sleep", "0", "--sleep-requests", "0"]


def test_original_environment_variables_and_flag_override(tmp_path, media_server, sources, ffprobe):
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{sources.TALL}\n\n{sources.FITS}\n")
    env = {"VIDEO_IDS": str(ids), "OUTPUT_DIR": str(tmp_path / "env-out"), "JOBS": "1", "MAX_DURATION": "3",
           "MAX_HEIGHT": "240", "MAX_VIDEOS": "0", "REELSET_URL_TEMPLATE": f"{media_server.url}/watch/{{id}}"}
    result = CliRunner().invoke(cli, ["action100m", "download", *NO_WAIT], env=env)
    assert result.exit_code == 0, result.output
    tall = ffprobe(tmp_path / "env-out" / f"{sources.TALL}.mp4")
    assert tall["streams"][0]["height"] == 240 and float(tall["format"]["duration"]) <= 3.15
    lines = result.output.splitlines()
    assert any(line.startswith(f"ok {sources.TALL} ") for line in lines)
    assert "summary: 2 ok, 0 unavailable, 0 blocked, 0 rate_limited, 0 env_error, 0 failed, 0 invalid, 0 pending" in lines

    result = CliRunner().invoke(cli, ["action100m", "download", *NO_WAIT, "--max-height", "360",
                                      "--out", str(tmp_path / "flag-out")], env=env)
    assert result.exit_code == 0, result.output
    assert ffprobe(tmp_path / "flag-out" / f"{sources.TALL}.mp4")["streams"][0]["height"] == 360


def test_bad_settings_are_one_line_errors(tmp_path):
    result = CliRunner().invoke(cli, ["action100m", "download", "--ids", str(tmp_path / "none.txt")])
    assert result.exit_code == 1 and result.output == f"error: {tmp_path / 'none.txt'}: ids file not found (run `reelset action100m ids` first)\n"
    result = CliRunner().invoke(cli, ["action100m", "download"], env={"JOBS": "zero"})
    assert result.exit_code == 2 and "JOBS" in result.output


def test_kill_9_mid_run_then_rerun_loses_nothing(tmp_path, media_server, sources, ffprobe):
    ids = tmp_path / "ids.txt"
    chosen = [sources.TALL, sources.FITS, sources.ODD, sources.SILENT]
    ids.write_text("\n".join(chosen) + "\n")
    out = tmp_path / "videos"
    command = [sys.executable, "-m", "reelset", "action100m", "download", "--ids", str(ids), "--out", str(out),
               "--url-template", f"{media_server.url}/watch/{{id}}", "--max-duration", "4", "--jobs", "2", *NO_WAIT]
    media_server.bytes_per_second = 150_000  # slow enough to be caught mid-transfer
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "cleaned" in rerun.stdout  # the killed run's partial files
    records = {}
    for line in (out / "status.jsonl").read_text().splitlines():
        records[json.loads(line)["id"]] = json.loads(line)
    assert {video_id: records[video_id]["status"] for video_id in chosen} == dict.fromkeys(chosen, "ok")
    assert not (out / ".partial").exists()
    assert sorted(path.name for path in out.glob("*.mp4")) == sorted(f"{video_id}.mp4" for video_id in chosen)
