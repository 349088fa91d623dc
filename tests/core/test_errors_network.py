"""`cannot reach <host> (DNS|refused|timeout|TLS)`: real failures of real clients (requests, httpx, urllib,
huggingface_hub, reelset's HTTP client), all on this machine: a port nothing listens on, a name that cannot
resolve, a server that accepts and never answers, https:// to a plain-HTTP server.

The hosts come from :mod:`tests.support.network`.
"""

from __future__ import annotations

import socket
import ssl
import time
import urllib.request
from urllib.parse import urlsplit

import httpx2
import pytest
import requests

from reelset.core.errors import host_of, network_error, unreachable, unreachable_kind
from reelset.core.http import HttpError, download_file, fetch_bytes
from tests.support.network import KINDS, unreachable_hosts

@pytest.fixture(scope="module")
def hosts():
    with unreachable_hosts() as urls:
        yield urls




def _requests(url):
    requests.get(url, timeout=0.5)


def _httpx(url):
    httpx2.get(url, timeout=0.5)


def _urllib(url):
    urllib.request.urlopen(url, timeout=0.5)


def _hub(url):
    from huggingface_hub import HfApi

    HfApi(endpoint=url).dataset_info("facebook/Action100M-preview", timeout=0.5)


def _socket(url):
    parts = urlsplit(url)
    address = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    with socket.create_connection(address, timeout=0.5) as connected:
        if parts.scheme == "https":
            ssl.create_default_context().wrap_socket(connected, server_hostname=parts.hostname)
        else:
            connected.sendall(b"GET / HTTP/1.0\r\n\r\n")
            connected.recv(1)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("client", [_requests, _httpx, _urllib, _hub, _socket], ids=lambda f: f.__name__[1:])
def test_every_client_failure_is_named(hosts, kind, client):
    url, host = hosts[kind]
    with pytest.raises(Exception) as caught:
        client(f"{url}/some/file.json")
    assert unreachable(f"{url}/some/file.json", caught.value) == f"cannot reach {host} ({kind})"


def test_other_failures_are_not_called_unreachable():
    assert unreachable_kind(ValueError("bad value")) is None
    assert unreachable_kind(ConnectionResetError(104, "Connection reset by peer")) is None
    assert unreachable_kind(requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")) is None
    error = network_error("http://example.org/x", requests.exceptions.TooManyRedirects("Exceeded 30 redirects." * 20))
    assert error == "TooManyRedirects (" + "Exceeded 30 redirects." * 20 + ")"  # in full, never cut


def test_host_of():
    assert host_of("https://user:secret@huggingface.co/api") == "huggingface.co"
    assert host_of("http://127.0.0.1:8080/x") == "127.0.0.1:8080"
    assert host_of("http://[::1]:9/") == "[::1]:9"
    assert host_of("not a url") == "not a url"


@pytest.mark.parametrize("kind", KINDS)
def test_fetch_bytes_says_cannot_reach_in_full(hosts, kind):
    url, host = hosts[kind]
    started = time.monotonic()
    with pytest.raises(HttpError) as caught:
        fetch_bytes(f"{url}/2/download_plans/frame_train.json", timeout=0.5, retries=2, backoff=0.01)
    assert str(caught.value) == f"{url}/2/download_plans/frame_train.json: cannot reach {host} ({kind})"
    assert caught.value.status is None and caught.value.unreachable == kind
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("kind", KINDS)
def test_download_file_says_cannot_reach_and_writes_nothing(tmp_path, hosts, kind):
    url, host = hosts[kind]
    destination = tmp_path / "models" / "model.tgz"
    with pytest.raises(HttpError, match=rf"^{url}/model.tgz: cannot reach {host} \({kind}\)$"):
        download_file(f"{url}/model.tgz", destination, timeout=0.5, retries=2, backoff=0.01)
    assert not (tmp_path / "models").exists()  # not even the folder


@pytest.mark.parametrize(("kind", "tries"), [("TLS", 1), ("DNS", 1), ("refused", 3), ("timeout", 3)])
def test_what_cannot_go_away_by_itself_is_not_retried(hosts, monkeypatch, kind, tries):
    attempts = []
    original = requests.Session.get

    def counting_get(self, url, **kwargs):
        attempts.append(url)
        return original(self, url, **kwargs)

    monkeypatch.setattr(requests.Session, "get", counting_get)
    with pytest.raises(HttpError):
        fetch_bytes(f"{hosts[kind][0]}/x", timeout=0.2, retries=3, backoff=0.01)
    assert len(attempts) == tries
