"""Records with a planted signal, in the real formats, for the tests, the benchmark and the demo of training.

The sample records of :mod:`reelset.sandbox.yt8m_sample` are noise: nothing can be learnt from them. These carry a
known signal, so a classifier's quality can be checked:

- :func:`planted_records`: each class has ``modes`` prototype directions; a video with a label adds one of that
  class's prototypes (drawn at random), times ``signal``, to standard normal noise. With one mode a linear model is
  the right one; with two, a class is an "either/or" that a mixture of experts can represent and a logistic
  regression only approximates. ``shuffle_labels`` deals the labels to other videos: nothing left to learn.
- :func:`yt8m_like_records`: records that look like YouTube-8M's video-level data where it matters to a classifier:
  about 3 labels a video drawn from the real class frequencies (``TrainVideoCount`` of the v2 vocabulary, shipped in
  ``reelset/yt8m/data/train_video_counts.csv``, so a few classes are very common and most are rare), videos in
  topics (many videos of one game, one sport) whose label sets repeat, features with PCA-like decaying variance
  whose content lives in the high-variance dimensions, and vector lengths that vary (4 to 35, log-uniform)
  independently of the labels.
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


def train_video_counts() -> np.ndarray:
    """The v2 vocabulary's ``TrainVideoCount`` of each class (3,862 ints, by label id)."""
    from importlib.resources import files

    text = files("reelset.yt8m").joinpath("data/train_video_counts.csv").read_text(encoding="utf-8")
    rows = [line.split(",") for line in text.splitlines()[1:] if line]
    counts = np.zeros(len(rows), np.int64)
    for index, count in rows:
        counts[int(index)] = int(count)
    return counts


def yt8m_like_records(count: int, *, level: str = "video", classes: int | None = None, labels_mean: float = 3.0,
                      topics: int = 8000, topic_share: float = 0.8, modes: int = 3, signal: float = 1.0,
                      noise: float = 1.5, decay: float = 0.5, lengths: tuple[float, float] = (4, 35),
                      rgb_width: int = 1024, audio_width: int | None = 128, audio_signal: float = 0.5,
                      frames: int = 8, seed: int = 0, world_seed: int = 1234) -> Iterator[Record]:
    """``count`` records shaped like YouTube-8M's (see the module docstring).

    The world has ``topics`` topics (the playthroughs of one game, the reviews of one phone model), each a label set
    (1 + Poisson(``labels_mean`` - 1) classes drawn by their real frequencies) and a look of its own; topics are
    popular by a Zipf law (a few are everywhere, most rare). A video is one topic: its labels are the topic's, its
    vector ``signal`` times (``topic_share`` of the topic's look plus the rest from one of ``modes`` prototypes of
    each of its labels) plus isotropic noise (``noise`` of the signal's size), scaled to a length drawn
    log-uniformly from ``lengths``. Looks and prototypes have a PCA-like variance profile (dimension ``d``'s
    standard deviation ``(d + 1) ** -decay``): the first dimensions carry the content, the last ones mostly noise.
    Audio says less than the pictures (``audio_signal``).

    Args:
        classes: the ``classes`` most common classes only (None: all 3,862, the real label space).
        world_seed: draws topics and prototypes; a training and a test set share it and differ in ``seed``.
    """
    frequencies = train_video_counts().astype(np.float64)
    if classes is not None:
        frequencies = frequencies[:classes]
    world = np.random.default_rng(world_seed)
    widths = {"rgb": rgb_width, **({"audio": audio_width} if audio_width else {})}
    profiles = {}
    for name, width in widths.items():
        profile = np.arange(1, width + 1) ** -decay
        profiles[name] = profile * np.sqrt(width / np.sum(profile ** 2))  # total variance = width
    strength = {"rgb": signal, "audio": signal * audio_signal}
    p = frequencies / frequencies.sum()
    topic_labels = [np.sort(world.choice(len(p), size=min(len(p), 1 + int(world.poisson(max(labels_mean - 1, 0)))),
                                         replace=False, p=p)) for _ in range(topics)]
    looks = {name: world.normal(size=(topics, width)) * profiles[name] for name, width in widths.items()}
    prototypes = {name: world.normal(size=(len(p), modes, width)) * profiles[name] for name, width in widths.items()}
    popularity = 1.0 / np.arange(1, topics + 1)
    popularity /= popularity.sum()
    rng = np.random.default_rng(seed)
    for index in range(count):
        topic = int(rng.choice(topics, p=popularity))
        chosen = topic_labels[topic]
        mode = rng.integers(modes, size=len(chosen))
        parts = {}
        for name, width in widths.items():
            content = (topic_share * looks[name][topic]
                       + (1 - topic_share) * prototypes[name][chosen, mode].sum(axis=0) / np.sqrt(len(chosen)))
            parts[name] = strength[name] * content + noise * rng.normal(size=width)
        joined = np.concatenate(list(parts.values()))
        length = np.exp(rng.uniform(np.log(lengths[0]), np.log(lengths[1])))
        factor = length / max(np.linalg.norm(joined), 1e-9)
        record: Record = {"id": f"y{seed % 1000:03d}{index:05d}", "labels": chosen.astype(np.int64)}
        for name, vector in parts.items():
            vector = vector * factor
            if level == "video":
                record[f"mean_{name}"] = vector.astype(np.float32)
            else:
                jitter = rng.normal(size=(frames, len(vector))) * (length / np.sqrt(sum(widths.values())))
                record[name] = quantize(vector[None] + jitter)
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
