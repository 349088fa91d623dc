"""The command line's last resort: whatever a step did not turn into a ReelsetError ends as one line and an exit code,
never a traceback (an operating system's refusal: exit 1; Ctrl-C: ``interrupted: ...``, exit 130)."""

from __future__ import annotations

import errno
import importlib

from click.testing import CliRunner

from reelset.cli import cli
from reelset.core.errors import os_error_line
from reelset.sandbox.yt8m_sample import sample_records
from reelset.yt8m import write_records


def records_file(tmp_path):
    path = tmp_path / "video.tfrecord"
    write_records(path, sample_records("video", 3))
    return path


def test_an_output_under_a_regular_file_is_one_error_line(tmp_path):
    source = records_file(tmp_path)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder is expected")
    result = CliRunner().invoke(cli, ["yt8m", "export", str(source), "--to", "parquet",
                                      "--out", str(blocker / "out.parquet")])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    # mkdir of the output's folder: the file is in the way (EEXIST); opening under it would be ENOTDIR.
    assert errors == [f"error: {blocker}: File exists (something that is not a folder is in the way)"]
    assert blocker.read_text() == "a file where a folder is expected"  # nothing written over it


def test_ctrl_c_says_what_is_kept_and_exits_130(tmp_path, monkeypatch):
    source = records_file(tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module("reelset.yt8m.export"), "export_records", interrupted)
    result = CliRunner().invoke(cli, ["yt8m", "export", str(source), "--to", "parquet", "--out",
                                      str(tmp_path / "out.parquet")])
    assert result.exit_code == 130, result.output
    assert result.stderr.strip().splitlines() == [
        "interrupted: what finished is kept; rerun the same command to resume"]
    assert not (tmp_path / "out.parquet").exists()


def test_os_errors_read_as_path_what_and_hint():
    assert os_error_line(OSError(errno.ENOSPC, "No space left on device", "/data/out.mp4")) == \
        "/data/out.mp4: No space left on device (free some space, or write elsewhere)"
    assert os_error_line(OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x")) == \
        "/mnt/ro/x: Read-only file system (write to a folder on a writable file system)"
    assert os_error_line(OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b")) == \
        "/a -> /b: Invalid cross-device link"
    assert os_error_line(OSError("something odd")) == "something odd"


def test_a_binary_or_non_utf8_videos_csv_is_one_error_line_and_writes_nothing(tmp_path):
    for name, content, message in (
            ("binary.csv", b"\x00\x01\x02PK\x03\x04" * 10, "a binary file, expected a videos CSV"),
            ("latin1.csv", "vid\u00e9o.mp4,1\n".encode("latin-1"), "not UTF-8 text (byte 3)")):
        csv = tmp_path / name
        csv.write_bytes(content)
        out = tmp_path / "out" / "mine.tfrecord"
        result = CliRunner().invoke(cli, ["yt8m", "extract", "--input_videos_csv", str(csv),
                                          "--output_tfrecords_file", str(out)])
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {csv}: {message}"), lines
        assert "Traceback" not in result.output
        assert not (tmp_path / "out").exists()
