"""The YouTube-8M starter code's metrics (``eval_util.py``, ``average_precision_calculator.py``,
``mean_average_precision_calculator.py``; Python 3 version), ported loop for loop, on one batch holding every
video: the oracle the tests hold :mod:`reelset.yt8m.metrics` to and the anchor of ``bench/train_eval.py``."""

from __future__ import annotations

import heapq
import random

import numpy as np




class ReferenceAP:
    """AveragePrecisionCalculator(top_n=None): a heap of (score, label) pushed one by one, ap_at_n(n=None)."""

    def __init__(self):
        self.heap = []
        self.total_positives = 0

    def accumulate(self, predictions, actuals, num_positives):
        self.total_positives += num_positives
        for i in range(len(predictions)):
            heapq.heappush(self.heap, (predictions[i], actuals[i]))

    def peek_ap_at_n(self):
        if not self.heap:
            return 0
        predictions, actuals = (np.array(column) for column in zip(*self.heap))
        state = random.getstate()
        random.seed(0)  # _shuffle
        shuffle = random.sample(range(len(predictions)), len(predictions))
        random.setstate(state)
        predictions, actuals = predictions[shuffle], actuals[shuffle]
        sortidx = sorted(range(len(predictions)), key=lambda k: predictions[k], reverse=True)
        numpos = self.total_positives
        if numpos == 0:
            return 0
        delta_recall = 1.0 / numpos
        poscount = 0.0
        ap = 0.0
        for i in range(len(sortidx)):
            if actuals[sortidx[i]] > 0:
                poscount += 1
                ap += poscount / (i + 1) * delta_recall
        return ap


def reference_top_k_by_class(predictions, labels, k):
    k = min(k, predictions.shape[1])
    num_classes = predictions.shape[1]
    triplets = []
    for video in range(predictions.shape[0]):
        indices = np.argpartition(predictions[video], -k)[-k:]
        triplets.extend((index, predictions[video][index], labels[video][index]) for index in indices)
    out_predictions = [[] for _ in range(num_classes)]
    out_labels = [[] for _ in range(num_classes)]
    for index, score, label in triplets:
        out_predictions[index].append(score)
        out_labels[index].append(label)
    true_positives = [np.sum(labels[:, i]) for i in range(num_classes)]
    return out_predictions, out_labels, true_positives


def reference_hit_at_one(predictions, actuals):
    return np.average(actuals[np.arange(actuals.shape[0]), np.argmax(predictions, 1)])


def reference_perr(predictions, actuals):
    aggregated = 0.0
    for row in np.arange(actuals.shape[0]):
        num_labels = int(np.sum(actuals[row]))
        top_indices = np.argpartition(predictions[row], -num_labels)[-num_labels:]
        item_precision = 0.0
        for index in top_indices:
            if predictions[row][index] > 0:
                item_precision += actuals[row][index]
        item_precision /= top_indices.size
        aggregated += item_precision
    return aggregated / actuals.shape[0]


class ReferenceEvaluationMetrics:
    """EvaluationMetrics: a global AP calculator and one per class fed batch by batch, running sums of the batch
    means of Hit@1 and PERR; mAP = numpy.mean of the APs of classes with a positive."""

    def __init__(self, num_class, top_k):
        self.global_ap = ReferenceAP()
        self.class_aps = [ReferenceAP() for _ in range(num_class)]
        self.top_k = top_k
        self.sum_hit_at_one = self.sum_perr = 0.0
        self.num_examples = 0

    def accumulate(self, predictions, labels):
        batch_size = labels.shape[0]
        mean_hit_at_one = reference_hit_at_one(predictions, labels)
        mean_perr = reference_perr(predictions, labels)
        sparse_predictions, sparse_labels, num_positives = reference_top_k_by_class(predictions, labels, self.top_k)
        for i, calculator in enumerate(self.class_aps):
            calculator.accumulate(sparse_predictions[i], sparse_labels[i], num_positives[i])
        self.global_ap.accumulate([s for row in sparse_predictions for s in row],
                                  [v for row in sparse_labels for v in row], sum(num_positives))
        self.num_examples += batch_size
        self.sum_hit_at_one += mean_hit_at_one * batch_size
        self.sum_perr += mean_perr * batch_size

    def get(self):
        aps = [calculator.peek_ap_at_n() for calculator in self.class_aps if calculator.total_positives > 0]
        return {"gap": self.global_ap.peek_ap_at_n(), "map": np.mean(aps),
                "hit_at_1": self.sum_hit_at_one / self.num_examples, "perr": self.sum_perr / self.num_examples,
                "num_videos": self.num_examples}


def reference_metrics(predictions, labels, k=20):
    """The whole set as one batch; Hit@1 and PERR straight from calculate_hit_at_one and calculate_perr."""
    metrics = ReferenceEvaluationMetrics(predictions.shape[1], k)
    metrics.accumulate(predictions, labels)
    return {**metrics.get(), "hit_at_1": reference_hit_at_one(predictions, labels),
            "perr": reference_perr(predictions, labels)}
