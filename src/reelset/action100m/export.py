"""Action100M segments as training data: each chosen Tree-of-Captions segment cut exactly from its clip, with its
captions, in WebDataset shards, a folder per video, or a Hugging Face ``datasets`` folder.

:func:`export_segments` is ``reelset action100m export`` as a library call. It streams like the FiftyOne step: the
parquet is read one row group at a time and only rows whose clip exists are decoded. Each clip is one task
(:func:`export_clip`: index the clip, choose its segments (:mod:`.segments`), cut them (:mod:`.cut`) into a staging
folder of its own) run by an executor (:mod:`reelset.scale`): threads here, or the workers of a Dask cluster, which
must see the videos and the output folder at the same absolute paths. This process receives the results in row order
and alone writes the outputs, so the samples and their order are the same wherever the tasks ran:

- ``webdataset``: ``shard-000000.tar``, ... each holding ``<key>.mp4`` and ``<key>.json`` per sample (keys
  ``<video_uid>_<node_id>``), about ``shard_size`` samples a shard; a video's samples are never split between shards;
- ``files``: ``<video_uid>/<key>.mp4`` and ``<key>.json``;
- ``hf``: ``data/shard-000000.parquet``, ... (one row per sample: the JSON's fields and ``video``, the clip's path
  relative to the folder), the clips under ``videos/<video_uid>/``, and a ``README.md`` whose ``configs`` tell
  ``datasets.load_dataset(<folder>)`` where the rows are.

Resumable and idempotent: ``export.json`` records the selection and every completed shard (or video, for ``files``)
with the videos it holds. A shard takes its final name complete (written to a temporary name, then renamed), and is
recorded only then; a killed run's unfinished shard, staging folders and temporary files are removed and its videos
are exported again by the next run. A rerun exports only the clips not yet recorded (new downloads included), into
new shards. The same folder with another selection is refused (another ``--out``, or delete the folder).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelset.action100m.constants import DEFAULT_DATA_DIR, DEFAULT_EXPORT_DIR, DEFAULT_SHARD_SIZE, EXPORT_FORMATS
from reelset.action100m.cut import HOWS, cut_segments, index_clip
from reelset.action100m.dataset import DEFAULT_VIDEOS_DIR, clip_ids
from reelset.action100m.schema import COLUMNS
from reelset.action100m.segments import Chosen, Selection, select_segments
from reelset.action100m.shards import check_shard, iter_rows_for, require_shards
from reelset.core.atomic import atomic_output, atomic_write_text, check_output, fsync_dir, remove_stale_temps
from reelset.core.errors import ReelsetError, one_line
from reelset.core.locks import exclusive_lock
from reelset.scale import Executor, executor_for

FORMATS = EXPORT_FORMATS
DEFAULT_OUT = DEFAULT_EXPORT_DIR
MANIFEST = "export.json"
STAGING = ".staging"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class ClipExportTask:
    """One parquet row and its clip, for a thread here or a Dask worker: absolute paths of the clip and of the
    video's own staging folder, and the selection."""

    row: dict[str, Any]
    clip: str
    staging: str
    selection: Selection


@dataclass(frozen=True)
class ClipExport:
    """What :func:`export_clip` made: the samples (JSON and staged clip), why the other nodes were left out, the
    tree's problems, or the reason the clip is unusable."""

    video_uid: str
    samples: list[dict[str, Any]] = field(default_factory=list)  # {"json", "path", "bytes", "how", "seconds"}
    skipped: dict[str, int] = field(default_factory=dict)
    tree_problems: str = ""
    error: str | None = None


def export_clip(task: ClipExportTask) -> ClipExport:
    """Choose the row's segments and cut them into ``task.staging``: a task (a worker thread here, or a Dask worker)
    whose only writes are that folder's files."""
    video_uid = task.row["video_uid"]
    staging = Path(task.staging)
    try:
        index = index_clip(Path(task.clip))
        chosen: Chosen = select_segments(task.row, index.duration, task.selection)
        shutil.rmtree(staging, ignore_errors=True)
        samples = []
        if chosen.segments:
            staging.mkdir(parents=True)
            cuts = cut_segments(Path(task.clip), [(s.start, s.end, staging / f"{s.key}.mp4") for s in chosen.segments],
                                index=index)
            for segment, cut in zip(chosen.segments, cuts):
                sample = dict(segment.json, clip_start=round(cut.first_time, 6),
                              clip_end=round(cut.first_time + cut.duration, 6), frames=cut.frames,
                              seconds=round(cut.duration, 6))
                samples.append({"json": sample, "path": str(cut.path), "bytes": cut.bytes, "how": cut.how,
                                "seconds": cut.duration})
    except ReelsetError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        return ClipExport(video_uid, error=str(exc))
    return ClipExport(video_uid, samples, dict(chosen.skipped), "; ".join(chosen.tree_problems))


def _clip_failed(task: ClipExportTask, error: BaseException) -> ClipExport:
    shutil.rmtree(task.staging, ignore_errors=True)
    return ClipExport(task.row["video_uid"], error=f"{Path(task.clip).name}: task failed: "
                                                   f"{one_line(error, typed=True)}")


@dataclass
class ExportSummary:
    out_dir: Path
    to: str
    samples: int = 0
    seconds: float = 0.0
    bytes: int = 0
    how: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)  # reason -> segments
    videos: int = 0  # clips exported by this run
    already: int = 0  # clips exported by an earlier run
    broken: list[str] = field(default_factory=list)  # "<id>: <reason>"
    tree_problems: list[str] = field(default_factory=list)
    no_row: int = 0  # clips without a parquet row
    written: list[str] = field(default_factory=list)  # shards (or video folders) completed by this run
    total_samples: int = 0  # in the folder, this run's and earlier ones'


class _Writer:
    """Writes results, in order, into ``out`` and records what is complete in the manifest (single writer)."""

    def __init__(self, out: Path, manifest: dict[str, Any], shard_size: int):
        self.out, self.manifest, self.shard_size = out, manifest, shard_size
        self.pending: list[ClipExport] = []
        self.pending_samples = 0

    def add(self, result: ClipExport) -> list[str]:
        """Take one clip's result; return the names of the outputs it completed."""
        done = []
        if self.pending and self.pending_samples + len(result.samples) > self.shard_size:
            done.append(self.close_shard())
        self.pending.append(result)
        self.pending_samples += len(result.samples)
        if self.pending_samples >= self.shard_size:
            done.append(self.close_shard())
        return done

    def finish(self) -> list[str]:
        return [self.close_shard()] if self.pending_samples else self._record_empty()

    def _record_empty(self) -> list[str]:
        """Clips with no chosen segment are recorded too, so that a rerun does not cut them again."""
        if self.pending:
            self.manifest["empty_videos"] = sorted({*self.manifest["empty_videos"],
                                                    *(result.video_uid for result in self.pending)})
            self.pending = []
            _write_manifest(self.out, self.manifest)
        return []

    def close_shard(self) -> str:
        number = len(self.manifest["shards"])
        name = self.write(number, [result for result in self.pending if result.samples])
        entry = {"name": name, "samples": self.pending_samples,
                 "seconds": round(sum(s["seconds"] for r in self.pending for s in r.samples), 3),
                 "bytes": sum(s["bytes"] for r in self.pending for s in r.samples),
                 "videos": [result.video_uid for result in self.pending if result.samples]}
        self.manifest["shards"].append(entry)
        self.manifest["empty_videos"] = sorted({*self.manifest["empty_videos"],
                                                *(result.video_uid for result in self.pending if not result.samples)})
        _write_manifest(self.out, self.manifest)
        for result in self.pending:
            shutil.rmtree(_staging(self.out, result.video_uid), ignore_errors=True)
        self.pending, self.pending_samples = [], 0
        return name

    def write(self, number: int, results: list[ClipExport]) -> str:
        raise NotImplementedError


def _json_bytes(sample: dict[str, Any]) -> bytes:
    return json.dumps(sample["json"], ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _WebDatasetWriter(_Writer):
    def write(self, number: int, results: list[ClipExport]) -> str:
        name = f"shard-{number:06d}.tar"
        with atomic_output(self.out / name) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for result in results:
                for sample in result.samples:
                    key = sample["json"]["key"]
                    _add_member(tar, f"{key}.json", _json_bytes(sample))
                    with open(sample["path"], "rb") as clip:
                        _add_member(tar, f"{key}.mp4", clip, size=sample["bytes"])
        return name


def _add_member(tar: tarfile.TarFile, name: str, data: bytes | io.BufferedReader, size: int | None = None) -> None:
    # Fixed owner, mode and time: the same samples make byte-identical shards.
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.uname, info.gname = (len(data) if size is None else size), 0o644, 0, "", ""
    tar.addfile(info, io.BytesIO(data) if isinstance(data, bytes) else data)


class _HfWriter(_Writer):
    def write(self, number: int, results: list[ClipExport]) -> str:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = []
        for result in results:
            folder = self.out / "videos" / result.video_uid
            shutil.rmtree(folder, ignore_errors=True)  # a killed run's copy
            folder.mkdir(parents=True)
            for sample in result.samples:
                path = Path(sample["path"])
                os.replace(path, folder / path.name)
                rows.append(dict(sample["json"], video=f"videos/{result.video_uid}/{path.name}"))
            fsync_dir(folder)
        if not (self.out / "README.md").exists():
            atomic_write_text(self.out / "README.md", _HF_CARD)
        name = f"data/shard-{number:06d}.parquet"
        with atomic_output(self.out / name) as tmp:
            pq.write_table(pa.Table.from_pylist(rows, schema=_hf_schema(rows)), tmp)
        return name


_HF_CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/*.parquet
---
# Action100M segments

Exported by `reelset action100m export --to hf`: one row per Tree-of-Captions segment, its captions, and `video`,
the path of its clip relative to this folder. Action100M is under the FAIR Noncommercial Research licence.
"""


def _hf_schema(rows: list[dict[str, Any]]):
    """Types from the values, strings where a column is null in every row (so every shard has one schema)."""
    import pyarrow as pa

    kinds = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}
    fields = []
    for name in rows[0]:
        values = [row[name] for row in rows if row.get(name) is not None]
        kind = pa.float64() if name in ("start", "end", "clip_start", "clip_end", "seconds") else \
            kinds.get(type(values[0]), pa.string()) if values else pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


class _FilesWriter(_Writer):
    """A folder per video, complete when it takes its name; every video is its own "shard"."""

    def add(self, result: ClipExport) -> list[str]:
        if not result.samples:
            self.pending.append(result)
            return []
        staging = _staging(self.out, result.video_uid)
        for sample in result.samples:
            atomic_write_text(staging / f"{sample['json']['key']}.json", _json_bytes(sample).decode("utf-8"),
                              durable=False)
        target = self.out / result.video_uid
        shutil.rmtree(target, ignore_errors=True)  # a killed run's copy, not recorded
        os.replace(staging, target)
        fsync_dir(self.out)
        self.manifest["shards"].append({
            "name": result.video_uid, "samples": len(result.samples),
            "seconds": round(sum(s["seconds"] for s in result.samples), 3),
            "bytes": sum(s["bytes"] for s in result.samples), "videos": [result.video_uid]})
        if len(self.manifest["shards"]) % 20 == 0:  # the manifest now and then; finish() writes it at the end
            _write_manifest(self.out, self.manifest)
        return [result.video_uid]

    def finish(self) -> list[str]:
        self._record_empty()
        _write_manifest(self.out, self.manifest)
        return []


_WRITERS = {"webdataset": _WebDatasetWriter, "files": _FilesWriter, "hf": _HfWriter}


def _staging(out: Path, video_uid: str) -> Path:
    return out / STAGING / video_uid


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")


def _load_manifest(out: Path, to: str, selection: Selection) -> dict[str, Any]:
    """The folder's manifest, or a new one; a folder exported with another format or selection is refused."""
    path = out / MANIFEST
    fresh = {"version": MANIFEST_VERSION, "format": to, "selection": selection.as_dict(), "shards": [],
             "empty_videos": []}
    if not path.exists():
        if any(entry.name not in (".lock", STAGING) and not entry.name.startswith(".") for entry in out.iterdir()):
            raise ReelsetError(f"{out}: not empty and not an export folder (no {MANIFEST}); give another --out")
        return fresh
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        shards, empty = manifest["shards"], manifest["empty_videos"]
        if not isinstance(shards, list) or not isinstance(empty, list):
            raise ValueError("shards and empty_videos must be lists")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReelsetError(f"{path}: unreadable export manifest ({one_line(exc)}); delete the folder to start again")
    if manifest.get("format") != to:
        raise ReelsetError(f"{out}: holds a --to {manifest.get('format')} export, not {to}; give another --out")
    if manifest.get("selection") != fresh["selection"]:
        differ = [name for name, value in fresh["selection"].items() if manifest["selection"].get(name) != value]
        options = ", ".join("--" + name.replace("_", "-") for name in differ)
        raise ReelsetError(f"{out}: exported with other options ({options}); give another --out, or the same options "
                           "to resume")
    return manifest


def _remove_leftovers(out: Path, manifest: dict[str, Any], to: str) -> None:
    """What a killed run left: staging folders, temporary files, outputs written but not recorded."""
    shutil.rmtree(out / STAGING, ignore_errors=True)
    for folder in (out, out / "data"):
        remove_stale_temps(folder)
    recorded = {entry["name"] for entry in manifest["shards"]}
    if to == "webdataset":
        for path in out.glob("shard-*.tar"):
            if path.name not in recorded:
                path.unlink()
    elif to == "hf":
        for path in (out / "data").glob("shard-*.parquet"):
            if f"data/{path.name}" not in recorded:
                path.unlink()


def export_segments(
    data_dir: Path = DEFAULT_DATA_DIR,
    videos_dir: Path = DEFAULT_VIDEOS_DIR,
    out_dir: Path = DEFAULT_OUT,
    *,
    to: str = "webdataset",
    selection: Selection = Selection(),
    shard_size: int = DEFAULT_SHARD_SIZE,
    workers: int = 2,
    executor: Executor | str | None = None,
    on_clip: Callable[[ClipExport], None] = lambda result: None,
    on_problem: Callable[[str], None] = lambda line: None,
    on_clips: Callable[[int], None] = lambda total: None,
) -> ExportSummary:
    """Export the chosen segments of every downloaded clip of ``videos_dir`` into ``out_dir`` (module docstring).

    Args:
        to: ``webdataset``, ``files`` or ``hf``.
        selection: which segments and captions (:class:`reelset.action100m.segments.Selection`).
        shard_size: samples per shard (webdataset, hf); a video with more has a shard of its own.
        workers: clips cut at the same time on this machine (without ``executor``); each runs ffmpeg.
        executor: where the clips are cut (:func:`reelset.scale.executor_for`); this process writes the outputs.
        on_clip: called with each clip's result, in row order (progress).
        on_problem: one line per unusable clip or malformed tree.
        on_clips: called once with the number of clips to export by this run.

    Example::

        from reelset.action100m import export_segments
        summary = export_segments("action100m-preview", "videos", "segments", to="webdataset")
        summary.samples, summary.written   # e.g. 812, ['shard-000000.tar']

    Raises:
        ReelsetError: an unknown format, no shards or a shard of another schema, no ``videos_dir``, an ``out_dir``
            that cannot be written, holds something else or another selection's export; checked before anything is
            written. Another export running into the same folder.
    """
    if to not in FORMATS:
        raise ReelsetError(f"--to {to}: unknown format (choose from {', '.join(FORMATS)})")
    if shard_size < 1:
        raise ReelsetError(f"--shard-size {shard_size}: must be at least 1")
    shards = require_shards(data_dir)
    for shard in shards:
        check_shard(shard, COLUMNS)
    if not Path(videos_dir).is_dir():
        raise ReelsetError(f"{videos_dir}: videos folder not found (run `reelset action100m download` first)")
    out = Path(out_dir)
    check_output(out, folder=True)
    if out.exists() and (out / MANIFEST).exists():
        _load_manifest(out, to, selection)  # refuse a foreign folder before locking it
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive_lock(out / ".lock", f"{out}: another export is writing this folder"):
            summary = _export(shards, Path(videos_dir), out, to, selection, shard_size, workers, executor, on_clip,
                              on_problem, on_clips)
        if not summary.total_samples:
            reasons = "; ".join(f"{count} {reason}" for reason, count in summary.skipped.most_common(3))
            raise ReelsetError(f"{out}: no segment to export ({summary.videos} clips read, {len(summary.broken)} "
                               f"unusable{': ' + reasons if reasons else ''})")
        return summary
    except BaseException:
        if created and not _samples_recorded(out):
            shutil.rmtree(out, ignore_errors=True)  # a run that exported nothing leaves nothing
        raise


def _samples_recorded(out: Path) -> bool:
    try:
        return any(entry["samples"] for entry in json.loads((out / MANIFEST).read_text("utf-8"))["shards"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _export(shards: list[Path], videos_dir: Path, out: Path, to: str, selection: Selection, shard_size: int,
            workers: int, executor: Executor | str | None, on_clip: Callable[[ClipExport], None],
            on_problem: Callable[[str], None], on_clips: Callable[[int], None]) -> ExportSummary:
    manifest = _load_manifest(out, to, selection)
    _remove_leftovers(out, manifest, to)
    _write_manifest(out, manifest)  # from now on the folder is an export folder, whatever happens
    done = {uid for entry in manifest["shards"] for uid in entry["videos"]} | set(manifest["empty_videos"])
    clips = clip_ids(videos_dir)
    wanted = {video_uid for video_uid in clips if video_uid not in done}
    summary = ExportSummary(out, to, already=len(clips.keys() & done))
    on_clips(len(wanted))
    writer = _WRITERS[to](out, manifest, shard_size)
    seen: set[str] = set()
    with executor_for(executor, workers=workers) as running:
        def tasks() -> Iterator[ClipExportTask]:
            for group in iter_rows_for(shards, wanted.__contains__, COLUMNS):
                for row in group:  # a video listed twice is exported once
                    if row["video_uid"] not in seen:
                        seen.add(row["video_uid"])
                        yield ClipExportTask(row, str(running.shared_path(clips[row["video_uid"]].absolute())),
                                             str(running.shared_path(_staging(out, row["video_uid"]).absolute())),
                                             selection)

        for result in running.map_ordered(export_clip, tasks(), on_error=_clip_failed):
            on_clip(result)
            if result.error:
                summary.broken.append(f"{result.video_uid}: {result.error}")
                on_problem(f"skipped {result.video_uid}: {result.error}")
                continue
            if result.tree_problems:
                summary.tree_problems.append(f"{result.video_uid}: {result.tree_problems}")
                on_problem(f"tree {result.video_uid}: {result.tree_problems}")
            summary.videos += 1
            summary.skipped.update(result.skipped)
            for sample in result.samples:
                summary.samples += 1
                summary.seconds += sample["seconds"]
                summary.bytes += sample["bytes"]
                summary.how[sample["how"]] += 1
            summary.written += writer.add(result)
        summary.written += writer.finish()
    shutil.rmtree(out / STAGING, ignore_errors=True)
    summary.no_row = len(wanted - seen)
    summary.total_samples = sum(entry["samples"] for entry in manifest["shards"])
    return summary


def summary_lines(summary: ExportSummary) -> list[str]:
    """The end-of-run report, one plain line each."""
    hows = ", ".join(f"{summary.how[how]} {how}" for how in HOWS if summary.how[how]) or "none"
    written = ", ".join(summary.written[:3]) or "nothing"
    if len(summary.written) > 3:
        written += f" and {len(summary.written) - 3} more"
    lines = [
        f"export: {summary.samples} samples ({summary.seconds / 3600:.2f} h, {summary.bytes / 1e6:.1f} MB) from "
        f"{summary.videos} clips into {summary.out_dir} ({summary.to}); {summary.already} clips exported before, "
        f"{len(summary.broken)} unusable, {summary.no_row} without a parquet row",
        f"export: video {hows}",
        f"export: {summary.total_samples} samples in the folder; written now: {written}",
    ]
    if summary.skipped:
        reasons = ", ".join(f"{count} {reason}" for reason, count in summary.skipped.most_common())
        lines.append(f"export: segments left out: {reasons}")
    return lines
