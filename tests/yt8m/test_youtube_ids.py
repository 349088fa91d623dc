"""v2 ids to YouTube ids against a local copy of the JSONP endpoint: answers, gone videos, bad answers, the cache."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.sandbox.servers import Fault, MediaServer
from reelset.yt8m.youtube_ids import (
    FAILED,
    GONE,
    INVALID,
    OK,
    answer_url,
    parse_answer,
    resolve_youtube_ids,
    summary_line,
)

# The storage host's answer for a file that is not there (Google Cloud Storage's XML error document).
NO_SUCH_KEY = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code><Message>The specified key does "
               b"not exist.</Message></Error>")
ANSWERS = {  # id -> body of /2/j/i/<id[:2]>/<id>.js (no entry: no file, the server answers 404)
    "XE00": b'i("XE00","mLEJIW9HeIw");',
    "fYdw": b'i("fYdw","a-b_c1D2e3F");\n',
    "XE02": NO_SUCH_KEY,  # an error document with status 200
    "XE03": b'i("XE03","0123456789A");',  # answered 403 below, with the error document
    "XE04": b"<html><body>maintenance</body></html>",
    "XE05": b'i("XE05" "mLEJIW9HeIw")',  # malformed
    "XE06": b'i("XE99","mLEJIW9HeIw");',  # about another id
    "XE07": b'i("XE07","short");',  # not a YouTube id
}


def serve_answers(root: Path) -> None:
    for video_id, body in ANSWERS.items():
        path = root / "2" / "j" / "i" / video_id[:2] / f"{video_id}.js"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


@pytest.fixture()
def endpoint(tmp_path):
    serve_answers(tmp_path / "site")
    with MediaServer(tmp_path / "site") as server:
        server.set_fault("/XE03.js", Fault("status", status=403))
        yield server


def asked(server) -> list[str]:
    return sorted(Path(record.path).stem for record in server.requests)


def test_every_kind_of_answer(tmp_path, endpoint):
    ids = ["XE00", "fYdw", "XE01", "XE02", "XE03", "XE04", "XE05", "XE06", "XE07", "abc", "XE00"]
    seen = []
    results = resolve_youtube_ids(ids, base_url=endpoint.url, cache_dir=tmp_path / "cache", jobs=3,
                                  on_result=seen.append)
    by_id = {result.id: result for result in results}
    assert [result.id for result in results] == ids[:-1]  # once each, in the order given
    assert (by_id["XE00"].status, by_id["XE00"].youtube_id) == (OK, "mLEJIW9HeIw")
    assert (by_id["fYdw"].status, by_id["fYdw"].youtube_id) == (OK, "a-b_c1D2e3F")
    assert (by_id["XE01"].status, by_id["XE01"].reason) == (GONE, "HTTP 404")
    assert (by_id["XE02"].status, by_id["XE02"].reason) == (GONE, "error answer (NoSuchKey)")
    assert (by_id["XE03"].status, by_id["XE03"].reason) == (GONE, "HTTP 403")
    assert by_id["XE04"].status == FAILED and by_id["XE04"].reason.startswith("unexpected answer '<html>")
    assert by_id["XE05"].status == FAILED and by_id["XE05"].reason.startswith("malformed answer")
    assert by_id["XE06"].reason == "the answer is about 'XE99', not 'XE06'"
    assert by_id["XE07"].reason == "the answer's YouTube id 'short' is invalid: 5 characters, expected 11"
    assert (by_id["abc"].status, by_id["abc"].reason) == (INVALID, "not a 4-character YouTube-8M v2 id (3 characters)")
    assert all(result.youtube_id is None for result in results if result.status != OK)
    assert sorted(result.id for result in seen) == sorted(ids[:-1])
    assert asked(endpoint) == sorted(set(ids) - {"abc"})  # an invalid id never becomes a URL
    assert summary_line(results) == "youtube-ids: 2 ok, 3 gone, 4 failed, 1 invalid (0 from cache)"


def test_a_rerun_asks_only_for_what_is_missing(tmp_path, endpoint):
    ids = ["XE00", "XE01", "XE02", "XE05"]
    cache = tmp_path / "cache"
    resolve_youtube_ids(ids, base_url=endpoint.url, cache_dir=cache)
    endpoint.clear_requests()
    again = resolve_youtube_ids(ids, base_url=endpoint.url, cache_dir=cache)
    assert asked(endpoint) == ["XE05"]  # the failure only: answers and gone videos come from the cache
    assert [(result.status, result.cached) for result in again] == [(OK, True), (GONE, True), (GONE, True),
                                                                    (FAILED, False)]
    assert again[0].youtube_id == "mLEJIW9HeIw"
    endpoint.clear_requests()
    resolve_youtube_ids(ids, base_url=endpoint.url, cache_dir=cache, retry_gone=True)
    assert asked(endpoint) == ["XE01", "XE02", "XE05"]
    # Answers are kept per endpoint: another host is asked afresh; without the cache, everything is asked.
    with MediaServer(tmp_path / "site") as other:
        resolve_youtube_ids(["XE00"], base_url=other.url, cache_dir=cache)
        resolve_youtube_ids(["XE00"], base_url=endpoint.url, cache_dir=cache, use_cache=False)
        assert len(other.requests) == 1
    assert (cache / "yt8m" / "youtube_ids.sqlite").is_file()


def test_a_tampered_cache_cannot_inject_an_id(tmp_path, endpoint):
    cache = tmp_path / "cache"
    resolve_youtube_ids(["XE00"], base_url=endpoint.url, cache_dir=cache)
    with sqlite3.connect(cache / "yt8m" / "youtube_ids.sqlite") as db:
        db.execute("UPDATE answers SET youtube_id = '../../etc/x'")
    endpoint.clear_requests()
    [result] = resolve_youtube_ids(["XE00"], base_url=endpoint.url, cache_dir=cache)
    assert (result.status, result.youtube_id, result.cached) == (OK, "mLEJIW9HeIw", False)
    assert asked(endpoint) == ["XE00"]


def test_server_errors_are_retried_then_reported(tmp_path, endpoint):
    endpoint.set_fault("/XE00.js", Fault("status", status=503, times=1))
    endpoint.set_fault("/fYdw.js", Fault("status", status=503))
    results = resolve_youtube_ids(["XE00", "fYdw"], base_url=endpoint.url, cache_dir=tmp_path / "cache",
                                  retries=2, backoff=0)
    assert (results[0].status, results[0].youtube_id) == (OK, "mLEJIW9HeIw")
    assert results[1].status == FAILED and results[1].reason.endswith("fYdw.js: HTTP 503")


def test_answer_url_and_parsing():
    assert answer_url("XE00") == "http://data.yt8m.org/2/j/i/XE/XE00.js"
    assert answer_url("fYdw", "http://127.0.0.1:1/") == "http://127.0.0.1:1/2/j/i/fY/fYdw.js"
    with pytest.raises(ValueError):
        answer_url("../x")
    assert parse_answer("XE00", b'  i( "XE00" , "mLEJIW9HeIw" ) ;\n').youtube_id == "mLEJIW9HeIw"
    assert parse_answer("XE00", b'i("XE00","mLEJIW9HeIw\\n");').status == FAILED


def test_youtube_ids_command(tmp_path, endpoint):
    cache = ["--cache-dir", str(tmp_path / "cache"), "--base-url", endpoint.url]
    result = CliRunner().invoke(cli, ["yt8m", "youtube-ids", "XE00", "XE01", "XE02", *cache])
    assert result.exit_code == 0, result.output
    assert result.stdout == "id,youtube_id\nXE00,mLEJIW9HeIw\n"
    lines = result.stderr.splitlines()  # in the order the answers came
    assert sorted(lines[:2]) == ["gone XE01: HTTP 404", "gone XE02: error answer (NoSuchKey)"]
    assert lines[2:] == ["youtube-ids: 1 ok, 2 gone, 0 failed, 0 invalid (0 from cache)"]

    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("# ids\nXE00\n\nfYdw\nXE05\n")
    out = tmp_path / "map.csv"
    result = CliRunner().invoke(cli, ["yt8m", "youtube-ids", "--ids-file", str(ids_file), "--out", str(out), *cache])
    assert result.exit_code == 1
    assert out.read_text() == "id,youtube_id\nXE00,mLEJIW9HeIw\nfYdw,a-b_c1D2e3F\n"
    lines = result.stderr.splitlines()
    assert lines[0].startswith("failed XE05: malformed answer")
    assert lines[1] == "youtube-ids: 2 ok, 0 gone, 1 failed, 0 invalid (1 from cache)"
    assert lines[2].startswith("error: 1 id(s) could not be answered") and len(lines) == 3
    assert result.stdout == ""

    assert CliRunner().invoke(cli, ["yt8m", "youtube-ids", *cache]).exit_code == 2
