"""`action100m show` and `action100m app` as users run them."""

from __future__ import annotations

import socket
import time
import urllib.request

import fiftyone as fo
import pytest
from click.testing import CliRunner
from PIL import Image

from reelset.action100m.app import app_url, serve_app
from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.sandbox.action100m_sample import make_sample_rows, write_sample_repo


def test_show_writes_a_picture_for_an_id_starting_with_a_dash(tmp_path):
    rows = make_sample_rows(3, seed=0)
    write_sample_repo(tmp_path / "data", rows)
    video_id = rows[0]["video_uid"]
    assert video_id.startswith("-")
    out = tmp_path / "tree.png"
    result = CliRunner().invoke(cli, ["action100m", "show", "--data-dir", str(tmp_path / "data"), "--out", str(out),
                                      "--clip-seconds", "30", "--", video_id])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}\n"
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > 800


def test_show_unknown_id_is_one_line_error(tmp_path):
    write_sample_repo(tmp_path / "data", make_sample_rows(2, seed=0))
    result = CliRunner().invoke(cli, ["action100m", "show", "--data-dir", str(tmp_path / "data"),
                                      "--out", str(tmp_path / "x.png"), "dQw4w9WgXcQ"])
    assert result.exit_code == 1 and result.output.startswith("error: dQw4w9WgXcQ: not found")
    assert not (tmp_path / "x.png").exists()


def test_show_an_id_starting_with_a_dash_without_dashes_says_where_it_goes(tmp_path):
    rows = make_sample_rows(3, seed=0)
    write_sample_repo(tmp_path / "data", rows)
    video_id = rows[0]["video_uid"]
    out = tmp_path / "tree.png"
    result = CliRunner().invoke(cli, ["action100m", "show", "--data-dir", str(tmp_path / "data"), video_id,
                                      "--out", str(out)], prog_name="reelset")
    assert result.exit_code == 2, result.output
    error = result.stderr.strip().splitlines()[-1]  # click's usage error, however the command line prefixes it
    assert f"No such option '{video_id[:2]}'" in error, error
    assert error.endswith(f"A VIDEO_ID that starts with '-' goes after '--': reelset action100m show --data-dir "
                          f"{tmp_path / 'data'} --out {out} -- {video_id}"), error
    assert "Traceback" not in result.output and not out.exists()
    # The command it suggests works.
    suggested = error.split("': reelset ", 1)[1].split()
    result = CliRunner().invoke(cli, suggested, prog_name="reelset")
    assert result.exit_code == 0, result.output
    assert out.exists()


def test_show_a_mistyped_option_gets_no_id_hint(tmp_path):
    result = CliRunner().invoke(cli, ["action100m", "show", "--dat-dir", "x", "--out", str(tmp_path / "x.png"),
                                      "dQw4w9WgXcQ"])
    assert result.exit_code == 2
    assert "No such option" in result.stderr and "VIDEO_ID" not in result.stderr.splitlines()[-1]


def test_show_without_parquet_says_to_run_ids_first(tmp_path):
    out = tmp_path / "x.png"
    for data_dir in (tmp_path / "missing", tmp_path):  # no folder; a folder without data/*.parquet
        result = CliRunner().invoke(cli, ["action100m", "show", "--data-dir", str(data_dir), "--out", str(out),
                                          "dQw4w9WgXcQ"])
        assert result.exit_code == 1, result.output
        assert result.stderr.splitlines() == [
            f"error: {data_dir}: no data/*.parquet shards (run `reelset action100m ids` first, or give the "
            "--data-dir it used)"]
        assert not out.exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_app_serves_the_dataset(tmp_path):
    dataset = fo.Dataset("test-app-dataset", overwrite=True)
    dataset.add_sample(fo.Sample(filepath=str(tmp_path / "v.mp4")))
    port = free_port()
    lines = []
    session = serve_app(dataset.name, port=port, on_ready=lines.append, wait=False)
    try:
        assert lines == [f"app: {app_url('127.0.0.1', port)} (dataset test-app-dataset); Ctrl-C stops it"]
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(app_url("127.0.0.1", port), timeout=5) as response:
                    assert response.status == 200 and b"<html" in response.read().lower()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        session.close()


def test_app_on_a_missing_dataset_says_which_exist():
    with pytest.raises(ReelsetError, match="dataset 'no-such-dataset' not found"):
        serve_app("no-such-dataset", wait=False)
