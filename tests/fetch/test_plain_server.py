"""`action100m download --url-template` against a plain static server that ignores HTTP Range (Python's own
``http.server``), and the proof that a Range-capable server costs no request more."""

from __future__ import annotations

import functools
import http.server
import io
import struct
import threading
import types
import urllib.request
from pathlib import Path

import pytest

from reelset.fetch.clip import _index_after_media
from reelset.fetch.download import download_videos
from reelset.sandbox.media import make_video
from tests.support.downloads import fast_settings, status_records

WHOLE_FILE = "reading the whole file before clipping"


class _PlainHandler(http.server.SimpleHTTPRequestHandler):
    """A static file server that never honours Range (whatever a later Python's handler learns), and that cuts
    ``/cut/...`` files off halfway, its Content-Length promising the whole."""

    def send_head(self):
        del self.headers["Range"]
        return super().send_head()

    def copyfile(self, source, outputfile):
        if self.path.startswith("/cut/"):
            data = source.read()
            outputfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        super().copyfile(source, outputfile)

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def plain_root(media_root, tmp_path_factory) -> Path:
    """The session's generated files under ``files/`` and again under ``cut/``; ``fast/`` for files of our own."""
    root = tmp_path_factory.mktemp("plain")
    (root / "files").symlink_to(media_root / "files")
    (root / "cut").symlink_to(media_root / "files")
    (root / "fast").mkdir()
    return root


@pytest.fixture()
def plain_server(plain_root):
    """``plain_root`` served by ``http.server`` on 127.0.0.1 (``.url``, like the sandbox's servers)."""
    handler = functools.partial(_PlainHandler, directory=str(plain_root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield types.SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}", root=plain_root)
    server.shutdown()
    server.server_close()


def moov_after_mdat(path: Path) -> bool:
    data = path.read_bytes()
    return data.find(b"mdat") < data.find(b"moov")


def test_the_plain_server_ignores_range(plain_server, sources):
    request = urllib.request.Request(f"{plain_server.url}/files/{sources.FITS}.mp4", headers={"Range": "bytes=0-0"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200 and len(response.read()) > 1000


def test_moov_at_end_files_become_verified_clips(tmp_path, plain_server, sources, media_root, ffprobe,
                                                  quiet_reporter):
    out = tmp_path / "videos"
    served = [sources.TALL, sources.FITS, sources.SILENT]
    assert all(moov_after_mdat(media_root / "files" / f"{video_id}.mp4") for video_id in served)
    settings = fast_settings(out, plain_server, sources, url_template=f"{plain_server.url}/files/{{id}}.mp4", tries=1)
    summary = download_videos([*served, sources.GONE], settings, quiet_reporter)

    status = status_records(out)
    for video_id in served:
        assert status[video_id]["status"] == "ok", status[video_id]
        info = ffprobe(out / f"{video_id}.mp4")
        assert 0 < float(info["format"]["duration"]) <= sources.CLIP_SECONDS + 0.15  # the first seconds only
        assert WHOLE_FILE in (out / "logs" / f"{video_id}.log").read_text()
    assert (status[sources.TALL]["width"], status[sources.TALL]["height"]) == (852, 480)
    assert status[sources.FITS]["mode"] == "copy"
    assert status[sources.GONE]["status"] == "unavailable" and "404" in status[sources.GONE]["message"]
    assert summary.counts["ok"] == 3
    assert not (out / ".partial").exists()  # the whole-file copies went with the attempts' folders


def test_a_faststart_file_is_streamed_not_read_whole(tmp_path, plain_server, sources, quiet_reporter):
    video_id = "faststart01"
    make_video(plain_server.root / "fast" / f"{video_id}.mp4", seconds=sources.SECONDS, width=320, height=240,
               faststart=True)
    out = tmp_path / "videos"
    settings = fast_settings(out, plain_server, sources, url_template=f"{plain_server.url}/fast/{{id}}.mp4", tries=1)
    download_videos([video_id], settings, quiet_reporter)
    assert status_records(out)[video_id]["status"] == "ok"
    log = (out / "logs" / f"{video_id}.log").read_text()
    assert "the file needs no seeking" in log and WHOLE_FILE not in log


def test_a_cut_whole_file_read_is_a_transient_failure(tmp_path, plain_server, sources, quiet_reporter):
    out = tmp_path / "videos"
    settings = fast_settings(out, plain_server, sources, url_template=f"{plain_server.url}/cut/{{id}}.mp4", tries=1)
    download_videos([sources.FITS], settings, quiet_reporter)
    record = status_records(out)[sources.FITS]
    assert record["status"] == "failed" and "connection closed after" in record["message"], record
    assert not (out / f"{sources.FITS}.mp4").exists()


def test_a_range_capable_server_gets_no_extra_request(tmp_path, media_server, sources, quiet_reporter):
    out = tmp_path / "videos"
    download_videos([sources.TALL], fast_settings(out, media_server, sources), quiet_reporter)
    assert status_records(out)[sources.TALL]["status"] == "ok"
    ranges = [r.headers.get("range") for r in media_server.requests if r.path == f"/files/{sources.TALL}.mp4"]
    assert "bytes=0-0" not in ranges  # the server's Accept-Ranges, seen by yt-dlp, answered the question
    assert WHOLE_FILE not in (out / "logs" / f"{sources.TALL}.log").read_text()


def _box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


@pytest.mark.parametrize(("body", "whole"), [
    (_box(b"ftyp", b"isom" * 4) + _box(b"free") + _box(b"mdat", b"x" * 64) + _box(b"moov"), True),
    (_box(b"ftyp", b"isom" * 4) + _box(b"moov", b"y" * 32) + _box(b"mdat", b"x" * 64), False),
    (_box(b"ftyp", b"isom" * 4) + _box(b"moof") + _box(b"mdat"), False),  # fragmented: read in order
    (b"\x1aE\xdf\xa3" + b"\0" * 60, False),  # Matroska / WebM: no box structure, no seek needed
    (_box(b"ftyp", b"isom")[:6], False),  # too short to tell: ffmpeg says what is wrong
    # A leading box too large to hold in memory: saved whole, not read into the decision.
    (_box(b"ftyp", b"isom") + struct.pack(">I4s", 1, b"free") + struct.pack(">Q", 1 << 40), True),
])
def test_which_bodies_need_the_whole_file(body, whole):
    needs_whole, head = _index_after_media(io.BytesIO(body))
    assert needs_whole == whole and body.startswith(head) and len(head) <= len(body)
