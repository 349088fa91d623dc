"""GAP@k, mAP, Hit@1 and PERR: hand-computed cases, and a loop-for-loop port of the starter code as the oracle."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from reelset.yt8m.metrics import (
    MetricsAccumulator,
    MetricsError,
    evaluate,
    gap,
    hit_at_1,
    label_matrix,
    mean_average_precision,
    per_class_average_precision,
    perr,
)
# The oracle: the starter code's algorithm, loop for loop.
from tests.support.eval_util_reference import ReferenceEvaluationMetrics, reference_metrics


def random_case(seed, videos, classes, *, levels=None):
    """Scores (float32; with ``levels``, only that many distinct values: many ties) and bool labels of 0-5 classes
    per video, some videos without any."""
    rng = np.random.default_rng(seed)
    if levels:
        scores = (rng.integers(0, levels, size=(videos, classes)) / levels).astype(np.float32)
    else:
        scores = rng.random((videos, classes), dtype=np.float32)
    labels = np.zeros((videos, classes), dtype=bool)
    for video in range(videos):
        labels[video, rng.choice(classes, size=min(classes, rng.integers(0, 6)), replace=False)] = True
    return scores, labels


# ---------------------------------------------------------------------------------------------------------------------
# Small cases by hand


def test_small_case_by_hand():
    # video 0: scores (0.9, 0.8, 0.1), labels {0, 2};  video 1: scores (0.3, 0.7, 0.6), labels {1}; k = 2.
    scores = np.array([[0.9, 0.8, 0.1], [0.3, 0.7, 0.6]])
    labels = [[0, 2], [1]]
    # Top 2: video 0 -> class 0 (0.9, true), class 1 (0.8, false); video 1 -> class 1 (0.7, true), class 2 (0.6, false).
    # Pooled by score: 0.9 T, 0.8 F, 0.7 T, 0.6 F. True labels in all: 3 (class 2 of video 0 is outside the top 2).
    # GAP = (1/1 + 2/3) / 3 = 5/9.
    assert gap(scores, labels, k=2) == pytest.approx(5 / 9, abs=1e-12)
    # Per class: class 0 [0.9 T], 1 positive -> 1/1 = 1.  class 1 [0.8 F, 0.7 T], 1 positive -> (1/2) / 1 = 0.5.
    # class 2 [0.6 F], 1 positive (video 0's, not in the pool) -> 0.  mAP = (1 + 0.5 + 0) / 3 = 0.5.
    assert per_class_average_precision(scores, labels, k=2) == pytest.approx([1.0, 0.5, 0.0])
    assert mean_average_precision(scores, labels, k=2) == pytest.approx(0.5)
    # Hit@1: video 0's best is class 0 (true), video 1's best is class 1 (true): 2/2.
    assert hit_at_1(scores, labels) == 1.0
    # PERR: video 0 has 2 labels, its top 2 are classes 0 (T) and 1 (F): 1/2; video 1 has 1 label, top 1 is class 1
    # (T): 1/1. Mean (0.5 + 1) / 2 = 0.75.
    assert perr(scores, labels) == 0.75
    assert evaluate(scores, labels, k=2) == pytest.approx(
        {"gap": 5 / 9, "map": 0.5, "hit_at_1": 1.0, "perr": 0.75, "num_videos": 2})


def test_perr_counts_positive_scores_only_and_videos_without_labels_count_zero():
    scores = np.array([[0.0, 0.5, 0.2],   # labels {0}: top 1 is class 1 (false)              -> 0
                       [0.4, 0.0, 0.0],   # labels {0, 1, 2}: top 3 is everything, but only class 0
                                          # has a score > 0                                    -> 1/3
                       [0.9, 0.1, 0.1]])  # no labels                                          -> 0
    labels = [[0], [0, 1, 2], []]
    # PERR = (0 + 1/3 + 0) / 3 = 1/9, the video without labels in the denominator.
    for reference_ties in (False, True):
        assert perr(scores, labels, reference_ties=reference_ties) == pytest.approx(1 / 9)
    # Hit@1: best classes 1 (F), 0 (T), 0 (F) -> 1/3.
    assert hit_at_1(scores, labels) == pytest.approx(1 / 3)


def test_reference_ties_follow_the_heap_and_the_seeded_shuffle():
    # Three videos, one class, all scored 0.5; only video 1 is labelled. k = 1, so the pool is the three pairs.
    scores = np.full((3, 1), 0.5)
    labels = np.array([[False], [True], [False]])
    # Pushed in video order onto a min-heap of (score, label) tuples: [(.5,F)] -> (.5,T) is not < its parent (.5,F),
    # it stays: [(.5,F), (.5,T)] -> (.5,F) equals its parent: [(.5,F), (.5,T), (.5,F)].
    # random.seed(0); random.sample(range(3), 3) is [1, 2, 0], so the shuffled pool is T, F, F; the stable sort by
    # score keeps it: the true label ranks first, GAP = (1/1) / 1 = 1.
    assert random.Random(0).sample(range(3), 3) == [1, 2, 0]
    assert gap(scores, labels, k=1, reference_ties=True) == 1.0
    assert reference_metrics(scores, labels, k=1)["gap"] == 1.0
    # The default keeps tied entries in pool order (F, T, F): the true label ranks second, GAP = (1/2) / 1 = 0.5.
    assert gap(scores, labels, k=1) == 0.5


def test_all_zero_scores_and_k_larger_than_the_classes():
    scores = np.zeros((2, 3), dtype=np.float32)
    labels = [[1], []]
    # k = 20 > 3 classes: every entry is pooled, all tied at 0. Pushed class by class, video by video:
    # (0,F) (0,F) | (0,T) (0,F) | (0,F) (0,F). The heap: [F, F, T, F, F] after five pushes (nothing is < its parent);
    # the sixth, F at index 5, is < its parent T at index 2: they swap -> [F, F, F, F, F, T].
    # random.sample(range(6), 6) with seed 0 is [3, 5, 0, 1, 2, 4]: shuffled F, T, F, F, F, F -> T ranks 2nd,
    # GAP = (1/2) / 1 = 0.5. The default keeps pool order, T 3rd: 1/3.
    assert random.Random(0).sample(range(6), 6) == [3, 5, 0, 1, 2, 4]
    assert gap(scores, labels, reference_ties=True) == 0.5
    assert gap(scores, labels) == pytest.approx(1 / 3)
    # mAP: only class 1 has a true label; its pool (0,T), (0,F) becomes the heap [F, T], shuffled by [1, 0] to T, F:
    # AP 1. Classes 0 and 2 are dropped.
    assert mean_average_precision(scores, labels, reference_ties=True) == 1.0
    # Hit@1: argmax of a zero row is class 0 (false) for both videos: 0. PERR: video 0's top 1 scores 0, not > 0: 0.
    result = evaluate(scores, labels, reference_ties=True)
    assert (result["hit_at_1"], result["perr"]) == (0.0, 0.0)
    assert result == reference_metrics(scores, label_matrix(labels, 2, 3))


def test_no_true_labels_at_all():
    scores = np.array([[0.2, 0.8], [0.6, 0.4]])
    result = evaluate(scores, [[], []])
    # No positives: GAP 0 (the reference's `if numpos == 0: return 0`), every class dropped from mAP (mean of
    # nothing: NaN), no hit, and PERR 0 for videos without labels.
    assert result["gap"] == 0.0 and math.isnan(result["map"])
    assert (result["hit_at_1"], result["perr"], result["num_videos"]) == (0.0, 0.0, 2)
    assert np.isnan(per_class_average_precision(scores, [[], []])).all()


# ---------------------------------------------------------------------------------------------------------------------
# Against the reference on random data


@pytest.mark.parametrize(("seed", "videos", "classes", "levels", "k"), [
    (1, 300, 40, 4, 20),     # heavy ties: four distinct scores
    (2, 200, 60, 10, 5),
    (3, 150, 12, 3, 20),     # k larger than the classes
    (4, 250, 30, 2, 1),
    (5, 120, 25, 50, 20),    # scarce ties
])
def test_reference_ties_reproduce_the_reference_exactly(seed, videos, classes, levels, k):
    scores, labels = random_case(seed, videos, classes, levels=levels)
    expected = reference_metrics(scores, labels, k)
    assert evaluate(scores, labels, k, reference_ties=True) == expected  # bit for bit
    assert gap(scores, labels, k, reference_ties=True) == expected["gap"]
    assert mean_average_precision(scores, labels, k, reference_ties=True) == expected["map"]
    assert perr(scores, labels, reference_ties=True) == expected["perr"]
    # The default only reorders tied entries: close, not equal.
    fast = evaluate(scores, labels, k)
    for name in ("gap", "map", "perr"):
        assert fast[name] == pytest.approx(expected[name], abs=0.05), name
    assert fast["hit_at_1"] == expected["hit_at_1"]


def test_without_ties_the_default_is_the_reference_exactly():
    scores, labels = random_case(6, 400, 80)
    assert evaluate(scores, labels) == reference_metrics(scores, labels)


@pytest.mark.parametrize("batch_size", [1, 37, 100])
def test_batches_reproduce_evaluation_metrics_exactly(batch_size):
    scores, labels = random_case(8, 230, 30, levels=6)
    reference = ReferenceEvaluationMetrics(30, 20)
    exact, fast = MetricsAccumulator(30, reference_ties=True), MetricsAccumulator(30)
    for start in range(0, len(scores), batch_size):
        batch = slice(start, start + batch_size)
        reference.accumulate(scores[batch], labels[batch])
        exact.add(scores[batch], labels[batch])
        fast.add(scores[batch], [np.flatnonzero(row) for row in labels[batch]])
    assert exact.result() == reference.get()
    whole = evaluate(scores, labels)
    assert fast.result() == pytest.approx(whole, abs=0.05)
    with pytest.raises(MetricsError, match="a batch has 3 classes, the accumulator 30"):
        fast.add(np.zeros((1, 3)), [[0]])
    with pytest.raises(MetricsError, match="no videos to evaluate"):
        MetricsAccumulator(30).result()


def test_label_lists_and_matrices_give_the_same_results():
    scores, labels = random_case(7, 50, 20, levels=5)
    lists = [np.flatnonzero(row).tolist() for row in labels]
    assert evaluate(scores, lists, reference_ties=True) == evaluate(scores, labels, reference_ties=True)
    assert evaluate(scores, labels.astype(np.int8)) == evaluate(scores, labels)


def test_bad_inputs_are_clear_errors():
    scores = np.zeros((2, 3))
    with pytest.raises(MetricsError, match="video 1: label id 3 is out of range for 3 classes"):
        evaluate(scores, [[0], [3]])
    with pytest.raises(MetricsError, match="labels have shape"):
        evaluate(scores, np.zeros((2, 4), dtype=bool))
    with pytest.raises(MetricsError, match="values other than 0 and 1"):
        evaluate(scores, np.full((2, 3), 2))
    with pytest.raises(MetricsError, match="k must be a positive integer"):
        gap(scores, [[0], [1]], k=0)
    with pytest.raises(MetricsError, match="video 0 hold NaN"):
        evaluate(np.array([[np.nan, 1.0, 0.0], [0.0, 0.0, 0.0]]), [[0], [1]])
    with pytest.raises(MetricsError, match="labels are given for 1 videos"):
        evaluate(scores, [[0]])
