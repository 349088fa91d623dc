"""YouTube-8M's segment task (v3, the 2019 challenge): rank 5-second segments per class, and score the ranking.

The challenge asked, for each of 1,000 rated classes (:func:`rated_classes`, shipped in ``data/``), for the
segments of the test videos most likely to show it, at most 100,000 per class, best first; the score is the mean
over classes of each list's average precision against the human ratings of the v3 records (``segment_labels``,
``segment_start_times``, ``segment_scores``). This module computes both sides as the starter code does:
``inference.py --segment_labels`` (the submission) and ``segment_eval_inference.py`` (the metric).

How the starter code forms and ranks segments (and so does this module):

- **segments**: each video's frames (at most 300, the reader's ``max_frames``) cut into consecutive 5-frame
  windows starting at 0, 5, 10, ... below the frame count; the last one may be shorter (its padding is masked
  out). A segment's id is ``<video id>:<start>``. Rated starts at or past the frame count are never scored.
- **per segment**: the model's probabilities times a 0/1 mask of the rated classes; the ``top_k`` largest
  (``numpy.argpartition``, 20 by default as the starter's ``--top_k``) are kept, and of those the rated classes
  go on. Scores are written with ``%g`` (6 significant digits) and read back, so nearby scores tie.
- **per class**: a heap of ``(score, segment id)`` capped at ``max_per_class`` (100,000): among tied scores at the
  cap, the larger segment ids (as strings) stay. The list is written best score first.
- **the metric**: each class's list is cut to the segments rated for that class (unrated ones are neither right
  nor wrong), scored ``n/n, (n-1)/n, ...`` by position, and its AP is ``sum(precision@rank) / P`` over the ranks
  holding a positive rating, ``P`` the class's positive ratings in the data (those never listed included). The
  mean is taken over the classes that have a list.

Where this module chooses (documented, and tested against a port of the reference in
``tests/support/segment_reference.py``):

- Within equal scores the reference's list order is its heap's memory layout, an accident of push order; here
  tied segments are listed by segment id, descending (the heap's own comparison). The lists hold the same
  segments with the same scores; the metric differs only where a tie mixes a positive and a negative rating.
- A class with a list but no positive rating makes the reference fail (``positive_counter[label_id]``); here it is
  left out of the mean and counted in :attr:`SegmentEvaluation.classes_without_positives`.
- Ratings: one per (segment, class), the last one given wins (the reference's dict); a score > 0 is positive.
- Lines come in ascending class id (the reference: order of first appearance; the metric does not depend on it).

Memory stays bounded: :class:`SegmentRanking` keeps at most ``max_per_class`` candidates per class (about 21
bytes each with 8-character segment ids) plus up to two million pending ones, cut back whenever they pile up.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelset.core.errors import ReelsetError
from reelset.yt8m.constants import SEGMENT_MAX_PER_CLASS, SEGMENT_TOP_K

SEGMENT_FRAMES = 5  # a rated segment: 5 seconds of 1 fps frames
MAX_FRAMES = 300  # the starter reader's max_frames: later frames are never scored
TOP_K = SEGMENT_TOP_K  # inference.py's --top_k default: classes kept per segment
MAX_PER_CLASS = SEGMENT_MAX_PER_CLASS  # inference.py's --segment_max_pred: segments listed per class
SUBMISSION_HEADER = "Class,Segments"
RATED_CLASSES_CSV = Path(__file__).resolve().parent / "data" / "segment_label_ids.csv"
_BATCH_SEGMENTS = 2048  # segments per forward pass
_COMPACT_ROWS = 1 << 21  # pending candidates that trigger a cut to max_per_class

__all__ = ["MAX_PER_CLASS", "SEGMENT_FRAMES", "SUBMISSION_HEADER", "TOP_K", "SegmentError", "SegmentEvaluation",
           "SegmentRanking", "evaluate_segments", "rank_segments", "rated_classes", "segment_starts"]


class SegmentError(ReelsetError, ValueError):
    """Inputs the segment task cannot use (a class list, a model, records without ratings)."""


def rated_classes(path: str | Path | None = None) -> np.ndarray:
    """The class ids rated in the segment task, ascending int64.

    Args:
        path: a ``segment_label_ids.csv`` (header ``Index``, one id a line); lines that are not an integer are
            skipped, as the starter code does. Default: the shipped copy of the 1,000 classes of 2019.
    """
    path = Path(path) if path is not None else RATED_CLASSES_CSV
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            ids = []
            for row in csv.reader(handle):
                try:
                    ids.append(int(row[0]))
                except (ValueError, IndexError):
                    continue
    except (OSError, UnicodeDecodeError) as error:
        raise SegmentError(f"{path}: cannot read the rated classes ({error})") from None
    if not ids:
        raise SegmentError(f"{path}: no class id in it (expected a header 'Index' and one id per line)")
    return np.unique(np.asarray(ids, np.int64))


def segment_starts(num_frames: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Start frames (= seconds) of a video's segments: 0, 5, 10, ... below ``min(num_frames, max_frames)``."""
    return np.arange(0, min(num_frames, max_frames), SEGMENT_FRAMES, dtype=np.int64)


def _g_format(scores: np.ndarray) -> np.ndarray:
    """Scores as the reference reads them back from its ``%g`` lines (6 significant digits)."""
    if not len(scores):
        return scores.astype(np.float64)
    return np.char.mod("%g", scores.astype(np.float64)).astype(np.float64)


def _rating_keys(starts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return (np.asarray(starts, np.int64) << 32) | np.asarray(labels, np.int64)


@dataclass(frozen=True)
class SegmentEvaluation:
    """The challenge metric and what it was computed on."""

    map: float  # mean AP over the classes with a list and a positive rating (NaN when none)
    classes: int  # classes in that mean
    classes_without_positives: int  # classes with a list but no positive rating (left out)
    num_videos: int
    num_segments: int  # segments scored
    rated: int  # rated (segment, class) pairs
    positives: int  # of those, the positive ones
    max_per_class: int
    top_k: int
    aps: dict  # class id -> AP, for the classes in the mean

    def as_json(self) -> dict:
        return {"map": self.map, "classes": self.classes, "classes_without_positives": self.classes_without_positives,
                "num_videos": self.num_videos, "num_segments": self.num_segments, "rated": self.rated,
                "positives": self.positives, "max_per_class": self.max_per_class, "top_k": self.top_k}

    def lines(self) -> list[str]:
        value = "-" if np.isnan(self.map) else f"{self.map:.4f}"
        lines = [f"videos: {self.num_videos}, segments scored: {self.num_segments}",
                 f"rated segments: {self.rated} ({self.positives} positive)",
                 f"mAP@{self.max_per_class:,} over {self.classes} classes (top {self.top_k} per segment): {value}"]
        if self.classes_without_positives:
            lines.append(f"left out: {self.classes_without_positives} listed classes without a positive rating")
        return lines


class SegmentRanking:
    """Streaming per-class ranking of segments: :meth:`add` one video at a time, then :meth:`submission_lines` or
    :meth:`evaluate`.

    Args:
        class_ids: the class id of each column of the probabilities :meth:`add` receives (a model's outputs).
        rated: the rated class ids (default :func:`rated_classes`); other columns are masked out.
        top_k: classes kept per segment, before the rated filter (capped at the number of columns).
        max_per_class: segments listed per class.
    """

    def __init__(self, class_ids: Sequence[int], rated: Iterable[int] | None = None, *, top_k: int = TOP_K,
                 max_per_class: int = MAX_PER_CLASS):
        if top_k < 1 or max_per_class < 1:
            raise SegmentError(f"top_k ({top_k}) and max_per_class ({max_per_class}) must be at least 1")
        self.class_ids = np.asarray(list(class_ids), np.int64)
        rated_ids = rated_classes() if rated is None else np.unique(np.asarray(list(rated), np.int64))
        self.mask = np.isin(self.class_ids, rated_ids).astype(np.float32)
        if not self.mask.any():
            raise SegmentError("none of the model's classes is a rated class of the segment task")
        self.top_k = min(top_k, len(self.class_ids))
        self.max_per_class = max_per_class
        self.num_videos = self.num_segments = 0
        self._positives: dict[int, int] = {}
        self._rated = self._positive_pairs = 0
        self._pending: list[tuple[np.ndarray, ...]] = []
        self._pending_rows = 0
        self._kept: tuple[np.ndarray, ...] | None = None

    @property
    def rated_pairs(self) -> int:
        """Rated (segment, class) pairs seen so far."""
        return self._rated

    # ------------------------------------------------------------------------------------------------- input

    def add(self, video_id: str, starts: np.ndarray, probabilities: np.ndarray,
            ratings: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
        """One video: its segments' start frames, their probabilities (segments x columns) and optionally its
        ratings ``(segment_labels, segment_start_times, segment_scores)``."""
        starts = np.asarray(starts, np.int64)
        probabilities = np.asarray(probabilities, np.float32)
        if probabilities.shape != (len(starts), len(self.class_ids)):
            raise SegmentError(f"video {video_id}: probabilities of shape {probabilities.shape}, expected "
                               f"{(len(starts), len(self.class_ids))}")
        self.num_videos += 1
        self.num_segments += len(starts)
        rated_keys, rated_positive = self._ratings(ratings)
        if not len(starts):
            return
        masked = probabilities * self.mask  # as the reference: in place on the row, so the scores are masked too
        k = self.top_k
        top = np.argpartition(masked, -k, axis=1)[:, -k:]
        rows = np.repeat(np.arange(len(starts)), k)
        columns = top.ravel()
        keep = self.mask[columns] > 0
        rows, columns = rows[keep], columns[keep]
        scores = _g_format(masked[rows, columns])
        ids = np.char.encode(np.asarray([f"{video_id}:{start}" for start in starts]), "utf-8")[rows]
        rating = np.full(len(rows), -1, np.int8)
        if len(rated_keys):
            keys = _rating_keys(starts[rows], self.class_ids[columns])
            at = np.minimum(np.searchsorted(rated_keys, keys), len(rated_keys) - 1)
            found = rated_keys[at] == keys
            rating[found] = rated_positive[at[found]]
        self._pending.append((columns.astype(np.int32), scores, ids, rating))
        self._pending_rows += len(rows)
        if self._pending_rows >= max(_COMPACT_ROWS, self.max_per_class):
            self._compact()

    def _ratings(self, ratings) -> tuple[np.ndarray, np.ndarray]:
        """The video's rated (start, class) keys, sorted and deduplicated (last wins), and whether each is positive;
        the counts of rated pairs and positives per class are updated."""
        if ratings is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int8)
        labels, starts, scores = (np.asarray(values).ravel() for values in ratings)
        if not len(labels) == len(starts) == len(scores):
            raise SegmentError(f"segment_labels ({len(labels)}), segment_start_times ({len(starts)}) and "
                               f"segment_scores ({len(scores)}) differ in length")
        keys = _rating_keys(starts, labels)[::-1]
        unique, first = np.unique(keys, return_index=True)  # first in the reversed order: the last one given
        positive = (np.asarray(scores, np.float64)[::-1][first] > 0).astype(np.int8)
        self._rated += len(unique)
        self._positive_pairs += int(positive.sum())
        for label, count in zip(*np.unique((unique & 0xFFFFFFFF)[positive > 0], return_counts=True)):
            self._positives[int(label)] = self._positives.get(int(label), 0) + int(count)
        return unique, positive

    def _compact(self) -> None:
        """Keep the top ``max_per_class`` of each column by (score, segment id): what the reference's heap keeps."""
        parts = ([self._kept] if self._kept is not None else []) + self._pending
        self._pending, self._pending_rows = [], 0
        if not parts:
            return
        columns, scores, ids, rating = (np.concatenate(values) for values in zip(*parts))
        order = np.lexsort((ids, scores, columns))
        columns, scores, ids, rating = columns[order], scores[order], ids[order], rating[order]
        ends = np.cumsum(np.bincount(columns, minlength=len(self.class_ids)))
        keep = ends[columns] - 1 - np.arange(len(columns)) < self.max_per_class
        self._kept = (columns[keep], scores[keep], ids[keep], rating[keep])

    def _ranked(self) -> tuple[np.ndarray, ...]:
        """Every kept candidate, column by column (ascending class id), best first within a column."""
        self._compact()
        if self._kept is None:
            return np.zeros(0, np.int32), np.zeros(0), np.zeros(0, "S1"), np.zeros(0, np.int8)
        columns, scores, ids, rating = (values[::-1] for values in self._kept)
        order = np.argsort(self.class_ids[columns], kind="stable")
        return columns[order], scores[order], ids[order], rating[order]

    # ------------------------------------------------------------------------------------------------- output

    def submission_lines(self) -> Iterator[str]:
        """The submission, line by line (no line ends): the header, then ``<class id>,<id>:<start> ...`` for every
        class with a candidate, best first."""
        yield SUBMISSION_HEADER
        columns, _, ids, _ = self._ranked()
        bounds = np.flatnonzero(np.diff(columns)) + 1
        for group in np.split(np.arange(len(columns)), bounds) if len(columns) else []:
            yield f"{self.class_ids[columns[group[0]]]}," + " ".join(np.char.decode(ids[group], "utf-8"))

    def evaluate(self) -> SegmentEvaluation:
        """The challenge metric of the ranking against the ratings given to :meth:`add`."""
        columns, _, _, rating = self._ranked()
        listed = np.unique(self.class_ids[columns])
        rated = rating >= 0
        classes, hits = self.class_ids[columns[rated]], rating[rated].astype(np.int64)
        starts = np.searchsorted(classes, classes, side="left")
        ranks = np.arange(1, len(classes) + 1) - starts
        cumulative = np.cumsum(hits)
        hits_before_group = cumulative[starts] - hits[starts] if len(hits) else cumulative
        precision = (cumulative - hits_before_group) / np.maximum(ranks, 1)
        aps = {}
        without = 0
        for class_id in listed:
            positives = self._positives.get(int(class_id), 0)
            if not positives:
                without += 1
                continue
            lo, hi = np.searchsorted(classes, [class_id, class_id + 1])
            aps[int(class_id)] = float(np.sum(precision[lo:hi] * hits[lo:hi]) / positives)
        mean = float(np.mean(list(aps.values()))) if aps else float("nan")
        return SegmentEvaluation(map=mean, classes=len(aps), classes_without_positives=without,
                                 num_videos=self.num_videos, num_segments=self.num_segments, rated=self._rated,
                                 positives=self._positive_pairs, max_per_class=self.max_per_class, top_k=self.top_k,
                                 aps=aps)


# ---------------------------------------------------------------------------------------------------------------------
# With a trained model


def _segment_model_check(model) -> None:
    if model.classes.target != "labels":
        raise SegmentError("the model predicts verticals; the segment task ranks label classes: train it without "
                           "--verticals")


def _windows(model, record: dict, max_frames: int) -> tuple[np.ndarray, list[dict]]:
    """The record's segment starts and, per segment, a features dict of its (at most 5) frames."""
    parts = {name: np.asarray(record[name]) for name in model.features if name in record}
    if len(parts) != len(model.features):
        missing = ", ".join(name for name in model.features if name not in record)
        raise SegmentError(f"record {record.get('id', '?')}: no frame features '{missing}'")
    count = min(len(values) for values in parts.values())
    from reelset.features.backbones import RECORD_KEY

    extra = {RECORD_KEY: record[RECORD_KEY]} if RECORD_KEY in record else {}
    starts = segment_starts(count, max_frames)
    return starts, [{**extra, **{name: values[start:start + SEGMENT_FRAMES] for name, values in parts.items()}}
                    for start in starts]


def rank_segments(model, paths: Sequence[str | Path], *, top_k: int = TOP_K, max_per_class: int = MAX_PER_CLASS,
                  rated: Iterable[int] | None = None, max_frames: int = MAX_FRAMES,
                  on_record: Callable[[], None] | None = None) -> SegmentRanking:
    """Score every segment of the frame-level records of ``paths`` with ``model`` (a
    :class:`reelset.yt8m.model.TrainedModel`) and rank them per rated class; the records' ratings, where they have
    them, are kept for :meth:`SegmentRanking.evaluate`.

    A frame-level model reads a segment's frames as a (short) video; a video-level model reads their mean.

    Raises:
        SegmentError: a ``--verticals`` model, none of its classes rated, records without frame features.
        ReelsetError: unreadable records, features the model cannot read.
    """
    from reelset.yt8m.records import read_records

    _segment_model_check(model)
    ranking = SegmentRanking(model.class_ids, rated, top_k=top_k, max_per_class=max_per_class)
    pending: list[tuple[str, np.ndarray, tuple | None, int]] = []
    windows: list[dict] = []

    def flush() -> None:
        _, probabilities = model.predict_batch(windows) if windows else (None, np.zeros((0, model.num_classes)))
        offset = 0
        for video_id, starts, ratings, count in pending:
            ranking.add(video_id, starts, probabilities[offset:offset + count], ratings)
            offset += count
        pending.clear()
        windows.clear()

    found = False
    for record in read_records([Path(path) for path in paths], dequantize=True):
        found = True
        starts, record_windows = _windows(model, record, max_frames)
        ratings = None
        if "segment_labels" in record:
            ratings = tuple(np.asarray(record.get(key, ()))
                            for key in ("segment_labels", "segment_start_times", "segment_scores"))
        pending.append((str(record.get("id", record.get("video_id", ""))), starts, ratings, len(record_windows)))
        windows.extend(record_windows)
        if on_record is not None:
            on_record()
        if len(windows) >= _BATCH_SEGMENTS:
            flush()
    flush()
    if not found:
        raise SegmentError(f"no records in {', '.join(map(str, paths))}")
    return ranking


def evaluate_segments(model, paths: Sequence[str | Path], *, top_k: int = TOP_K,
                      max_per_class: int = MAX_PER_CLASS, rated: Iterable[int] | None = None,
                      on_record: Callable[[], None] | None = None) -> SegmentEvaluation:
    """The challenge metric (mAP@``max_per_class`` over the rated classes) of ``model`` on segment-rated v3
    records (``3/frame/validate``).

    Raises:
        SegmentError: as :func:`rank_segments`, or records without any segment rating.
    """
    ranking = rank_segments(model, paths, top_k=top_k, max_per_class=max_per_class, rated=rated,
                            on_record=on_record)
    if not ranking.rated_pairs:
        raise SegmentError(f"no segment ratings in {', '.join(map(str, paths))}: the segment task reads v3 records "
                           f"(3/frame/validate) with segment_labels, segment_start_times and segment_scores")
    return ranking.evaluate()
