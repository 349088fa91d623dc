"""Shared fixtures: generated media served by a real HTTP server on 127.0.0.1, and quiet reporters."""

from __future__ import annotations

import atexit
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from reelset.core.progress import Reporter
from reelset.sandbox.media import make_hls, make_video
from reelset.sandbox.servers import MediaServer
from tests.support.mongo import MongoServer

# FiftyOne reads its configuration when first imported (by the test modules, after this file): give this test
# session a MongoDB server of its own, never the user's database (tests.support.mongo says why a private
# FIFTYONE_DATABASE_DIR alone is not enough).
_MONGO = MongoServer()
atexit.register(_MONGO.close)
os.environ["FIFTYONE_DATABASE_URI"] = _MONGO.uri
os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ["FIFTYONE_SHOW_PROGRESS_BARS"] = "false"


class Sources:
    """The generated source videos, by eleven-character id (each id says what its source is)."""

    SECONDS = 6
    CLIP_SECONDS = 4
    TALL = "tall720p_01"  # 1280x720 h264/aac mp4 with moov at the end: encoded, scaled to the cap
    FITS = "fits360p_01"  # 640x360 h264/aac: copied
    ODD = "oddsize_321"  # 321x241 (4:4:4): encoded to even 320x240 yuv420p
    SHORT = "short2s_vid"  # 2 s, shorter than the clip length
    HLS = "hlsmaster01"  # HLS master: 720p + 360p variants + audio rendition
    SILENT = "noaudio_vid"  # no audio stream
    GONE = "gone404_vid"  # not on the server
    SERVED = (TALL, FITS, ODD, SHORT, HLS, SILENT)


@pytest.fixture(scope="session", autouse=True)
def isolated_caches(tmp_path_factory):
    """Keep the tests away from the user's caches (Hugging Face, yt-dlp) and from any real hub."""
    home = tmp_path_factory.mktemp("home")
    patch = pytest.MonkeyPatch()
    patch.setenv("HF_HOME", str(home / "hf"))
    patch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    patch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    patch.delenv("HF_HUB_OFFLINE", raising=False)
    patch.delenv("HF_ENDPOINT", raising=False)
    yield
    patch.undo()


@pytest.fixture(scope="session")
def sources() -> type[Sources]:
    return Sources


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("media")
    s = Sources
    make_video(root / "files" / f"{s.TALL}.mp4", seconds=s.SECONDS, width=1280, height=720)
    make_video(root / "files" / f"{s.FITS}.mp4", seconds=s.SECONDS, width=640, height=360)
    make_video(root / "files" / f"{s.ODD}.mp4", seconds=s.SECONDS, width=321, height=241)
    make_video(root / "files" / f"{s.SHORT}.mp4", seconds=2, width=640, height=360)
    make_video(root / "files" / f"{s.SILENT}.mp4", seconds=s.SECONDS, width=426, height=240, audio=None)
    make_hls(root / "hls" / s.HLS, seconds=s.SECONDS, variants=((1280, 720), (640, 360)))
    return root


@pytest.fixture()
def media_server(media_root):
    """A fresh server per test (clean faults and request log) over the session's generated files.

    ``/watch/<id>`` redirects to the video's file, like a video page resolving to its media.
    """
    with MediaServer(media_root) as server:
        for video_id in Sources.SERVED:
            target = f"/hls/{video_id}/master.m3u8" if video_id == Sources.HLS else f"/files/{video_id}.mp4"
            server.add_redirect(f"/watch/{video_id}", target)
        yield server


@pytest.fixture()
def ffprobe():
    """ffprobe run directly (not through reelset's wrapper): the tests' independent view of a file."""
    return ffprobe_json


@pytest.fixture()
def quiet_reporter():
    """A non-interactive reporter whose lines can be read back (``.out.getvalue()``)."""
    return Reporter(interactive=False, out=io.StringIO(), err=io.StringIO())


def ffprobe_json(path: Path) -> dict:
    """ffprobe run directly (not through reelset's wrapper): the tests' independent view of a file."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def local_cluster():
    """A Dask cluster on 127.0.0.1 for one test module: 2 worker processes of one thread, no dashboard."""
    pytest.importorskip("distributed")
    from tests.support.cluster import local_cluster as start_local_cluster

    with start_local_cluster(2) as local:
        yield local


@pytest.fixture(scope="module")
def dask_client(local_cluster):
    """A client of :func:`local_cluster` that does not become Dask's default."""
    import distributed

    with distributed.Client(local_cluster.scheduler_address, set_as_default=False) as connected:
        yield connected


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny networks: one torch thread is many times faster than several contending on a busy machine."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
