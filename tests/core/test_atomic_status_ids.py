"""Atomic writes, the status store (including a torn last line), and YouTube id validation."""

from __future__ import annotations

import json

import pytest

from reelset.core.atomic import atomic_output, atomic_write_text, is_temp_path, remove_stale_temps, temp_path_for
from reelset.core.status import StatusStore
from reelset.core.video_ids import is_youtube_id, show_id, why_invalid


def test_atomic_write_replaces_whole_file(tmp_path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old\n")
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_output_leaves_old_file_on_failure(tmp_path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_stale_temps_are_recognised_and_removed(tmp_path) -> None:
    stale = temp_path_for(tmp_path / "video_ids.txt")
    stale.write_text("partial")
    keep = tmp_path / "keep.tmp"
    keep.write_text("user file")
    assert is_temp_path(stale) and not is_temp_path(keep)
    assert remove_stale_temps(tmp_path) == [stale]
    assert keep.exists()


def test_status_store_merges_and_persists(tmp_path) -> None:
    path = tmp_path / "status.jsonl"
    with StatusStore(path) as store:
        store.update("aaaaaaaaaaa", {"status": "failed", "attempts": 1})
        store.update("aaaaaaaaaaa", {"status": "ok", "bytes": 10})
        store.update("bbbbbbbbbbb", {"status": "unavailable"})
    lines = path.read_text().splitlines()
    assert len(lines) == 2  # compacted on close: one line per id
    reopened = StatusStore(path)
    assert reopened.get("aaaaaaaaaaa")["status"] == "ok"
    assert reopened.get("aaaaaaaaaaa")["attempts"] == 1
    assert reopened.get("aaaaaaaaaaa")["updated_at"].endswith("Z")
    reopened.close()


def test_status_store_survives_a_torn_last_line(tmp_path) -> None:
    path = tmp_path / "status.jsonl"
    good = json.dumps({"id": "aaaaaaaaaaa", "status": "ok"})
    path.write_text(good + "\n" + '{"id": "bbbbbbbbbbb", "sta')  # kill -9 mid-write
    store = StatusStore(path)
    assert store.get("aaaaaaaaaaa")["status"] == "ok"
    assert store.get("bbbbbbbbbbb") is None
    assert store.damaged_lines == 1
    store.update("bbbbbbbbbbb", {"status": "ok"})
    store.close()
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_status_update_is_on_disk_before_close(tmp_path) -> None:
    path = tmp_path / "status.jsonl"
    store = StatusStore(path)
    store.update("aaaaaaaaaaa", {"status": "ok"})
    # Another reader (or the next run after kill -9) sees the record without close().
    assert json.loads(path.read_text().splitlines()[-1])["status"] == "ok"
    store.close()


@pytest.mark.parametrize("value", ["dQw4w9WgXcQ", "-waQgZyTelY", "a_b-c_d-e_f"])
def test_valid_ids(value: str) -> None:
    assert is_youtube_id(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("../../etc/passwd", "contains characters"),
        ("", "empty"),
        ("abcdefghij", "10 characters"),
        ("abcdefghijkl", "12 characters"),
        ("abcdéfghijk", "contains characters"),
        ("dQw4w9WgXcQ\n", "contains characters"),
        ("abc def ghi", "contains characters"),
        ("..%2F..%2Fxx", "contains characters"),
    ],
)
def test_invalid_ids_and_reasons(value: str, reason: str) -> None:
    assert not is_youtube_id(value)
    assert reason in why_invalid(value)


def test_show_id_escapes_and_shortens() -> None:
    assert show_id("a\x1b[2Jb") == repr("a\x1b[2Jb")
    assert len(show_id("x" * 100)) == 40
