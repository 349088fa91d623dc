"""The Tree-of-Captions of one video, checked, with each node's tier taken from the tree itself.

In the data a video's ``nodes`` form a binary tree: one root (no parent), each internal node split into two children
that cover its span. Leaves occur at many levels, so a node's tier comes from the tree (root: no parent; leaf: no
children; otherwise mid), never from its level (the original parser called the deepest level "leaf", which is wrong
for ~99% of real leaves).

Rows that break the rules are not fatal: :func:`build_tree` keeps what is usable and lists the problems (two roots,
a parent that is not in the row, a span that ends before it starts), for the caller to report with the video id.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

ROOT, MID, LEAF = "root", "mid", "leaf"
GPT_FIELDS = {
    "gpt_summary_brief": ("summary", "brief"),
    "gpt_summary_detailed": ("summary", "detailed"),
    "gpt_action_brief": ("action", "brief"),
    "gpt_action_detailed": ("action", "detailed"),
    "gpt_action_actor": ("action", "actor"),
}
STAGE2_FIELDS = ("plm_caption", "plm_action", "llama3_caption")


def is_na(text: object) -> bool:
    """Whether ``text`` is the dataset's "N/A" placeholder, in any case and with any surrounding whitespace."""
    return isinstance(text, str) and text.strip().casefold() == "n/a"


@dataclass(frozen=True)
class Node:
    node_id: str
    parent_id: str | None
    level: int
    start: float
    end: float
    tier: str
    gpt: dict[str, Any] | None
    plm_caption: str | None = None
    plm_action: str | None = None
    llama3_caption: str | None = None

    def gpt_text(self, field_name: str) -> str | None:
        """The text of one ``gpt_*`` field (e.g. ``gpt_action_brief``), or None when absent."""
        group, key = GPT_FIELDS[field_name]
        value = ((self.gpt or {}).get(group) or {}).get(key)
        return value if isinstance(value, str) else None


@dataclass
class Tree:
    video_uid: str
    nodes: list[Node]
    problems: list[str] = field(default_factory=list)

    @property
    def depth(self) -> int:
        """The number of levels (max ``level`` + 1; the original scripts stored max ``level``)."""
        return max((node.level for node in self.nodes), default=-1) + 1

    @property
    def end(self) -> float | None:
        """The end of the root's span: the length of the full video as the tree sees it."""
        roots = [node.end for node in self.nodes if node.tier == ROOT]
        return max(roots) if roots else max((node.end for node in self.nodes), default=None)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is not a time


def build_tree(video_uid: str, raw_nodes: list[dict[str, Any]] | None) -> Tree:
    """Check ``raw_nodes`` (one row's ``nodes`` list) and return the usable nodes with their tiers."""
    problems: list[str] = []
    usable: list[dict[str, Any]] = []
    seen: set[str] = set()
    for raw in raw_nodes or []:
        node_id = raw.get("node_id")
        start, end = _number(raw.get("start")), _number(raw.get("end"))
        if not isinstance(node_id, str) or not node_id:
            problems.append("a node without node_id was skipped")
        elif node_id in seen:
            problems.append(f"node {node_id}: duplicate node_id, later copy skipped")
        elif start is None or end is None or end <= start:
            problems.append(f"node {node_id}: span {raw.get('start')}..{raw.get('end')} is empty or reversed, skipped")
        else:
            seen.add(node_id)
            usable.append(raw)

    child_count = Counter(raw.get("parent_id") for raw in usable if raw.get("parent_id") is not None)
    roots = [raw["node_id"] for raw in usable if raw.get("parent_id") is None]
    if len(roots) != 1:
        problems.append(f"{len(roots)} roots (expected 1)")
    dangling = sorted({raw["parent_id"] for raw in usable
                       if raw.get("parent_id") is not None and raw["parent_id"] not in seen})
    if dangling:
        problems.append(f"{len(dangling)} parent id(s) not in the row (e.g. {dangling[0]})")

    nodes = []
    for raw in usable:
        parent_id = raw.get("parent_id")
        tier = ROOT if parent_id is None else (MID if child_count[raw["node_id"]] else LEAF)
        nodes.append(Node(
            node_id=raw["node_id"],
            parent_id=parent_id,
            level=int(raw.get("level") or 0),
            start=float(raw["start"]),
            end=float(raw["end"]),
            tier=tier,
            gpt=raw.get("gpt"),
            plm_caption=raw.get("plm_caption"),
            plm_action=raw.get("plm_action"),
            llama3_caption=raw.get("llama3_caption"),
        ))
    return Tree(video_uid, nodes, problems)
