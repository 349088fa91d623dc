"""Step 1 of Action100M: the list of YouTube ids to download (``reelset action100m ids``).

Reads only the ``video_uid`` column, row group by row group; keeps the ids that are valid YouTube ids (11 characters of
``[A-Za-z0-9_-]``), reports the others with examples, and writes the sorted unique ids one per line, atomically.
An invalid id is never used as a path or a URL, anywhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from reelset.action100m.constants import DEFAULT_IDS_FILE
from reelset.action100m.hub import DEFAULT_DATA_DIR, DEFAULT_REPO, ShardSet, fetch_shards
from reelset.action100m.schema import VIDEO_UID
from reelset.action100m.shards import iter_batches
from reelset.core.atomic import atomic_write_text, check_output
from reelset.core.errors import ReelsetError
from reelset.core.video_ids import is_youtube_id, show_id, why_invalid

MAX_EXAMPLES = 5


@dataclass
class IdScan:
    """What the shards hold: the valid unique ids, sorted, and what was rejected."""

    ids: list[str]
    rows: int = 0
    nulls: int = 0
    duplicates: int = 0
    rejected: int = 0
    reject_examples: list[str] = field(default_factory=list)


def scan_ids(shards: ShardSet) -> IdScan:
    """Collect the valid unique ``video_uid`` values of all shards, streaming by row group."""
    seen: set[str] = set()
    scan = IdScan(ids=[])
    for _, batch in iter_batches(shards.paths, [VIDEO_UID]):
        for value in batch.column(0).to_pylist():
            scan.rows += 1
            if value is None:
                scan.nulls += 1
            elif not is_youtube_id(value):
                scan.rejected += 1
                if len(scan.reject_examples) < MAX_EXAMPLES:
                    scan.reject_examples.append(f"{show_id(value)} ({why_invalid(value)})")
            elif value in seen:
                scan.duplicates += 1
            else:
                seen.add(value)
    scan.ids = sorted(seen)
    return scan


def select_ids(ids: list[str], *, limit: int | None = None, sample: int | None = None, seed: int = 0) -> list[str]:
    """A reproducible subset of the sorted ``ids``.

    ``limit`` keeps the first N ids in sorted order; ``sample`` draws N ids at random with ``seed`` (the same seed and
    the same input give the same ids) and returns them sorted. Both may be given: the sample is drawn, then limited.
    """
    for name, value in (("limit", limit), ("sample", sample)):
        if value is not None and value < 0:
            raise ReelsetError(f"--{name} must be 0 or more, got {value}")
    chosen = ids
    if sample is not None and sample < len(chosen):
        chosen = sorted(random.Random(seed).sample(chosen, sample))
    if limit is not None:
        chosen = chosen[:limit]
    return chosen


def write_ids(ids: list[str], out: Path) -> None:
    """Write one id per line to ``out`` atomically (a reader never sees a partial list)."""
    atomic_write_text(Path(out), "".join(f"{video_id}\n" for video_id in ids))


@dataclass
class IdsResult:
    shards: ShardSet
    scan: IdScan
    written: list[str]
    out: Path


def build_ids(
    data_dir: Path = DEFAULT_DATA_DIR,
    out: Path = DEFAULT_IDS_FILE,
    *,
    repo_id: str = DEFAULT_REPO,
    revision: str | None = None,
    endpoint: str | None = None,
    offline: bool | None = None,
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> IdsResult:
    """Fetch (or check) the shards, scan their ids and write the selected ones to ``out``: the whole ``ids`` step.

    Raises:
        ReelsetError: ``out`` cannot be written (checked first, before any shard is fetched or read), bad
            ``limit``/``sample``, or as :func:`~reelset.action100m.hub.fetch_shards` and
            :func:`~reelset.action100m.shards.iter_batches`; ``out`` is then left as it was.
    """
    check_output(out)
    select_ids([], limit=limit, sample=sample)  # bad numbers fail now, not after the scan
    shards = fetch_shards(data_dir, repo_id=repo_id, revision=revision, endpoint=endpoint, offline=offline,
                          progress=progress)
    scan = scan_ids(shards)
    written = select_ids(scan.ids, limit=limit, sample=sample, seed=seed)
    write_ids(written, out)
    return IdsResult(shards, scan, written, Path(out))


def ids_report_lines(result: IdsResult) -> list[str]:
    """The ``ids`` step's report, one plain line each (scripts may read them)."""
    shards, scan = result.shards, result.scan
    state = "complete" if shards.completeness_checked else "completeness NOT checked"
    commit = f", commit {shards.commit}" if shards.commit else ""
    lines = [f"shards: {len(shards.paths)} files, {shards.total_bytes / 1e6:.1f} MB in {shards.data_dir}"
             f" ({state}{commit})"]
    lines += [f"note: {note}" for note in shards.notes]
    lines.append(f"rows: {scan.rows}, unique ids: {len(scan.ids)}, duplicates: {scan.duplicates}, "
                 f"null: {scan.nulls}, rejected: {scan.rejected}")
    if scan.reject_examples:
        lines.append(f"rejected examples: {'; '.join(scan.reject_examples)}")
    lines.append(f"wrote {len(result.written)} ids to {result.out}")
    return lines
