"""From records to what a network sees: the class set, the feature space, in-memory video sets and batches.

One set of rules, used alike by training, evaluation and prediction (:mod:`reelset.yt8m.model`):

- **features**: a video-level model reads ``mean_<name>`` when the record has it (video-level records; our
  extractor's records too), else the mean of the ``<name>`` frames; a frame-level model reads the ``<name>``
  frames, truncated to ``max_frames`` (the first ones, like the starter reader). Bytes are dequantized with the
  starter code's formula (:func:`reelset.yt8m.records.dequantize`), floats are used as they are. Features are
  concatenated in the model's order (``rgb`` then ``audio``).
- **feature choice**: ``rgb`` and ``audio`` when every record has audio, else ``rgb`` alone. A record whose
  ``audio_source`` context says ``none`` or ``zeros`` (our extractor's: no audio, or the original extractor's 128
  zero bytes a frame) has no audio: zeros carry nothing, and a model that leaned on YouTube-8M's audio would be
  wrong on them.
- **feature space**: the backbone that made the features (:func:`~reelset.features.backbones.backbone_of_record`)
  and each feature's width; records of another space are refused, never mixed.
- **classes**: every label id of the vocabulary (3,862 without one: v2), a chosen few (``--classes``), or the
  vocabulary's verticals (``--verticals``: a video's targets are the verticals of its labels). Label ids out of
  the vocabulary's range are refused.

Video sets live in memory: video level as one (videos, width) float32 array, frame level as the frames of all
videos one after the other (uint8 as stored, a quarter of the floats' size) with offsets, dequantized batch by batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from crc32c import crc32c

from reelset.core.errors import ReelsetError
from reelset.features.backbones import backbone_of_record
from reelset.yt8m.records import dequantize, read_records
from reelset.yt8m.vocabulary import V1_CLASSES, V2_CLASSES, Vocabulary

AUTO_FEATURES = ("rgb", "audio")  # what the default feature choice considers, in this order
NO_AUDIO_SOURCES = (b"none", b"zeros", "none", "zeros")  # our extractor's audio_source values that mean "no audio"
DEFAULT_MAX_FRAMES = 300


class DataError(ReelsetError):
    """Records that cannot be trained on or predicted from as asked (mixed spaces, missing features, bad ids)."""


# ---------------------------------------------------------------------------------------------------------------------
# Classes


@dataclass(frozen=True)
class ClassSet:
    """What a model predicts, one entry per output.

    Attributes:
        target: ``labels`` (outputs are label ids) or ``verticals`` (outputs are the vocabulary's verticals).
        ids: per output, its label id (``labels``) or its index (``verticals``: 0..n-1).
        names: per output, the vocabulary's name (``str(id)`` without a vocabulary; the vertical for verticals).
        groups: per output, its vertical ("" when unknown; the vertical itself for verticals).
        label_space: label ids ``0..label_space-1`` are valid (the vocabulary's size; 3,862 without one).
        label_outputs: ``verticals`` only: per label id, the outputs (verticals) it stands for.
    """

    target: str
    ids: tuple[int, ...]
    names: tuple[str, ...]
    groups: tuple[str, ...]
    label_space: int
    label_outputs: tuple[tuple[int, ...], ...] | None = None
    _positions: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_positions", {label_id: index for index, label_id in enumerate(self.ids)})

    def __len__(self) -> int:
        return len(self.ids)

    def outputs_of(self, labels: Iterable[int]) -> list[int]:
        """The outputs that a video with these label ids should switch on (sorted; labels outside the set dropped).
        The ids must have been checked (:meth:`check_labels`)."""
        if self.target == "verticals":
            return sorted({output for label in labels for output in self.label_outputs[int(label)]})
        return sorted({self._positions[int(label)] for label in labels if int(label) in self._positions})

    def check_labels(self, labels: np.ndarray, where: str) -> None:
        """Refuse label ids outside ``0..label_space-1`` (naming ``where``: file, record, id)."""
        bad = labels[(labels < 0) | (labels >= self.label_space)]
        if bad.size:
            label_id = int(bad[0])
            hint = ""
            if self.label_space == V2_CLASSES and V2_CLASSES <= label_id < V1_CLASSES:
                hint = f"; ids up to {V1_CLASSES - 1} are v1's (2017): is this v1 data?"
            raise DataError(f"{where}: label id {label_id} is out of range: the vocabulary has {self.label_space} "
                            f"classes (ids 0..{self.label_space - 1}){hint}")

    def to_json(self) -> dict:
        return {"target": self.target, "ids": list(self.ids), "names": list(self.names), "groups": list(self.groups),
                "label_space": self.label_space,
                "label_outputs": None if self.label_outputs is None else [list(o) for o in self.label_outputs]}

    @classmethod
    def from_json(cls, data: Mapping) -> ClassSet:
        outputs = data.get("label_outputs")
        return cls(target=data["target"], ids=tuple(data["ids"]), names=tuple(data["names"]),
                   groups=tuple(data["groups"]), label_space=int(data["label_space"]),
                   label_outputs=None if outputs is None else tuple(tuple(o) for o in outputs))


def resolve_class_set(vocabulary: Vocabulary | None, *, classes: str | Sequence[str | int] | None = None,
                      verticals: bool = False) -> ClassSet:
    """The outputs of a model: ``classes`` (ids or names, comma separated, or a list), the verticals, or every class.

    Raises:
        DataError: names or verticals without a vocabulary, an unknown name, an id out of range, both at once.
    """
    label_space = vocabulary.size if vocabulary is not None else V2_CLASSES
    if verticals:
        if classes:
            raise DataError("--classes and --verticals exclude each other: the outputs are either classes or "
                            "verticals")
        if vocabulary is None:
            raise DataError("--verticals needs the vocabulary (it says which verticals each class belongs to): pass "
                            "--vocabulary vocabulary.csv, or run `reelset yt8m vocab` once to cache it")
        names = tuple(vocabulary.verticals)
        position = {name: index for index, name in enumerate(names)}
        outputs = tuple(tuple(sorted({position[v] for v in entry.verticals})) for entry in vocabulary.entries)
        return ClassSet("verticals", tuple(range(len(names))), names, names, label_space, outputs)
    if classes is None or (isinstance(classes, str) and not classes.strip()):
        ids = list(range(label_space))
    else:
        tokens = [token.strip() for token in classes.split(",")] if isinstance(classes, str) else list(classes)
        ids = []
        for token in tokens:
            if isinstance(token, (int, np.integer)) or str(token).isdigit():
                label_id = int(token)
                if not 0 <= label_id < label_space:
                    raise DataError(f"--classes {token}: out of range, the vocabulary has {label_space} classes "
                                    f"(ids 0..{label_space - 1})")
            elif not token:
                raise DataError("--classes: an empty entry (ids or names, separated by commas)")
            elif vocabulary is None:
                raise DataError(f"--classes {token!r}: class names need the vocabulary: pass --vocabulary "
                                f"vocabulary.csv, run `reelset yt8m vocab` once to cache it, or give label ids")
            else:
                label_id = vocabulary.index_of(str(token))
            if label_id in ids:
                raise DataError(f"--classes: class {label_id} is given twice")
            ids.append(label_id)
    if vocabulary is None:
        names, groups = tuple(str(i) for i in ids), ("",) * len(ids)
    else:
        names = tuple(vocabulary.display_name(i) for i in ids)
        groups = tuple(vocabulary.vertical(i) for i in ids)
    return ClassSet("labels", tuple(ids), names, groups, label_space)


# ---------------------------------------------------------------------------------------------------------------------
# Features of one record


def has_feature(record: Mapping, name: str, level: str) -> bool:
    """Whether ``record`` has feature ``name`` as a model of ``level`` reads it."""
    frames = record.get(name)
    is_frames = isinstance(frames, np.ndarray) and frames.ndim == 2
    if level == "frame":
        return is_frames
    return f"mean_{name}" in record or (is_frames and len(frames) > 0)


def has_audio(record: Mapping, level: str) -> bool:
    return has_feature(record, "audio", level) and record.get("audio_source") not in NO_AUDIO_SOURCES


def feature_width(record: Mapping, name: str, level: str) -> int:
    if level == "video" and f"mean_{name}" in record:
        return int(np.asarray(record[f"mean_{name}"]).shape[-1])
    return int(record[name].shape[1])


def _as_floats(values: np.ndarray) -> np.ndarray:
    return dequantize(values) if values.dtype == np.uint8 else np.asarray(values, dtype=np.float32)


def video_vector(record: Mapping, name: str) -> np.ndarray:
    """A video-level model's input for ``name``: ``mean_<name>``, else the mean of the (dequantized) frames."""
    mean = record.get(f"mean_{name}")
    if mean is not None:  # a copy: read_records' lists are views that would keep the whole record alive
        return np.array(mean, dtype=np.float32).reshape(-1)
    return _as_floats(record[name]).mean(axis=0, dtype=np.float32)


def frame_matrix(record: Mapping, name: str, max_frames: int) -> np.ndarray:
    """A frame-level model's input for ``name``: the first ``max_frames`` frames, as stored (uint8 or floats).
    Zero padding (``read_records(max_frames=...)``) is removed: ``num_frames`` says how many are real."""
    frames = record[name]
    if "num_frames" in record:
        frames = frames[:int(record["num_frames"])]
    return frames[:max_frames]


@dataclass(frozen=True)
class FeatureSpace:
    """What a model reads: level, backbone, features in order and their widths."""

    level: str
    backbone: str
    features: tuple[str, ...]
    widths: dict[str, int]
    max_frames: int = DEFAULT_MAX_FRAMES

    @property
    def width(self) -> int:
        return sum(self.widths[name] for name in self.features)

    def record_keys(self) -> dict[str, str]:
        """Which record key each feature is read from (for people: written in the model directory)."""
        if self.level == "frame":
            return {name: name for name in self.features}
        return {name: f"mean_{name} (else the mean of the {name} frames)" for name in self.features}

    def check_record(self, record: Mapping, where: str) -> None:
        """Refuse a record of another feature space or without one of the features."""
        backbone = backbone_of_record(record)
        if backbone != self.backbone:
            raise DataError(f"{where}: features from the {backbone} backbone, but the model reads {self.backbone} "
                            f"features: use records extracted with --backbone {self.backbone}")
        for name in self.features:
            if not has_feature(record, name, self.level):
                what = f"'{name}' frames" if self.level == "frame" else f"'mean_{name}' or '{name}' frames"
                hint = " (video-level records have no frames: use a video-level model)" \
                    if self.level == "frame" and f"mean_{name}" in record else ""
                raise DataError(f"{where}: no {what}, which the model reads (features: "
                                f"{', '.join(self.features)}){hint}")
            width = feature_width(record, name, self.level)
            if width != self.widths[name]:
                raise DataError(f"{where}: '{name}' features are {width} wide, the model's are "
                                f"{self.widths[name]}")

    def video_input(self, record: Mapping) -> np.ndarray:
        """(width,) float32: the video-level input of a (checked) record."""
        return np.concatenate([video_vector(record, name) for name in self.features])


def pad_frames(videos: Sequence[Sequence[np.ndarray]], width: int) -> tuple[np.ndarray, np.ndarray]:
    """A frame-level batch from each video's feature matrices (same frame count within a video, uint8 or floats):
    ``x`` (videos, longest, width) float32, features side by side and zero-padded, and ``mask`` 1.0 on real frames."""
    length = max([1, *(len(parts[0]) for parts in videos)])
    x = np.zeros((len(videos), length, width), np.float32)
    mask = np.zeros((len(videos), length), np.float32)
    for row, parts in enumerate(videos):
        column = 0
        for frames in parts:
            x[row, :len(frames), column:column + frames.shape[1]] = _as_floats(frames)
            column += frames.shape[1]
        mask[row, :len(parts[0])] = 1.0
    return x, mask


def describe(where_path, index: int, record: Mapping) -> str:
    return f"{where_path} record {index} (id {record.get('id', '?')})"


# ---------------------------------------------------------------------------------------------------------------------
# Video sets


@dataclass
class VideoSet:
    """Videos in memory: ids, targets (outputs switched on, as CSR), and features.

    Video level: ``vectors`` (videos, width) float32. Frame level: ``frames[name]`` (all frames, width) as stored,
    video ``i``'s frames at ``frame_offsets[i]:frame_offsets[i + 1]``.
    """

    space: FeatureSpace
    ids: list[str]
    target_offsets: np.ndarray
    target_values: np.ndarray
    vectors: np.ndarray | None = None
    frames: dict[str, np.ndarray] | None = None
    frame_offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def positives(self, num_outputs: int) -> np.ndarray:
        """True targets per output."""
        return np.bincount(self.target_values, minlength=num_outputs)

    def targets(self, indices: np.ndarray, num_outputs: int) -> np.ndarray:
        """(len(indices), outputs) float32 0/1."""
        starts = self.target_offsets[indices]
        counts = self.target_offsets[indices + 1] - starts
        rows = np.repeat(np.arange(len(indices)), counts)
        # Entry j of row r sits at starts[r] + j: the row's start, plus the entry's rank within its row.
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        dense = np.zeros((len(indices), num_outputs), np.float32)
        dense[rows, self.target_values[np.repeat(starts, counts) + within]] = 1.0
        return dense

    def inputs(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """A batch: video level (x, None); frame level (x (batch, frames, width) zero-padded, mask)."""
        if self.space.level == "video":
            return self.vectors[indices], None
        starts, stops = self.frame_offsets[indices].tolist(), self.frame_offsets[indices + 1].tolist()
        return pad_frames([[self.frames[name][start:stop] for name in self.space.features]
                           for start, stop in zip(starts, stops)], self.space.width)

    def mean_vectors(self) -> np.ndarray:
        """(videos, width) float32: each video's vector (video level) or its mean frame, features side by side."""
        if self.space.level == "video":
            return self.vectors
        out = np.zeros((len(self), self.space.width), np.float32)
        column = 0
        for name in self.space.features:
            width = self.space.widths[name]
            for index in range(len(self)):
                frames = self.frames[name][self.frame_offsets[index]:self.frame_offsets[index + 1]]
                if len(frames):
                    out[index, column:column + width] = _as_floats(frames).mean(axis=0, dtype=np.float32)
            column += width
        return out

    def subset(self, indices: np.ndarray) -> VideoSet:
        indices = np.asarray(indices, dtype=np.int64)
        counts = self.target_offsets[indices + 1] - self.target_offsets[indices]
        values = np.concatenate([self.target_values[self.target_offsets[i]:self.target_offsets[i + 1]]
                                 for i in indices]) if len(indices) else np.empty(0, np.int64)
        subset = VideoSet(self.space, [self.ids[i] for i in indices], _offsets(counts), values.astype(np.int64))
        if self.space.level == "video":
            subset.vectors = self.vectors[indices]
        else:
            lengths = self.frame_offsets[indices + 1] - self.frame_offsets[indices]
            subset.frame_offsets = _offsets(lengths)
            subset.frames = {name: _take_ranges(frames, self.frame_offsets, indices)
                             for name, frames in self.frames.items()}
        return subset

    def fingerprint(self, digest) -> None:
        """Feed ids, targets and a CRC of the features to ``digest`` (a hashlib object): a resumed run checks it."""
        digest.update("\n".join(self.ids).encode("utf-8", "surrogateescape"))
        digest.update(self.target_offsets.tobytes())
        digest.update(self.target_values.tobytes())
        arrays = [self.vectors] if self.vectors is not None else [self.frame_offsets, *self.frames.values()]
        for array in arrays:
            digest.update(crc32c(np.ascontiguousarray(array)).to_bytes(4, "little"))


def _offsets(counts) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(np.asarray(counts, dtype=np.int64)))).astype(np.int64)


def _take_ranges(array: np.ndarray, offsets: np.ndarray, indices: np.ndarray) -> np.ndarray:
    if not len(indices):
        return array[:0].copy()
    return np.concatenate([array[offsets[i]:offsets[i + 1]] for i in indices])


def concatenate(first: VideoSet, second: VideoSet) -> VideoSet:
    """Two sets of the same feature space, one after the other."""
    joined = VideoSet(first.space, first.ids + second.ids,
                      np.concatenate((first.target_offsets, second.target_offsets[1:] + first.target_offsets[-1])),
                      np.concatenate((first.target_values, second.target_values)))
    if first.space.level == "video":
        joined.vectors = np.concatenate((first.vectors, second.vectors))
    else:
        joined.frame_offsets = np.concatenate((first.frame_offsets, second.frame_offsets[1:] + first.frame_offsets[-1]))
        joined.frames = {name: np.concatenate((first.frames[name], second.frames[name])) for name in first.frames}
    return joined


@dataclass
class _Collected:
    ids: list[str] = field(default_factory=list)
    target_counts: list[int] = field(default_factory=list)
    target_values: list[int] = field(default_factory=list)
    vectors: dict[str, list[np.ndarray]] = field(default_factory=dict)
    frames: dict[str, list[np.ndarray]] = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list)
    all_audio: bool = True


def load_videos(paths: Sequence[Path], *, level: str, class_set: ClassSet, features: Sequence[str] | None = None,
                space: FeatureSpace | None = None, max_frames: int = DEFAULT_MAX_FRAMES,
                on_record=None) -> tuple[VideoSet, str]:
    """Read every record of ``paths`` into a :class:`VideoSet`; return it and why these features were chosen.

    Args:
        features: the features to read (``("rgb",)``); None: ``rgb`` plus ``audio`` when every record has audio.
        space: the feature space the records must be in (a validation set must match its training set); None: the
            first record's.
        on_record: called after each record (progress).

    Raises:
        DataError: no records, records of different backbones or widths, a missing feature, a label id out of range.
        CorruptRecordError: a damaged record.
    """
    if level not in ("video", "frame"):
        raise DataError(f"--level {level!r}: expected video or frame")
    requested = tuple(space.features if space else features or ())
    candidates = requested or AUTO_FEATURES
    collected = _Collected()
    backbone = space.backbone if space else None
    widths: dict[str, int] = dict(space.widths) if space else {}
    first_where = ""
    # Bytes as stored: frame features are dequantized batch by batch (a quarter of the memory of floats).
    for path, index, record in read_records(paths, dequantize=False, positions=True):
        where = describe(path, index, record)
        record_backbone = backbone_of_record(record)
        if backbone is None:
            backbone, first_where = record_backbone, where
        elif record_backbone != backbone:
            origin = f"the model reads {backbone} features" if space else f"{first_where} is {backbone}"
            raise DataError(f"{where}: features from the {record_backbone} backbone, but {origin}: train on one "
                            f"feature space at a time")
        labels = np.asarray(record["labels"], dtype=np.int64)
        class_set.check_labels(labels, where)
        for name in candidates:
            present = has_feature(record, name, level)
            if name == "audio" and not requested:
                if not has_audio(record, level):
                    collected.all_audio = False
                    continue
            elif not present:
                if level == "frame" and name == candidates[0] and f"mean_{name}" in record:
                    raise DataError(f"{where}: a video-level record (no frames): a frame-level model needs "
                                    f"frame-level records; use --level video")
                raise DataError(f"{where}: no '{name}' features, which --features asks for" if requested and not space
                                else f"{where}: no '{name}' features, which the model reads")
            width = feature_width(record, name, level)
            if widths.setdefault(name, width) != width:
                raise DataError(f"{where}: '{name}' features are {width} wide, earlier ones {widths[name]}")
            if level == "video":
                collected.vectors.setdefault(name, []).append(video_vector(record, name))
            else:
                frames = frame_matrix(record, name, max_frames)
                collected.frames.setdefault(name, []).append(np.array(frames))
                if name == candidates[0]:
                    collected.lengths.append(len(frames))
        outputs = class_set.outputs_of(labels)
        collected.ids.append(record["id"])
        collected.target_counts.append(len(outputs))
        collected.target_values.extend(outputs)
        if on_record is not None:
            on_record()
    if not collected.ids:
        raise DataError(f"no records in {', '.join(map(str, paths))}: nothing to train on")
    if requested:
        chosen, reason = requested, "as asked (--features)" if not space else "the model's"
    elif collected.all_audio and "audio" in widths:
        chosen, reason = ("rgb", "audio"), "rgb and audio: every record has audio"
    else:
        chosen, reason = ("rgb",), "rgb only: not every record has audio (audio_source none/zeros, or no audio)"
    for name in chosen:
        if name not in widths:
            raise DataError(f"no record has '{name}' features")
    space = space or FeatureSpace(level, backbone, chosen, {name: widths[name] for name in chosen}, max_frames)
    videos = VideoSet(space, collected.ids, _offsets(collected.target_counts),
                      np.asarray(collected.target_values, dtype=np.int64))
    if level == "video":
        videos.vectors = np.concatenate([np.stack(collected.vectors[name]) for name in chosen], axis=1)
    else:
        videos.frame_offsets = _offsets(collected.lengths)
        kinds = {frames.dtype for name in chosen for frames in collected.frames[name]}
        dtype = np.uint8 if kinds == {np.dtype(np.uint8)} else np.float32
        videos.frames = {name: np.concatenate([frames if frames.dtype == dtype else _as_floats(frames)
                                               for frames in collected.frames[name]])
                         for name in chosen}
    return videos, reason


# ---------------------------------------------------------------------------------------------------------------------
# Segment sets (the v3 segment task: ``reelset yt8m train --segments``)

SEGMENT_FRAMES = 5  # a rated segment: 5 seconds of 1 fps frames (as reelset.yt8m.segments)


@dataclass
class SegmentSet:
    """5-frame windows in memory, each with the ratings known for it.

    A training set holds the window at each rated start (below the frame count and ``max_frames``) of its videos;
    a held-out set holds every segment of its videos (the ranking scores them all) and each video's ratings as
    recorded (:meth:`reelset.yt8m.segments.SegmentRanking.add` reads them).

    Attributes:
        frames: by feature, (windows, 5, width) as stored (uint8 or float32), zero-padded after ``lengths``.
        lengths: real frames per window (the last segment of a video may be shorter).
        videos, starts: per window, its video (index into ``video_ids``) and start frame; a video's windows are
            consecutive, in start order.
        rating_offsets, rating_outputs, rating_scores: window ``i``'s rated outputs and their 0/1 scores at
            ``rating_offsets[i]:rating_offsets[i + 1]`` (one per output: the last rating given wins).
        ratings: held-out sets: per video, ``(segment_labels, segment_start_times, segment_scores)``.
    """

    space: FeatureSpace
    video_ids: list[str]
    frames: dict[str, np.ndarray]
    lengths: np.ndarray
    videos: np.ndarray
    starts: np.ndarray
    rating_offsets: np.ndarray
    rating_outputs: np.ndarray
    rating_scores: np.ndarray
    ratings: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    def inputs(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A batch of windows as a frame-level network reads it: (x, mask), as :func:`pad_frames`."""
        return pad_frames([[self.frames[name][i, :self.lengths[i]] for name in self.space.features]
                           for i in indices], self.space.width)

    def targets(self, indices: np.ndarray, num_outputs: int) -> tuple[np.ndarray, np.ndarray]:
        """(targets, mask), both (len(indices), outputs) float32: the rated scores, and 1.0 on the rated outputs
        (only those are known: a rating says nothing about the window's other classes)."""
        targets = np.zeros((len(indices), num_outputs), np.float32)
        mask = np.zeros_like(targets)
        for row, window in enumerate(indices):
            span = slice(self.rating_offsets[window], self.rating_offsets[window + 1])
            targets[row, self.rating_outputs[span]] = self.rating_scores[span]
            mask[row, self.rating_outputs[span]] = 1.0
        return targets, mask

    @property
    def rated_pairs(self) -> int:
        return len(self.rating_outputs)

    def fingerprint(self, digest) -> None:
        """Feed ids, windows, ratings and a CRC of the frames to ``digest`` (a resumed run checks it)."""
        digest.update("\n".join(self.video_ids).encode("utf-8", "surrogateescape"))
        for array in (self.lengths, self.videos, self.starts, self.rating_offsets, self.rating_outputs,
                      self.rating_scores):
            digest.update(np.ascontiguousarray(array).tobytes())
        for name in self.space.features:
            digest.update(crc32c(np.ascontiguousarray(self.frames[name])).to_bytes(4, "little"))


class _SegmentCollector:
    def __init__(self, space: FeatureSpace, keep_ratings: bool):
        self.space, self.keep_ratings = space, keep_ratings
        self.video_ids: list[str] = []
        self.windows: dict[str, list[np.ndarray]] = {name: [] for name in space.features}
        self.lengths: list[int] = []
        self.videos: list[int] = []
        self.starts: list[int] = []
        self.rating_counts: list[int] = []
        self.rating_outputs: list[int] = []
        self.rating_scores: list[float] = []
        self.ratings: list[tuple] = []

    def add(self, video_id: str, parts: list[np.ndarray], starts: Iterable[int], rated: dict, ratings: tuple) -> None:
        video = len(self.video_ids)
        self.video_ids.append(video_id)
        for start in starts:
            for name, part in zip(self.space.features, parts):
                window = np.zeros((SEGMENT_FRAMES, part.shape[1]), part.dtype)
                real = part[start:start + SEGMENT_FRAMES]
                window[:len(real)] = real
                self.windows[name].append(window)
            self.lengths.append(min(SEGMENT_FRAMES, len(parts[0]) - int(start)))
            self.videos.append(video)
            self.starts.append(int(start))
            given = sorted(rated.get(int(start), {}).items())
            self.rating_counts.append(len(given))
            self.rating_outputs.extend(output for output, _ in given)
            self.rating_scores.extend(score for _, score in given)
        if self.keep_ratings:
            self.ratings.append(ratings)

    def build(self) -> SegmentSet:
        frames = {}
        for name in self.space.features:
            width = self.space.widths[name]
            stacked = self.windows[name]
            kinds = {window.dtype for window in stacked}
            dtype = np.uint8 if kinds == {np.dtype(np.uint8)} else np.float32
            frames[name] = (np.stack([w if w.dtype == dtype else _as_floats(w) for w in stacked]) if stacked
                            else np.zeros((0, SEGMENT_FRAMES, width), np.uint8))
        return SegmentSet(self.space, self.video_ids, frames, np.asarray(self.lengths, np.int64),
                          np.asarray(self.videos, np.int64), np.asarray(self.starts, np.int64),
                          _offsets(self.rating_counts), np.asarray(self.rating_outputs, np.int64),
                          np.asarray(self.rating_scores, np.float32), self.ratings if self.keep_ratings else None)


def load_segments(paths: Sequence[Path], *, space: FeatureSpace, class_set: ClassSet, rated: Iterable[int],
                  held_out=None, on_record=None) -> tuple[SegmentSet, SegmentSet, int]:
    """Read the segment-rated (v3) records of ``paths`` into a training and a held-out :class:`SegmentSet`.

    Args:
        space: the frame-level feature space of the model: records of another are refused. Windows come from the
            first 300 frames (the task's), whatever the model's ``max_frames``.
        class_set: the model's outputs; a rating of a class in ``rated`` becomes a target of that output.
        rated: the class ids of the task; ratings of other classes are left out (the metric never reads them).
        held_out: ``held_out(video_id)`` True puts the video in the held-out set (every segment, its ratings);
            None: none held out.
        on_record: called after each record (progress).

    Returns:
        (training set, held-out set, records read).

    Raises:
        DataError: no records, records of another feature space or without frames, no rating in any record.
        CorruptRecordError: a damaged record.
    """
    from reelset.yt8m.segments import MAX_FRAMES, segment_starts

    rated_ids = {int(label) for label in rated}
    training, held = _SegmentCollector(space, False), _SegmentCollector(space, True)
    count = rated_records = 0
    for path, index, record in read_records(paths, dequantize=False, positions=True):
        where = describe(path, index, record)
        space.check_record(record, where)
        count += 1
        # The task's frames, as evaluate_segments reads them: the first 300, whatever the model's max_frames.
        parts = [frame_matrix(record, name, MAX_FRAMES) for name in space.features]
        frames = min(len(part) for part in parts)
        labels, starts, scores = (np.asarray(record.get(key, ()), dtype).ravel() for key, dtype in (
            ("segment_labels", np.int64), ("segment_start_times", np.int64), ("segment_scores", np.float64)))
        if not len(labels) == len(starts) == len(scores):
            raise DataError(f"{where}: segment_labels ({len(labels)}), segment_start_times ({len(starts)}) and "
                            f"segment_scores ({len(scores)}) differ in length")
        rated_records += bool(len(labels))
        by_start: dict[int, dict[int, float]] = {}
        for label, start, score in zip(labels.tolist(), starts.tolist(), scores.tolist()):
            if label in rated_ids and 0 <= start < frames:  # a start at or past the frame count has no frames
                output = class_set.outputs_of([label])
                if output:
                    by_start.setdefault(start, {})[output[0]] = 1.0 if score > 0 else 0.0  # the last one wins
        video_id = str(record.get("id", record.get("video_id", "")))
        if held_out is not None and held_out(video_id):
            held.add(video_id, parts, segment_starts(frames), by_start, (labels, starts, scores))
        else:
            training.add(video_id, parts, sorted(by_start), by_start, ())
        if on_record is not None:
            on_record()
    if not count:
        raise DataError(f"no records in {', '.join(map(str, paths))}: nothing to train on")
    if not rated_records:
        raise DataError(f"no segment ratings in {', '.join(map(str, paths))}: --segments reads v3 records "
                        f"(3/frame/validate) with segment_labels, segment_start_times and segment_scores")
    return training.build(), held.build(), count
