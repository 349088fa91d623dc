"""The one HTTP client: resume with Range, start over when the server ignores it, checksums, retries."""

from __future__ import annotations

import hashlib

import pytest

from reelset.core.http import ChecksumError, HttpError, content_length, download_file, fetch_bytes, part_path
from reelset.sandbox.servers import Fault, MediaServer

DATA = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture()
def server(tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "file.bin").write_bytes(DATA)
    with MediaServer(tmp_path / "www") as srv:
        yield srv


def test_download_verifies_and_places_atomically(tmp_path, server):
    dest = tmp_path / "out" / "file.bin"
    result = download_file(f"{server.url}/file.bin", dest, expected_md5=hashlib.md5(DATA).hexdigest(),
                           expected_sha256=hashlib.sha256(DATA).hexdigest(), backoff=0)
    assert dest.read_bytes() == DATA and result.bytes == len(DATA) and result.resumed_from == 0
    assert not part_path(dest).exists()


def test_partial_file_is_resumed_with_a_range(tmp_path, server):
    dest = tmp_path / "file.bin"
    part_path(dest).write_bytes(DATA[:300_000])
    result = download_file(f"{server.url}/file.bin", dest, expected_md5=hashlib.md5(DATA).hexdigest(), backoff=0)
    assert dest.read_bytes() == DATA and result.resumed_from == 300_000
    assert [r.headers.get("range") for r in server.requests] == ["bytes=300000-"]


def test_drop_mid_body_resumes_where_it_stopped(tmp_path, server):
    server.set_fault("/file.bin", Fault("drop", after_bytes=500_000, times=1))
    dest = tmp_path / "file.bin"
    download_file(f"{server.url}/file.bin", dest, backoff=0)
    assert dest.read_bytes() == DATA
    ranges = [r.headers.get("range") for r in server.requests]
    assert ranges[0] is None and 400_000 < int(ranges[1][6:-1]) <= 500_000


def test_wrong_checksum_retries_once_then_fails_and_leaves_nothing(tmp_path, server):
    dest = tmp_path / "file.bin"
    with pytest.raises(ChecksumError, match="file.bin: md5 does not match after 2 download"):
        download_file(f"{server.url}/file.bin", dest, expected_md5="0" * 32, backoff=0)
    assert not dest.exists() and not part_path(dest).exists()
    assert len(server.requests) == 2


def test_client_errors_are_not_retried_server_errors_are(tmp_path, server):
    server.set_fault("/file.bin", Fault("status", status=404))
    with pytest.raises(HttpError, match="HTTP 404") as info:
        download_file(f"{server.url}/file.bin", tmp_path / "f", backoff=0)
    assert info.value.status == 404 and len(server.requests) == 1
    server.clear_faults()
    server.clear_requests()
    server.set_fault("/file.bin", Fault("status", status=503, times=2))
    download_file(f"{server.url}/file.bin", tmp_path / "g", backoff=0)
    assert len(server.requests) == 3 and (tmp_path / "g").read_bytes() == DATA


def test_fetch_bytes_and_content_length(server):
    assert fetch_bytes(f"{server.url}/file.bin", backoff=0) == DATA
    assert content_length(f"{server.url}/file.bin") == len(DATA)
    assert content_length(f"{server.url}/missing.bin") is None
    with pytest.raises(HttpError, match="HTTP 404"):
        fetch_bytes(f"{server.url}/missing.bin", backoff=0)
