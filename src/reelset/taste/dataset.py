"""The taste run as a persistent FiftyOne video dataset, so the predictions can be browsed in the App.

One sample per tagged video (``filepath`` absolute), with the fields of ``predictions.json`` (:mod:`.run`):

- ``video_tags``: ``fo.Classifications``, the video's top k labels (``label`` the fine name, ``confidence`` the
  score, and as attributes ``category`` its group and ``unsure``: too low a score to state as a fact). Not ``tags``:
  that name is FiftyOne's own list of sample tags (strings the user sets in the App), which cannot hold labels;
- ``frames[n]["tags"]``: ``fo.Classifications``, the top k of each one-per-second sample, on the frame shown at the
  sample time ``t = k / fps``: frame number ``floor(t * frame_rate) + 1`` (FiftyOne counts frames from 1; the
  decoder's rule picks the last frame whose time is ``<= t``), for models that give per-frame scores;
- ``vertical``: ``fo.Classification``, the video's YouTube-8M vertical (None when not known); ``category``: the
  group of its top label;
- ``taken_at``: when it was taken (what ``predictions.json`` calls ``taken``; a datetime, which FiftyOne stores in
  UTC), and ``taken_from``: ``metadata``|``file``;
- ``location``: ``fo.GeoLocation`` with ``point = [lon, lat]`` (the App's map reads it), None without GPS; ``place``:
  the place's name ("Paris, France") or None; ``shots``: the number of shots or None;
- ``duplicate_of``: the absolute path of the video it is a near-duplicate of (None if none), and then the sample tag
  :data:`DUPLICATE_TAG` (``"duplicate"``) too, so the App can filter duplicates in or out;
- ``metadata``: ``fo.VideoMetadata`` from ffprobe (no second probe by FiftyOne).

The fields are declared with their types before any sample is written (a field whose every value is None would be
left untyped otherwise); a dataset of that name holding a field of another type is refused.

Idempotent: the dataset mirrors the last run. A video already there (same ``filepath``) is updated in place (its
id, and the sample tags a user gave it, are kept; only :data:`DUPLICATE_TAG` is set or removed by the run), new ones
are added, and samples of videos that are no longer in the run are removed. FiftyOne is imported only here, and
follows its own configuration (``FIFTYONE_DATABASE_URI``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reelset.core.errors import ReelsetError
from reelset.core.fiftyone_db import hide_old_mongodb_notice
from reelset.taste.predict import Label
from reelset.taste.results import TastedVideo

hide_old_mongodb_notice()  # for library users too, not only the CLI

VIDEO_FIELD = "video_tags"
FRAME_FIELD = "tags"
DUPLICATE_TAG = "duplicate"


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    samples: int
    added: int
    updated: int
    removed: int
    labelled_frames: int


def frame_number(seconds: float, frame_rate: float, frame_count: int | None = None) -> int:
    """The (1-based) number of the frame shown at ``seconds`` in a constant-rate video."""
    number = int(math.floor(seconds * frame_rate + 1e-6)) + 1
    return min(number, frame_count) if frame_count else number


def _classifications(labels: Sequence[Label]):
    import fiftyone as fo

    return fo.Classifications(classifications=[
        fo.Classification(label=label.name, confidence=label.score, category=label.category, unsure=label.unsure)
        for label in labels])


def _declare_fields(dataset) -> None:
    """Give the sample fields their types (module docstring), all checked before any is added.

    Raises:
        ReelsetError: the dataset has one of these fields with another type.
    """
    import fiftyone as fo

    declared = {"vertical": (fo.EmbeddedDocumentField, fo.Classification), "category": (fo.StringField, None),
                "taken_at": (fo.DateTimeField, None), "taken_from": (fo.StringField, None),
                "location": (fo.EmbeddedDocumentField, fo.GeoLocation), "place": (fo.StringField, None),
                "shots": (fo.IntField, None), "duplicate_of": (fo.StringField, None)}
    schema = dataset.get_field_schema()
    for name, (kind, document) in declared.items():
        field = schema.get(name)
        if field is not None and not (isinstance(field, kind) and getattr(field, "document_type", None) is document):
            raise ReelsetError(f"FiftyOne dataset {dataset.name!r} has a field {name!r} that is not a "
                               f"{(document or kind).__name__} (it is a {type(field).__name__}): choose another "
                               "--dataset name")
    for name, (kind, document) in declared.items():
        if name not in schema:
            dataset.add_sample_field(name, kind, embedded_doc_type=document)


def _metadata(video: TastedVideo):
    import fiftyone as fo

    return fo.VideoMetadata(size_bytes=video.size_bytes, mime_type=None, frame_width=video.width,
                            frame_height=video.height, frame_rate=video.frame_rate,
                            total_frame_count=video.frame_count, duration=video.duration)


def _fill(sample, video: TastedVideo) -> int:
    """Set a sample's fields and frames from ``video``; returns the number of labelled frames."""
    import fiftyone as fo

    sample[VIDEO_FIELD] = _classifications(video.labels)
    sample["vertical"] = fo.Classification(label=video.vertical) if video.vertical else None
    sample["category"] = video.main_group
    sample["taken_at"] = video.taken.when
    sample["taken_from"] = video.taken.source
    located = video.lat is not None and video.lon is not None
    sample["location"] = fo.GeoLocation(point=[float(video.lon), float(video.lat)]) if located else None
    sample["place"] = video.place
    sample["shots"] = video.shots
    sample["duplicate_of"] = str(Path(video.duplicate_of).resolve()) if video.duplicate_of else None
    sample.tags = [tag for tag in sample.tags if tag != DUPLICATE_TAG] + ([DUPLICATE_TAG] if video.duplicate_of
                                                                          else [])
    sample.metadata = _metadata(video)
    sample.frames.clear()
    if not video.frame_labels or not video.frame_rate:
        return 0
    frames = {}
    for seconds, labels in zip(video.timestamps, video.frame_labels):
        number = frame_number(float(seconds), video.frame_rate, video.frame_count)
        frames.setdefault(number, labels)  # a video slower than the sampling: the first sample on a frame wins
    for number, labels in frames.items():
        sample.frames[number] = fo.Frame(**{FRAME_FIELD: _classifications(labels)})
    return len(frames)


def write_dataset(name: str, videos: Sequence[TastedVideo], *, description: str = "") -> DatasetSummary:
    """Create or update the persistent FiftyOne dataset ``name`` so it holds exactly ``videos`` (see the module
    docstring).

    Raises:
        ReelsetError: a dataset of that name holds images, not videos, or has one of our fields with another type.
    """
    import fiftyone as fo

    dataset = fo.load_dataset(name) if fo.dataset_exists(name) else fo.Dataset(name, persistent=True)
    if dataset.media_type not in (None, "video"):
        raise ReelsetError(f"FiftyOne dataset {name!r} holds {dataset.media_type} samples, not videos: "
                           "choose another --dataset name")
    _declare_fields(dataset)
    dataset.persistent = True
    wanted = {str(Path(video.path).resolve()): video for video in videos}
    existing = dict(zip(*dataset.values(["filepath", "id"]))) if len(dataset) else {}
    labelled = 0
    new_samples = []
    for filepath, video in wanted.items():
        if filepath not in existing:
            sample = fo.Sample(filepath=filepath)
            labelled += _fill(sample, video)
            new_samples.append(sample)
    if new_samples:
        dataset.add_samples(new_samples, progress=False)
    update_ids = [existing[filepath] for filepath in wanted if filepath in existing]
    if update_ids:
        # Saved one by one: FiftyOne 1.x's batched autosave loses (or fails on) frames that were cleared and set
        # again in the same sample.
        for sample in dataset.select(update_ids).iter_samples(progress=False):
            labelled += _fill(sample, wanted[sample.filepath])
            sample.save()
    stale = [sample_id for filepath, sample_id in existing.items() if filepath not in wanted]
    if stale:
        dataset.delete_samples(stale)
    dataset.info["reelset_taste"] = {"tagger": description, "video_field": VIDEO_FIELD,
                                     "frame_field": f"frames.{FRAME_FIELD}"}
    dataset.save()
    return DatasetSummary(name, len(dataset), len(new_samples), len(update_ids), len(stale), labelled)
