"""`reelset doctor`'s first line, network and database checks, offline: the hosts are real servers on 127.0.0.1
reached through the same environment variables users set (the hosts only a flag overrides are left out: no test
reaches the internet), and FiftyOne's MongoDB notice is the real FiftyOne's."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from reelset import doctor
from reelset.cli import cli
from reelset.core import fiftyone_db
from reelset.doctor import HostUse, check_fiftyone_db, host_uses, mongodb_version_notice, probe_host
from reelset.sandbox.servers import Fault, MediaServer

# `python -m reelset doctor` as a user runs it, its hosts kept to those on 127.0.0.1; on stderr, the heavy modules
# loaded when stdout got its first line.
_FIRST_LINE = """
import json, runpy, sys

import reelset.doctor

heavy = set(json.loads(sys.argv[1]))
every_host = reelset.doctor.host_uses
reelset.doctor.host_uses = lambda: [use for use in every_host() if "//127.0.0.1:" in use.url]

class FirstLine:
    def __init__(self, out):
        self.out, self.loaded = out, None

    def write(self, text):
        if self.loaded is None and text.strip():
            self.loaded = sorted({name.split(".")[0] for name in sys.modules} & heavy)
        return self.out.write(text)

    def __getattr__(self, name):
        return getattr(self.out, name)

sys.stdout = first = FirstLine(sys.stdout)
sys.argv = ["reelset", "doctor"]
try:
    runpy.run_module("reelset", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
print(json.dumps(first.loaded), file=sys.stderr)
"""
HEAVY = ("torch", "fiftyone", "tensorflow", "dask", "distributed", "yt_dlp", "pyarrow", "cv2", "av", "requests")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    with MediaServer(tmp_path) as served:
        yield served


@pytest.fixture()
def local_hosts_only(monkeypatch):
    """doctor's host list as the environment makes it, less the hosts not on 127.0.0.1."""
    monkeypatch.setattr(doctor, "host_uses", lambda: [use for use in host_uses() if "//127.0.0.1:" in use.url])


def test_doctor_prints_its_first_line_before_any_heavy_import():
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(_FIRST_LINE), json.dumps(HEAVY)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.startswith("ok       ffmpeg: "), done.stdout + done.stderr[-3000:]
    assert " (action100m ids): cannot reach 127.0.0.1:" in done.stdout  # the host checks ran
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


def test_host_uses_build_each_url_as_its_step_does():
    defaults = {use.step: use.url for use in host_uses({})}
    assert defaults["action100m ids"] == "https://huggingface.co"
    assert defaults["action100m download"] == "https://www.youtube.com/watch?v={id}"
    assert defaults["yt8m download --mirror us"] == "http://us.data.yt8m.org"
    env = {"HF_ENDPOINT": "http://hub.example:8080", "REELSET_URL_TEMPLATE": "http://videos.example/{id}.mp4",
           "mirror": "asia", "REELSET_INCEPTION_URL": "http://models.example/i.tgz",
           "REELSET_YT8M_PCA_URL": "http://pca.example/p.tgz"}
    uses = host_uses(env)
    assert {use.url for use in uses} >= {"http://hub.example:8080", "http://videos.example/{id}.mp4",
                                         "http://asia.data.yt8m.org", "http://models.example/i.tgz",
                                         "http://pca.example/p.tgz"}
    assert HostUse("http://asia.data.yt8m.org", "yt8m download --mirror asia",
                   "--mirror (or $mirror) picks another: us, eu or asia") in uses


def test_probe_host_says_why_a_host_cannot_be_reached(server):
    assert probe_host(server.url, timeout=2) == (404, "")  # any HTTP answer is reached
    assert probe_host(f"http://127.0.0.1:{closed_port()}", timeout=2) == (None, "refused")
    assert probe_host(f"https://127.0.0.1:{server.port}", timeout=2) == (None, "TLS")  # HTTP where TLS was expected
    assert probe_host("http://reelset-doctor.invalid", timeout=2) == (None, "DNS")
    server.set_fault("/", Fault("stall"))
    started = time.monotonic()
    assert probe_host(server.url, timeout=0.3) == (None, "timeout")
    assert time.monotonic() - started < 2


def test_doctor_checks_each_host_as_its_step_would_reach_it(server, tmp_path, local_hosts_only):
    refused = closed_port()
    env = {"HF_ENDPOINT": server.url, "REELSET_URL_TEMPLATE": f"http://127.0.0.1:{refused}/watch?v={{id}}",
           "REELSET_INCEPTION_URL": f"https://127.0.0.1:{server.port}/inception.tgz",
           "REELSET_YT8M_PCA_URL": f"http://127.0.0.1:{server.port}/yt8m_pca.tgz"}
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["doctor", "--model-dir", str(tmp_path)], env=env)
    assert time.monotonic() - started < 30
    assert result.exit_code == 0, result.output  # unreachable hosts are warnings
    lines = result.output.splitlines()
    hosts = {line.split(": ")[0]: line for line in lines if line.split()[1] == "host"}
    youtube = hosts[f"warning  host 127.0.0.1:{refused} (action100m download)"]
    assert youtube.endswith(f": cannot reach 127.0.0.1:{refused} (refused)  -> fix: check the network or proxy; "
                            "REELSET_URL_TEMPLATE (--url-template) sets another video host")
    # The same server named by two URLs is probed once, for both steps.
    shared = hosts[f"ok       host 127.0.0.1:{server.port} (action100m ids, yt8m extract --backbone inception-yt8m)"]
    assert ": HTTP 404 in " in shared
    inception = hosts[f"warning  host 127.0.0.1:{server.port} (yt8m extract --backbone inception-yt8m)"]
    assert inception.endswith(f": cannot reach 127.0.0.1:{server.port} (TLS)  -> fix: check the network or proxy; "
                              "REELSET_INCEPTION_URL sets another")
    assert len(hosts) == 3
    # One HEAD (the TLS handshake sent to the same server is logged as an unparsable request).
    assert [request.method for request in server.requests if request.method] == ["HEAD"]
    states = [line.split()[0] for line in lines[:-1]]
    assert lines[-1] == f"doctor: {states.count('ok')} ok, {states.count('warning')} warnings, 0 errors"

    offline = CliRunner().invoke(cli, ["doctor", "--offline", "--model-dir", str(tmp_path)], env=env)
    assert offline.exit_code == 0 and " host " not in offline.output
    assert offline.output.splitlines()[-1].endswith("; hosts not checked (--offline)")


def test_mongodb_notice_is_hidden_from_fiftyone_and_said_once_by_doctor(monkeypatch):
    import fiftyone.constants
    from fiftyone.core.odm import database
    from packaging.version import Version

    assert doctor.FIFTYONE_OLDEST_MONGODB_MAJOR == fiftyone.constants.MONGODB_MIN_VERSION.major
    # Importing reelset.core.fiftyone_db (the CLI's options do) hid it; doing it again adds nothing.
    logger = logging.getLogger("fiftyone.core.odm.database")
    fiftyone_db.hide_old_mongodb_notice()
    assert len(logger.filters) == 1
    # FiftyOne's own check, as it runs at every connection: its notice is dropped, its other warnings are not.
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        database._is_fcv_upgradeable(Version("6.0"), Version("6.0"))
        assert records == []
        database._is_fcv_upgradeable(Version("7.0"), Version("6.0"))
        assert [record.getMessage()[:60] for record in records] == [
            "Your MongoDB feature compatibility is greater than your serv"]
    finally:
        logger.removeHandler(handler)
    # doctor: the tests' MongoDB (FiftyOne's bundled 6.0, through FIFTYONE_DATABASE_URI) answers, and is 6.x.
    database_check, notice = check_fiftyone_db()
    assert database_check.ok and database_check.detail.startswith("MongoDB 6.0.")
    assert notice.state == "warning" and notice.name == "MongoDB version"
    assert mongodb_version_notice("7.0.14", "7.0") is None
    fcv = mongodb_version_notice("7.0.14", "6.0")
    assert "feature compatibility version 6.0" in fcv.detail and 'setFeatureCompatibilityVersion: "7.0"' in fcv.fix
    # A database that does not answer is an error: every FiftyOne step would fail.
    monkeypatch.setattr(doctor, "MONGODB_PING_MS", 300)
    monkeypatch.setenv("FIFTYONE_DATABASE_URI", f"mongodb://reel:s3cret@127.0.0.1:{closed_port()}")
    (unreachable,) = check_fiftyone_db()
    assert unreachable.state == "error" and "cannot reach MongoDB" in unreachable.detail
    assert "reel:***@" in unreachable.detail and "s3cret" not in unreachable.detail


def test_search_checks_say_what_search_lacks(monkeypatch):
    checks = {check.name: check for check in doctor.check_search()}
    assert all(check.ok for check in checks.values()), checks
    assert checks["MiniLM weights (search)"].detail.endswith("model.safetensors")
    real = doctor.package_version
    monkeypatch.setattr(doctor, "package_version", lambda name: None if name in ("onnxruntime", "usearch")
                        else real(name))
    checks = {check.name: check for check in doctor.check_search()}
    onnx = checks["ONNX Runtime (search's CPU embeddings)"]
    assert onnx.state == "warning" and "torch embeds instead" in onnx.detail and onnx.fix == "pip install onnxruntime"
    graphs = checks["usearch (search's HNSW graphs)"]
    assert graphs.state == "error" and graphs.fix == "pip install usearch"
