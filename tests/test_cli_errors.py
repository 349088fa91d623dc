"""The command line's last resort: whatever a step did not turn into a ReelsetError ends as one line and an exit code,
never a traceback (an operating system's refusal: exit 1; Ctrl-C: ``interrupted: <what is kept>; ...``, exit 130,
in a command as during start-up)."""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from reelset.cli import KEPT, WHAT_FINISHED, cli, command_path, kept_text
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


def interrupted(*args, **kwargs):
    raise KeyboardInterrupt


def interrupted_lines(tail: str) -> list[str]:
    return [f"interrupted: {tail}; rerun the same command to resume"]


def test_ctrl_c_says_what_is_kept_and_exits_130(tmp_path, monkeypatch):
    source = records_file(tmp_path)
    monkeypatch.setattr(importlib.import_module("reelset.yt8m.export"), "export_records", interrupted)
    result = CliRunner().invoke(cli, ["yt8m", "export", str(source), "--to", "parquet", "--out",
                                      str(tmp_path / "out.parquet")])
    assert result.exit_code == 130, result.output
    assert result.stderr.strip().splitlines() == interrupted_lines("nothing is written")
    assert not (tmp_path / "out.parquet").exists()


def test_ctrl_c_names_what_the_command_keeps_from_its_options(tmp_path, monkeypatch):
    source = records_file(tmp_path)
    monkeypatch.setattr(importlib.import_module("reelset.yt8m.export"), "export_per_file", interrupted)
    result = CliRunner().invoke(cli, ["yt8m", "export", str(source), "--to", "npz", "--out-dir",
                                      str(tmp_path / "exported")])
    assert result.exit_code == 130, result.output
    assert result.stderr.strip().splitlines() == interrupted_lines(f"the files finished in {tmp_path}/exported/ "
                                                                   "are kept")

    ids = tmp_path / "ids.txt"
    ids.write_text("dQw4w9WgXcQ\n")
    monkeypatch.setattr(importlib.import_module("reelset.fetch.download"), "download_videos", interrupted)
    clips = tmp_path / "clips"
    result = CliRunner().invoke(cli, ["action100m", "download", "--ids", str(ids), "--out", str(clips)])
    assert result.exit_code == 130, result.output
    assert result.stderr.strip().splitlines() == interrupted_lines(f"the verified clips in {clips}/ and "
                                                                   f"{clips}/status.jsonl are kept")
    assert "Traceback" not in result.output


def test_ctrl_c_before_any_command_runs(monkeypatch):
    def format_help(self, ctx, formatter):
        raise KeyboardInterrupt  # while `reelset --help` is written: click is still parsing the top-level options

    monkeypatch.setattr(type(cli), "format_help", format_help)
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 130, result.output
    assert result.stderr.strip().splitlines() == interrupted_lines(WHAT_FINISHED)


def _leaf_paths(group: click.Group, context: click.Context) -> Iterator[tuple[click.Context, tuple[str, ...]]]:
    """Each command under ``group`` with its context (its options' defaults, parsed as click does)."""
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        child = command.make_context(name, [], parent=context, resilient_parsing=True)
        if isinstance(command, click.Group):
            yield from _leaf_paths(command, child)
        else:
            yield child, command_path(child)


def test_every_command_says_what_ctrl_c_keeps():
    """Each command has its own text in reelset.cli.KEPT, and every option the text names is one of the command's
    (an option renamed in a command module would otherwise fall back, silently, to the vague generic text)."""
    contexts = dict((path, context) for context, path in _leaf_paths(cli, click.Context(cli, info_name="reelset")))
    assert set(contexts) == set(KEPT), set(contexts) ^ set(KEPT)
    for path, context in contexts.items():
        assert kept_text(context) != WHAT_FINISHED, path


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


# ----------------------------------------------------------------------------- Ctrl-C in a real process


@contextlib.contextmanager
def server_never_answering() -> Iterator[tuple[str, socket.socket]]:
    """A server on 127.0.0.1 that accepts connections and never answers: a command talking to it blocks, and the
    test sees when it has connected (``accept``). The sandbox's servers log a stalled request only when it ends."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)
        yield f"http://127.0.0.1:{server.getsockname()[1]}", server


SCRIPT = Path(sys.executable).with_name("reelset")  # the console script pip made from [project.scripts]


def test_ctrl_c_in_a_running_command_of_the_installed_script(tmp_path):
    with server_never_answering() as (url, server):
        process = subprocess.Popen([str(SCRIPT), "yt8m", "vocab", "--url", f"{url}/vocabulary.csv",
                                    "--cache-dir", str(tmp_path)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            connection, _ = server.accept()
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:  # the whole request is in: the command waits for the answer
                    request += connection.recv(65536) or b"\r\n\r\n"
                process.send_signal(signal.SIGINT)
                out, err = process.communicate(timeout=60)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert err.strip().splitlines() == interrupted_lines("the cached vocabulary is unchanged")
    assert out == ""
    assert not (tmp_path / "yt8m" / "vocabulary.csv").exists()


@pytest.mark.parametrize("entry", [[sys.executable, "-m", "reelset"], [str(SCRIPT)]], ids=["python -m", "script"])
def test_ctrl_c_while_starting_is_one_line_and_exit_130(tmp_path, entry):
    """SIGINT as soon as reelset.cli starts importing: it lands in the imports (reelset.__main__.main's line) or, on
    a fast machine, in the command, which waits on a server that never answers (the command's line). Either way:
    one line, exit 130, no traceback. Python's own -X importtime says when the imports have started."""
    with server_never_answering() as (url, _):
        process = subprocess.Popen([*entry, "yt8m", "vocab", "--url", f"{url}/vocabulary.csv",
                                    "--cache-dir", str(tmp_path)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
        stderr: list[str] = []
        importing_click = threading.Event()

        def read_stderr() -> None:
            for line in process.stderr:
                stderr.append(line)
                if "click" in line:  # the first of click's modules: reelset.__main__.main is importing reelset.cli
                    importing_click.set()

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        try:
            assert importing_click.wait(60), "".join(stderr)[-3000:]
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 130, "".join(stderr)[-3000:]
        finally:
            process.kill()
            process.wait()
        reader.join(10)
    said = [line for line in "".join(stderr).splitlines() if line.strip() and not line.startswith("import time:")]
    assert "Traceback" not in "".join(stderr)
    assert said in (interrupted_lines(WHAT_FINISHED), interrupted_lines("the cached vocabulary is unchanged")), said
    assert process.stdout.read() == ""


def test_usage_errors_are_one_line_with_where_to_look_and_exit_2():
    result = CliRunner().invoke(cli, ["action100m", "ids", "--dat-dir", "x"], prog_name="reelset")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: No such option '--dat-dir'. Did you mean '--data-dir'? (see 'reelset action100m ids --help')"]
    result = CliRunner().invoke(cli, ["nope"], prog_name="reelset")
    assert (result.exit_code, result.stderr.strip()) == (2, "error: No such command 'nope'. (see 'reelset --help')")


def test_a_group_without_a_command_shows_its_help():
    result = CliRunner().invoke(cli, ["yt8m"], prog_name="reelset")
    assert result.exit_code == 0 and not result.stderr
    assert result.stdout.startswith("Usage: reelset yt8m [OPTIONS] COMMAND [ARGS]...") and "youtube-ids" in result.stdout
