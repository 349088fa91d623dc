"""From one Action100M row and its clip to the fields of one FiftyOne sample, as plain data (no FiftyOne here).

Clip-aware: a downloaded clip holds only the first seconds of the video, so every segment is placed in the clip's
own frames. A FiftyOne ``support`` is ``[first, last]``, 1-based and inclusive; frame ``k`` shows the time
``[(k - 1) / fps, k / fps)``, so a segment ``[start, end)`` covers frames ``floor(start * fps) + 1`` to
``ceil(end * fps)``, clamped to ``[1, total_frame_count]``. A segment starting at or after the clip's end is left
out; one that crosses it is kept with its support clamped and ``crosses_clip_end=True`` (or dropped, on request).
Every detection keeps its original ``start``/``end`` seconds, in the full video.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from reelset.action100m.tree import GPT_FIELDS, LEAF, STAGE2_FIELDS, Tree, is_na

TRANSCRIPT_FIELD = "transcript_segments"
YOUTUBE_WATCH_URL = "https://www.youtube.com/watch?v={id}"
# A last transcript entry with nothing after it lasts as long as the typical entry, within these bounds.
LAST_ENTRY_SECONDS = (1.0, 10.0)


@dataclass(frozen=True)
class LabelOptions:
    """Choices a user can make about the labels.

    Args:
        keep_na: keep "N/A" texts (any case/whitespace) as labels; by default they are dropped, in every gpt field.
        drop_crossing: leave out segments that cross the clip's end instead of keeping them clamped and flagged.
        stage2: add ``plm_caption`` and ``plm_action`` (all nodes) and ``llama3_caption`` (leaves).
    """

    keep_na: bool = False
    drop_crossing: bool = False
    stage2: bool = False


@dataclass(frozen=True)
class Clip:
    """What the downloaded file says about itself (the frame grid all supports refer to)."""

    fps: float
    total_frames: int
    duration: float


def frame_support(start: float, end: float, clip: Clip) -> list[int] | None:
    """``[first, last]`` frames of ``[start, end)`` in ``clip``, clamped; None if it starts at or after the end."""
    if start >= clip.duration or clip.total_frames < 1:
        return None
    first = max(1, math.floor(start * clip.fps) + 1)
    last = min(clip.total_frames, math.ceil(end * clip.fps))
    first = min(first, clip.total_frames)
    return [first, max(first, last)]


def upload_datetime(value: object) -> datetime | None:
    """``"YYYYMMDD"`` as midnight UTC; None for null, empty or malformed values."""
    if not isinstance(value, str) or len(value.strip()) != 8:
        return None
    try:
        return datetime.strptime(value.strip(), "%Y%m%d").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _detection(label: str, start: float, end: float, clip: Clip, options: LabelOptions,
               **attributes: Any) -> dict[str, Any] | None:
    support = frame_support(start, end, clip)
    if support is None:
        return None
    crosses = end > clip.duration
    if crosses and options.drop_crossing:
        return None
    return {"label": label, "support": support, "start": start, "end": end, "crosses_clip_end": crosses,
            **attributes}


def _text(value: object, options: LabelOptions) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    if is_na(value) and not options.keep_na:
        return None
    return value


def tree_detections(tree: Tree, clip: Clip, options: LabelOptions) -> dict[str, list[dict[str, Any]]]:
    """The temporal detections of every gpt field (and the Stage-2 fields when asked), by field name."""
    fields: dict[str, list[dict[str, Any]]] = {name: [] for name in GPT_FIELDS}
    if options.stage2:
        fields.update({name: [] for name in STAGE2_FIELDS})
    for node in tree.nodes:
        if node.start >= clip.duration:
            continue  # not in the clip (most of a long video's nodes)
        attributes = {"node_id": node.node_id, "parent_id": node.parent_id, "level": node.level, "tier": node.tier}
        texts = {name: node.gpt_text(name) for name in GPT_FIELDS}
        if options.stage2:
            texts |= {"plm_caption": node.plm_caption, "plm_action": node.plm_action}
            if node.tier == LEAF:
                texts["llama3_caption"] = node.llama3_caption
        for name, raw in texts.items():
            text = _text(raw, options)
            if text is None:
                continue
            detection = _detection(text, node.start, node.end, clip, options, **attributes)
            if detection is not None:
                fields[name].append(detection)
    return fields


def transcript_entries(transcript: list[dict[str, Any]] | None, video_end: float | None) -> list[tuple[float, float, str]]:
    """``(start, end, text)`` per ASR entry: each ends where the next starts; the last lasts a typical entry's time."""
    timed = []
    for entry in transcript or []:
        try:
            start = float(entry.get("time"))
        except (TypeError, ValueError, AttributeError):
            continue
        text = " ".join(str(entry.get("text") or "").split())
        if text and math.isfinite(start) and start >= 0:
            timed.append((start, text))
    timed.sort(key=lambda item: item[0])
    entries = [(start, nxt[0], text) for (start, text), nxt in zip(timed, timed[1:]) if nxt[0] > start]
    if timed:
        start, text = timed[-1]
        gaps = [end - begin for begin, end, _ in entries]
        typical = statistics.median(gaps) if gaps else LAST_ENTRY_SECONDS[1]
        end = start + min(max(typical, LAST_ENTRY_SECONDS[0]), LAST_ENTRY_SECONDS[1])
        if video_end and video_end > start:
            end = min(end, video_end)
        entries.append((start, end, text))
    return entries


def transcript_detections(entries: list[tuple[float, float, str]], clip: Clip,
                          options: LabelOptions) -> list[dict[str, Any]]:
    detections = (_detection(text, start, end, clip, options) for start, end, text in entries)
    return [detection for detection in detections if detection is not None]


def sample_fields(row: dict[str, Any], tree: Tree, clip: Clip, options: LabelOptions) -> dict[str, Any]:
    """Every field of the sample for ``row`` (scalars, and detections as dicts), with the original field names."""
    metadata = row.get("metadata") or {}
    full_duration = metadata.get("duration")
    video_end = max(value for value in (tree.end, full_duration, 0.0) if value is not None)
    entries = transcript_entries(metadata.get("transcript"), video_end)
    fields = {
        "video_uid": row["video_uid"],
        "title": metadata.get("title"),
        "description": metadata.get("description"),
        "full_video_url": YOUTUBE_WATCH_URL.format(id=row["video_uid"]),
        "upload_date": upload_datetime(metadata.get("upload_date")),
        "view_count": metadata.get("view_count"),
        "like_count": metadata.get("like_count"),
        "full_video_duration": full_duration,
        "transcript": "\n".join(text for _, _, text in entries) or None,
        "tree_depth": tree.depth,
        "clip_seconds": clip.duration,
    }
    fields.update(tree_detections(tree, clip, options))
    fields[TRANSCRIPT_FIELD] = transcript_detections(entries, clip, options)
    return fields
