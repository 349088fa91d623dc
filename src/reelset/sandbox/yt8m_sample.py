"""Sample YouTube-8M records in the real formats, for the demo, the tests and the benchmarks.

Real shards cannot be fetched offline, so everything that reads YouTube-8M is exercised on records generated here,
as dicts shaped like :func:`reelset.yt8m.read_records`'s and written with :func:`reelset.yt8m.write_records`. The
structure follows the real data (see the spec), because that is where readers go wrong:

- ids of 4 characters whose last two are the shard's two-character code (``fYdw`` lives in ``traindw``);
- 1 to 6 labels per video, ascending, drawn from the 3,862 v2 classes with a long tail (a few classes are common);
- video level: ``mean_rgb`` 1024 and ``mean_audio`` 128 float32 values, roughly what averaged PCA features look like;
- frame level: up to 300 frames of 1024 ``rgb`` and 128 ``audio`` quantized bytes, both lists the same length,
  bytes spread around the middle of the range like quantized PCA features;
- v1 (2017): ``video_id`` instead of ``id`` (4,716 classes then);
- v3 segments: ``segment_labels`` (from the video's labels), ``segment_start_times`` (multiples of 5 s, sometimes
  past the last frame, as in the real files) and ``segment_scores`` (0.0 or 1.0).

Everything is deterministic given the seed.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from reelset.yt8m.records import Record, write_records

KINDS = ("video", "frame", "video-v1", "frame-v1", "segment")
V2_CLASSES = 3862
V1_CLASSES = 4716
MAX_FRAMES = 300
RGB_WIDTH, AUDIO_WIDTH = 1024, 128
SEGMENT_SECONDS = 5
_ID_CHARS = string.ascii_letters + string.digits


def _labels(rng: np.random.Generator, classes: int) -> np.ndarray:
    count = int(rng.integers(1, 7))
    # A long tail: low class ids (the common ones in the real vocabulary) come up far more often.
    drawn = np.minimum((rng.pareto(0.8, size=count * 2) * 40).astype(np.int64), classes - 1)
    return np.unique(drawn)[:count]


def _id(rng: np.random.Generator, code: str) -> str:
    return "".join(_ID_CHARS[i] for i in rng.integers(0, len(_ID_CHARS), 2)) + code


def _quantized_frames(rng: np.random.Generator, frames: int, width: int) -> np.ndarray:
    return np.clip(rng.normal(128, 36, size=(frames, width)), 0, 255).astype(np.uint8)


def video_level_record(rng: np.random.Generator, *, code: str = "dw", version: int = 2) -> Record:
    """A video-level record (``tf.train.Example``)."""
    record: Record = {"id": _id(rng, code), "labels": _labels(rng, V1_CLASSES if version == 1 else V2_CLASSES),
                      "mean_rgb": rng.normal(0, 0.35, RGB_WIDTH).astype(np.float32),
                      "mean_audio": rng.normal(0, 0.5, AUDIO_WIDTH).astype(np.float32)}
    if version == 1:
        record = {"video_id": record.pop("id"), **record}
    return record


def frame_level_record(rng: np.random.Generator, *, code: str = "dw", version: int = 2, frames: int | None = None,
                 segments: bool = False) -> Record:
    """A frame-level record (``tf.train.SequenceExample``), ``frames`` long (default: 60 to 300 at random)."""
    count = int(rng.integers(60, MAX_FRAMES + 1)) if frames is None else frames
    labels = _labels(rng, V1_CLASSES if version == 1 else V2_CLASSES)
    record: Record = {"video_id" if version == 1 else "id": _id(rng, code), "labels": labels}
    if segments:
        rated = int(rng.integers(1, 6))
        record["segment_labels"] = rng.choice(labels, size=rated).astype(np.int64)
        # Start times are whole multiples of the segment length; some lie past the last frame, as in the real data.
        record["segment_start_times"] = (rng.integers(0, count // SEGMENT_SECONDS + 3, rated) * SEGMENT_SECONDS
                                         ).astype(np.int64)
        record["segment_scores"] = rng.integers(0, 2, rated).astype(np.float32)
    record["rgb"] = _quantized_frames(rng, count, RGB_WIDTH)
    record["audio"] = _quantized_frames(rng, count, AUDIO_WIDTH)
    return record


def sample_records(kind: str, n: int, seed: int = 0, *, code: str = "dw", frames: int | None = None
                   ) -> Iterator[Record]:
    """``n`` records of ``kind`` (one of :data:`KINDS`), deterministic given ``seed``."""
    if kind not in KINDS:
        raise ValueError(f"unknown sample kind {kind!r}; expected one of {', '.join(KINDS)}")
    rng = np.random.default_rng(seed)
    version = 1 if kind.endswith("-v1") else 2
    for _ in range(n):
        if kind.startswith("video"):
            yield video_level_record(rng, code=code, version=version)
        else:
            yield frame_level_record(rng, code=code, version=version, frames=frames, segments=kind == "segment")


def write_sample_shard(path: str | os.PathLike, kind: str, n: int, seed: int = 0, *, frames: int | None = None
                       ) -> Path:
    """Write ``n`` sample records of ``kind`` as a TFRecord shard at ``path`` (atomically); return the path.

    The ids end with the two-character code of a real shard name (``train0208.tfrecord`` is ``traindw``); other
    names get ``dw``.
    """
    path = Path(path)
    write_records(path, sample_records(kind, n, seed, code=_shard_code(path.name), frames=frames))
    return path


def _shard_code(name: str) -> str:
    """The two-character code of a local shard name (``train0208.tfrecord`` -> ``dw``), else ``dw``."""
    digits = "".join(ch for ch in name.split(".")[0] if ch.isdigit())[-4:]
    if len(digits) == 4 and int(digits) < len(_ID_CHARS) ** 2:
        first, second = divmod(int(digits), len(_ID_CHARS))
        return _ID_CHARS[first] + _ID_CHARS[second]
    return "dw"
