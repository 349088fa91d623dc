"""Frame-level v3 records (the segment task's ``3/frame/validate``) whose segment ratings can be learnt: for the demo
of ``reelset yt8m train --segments``, ``evaluate --segments`` and ``predict --segments``.

The v3 records of :func:`reelset.sandbox.yt8m_sample.sample_records` (kind ``segment``) are noise with ratings on
random labels, outside the 1,000 rated classes as often as not: a fine-tuning has nothing to learn from them. Here:

- every video has one or two labels of the caller's ``classes`` (the rated classes of the task), and a weak
  video-wide pattern of each in its frames: what a model trained on the video labels alone learns;
- ``rated`` of its 5-second segments are rated for one of the ``classes`` (its own labels or not), 1.0 or 0.0 at
  random; a positive segment's frames show that class's *segment* pattern. Those patterns turn up in videos
  whatever their labels, so the video labels never teach them: only the ratings do;
- ``rgb`` (1024) and ``audio`` (128) frames quantized as YouTube-8M's, ``segment_start_times`` multiples of 5.

Sets made with the same ``world_seed`` (and different ``seed``) share the patterns, like a training set and its
held-out set. Everything is deterministic given the seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reelset.yt8m.records import Record, quantize

RGB_WIDTH, AUDIO_WIDTH = 1024, 128
SEGMENT_FRAMES = 5
NOISE = 0.3  # per-dimension spread of a frame, well inside the quantizer's [-2, 2]
VIDEO_SIGNAL = 0.15  # weight of a label's video-wide pattern
SEGMENT_SIGNAL = 0.4  # weight of a positive segment's pattern


def _unit_patterns(rng: np.random.Generator, count: int, width: int) -> np.ndarray:
    patterns = rng.normal(size=(count, width))
    return patterns / np.linalg.norm(patterns, axis=1, keepdims=True) * np.sqrt(width)


def segment_task_records(count: int, classes: Sequence[int], *, seed: int = 0, frames: int = 30, rated: int = 4,
                         world_seed: int = 1234, prefix: str = "s") -> list[Record]:
    """``count`` frame-level v3 records of ``frames`` frames (see the module docstring); ``rated`` segments of
    each are rated (at most ``frames // 5``)."""
    classes = np.asarray(classes, np.int64)
    world = np.random.default_rng(world_seed)
    video_patterns = _unit_patterns(world, len(classes), RGB_WIDTH)
    segment_patterns = _unit_patterns(world, len(classes), RGB_WIDTH)
    rng = np.random.default_rng(seed)
    windows = frames // SEGMENT_FRAMES
    records = []
    for index in range(count):
        labels = np.sort(rng.choice(len(classes), size=int(rng.integers(1, 3)), replace=False))
        rgb = rng.normal(0, NOISE, (frames, RGB_WIDTH)) + VIDEO_SIGNAL * NOISE * video_patterns[labels].sum(axis=0)
        starts = np.sort(rng.choice(windows, size=min(rated, windows), replace=False)) * SEGMENT_FRAMES
        rated_labels = rng.integers(0, len(classes), len(starts))
        scores = rng.integers(0, 2, len(starts))
        for start, label, score in zip(starts, rated_labels, scores):
            if score:
                rgb[start:start + SEGMENT_FRAMES] += SEGMENT_SIGNAL * NOISE * segment_patterns[label]
        records.append({"id": f"{prefix}{seed}{index:03d}", "labels": classes[labels],
                        "segment_labels": classes[rated_labels], "segment_start_times": starts.astype(np.int64),
                        "segment_scores": scores.astype(np.float32), "rgb": quantize(rgb),
                        "audio": quantize(rng.normal(0, NOISE, (frames, AUDIO_WIDTH)))})
    return records
