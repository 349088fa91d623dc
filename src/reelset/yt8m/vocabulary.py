"""The YouTube-8M v2 vocabulary (``vocabulary.csv``, 3,862 classes): load it, check label ids, fetch it once.

The official file (:data:`OFFICIAL_URL`) has the header :data:`V2_HEADER`, one row per class with ``Index`` running
0..3861 without gaps, a few rows without a ``Name``, quoted ``WikiDescription`` fields (``""`` inside quotes is a
quote), and up to three verticals per class out of 25 (``Games``, ``Autos & Vehicles``, ..., ``(Unknown)``).

The 2017 (v1) vocabulary ``label_names.csv`` (``label_id,label_name``, 4,716 classes) numbers the classes
differently: v1 id 1 is Vehicle, v2 id 1 is Video game. Names taken from it for v2 data are silently wrong for
every video, so :func:`load_vocabulary` recognises it and refuses it for v2 data.

:func:`fetch_vocabulary` downloads the official file into a cache (``$REELSET_CACHE_DIR``, else
``$XDG_CACHE_HOME/reelset``, else ``~/.cache/reelset``; the file is ``<cache>/yt8m/vocabulary.csv``) through
:mod:`reelset.core.http`, and validates it before it takes that name. Commands that show class names take
``--vocabulary PATH`` and fall back on the cached file through :func:`resolve_vocabulary`.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from reelset.core.atomic import check_output, fsync_dir
from reelset.core.cache import default_cache_dir
from reelset.core.errors import ReelsetError
from reelset.core.textfile import read_text
from reelset.yt8m.constants import OFFICIAL_URL

V2_HEADER = ("Index", "TrainVideoCount", "KnowledgeGraphId", "Name", "WikiUrl", "Vertical1", "Vertical2", "Vertical3",
             "WikiDescription")
V1_HEADER = ("label_id", "label_name")
V2_CLASSES = 3862
V1_CLASSES = 4716
FILE_NAME = "vocabulary.csv"
CACHE_SUBDIR = "yt8m"

__all__ = ["OFFICIAL_URL", "FetchedVocabulary", "Vocabulary", "VocabularyEntry", "VocabularyError",
           "cached_vocabulary_path", "default_cache_dir", "fetch_vocabulary", "load_vocabulary", "resolve_vocabulary"]


class VocabularyError(ReelsetError):
    """A vocabulary file that cannot be used (wrong version, malformed), or a label id it does not have."""


@dataclass(frozen=True)
class VocabularyEntry:
    """One class, field by field as in ``vocabulary.csv`` (v1 files fill ``index`` and ``name`` only)."""

    index: int
    name: str
    train_video_count: int | None = None
    knowledge_graph_id: str = ""
    wiki_url: str = ""
    verticals: tuple[str, ...] = ()  # Vertical1..3, empty ones left out
    wiki_description: str = ""


class Vocabulary:
    """Class names and verticals by label id.

    Args:
        entries: one per class, ``entries[i].index == i``.
        source: where it was read from (file path or URL), named in error messages.
        path: the file it was read from.
        version: 2 for ``vocabulary.csv``, 1 for the 2017 ``label_names.csv``.
    """

    def __init__(self, entries: list[VocabularyEntry], *, source: str = "vocabulary", version: int = 2,
                 path: Path | None = None):
        self.entries = entries
        self.source = source
        self.version = version
        self.path = path  # the file it was read from, when it was read from one
        self._by_name: dict[str, list[int]] = {}
        for entry in entries:
            if entry.name:
                self._by_name.setdefault(entry.name.casefold(), []).append(entry.index)

    @property
    def size(self) -> int:
        return len(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"Vocabulary(v{self.version}, {self.size} classes, {self.source})"

    def entry(self, label_id: int) -> VocabularyEntry:
        self.check_ids([label_id])
        return self.entries[label_id]

    def name(self, label_id: int) -> str:
        """The class's ``Name`` as in the file: empty for the few classes without one."""
        return self.entry(label_id).name

    def display_name(self, label_id: int) -> str:
        """A name fit for a table: ``Name``, else the Knowledge Graph id, else ``class <id>``."""
        entry = self.entry(label_id)
        return entry.name or entry.knowledge_graph_id or f"class {label_id}"

    def vertical(self, label_id: int) -> str:
        """The class's first vertical (``Vertical1``); empty when it has none."""
        verticals = self.entry(label_id).verticals
        return verticals[0] if verticals else ""

    @property
    def verticals(self) -> list[str]:
        """Every vertical named in the file (any of the three columns), sorted."""
        return sorted({vertical for entry in self.entries for vertical in entry.verticals})

    def index_of(self, name: str) -> int:
        """The label id of a class name: the exact spelling first, else ignoring case.

        Raises:
            VocabularyError: no class has that name, or several do.
        """
        ids = self._by_name.get(name.casefold(), [])
        exact = [label_id for label_id in ids if self.entries[label_id].name == name]
        ids = exact if len(exact) == 1 else ids
        if len(ids) != 1:
            problem = "no class is named" if not ids else f"several classes ({', '.join(map(str, ids))}) are named"
            raise VocabularyError(f"{self.source}: {problem} {name!r}")
        return ids[0]

    def check_ids(self, label_ids: Iterable[int], *, where: str = "") -> None:
        """Raise :class:`VocabularyError` naming the first label id outside ``0..size-1``.

        Args:
            where: what holds the ids (``"train0208.tfrecord record 12"``), put first in the message.
        """
        for label_id in label_ids:
            label_id = int(label_id)
            if not 0 <= label_id < self.size:
                hint = ""
                if self.version == 2 and V2_CLASSES <= label_id < V1_CLASSES:
                    hint = f"; ids up to {V1_CLASSES - 1} are v1's (2017): is this v1 data?"
                prefix = f"{where}: " if where else ""
                raise VocabularyError(f"{prefix}label id {label_id} is out of range: the vocabulary {self.source} has "
                                      f"{self.size} classes (ids 0..{self.size - 1}){hint}")


# ---------------------------------------------------------------------------------------------------------------------
# Reading


def _v1_refusal(source: str) -> VocabularyError:
    return VocabularyError(
        f"{source} is the 2017 (v1) vocabulary label_names.csv (label_id,label_name, {V1_CLASSES:,} classes), whose "
        f"ids do not match YouTube-8M v2 data (v1 id 1 = Vehicle, v2 id 1 = Video game): use the v2 vocabulary.csv "
        f"({V2_CLASSES:,} classes; `reelset yt8m vocab` downloads it)")


def _parse_v2(reader, source: str) -> list[VocabularyEntry]:
    entries = []
    for row in reader:
        line = reader.line_num
        if not row:
            continue
        if len(row) != len(V2_HEADER):
            raise VocabularyError(f"{source}: line {line} has {len(row)} fields, expected {len(V2_HEADER)}")
        index_text, count_text, kg_id, name, wiki_url, *verticals, description = row
        if index_text != str(len(entries)):
            raise VocabularyError(f"{source}: line {line} has Index {index_text!r} where {len(entries)} was expected "
                                  f"(indices must run 0, 1, 2, ... without gaps)")
        try:
            count = int(count_text) if count_text else None
        except ValueError:
            raise VocabularyError(f"{source}: line {line} has TrainVideoCount {count_text!r}, not a number") from None
        entries.append(VocabularyEntry(index=len(entries), name=name, train_video_count=count,
                                       knowledge_graph_id=kg_id, wiki_url=wiki_url,
                                       verticals=tuple(vertical for vertical in verticals if vertical),
                                       wiki_description=description))
    return entries


def _parse_v1(reader, source: str) -> list[VocabularyEntry]:
    names: dict[int, str] = {}
    for row in reader:
        if not row:
            continue
        try:
            names[int(row[0])] = row[1] if len(row) > 1 else ""
        except ValueError:
            raise VocabularyError(f"{source}: line {reader.line_num} has label_id {row[0]!r}, not a number") from None
    if sorted(names) != list(range(len(names))):
        raise VocabularyError(f"{source}: label_id values must run 0, 1, 2, ... without gaps")
    return [VocabularyEntry(index=index, name=names[index]) for index in range(len(names))]


def _parse(text: str, source: str, data_version: int) -> Vocabulary:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = tuple(cell.strip() for cell in next(reader, []))
    if header == V1_HEADER:
        if data_version != 1:
            raise _v1_refusal(source)
        return Vocabulary(_parse_v1(reader, source), source=source, version=1)
    if header != V2_HEADER:
        shown = ",".join(header)[:120] or "nothing"
        raise VocabularyError(f"{source}: not a YouTube-8M vocabulary.csv: the header is {shown!r}, expected "
                              f"{','.join(V2_HEADER)!r}")
    if data_version == 1:
        raise VocabularyError(f"{source} is the v2 vocabulary.csv, whose ids do not match v1 (2017) data: use v1's "
                              f"label_names.csv")
    entries = _parse_v2(reader, source)
    if not entries:
        raise VocabularyError(f"{source}: the vocabulary has a header but no classes")
    return Vocabulary(entries, source=source, version=2)


def load_vocabulary(path: Path, *, data_version: int = 2, source: str | None = None) -> Vocabulary:
    """Read a vocabulary file for data of ``data_version`` (2: YouTube-8M 2018 and later; 1: the 2017 release).

    Args:
        source: the name used in error messages (default: the path).

    Raises:
        VocabularyError: file missing or unreadable, a v1 ``label_names.csv`` for v2 data (or the reverse), a
            header that is neither, a malformed row, indices that do not run 0, 1, 2, ...
    """
    path = Path(path)
    source = source or str(path)
    try:
        text = read_text(path, expected="a vocabulary.csv", missing="vocabulary file not found")
    except ReelsetError as exc:  # missing, a folder, unreadable, binary, not UTF-8: named as the caller names it
        raise VocabularyError(source + str(exc).removeprefix(str(path))) from None
    try:
        vocabulary = _parse(text, source, data_version)
    except csv.Error as exc:
        raise VocabularyError(f"{source}: malformed CSV ({exc})") from None
    vocabulary.path = path
    return vocabulary


# ---------------------------------------------------------------------------------------------------------------------
# Cache and download


def cached_vocabulary_path(cache_dir: Path | None = None) -> Path:
    """Where :func:`fetch_vocabulary` keeps the file: ``<cache>/yt8m/vocabulary.csv``."""
    return Path(cache_dir or default_cache_dir()) / CACHE_SUBDIR / FILE_NAME


@dataclass(frozen=True)
class FetchedVocabulary:
    path: Path
    vocabulary: Vocabulary
    downloaded: bool  # False: the cached file was used
    bytes: int


def fetch_vocabulary(url: str = OFFICIAL_URL, cache_dir: Path | None = None, *, refresh: bool = False,
                     on_progress: Callable[[int, int | None], None] | None = None,
                     timeout: float = 30, retries: int = 4) -> FetchedVocabulary:
    """The cached official vocabulary, downloaded first when it is not cached yet (or ``refresh``).

    The download lands in ``vocabulary.csv.download`` beside the cached file and is validated (header, contiguous
    indices, v1 refused) before it replaces ``vocabulary.csv``, so the cache never holds an invalid file.

    Raises:
        ReelsetError: the cache folder cannot be written (checked before the download).
        HttpError: the download failed.
        VocabularyError: the downloaded file is not a v2 vocabulary (it is deleted), or the cached one is damaged.
    """
    from reelset.core.http import download_file, part_path  # requests: only when something is downloaded

    target = cached_vocabulary_path(cache_dir)
    if target.exists() and not refresh:
        try:
            vocabulary = load_vocabulary(target)
        except VocabularyError as exc:
            raise VocabularyError(f"{exc} (cached file: run `reelset yt8m vocab --refresh` to download it again)") \
                from None
        return FetchedVocabulary(target, vocabulary, downloaded=False, bytes=target.stat().st_size)
    check_output(target)  # before the download: a cache that cannot be written is the error, not the network
    staging = target.with_name(FILE_NAME + ".download")
    # A leftover partial download may come from another URL: the file is small, start afresh.
    part_path(staging).unlink(missing_ok=True)
    download_file(url, staging, timeout=timeout, retries=retries, on_progress=on_progress)
    try:
        vocabulary = load_vocabulary(staging, source=url)
    except VocabularyError:
        staging.unlink(missing_ok=True)
        raise
    os.replace(staging, target)
    fsync_dir(target.parent)
    vocabulary.path = target
    return FetchedVocabulary(target, vocabulary, downloaded=True, bytes=target.stat().st_size)


def resolve_vocabulary(path: Path | None, *, cache_dir: Path | None = None, data_version: int = 2) -> Vocabulary | None:
    """The vocabulary a command should show names with: ``path`` when given (``--vocabulary``), else the cached
    official file when it has been fetched, else None (show bare label ids).

    Raises:
        VocabularyError: ``path`` (or the cached file) cannot be used, e.g. it is v1's ``label_names.csv``.
    """
    if path is not None:
        return load_vocabulary(Path(path), data_version=data_version)
    cached = cached_vocabulary_path(cache_dir)
    if data_version == 2 and cached.exists():
        return load_vocabulary(cached)
    return None
