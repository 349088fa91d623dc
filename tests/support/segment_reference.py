"""The YouTube-8M starter code's segment task (2019), ported line for line: the oracle the tests hold
:mod:`reelset.yt8m.segments` to.

- ``inference.py --segment_labels``: ``get_segments`` (5-frame bags of a padded batch), ``format_lines`` (rated-class
  mask applied in place, ``argpartition`` top k, ``%i %g`` pairs), and the post-processing that pushes every
  (score, segment id) into one heap per rated class, capped at ``segment_max_pred``, then sorts each heap by score,
  descending, stably (``list.sort(key=..., reverse=True)``) and writes ``Class,Segments`` lines;
- ``segment_eval_inference.py``: ``read_labels`` (a dict ``(segment id, label) -> score``),
  ``read_segment_predictions`` and ``main`` (positions scored ``n/n ... 1/n``, one AP calculator per listed class,
  ``numpy.mean`` of their ``peek_ap_at_n``), with :class:`tests.support.eval_util_reference.ReferenceAP` as
  ``AveragePrecisionCalculator()``.

Two changes, both needed to run it at all on the file ``inference.py`` writes: the header line is skipped (the
reference would fail on ``int("Class")``) and each line is stripped (the reference keeps the newline on the last id
of a line, so that segment never matches a rating).
"""

from __future__ import annotations

import heapq

import numpy as np

from tests.support.eval_util_reference import ReferenceAP


def reference_get_segments(batch_video_mtx, batch_num_frames, segment_size):
    video_batch_size = batch_video_mtx.shape[0]
    max_frame = batch_video_mtx.shape[1]
    feature_dim = batch_video_mtx.shape[-1]
    padded_segment_sizes = (batch_num_frames + segment_size - 1) // segment_size
    padded_segment_sizes *= segment_size
    segment_mask = (0 < (padded_segment_sizes[:, np.newaxis] - np.arange(0, max_frame)))
    frame_bags = batch_video_mtx.reshape((-1, feature_dim))
    segment_frames = frame_bags[segment_mask.reshape(-1)].reshape((-1, segment_size, feature_dim))
    segment_start_times = np.arange(0, max_frame, segment_size)
    num_segments = batch_num_frames[:, np.newaxis] - segment_start_times
    num_segment_bags = num_segments.reshape((-1))
    valid_segment_mask = num_segment_bags > 0
    segment_num_frames = num_segment_bags[valid_segment_mask]
    segment_num_frames[segment_num_frames > segment_size] = segment_size
    max_segment_num = (max_frame + segment_size - 1) // segment_size
    video_idxs = np.tile(np.arange(0, video_batch_size)[:, np.newaxis], [1, max_segment_num])
    segment_idxs = np.tile(segment_start_times, [video_batch_size, 1])
    idx_bags = np.stack([video_idxs, segment_idxs], axis=-1).reshape((-1, 2))
    video_segment_ids = idx_bags[valid_segment_mask]
    return {"video_batch": segment_frames, "num_frames_batch": segment_num_frames,
            "video_segment_ids": video_segment_ids}


def reference_format_lines(video_ids, predictions, top_k, whitelisted_cls_mask=None):
    for video_index in range(len(video_ids)):
        video_prediction = predictions[video_index]
        if whitelisted_cls_mask is not None:
            video_prediction *= whitelisted_cls_mask
        top_indices = np.argpartition(video_prediction, -top_k)[-top_k:]
        line = [(class_index, predictions[video_index][class_index]) for class_index in top_indices]
        line = sorted(line, key=lambda p: -p[1])
        yield video_ids[video_index] + "," + " ".join("%i %g" % (label, score) for (label, score) in line) + "\n"


def reference_submission(segment_ids, predictions, top_k, whitelisted_cls_mask, segment_max_pred):
    """inference.py's segment path from the per-segment predictions (a float32 matrix, changed in place as there):
    the lines of the final file, header first."""
    lines = ["VideoId,LabelConfidencePairs\n",
             *reference_format_lines(segment_ids, predictions, top_k, whitelisted_cls_mask)]
    heaps = {}
    for line in lines:
        segment_id, preds = line.split(",")
        if segment_id == "VideoId":
            continue
        preds = preds.split(" ")
        pred_cls_ids = [int(preds[idx]) for idx in range(0, len(preds), 2)]
        pred_cls_scores = [float(preds[idx]) for idx in range(1, len(preds), 2)]
        for cls, score in zip(pred_cls_ids, pred_cls_scores):
            if not whitelisted_cls_mask[cls]:
                continue
            if cls not in heaps:
                heaps[cls] = []
            if len(heaps[cls]) >= segment_max_pred:
                heapq.heappushpop(heaps[cls], (score, segment_id))
            else:
                heapq.heappush(heaps[cls], (score, segment_id))
    out = ["Class,Segments\n"]
    for cls, cls_heap in heaps.items():
        cls_heap.sort(key=lambda x: x[0], reverse=True)
        out.append("%d,%s\n" % (cls, " ".join([x[1] for x in cls_heap])))
    return out


def reference_read_labels(records):
    """read_labels over record dicts (``id``, ``segment_labels``, ``segment_start_times``, ``segment_scores``)."""
    rated_labels = {}
    for record in records:
        video_id = record["id"]
        for label, start_time, score in zip(record["segment_labels"], record["segment_start_times"],
                                            record["segment_scores"]):
            rated_labels[("%s:%d" % (video_id, start_time), label)] = score
    return rated_labels


def reference_read_segment_predictions(lines, labels, top_n=None):
    cls_preds = {}
    for line in lines:
        line = line.strip()
        if line.startswith("Class,"):
            continue
        label_id, pred_ids_val = line.split(",")
        pred_ids = pred_ids_val.split(" ")
        if top_n:
            pred_ids = pred_ids[:top_n]
        pred_ids = [pred_id for pred_id in pred_ids if (pred_id, int(label_id)) in labels]
        cls_preds[int(label_id)] = pred_ids
    return cls_preds


def reference_segment_map(submission_lines, labels, top_n=0):
    """segment_eval_inference.main: the mean AP and each listed class's AP (in sorted class order)."""
    positive_counter = {}
    for k, v in labels.items():
        _, label_id = k
        if v > 0:
            positive_counter[label_id] = positive_counter.get(label_id, 0) + 1
    seg_preds = reference_read_segment_predictions(submission_lines, labels, top_n=top_n)
    calculators = [ReferenceAP() for _ in range(len(seg_preds))]
    for index, label_id in enumerate(sorted(seg_preds)):
        class_preds = seg_preds[label_id]
        seg_label = [labels[(pred, label_id)] for pred in class_preds]
        seg_scored_pred = []
        if class_preds:
            seg_scored_pred = [float(x) / len(class_preds) for x in range(len(class_preds), 0, -1)]
        calculators[index].accumulate(seg_scored_pred, seg_label, positive_counter[label_id])
    aps = [calculator.peek_ap_at_n() for calculator in calculators]
    return np.mean(aps), dict(zip(sorted(seg_preds), aps))
