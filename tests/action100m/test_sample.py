"""The sample generator writes what the real Action100M shards hold, and the schema check judges files correctly.

The facts are recomputed from the parquet read back with pyarrow, not from the generator's internals, so that these
tests state what the data spec says about real rows.
"""

from __future__ import annotations

import random
import re
import struct
import uuid
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reelset.action100m.schema import (
    ACTION100M_SCHEMA,
    METADATA_TYPE,
    NODE_TYPE,
    VIDEO_UID,
    check_schema,
)
from reelset.core.errors import ReelsetError
from reelset.sandbox.action100m_sample import (
    expected_ids,
    make_sample_rows,
    make_tree,
    write_parquet,
    write_sample_repo,
)

VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
UPLOAD_DATE = re.compile(r"\d{8}")
GPT_MIN_SECONDS = 4.0


@pytest.fixture(scope="module")
def sample_rows() -> list[dict]:
    return make_sample_rows(20, seed=0)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, sample_rows: list[dict]) -> Path:
    root = tmp_path_factory.mktemp("action100m-preview")
    write_sample_repo(root, sample_rows, shards=2)
    return root


@pytest.fixture(scope="module")
def rows(repo: Path) -> list[dict]:
    """The sample as a reader sees it: read back from the shards."""
    return [row for path in sorted((repo / "data").glob("part-*.parquet")) for row in pq.read_table(path).to_pylist()]


def children_of(nodes: list[dict]) -> dict[str, list[dict]]:
    children = defaultdict(list)
    for node in nodes:
        if node["parent_id"] is not None:
            children[node["parent_id"]].append(node)
    return children


def leaves_of(nodes: list[dict]) -> list[dict]:
    children = children_of(nodes)
    return [node for node in nodes if node["node_id"] not in children]


def is_not_available(text: str) -> bool:
    return text.strip().upper() == "N/A"


def float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


# Files


def test_repo_is_laid_out_like_the_hub_dataset(tmp_path: Path, sample_rows: list[dict]) -> None:
    paths = write_sample_repo(tmp_path, sample_rows, shards=3)

    assert paths == [tmp_path / "data" / f"part-0000{index}.parquet" for index in range(3)]
    assert sorted(path.name for path in tmp_path.rglob("*") if path.is_file()) == [
        "README.md",
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    assert sum(pq.ParquetFile(path).metadata.num_rows for path in paths) == len(sample_rows)


def test_shards_have_the_exact_schema(repo: Path) -> None:
    for path in sorted((repo / "data").glob("*.parquet")):
        assert pq.read_schema(path).equals(ACTION100M_SCHEMA), path


def test_schema_is_the_one_the_spec_states() -> None:
    # Compared as text: Schema.equals ignores the names of list items, and parquet writes "element" whatever the
    # in-memory name, so only this catches a drift from the spec (pyarrow prints float32 as "float").
    spec = """
        video_uid: string
        metadata: struct<title: string, description: string, view_count: int64, like_count: int64,
                         duration: int64, upload_date: string,
                         transcript: list<element: struct<time: string, text: string>>>
        nodes: list<element: struct<node_id: string, parent_id: string, level: int16, start: float, end: float,
                                    plm_action: string, plm_caption: string, llama3_caption: string,
                                    gpt: struct<summary: struct<brief: string, detailed: string>,
                                                action: struct<brief: string, detailed: string, actor: string>>>>
    """
    rendered = " ".join(f"{field.name}: {field.type}" for field in ACTION100M_SCHEMA)

    assert rendered == " ".join(spec.split())
    assert all(field.nullable for field in ACTION100M_SCHEMA)
    assert "not null" not in rendered


def test_shards_are_snappy_with_several_row_groups(repo: Path) -> None:
    for path in sorted((repo / "data").glob("*.parquet")):
        metadata = pq.ParquetFile(path).metadata
        assert metadata.num_row_groups > 1, path
        assert metadata.row_group(0).column(0).compression == "SNAPPY"


def test_rows_read_back_equal_the_generated_rows(rows: list[dict], sample_rows: list[dict]) -> None:
    assert rows == sample_rows


def test_times_are_stored_as_float32(tmp_path: Path, rows: list[dict]) -> None:
    node = {"node_id": "n", "parent_id": None, "level": 0, "start": 176.13, "end": 180.0}
    path = write_parquet([{VIDEO_UID: "abcdefghijk", "metadata": None, "nodes": [node]}], tmp_path / "one.parquet")

    assert pq.read_table(path).to_pylist()[0]["nodes"][0]["start"] == 176.1300048828125
    times = [node[key] for row in rows for node in row["nodes"] for key in ("start", "end")]
    assert all(float32(time) == time for time in times)


# Tree-of-Captions


def test_each_tree_has_one_root_spanning_the_video(rows: list[dict]) -> None:
    for row in rows:
        nodes = row["nodes"]
        roots = [node for node in nodes if node["parent_id"] is None]
        assert roots == [nodes[0]]
        assert (nodes[0]["level"], nodes[0]["start"]) == (0, 0.0)
        assert nodes[0]["end"] == max(node["end"] for node in nodes)


def test_nodes_are_in_bfs_order_and_parents_resolve(rows: list[dict]) -> None:
    for row in rows:
        nodes = row["nodes"]
        position = {node["node_id"]: index for index, node in enumerate(nodes)}
        assert len(position) == len(nodes)
        assert all(uuid.UUID(node_id).version == 5 for node_id in position)
        parent_positions = [position[node["parent_id"]] for node in nodes[1:]]
        # BFS lists the children of earlier nodes first, which also sorts the nodes by level.
        assert parent_positions == sorted(parent_positions)
        assert all(node["level"] == nodes[position[node["parent_id"]]]["level"] + 1 for node in nodes[1:])


def test_internal_nodes_split_into_two_contiguous_children(rows: list[dict]) -> None:
    split_fractions = []
    for row in rows:
        nodes = row["nodes"]
        children = children_of(nodes)
        for node in nodes:
            if node["node_id"] not in children:
                continue
            first, second = sorted(children[node["node_id"]], key=lambda child: child["start"])
            assert first["start"] == node["start"] < first["end"] == second["start"] < second["end"] == node["end"]
            split_fractions.append((first["end"] - node["start"]) / (node["end"] - node["start"]))
    assert all(0.2 <= fraction <= 0.8 for fraction in split_fractions)
    assert sum(fraction == pytest.approx(0.5, abs=1e-3) for fraction in split_fractions) < len(split_fractions) / 10


def test_trees_are_deep_with_leaves_at_many_levels(rows: list[dict]) -> None:
    leaves_at_deepest = all_leaves = 0
    for row in rows:
        depth = max(node["level"] for node in row["nodes"])
        leaf_levels = [leaf["level"] for leaf in leaves_of(row["nodes"])]
        assert depth >= 8
        assert len(set(leaf_levels)) >= 3
        assert 30 <= len(row["nodes"]) <= 300
        leaves_at_deepest += leaf_levels.count(depth)
        all_leaves += len(leaf_levels)
    assert leaves_at_deepest < 0.1 * all_leaves


def test_captions_sit_where_the_pipeline_puts_them(rows: list[dict]) -> None:
    nodes = [node for row in rows for node in row["nodes"]]
    leaf_ids = {leaf["node_id"] for row in rows for leaf in leaves_of(row["nodes"])}
    eligible = [
        node
        for node in nodes
        if node["node_id"] not in leaf_ids and node["end"] - node["start"] >= GPT_MIN_SECONDS
    ]
    eligible_ids = {node["node_id"] for node in eligible}

    assert all((node["llama3_caption"] is not None) == (node["node_id"] in leaf_ids) for node in nodes)
    assert all(node["node_id"] in eligible_ids for node in nodes if node["gpt"] is not None)
    assert 0 < sum(node["gpt"] is None for node in eligible) < len(eligible) / 2
    for key in ("plm_caption", "plm_action"):
        missing = sum(node[key] is None for node in nodes)
        assert 0 < missing < len(nodes) / 10


def test_some_gpt_actions_are_not_available(rows: list[dict]) -> None:
    gpts = [node["gpt"] for row in rows for node in row["nodes"] if node["gpt"] is not None]
    assert all(set(gpt) == {"summary", "action"} for gpt in gpts)
    assert all(set(gpt["action"]) == {"brief", "detailed", "actor"} for gpt in gpts)
    actions = [gpt["action"] for gpt in gpts]
    all_missing = [action for action in actions if all(map(is_not_available, action.values()))]
    only_actor = [
        action
        for action in actions
        if is_not_available(action["actor"]) and not is_not_available(action["brief"])
    ]

    assert 0.01 * len(actions) <= len(all_missing) <= 0.08 * len(actions)
    assert only_actor
    assert any(value != "N/A" for action in all_missing for value in action.values())


# Metadata and ids


def test_metadata_quirks_occur_exactly_once(rows: list[dict]) -> None:
    dates = [row["metadata"]["upload_date"] for row in rows]
    transcripts = [row["metadata"]["transcript"] for row in rows]
    short = [row for row in rows if row["metadata"]["duration"] < row["nodes"][0]["end"]]

    assert dates.count(None) == 1 and dates.count("") == 1
    assert all(UPLOAD_DATE.fullmatch(date) for date in dates if date)
    assert transcripts.count(None) == 1 and transcripts.count([]) == 1
    assert len(short) == 1
    assert all(isinstance(row["metadata"]["duration"], int) for row in rows)


def test_transcripts_look_like_youtube_captions(rows: list[dict]) -> None:
    entries = []
    for row in rows:
        transcript = row["metadata"]["transcript"] or []
        times = [float(entry["time"]) for entry in transcript]
        assert times == sorted(times)
        entries.extend(transcript)
    texts = [entry["text"] for entry in entries]

    assert all(isinstance(entry["time"], str) for entry in entries)
    assert "[Music]" in texts
    assert any("  " in text for text in texts)
    assert any("\n" in text for text in texts)


def test_video_ids_are_valid_unique_and_awkward(rows: list[dict]) -> None:
    ids = [row[VIDEO_UID] for row in rows]

    assert all(VIDEO_ID.fullmatch(video_id) for video_id in ids)
    assert len(set(ids)) == len(ids)
    assert any(video_id.startswith("-") for video_id in ids)
    assert any("_" in video_id for video_id in ids)
    assert expected_ids(rows) == sorted(ids)


def test_sample_is_deterministic_per_seed(sample_rows: list[dict]) -> None:
    assert make_sample_rows(20, seed=0) == sample_rows
    other = make_sample_rows(20, seed=1)
    assert other != sample_rows
    assert not {row[VIDEO_UID] for row in other} & {row[VIDEO_UID] for row in sample_rows}


def test_tree_refuses_a_video_too_short_for_its_depth() -> None:
    with pytest.raises(ValueError, match="levels deep"):
        make_tree(random.Random(0), video_uid="abcdefghijk", video_end=1.0, max_depth=8)


def test_repo_refuses_empty_shards(tmp_path: Path, sample_rows: list[dict]) -> None:
    with pytest.raises(ValueError, match="non-empty shards"):
        write_sample_repo(tmp_path, sample_rows[:2], shards=3)


# Schema check


def test_check_schema_accepts_the_real_schema_and_harmless_variants(repo: Path) -> None:
    check_schema(ACTION100M_SCHEMA, source="spec")
    check_schema(pq.read_schema(repo / "data" / "part-00000.parquet"), source="shard")
    rewritten = pa.schema(
        [
            (VIDEO_UID, pa.large_string()),
            ("metadata", METADATA_TYPE),
            ("nodes", pa.large_list(pa.field("item", NODE_TYPE))),
            ("extra", pa.int8()),
        ]
    )
    check_schema(rewritten, source="rewritten")


NODE_WITHOUT_LEVEL = pa.struct([field for field in NODE_TYPE if field.name != "level"])


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (ACTION100M_SCHEMA.remove(0), "'video_uid' is missing"),
        (ACTION100M_SCHEMA.set(0, pa.field(VIDEO_UID, pa.int64())), "video_uid is int64"),
        (ACTION100M_SCHEMA.set(2, pa.field("nodes", pa.list_(NODE_WITHOUT_LEVEL))), "nodes[].level is missing"),
        (ACTION100M_SCHEMA.set(2, pa.field("nodes", pa.string())), "nodes is string, expected a list"),
    ],
)
def test_check_schema_rejects_what_readers_cannot_use(schema: pa.Schema, problem: str) -> None:
    with pytest.raises(ReelsetError) as caught:
        check_schema(schema, source="data/part-00007.parquet")

    message = str(caught.value)
    assert message.startswith("data/part-00007.parquet: ")
    assert problem in message
    assert "\n" not in message


def test_check_schema_checks_only_the_columns_asked_for() -> None:
    ids_only = pa.schema([(VIDEO_UID, pa.string())])

    check_schema(ids_only, source="ids.parquet", columns=[VIDEO_UID])
    with pytest.raises(ReelsetError, match="'metadata' is missing"):
        check_schema(ids_only, source="ids.parquet")
