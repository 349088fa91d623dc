"""The download command's own job: the original environment variables and flags reaching the download, its lines
and exit codes (the download itself, kill -9 and rerun included, is tested through the API in test_download.py)."""

from __future__ import annotations

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
