"""Inside YouTube-8M TFRecord files (``reelset yt8m inspect``): counts, shapes, labels, in one pass, flat memory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reelset.yt8m.records import read_records

if TYPE_CHECKING:  # only a type here: the vocabulary module also downloads, with requests
    from reelset.yt8m.vocabulary import Vocabulary

Record = dict[str, Any]


def level_of(record: Record) -> str:
    """``frame`` for a SequenceExample's record (frame features), else ``video``."""
    return "frame" if any(isinstance(value, np.ndarray) and value.ndim == 2 for value in record.values()) else "video"


def feature_shapes(record: Record) -> dict[str, list[int]]:
    """The shape of every feature array of a record (labels and scalars left out), e.g. ``{"rgb": [300, 1024]}``."""
    return {name: list(value.shape) for name, value in record.items()
            if isinstance(value, np.ndarray) and name != "labels" and value.dtype != np.int64}


@dataclass
class FileStats:
    path: str
    records: int = 0
    frames: int = 0
    ids: set[str] = field(default_factory=set)
    levels: Counter = field(default_factory=Counter)
    features: dict[str, str] = field(default_factory=dict)  # name -> "(n, 1024) uint8"
    backbones: Counter = field(default_factory=Counter)


@dataclass
class Inspection:
    files: list[FileStats]
    labels: Counter
    corrupt: list[str]

    @property
    def records(self) -> int:
        return sum(stats.records for stats in self.files)


def _describe(value: np.ndarray) -> str:
    dims = ", ".join(["n", *map(str, value.shape[1:])] if value.ndim == 2 else map(str, value.shape))
    return f"({dims}) {value.dtype}"


def inspect_records(
    paths: Iterable[Path],
    *,
    skip_corrupt: bool = False,
    vocabulary: Vocabulary | None = None,
    on_record: Callable[[str, int, Record], None] | None = None,
    on_corrupt: Callable[[str], None] | None = None,
) -> Inspection:
    """Read every record once and gather per-file counts and the label histogram.

    Args:
        vocabulary: when given, every label id is checked against it (an id outside it is an error).
        on_record: called with ``(file, index, record)`` for each good record (the ``--json`` lines).

    Raises:
        CorruptRecordError: the first bad record, unless ``skip_corrupt``.
        VocabularyError: a label id the vocabulary does not have.
    """
    corrupt: list[str] = []

    def note_corrupt(message: str) -> None:
        corrupt.append(message)
        if on_corrupt:
            on_corrupt(message)

    labels: Counter = Counter()
    paths = [str(path) for path in paths]
    files = {path: FileStats(path) for path in paths}
    records: Iterator[tuple[str, int, Record]] = read_records(paths, skip_corrupt=skip_corrupt,
                                                             on_corrupt=note_corrupt, positions=True)
    for path, index, record in records:
        stats = files[path]
        stats.records += 1
        stats.ids.add(record["id"])
        stats.levels[level_of(record)] += 1
        for name, value in record.items():
            if isinstance(value, np.ndarray) and name != "labels" and value.dtype != np.int64:
                stats.features.setdefault(name, _describe(value))
        if "rgb" in record:
            stats.frames += len(record["rgb"])
        backbone = record.get("backbone")  # YouTube-8M's own records carry none: they are inception-yt8m
        stats.backbones[backbone.decode("utf-8", "replace") if isinstance(backbone, bytes) else "inception-yt8m"] += 1
        ids = record["labels"].tolist()
        if vocabulary is not None:
            vocabulary.check_ids(ids, where=f"{path}: record {index}")
        labels.update(ids)
        if on_record:
            on_record(path, index, record)
    return Inspection(list(files.values()), labels, corrupt)


def inspection_lines(inspection: Inspection, *, vocabulary: Vocabulary | None, top_k: int) -> list[str]:
    """The table of ``reelset yt8m inspect``, one plain line each: a line per file, the total, then the ``top_k``
    most frequent labels under a header (with their names and verticals when ``vocabulary`` is given)."""
    lines = []
    for stats in inspection.files:
        level = "/".join(sorted(stats.levels)) or "-"
        features = ", ".join(f"{name} {shape}" for name, shape in stats.features.items()) or "-"
        backbone = ", ".join(sorted(stats.backbones)) or "-"
        lines.append(f"{stats.path}: {level} level, {stats.records} records, {len(stats.ids)} videos, "
                     f"{stats.frames} frames; features: {features}; backbone: {backbone}")
    videos = len(set().union(*(stats.ids for stats in inspection.files))) if inspection.files else 0
    frames = sum(stats.frames for stats in inspection.files)
    lines.append(f"total: {len(inspection.files)} files, {inspection.records} records, {videos} videos, "
                 f"{frames} frames, {sum(inspection.labels.values())} labels of {len(inspection.labels)} classes, "
                 f"{len(inspection.corrupt)} corrupt records skipped")
    if inspection.labels and top_k:
        shown = min(top_k, len(inspection.labels))
        if vocabulary is None:
            lines.append(f"top {shown} labels (ids only: for their names run `reelset yt8m vocab` once, or give "
                         "--vocabulary FILE):")
        else:
            lines.append(f"top {shown} labels:")
        lines.append(f"  {'label':>5} {'count':>8}" + ("  name (vertical)" if vocabulary is not None else ""))
        for label, count in inspection.labels.most_common(top_k):
            name = ""
            if vocabulary is not None:
                vertical = vocabulary.vertical(label)
                name = f"  {vocabulary.display_name(label)}" + (f" ({vertical})" if vertical else "")
            lines.append(f"  {label:>5} {count:>8}{name}")
    return lines
