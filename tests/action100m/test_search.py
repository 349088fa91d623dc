"""`action100m index` and `search`: the real MiniLM model, real SQLite FTS5, real parquet shards.

The corpus is the sample generator's rows (one shard) plus hand-made videos whose captions are known (another
shard), so that a paraphrase has one right answer. The model is loaded once for the module (the index builds share
it); indexes that a test changes are built from the small hand-made shard alone, in a folder of their own.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

from reelset.action100m import search_index
from reelset.action100m.query import RRF_K, Hit, build_search_index, fulltext_query, group_hits, search
from reelset.action100m.search_index import summary_lines
from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.sandbox.action100m_sample import make_sample_rows, write_parquet

TOAST = "a man dips toast into a soft-boiled egg"
# The sample's captions are full of eggs and banana bread: "dunking bread in a runny egg" is ranked 7th there by
# MiniLM alone (docs/search.md); this paraphrase shares "toast" and "egg" with its caption, not the rest.
PARAPHRASE = "a guy soaking his toast in egg yolk"
TOMATO = "a woman waters tomato plants in the garden"


def node(node_id, parent, level, start, end, brief, detailed=None, summary=None):
    return {"node_id": node_id, "parent_id": parent, "level": level, "start": start, "end": end,
            "plm_caption": None, "plm_action": None, "llama3_caption": None,
            "gpt": {"summary": {"brief": summary or brief, "detailed": summary or brief},
                    "action": {"brief": brief, "detailed": detailed or brief, "actor": "a person"}}}


def row(video_uid, title, nodes, transcript=()):
    return {"video_uid": video_uid, "nodes": nodes,
            "metadata": {"title": title, "description": "", "view_count": 10, "like_count": 1, "duration": 40,
                         "upload_date": "20240101",
                         "transcript": [{"time": str(time), "text": text} for time, text in transcript]}}


def hand_made_rows():
    return [
        row("toastEggs01", "Sunday breakfast", [
            node("t0", None, 0, 0.0, 40.0, "a man has breakfast", summary="breakfast at the kitchen table"),
            node("t1", "t0", 1, 0.0, 20.0, TOAST,
                 detailed="The man dips a strip of buttered toast into the yolk of a soft-boiled egg."),
            node("t2", "t0", 1, 20.0, 40.0, "a man cracks the shell of an egg with a spoon"),
            node("t3", "t1", 2, 0.0, 10.0, TOAST),  # the child says what its parent says
            node("t4", "t1", 2, 10.0, 20.0, "a man wipes his mouth with a napkin"),
        ], transcript=[(1.0, "mmm this is the best part"), (12.0, "okay now the other one")]),
        row("gardenWater", "My tomato garden", [
            node("g0", None, 0, 0.0, 30.0, "a woman tends her garden"),
            node("g1", "g0", 1, 0.0, 15.0, TOMATO),
            node("g2", "g0", 1, 15.0, 30.0, "a woman picks ripe tomatoes from the vine"),
        ]),
        row("bikeRepair1", "Fixing a flat tyre on my road bike", [
            node("b0", None, 0, 0.0, 36.0, "a mechanic repairs a bicycle"),
            node("b1", "b0", 1, 0.0, 18.0, "a mechanic pumps air into a flat bicycle tyre"),
            node("b2", "b0", 1, 18.0, 36.0, "a mechanic tightens the bolts of a wheel"),
        ], transcript=[(2.0, "today we fix a puncture"), (20.0, "make sure the bolts are tight")]),
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A data folder with two shards: the generator's rows and the hand-made ones."""
    root = tmp_path_factory.mktemp("search")
    write_parquet(make_sample_rows(5, seed=11, video_seconds=(30, 50), max_depths=(5, 6)),
                  root / "data" / "part-00000.parquet")
    write_parquet(hand_made_rows(), root / "data" / "part-00001.parquet")
    summary = build_search_index(root)
    return root, summary


@pytest.fixture()
def small(tmp_path):
    """A data folder of the hand-made shard alone (fast to index again)."""
    write_parquet(hand_made_rows(), tmp_path / "data" / "part-00001.parquet")
    return tmp_path


def test_first_build_indexes_every_caption(corpus):
    root, summary = corpus
    assert summary.rebuilt_because is None and summary.warning is None
    assert summary.shards == 2 and summary.captions == summary.added > 0
    with sqlite3.connect(root / "search-index" / "index.sqlite") as connection:
        texts = {text for (text,) in connection.execute("SELECT text FROM captions WHERE video_uid = 'toastEggs01'")}
        actors = connection.execute("SELECT count(*) FROM captions WHERE text = 'a person'").fetchone()[0]
    assert {TOAST, "Sunday breakfast", "mmm this is the best part", "breakfast at the kitchen table"} <= texts
    assert actors == 0  # the actor alone is not a caption
    vectors = np.load(next((root / "search-index" / "vectors").glob("part-00001-*.f16.npy")))
    assert vectors.dtype == np.float16 and vectors.shape[1] == 384
    assert np.allclose(np.linalg.norm(vectors.astype(np.float32), axis=1), 1.0, atol=1e-2)


@pytest.mark.parametrize("query, video_uid, nodes, span", [
    (PARAPHRASE, "toastEggs01", {"t1", "t3"}, (0.0, 20.0)),
    ("inflating a bike tire", "bikeRepair1", {"b1"}, (0.0, 18.0)),  # no word in common with the caption
])
def test_paraphrase_finds_its_segment(corpus, query, video_uid, nodes, span):
    root, _ = corpus
    hits = search(query, data_dir=root, top_k=3)
    found = [hit for hit in hits if hit.video_uid == video_uid and hit.node_id in nodes]
    assert found, hits
    assert (found[0].start, found[0].end) == span and found[0].dense_rank is not None


def test_exact_phrase_in_fulltext_mode(corpus):
    root, _ = corpus
    hits = search("waters tomato plants", data_dir=root, mode="fulltext", top_k=5)
    assert hits[0].text == TOMATO and hits[0].fulltext_rank == 1 and hits[0].dense_rank is None
    assert (hits[0].video_uid, hits[0].node_id, hits[0].level, hits[0].start, hits[0].end) == (
        "gardenWater", "g1", 1, 0.0, 15.0)


def test_nonsense_query_scores_low(corpus):
    root, _ = corpus
    paraphrase = search(PARAPHRASE, data_dir=root, mode="dense", top_k=1)[0].score
    dense = search("qxzvw plorbt snark", data_dir=root, mode="dense", top_k=5)
    assert dense and max(hit.score for hit in dense) < paraphrase - 0.1
    # Hybrid: nothing that both lists agree on, so at most a single list's top score.
    assert all(hit.score <= 1 / (RRF_K + 1) + 1e-9 for hit in search("qxzvw plorbt snark", data_dir=root))


@pytest.mark.parametrize("query", ['"(', "AND OR NOT", "*", "NEAR(a b)", "title:egg", "'; DROP TABLE captions;--"])
def test_queries_that_are_fts5_syntax_do_not_raise(corpus, query):
    root, _ = corpus
    for mode in ("hybrid", "fulltext", "dense"):
        assert isinstance(search(query, data_dir=root, mode=mode), list)
    assert fulltext_query('"(') is None and fulltext_query("NEAR(x y) AND z") == '"near" OR "x" OR "y" OR "z"'


def test_empty_query_is_an_error(corpus):
    with pytest.raises(ReelsetError, match="empty"):
        search("   ", data_dir=corpus[0])


def test_filters(corpus, tmp_path):
    root, _ = corpus
    assert {hit.level for hit in search("a man", data_dir=root, level=2, top_k=20)} == {2}
    (tmp_path / "toastEggs01.mp4").write_bytes(b"clip")
    downloaded = search("tomato garden", data_dir=root, videos_dir=tmp_path, top_k=20)
    assert downloaded and {hit.video_uid for hit in downloaded} == {"toastEggs01"}
    titles = search("road bike", data_dir=root, fields=["title"], top_k=5)
    assert titles and {hit.field for hit in titles} == {"title"}
    assert (titles[0].video_uid, titles[0].node_id, titles[0].level, titles[0].end) == ("bikeRepair1", None, None,
                                                                                        36.0)


def test_grouping_counts_a_moment_once(corpus):
    root, _ = corpus
    hits = search(TOAST, data_dir=root, mode="fulltext", per_video=10, top_k=10)
    toast = [hit for hit in hits if hit.video_uid == "toastEggs01"]
    assert [hit.text for hit in toast].count(TOAST) == 1  # t1 brief, t1 summary, t3 (nested, same text): once
    assert len({hit.node_id for hit in toast if hit.node_id}) == len([hit for hit in toast if hit.node_id])
    per_video = search("a man", data_dir=root, per_video=1, top_k=10)
    assert len({hit.video_uid for hit in per_video}) == len(per_video)


def test_group_hits_rules():
    def hit(node_id, start, end, text, score):
        return Hit("v0000000001", node_id, start, end, 1, "gpt_action_brief", text, score, 1, 1)

    parent, child = hit("p", 0, 10, "Cut the onion.", 0.9), hit("c", 2, 5, "cut the  onion", 0.8)
    apart = hit("d", 10, 20, "cut the onion", 0.7)  # same text, spans that do not nest: another moment
    same_node = hit("p", 0, 10, "The cook cuts an onion on the board.", 0.6)
    assert group_hits([parent, child, apart, same_node], top_k=10, per_video=None) == [parent, apart]
    assert group_hits([parent, child, apart], top_k=10, per_video=1) == [parent]
    assert group_hits([parent, apart], top_k=1, per_video=None) == [parent]


def test_json_lines_hold_every_field(corpus):
    root, _ = corpus
    result = CliRunner().invoke(cli, ["action100m", "search", "--data-dir", str(root), "--json", "--top-k", "4",
                                      PARAPHRASE])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 4
    names = {field.name for field in dataclasses.fields(Hit)}
    assert all(set(line) == names for line in lines)
    assert lines == [dataclasses.asdict(hit) for hit in search(PARAPHRASE, data_dir=root, top_k=4)]


def test_table_and_query_after_dashes(corpus):
    root, _ = corpus
    result = CliRunner().invoke(cli, ["action100m", "search", "--data-dir", str(root), "--", "-tomato plants"])
    assert result.exit_code == 0, result.output
    assert TOMATO in result.stdout and "gardenWater" in result.stdout and "0.0-15.0" in result.stdout


def test_ann_path_matches_exact(corpus, tmp_path, monkeypatch):
    root, _ = corpus
    exact = search(PARAPHRASE, data_dir=root, mode="dense", top_k=5, per_video=None)
    copy = tmp_path / "copy"
    shutil.copytree(root / "data", copy / "data")
    shutil.copytree(root / "search-index", copy / "search-index")
    monkeypatch.setattr(search_index, "ANN_THRESHOLD", 10)
    summary = build_search_index(copy)
    assert summary.added == 0 and summary.rebuilt_because is None
    assert [path.name for path in (copy / "search-index" / "vectors").glob("*.usearch")] == [
        f"graph-1-{summary.captions}-{summary.captions}.usearch"]  # both shards, one graph
    approximate = search(PARAPHRASE, data_dir=copy, mode="dense", top_k=5, per_video=None)
    # Equal texts have equal vectors, whose order among themselves is arbitrary: compare what the hits say.
    assert [(hit.video_uid, hit.text) for hit in approximate] == [(hit.video_uid, hit.text) for hit in exact]
    assert [hit.score for hit in approximate] == pytest.approx([hit.score for hit in exact], abs=2e-3)


def test_incremental_build_adds_only_the_new_shard(small, tmp_path):
    first = build_search_index(small)
    database = small / "search-index" / "index.sqlite"
    with sqlite3.connect(database) as connection:
        before = connection.execute("SELECT id, text FROM captions ORDER BY id").fetchall()
    vectors_before = {path.name: path.stat().st_mtime_ns for path in (small / "search-index" / "vectors").iterdir()}
    again = build_search_index(small)
    assert again.added == 0 and again.captions == first.captions
    extra = make_sample_rows(2, seed=3, video_seconds=(20, 30), max_depths=(4, 4))
    write_parquet(extra, small / "data" / "part-00002.parquet")
    added = build_search_index(small)
    assert added.rebuilt_because is None and added.shards_added == 1 and added.shards == 2
    assert added.captions == first.captions + added.added and added.added > 0
    with sqlite3.connect(database) as connection:
        after = connection.execute("SELECT id, text FROM captions ORDER BY id").fetchall()
        new_videos = {uid for (uid,) in connection.execute("SELECT DISTINCT video_uid FROM captions WHERE id > ?",
                                                           (before[-1][0],))}
    assert after[:len(before)] == before and new_videos == {r["video_uid"] for r in extra}
    for name, mtime in vectors_before.items():  # the first shard's files were not written again
        assert (small / "search-index" / "vectors" / name).stat().st_mtime_ns == mtime
    assert any(hit.video_uid in new_videos for hit in search("the", data_dir=small, top_k=50, per_video=None))


def test_a_changed_shard_or_fields_or_model_rebuild(small):
    build_search_index(small)
    fields = build_search_index(small, fields=["gpt"])
    assert fields.rebuilt_because == "the fields changed (gpt,transcript,title -> gpt)"
    with sqlite3.connect(small / "search-index" / "index.sqlite") as connection:
        assert connection.execute("SELECT count(*) FROM captions WHERE field >= 4").fetchone()[0] == 0
        connection.execute("UPDATE meta SET value = 'another/model' WHERE key = 'model'")
    model = build_search_index(small, fields=["gpt"])
    assert model.rebuilt_because.startswith("the model changed (another/model")


def test_a_changed_or_removed_shard_is_updated_alone(small):
    write_parquet(make_sample_rows(2, seed=3, video_seconds=(20, 30), max_depths=(4, 4)),
                  small / "data" / "part-00002.parquet")
    first = build_search_index(small)
    vectors = small / "search-index" / "vectors"
    kept = {path.name: path.stat().st_mtime_ns for path in vectors.glob("part-00002-*")}
    with sqlite3.connect(small / "search-index" / "index.sqlite") as connection:
        bike = connection.execute("SELECT count(*) FROM captions WHERE video_uid = 'bikeRepair1'").fetchone()[0]
    write_parquet(hand_made_rows()[:2], small / "data" / "part-00001.parquet")  # bikeRepair1 left out
    changed = build_search_index(small)
    assert changed.rebuilt_because is None and changed.dropped == {"part-00001.parquet": "changed"}
    assert "index: shard part-00001.parquet changed: its captions indexed again" in summary_lines(changed)
    assert changed.shards_added == 1 and changed.captions == first.captions - bike > 0
    assert {path.name: path.stat().st_mtime_ns for path in vectors.glob("part-00002-*")} == kept
    assert not search("a mechanic pumps air", data_dir=small, mode="fulltext", top_k=20)
    assert search(TOMATO, data_dir=small, mode="fulltext")[0].text == TOMATO
    with sqlite3.connect(small / "search-index" / "index.sqlite") as connection:
        ids = [row[0] for row in connection.execute("SELECT first_id FROM shards WHERE name = 'part-00001.parquet'")]
        fts = connection.execute("SELECT count(*) FROM captions_fts WHERE captions_fts MATCH 'mechanic'").fetchone()
        integrity = connection.execute("INSERT INTO captions_fts (captions_fts) VALUES ('integrity-check')")
    assert ids[0] > first.captions and fts == (0,) and integrity is not None  # new ids, the old text forgotten
    (small / "data" / "part-00001.parquet").unlink()
    removed = build_search_index(small)
    assert removed.dropped == {"part-00001.parquet": "removed"} and removed.added == 0
    assert removed.shards == 1 and not list(vectors.glob("part-00001-*"))
    assert {hit.video_uid for hit in search(TOMATO, data_dir=small, top_k=50, per_video=None)}.isdisjoint(
        {"toastEggs01", "gardenWater"})


def test_graphs_span_shards_grow_and_follow_changes(small, monkeypatch):
    for number, seed in ((2, 3), (3, 4)):
        write_parquet(make_sample_rows(2, seed=seed, video_seconds=(20, 30), max_depths=(4, 4)),
                      small / "data" / f"part-0000{number}.parquet")
    monkeypatch.setattr(search_index, "ANN_THRESHOLD", 10)
    first = build_search_index(small)
    state = search_index.read_state(small / "search-index")
    counts = [entry.count for entry in sorted(state.shards.values(), key=lambda entry: entry.first_id)]
    assert [graph.count for graph in state.graphs] == [first.captions]  # one graph over the three shards
    monkeypatch.setattr(search_index, "GRAPH_MAX", counts[0] + counts[2])  # the shards that stay fill one graph
    write_parquet(make_sample_rows(1, seed=5, video_seconds=(20, 30), max_depths=(4, 4)),
                  small / "data" / "part-00004.parquet")
    (small / "data" / "part-00002.parquet").unlink()  # the graph holds it: deleted, its other shards graphed anew
    build_search_index(small)
    state = search_index.read_state(small / "search-index")
    shards = sorted(state.shards.values(), key=lambda entry: entry.first_id)
    assert [graph.count for graph in state.graphs] == [shards[0].count + shards[1].count, shards[2].count]
    assert all(state.graph_of(entry) for entry in shards)
    assert sorted(path.name for path in (small / "search-index" / "vectors").glob("*.usearch")) == sorted(
        graph.name for graph in state.graphs)
    monkeypatch.setattr(search_index, "GRAPH_MAX", 10**6)
    write_parquet(make_sample_rows(1, seed=6, video_seconds=(20, 30), max_depths=(4, 4)),
                  small / "data" / "part-00005.parquet")
    build_search_index(small)  # the last graph has room: grown, not made anew
    state = search_index.read_state(small / "search-index")
    assert len(state.graphs) == 2 and state.graphs[1].first_id == shards[2].first_id
    assert state.graphs[1].count == shards[2].count + state.shards["part-00005.parquet"].count
    approximate = search(TOAST, data_dir=small, mode="dense", top_k=5, per_video=None)
    monkeypatch.setattr(search_index, "ANN_THRESHOLD", 10**9)
    exact = search(TOAST, data_dir=small, mode="dense", top_k=5, per_video=None, update=False)
    assert [(hit.video_uid, hit.text) for hit in approximate] == [(hit.video_uid, hit.text) for hit in exact]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_index_is_rebuilt_with_a_warning(small, damage):
    first = build_search_index(small)
    database = small / "search-index" / "index.sqlite"
    data = database.read_bytes()
    database.write_bytes(b"not a database at all\n" * 100 if damage == "garbage" else data[:len(data) // 2])
    result = CliRunner().invoke(cli, ["action100m", "index", "--data-dir", str(small)])
    assert result.exit_code == 0, result.output
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and str(database) in warning[0] and warning[0].endswith("rebuilt")
    assert f"{first.captions:,} captions" in result.stdout
    assert search(TOMATO, data_dir=small, mode="fulltext")[0].text == TOMATO


def test_a_folder_that_is_not_an_index_is_left_alone(small):
    other = small / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ReelsetError, match="not a search index folder"):
        build_search_index(small, index_path=other)
    assert (other / "notes.txt").read_text() == "keep me"


def test_hits_view_has_the_right_clips(small, tmp_path):
    import fiftyone as fo

    from reelset.action100m.dataset import build_dataset
    from reelset.action100m.query import hits_view
    from reelset.sandbox.media import make_video

    videos = tmp_path / "videos"
    for video_id in ("toastEggs01", "gardenWater"):
        make_video(videos / f"{video_id}.mp4", seconds=12, width=64, height=64, fps=10, faststart=True)
    build_dataset(small, videos, name="test-search-hits", overwrite=True)
    dataset = fo.load_dataset("test-search-hits")
    try:
        hits = [Hit("toastEggs01", "t4", 10.0, 20.0, 2, "gpt_action_brief", "a man wipes his mouth", 0.5, 1, 2),
                Hit("gardenWater", "g1", 0.0, 15.0, 1, "gpt_action_brief", TOMATO, 0.4, 2, 1),
                Hit("toastEggs01", "t2", 20.0, 40.0, 1, "gpt_action_brief", "after the clip's end", 0.3, 3, 3),
                Hit("bikeRepair1", "b1", 0.0, 18.0, 1, "gpt_action_brief", "no clip", 0.2, 4, 4)]
        view = hits_view(dataset, hits)
        clips = [(clip.video_uid, clip.support, clip.search_hits.label, clip.search_hits.rank) for clip in view]
        # 10 fps, 120 frames: [10, 20) s is frames 101..120 (clamped at the clip's end), [0, 15) s frames 1..120.
        assert clips == [("toastEggs01", [101, 120], "a man wipes his mouth", 1),
                         ("gardenWater", [1, 120], TOMATO, 2)]
        assert hits_view(dataset, hits[1:2]).count() == 1  # the previous search's hits are gone
    finally:
        fo.delete_dataset("test-search-hits")


def test_onnx_encoder_gives_the_sentence_transformers_vectors(corpus):
    import torch

    if torch.cuda.is_available():
        pytest.skip("on a GPU the model runs in sentence-transformers (torch)")
    model = search_index.load_model()
    assert isinstance(model, search_index.OnnxEncoder)  # onnxruntime and onnx are dependencies
    assert search_index.embedding_device().startswith("cpu (onnxruntime, ")
    texts = [TOAST, PARAPHRASE, "x", TOMATO + " " + " ".join(["and then the garden again"] * 60)]  # over 256 tokens
    ours = model.encode(texts)
    theirs = model.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == (4, 384) and np.min(np.sum(ours * theirs, axis=1)) > 0.9999
    assert np.allclose(search_index.embed_query(PARAPHRASE), ours[1], atol=1e-5)  # the one-thread session
    repeated = search_index.embed_texts([TOAST, TOMATO, TOAST])
    assert repeated.dtype == np.float16 and np.array_equal(repeated[0], repeated[2])
    assert np.allclose(repeated[1].astype(np.float32), model.encode([TOMATO])[0], atol=2e-3)


def test_without_onnxruntime_or_a_failed_export_torch_embeds(corpus, tmp_path, monkeypatch):
    import importlib.util

    model = search_index.load_model()
    st_model = getattr(model, "model", model)
    monkeypatch.setenv("REELSET_CACHE_DIR", str(tmp_path / "cache"))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "onnxruntime" else real_find_spec(name, *args))
    assert search_index.OnnxEncoder.load(st_model) is None
    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)

    def broken(model, target):
        target.parent.mkdir(parents=True, exist_ok=True)
        raise RuntimeError("the exporter failed")

    monkeypatch.setattr(search_index, "_export_onnx", broken)
    assert search_index.OnnxEncoder.load(st_model) is None
    assert not list((tmp_path / "cache" / "models").iterdir())  # nothing half-written left for the next run


def test_offline_only_while_the_model_loads(monkeypatch):
    import huggingface_hub.constants as hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    before = hub.HF_HUB_OFFLINE
    with search_index._offline():
        assert hub.HF_HUB_OFFLINE is True and search_index.os.environ["HF_HUB_OFFLINE"] == "1"
    assert hub.HF_HUB_OFFLINE == before and "HF_HUB_OFFLINE" not in search_index.os.environ
