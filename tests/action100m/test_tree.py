"""Tree-of-Captions checks: tiers from the tree, depth, N/A, and rows that are not trees."""

from __future__ import annotations

import random

from reelset.action100m.tree import LEAF, MID, ROOT, build_tree, is_na
from reelset.sandbox.action100m_sample import make_row


def node(node_id, parent_id, level, start, end, **extra):
    return {"node_id": node_id, "parent_id": parent_id, "level": level, "start": start, "end": end, **extra}


def test_tiers_come_from_children_not_levels():
    # root -> a, b ; a -> a1, a2 ; b is a leaf at level 1, a1/a2 leaves at level 2
    nodes = [node("r", None, 0, 0, 10), node("a", "r", 1, 0, 6), node("b", "r", 1, 6, 10),
             node("a1", "a", 2, 0, 3), node("a2", "a", 2, 3, 6)]
    tree = build_tree("vid", nodes)
    assert {n.node_id: n.tier for n in tree.nodes} == {"r": ROOT, "a": MID, "b": LEAF, "a1": LEAF, "a2": LEAF}
    assert tree.depth == 3 and tree.problems == [] and tree.end == 10


def test_generated_rows_have_leaves_at_several_levels():
    row = make_row(random.Random(4), "dQw4w9WgXcQ", video_end=120.0, max_depth=9)
    tree = build_tree(row["video_uid"], row["nodes"])
    leaf_levels = {n.level for n in tree.nodes if n.tier == LEAF}
    assert len(leaf_levels) >= 3
    assert tree.depth == max(n["level"] for n in row["nodes"]) + 1
    # Recomputed independently: a node is a leaf exactly when no other node names it as parent.
    parents = {n["parent_id"] for n in row["nodes"]}
    assert {n.node_id for n in tree.nodes if n.tier == LEAF} == {
        n["node_id"] for n in row["nodes"] if n["node_id"] not in parents}


def test_not_a_tree_is_reported_and_handled():
    nodes = [node("r1", None, 0, 0, 10), node("r2", None, 0, 0, 10), node("x", "ghost", 1, 0, 5),
             node("bad", "r1", 1, 5, 5), node("r1", None, 0, 0, 10), node(None, "r1", 1, 0, 1)]
    tree = build_tree("vid", nodes)
    text = " | ".join(tree.problems)
    assert "2 roots" in text and "ghost" in text and "node bad: span" in text and "duplicate" in text
    assert "without node_id" in text
    assert sorted(n.node_id for n in tree.nodes) == ["r1", "r2", "x"]
    assert build_tree("vid", None).nodes == [] and build_tree("vid", None).depth == 0


def test_na_in_any_case_and_whitespace():
    assert all(is_na(text) for text in ("N/A", "n/a", " N/A ", "N/A\n", "n/A"))
    assert not any(is_na(text) for text in ("NA", "N/A.", "", None, "not applicable"))


def test_gpt_text_lookup():
    gpt = {"summary": {"brief": "s", "detailed": None}, "action": {"brief": "a", "detailed": "d", "actor": "N/A"}}
    tree = build_tree("vid", [node("r", None, 0, 0, 10, gpt=gpt)])
    root = tree.nodes[0]
    assert root.gpt_text("gpt_summary_brief") == "s" and root.gpt_text("gpt_summary_detailed") is None
    assert root.gpt_text("gpt_action_actor") == "N/A"
    assert build_tree("vid", [node("r", None, 0, 0, 10, gpt=None)]).nodes[0].gpt_text("gpt_action_brief") is None
