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

import io
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reelset.core.atomic import atomic_output, atomic_write_bytes
from reelset.core.errors import ReelsetError, one_line
from reelset.scale import Executor, executor_for
from reelset.yt8m.constants import FORMATS
from reelset.yt8m.records import read_records

BATCH_RECORDS = 64
Record = dict[str, Any]


@dataclass(frozen=True)
class ExportSummary:
    out: Path  # the output file, or the folder of :func:`export_per_file`
    records: int
    frames: int
    columns: list[str]
    files: tuple[Path, ...] = ()  # export_per_file: the files written, in input order


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


def _parquet_into(records: Iterable[Record], sink: Any, out: Path) -> tuple[int, int, list[str]]:
    """Write ``records`` as Parquet into ``sink`` (a path or a pyarrow stream); ``out`` names it in errors."""
    count = frames = 0
    columns: list[str] = []
    writer = None
    try:
        for batch in _batches(records, BATCH_RECORDS):
            columns = list(batch[0])
            table = pa.table({name: _arrow_column(name, [record[name] for record in batch]) for name in columns})
            writer = writer or pq.ParquetWriter(sink, table.schema)
            writer.write_table(table)
            count += len(batch)
            frames += sum(len(record["rgb"]) for record in batch if "rgb" in record)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise ReelsetError(f"{out}: nothing to export (no records)")
    return count, frames, columns


def _write_parquet(records: Iterable[Record], out: Path) -> tuple[int, int, list[str]]:
    with atomic_output(out) as tmp:
        return _parquet_into(records, tmp, out)


def _npz_into(records: Iterable[Record], handle: BinaryIO, out: Path) -> tuple[int, int, list[str]]:
    """Write ``records`` as NPZ into the open binary ``handle``; ``out`` names it in errors."""
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
    np.savez(handle, **arrays)  # a file object: np.savez would append ".npz" to a path
    frames = len(arrays["rgb"]) if "rgb" in arrays else 0
    return len(columns["id"]), frames, list(columns)


def _write_npz(records: Iterable[Record], out: Path) -> tuple[int, int, list[str]]:
    with atomic_output(out) as tmp, open(tmp, "wb") as handle:
        return _npz_into(records, handle, out)


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
        ReelsetError: an unknown format, an ``out`` named for the other format (``--to npz --out x.parquet``),
            records of different kinds, or nothing to export. Nothing is written then.
    """
    if to not in FORMATS:
        raise ReelsetError(f"--to {to!r}: expected one of {', '.join(FORMATS)}")
    named_for = Path(out).suffix.lower().lstrip(".")
    if named_for in FORMATS and named_for != to:  # a .parquet file holding NPZ would fool every reader after it
        raise ReelsetError(f"--out {out}: the name says {named_for} but --to {to} writes {to}; give --to {named_for}, "
                           f"or an --out ending in .{to}")
    records = read_records([str(path) for path in paths], dequantize=dequantize, skip_corrupt=skip_corrupt,
                           on_corrupt=on_corrupt)
    # Views into each record's read buffer are copied into the output batch by batch, so memory stays bounded.
    writer = _write_parquet if to == "parquet" else _write_npz
    count, frames, columns = writer(records, Path(out))
    return ExportSummary(Path(out), count, frames, columns)


# ---------------------------------------------------------------------------------------- one file per input
# The form that spreads over a Dask cluster: a Parquet file's encoding (most of an export's time) cannot be split
# across processes, but one output per input can be encoded anywhere. Each task encodes one whole output in memory
# and hands its bytes back; the caller alone writes the files.


@dataclass(frozen=True)
class FileTask:
    """One input file to export: its absolute path and the export's options."""

    path: str
    to: str
    dequantize: bool
    skip_corrupt: bool


@dataclass(frozen=True)
class EncodedFile:
    """One input's export, encoded: the output file's bytes (None on error), what is in it, the bad records
    skipped (their messages), or the one-line error that stops the export."""

    data: Any
    records: int = 0
    frames: int = 0
    columns: tuple[str, ...] = ()
    signature: tuple = ()
    corrupt: tuple[str, ...] = ()
    error: str | None = None


def encode_file(task: FileTask) -> EncodedFile:
    """The records of ``task.path`` as one whole Parquet or NPZ file, in memory (the task of
    :func:`export_per_file`, run in this process or on a Dask worker; the same bytes either way)."""
    corrupt: list[str] = []
    signatures: list[tuple] = []

    def signed(records: Iterable[Record]) -> Iterable[Record]:
        for record in records:
            if not signatures:
                signatures.append(_signature(record))
            yield record

    records = signed(read_records([task.path], dequantize=task.dequantize, skip_corrupt=task.skip_corrupt,
                                  on_corrupt=corrupt.append))
    try:
        if task.to == "parquet":
            sink = pa.BufferOutputStream()
            count, frames, columns = _parquet_into(records, sink, Path(task.path))
            data: Any = sink.getvalue()
        else:
            handle = io.BytesIO()
            count, frames, columns = _npz_into(records, handle, Path(task.path))
            data = handle.getvalue()
    except ReelsetError as error:  # a bad record, mixed records, no records: returned, so it is not retried
        return EncodedFile(None, corrupt=tuple(corrupt), error=str(error))
    return EncodedFile(data, count, frames, tuple(columns), signatures[0], tuple(corrupt))


def _task_failed(task: FileTask, error: BaseException) -> EncodedFile:
    return EncodedFile(None, error=f"{task.path}: task failed: {one_line(error, typed=True)}")


def export_per_file(
    paths: Iterable[Path],
    out_dir: Path,
    *,
    to: str = "parquet",
    dequantize: bool = False,
    skip_corrupt: bool = False,
    on_corrupt: Callable[[str], None] | None = None,
    on_file: Callable[[Path], None] = lambda path: None,
    executor: Executor | str | None = None,
) -> ExportSummary:
    """Export each input file to ``<out_dir>/<its stem>.<to>`` (the format of :func:`export_records` for that
    file alone), together one Parquet dataset (or set of NPZ files) readable as a whole.

    Args:
        on_file: called with each output file once it is complete, in input order.
        executor: where each file is read and encoded (:func:`reelset.scale.executor_for`: an Executor, or a Dask
            scheduler's address or ``distributed.Client``, whose workers must see the inputs at the same absolute
            path); this process writes the outputs, the same bytes wherever they were encoded. Default: one file
            at a time in this process.

    Raises:
        ReelsetError: an unknown format, two inputs with the same stem, a file of other records than the first
            (video- and frame-level), a file with no records, the first bad record (unless ``skip_corrupt``), a
            scheduler that cannot be reached. Outputs finished before the error stay (each is complete).
    """
    if to not in FORMATS:
        raise ReelsetError(f"--to {to!r}: expected one of {', '.join(FORMATS)}")
    paths = [Path(path) for path in paths]
    targets = [Path(out_dir) / f"{path.stem}.{to}" for path in paths]
    seen: dict[Path, Path] = {}
    for path, target in zip(paths, targets):
        if target in seen:
            raise ReelsetError(f"{path} and {seen[target]} would both be exported to {target}")
        seen[target] = path
    report = on_corrupt or (lambda message: print(f"skipped: {message}", file=sys.stderr, flush=True))
    with executor_for(executor) as running:
        tasks = (FileTask(str(path.expanduser().absolute()), to, dequantize, skip_corrupt) for path in paths)
        return _write_each(running.map_ordered(encode_file, tasks, on_error=_task_failed), paths, targets,
                           Path(out_dir), report, on_file)


def _write_each(results: Iterable[EncodedFile], paths: list[Path], targets: list[Path], out_dir: Path,
                report: Callable[[str], None], on_file: Callable[[Path], None]) -> ExportSummary:
    """Write each encoded file to its target, in input order (this process is their only writer)."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    records = frames = 0
    first: EncodedFile | None = None
    for path, target, encoded in zip(paths, targets, results):
        for message in encoded.corrupt:
            report(message)
        if encoded.error is not None:
            raise ReelsetError(encoded.error)
        if first is None:
            first = encoded
        elif encoded.signature != first.signature:
            raise ReelsetError(f"{path} has other features than {paths[0]} (video- and frame-level files, or other "
                               "backbones, cannot be exported together)")
        atomic_write_bytes(target, encoded.data)
        records, frames = records + encoded.records, frames + encoded.frames
        on_file(target)
    return ExportSummary(Path(out_dir), records, frames, list(first.columns) if first else [], tuple(targets))
