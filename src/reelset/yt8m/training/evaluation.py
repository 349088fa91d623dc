"""Evaluating and using a trained model on record files: :func:`evaluate_model` and :func:`predict_records`.

:func:`evaluate_model` streams the records through the model in batches and feeds
:class:`reelset.yt8m.metrics.MetricsAccumulator`, which keeps each video's top 20 only: GAP@20, mAP, Hit@1 and PERR
as the starter code computes them, for sets of any size. A video's truth is what the model predicts: its label ids
among the model's classes, or the verticals of its labels for a ``--verticals`` model.

The per-vertical table groups the model's classes by their vertical (``class_groups``) and gives, per vertical, the
classes seen in the data (with a true label), their true labels, and the mean of their average precisions over the
same top-20 pool as mAP (so the table's classes average to mAP). A ``--verticals`` model has one row per vertical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelset.yt8m.metrics import DEFAULT_TOP_K, MetricsAccumulator
from reelset.yt8m.model import ModelError, TrainedModel
from reelset.yt8m.records import read_records
from reelset.yt8m.training.data import describe

BATCH_RECORDS = {"video": 1024, "frame": 64}


@dataclass(frozen=True)
class GroupRow:
    """One vertical of the per-vertical table."""

    group: str
    classes: int  # the model's classes in this vertical
    classes_seen: int  # of those, the ones with a true label in the data
    positives: int  # true labels of those classes
    map: float  # mean AP of the classes seen (NaN when none)


@dataclass(frozen=True)
class Evaluation:
    metrics: dict  # {"gap", "map", "hit_at_1", "perr", "num_videos"}
    groups: list[GroupRow]  # empty when the classes have no verticals

    def lines(self) -> list[str]:
        m = self.metrics
        lines = [f"videos: {m['num_videos']}",
                 f"GAP@{DEFAULT_TOP_K}: {m['gap']:.4f}", f"mAP: {m['map']:.4f}",
                 f"Hit@1: {m['hit_at_1']:.4f}", f"PERR: {m['perr']:.4f}"]
        if self.groups:
            width = max(len("vertical"), *(len(row.group) for row in self.groups))
            lines.append(f"{'vertical':{width}s}  {'classes':>7s}  {'seen':>5s}  {'labels':>7s}  {'mAP':>6s}")
            for row in self.groups:
                value = "-" if np.isnan(row.map) else f"{row.map:.4f}"
                lines.append(f"{row.group:{width}s}  {row.classes:7d}  {row.classes_seen:5d}  {row.positives:7d}  "
                             f"{value:>6s}")
        return lines


def _batches(model: TrainedModel, paths: Sequence[Path], on_record) -> Iterator[tuple[list, list[list[int]]]]:
    """(records, their truth as output lists), batch by batch; records checked and their labels checked."""
    records, truth = [], []
    size = BATCH_RECORDS[model.level]
    found = False
    # A video-level model needs only the means (frames stay bytes, averaged once dequantized, like in training).
    for path, index, record in read_records(paths, dequantize=model.level == "frame", positions=True):
        found = True
        where = describe(path, index, record)
        model.space.check_record(record, where)
        truth.append(model.outputs_of(record["labels"], where))
        records.append(record)
        if on_record is not None:
            on_record()
        if len(records) >= size:
            yield records, truth
            records, truth = [], []
    if records:
        yield records, truth
    if not found:
        raise ModelError(f"no records in {', '.join(map(str, paths))}: nothing to evaluate")


def _class_average_precisions(classes: np.ndarray, videos: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                              positives: np.ndarray) -> np.ndarray:
    """AP of each class over the pooled top-k entries, ties kept in video order: the default of
    :mod:`reelset.yt8m.metrics` (its mAP is the mean of these over classes with a true label)."""
    order = np.lexsort((videos, classes))  # class by class, videos ascending: metrics' push order
    classes, scores, labels = classes[order], scores[order], labels[order]
    ranked = np.lexsort((-scores, classes))  # stable: tied entries stay in push order
    classes, labels = classes[ranked], labels[ranked]
    starts = np.searchsorted(classes, np.arange(len(positives) + 1))
    ranks = np.arange(1, len(classes) + 1) - starts[classes]
    hits_before = np.concatenate(([0], np.cumsum(labels)))
    hits = np.flatnonzero(labels)
    precision = (hits_before[hits + 1] - hits_before[starts[classes[hits]]]) / ranks[hits]
    with np.errstate(divide="ignore"):
        delta_recall = 1.0 / positives.astype(np.float64)
    terms = precision * delta_recall[classes[hits]]
    aps = np.bincount(classes[hits], weights=terms, minlength=len(positives)).astype(np.float64)
    aps[positives == 0] = np.nan
    return aps


def evaluate_model(model: TrainedModel, paths: Sequence[Path], *,
                   on_record: Callable[[], None] | None = None) -> Evaluation:
    """GAP@20, mAP, Hit@1, PERR of ``model`` on the records of ``paths``, and the per-vertical table.

    Raises:
        ReelsetError: no records, records of another backbone or without the model's features, label ids out of
            the model's vocabulary range.
    """
    paths = [Path(path) for path in paths]
    accumulator = MetricsAccumulator(model.num_classes)
    pool_classes, pool_videos, pool_scores, pool_labels = [], [], [], []
    positives = np.zeros(model.num_classes, np.int64)
    seen = 0
    for records, truth in _batches(model, paths, on_record):
        _, probabilities = model.predict_batch(records)
        dense = np.zeros(probabilities.shape, bool)
        for row, outputs in enumerate(truth):
            dense[row, outputs] = True
        accumulator.add(probabilities, dense)
        k = min(DEFAULT_TOP_K, model.num_classes)
        top = np.argpartition(probabilities, -k, axis=1)[:, -k:]  # the entries metrics keeps
        rows = np.repeat(np.arange(len(top)), k)
        pool_classes.append(top.ravel())
        pool_videos.append(rows + seen)
        pool_scores.append(probabilities[rows, top.ravel()])
        pool_labels.append(dense[rows, top.ravel()])
        positives += dense.sum(axis=0)
        seen += len(records)
    result = {key: int(value) if key == "num_videos" else float(value) for key, value in accumulator.result().items()}
    return Evaluation(result, _group_rows(model, np.concatenate(pool_classes), np.concatenate(pool_videos),
                                          np.concatenate(pool_scores), np.concatenate(pool_labels), positives))


def _group_rows(model: TrainedModel, classes, videos, scores, labels, positives) -> list[GroupRow]:
    if not any(model.class_groups):
        return []
    aps = _class_average_precisions(classes, videos, scores, labels, positives)
    groups = np.array([group or "(none)" for group in model.class_groups])
    rows = []
    for group in sorted(set(groups.tolist())):
        members = groups == group
        seen = members & (positives > 0)
        rows.append(GroupRow(group, int(members.sum()), int(seen.sum()), int(positives[members].sum()),
                             float(np.mean(aps[seen])) if seen.any() else float("nan")))
    return rows


@dataclass(frozen=True)
class Prediction:
    id: str
    labels: list[int]  # the record's label ids
    top: list[tuple[int, float]]  # (output index, probability), best first

    def line(self, model: TrainedModel) -> str:
        shown = ", ".join(f"{model.class_names[index]} {score:.3f}" for index, score in self.top)
        return f"{self.id}: {shown}"

    def as_json(self, model: TrainedModel) -> dict:
        return {"id": self.id, "labels": self.labels,
                "top": [{"class": model.class_ids[index], "name": model.class_names[index],
                         "vertical": model.class_groups[index], "score": round(float(score), 6)}
                        for index, score in self.top]}


def predict_records(model: TrainedModel, paths: Sequence[Path], *, top_k: int = 5) -> Iterator[Prediction]:
    """Each record's ``top_k`` outputs, in file order, streamed batch by batch.

    Raises:
        ReelsetError: no records; records of another backbone or without the model's features.
    """
    paths = [Path(path) for path in paths]
    found = False
    batch: list = []
    size = BATCH_RECORDS[model.level]

    def flush() -> Iterator[Prediction]:
        ids, probabilities = model.predict_batch(batch)
        k = min(top_k, model.num_classes)
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        for row, record in enumerate(batch):
            yield Prediction(ids[row], [int(label) for label in record["labels"]],
                             [(int(index), float(probabilities[row, index])) for index in order[row]])
        batch.clear()

    for path, index, record in read_records(paths, dequantize=model.level == "frame", positions=True):
        found = True
        model.space.check_record(record, describe(path, index, record))
        batch.append(record)
        if len(batch) >= size:
            yield from flush()
    if batch:
        yield from flush()
    if not found:
        raise ModelError(f"no records in {', '.join(map(str, paths))}: nothing to predict")
