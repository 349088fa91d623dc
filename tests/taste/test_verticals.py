"""ImageNet classes onto YouTube-8M entities and verticals: the shipped slim vocabulary, the rule on real WordNet 3.0
and on a small hand-made hierarchy, the memo, and real photos through the real offline tagger."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path

import pytest

from reelset.core.errors import ReelsetError
from reelset.features import extract_video_features
from reelset.taste import verticals
from reelset.taste.constants import DEFAULT_TOP_K
from reelset.taste.predict import load_tagger, top_labels, video_vertical
from reelset.taste.samples import make_photo_video, sample_photo
from reelset.taste.tagger import NUM_CLASSES, Synset, data_noun_path
from reelset.taste.verticals import (
    ENTITIES_CSV,
    OTHER,
    VERTICALS,
    Entity,
    imagenet_mapping,
    load_entities,
    map_classes,
)
from reelset.yt8m.vocabulary import load_vocabulary

REPO = Path(__file__).resolve().parents[2]
FULL_VOCABULARY = REPO.parent / "shared" / "data" / "yt8m-vocabulary.csv"  # not in a clean clone (CI)
SCRIPT = REPO / "scripts" / "make_yt8m_entities.py"
PETS, FOOD, VEHICLES, SCIENCE = "Pets & Animals", "Food & Drink", "Autos & Vehicles", "Science"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("verticals-cache")


@pytest.fixture(scope="module")
def mapping(cache):
    """The real table, computed once for the module (and memoized in ``cache``)."""
    return imagenet_mapping(cache_dir=cache)


@pytest.fixture(scope="module")
def by_name(mapping):
    return {item.name: item for item in mapping}


def load_script():
    spec = importlib.util.spec_from_file_location("make_yt8m_entities", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------------ the slim vocabulary


@pytest.mark.skipif(not FULL_VOCABULARY.is_file(), reason=f"{FULL_VOCABULARY} is not here (a clean clone)")
def test_the_shipped_file_is_the_full_vocabulary_slimmed():
    full = load_vocabulary(FULL_VOCABULARY)
    assert [(entity.index, entity.id, entity.name, entity.verticals) for entity in load_entities()] == [
        (entry.index, entry.knowledge_graph_id, entry.name, entry.verticals) for entry in full.entries]
    # The script makes the same bytes again from the full file.
    assert load_script().slim_csv(FULL_VOCABULARY) == ENTITIES_CSV.read_text(encoding="utf-8")


def test_the_readme_attributes_and_pins_both_files():
    readme = (ENTITIES_CSV.parent / "README.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in readme and "YouTube-8M, Google" in readme
    assert hashlib.md5(ENTITIES_CSV.read_bytes()).hexdigest() in readme
    assert load_script().SOURCE_MD5 in readme
    shared_readme = FULL_VOCABULARY.with_name("README.md")
    if shared_readme.is_file():  # the project's reference data names the same md5 for the full file
        assert load_script().SOURCE_MD5 in shared_readme.read_text(encoding="utf-8")


def test_the_script_refuses_another_file(tmp_path, capsys):
    other = tmp_path / "vocabulary.csv"
    other.write_text("Index,TrainVideoCount,KnowledgeGraphId,Name,WikiUrl,Vertical1,Vertical2,Vertical3,"
                     "WikiDescription\n0,1,/m/x,Game,,Games,,,\n")
    assert load_script().main([str(other), str(tmp_path / "out.csv")]) == 1
    assert "expected 88fe263c78a429e7325a5bbe4edc2947" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_the_entities_and_their_verticals():
    entities = load_entities()
    assert len(entities) == 3862 and [entity.index for entity in entities] == list(range(3862))
    assert entities[0] == Entity(0, "/m/03bt1gh", "Game", ("Games",))
    assert entities[170] == Entity(170, "/m/01yrx", "Cat", (PETS,))
    assert entities[59].name == "Fish" and entities[59].verticals == ("Business & Industrial", PETS, SCIENCE)
    assert sum(not entity.name for entity in entities) == 56  # the vocabulary leaves a few unnamed
    assert all(1 <= len(entity.verticals) <= 3 for entity in entities)
    # The 25 verticals (one of them YouTube-8M's own "(Unknown)") and Other, which no entity has.
    assert sorted({vertical for entity in entities for vertical in entity.verticals}) == sorted(VERTICALS[:-1])
    assert len(VERTICALS) == 26 and VERTICALS[-1] == OTHER == "Other"


@pytest.mark.parametrize("text, problem", [
    ("Index,id,name,verticals\n0,/m/x,Game,Games\n", "header index,id,name,verticals expected"),
    ("index,id,name,verticals\n0,/m/x,Game,Games\n2,/m/y,Cat,Pets & Animals\n", ":3: expected index 1"),
])
def test_a_bad_entities_file_is_one_clear_line(tmp_path, text, problem):
    path = tmp_path / "entities.csv"
    path.write_text(text)
    with pytest.raises(ReelsetError, match=problem) as raised:
        load_entities(path)
    assert "\n" not in str(raised.value)


# ------------------------------------------------------------------------------------------------ the real table


@pytest.mark.parametrize("name, entity, vertical", [
    ("Egyptian cat", "Cat", PETS),
    ("tabby", "Cat", PETS),
    ("golden retriever", "Golden Retriever", PETS),
    ("espresso", "Food", FOOD),
    ("pizza", "Pizza", FOOD),
    ("sports car", "Sports car", VEHICLES),
    ("mountain bike", "Mountain bike", VEHICLES),
    ("acoustic guitar", "Acoustic guitar", "Arts & Entertainment"),
    ("space shuttle", "Space Shuttle", VEHICLES),
    ("missile", "Missile", "Law & Government"),
    ("motor scooter", "Scooter (motorcycle)", VEHICLES),  # a qualified name the chain confirms (Vehicle)
    ("mouse", "Computer mouse", "Computers & Electronics"),  # the class's other lemma, not the animal
    ("tench", "Fish", PETS),  # Fish is Business & Industrial first; under Animal the chain picks its second
    ("kite", "Hawk", PETS),  # the bird, not Kite the toy (Hobbies & Leisure)
    ("crane (wading bird)", "Bird", PETS),  # not Crane (machine)
    ("cricket", "Insect", SCIENCE),  # not Cricket the sport
    ("binder", None, OTHER),  # no made-up "protective covering"
    ("seashore", None, OTHER),
])
def test_named_classes_read_as_a_person_expects(by_name, name, entity, vertical):
    assert (by_name[name].entity, by_name[name].vertical) == (entity, vertical)


def test_the_confidence_falls_with_the_steps_and_doubt(by_name):
    assert (by_name["pizza"].confidence, by_name["pizza"].steps, by_name["pizza"].lemma) == (1.0, 0, "pizza")
    assert by_name["Egyptian cat"].steps == 2 and by_name["Egyptian cat"].lemma == "cat"
    assert by_name["Egyptian cat"].confidence == pytest.approx(0.8 ** 2)
    assert by_name["tench"].confidence == pytest.approx(0.8 ** by_name["tench"].steps, abs=1e-4)  # 4 decimals
    # "scooter" means a water scooter first in WordNet: sure only because the chain confirms it, so halved.
    assert by_name["motor scooter"].confidence == 0.5


def test_every_class_has_a_real_vertical_or_other(mapping):
    entities = load_entities()
    assert [item.index for item in mapping] == list(range(NUM_CLASSES))
    for item in mapping:
        if item.entity is None:
            assert (item.entity_index, item.vertical, item.confidence, item.lemma, item.steps) == (
                None, OTHER, 0.0, None, None)
        else:
            assert entities[item.entity_index].name == item.entity
            assert item.vertical in entities[item.entity_index].verticals and item.vertical != OTHER
            assert 0 < item.confidence <= 1 and item.steps >= 0
    mapped = sum(item.entity is not None for item in mapping)
    assert f"maps {mapped} of the 1,000 classes" in verticals.__doc__  # the docstring stays true
    assert 700 <= mapped < NUM_CLASSES


def test_the_table_prints_with_its_counts(mapping, monkeypatch, capsys):
    monkeypatch.setattr(verticals, "compute_mapping", lambda data_noun: mapping)
    assert verticals.main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[285].split() == ["285", "Egyptian", "cat", "->", "Cat", "(Pets", "&", "Animals)", "0.64",
                                  "'cat'", "+2"]
    assert lines[446].split()[-2:] == ["->", OTHER]
    counts = {line[7:]: int(line[:5]) for line in lines[NUM_CLASSES + 2:]}
    assert sum(counts.values()) == NUM_CLASSES and counts[OTHER] == sum(item.entity is None for item in mapping)
    assert list(counts) == [vertical for vertical in VERTICALS if vertical in counts]


# ------------------------------------------------------------------------------------ the rule, clause by clause


def small_world():
    """13 classes: 6 animals under ``animal`` (not generic: 6 of 13), 7 artifacts under ``artifact`` (generic: more
    than half) under ``entity``."""
    tree = {
        "entity": [], "artifact": ["entity"], "person": ["entity"], "animal": ["entity"], "bird": ["animal"],
        "insect": ["animal"], "fish": ["animal"], "device": ["artifact"], "container": ["artifact"],
        "hammer": ["device"],
    }
    classes = {
        "robin": "bird", "kite_bird": "bird", "crane_bird": "bird", "cricket": "insect", "bee": "insect",
        "tench": "fish", "kite_toy": "device", "crane_machine": "device", "mug": "container", "jar": "container",
        "hammer_class": "hammer", "sledge": "hammer", "thing": "artifact",
    }
    lemmas = {"kite_bird": ("kite",), "kite_toy": ("kite",), "crane_bird": ("crane",), "crane_machine": ("crane",),
              "crane_person": ("Crane",), "hammer": ("hammer", "pounder"), "hammer_class": ("hammer", "pounder"),
              "thing": ("thing",)}
    synsets = {offset: Synset(offset, lemmas.get(offset, (offset,)), tuple(parents))
               for offset, parents in (tree | {"crane_person": ["person"]}).items()}
    synsets |= {offset: Synset(offset, lemmas.get(offset, (offset,)), (parent,)) for offset, parent in classes.items()}
    senses = {"kite": ("kite_toy", "kite_bird"), "crane": ("crane_person", "crane_machine", "crane_bird")}
    names = [
        ("Entity", "Games"), ("Artifact", "Games"), ("Animal", PETS), ("Bird", f"{PETS}|{SCIENCE}"),
        ("Insect", SCIENCE), ("Bee", SCIENCE), ("Cricket", "Sports"), ("Kite", "Hobbies & Leisure"),
        ("Crane (machine)", "Business & Industrial"), ("Fish", f"Business & Industrial|{PETS}|{SCIENCE}"),
        ("Mug", "Home & Garden"), ("Mug (container)", "Home & Garden"), ("Jars", "Home & Garden"),
        ("Pounder", "Sports"), ("Thing", "Games"),
    ]
    entities = [Entity(index, f"/m/{index}", name, tuple(verts.split("|"))) for index, (name, verts) in
                enumerate(names)]
    mapped = map_classes(synsets, senses, [f"n{offset}" for offset in classes], list(classes), entities)
    return {item.name: item for item in mapped}


@pytest.mark.parametrize("name, entity, vertical, steps, confidence", [
    ("robin", "Bird", PETS, 1, 0.8),  # climbs; Bird's first vertical, also Animal's
    ("kite_bird", "Bird", PETS, 1, 0.8),  # "kite" is first the toy; no entity lists H&L with the birds' verticals
    ("kite_toy", "Kite", "Hobbies & Leisure", 0, 1.0),  # the first sense: sure, nothing above to contradict it
    ("crane_bird", "Bird", PETS, 1, 0.8),  # "machine" is not on the bird's path
    ("crane_machine", None, OTHER, None, 0.0),  # unsure and nothing above confirms it: dropped
    ("cricket", "Insect", SCIENCE, 1, 0.8),  # Sports is listed with neither Science nor Pets & Animals: a homonym
    ("bee", "Bee", SCIENCE, 0, 1.0),  # Science is related to Animal's vertical (Bird lists both)
    ("tench", "Fish", PETS, 1, 0.8),  # the first of Fish's verticals that Animal also lists
    ("mug", "Mug", "Home & Garden", 0, 0.5),  # two entities for one lemma halve it; the unqualified name wins
    ("jar", "Jars", "Home & Garden", 0, 1.0),  # a simple plural
    ("hammer_class", "Pounder", "Sports", 0, 1.0),  # at the class itself every lemma counts
    ("sledge", None, OTHER, None, 0.0),  # above it only the first lemma ("hammer": no entity)
    ("thing", "Thing", "Games", 0, 1.0),
])
def test_the_rule_on_a_small_hierarchy(name, entity, vertical, steps, confidence):
    item = small_world()[name]
    assert (item.entity, item.vertical, item.steps) == (entity, vertical, steps)
    assert item.confidence == pytest.approx(confidence)


def test_generic_synsets_name_nothing():
    # Entities named "Entity" and "Artifact" exist, but those synsets are above more than half of the classes.
    assert {item.entity for item in small_world().values()}.isdisjoint({"Entity", "Artifact"})


# ------------------------------------------------------------------------------------------------ the memo and errors


def test_the_table_is_memoized_and_made_again_when_an_input_changes(tmp_path, mapping, cache, monkeypatch):
    memo = list((cache / "taste").glob("yt8m-verticals-*.json"))
    assert len(memo) == 1

    def not_again(*args):
        raise AssertionError("mapped again")

    monkeypatch.setattr(verticals, "compute_mapping", not_again)
    assert imagenet_mapping(cache_dir=cache) == mapping  # from the memo
    wordnet = tmp_path / "wordnet"
    wordnet.mkdir()
    for name in ("data.noun", "index.noun"):
        shutil.copy(data_noun_path().with_name(name), wordnet / name)
    assert imagenet_mapping(wordnet, cache_dir=cache) == mapping  # same bytes elsewhere: same key
    entities = tmp_path / "entities.csv"
    entities.write_text(ENTITIES_CSV.read_text(encoding="utf-8").replace(",Cat,", ",Kitty,"), encoding="utf-8")
    with pytest.raises(AssertionError, match="mapped again"):  # another vocabulary: another key
        imagenet_mapping(wordnet, entities_csv=entities, cache_dir=cache)
    with open(wordnet / "index.noun", "a") as handle:  # another WordNet: another key
        handle.write("\n")
    with pytest.raises(AssertionError, match="mapped again"):
        imagenet_mapping(wordnet, cache_dir=cache)
    memo[0].write_text("{damaged")  # a damaged memo is made again
    with pytest.raises(AssertionError, match="mapped again"):
        imagenet_mapping(cache_dir=cache)


def test_a_missing_index_noun_is_one_clear_line(tmp_path):
    shutil.copy(data_noun_path(), tmp_path / "data.noun")
    with pytest.raises(ReelsetError, match="index.noun is missing") as raised:
        imagenet_mapping(tmp_path, cache_dir=tmp_path)
    assert "wordnet-base" in str(raised.value) and "\n" not in str(raised.value)


# ------------------------------------------------------------------------------------------------ real photos


@pytest.fixture(scope="module")
def offline_tagger(cache):
    return load_tagger(None, device="cpu", cache_dir=cache)


@pytest.mark.parametrize("photo, entity, vertical", [("chelsea", "Cat", PETS), ("coffee", "Food", FOOD)])
def test_real_photos_land_in_their_vertical(offline_tagger, tmp_path, photo, entity, vertical):
    """The offline tagger speaks YouTube-8M: the photo's ImageNet classes (Egyptian cat, tabby; espresso) add up
    to their entity, which is the top label, sure, in the right vertical; so is the video's vertical."""
    tagger, backbone = offline_tagger
    video = make_photo_video(sample_photo(photo), tmp_path / f"{photo}.mp4", seconds=2, size=(300, 200))
    scores, frame_scores = tagger.scores(extract_video_features(video, backbone=backbone))
    assert scores.shape == (len(tagger.names),) and frame_scores.shape[1] == len(tagger.names)
    assert scores.sum() == pytest.approx(1.0, abs=1e-3)  # the 1,000 class probabilities, regrouped
    top = top_labels(scores, tagger.names, tagger.groups, 1, tagger.unsure)[0]
    assert (top.name, top.category, top.unsure) == (entity, vertical, False), top
    assert video_vertical(top_labels(scores, tagger.names, tagger.groups, DEFAULT_TOP_K, tagger.unsure)) == vertical
