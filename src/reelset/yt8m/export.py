"""YouTube-8M records out to Parquet or NumPy (``reelset yt8m export``), quantized or dequantized.

Parquet streams (one row group per batch of records, flat memory): one row per video with ``id`` (string),
``labels`` (list<int64>), each video-level feature as a fixed-size list of float32, each frame-level feature as a
list of fixed-size lists (uint8, or float32 when dequantized), and any other context (v3 segments, backbone) as
lists or strings. NPZ holds everything in memory (for small exports): ``id`` (strings), ``labels`` with
``labels_offsets`` (row i's labels are ``labels[offsets[i]:offsets[i+1]]``), video-level features stacked
``(videos, width)``, frame-level ones concatenated ``(frames, width)`` with ``<name>_offsets``.

Both are written atomically. All records of one export must be of one kind (same features, same widths): exporting
video- and frame-level files together is refused with a clear message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reelset.core.atomic import atomic_output
from reelset.core.errors import ReelsetError
from reelset.yt8m.records import read_records

FORMATS = ("parquet", "npz")
BATCH_RECORDS = 64
Record = dict[str, Any]


@dataclass(frozen=True)
class ExportSummary:
    out: Path
    records: int
    frames: int
    columns: list[str]


def _signature(record: Record) -> tuple:
    """What makes two records exportable together: their keys, dtypes, and the widths of their features."""

    def kind(name: str, value: Any) -> tuple:
        if not isinstance(value, np.ndarray):
            return name, type(value).__name__
        if value.ndim == 2:  # frames: the width matters, not the count
            return name, str(value.dtype), value.shape[1]
        if name.startswith("mean_"):
            return name, str(value.dtype), value.shape[0]
        return name, str(value.dtype)  # lists of any length (labels, segments)

    return tuple(sorted(kind(name, value) for name, value in record.items()))


def _arrow_column(name: str, values: list[Any]) -> pa.Array:
    first = values[0]
    if isinstance(first, np.ndarray) and first.ndim == 2:  # frames: list<fixed_size_list<width>>
        width = first.shape[1]
        flat = pa.array(np.concatenate([value.reshape(-1) for value in values]))
        frames = pa.FixedSizeListArray.from_arrays(flat, width)
        offsets = np.concatenate([[0], np.cumsum([len(value) for value in values])]).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), frames)
    if isinstance(first, np.ndarray) and name.startswith("mean_"):  # video-level features: fixed_size_list
        return pa.FixedSizeListArray.from_arrays(pa.array(np.concatenate(values)), len(first))
    if isinstance(first, np.ndarray):  # labels, segments: list<...>
        offsets = np.concatenate([[0], np.cumsum([len(value) for value in values])]).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(np.concatenate(values)))
    if isinstance(first, bytes):
        return pa.array([value.decode("utf-8", "replace") for value in values], pa.string())
    return pa.array(values)


def _batches(records: Iterable[Record], size: int) -> Iterable[list[Record]]:
    batch: list[Record] = []
    signature = None
    for record in records:
        current = _signature(record)
        if signature is None:
            signature = current
        elif current != signature:
            raise ReelsetError(f"record {record.get('id')!r} has other features than the first record "
                               "(video- and frame-level files, or other backbones, cannot be exported together)")
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write_parquet(records: Iterable[Record], out: Path) -> tuple[int, int, list[str]]:
    count = frames = 0
    columns: list[str] = []
    with atomic_output(out) as tmp:
        writer = None
        try:
            for batch in _batches(records, BATCH_RECORDS):
                columns = list(batch[0])
                table = pa.table({name: _arrow_column(name, [record[name] for record in batch]) for name in columns})
                writer = writer or pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                count += len(batch)
                frames += sum(len(record["rgb"]) for record in batch if "rgb" in record)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise ReelsetError(f"{out}: nothing to export (no records)")
    return count, frames, columns


def _write_npz(records: Iterable[Record], out: Path) -> tuple[int, int, list[str]]:
    columns: dict[str, list[Any]] = {}
    for batch in _batches(records, BATCH_RECORDS):
        for record in batch:
            for name, value in record.items():
                columns.setdefault(name, []).append(value)
    if not columns:
        raise ReelsetError(f"{out}: nothing to export (no records)")
    arrays: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        first = values[0]
        if isinstance(first, np.ndarray) and (first.ndim == 2 or not name.startswith("mean_")):
            arrays[name] = np.concatenate(values)
            arrays[f"{name}_offsets"] = np.concatenate([[0], np.cumsum([len(value) for value in values])])
        elif isinstance(first, np.ndarray):
            arrays[name] = np.stack(values)
        elif isinstance(first, bytes):
            arrays[name] = np.array([value.decode("utf-8", "replace") for value in values])
        else:
            arrays[name] = np.array(values)
    with atomic_output(out) as tmp:
        with open(tmp, "wb") as handle:  # a file object: np.savez would append ".npz" to a path
            np.savez(handle, **arrays)
    frames = len(arrays["rgb"]) if "rgb" in arrays else 0
    return len(columns["id"]), frames, list(columns)


def export_records(
    paths: Iterable[Path],
    out: Path,
    *,
    to: str = "parquet",
    dequantize: bool = False,
    skip_corrupt: bool = False,
    on_corrupt: Callable[[str], None] | None = None,
) -> ExportSummary:
    """Export every record of ``paths`` to ``out`` (``to``: ``parquet`` or ``npz``); see the module docstring.

    Raises:
        CorruptRecordError: the first bad record, unless ``skip_corrupt``.
        ReelsetError: an unknown format, records of different kinds, or nothing to export.
    """
    if to not in FORMATS:
        raise ReelsetError(f"--to {to!r}: expected one of {', '.join(FORMATS)}")
    records = read_records([str(path) for path in paths], dequantize=dequantize, skip_corrupt=skip_corrupt,
                           on_corrupt=on_corrupt)
    # Views into each record's read buffer are copied into the output batch by batch, so memory stays bounded.
    writer = _write_parquet if to == "parquet" else _write_npz
    count, frames, columns = writer(records, Path(out))
    return ExportSummary(Path(out), count, frames, columns)
