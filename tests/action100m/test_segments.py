"""select_segments: which Tree-of-Captions nodes become samples, on a hand-made tree whose answers are worked out here.

The tree (seconds of the full video; the clip holds the first 10):

    root 0-30 (gpt) ─┬─ a 0-6.5 (gpt) ─┬─ a1 0-3.2 (leaf)
                     │                 └─ a2 3.2-6.5 (leaf)
                     └─ b 6.5-30 (gpt, action N/A) ─┬─ b1 6.5-12.1 (gpt) ─┬─ b11 6.5-9 (leaf)
                                                   │                    └─ b12 9-12.1 (leaf)
                                                   └─ b2 12.1-30 (leaf)
"""

from __future__ import annotations

import numpy as np
import pytest

from reelset.action100m import segments as sg
from reelset.action100m.segments import Selection, select_segments

CLIP = 10.0


def _gpt(brief: str, actor: str = "a cook") -> dict:
    return {"summary": {"brief": f"{brief} (summary)", "detailed": f"{brief}, summarised at length."},
            "action": {"brief": brief, "detailed": f"{brief}, in detail.", "actor": actor}}


def _node(node_id, parent, level, start, end, gpt=None, leaf=False):
    return {"node_id": node_id, "parent_id": parent, "level": level, "start": float(np.float32(start)),
            "end": float(np.float32(end)), "plm_action": f"plm {node_id}", "plm_caption": f"plm caption {node_id}",
            "llama3_caption": f"llama {node_id}" if leaf else None, "gpt": gpt}


@pytest.fixture
def row() -> dict:
    na = {"summary": {"brief": "a kitchen", "detailed": "A kitchen."},
          "action": {"brief": "N/A", "detailed": "n/a ", "actor": "N/A"}}
    nodes = [
        _node("root", None, 0, 0, 30, _gpt("cook pasta")),
        _node("a", "root", 1, 0, 6.5, _gpt("boil water", actor=" N/A")),
        _node("b", "root", 1, 6.5, 30, na),
        _node("a1", "a", 2, 0, 3.2, leaf=True),
        _node("a2", "a", 2, 3.2, 6.5, leaf=True),
        _node("b1", "b", 2, 6.5, 12.1, _gpt("drain pasta")),
        _node("b2", "b", 2, 12.1, 30, leaf=True),
        _node("b11", "b1", 3, 6.5, 9, leaf=True),
        _node("b12", "b1", 3, 9, 12.1, leaf=True),
    ]
    transcript = [{"time": "0.5", "text": "first  we\nboil"}, {"time": "7.0", "text": "now drain"},
                  {"time": "9.5", "text": "done"}]
    metadata = {"title": "Pasta", "description": "", "view_count": 1, "like_count": 0, "duration": 30,
                "upload_date": "20200101", "transcript": transcript}
    return {"video_uid": "abcDEF_-123", "metadata": metadata, "nodes": nodes}


def _ids(chosen) -> list[str]:
    return [segment.json["node_id"] for segment in chosen.segments]


def test_default_is_every_gpt_segment_of_four_seconds_or_more_in_the_clip(row):
    chosen = select_segments(row, CLIP, Selection())
    assert _ids(chosen) == ["root", "a"]
    # b, b1 start inside the clip but are cut to 3.5 s; the leaves are short; b2 starts after the clip.
    assert chosen.skipped == {sg.TOO_SHORT: 6, sg.AFTER_CLIP: 1}
    root, a = (segment.json for segment in chosen.segments)
    assert (root["start"], root["end"], root["crosses_clip_end"], root["tier"], root["level"]) == (0, 30, True,
                                                                                                  "root", 0)
    assert (a["start"], a["end"], a["crosses_clip_end"], a["tier"], a["parent_id"]) == (0, 6.5, False, "mid", "root")
    assert chosen.segments[0].end == CLIP and chosen.segments[1].end == pytest.approx(6.5)
    assert a["key"] == "abcDEF_-123_a" and a["title"] == "Pasta" and a["video_uid"] == "abcDEF_-123"
    assert a["gpt_action_brief"] == "boil water" and a["gpt_action_actor"] == " N/A", "N/A kept without --drop-na"
    assert a["gpt_summary_detailed"] == "boil water, summarised at length."
    assert "plm_caption" not in a and "transcript" not in a


def test_lengths_are_those_of_the_cut_segment(row):
    assert _ids(select_segments(row, CLIP, Selection(min_seconds=3.5))) == ["root", "a", "b", "b1"]
    assert _ids(select_segments(row, CLIP, Selection(min_seconds=0, max_seconds=6.5))) == ["a", "b", "b1"]
    chosen = select_segments(row, CLIP, Selection(min_seconds=0, max_seconds=6))
    assert _ids(chosen) == ["b", "b1"] and chosen.skipped[sg.TOO_LONG] == 2


def test_drop_na_leaves_out_segments_without_an_action_and_nulls_other_na_fields(row):
    chosen = select_segments(row, CLIP, Selection(min_seconds=0, drop_na=True))
    assert _ids(chosen) == ["root", "a", "b1"] and chosen.skipped[sg.ALL_NA] == 1
    assert chosen.segments[1].json["gpt_action_actor"] is None
    assert _ids(select_segments(row, CLIP, Selection(min_seconds=0)))[:3] == ["root", "a", "b"]


def test_caption_families_tiers_levels_and_per_video(row):
    leaves = select_segments(row, CLIP, Selection(min_seconds=0, fields=("llama3",)))
    assert _ids(leaves) == ["a1", "a2", "b11", "b12"]
    last = leaves.segments[3].json
    assert last["llama3_caption"] == "llama b12" and "gpt_action_brief" not in last
    plm = select_segments(row, CLIP, Selection(min_seconds=0, fields=("gpt", "plm"), tiers=("leaf",)))
    assert _ids(plm) == ["a1", "a2", "b11", "b12"] and plm.segments[0].json["gpt_action_brief"] is None
    assert plm.skipped[sg.OTHER_TIER] == 4  # root, a, b, b1 (b2 starts after the clip)
    assert _ids(select_segments(row, CLIP, Selection(min_seconds=0, levels=(1, 2)))) == ["a", "b", "b1"]
    first_two = select_segments(row, CLIP, Selection(min_seconds=0, per_video=2))
    assert _ids(first_two) == ["root", "a"] and first_two.skipped[sg.PER_VIDEO] == 2


def test_transcript_is_the_words_said_during_the_segment(row):
    chosen = select_segments(row, CLIP, Selection(min_seconds=0, fields=("gpt", "transcript")))
    said = {segment.json["node_id"]: segment.json["transcript"] for segment in chosen.segments}
    # Entries: 0.5-7.0 "first we boil", 7.0-9.5 "now drain", 9.5-12.0 "done" (the median gap, 2.5 s).
    assert said == {"root": "first we boil now drain done", "a": "first we boil",
                    "b": "first we boil now drain done", "b1": "first we boil now drain done"}
    alone = select_segments(row, CLIP, Selection(min_seconds=0, fields=("transcript",)))
    assert _ids(alone) == ["root", "a", "b", "a1", "a2", "b1", "b11", "b12"]
    assert alone.segments[3].json["transcript"] == "first we boil"


def test_a_node_id_that_is_not_a_safe_key_is_left_out(row):
    row["nodes"][1]["node_id"] = "../../etc/passwd"
    for node in row["nodes"]:
        if node["parent_id"] == "a":
            node["parent_id"] = "../../etc/passwd"
    chosen = select_segments(row, CLIP, Selection())
    assert _ids(chosen) == ["root"] and chosen.skipped[sg.BAD_NODE_ID] == 1


def test_times_are_the_decimals_of_the_parquet():
    assert sg.seconds(float(np.float32(176.13))) == 176.13
    assert sg.seconds(float(np.float32(3.2))) == 3.2


def test_cuts_are_at_the_decimals_too(row):
    # float32 36.9 reads back as 36.900001526: past the frame that starts at 36.9 s by more than a microsecond, so a
    # cut at the raw value would hold one frame too many (found by bench/export.py at 30 fps).
    row["nodes"][1]["start"], row["nodes"][1]["end"] = float(np.float32(32.1)), float(np.float32(36.9))
    chosen = select_segments(row, 40.0, Selection())
    segment = next(segment for segment in chosen.segments if segment.json["node_id"] == "a")
    assert (segment.start, segment.end) == (32.1, 36.9) == (segment.json["start"], segment.json["end"])
