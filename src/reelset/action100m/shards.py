"""Reading the Action100M parquet shards: one row group at a time, only the columns asked for.

Memory stays flat in the number of rows: pyarrow decodes one row group of the requested columns at a time, and a
20-30 GB dataset is never loaded whole. Every failure names the shard (and the row group) it happened in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from reelset.action100m.schema import VIDEO_UID, check_schema
from reelset.core.errors import ReelsetError, one_line

ID_COLUMNS = (VIDEO_UID,)


def list_shards(data_dir: Path) -> list[Path]:
    """``<data_dir>/data/*.parquet``, sorted by name."""
    return sorted(path for path in (Path(data_dir) / "data").glob("*.parquet") if path.is_file())


def require_shards(data_dir: Path) -> list[Path]:
    """:func:`list_shards`, which must find at least one.

    Raises:
        ReelsetError: ``<data_dir>/data`` holds no parquet shard (the ids step was not run, or not with this
            ``data_dir``).
    """
    shards = list_shards(data_dir)
    if not shards:
        raise ReelsetError(f"{data_dir}: no data/*.parquet shards (run `reelset action100m ids` first, or give the "
                           "--data-dir it used)")
    return shards


def open_shard(path: Path) -> pq.ParquetFile:
    """Open a shard's footer; a truncated or foreign file is a one-line error naming it."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        reason = one_line(exc, limit=160)
        raise ReelsetError(f"{path}: not a readable parquet file (truncated or corrupt: {reason})") from exc


def check_shard(path: Path, columns: Sequence[str]) -> pq.ParquetFile:
    """Open ``path`` and check that it has ``columns`` with the types Action100M uses."""
    shard = open_shard(path)
    check_schema(shard.schema_arrow, source=str(path), columns=columns)
    return shard


def iter_batches(
    paths: Sequence[Path], columns: Sequence[str], *, batch_size: int = 65_536
) -> Iterator[tuple[Path, pa.RecordBatch]]:
    """Yield ``(shard, batch)`` with only ``columns``, one row group's worth at a time, shard after shard.

    Raises:
        ReelsetError: a shard is unreadable, lacks a column, or a row group cannot be decoded (corrupt pages).
    """
    for path in paths:
        shard = check_shard(path, columns)
        for group in range(shard.num_row_groups):
            try:
                table = shard.read_row_group(group, columns=list(columns))
            except (pa.ArrowException, OSError) as exc:
                reason = one_line(exc, limit=160)
                raise ReelsetError(f"{path}: row group {group} is corrupt ({reason})") from exc
            for batch in table.to_batches(max_chunksize=batch_size):
                yield path, batch


def iter_rows_for(
    paths: Sequence[Path], wanted: Callable[[str], bool], columns: Sequence[str], *, key: str = VIDEO_UID
) -> Iterator[list[dict]]:
    """Yield, row group by row group, the rows (as dicts of ``columns``) whose ``key`` satisfies ``wanted``.

    The key column is read first; a row group's other columns are decoded only when it holds a wanted row, and only
    those rows are turned into Python objects. Ingesting 1,000 downloaded clips out of 120,000 rows therefore
    decodes about 1,000 rows' worth of trees, not 120,000.
    """
    for path in paths:
        shard = check_shard(path, columns)
        for group in range(shard.num_row_groups):
            try:
                keys = shard.read_row_group(group, columns=[key]).column(0).to_pylist()
                mask = [value is not None and wanted(value) for value in keys]
                if not any(mask):
                    continue
                table = shard.read_row_group(group, columns=list(columns)).filter(pa.array(mask))
            except (pa.ArrowException, OSError) as exc:
                reason = one_line(exc, limit=160)
                raise ReelsetError(f"{path}: row group {group} is corrupt ({reason})") from exc
            yield table.to_pylist()
