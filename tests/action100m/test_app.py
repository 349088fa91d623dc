"""`action100m app` with the real FiftyOne App: its URL first and nothing from FiftyOne, the brief action the one
label field shown on opening, and FiftyOne's server process gone once the App is stopped."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import fiftyone as fo
import fiftyone.core.fields as fof
import psutil
import pytest

from reelset.action100m.app import BRIEF_ACTION_FIELD, app_url, serve_app, show_brief_action_first
from reelset.action100m.tree import GPT_FIELDS
from reelset.core.errors import ReelsetError

NAME = "test-app-brief-action"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def dataset(tmp_path):
    """Persistent: the CLI test's App runs in another process."""
    made = fo.Dataset(NAME, overwrite=True, persistent=True)
    for field in GPT_FIELDS:
        made.add_sample_field(field, fof.EmbeddedDocumentField, embedded_doc_type=fo.TemporalDetections)
    made.add_sample(fo.Sample(filepath=str(tmp_path / "clip.mp4")))
    yield made
    made.delete()


def server_processes(port: int) -> list[psutil.Process]:
    """FiftyOne's server on ``port``: its service wrapper (fiftyone/service/main.py ... main.py --port N) and the
    server itself (fiftyone/server/main.py, run as ``main.py --port N`` from its folder)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        args = process.info["cmdline"] or []
        if any(arg.endswith("main.py") for arg in args) and any(
                arg == "--port" and value == str(port) for arg, value in zip(args, args[1:])):
            found.append(process)
    return found


def active_fields(port: int) -> dict:
    """The label fields ticked when the App opens, as the App's own server hands them to the browser."""
    query = {"query": f'{{ dataset(name: "{NAME}") {{ appConfig {{ activeFields {{ paths exclude }} }} }} }}'}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps(query).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]["dataset"]["appConfig"]["activeFields"]


def test_app_prints_its_url_alone_opens_on_the_brief_action_and_close_stops_the_server(dataset, capfd):
    port = free_port()
    lines = []
    session = serve_app(NAME, port=port, on_ready=lines.append, wait=False)
    try:
        out, err = capfd.readouterr()
        assert lines == [f"app: {app_url('127.0.0.1', port)} (dataset {NAME}); Ctrl-C stops it"]
        assert (out, err) == ("", "")  # no ssh instructions, banner, retries or MongoDB notice
        assert server_processes(port)
        assert active_fields(port) == {"paths": [BRIEF_ACTION_FIELD], "exclude": None}
        assert len(GPT_FIELDS) > 1  # the others are there, unticked
    finally:
        session.close()
    assert not server_processes(port)


def test_app_command_stops_its_server_on_ctrl_c(dataset):
    port = free_port()
    app = subprocess.Popen([sys.executable, "-m", "reelset", "action100m", "app", "--name", NAME, "--port", str(port)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in app.stdout], daemon=True).start()
    try:
        assert lines.get(timeout=60) == f"app: {app_url('127.0.0.1', port)} (dataset {NAME}); Ctrl-C stops it"
        assert lines.get(timeout=120).startswith("app: serving (started in ")
        with urllib.request.urlopen(app_url("127.0.0.1", port), timeout=30) as response:
            assert response.status == 200
        assert server_processes(port)
        app.send_signal(signal.SIGINT)
        assert app.wait(timeout=60) == 0
    finally:
        if app.poll() is None:
            app.kill()
    assert lines.get(timeout=5) == "app: stopped"
    assert app.stderr.read() == ""  # neither FiftyOne's messages nor a traceback
    assert not server_processes(port)


def test_a_busy_port_is_one_error_and_a_stored_field_choice_is_kept(dataset):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ReelsetError, match=rf"127\.0\.0\.1:{port}: cannot serve the App there \(Address "
                                               r"already in use\); is another App running\?"):
            serve_app(NAME, port=port, on_ready=lambda line: None, wait=False)
    dataset.app_config.active_fields = fo.ActiveFields(paths=["gpt_summary_brief"])
    dataset.save()
    assert not show_brief_action_first(dataset)
    assert fo.load_dataset(NAME).app_config.active_fields.paths == ["gpt_summary_brief"]
