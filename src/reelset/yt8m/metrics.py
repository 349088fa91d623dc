"""YouTube-8M metrics as the starter code's ``eval_util.py`` computes them: GAP@k, mAP, Hit@1 and PERR.

Inputs are a score matrix (videos x classes) and the ground truth: a matrix of the same shape (bool or 0/1), or one
iterable of class ids per video. :func:`evaluate` takes the whole set at once, like the reference's ``calculate_gap``
and ``calculate_*`` functions; :class:`MetricsAccumulator` takes it batch by batch, like its ``EvaluationMetrics``,
keeping only each video's top k.

The definitions, as the reference computes them:

- **top k**: per video, ``numpy.argpartition(scores, -k)[-k:]`` (``k`` capped at the number of classes). Which of
  several tied scores at the k-th place is kept is argpartition's choice; this module makes the same call, so it keeps
  the same entries.
- **GAP@k**: pool the (score, label) pairs of every video's top k, rank them by score, and sum
  ``precision@rank / P`` over the ranks that hold a true label, where ``P`` counts *all* true labels, those outside
  the top k included. No true label at all: 0.
- **mAP**: the same, per class, over that class's entries in the top-k pool, ``P`` being the class's true labels;
  classes without a true label are dropped, the others averaged (none left: NaN, as ``numpy.mean([])``).
- **Hit@1**: the fraction of videos whose highest score (first one on a tie) is a true label.
- **PERR**: per video with ``L`` true labels, the fraction of its top ``L`` (argpartition again) whose score is
  > 0 and whose label is true; a video without labels counts 0; averaged over all videos.

Ties. The reference ranks a pool by shuffling it with Python's ``random`` seeded 0 (``random.sample(range(n), n)``)
and then sorting by score, stably, in descending order, so tied scores keep their shuffled order. The pool it
shuffles is the list inside its ``heapq`` heap: pairs pushed one by one, class by class, video by video, so the
heap's layout decides where each pair lands. ``reference_ties=True`` rebuilds exactly that: same pushes, same
shuffle, same stable sort, for every pool where a tie mixes true and false labels (elsewhere the order of tied
entries cannot change the result). It also sums in the reference's order, so the results are bit-for-bit the
reference's (under Python 3's ``random``; the Python 2 starter code shuffled differently). The default keeps tied
entries in pool order (class, then video) and is vectorised throughout; it differs from the reference only where
scores tie across true and false labels, typically in the 5th decimal.
"""

from __future__ import annotations

import functools
import heapq
import random
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from reelset.core.errors import ReelsetError

DEFAULT_TOP_K = 20

__all__ = ["DEFAULT_TOP_K", "MetricsAccumulator", "MetricsError", "evaluate", "gap", "hit_at_1", "label_matrix",
           "mean_average_precision", "per_class_average_precision", "perr"]


class MetricsError(ReelsetError, ValueError):
    """Inputs the metrics cannot be computed on (shapes, label ids, NaN scores, k)."""


# ---------------------------------------------------------------------------------------------------------------------
# Inputs


def label_matrix(labels: np.ndarray | Iterable[Iterable[int]], num_videos: int, num_classes: int) -> np.ndarray:
    """The ground truth as a (videos x classes) bool matrix.

    Args:
        labels: a 2-D numpy array (bool, or numbers that are all 0 or 1), or one iterable of class ids per video.

    Raises:
        MetricsError: wrong shape, a value other than 0/1, a class id out of ``0..num_classes-1``.
    """
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
        if labels.shape != (num_videos, num_classes):
            raise MetricsError(f"labels have shape {labels.shape}, predictions {(num_videos, num_classes)}")
        if labels.dtype == np.bool_:
            return labels
        if not np.isin(labels, (0, 1)).all():
            raise MetricsError("labels matrix holds values other than 0 and 1 (give bools or 0/1)")
        return labels != 0
    if isinstance(labels, np.ndarray):
        raise MetricsError(f"labels must be a (videos x classes) matrix or one list of ids per video, got an array "
                           f"of shape {labels.shape}")
    per_video = list(labels)
    if len(per_video) != num_videos:
        raise MetricsError(f"labels are given for {len(per_video)} videos, predictions for {num_videos}")
    dense = np.zeros((num_videos, num_classes), dtype=bool)
    for video, ids in enumerate(per_video):
        ids = np.asarray(list(ids), dtype=np.int64)
        bad = ids[(ids < 0) | (ids >= num_classes)]
        if bad.size:
            raise MetricsError(f"video {video}: label id {int(bad[0])} is out of range for {num_classes} classes "
                               f"(0..{num_classes - 1})")
        dense[video, ids] = True
    return dense


def _inputs(predictions, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(predictions)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
        raise MetricsError(f"predictions must be a non-empty (videos x classes) matrix, got shape {scores.shape}")
    if scores.dtype.kind not in "fiub":
        raise MetricsError(f"predictions must be numbers, got {scores.dtype}")
    if scores.dtype.kind != "f":
        scores = scores.astype(np.float64)
    elif np.isnan(scores).any():
        row = int(np.argwhere(np.isnan(scores))[0][0])
        raise MetricsError(f"predictions of video {row} hold NaN: scores must be comparable")
    return scores, label_matrix(labels, *scores.shape)


def _check_k(k: int) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k <= 0:
        raise MetricsError(f"k must be a positive integer, got {k!r}")
    return int(k)


# ---------------------------------------------------------------------------------------------------------------------
# The top-k pool and average precision over pools


@dataclass(frozen=True)
class _Pool:
    """Every video's top-k entries in the reference's push order: batch by batch, and within a batch class by class,
    videos ascending within a class."""

    top: np.ndarray | None  # (videos x k) column indices of each video's top k (one batch), argpartition's order
    classes: np.ndarray  # int64
    scores: np.ndarray
    labels: np.ndarray  # bool
    positives_per_class: np.ndarray  # int64: all true labels of each class, outside the top k too


def _top_k_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """Each video's top k columns, as the reference's ``argpartition(row, -k)[-k:]`` per row (k capped)."""
    k = min(_check_k(k), scores.shape[1])
    # Along axis 1, argpartition runs the same selection on each row as one call per row does, so the same entries
    # are kept when scores tie at the k-th place (checked against per-row calls in the tests).
    return np.argpartition(scores, -k, axis=1)[:, -k:]


def _top_k_pool(scores: np.ndarray, labels: np.ndarray, k: int) -> _Pool:
    top = _top_k_columns(scores, k)
    k = top.shape[1]
    videos = np.repeat(np.arange(scores.shape[0]), k)
    classes = top.ravel()
    order = np.argsort(classes, kind="stable")  # rows are in video order: a stable sort by class keeps it
    videos, classes = videos[order], classes[order]
    return _Pool(top=top, classes=classes.astype(np.int64), scores=scores[videos, classes],
                 labels=labels[videos, classes], positives_per_class=np.count_nonzero(labels, axis=0).astype(np.int64))


def _reference_shuffle(length: int) -> np.ndarray:
    """``AveragePrecisionCalculator._shuffle``'s permutation: ``random.seed(0); random.sample(range(n), n)``."""
    return _small_reference_shuffle(length) if length <= 1 << 16 else _seeded_sample(length)


def _seeded_sample(length: int) -> np.ndarray:
    return np.array(random.Random(0).sample(range(length), length), dtype=np.int64)


# Classes of the same size share a permutation; big ones (the global pool) are not worth keeping in memory.
_small_reference_shuffle = functools.lru_cache(maxsize=256)(_seeded_sample)


def _reference_ranked_labels(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One pool's labels in the reference's rank order: heap pushes, seeded shuffle, stable descending sort."""
    heap: list[tuple[float, bool]] = []
    for pair in zip(scores.tolist(), labels.tolist()):
        heapq.heappush(heap, pair)
    heap_scores = np.array([pair[0] for pair in heap], dtype=np.float64)
    heap_labels = np.array([pair[1] for pair in heap], dtype=bool)
    shuffle = _reference_shuffle(len(heap))
    heap_scores, heap_labels = heap_scores[shuffle], heap_labels[shuffle]
    return heap_labels[np.argsort(-heap_scores, kind="stable")]


def _average_precisions(pools: np.ndarray, scores: np.ndarray, labels: np.ndarray, positives: np.ndarray,
                        reference_ties: bool) -> np.ndarray:
    """AP of each pool (``pools`` non-decreasing, entries in push order), as ``AveragePrecisionCalculator.ap_at_n``
    computes it with ``n=None``: ``sum(poscount / rank * (1 / positives))`` over the ranks holding a true label."""
    num_pools = len(positives)
    order = np.lexsort((-scores, pools))  # stable: tied entries stay in push order
    ranked_pools, ranked_scores, ranked_labels = pools[order], scores[order], labels[order]
    starts = np.searchsorted(ranked_pools, np.arange(num_pools + 1))
    if reference_ties:
        same = (ranked_pools[1:] == ranked_pools[:-1]) & (ranked_scores[1:] == ranked_scores[:-1])
        mixed = same & (ranked_labels[1:] != ranked_labels[:-1])
        for pool in np.unique(ranked_pools[1:][mixed]):
            first, last = starts[pool], starts[pool + 1]
            in_push_order = slice(first, last)  # pools are contiguous and in push order in the inputs too
            ranked_labels[first:last] = _reference_ranked_labels(scores[in_push_order], labels[in_push_order])
    ranks = np.arange(1, len(ranked_pools) + 1, dtype=np.int64) - starts[ranked_pools]
    cumulative = np.cumsum(ranked_labels, dtype=np.int64)
    before_pool = np.concatenate(([0], cumulative))[starts[ranked_pools]]
    hits = np.flatnonzero(ranked_labels)
    hit_pools = ranked_pools[hits]
    with np.errstate(divide="ignore"):
        delta_recall = 1.0 / positives.astype(np.float64)
    terms = (cumulative[hits] - before_pool[hits]).astype(np.float64) / ranks[hits].astype(np.float64)
    terms = terms * delta_recall[hit_pools]
    # bincount adds its weights one by one in order: the reference's running sum, term by term, in rank order.
    aps = np.bincount(hit_pools, weights=terms, minlength=num_pools).astype(np.float64, copy=False)
    aps[positives == 0] = 0.0
    return aps


def _gap(pool: _Pool, reference_ties: bool) -> float:
    total = int(pool.positives_per_class.sum())
    everything = np.zeros(len(pool.classes), dtype=np.int64)
    return float(_average_precisions(everything, pool.scores, pool.labels, np.array([total]), reference_ties)[0])


def _class_aps(pool: _Pool, reference_ties: bool) -> np.ndarray:
    # Each class's own heap sees its entries in push order: a stable sort by class keeps that order.
    order = np.argsort(pool.classes, kind="stable")
    return _average_precisions(pool.classes[order], pool.scores[order], pool.labels[order], pool.positives_per_class,
                               reference_ties)


def _mean_ap(pool: _Pool, reference_ties: bool) -> float:
    kept = _class_aps(pool, reference_ties)[pool.positives_per_class > 0]
    return float(np.mean(kept)) if kept.size else float("nan")


# ---------------------------------------------------------------------------------------------------------------------
# Public metrics


def gap(predictions, labels, k: int = DEFAULT_TOP_K, *, reference_ties: bool = False) -> float:
    """Global average precision over every video's top ``k`` scores (``eval_util.calculate_gap``).

    Args:
        predictions: (videos x classes) scores.
        labels: (videos x classes) bool/0-1 matrix, or one iterable of class ids per video.
        reference_ties: rank tied scores exactly as the reference does (see the module docstring).
    """
    return _gap(_top_k_pool(*_inputs(predictions, labels), k), reference_ties)


def per_class_average_precision(predictions, labels, k: int = DEFAULT_TOP_K, *,
                                reference_ties: bool = False) -> np.ndarray:
    """AP of each class over the top-``k`` pool; NaN for classes without a true label (the ones mAP drops)."""
    pool = _top_k_pool(*_inputs(predictions, labels), k)
    aps = _class_aps(pool, reference_ties)
    aps[pool.positives_per_class == 0] = np.nan
    return aps


def mean_average_precision(predictions, labels, k: int = DEFAULT_TOP_K, *, reference_ties: bool = False) -> float:
    """Mean of the per-class APs over the top-``k`` pool, classes without a true label dropped (NaN if none is left)."""
    return _mean_ap(_top_k_pool(*_inputs(predictions, labels), k), reference_ties)


def _hit_at_1(scores: np.ndarray, truth: np.ndarray) -> float:
    best = np.argmax(scores, axis=1)
    return np.count_nonzero(truth[np.arange(len(truth)), best]) / len(truth)


def hit_at_1(predictions, labels) -> float:
    """Fraction of videos whose top-scored class (the first on a tie) is a true label."""
    return _hit_at_1(*_inputs(predictions, labels))


def _perr(scores: np.ndarray, truth: np.ndarray, top: np.ndarray | None) -> float:
    """PERR. Given ``top`` (each video's top k, the default), videos with at most k labels take their top L from a
    stable sort of it; the others, and all of them without ``top`` (``reference_ties``), call argpartition as the
    reference does."""
    num_labels = np.count_nonzero(truth, axis=1)
    counts = np.zeros(len(truth), dtype=np.int64)
    pending = num_labels > 0
    if top is not None:
        rows = np.flatnonzero(pending & (num_labels <= top.shape[1]))
        row_top = top[rows]
        top_scores = scores[rows[:, None], row_top]
        by_score = np.argsort(-top_scores, axis=1, kind="stable")
        ranked_columns = np.take_along_axis(row_top, by_score, axis=1)
        ranked_scores = np.take_along_axis(top_scores, by_score, axis=1)
        within = np.arange(top.shape[1]) < num_labels[rows, None]
        good = within & (ranked_scores > 0) & truth[rows[:, None], ranked_columns]
        counts[rows] = np.count_nonzero(good, axis=1)
        pending[rows] = False
    for size in np.unique(num_labels[pending]):
        rows = np.flatnonzero(pending & (num_labels == size))
        block = scores[rows]
        # Row by row the same call as the reference's argpartition(scores, -L)[-L:]: ties at the L-th place keep the
        # same entries.
        columns = np.argpartition(block, -size, axis=1)[:, -size:]
        picked = np.take_along_axis(block, columns, axis=1)
        counts[rows] = np.count_nonzero((picked > 0) & truth[rows[:, None], columns], axis=1)
    precisions = np.zeros(len(truth), dtype=np.float64)
    labelled = num_labels > 0
    precisions[labelled] = counts[labelled] / num_labels[labelled]
    # The reference adds the videos' precisions one by one; cumsum adds in the same order (np.sum would pair them).
    return float(np.cumsum(precisions)[-1] / len(truth))


def perr(predictions, labels, *, reference_ties: bool = False) -> float:
    """Precision at equal recall rate (``eval_util.calculate_precision_at_equal_recall_rate``).

    With ``reference_ties`` each video's top ``L`` is argpartition's, as in the reference. By default a video with at
    most k labels (k = :data:`DEFAULT_TOP_K`, or :func:`evaluate`'s) takes its top ``L`` from a stable sort of its
    top k: the same entries unless scores tie at the L-th place.
    """
    scores, truth = _inputs(predictions, labels)
    top = None if reference_ties else _top_k_columns(scores, DEFAULT_TOP_K)
    return _perr(scores, truth, top)


def evaluate(predictions, labels, k: int = DEFAULT_TOP_K, *, reference_ties: bool = False) -> dict:
    """All four metrics in one pass over the scores.

    Returns:
        ``{"gap", "map", "hit_at_1", "perr", "num_videos"}`` (floats, and an int).
    """
    scores, truth = _inputs(predictions, labels)
    pool = _top_k_pool(scores, truth, k)
    return {
        "gap": _gap(pool, reference_ties),
        "map": _mean_ap(pool, reference_ties),
        "hit_at_1": _hit_at_1(scores, truth),
        "perr": _perr(scores, truth, None if reference_ties else pool.top),
        "num_videos": int(scores.shape[0]),
    }



class MetricsAccumulator:
    """:func:`evaluate` over batches, for sets whose score matrix does not fit in memory: it keeps each video's top
    k entries only, like the starter code's ``EvaluationMetrics``.

    With ``reference_ties`` the results are exactly ``EvaluationMetrics``'s fed the same batches: the heaps grow
    batch by batch, and Hit@1 and PERR are averaged as ``sum(batch mean * batch size) / videos``. (One batch holding
    everything gives :func:`evaluate`'s GAP and mAP; its Hit@1 and PERR can differ from it in the last bit.)

    Example::

        metrics = MetricsAccumulator(num_classes=3862)
        for scores, labels in batches:
            metrics.add(scores, labels)
        metrics.result()  # {"gap": ..., "map": ..., "hit_at_1": ..., "perr": ..., "num_videos": ...}
    """

    def __init__(self, num_classes: int, k: int = DEFAULT_TOP_K, *, reference_ties: bool = False):
        self.num_classes = num_classes
        self.k = _check_k(k)
        self.reference_ties = reference_ties
        self.num_videos = 0
        self._pools: list[_Pool] = []
        self._sum_hit_at_1 = 0.0
        self._sum_perr = 0.0

    def add(self, predictions, labels) -> None:
        """Add a batch: (videos x classes) scores and its labels (matrix or one iterable of ids per video)."""
        scores, truth = _inputs(predictions, labels)
        if scores.shape[1] != self.num_classes:
            raise MetricsError(f"a batch has {scores.shape[1]} classes, the accumulator {self.num_classes}")
        pool = _top_k_pool(scores, truth, self.k)
        self._pools.append(_Pool(top=None, classes=pool.classes, scores=pool.scores, labels=pool.labels,
                                 positives_per_class=pool.positives_per_class))
        videos = scores.shape[0]
        self._sum_hit_at_1 += _hit_at_1(scores, truth) * videos
        self._sum_perr += _perr(scores, truth, None if self.reference_ties else pool.top) * videos
        self.num_videos += videos

    def result(self) -> dict:
        """``{"gap", "map", "hit_at_1", "perr", "num_videos"}`` over every batch added."""
        if not self.num_videos:
            raise MetricsError("no videos to evaluate: add a batch first")
        pool = _Pool(top=None, classes=np.concatenate([pool.classes for pool in self._pools]),
                     scores=np.concatenate([pool.scores for pool in self._pools]),
                     labels=np.concatenate([pool.labels for pool in self._pools]),
                     positives_per_class=np.sum([pool.positives_per_class for pool in self._pools], axis=0))
        return {
            "gap": _gap(pool, self.reference_ties),
            "map": _mean_ap(pool, self.reference_ties),
            "hit_at_1": self._sum_hit_at_1 / self.num_videos,
            "perr": self._sum_perr / self.num_videos,
            "num_videos": self.num_videos,
        }
