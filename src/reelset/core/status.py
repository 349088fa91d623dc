"""A per-item status file that survives ``kill -9``: JSON Lines, one record per item, the last line for an item wins.

Each update is one appended line, flushed and fsynced, so a run killed at any moment loses at most the line being
written; a torn last line is ignored on the next open (and counted in :attr:`StatusStore.damaged_lines`). Opening the
store rewrites it compactly (one line per item, atomically), so the file stays as long as the item list.

One writer only: the process that owns the store (in a distributed run, the driver; workers return results to it).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from reelset.core.atomic import atomic_write_text


def read_status(path: Path) -> tuple[dict[str, dict[str, Any]], int]:
    """Read a status file without taking ownership: ``(records by id, number of damaged lines)``."""
    records: dict[str, dict[str, Any]] = {}
    damaged = 0
    if not Path(path).exists():
        return records, damaged
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                damaged += 1
                continue
            if isinstance(record, dict) and isinstance(record.get("id"), str):
                records.setdefault(record["id"], {}).update(record)
            else:
                damaged += 1
    return records, damaged


def utc_now() -> str:
    """The current time as ISO 8601 UTC with seconds, the timestamp format of every status record."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class StatusStore:
    """Records keyed by item id, persisted to ``path`` as JSON Lines.

    Each record is a flat JSON object with at least ``id`` and ``status``; callers add their own fields. ``update``
    merges fields into the existing record and stamps ``updated_at``.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._records, self.damaged_lines = read_status(self.path)
        self._compact()
        self._handle = open(self.path, "a", encoding="utf-8")

    def _compact(self) -> None:
        lines = (json.dumps(record, ensure_ascii=False) + "\n" for record in self._records.values())
        if self._records or self.path.exists():
            atomic_write_text(self.path, "".join(lines))

    def get(self, item_id: str) -> dict[str, Any] | None:
        record = self._records.get(item_id)
        return dict(record) if record else None

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._records

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> Iterator[dict[str, Any]]:
        return (dict(record) for record in self._records.values())

    def update(self, item_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``fields`` into the record of ``item_id``, persist it, and return the merged record."""
        record = self._records.setdefault(item_id, {"id": item_id})
        record.update(fields)
        record["id"] = item_id
        record["updated_at"] = utc_now()
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return dict(record)

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()
            self._compact()

    def __enter__(self) -> StatusStore:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
            return
        # The run failed (a full disk, say): its error is the one to report. The file needs no compaction to be
        # read again (the last line for an item wins), so a compaction that fails as well is no news.
        with contextlib.suppress(OSError):
            self.close()
