"""The local servers against real clients: urllib/http.client for the HTTP details, ffmpeg and yt-dlp for media,
the real huggingface_hub for the fake Hub."""

from __future__ import annotations

import hashlib
import http.client
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yt_dlp
from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    IncompleteSnapshotError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile

from reelset.sandbox.media import make_video
from reelset.sandbox.servers import FakeHub, Fault, MediaServer

BLOB_SIZE = 200_000
REPO_ID = "facebook/action100m-preview"


def _fetch(server: MediaServer | FakeHub, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
           ) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One raw request: http.client sends the path exactly as given (no normalising) and never raises on a status."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A web root with a random blob, a non-faststart mp4, one file per content type, and a secret outside it."""
    base = tmp_path_factory.mktemp("site")
    root = base / "www"
    (root / "nested").mkdir(parents=True)
    (root / "blob.bin").write_bytes(random.Random(7).randbytes(BLOB_SIZE))
    make_video(root / "video.mp4", seconds=3, width=320, height=240)
    for name in ("a.m4a", "a.m3u8", "a.ts", "a.m4s", "a.json", "a.parquet", "a.webm", "a.xyz"):
        (root / "nested" / name).write_bytes(b"x")
    (base / "secret.txt").write_text("secret")
    (root / "link.txt").symlink_to(base / "secret.txt")
    return root


@pytest.fixture
def media(site: Path) -> Iterator[MediaServer]:
    with MediaServer(site) as server:
        yield server


# --- MediaServer: plain HTTP ------------------------------------------------------------------------------------------


def test_get_and_head_serve_the_file_with_its_length_and_type(media: MediaServer, site: Path) -> None:
    status, headers, body = _fetch(media, "/video.mp4")
    assert status == 200 and body == (site / "video.mp4").read_bytes()
    assert headers["Content-Length"] == str(len(body))
    assert headers["Content-Type"] == "video/mp4" and headers["Accept-Ranges"] == "bytes"

    status, head_headers, head_body = _fetch(media, "/video.mp4", method="HEAD")
    assert (status, head_body) == (200, b"")
    assert head_headers["Content-Length"] == str(len(body)) and head_headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, BLOB_SIZE - 1),
        ("bytes=-500", BLOB_SIZE - 500, BLOB_SIZE - 1),
        ("bytes=-999999999", 0, BLOB_SIZE - 1),  # a suffix longer than the file is the whole file
        ("bytes=150000-999999999", 150000, BLOB_SIZE - 1),  # the end is clamped to the file
        ("bytes=42-42", 42, 42),
    ],
)
def test_ranges_are_byte_exact(media: MediaServer, site: Path, range_header: str, first: int, last: int) -> None:
    status, headers, body = _fetch(media, "/blob.bin", headers={"Range": range_header})
    assert status == 206
    assert headers["Content-Range"] == f"bytes {first}-{last}/{BLOB_SIZE}"
    assert headers["Content-Length"] == str(last - first + 1)
    assert body == (site / "blob.bin").read_bytes()[first : last + 1]


@pytest.mark.parametrize(
    "range_header", [f"bytes={BLOB_SIZE}-", f"bytes={BLOB_SIZE + 10}-{BLOB_SIZE + 20}", "bytes=-0"]
)
def test_unsatisfiable_ranges_get_416(media: MediaServer, range_header: str) -> None:
    status, headers, body = _fetch(media, "/blob.bin", headers={"Range": range_header})
    assert (status, body) == (416, b"")
    assert headers["Content-Range"] == f"bytes */{BLOB_SIZE}"


@pytest.mark.parametrize("range_header", ["bytes=5-3", "bytes=0-1,5-6", "items=0-9", "bytes=x-"])
def test_ignorable_ranges_get_the_whole_file(media: MediaServer, range_header: str) -> None:
    status, _, body = _fetch(media, "/blob.bin", headers={"Range": range_header})
    assert (status, len(body)) == (200, BLOB_SIZE)


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("a.m4a", "audio/mp4"),
        ("a.m3u8", "application/vnd.apple.mpegurl"),
        ("a.ts", "video/mp2t"),
        ("a.m4s", "video/iso.segment"),
        ("a.json", "application/json"),
        ("a.parquet", "application/octet-stream"),
        ("a.webm", "video/webm"),
        ("a.xyz", "application/octet-stream"),
    ],
)
def test_content_type_follows_the_suffix(media: MediaServer, name: str, content_type: str) -> None:
    _, headers, _ = _fetch(media, f"/nested/{name}", method="HEAD")
    assert headers["Content-Type"] == content_type


@pytest.mark.parametrize("path", ["/../secret.txt", "/nested/../../secret.txt", "/%2e%2e/secret.txt", "/link.txt",
                                  "/nested", "/missing.mp4"])
def test_paths_outside_root_directories_and_missing_files_are_404(media: MediaServer, path: str) -> None:
    status, _, body = _fetch(media, path)
    assert status == 404 and b"secret" not in body


def test_request_log_records_method_path_lowercased_headers_and_status(media: MediaServer) -> None:
    _fetch(media, "/blob.bin", headers={"Range": "bytes=0-0"})
    _fetch(media, "/missing", method="HEAD")
    assert [(r.method, r.path, r.status) for r in media.requests] == [
        ("GET", "/blob.bin", 206), ("HEAD", "/missing", 404)
    ]
    assert media.requests[0].headers["range"] == "bytes=0-0"
    assert media.requests[0].time <= time.time()
    media.clear_requests()
    assert media.requests == []


# --- MediaServer: faults, throttle, close -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [403, 404, 410, 429, 500, 503])
def test_status_fault_is_seen_by_urllib(media: MediaServer, code: int) -> None:
    media.set_fault("blob", Fault("status", status=code, headers={"Retry-After": "3"}))
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{media.url}/blob.bin", timeout=5)
    assert caught.value.code == code and caught.value.headers["Retry-After"] == "3"
    assert _fetch(media, "/video.mp4")[0] == 200  # other paths are untouched


def test_fault_with_times_stops_applying_and_clear_faults_removes_it(media: MediaServer) -> None:
    media.set_fault("blob", Fault("status", status=503, times=2))
    assert [_fetch(media, "/blob.bin")[0] for _ in range(3)] == [503, 503, 200]
    media.set_fault("blob", Fault("status", status=500))
    media.clear_faults()
    assert _fetch(media, "/blob.bin")[0] == 200


def test_drop_sends_fewer_bytes_than_announced(media: MediaServer) -> None:
    media.set_fault("blob", Fault("drop", after_bytes=50_000))
    with urllib.request.urlopen(f"{media.url}/blob.bin", timeout=5) as response:
        assert response.headers["Content-Length"] == str(BLOB_SIZE)
        with pytest.raises(http.client.IncompleteRead) as caught:
            response.read()
    assert len(caught.value.partial) == 50_000


def test_drop_once_then_a_range_request_resumes(media: MediaServer, site: Path) -> None:
    media.set_fault("blob", Fault("drop", after_bytes=50_000, times=1))
    assert _fetch(media, "/blob.bin", method="HEAD")[0] == 200  # HEAD has no body: not dropped, not counted
    with urllib.request.urlopen(f"{media.url}/blob.bin", timeout=5) as response, \
            pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    received = caught.value.partial
    status, _, rest = _fetch(media, "/blob.bin", headers={"Range": f"bytes={len(received)}-"})
    assert status == 206 and received + rest == (site / "blob.bin").read_bytes()


def test_stall_times_out_the_client_and_close_stays_prompt(site: Path) -> None:
    server = MediaServer(site)
    server.set_fault("blob", Fault("stall"))
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        urllib.request.urlopen(f"{server.url}/blob.bin", timeout=1)
    assert time.monotonic() - started < 3
    started = time.monotonic()
    server.close()  # the stalled handler is still waiting: close must not wait for it
    server.close()
    assert time.monotonic() - started < 1
    assert [r.status for r in server.requests] == [0]  # the stall ended with the close, no response was sent


def test_timed_stall_delays_then_serves(media: MediaServer) -> None:
    media.set_fault("blob", Fault("stall", seconds=0.3, times=1))
    started = time.monotonic()
    status, _, body = _fetch(media, "/blob.bin")
    assert time.monotonic() - started >= 0.3 and (status, len(body)) == (200, BLOB_SIZE)


def test_close_cuts_an_idle_keep_alive_connection(site: Path) -> None:
    server = MediaServer(site)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", "/blob.bin")
    connection.getresponse().read()  # the connection stays open (HTTP/1.1 keep-alive)
    started = time.monotonic()
    server.close()
    assert time.monotonic() - started < 1
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        connection.request("GET", "/blob.bin")
        connection.getresponse()


def test_throttle_paces_bodies_and_can_change_while_running(site: Path) -> None:
    with MediaServer(site, bytes_per_second=400_000) as server:
        started = time.monotonic()
        assert len(_fetch(server, "/blob.bin")[2]) == BLOB_SIZE
        assert time.monotonic() - started >= 0.4  # 200 kB at 400 kB/s
        server.bytes_per_second = None
        started = time.monotonic()
        _fetch(server, "/blob.bin")
        assert time.monotonic() - started < 0.3


# --- MediaServer with ffmpeg and yt-dlp -------------------------------------------------------------------------------


def test_ffmpeg_decodes_a_non_faststart_mp4_over_http(media: MediaServer, site: Path) -> None:
    content = (site / "video.mp4").read_bytes()
    assert content.index(b"moov") > content.index(b"mdat")  # the index is at the end: ffmpeg must seek to it
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", f"{media.url}/video.mp4", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0 and done.stderr == ""
    ranges = [r.headers.get("range", "") for r in media.requests]
    assert any(r.startswith("bytes=") and int(r[6:].split("-")[0]) > len(content) // 2 for r in ranges)


def test_yt_dlp_generic_extractor_reads_a_direct_mp4_with_one_get(media: MediaServer) -> None:
    with yt_dlp.YoutubeDL({"quiet": True, "noprogress": True}) as ydl:
        info = ydl.extract_info(f"{media.url}/video.mp4", download=False)
    assert info["direct"] is True
    assert [(f["format_id"], f["ext"], f["protocol"], f.get("height")) for f in info["formats"]] == [
        ("mp4", "mp4", "http", None)
    ]
    assert [(r.method, "range" in r.headers) for r in media.requests] == [("GET", False)]


def test_yt_dlp_section_download_of_a_non_faststart_mp4(media: MediaServer, tmp_path: Path) -> None:
    params = {
        "quiet": True, "noprogress": True, "outtmpl": str(tmp_path / "%(id)s.%(ext)s"),
        "download_ranges": yt_dlp.utils.download_range_func(None, [(1, 2)]),
    }
    with yt_dlp.YoutubeDL(params) as ydl:
        ydl.download([f"{media.url}/video.mp4"])
    duration = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(tmp_path / "video.mp4")],
        capture_output=True, text=True, check=True,
    ).stdout
    assert abs(float(duration) - 1.0) < 0.2
    assert sum(1 for r in media.requests if r.status == 206) >= 2  # ffmpeg seeks with Range


def test_yt_dlp_reports_an_injected_http_error(media: MediaServer) -> None:
    media.set_fault("video", Fault("status", status=403))
    with yt_dlp.YoutubeDL({"quiet": True, "noprogress": True}) as ydl, \
            pytest.raises(yt_dlp.utils.DownloadError, match="HTTP Error 403"):
        ydl.extract_info(f"{media.url}/video.mp4", download=False)


# --- FakeHub ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset repo: two parquet shards, files outside the pattern, and a second branch ``v2``."""
    folder = tmp_path_factory.mktemp("repo")
    (folder / "data").mkdir()
    (folder / "data" / "train-00000.parquet").write_bytes(random.Random(1).randbytes(300_000))
    (folder / "data" / "train-00001.parquet").write_bytes(random.Random(2).randbytes(2_000))
    (folder / "data" / "notes.txt").write_text("not a shard\n")
    (folder / "README.md").write_text("# Action100M preview (fake)\n")
    (folder / ".revisions" / "v2" / "data").mkdir(parents=True)
    (folder / ".revisions" / "v2" / "data" / "train-00000.parquet").write_bytes(b"v2 shard")
    return folder


@pytest.fixture
def hub(repo: Path) -> Iterator[FakeHub]:
    with FakeHub({REPO_ID: repo}) as server:
        yield server


def _snapshot(hub: FakeHub, tmp_path: Path, repo_id: str = REPO_ID, *, revision: str = "main",
              cache_dir: Path | None = None) -> Path:
    """snapshot_download into tmp_path with its own cache_dir, so refs never land in the user's ~/.cache."""
    return Path(snapshot_download(
        repo_id, repo_type="dataset", revision=revision, local_dir=tmp_path / "out",
        allow_patterns=["data/*.parquet"], endpoint=hub.url, cache_dir=cache_dir or tmp_path / "cache",
    ))


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and ".cache" not in p.parts}


def test_snapshot_download_gets_exactly_the_matching_files(hub: FakeHub, repo: Path, tmp_path: Path) -> None:
    out = _snapshot(hub, tmp_path)
    expected = {name: content for name, content in _files(repo).items() if name.endswith(".parquet")
                and not name.startswith(".revisions")}
    assert _files(out) == expected
    resolved = {r.path.rsplit("/", 1)[-1] for r in hub.requests if "/resolve/" in r.path}
    assert resolved == {"train-00000.parquet", "train-00001.parquet"}  # notes.txt and README.md never asked for


def test_second_snapshot_is_served_from_the_local_folder(hub: FakeHub, tmp_path: Path) -> None:
    _snapshot(hub, tmp_path)
    hub.clear_requests()
    _snapshot(hub, tmp_path)
    assert [r.path for r in hub.requests] == [f"/api/datasets/{REPO_ID}/revision/main"]


def test_repo_ids_match_case_insensitively(hub: FakeHub, repo: Path, tmp_path: Path) -> None:
    out = _snapshot(hub, tmp_path, "Facebook/Action100M-Preview")
    assert sorted(_files(out)) == ["data/train-00000.parquet", "data/train-00001.parquet"]
    assert HfApi(endpoint=hub.url).dataset_info("FACEBOOK/action100m-PREVIEW").id == REPO_ID


def test_revisions_by_sha_and_branch_and_a_sha_that_follows_the_content(hub: FakeHub, repo: Path, tmp_path: Path
                                                                         ) -> None:
    sha = hub.commit_sha(REPO_ID)
    assert len(sha) == 40 and int(sha, 16) >= 0
    assert _files(_snapshot(hub, tmp_path / "pinned", revision=sha)).keys() == {
        "data/train-00000.parquet", "data/train-00001.parquet"}
    assert _files(_snapshot(hub, tmp_path / "branch", revision="v2")) == {"data/train-00000.parquet": b"v2 shard"}
    assert hub.commit_sha(REPO_ID, "v2") != sha
    (repo / "data" / "train-00002.parquet").write_bytes(b"pushed later")
    try:
        assert hub.commit_sha(REPO_ID) != sha
    finally:
        (repo / "data" / "train-00002.parquet").unlink()
    assert hub.commit_sha(REPO_ID) == sha


def test_unknown_revision_repo_and_file_raise_the_clients_error_classes(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(RevisionNotFoundError):
        _snapshot(hub, tmp_path / "a", revision="no-such-branch")
    with pytest.raises(RepositoryNotFoundError):  # with a fresh local_dir: see test_offline_... for the other case
        _snapshot(hub, tmp_path / "b", "facebook/no-such-repo")
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(REPO_ID, "data/missing.parquet", repo_type="dataset", endpoint=hub.url,
                        cache_dir=tmp_path / "cache")
    assert _fetch(hub, f"/api/datasets/{REPO_ID}/revision/nope")[1]["X-Error-Code"] == "RevisionNotFound"


def test_resolve_headers_etags_and_ranges(hub: FakeHub, repo: Path) -> None:
    sha = hub.commit_sha(REPO_ID)
    shard = (repo / "data" / "train-00000.parquet").read_bytes()
    status, headers, _ = _fetch(hub, f"/datasets/{REPO_ID}/resolve/main/data/train-00000.parquet", method="HEAD")
    assert status == 200 and headers["X-Repo-Commit"] == sha
    assert headers["X-Linked-Etag"] == f'"{hashlib.sha256(shard).hexdigest()}"'
    assert headers["X-Linked-Size"] == headers["Content-Length"] == str(len(shard))
    readme = (repo / "README.md").read_bytes()
    _, headers, _ = _fetch(hub, f"/datasets/{REPO_ID}/resolve/{sha}/README.md", method="HEAD")
    git_blob_sha1 = hashlib.sha1(b"blob %d\0" % len(readme) + readme).hexdigest()
    assert headers["ETag"] == f'"{git_blob_sha1}"' and "X-Linked-Etag" not in headers
    status, headers, body = _fetch(hub, f"/datasets/{REPO_ID}/resolve/main/data/train-00000.parquet",
                                   headers={"Range": "bytes=-100"})
    assert status == 206 and body == shard[-100:]


def test_tree_listing_through_the_real_client(hub: FakeHub) -> None:
    api = HfApi(endpoint=hub.url)
    everything = {entry.path: entry for entry in api.list_repo_tree(REPO_ID, repo_type="dataset", recursive=True)}
    assert sorted(everything) == ["README.md", "data", "data/notes.txt", "data/train-00000.parquet",
                                  "data/train-00001.parquet"]
    shard, readme = everything["data/train-00000.parquet"], everything["README.md"]
    assert isinstance(shard, RepoFile) and shard.lfs is not None and shard.lfs.size == 300_000
    assert isinstance(readme, RepoFile) and readme.lfs is None
    top = [entry.path for entry in api.list_repo_tree(REPO_ID, repo_type="dataset")]
    assert top == ["data", "README.md"]


def test_a_500_on_one_shard_is_retried_by_the_client(hub: FakeHub, repo: Path, tmp_path: Path) -> None:
    hub.set_fault("train-00001", Fault("status", status=500, times=1))
    out = _snapshot(hub, tmp_path)
    assert (out / "data" / "train-00001.parquet").read_bytes() == (repo / "data" / "train-00001.parquet").read_bytes()
    assert [r.status for r in hub.requests if "train-00001" in r.path] == [500, 200, 200]


def test_a_drop_mid_body_is_retried_by_the_client(hub: FakeHub, repo: Path, tmp_path: Path) -> None:
    hub.set_fault("train-00000", Fault("drop", after_bytes=100_000, times=1))
    out = _snapshot(hub, tmp_path)  # the client sleeps 1 s before it retries
    assert (out / "data" / "train-00000.parquet").read_bytes() == (repo / "data" / "train-00000.parquet").read_bytes()
    assert [r.method for r in hub.requests if "train-00000" in r.path] == ["HEAD", "GET", "GET"]


def test_offline_snapshot_returns_the_local_folder_without_asking(hub: FakeHub, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Documents the client, for callers: offline (HF_HUB_OFFLINE=1, read at import, hence the patch) it sends no
    request; a partial local_dir is an error only if this cache_dir remembers the commit of ``main``."""
    out = _snapshot(hub, tmp_path)
    (out / "data" / "train-00001.parquet").unlink()
    hub.clear_requests()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(IncompleteSnapshotError):
        _snapshot(hub, tmp_path)
    assert _snapshot(hub, tmp_path, cache_dir=tmp_path / "other-cache") == out  # incomplete, and no error
    assert hub.requests == []


def test_hf_endpoint_variable_works_when_set_before_import(hub: FakeHub, tmp_path: Path) -> None:
    script = (
        "import sys; from huggingface_hub import snapshot_download; "
        f"snapshot_download({REPO_ID!r}, repo_type='dataset', local_dir=sys.argv[1], cache_dir=sys.argv[2], "
        "allow_patterns=['README.md'])"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "out"), str(tmp_path / "cache")],
        env={**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_PROGRESS_BARS": "1"},
        check=True, timeout=60,
    )
    assert (tmp_path / "out" / "README.md").read_text().startswith("# Action100M")
