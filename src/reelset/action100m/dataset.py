"""Step 3 of Action100M: the persistent FiftyOne video dataset whose Tree-of-Captions labels are temporal detections.

:func:`build_dataset` is ``reelset action100m fiftyone`` as a library call. It streams: the parquet is read one row
group at a time and only rows whose clip exists are decoded; clips are probed in parallel; samples reach
``add_samples`` through a generator, so memory stays flat in the number of videos.

Each clip's work is one task (:func:`clip_document`: probe the clip, build its tree, make the sample's document) run
by an executor (:mod:`reelset.scale`): threads here, or the workers of a Dask cluster (``reelset action100m fiftyone
--scheduler ADDRESS``, and ``build``). This process reads the parquet, sends each row with its clip's absolute path and
status record, receives the documents in row order and alone inserts them into MongoDB, so the dataset is the same
wherever the tasks ran (the same samples in the same order, fields and labels; sample ids are stamped here at
insertion, in order). The videos folder must be visible to
every worker under the same absolute path (a shared file system); the parquet, the status file and the database
are read and written by this process only. A clip whose task fails for good (its worker died on it
``allowed-failures`` times) is counted among the broken clips, with its reason, and added by the next run.

Incremental by default (a deliberate change from the original scripts, which rebuilt the dataset every time): a
video already in the dataset is never added or updated again; ``overwrite=True`` deletes and rebuilds. reelset
follows FiftyOne's own configuration (``FIFTYONE_DATABASE_DIR``, ``FIFTYONE_DATABASE_URI``, ...) and never sets
a database location of its own.
"""

from __future__ import annotations

import functools
import random as _random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from reelset.action100m.hub import DEFAULT_DATA_DIR
from reelset.action100m.labels import TRANSCRIPT_FIELD, Clip, LabelOptions, sample_fields
from reelset.action100m.schema import COLUMNS
from reelset.action100m.shards import check_shard, iter_rows_for, require_shards
from reelset.action100m.tree import GPT_FIELDS, STAGE2_FIELDS, build_tree
from reelset.core.errors import ReelsetError, one_line
from reelset.core.ffmpeg import MediaError, probe
from reelset.core.fiftyone_db import redact_uri
from reelset.core.mp4 import read_mp4_video
from reelset.core.status import read_status
from reelset.core.video_ids import is_youtube_id
from reelset.scale import Executor, executor_for

if TYPE_CHECKING:
    import fiftyone as fo

DEFAULT_NAME = "action100m"
DEFAULT_VIDEOS_DIR = Path("videos")
DETECTION_ATTRIBUTES = {"node_id": "str", "parent_id": "str", "level": "int", "tier": "str", "start": "float",
                        "end": "float", "crosses_clip_end": "bool"}
INSERT_BATCH = 64
TRANSCRIPT_ATTRIBUTES = {"start": "float", "end": "float", "crosses_clip_end": "bool"}


@dataclass
class IngestSummary:
    name: str
    added: int = 0
    already: int = 0
    no_clip: int = 0
    broken: list[str] = field(default_factory=list)  # "<id>: <reason>"
    tree_problems: list[str] = field(default_factory=list)  # "<id>: <problems>"
    total: int = 0
    database: str = ""


@dataclass(frozen=True)
class ProbedClip:
    video_uid: str
    path: Path
    clip: Clip | None
    metadata: dict[str, Any] | None
    error: str | None = None


def clip_ids(videos_dir: Path) -> dict[str, Path]:
    """The clips in ``videos_dir`` by id: ``<id>.mp4`` files whose name is a valid YouTube id."""
    found = {}
    for path in Path(videos_dir).glob("*.mp4"):
        if is_youtube_id(path.stem) and path.is_file():
            found[path.stem] = path
    return found


def _clip_facts(path: Path) -> tuple[float, int, float, int, int, str, int | None]:
    """``(fps, frames, duration, width, height, codec, size)`` of a clip: from its MP4 index when it can be read
    directly (a fraction of a millisecond), else from ffprobe (tens of milliseconds)."""
    video = read_mp4_video(path)
    if video is not None and video.frame_count and video.duration > 0:
        width, height = video.display_size
        codec = {"avc1": "h264", "avc3": "h264"}.get(video.codec_tag, video.codec_tag)
        return video.fps, video.frame_count, video.duration, width, height, codec, None
    info = probe(path, label=path.name, timeout=60)
    if info.video is None or not info.duration:
        raise MediaError(f"{path.name}: no video stream or no duration")
    frames = info.video.frame_count
    fps = info.video.fps or (frames / info.duration if frames else None)
    if not frames and fps:
        frames = round(fps * info.duration)
    if not fps or not frames:
        raise MediaError(f"{path.name}: frame rate and frame count unknown")
    width, height = info.video.display_size
    return fps, frames, info.duration, width, height, info.video.codec, info.size


def probe_clip(video_uid: str, path: Path, status: dict[str, Any] | None = None) -> ProbedClip:
    """The frame grid and ``VideoMetadata`` fields of one clip; an unreadable clip comes back with ``error`` set.

    The file decides (a clip placed by other means has no status record); the download's record, when there is
    one, must agree on the clip's length, else the file is suspect.
    """
    try:
        fps, frames, duration, width, height, codec, size = _clip_facts(path)
    except MediaError as exc:
        return ProbedClip(video_uid, path, None, None, str(exc))
    recorded = (status or {}).get("clip_seconds")
    if status and status.get("status") == "ok" and recorded and abs(float(recorded) - duration) > 1.0:
        return ProbedClip(video_uid, path, None, None,
                          f"{path.name}: {duration:.2f} s long but the download recorded {recorded} s")
    metadata = {"size_bytes": size or path.stat().st_size, "mime_type": "video/mp4", "frame_width": width,
                "frame_height": height, "frame_rate": fps, "total_frame_count": frames, "duration": duration,
                "encoding_str": codec}
    return ProbedClip(video_uid, path, Clip(fps=fps, total_frames=frames, duration=duration), metadata)


@dataclass(frozen=True)
class ClipTask:
    """One parquet row and its clip, for a thread here or a Dask worker: the clip's absolute path, its download
    status record (or None) and the label options."""

    row: dict[str, Any]
    path: str
    status: dict[str, Any] | None
    options: LabelOptions


@dataclass(frozen=True)
class ClipDocument:
    """What :func:`clip_document` made of a row: the sample's document, or the reason the clip is unusable; and
    the problems of its tree (``"; "``-joined, empty when none)."""

    video_uid: str
    document: dict[str, Any] | None
    error: str | None = None
    tree_problems: str = ""


def clip_document(task: ClipTask) -> ClipDocument:
    """Probe the clip, build the row's tree and the sample's document: a pure function of its task (a worker
    thread here, or a Dask worker), which writes nothing."""
    video_uid = task.row["video_uid"]
    probed = probe_clip(video_uid, Path(task.path), task.status)
    if probed.clip is None:
        return ClipDocument(video_uid, None, probed.error)
    tree = build_tree(video_uid, task.row.get("nodes"))
    document = sample_document(probed, sample_fields(task.row, tree, probed.clip, task.options))
    return ClipDocument(video_uid, document, tree_problems="; ".join(tree.problems))


def _clip_failed(task: ClipTask, error: BaseException) -> ClipDocument:
    return ClipDocument(task.row["video_uid"], None,
                        f"{Path(task.path).name}: task failed: {one_line(error, typed=True)}")


def _existing_ids(dataset: fo.Dataset) -> set[str]:
    return set(dataset.distinct("video_uid")) if "video_uid" in dataset.get_field_schema() else set()


def _declare_schema(dataset: fo.Dataset, options: LabelOptions) -> None:
    """Declare every field and detection attribute up front, in one schema merge (the App then lists them, and
    documents go in without schema inference). Fields already declared are left as they are."""
    import fiftyone as fo
    import fiftyone.core.fields as fof

    kinds = {"str": fof.StringField, "int": fof.IntField, "float": fof.FloatField, "bool": fof.BooleanField,
             "datetime": fof.DateTimeField}
    scalars = {"video_uid": "str", "title": "str", "description": "str", "full_video_url": "str",
               "upload_date": "datetime", "view_count": "int", "like_count": "int", "full_video_duration": "int",
               "transcript": "str", "tree_depth": "int", "clip_seconds": "float"}
    schema: dict[str, fof.Field] = {name: kinds[kind]() for name, kind in scalars.items()}
    for name in [*GPT_FIELDS, TRANSCRIPT_FIELD, *(STAGE2_FIELDS if options.stage2 else ())]:
        schema[name] = fof.EmbeddedDocumentField(fo.TemporalDetections)
        attributes = TRANSCRIPT_ATTRIBUTES if name == TRANSCRIPT_FIELD else DETECTION_ATTRIBUTES
        for attribute, kind in attributes.items():
            schema[f"{name}.detections.{attribute}"] = kinds[kind]()
    declared = dataset.get_field_schema(flat=True)
    missing = {path: field for path, field in schema.items() if path not in declared}
    if missing:
        dataset.add_dynamic_sample_fields(fields=missing)


def sample_document(probed: ProbedClip, fields: dict[str, Any]) -> dict[str, Any]:
    """The sample as the BSON document FiftyOne stores (``_cls`` tags, ``_id`` of every label), built directly.

    Building ``fo.Sample``/``fo.TemporalDetection`` objects costs about half a second per Action100M video (the
    ODM validates each of ~700 labels attribute by attribute); the document FiftyOne would store costs about a
    hundredth of that. The dataset-level fields (``_dataset_id``, timestamps) are added by :func:`_insert`, which
    also stamps the sample's ``_id`` again (in insertion order, whichever thread or worker made the document).
    """
    document: dict[str, Any] = {
        "_id": ObjectId(),
        "filepath": str(probed.path.resolve()),
        "tags": [],
        "metadata": dict(probed.metadata, _cls="VideoMetadata"),
        "_media_type": "video",
        "_rand": _random.random() * 0.001 + 0.999,  # as fiftyone.core.odm.sample._generate_rand
    }
    for name, value in fields.items():
        if isinstance(value, list):
            value = {"_cls": "TemporalDetections",
                     "detections": [dict(item, _id=ObjectId(), _cls="TemporalDetection", tags=[]) for item in value]}
        if value is not None:
            document[name] = value
    return document


def _insert(dataset: fo.Dataset, documents: Iterator[dict[str, Any]], on_added: Callable[[int], None]) -> int:
    """Insert sample documents the way FiftyOne's own dataset importer does (``LegacyFiftyOneDatasetImporter``:
    ``fiftyone.core.odm.insert_documents`` into the sample collection, stamped with the dataset id and times)."""
    import fiftyone.core.odm as foo
    import fiftyone.core.utils as fou

    now = datetime.now(timezone.utc)
    dataset_id = dataset._doc.id

    def stamped() -> Iterator[dict[str, Any]]:
        for document in documents:
            document.update(_id=ObjectId(), _dataset_id=dataset_id, created_at=now, last_modified_at=now)
            yield document
            on_added(1)

    # Fixed-size batches keep memory flat: FiftyOne's default batcher grows batches while inserts are fast, up to
    # thousands of documents (hundreds of MB for Action100M samples).
    batcher = functools.partial(fou.StaticBatcher, batch_size=INSERT_BATCH)
    added = len(foo.insert_documents(stamped(), dataset._sample_collection, batcher=batcher, progress=False))
    dataset.reload()
    return added


def iter_documents(
    data_dir: Path,
    videos_dir: Path,
    *,
    skip: set[str],
    options: LabelOptions,
    summary: IngestSummary,
    executor: Executor,
    on_problem: Callable[[str], None] = lambda line: None,
) -> Iterator[dict[str, Any]]:
    """Sample documents for the rows of ``data_dir`` that have a clip in ``videos_dir`` and are not in ``skip``, in
    row order, made by the tasks of ``executor``."""
    shards = require_shards(data_dir)
    clips = clip_ids(videos_dir)
    status, _ = read_status(Path(videos_dir) / "status.jsonl")
    summary.already = len(skip & clips.keys())
    wanted = {video_uid for video_uid in clips if video_uid not in skip}
    seen: set[str] = set()

    def tasks() -> Iterator[ClipTask]:
        for group in iter_rows_for(shards, wanted.__contains__, COLUMNS):
            for row in group:  # a video listed twice is ingested once
                video_uid = row["video_uid"]
                if video_uid not in seen:
                    seen.add(video_uid)
                    yield ClipTask(row, str(clips[video_uid].absolute()), status.get(video_uid), options)

    for result in executor.map_ordered(clip_document, tasks(), on_error=_clip_failed):
        if result.document is None:
            summary.broken.append(f"{result.video_uid}: {result.error}")
            on_problem(f"skipped {result.video_uid}: {result.error}")
            continue
        if result.tree_problems:
            text = f"{result.video_uid}: {result.tree_problems}"
            summary.tree_problems.append(text)
            on_problem(f"tree {text}")
        yield result.document
    summary.no_clip = len(wanted - seen)


def build_dataset(
    data_dir: Path = DEFAULT_DATA_DIR,
    videos_dir: Path = DEFAULT_VIDEOS_DIR,
    *,
    name: str = DEFAULT_NAME,
    options: LabelOptions = LabelOptions(),
    overwrite: bool = False,
    workers: int = 4,
    on_problem: Callable[[str], None] = lambda line: None,
    on_added: Callable[[int], None] = lambda count: None,
    executor: Executor | str | None = None,
) -> IngestSummary:
    """Create or extend the persistent FiftyOne dataset ``name`` from the shards and the clips.

    Args:
        workers: clips probed at the same time on this machine (without ``executor``).
        on_problem: called with one line per skipped clip or malformed tree.
        on_added: called with the number of samples added by each batch.
        executor: where the clips are probed and their documents made (:func:`reelset.scale.executor_for`: an
            Executor, or a Dask scheduler's address or ``distributed.Client``); this process inserts them (module
            docstring). A cluster is connected before the dataset is touched. Default: ``workers`` threads here.

    Raises:
        ReelsetError: no shards in ``data_dir``, a shard that is unreadable or of another schema, no
            ``videos_dir``, a dataset ``name`` of images; checked before the dataset is created, deleted or changed.
    """
    for shard in require_shards(data_dir):
        check_shard(shard, COLUMNS)
    if not Path(videos_dir).is_dir():
        raise ReelsetError(f"{videos_dir}: videos folder not found (run `reelset action100m download` first)")
    import fiftyone as fo

    with executor_for(executor, workers=workers) as running:
        if overwrite and fo.dataset_exists(name):
            fo.delete_dataset(name)
        created = not fo.dataset_exists(name)
        dataset = fo.Dataset(name, persistent=True) if created else fo.load_dataset(name)
        summary = IngestSummary(name)
        try:
            if dataset.media_type not in (None, "video"):
                raise ReelsetError(f"FiftyOne dataset {name!r} holds {dataset.media_type} samples, not videos")
            dataset.persistent = True
            dataset.media_type = "video"
            _declare_schema(dataset, options)
            documents = iter_documents(data_dir, videos_dir, skip=_existing_ids(dataset), options=options,
                                       summary=summary, executor=running, on_problem=on_problem)
            summary.added = _insert(dataset, documents, on_added)
        except BaseException:
            if created:
                _drop_if_empty(dataset)
            raise
    summary.total = len(dataset)
    summary.database = redact_uri(fo.config.database_uri) if fo.config.database_uri else fo.config.database_dir
    return summary


def _drop_if_empty(dataset: fo.Dataset) -> None:
    """Delete a dataset this run created and failed to add anything to (a later shard corrupt, say): a run that
    fails leaves no empty dataset behind. Quietly: the run's own error is the one to report."""
    try:
        dataset.reload()
        if len(dataset) == 0:
            dataset.delete()
    except Exception:  # whatever failed (the database itself, perhaps), the run's error is the one to report
        pass


def summary_lines(summary: IngestSummary) -> list[str]:
    """The end-of-run report, one plain line each."""
    lines = [
        f"fiftyone: dataset {summary.name!r} has {summary.total} samples: {summary.added} added, "
        f"{summary.already} already there, {len(summary.broken)} broken clips skipped, "
        f"{summary.no_clip} clips without a parquet row, {len(summary.tree_problems)} malformed trees",
        f"fiftyone: database {summary.database}",
        f"open it with: reelset action100m app --name {summary.name}",
    ]
    return lines
