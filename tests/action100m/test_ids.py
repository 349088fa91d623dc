"""`reelset action100m ids`: the real huggingface_hub against a fake hub on 127.0.0.1, real parquet files."""

from __future__ import annotations

import copy
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from reelset.action100m.hub import DEFAULT_REPO, MANIFEST_NAME, fetch_shards
from reelset.action100m.ids import build_ids, select_ids
from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.sandbox.action100m_sample import expected_ids, make_sample_rows, write_parquet, write_sample_repo
from reelset.sandbox.servers import FakeHub

BAD_IDS = ["../../etc/passwd", "", "abcdefghij", "abcdefghijkl", "ünïcödé_abc", "abc/def/ghi"]


@pytest.fixture(scope="module")
def sample_rows():
    rows = make_sample_rows(8, seed=3)
    extra = []
    for index, bad in enumerate([*BAD_IDS, None]):
        row = copy.deepcopy(rows[index % len(rows)])
        row["video_uid"] = bad
        extra.append(row)
    duplicate = copy.deepcopy(rows[0])
    return rows + extra + [duplicate]


@pytest.fixture()
def hub(tmp_path, sample_rows):
    repo = tmp_path / "repo"
    write_sample_repo(repo, sample_rows, shards=3, row_group_size=2)
    with FakeHub({DEFAULT_REPO: repo}) as server:
        server.repo_dir = repo
        yield server


def valid_ids(rows) -> list[str]:
    return expected_ids([row for row in rows if row["video_uid"] not in [*BAD_IDS, None]])


def test_fetch_scan_and_write(tmp_path, hub, sample_rows) -> None:
    out = tmp_path / "video_ids.txt"
    result = build_ids(tmp_path / "data", out, endpoint=hub.url)
    assert out.read_text().splitlines() == valid_ids(sample_rows)
    assert result.scan.rows == len(sample_rows)
    assert result.scan.rejected == len(BAD_IDS) and result.scan.nulls == 1 and result.scan.duplicates == 1
    assert any("../../etc/passwd" in example for example in result.scan.reject_examples)
    assert result.shards.completeness_checked and result.shards.source == "hub"
    assert sorted(path.name for path in (tmp_path / "data" / "data").iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert not (tmp_path / "data" / "README.md").exists()  # only data/*.parquet is fetched
    manifest = json.loads((tmp_path / "data" / MANIFEST_NAME).read_text())
    assert manifest["commit"] == hub.commit_sha(DEFAULT_REPO) and len(manifest["files"]) == 3


def test_bad_ids_never_become_paths(tmp_path, hub) -> None:
    build_ids(tmp_path / "data", tmp_path / "ids.txt", endpoint=hub.url)
    assert not list(tmp_path.rglob("passwd"))
    assert all(len(line) == 11 for line in (tmp_path / "ids.txt").read_text().splitlines())


def test_offline_with_manifest_detects_truncated_and_missing_shards(tmp_path, hub, sample_rows) -> None:
    data = tmp_path / "data"
    build_ids(data, tmp_path / "ids.txt", endpoint=hub.url)
    again = build_ids(data, tmp_path / "ids2.txt", offline=True)
    assert again.shards.source == "manifest" and again.shards.completeness_checked
    assert (tmp_path / "ids2.txt").read_text() == (tmp_path / "ids.txt").read_text()

    shard = data / "data" / "part-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(ReelsetError, match="part-00001.parquet: shard truncated or changed"):
        build_ids(data, tmp_path / "ids3.txt", offline=True)
    shard.unlink()
    with pytest.raises(ReelsetError, match="part-00001.parquet: shard missing"):
        build_ids(data, tmp_path / "ids3.txt", offline=True)
    assert not (tmp_path / "ids3.txt").exists()  # nothing half-written


def test_online_refetches_a_damaged_shard(tmp_path, hub, sample_rows) -> None:
    data = tmp_path / "data"
    build_ids(data, tmp_path / "ids.txt", endpoint=hub.url)
    shard = data / "data" / "part-00002.parquet"
    good = shard.read_bytes()
    shard.write_bytes(good[: len(good) // 2])
    build_ids(data, tmp_path / "ids.txt", endpoint=hub.url)
    assert shard.read_bytes() == good


def test_offline_without_record_accepts_readable_shards_and_says_so(tmp_path, sample_rows) -> None:
    data = tmp_path / "copied"
    write_parquet(sample_rows, data / "data" / "part-00000.parquet")
    result = build_ids(data, tmp_path / "ids.txt", offline=True)
    assert not result.shards.completeness_checked
    assert "completeness could not be checked" in result.shards.notes[0]
    assert (tmp_path / "ids.txt").read_text().splitlines() == valid_ids(sample_rows)


def test_hub_unreachable_falls_back_to_local_files(tmp_path, hub, sample_rows) -> None:
    data = tmp_path / "data"
    build_ids(data, tmp_path / "ids.txt", endpoint=hub.url)
    hub.close()
    result = build_ids(data, tmp_path / "ids.txt", endpoint=hub.url)
    assert result.shards.source == "manifest"
    assert result.shards.notes[0].startswith(f"cannot reach 127.0.0.1:{hub.port} (refused): using the local shards, "
                                             "complete against the manifest of commit ")


def test_corrupt_parquet_is_named(tmp_path, sample_rows) -> None:
    data = tmp_path / "copied"
    write_parquet(sample_rows[:4], data / "data" / "part-00000.parquet")
    (data / "data" / "part-00001.parquet").write_bytes(b"PAR1 this is not parquet at all")
    with pytest.raises(ReelsetError, match=r"part-00001.parquet: not a readable parquet file"):
        build_ids(data, tmp_path / "ids.txt", offline=True)
    assert not (tmp_path / "ids.txt").exists()


def test_parquet_without_video_uid_is_refused(tmp_path) -> None:
    data = tmp_path / "copied"
    (data / "data").mkdir(parents=True)
    pq.write_table(pa.table({"youtube_id": ["dQw4w9WgXcQ"]}), data / "data" / "part-00000.parquet")
    with pytest.raises(ReelsetError, match=r"part-00000.parquet.*video_uid"):
        build_ids(data, tmp_path / "ids.txt", offline=True)


def test_unknown_revision_and_repo(tmp_path, hub) -> None:
    with pytest.raises(ReelsetError, match="revision 'nope' not found"):
        fetch_shards(tmp_path / "data", endpoint=hub.url, revision="nope")
    with pytest.raises(ReelsetError, match="not found or not accessible"):
        fetch_shards(tmp_path / "data", endpoint=hub.url, repo_id="someone/else")


def test_revision_by_commit_and_case_insensitive_repo(tmp_path, hub) -> None:
    sha = hub.commit_sha(DEFAULT_REPO)
    shards = fetch_shards(tmp_path / "data", endpoint=hub.url, revision=sha, repo_id="facebook/Action100M-preview")
    assert shards.commit == sha and len(shards.paths) == 3


def test_select_ids_limit_and_reproducible_sample() -> None:
    ids = [f"id{i:09d}" for i in range(100)]
    assert select_ids(ids, limit=3) == ids[:3]
    first = select_ids(ids, sample=10, seed=7)
    assert first == select_ids(ids, sample=10, seed=7) == sorted(first)
    assert first != select_ids(ids, sample=10, seed=8)
    assert select_ids(ids, sample=10, seed=7, limit=4) == first[:4]
    assert select_ids(ids, sample=1000) == ids
    with pytest.raises(ReelsetError):
        select_ids(ids, limit=-1)


def test_cli_ids_prints_whole_plain_lines(tmp_path, hub, sample_rows) -> None:
    runner = CliRunner()
    out = tmp_path / "ids.txt"
    result = runner.invoke(cli, ["action100m", "ids", "--data-dir", str(tmp_path / "d"), "--out", str(out),
                                 "--endpoint", hub.url, "--sample", "3", "--seed", "1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"wrote 3 ids to {out}" in lines
    assert any(line.startswith("rows: ") and f"rejected: {len(BAD_IDS)}" in line for line in lines)
    assert any(line.startswith("shards: 3 files") and "(complete, commit" in line for line in lines)
    assert len(out.read_text().splitlines()) == 3


def test_cli_ids_takes_the_endpoint_from_hf_endpoint(tmp_path, hub, sample_rows) -> None:
    out = tmp_path / "ids.txt"
    result = CliRunner().invoke(cli, ["action100m", "ids", "--data-dir", str(tmp_path / "d"), "--out", str(out),
                                      "--limit", "2"], env={"HF_ENDPOINT": hub.url})
    assert result.exit_code == 0, result.output
    assert f"wrote 2 ids to {out}" in result.output.splitlines()
    assert out.read_text().splitlines() == valid_ids(sample_rows)[:2]


def test_cli_error_is_one_line_and_nonzero(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["action100m", "ids", "--data-dir", str(tmp_path / "empty"), "--offline",
                                      "--out", str(tmp_path / "ids.txt")])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and result.output.startswith("error: ")
