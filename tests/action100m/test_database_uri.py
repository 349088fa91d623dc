"""--database-uri: the FiftyOne dataset lands in the MongoDB server named, not in the one FiftyOne would use.

tests/conftest.py points FIFTYONE_DATABASE_URI at this session's private mongod; these tests start a second one
and check, with pymongo on each server, that the dataset is in the second and not in the first. The command runs
in a subprocess, so FiftyOne's import-time configuration is fresh.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pymongo
import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.core import fiftyone_db
from reelset.core.errors import ReelsetError
from reelset.sandbox.action100m_sample import make_sample_rows, write_parquet
from reelset.sandbox.media import make_video
from tests.support.mongo import MongoServer

FIFTYONE_DB = "fiftyone"  # FiftyOne's database name (fo.config.database_name) on any server


@pytest.fixture(scope="module")
def other_server():
    with MongoServer() as server:
        yield server


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("a100m-uri")
    rows = make_sample_rows(2, seed=11, video_seconds=(20, 30), max_depths=(3, 4))
    write_parquet(rows, root / "data" / "data" / "part-00000.parquet")
    for row in rows:
        make_video(root / "videos" / f"{row['video_uid']}.mp4", seconds=2, width=96, height=64, fps=10,
                   faststart=True)
    return root


def dataset_names(uri: str) -> set[str]:
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        if FIFTYONE_DB not in client.list_database_names():
            return set()
        return {document["name"] for document in client[FIFTYONE_DB]["datasets"].find({}, {"name": 1})}


def sample_count(uri: str, name: str) -> int:
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        database = client[FIFTYONE_DB]
        collection = database["datasets"].find_one({"name": name})["sample_collection_name"]
        return database[collection].count_documents({})


@pytest.mark.slow
def test_dataset_lands_in_the_server_named(corpus, other_server):
    session_uri = os.environ["FIFTYONE_DATABASE_URI"]  # what FiftyOne would use without the option
    assert session_uri != other_server.uri
    command = [sys.executable, "-m", "reelset", "action100m", "fiftyone", "--data-dir", str(corpus / "data"),
               "--videos", str(corpus / "videos"), "--name", "uri-test", "--database-uri", other_server.uri]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"fiftyone: database {other_server.uri}" in done.stdout
    assert "uri-test" in dataset_names(other_server.uri)
    assert sample_count(other_server.uri, "uri-test") == 2
    assert "uri-test" not in dataset_names(session_uri)


def test_unreachable_or_malformed_uri_is_one_line(monkeypatch, corpus, tmp_path):
    monkeypatch.setattr(fiftyone_db, "PING_TIMEOUT_MS", 300)
    with MongoServer() as gone:
        closed_uri = gone.uri
    runner = CliRunner()
    for args in (["action100m", "fiftyone", "--data-dir", str(corpus / "data"), "--videos", str(corpus / "videos")],
                 ["taste", str(corpus / "videos"), "--out", str(tmp_path / "taste")]):
        result = runner.invoke(cli, [*args, "--database-uri", closed_uri])
        assert result.exit_code == 1, result.output
        assert f"error: --database-uri {closed_uri}: cannot reach MongoDB" in result.output
    result = runner.invoke(cli, ["taste", str(corpus / "videos"), "--database-uri", "localhost:27017"])
    assert result.exit_code == 1 and "expected mongodb://host[:port]" in result.output


def test_password_never_shown():
    assert fiftyone_db.redact_uri("mongodb://reel:s3cret@db.example:27017/?authSource=admin") == \
        "mongodb://reel:***@db.example:27017/?authSource=admin"
    assert fiftyone_db.redact_uri("mongodb+srv://u:p@x.example") == "mongodb+srv://u:***@x.example"
    assert fiftyone_db.redact_uri("mongodb://127.0.0.1:27017") == "mongodb://127.0.0.1:27017"
    with pytest.raises(ReelsetError) as raised:
        fiftyone_db.use_database("postgres://reel:s3cret@db.example")
    assert "s3cret" not in str(raised.value)


def test_in_process_before_and_after_the_first_connection(monkeypatch, other_server):
    import fiftyone as fo
    from fiftyone.core.odm import database

    monkeypatch.setenv("FIFTYONE_DATABASE_URI", os.environ["FIFTYONE_DATABASE_URI"])  # restored afterwards
    monkeypatch.setattr(fo.config, "database_uri", fo.config.database_uri)
    database._connect()  # this process is connected to the session's server now
    with pytest.raises(ReelsetError, match="already connected"):
        fiftyone_db.use_database(other_server.uri)
    fiftyone_db.use_database(os.environ["FIFTYONE_DATABASE_URI"])  # the same one: nothing to change
    monkeypatch.setattr(database, "_client", None)  # as if not connected yet: the config is set for the first one
    fiftyone_db.use_database(other_server.uri, check=False)
    assert fo.config.database_uri == other_server.uri == os.environ["FIFTYONE_DATABASE_URI"]
