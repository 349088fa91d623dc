"""Which Tree-of-Captions segments of a clip become training samples, and what each sample's JSON says.

Pure functions of one parquet row and its clip's length (no video is touched here): :func:`select_segments` applies
the user's choice (:class:`Selection`) to every node of the row's tree, in the tree's order (BFS: the root, then
level by level), and returns the chosen segments with their JSON, and the reason each other node was left out.

A segment is exported when it starts inside the clip; one that crosses the clip's end is cut there and its JSON says
``"crosses_clip_end": true``. Lengths (``min_seconds``, ``max_seconds``) are those of the exported, cut, segment.
A node qualifies by its captions: by default it must carry ``gpt`` captions (Stage 3, on segments of 4 s or more),
"N/A" ones included unless ``drop_na``; with other ``fields`` (``plm``, ``llama3``), any of the chosen families will
do; ``transcript`` adds the words said during the segment and, chosen alone, selects segments where something is said.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reelset.action100m.constants import CAPTION_FAMILIES, TIERS
from reelset.action100m.labels import transcript_entries
from reelset.action100m.tree import GPT_FIELDS, Node, build_tree, is_na

FIELD_FAMILIES = CAPTION_FAMILIES
FAMILY_FIELDS = {"gpt": tuple(GPT_FIELDS), "plm": ("plm_caption", "plm_action"), "llama3": ("llama3_caption",)}
# A sample's key is "<video_uid>_<node_id>": one path component, no dot (WebDataset splits a name at its first dot).
_NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

# Why a node of a clip was left out (the summary counts them).
AFTER_CLIP = "starts after the clip's end"
NO_CAPTIONS = "without the chosen captions"
ALL_NA = "no action or captions all N/A (--drop-na)"
TOO_SHORT = "shorter than --min-seconds"
TOO_LONG = "longer than --max-seconds"
OTHER_TIER = "not of the chosen tiers"
OTHER_LEVEL = "not of the chosen levels"
PER_VIDEO = "over --per-video"
BAD_NODE_ID = "node id unusable as a key"


@dataclass(frozen=True)
class Selection:
    """The user's choice of segments and captions (the export's options that decide what a sample is).

    Args:
        min_seconds, max_seconds: bounds of the exported (cut) length.
        tiers: ``root``, ``mid``, ``leaf`` (from the tree's shape, not the level).
        levels: ``(lowest, highest)`` levels kept, both included; None for all.
        fields: caption families in the JSON, of :data:`FIELD_FAMILIES`.
        drop_na: leave out segments whose gpt action (brief and detailed) is "N/A" (the dataset's "no action seen"),
            or whose chosen captions are all "N/A"; write null for any other "N/A" field (an "N/A" actor, say).
        per_video: at most this many segments of a video, the first in the tree's order (coarse to fine).
    """

    min_seconds: float = 4.0
    max_seconds: float | None = None
    tiers: tuple[str, ...] = TIERS
    levels: tuple[int, int] | None = None
    fields: tuple[str, ...] = ("gpt",)
    drop_na: bool = False
    per_video: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"min_seconds": self.min_seconds, "max_seconds": self.max_seconds, "tiers": list(self.tiers),
                "levels": list(self.levels) if self.levels else None, "fields": list(self.fields),
                "drop_na": self.drop_na, "per_video": self.per_video}


@dataclass(frozen=True)
class Segment:
    """One chosen segment: its key, its span in the clip (seconds) and its JSON."""

    key: str
    start: float
    end: float  # min(node end, clip end)
    json: dict[str, Any]


@dataclass
class Chosen:
    segments: list[Segment] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> nodes
    tree_problems: list[str] = field(default_factory=list)


def seconds(value: float) -> float:
    """A float32 time of the parquet as the decimal it was written as (``176.13``, not ``176.1300048828125``)."""
    return float(f"{value:.7g}") if math.isfinite(value) else value


def _texts(node: Node, families: tuple[str, ...]) -> dict[str, str | None]:
    texts: dict[str, str | None] = {}
    for family in families:
        for name in FAMILY_FIELDS.get(family, ()):
            value = node.gpt_text(name) if family == "gpt" else getattr(node, name)
            texts[name] = value if isinstance(value, str) and value.strip() else None
    return texts


def spoken(entries: list[tuple[float, float, str]], start: float, end: float) -> str | None:
    """The transcript entries said during ``[start, end)`` (overlapping it), joined; None when nothing is said."""
    words = [text for begin, finish, text in entries if begin < end and finish > start]
    return " ".join(words) or None


def select_segments(row: dict[str, Any], clip_seconds: float, selection: Selection) -> Chosen:
    """The segments of ``row``'s tree to export from a clip of ``clip_seconds``, and why the others are not."""
    video_uid = row["video_uid"]
    metadata = row.get("metadata") or {}
    tree = build_tree(video_uid, row.get("nodes"))
    chosen = Chosen(tree_problems=list(tree.problems))
    video_end = max(value for value in (tree.end, metadata.get("duration"), 0.0) if value is not None)
    entries = transcript_entries(metadata.get("transcript"), video_end) if "transcript" in selection.fields else []
    caption_families = tuple(family for family in selection.fields if family != "transcript")
    for node in tree.nodes:
        reason, segment = _choose(node, video_uid, clip_seconds, selection, caption_families, entries, metadata)
        if reason:
            chosen.skipped[reason] += 1
        elif selection.per_video is not None and len(chosen.segments) >= selection.per_video:
            chosen.skipped[PER_VIDEO] += 1
        else:
            chosen.segments.append(segment)
    return chosen


def _choose(node: Node, video_uid: str, clip_seconds: float, selection: Selection, families: tuple[str, ...],
            entries: list[tuple[float, float, str]], metadata: dict[str, Any]) -> tuple[str | None, Segment | None]:
    # The parquet's float32 times read back as e.g. 36.900001526: cut at the decimal the JSON says (36.9), not past
    # the frame that starts there.
    start = seconds(node.start)
    if start >= clip_seconds:
        return AFTER_CLIP, None
    if node.tier not in selection.tiers:
        return OTHER_TIER, None
    if selection.levels and not selection.levels[0] <= node.level <= selection.levels[1]:
        return OTHER_LEVEL, None
    end = min(seconds(node.end), clip_seconds)
    length = end - start
    if length + 1e-6 < selection.min_seconds:
        return TOO_SHORT, None
    if selection.max_seconds is not None and length - 1e-6 > selection.max_seconds:
        return TOO_LONG, None
    texts = _texts(node, families)
    said = spoken(entries, start, end) if entries else None
    present = [text for text in texts.values() if text is not None]
    if families and not present or not families and said is None:
        return NO_CAPTIONS, None
    if selection.drop_na:
        action = ("gpt_action_brief", "gpt_action_detailed")
        no_action = "gpt" in families and all(is_na(texts[name]) for name in action)
        if families and (no_action or all(is_na(text) for text in present)):
            return ALL_NA, None
        texts = {name: None if is_na(text) else text for name, text in texts.items()}
    if not _NODE_ID.match(node.node_id):
        return BAD_NODE_ID, None
    key = f"{video_uid}_{node.node_id}"
    json = {
        "key": key,
        "video_uid": video_uid,
        "node_id": node.node_id,
        "parent_id": node.parent_id,
        "level": node.level,
        "tier": node.tier,
        "start": start,
        "end": seconds(node.end),
        "crosses_clip_end": node.end > clip_seconds,
        **texts,
        **({"transcript": said} if "transcript" in selection.fields else {}),
        "title": metadata.get("title"),
    }
    return None, Segment(key, start, end, json)
