"""Records with a planted signal, in the real formats, for the tests, the benchmark and the demo of training.

The sample records of :mod:`reelset.sandbox.yt8m_sample` are noise: nothing can be learnt from them. These carry a
known signal, so a classifier's quality can be checked:

- :func:`planted_records`: each class has ``modes`` prototype directions; a video with a label adds one of that
  class's prototypes (drawn at random), times ``signal``, to standard normal noise. With one mode a linear model is
  the right one; with two, a class is an "either/or" that a mixture of experts can represent and a logistic
  regression only approximates. ``shuffle_labels`` deals the labels to other videos: nothing left to learn.
- :func:`order_records`: the signal is only in the ORDER of the frames: class 0 shows pattern X then pattern Y,
  class 1 Y then X. Both have the same frames, the same mean: an orderless model cannot do better than chance.

Video-level records have ``mean_rgb`` / ``mean_audio`` floats; frame-level records have quantized ``rgb`` /
``audio`` frames (1 byte per value, through :func:`reelset.yt8m.records.quantize`). ``backbone`` adds the context
key our extractor writes (e.g. ``efficientnet-lite0``, 1280 wide, usually without audio).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from reelset.yt8m.records import Record, quantize

FEATURE_SCALE = 0.5  # frame features are scaled into the quantizer's [-2, 2] range


def _prototypes(rng: np.random.Generator, classes: int, modes: int, width: int) -> np.ndarray:
    directions = rng.normal(size=(classes, modes, width))
    return directions / np.linalg.norm(directions, axis=2, keepdims=True) * np.sqrt(width)


def planted_records(count: int, *, level: str = "video", classes: int = 8, class_ids: Sequence[int] | None = None,
                    labels_per_video: tuple[int, int] = (1, 3), modes: int = 1, signal: float = 1.0,
                    rgb_width: int = 1024, audio_width: int | None = 128, frames: int = 8, seed: int = 0,
                    world_seed: int = 1234, shuffle_labels: bool = False, backbone: str | None = None,
                    long_tail: float = 0.0) -> Iterator[Record]:
    """``count`` records whose labels are written in their features (see the module docstring).

    Args:
        class_ids: the label id of each class (default 0..classes-1).
        labels_per_video: (least, most) labels of a video.
        signal: the prototype's weight against unit noise, per dimension (1.0: easy; 0.05 over 1024 dims: hard).
        audio_width: None for records without audio.
        world_seed: draws the prototypes: sets made with the same world seed (and different ``seed``) share them,
            like a training and a test set.
        long_tail: class ``i`` is drawn with a weight ``1 / (i + 1) ** long_tail`` (0: all classes alike; about 1
            looks like YouTube-8M, where a few classes are very common).
    """
    ids = list(class_ids) if class_ids is not None else list(range(classes))
    world = np.random.default_rng(world_seed)
    widths = {"rgb": rgb_width, **({"audio": audio_width} if audio_width else {})}
    prototypes = {name: _prototypes(world, len(ids), modes, width) for name, width in widths.items()}
    weights = 1.0 / np.arange(1, len(ids) + 1) ** long_tail
    rng = np.random.default_rng(seed)
    generated = []
    for index in range(count):
        chosen = rng.choice(len(ids), size=int(rng.integers(labels_per_video[0], labels_per_video[1] + 1)),
                            replace=False, p=weights / weights.sum())
        features = {}
        for name, width in widths.items():
            vector = rng.normal(size=width)
            for label in chosen:
                vector += signal * prototypes[name][label, rng.integers(modes)]
            features[name] = vector
        generated.append((np.sort(np.asarray([ids[label] for label in chosen], np.int64)), features))
    if shuffle_labels:
        order = rng.permutation(count)
        generated = [(generated[order[index]][0], features) for index, (_, features) in enumerate(generated)]
    for index, (labels, features) in enumerate(generated):
        record: Record = {"id": f"v{seed % 1000:03d}{index:05d}", "labels": labels}
        if backbone:
            record["backbone"] = backbone.encode()
        for name, vector in features.items():
            if level == "video":
                record[f"mean_{name}"] = (vector * FEATURE_SCALE / np.sqrt(1 + signal ** 2)).astype(np.float32)
            else:
                scale = FEATURE_SCALE / np.sqrt(2 + signal ** 2)
                jitter = rng.normal(size=(frames, len(vector)))
                record[name] = quantize((vector[None] + jitter) * scale)
        yield record


def order_records(count: int, *, frames: int = 16, rgb_width: int = 32, audio_width: int | None = None,
                  noise: float = 1.0, seed: int = 0, world_seed: int = 99) -> Iterator[Record]:
    """Frame-level records of two classes (label ids 0 and 1) told apart only by the order of two patterns."""
    world = np.random.default_rng(world_seed)
    pattern_x, pattern_y = world.normal(size=(2, rgb_width))
    rng = np.random.default_rng(seed)
    half = frames // 2
    for index in range(count):
        label = int(rng.integers(2))
        first, second = (pattern_x, pattern_y) if label == 0 else (pattern_y, pattern_x)
        rgb = rng.normal(scale=noise, size=(frames, rgb_width))
        rgb[:half] += first
        rgb[half:] += second
        record: Record = {"id": f"o{seed % 1000:03d}{index:05d}", "labels": np.array([label], np.int64),
                          "rgb": quantize(rgb * FEATURE_SCALE / 2)}
        if audio_width:
            record["audio"] = quantize(rng.normal(size=(frames, audio_width)) * FEATURE_SCALE)
        yield record
