"""`action100m fiftyone`: real FiftyOne (bundled MongoDB, per-session database), real parquet, real mp4 clips.

Expected values are recomputed here from the fixture rows and the clips (probed with ffprobe directly), not taken
from reelset's own helpers.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import datetime, timezone

import fiftyone as fo
import pytest
from click.testing import CliRunner

from reelset.action100m.dataset import build_dataset
from reelset.action100m.labels import LabelOptions
from reelset.cli import cli
from reelset.sandbox.action100m_sample import make_sample_rows, write_parquet
from reelset.sandbox.media import make_video

GPT = {
    "gpt_summary_brief": ("summary", "brief"),
    "gpt_summary_detailed": ("summary", "detailed"),
    "gpt_action_brief": ("action", "brief"),
    "gpt_action_detailed": ("action", "detailed"),
    "gpt_action_actor": ("action", "actor"),
}
CLIP_SECONDS = 12


def not_a_tree(row: dict) -> dict:
    """A row whose nodes are not a tree: a second root, a dangling parent, an empty span."""
    broken = copy.deepcopy(row)
    nodes = broken["nodes"]
    extra_root = dict(nodes[0], node_id="second-root")
    dangling = dict(nodes[-1], node_id="orphan", parent_id="nobody")
    empty = dict(nodes[-1], node_id="empty-span", start=5.0, end=5.0)
    broken["nodes"] = nodes + [extra_root, dangling, empty]
    return broken


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("a100m")
    rows = make_sample_rows(7, seed=5, video_seconds=(30, 60), max_depths=(8, 9))
    rows[3] = not_a_tree(rows[3])
    # An "N/A" actor (odd case and spacing) on a segment that lies inside the clip, so every option sees one.
    inside = next(node for row in rows[:5] for node in row["nodes"] if node.get("gpt") and node["end"] <= CLIP_SECONDS)
    inside["gpt"]["action"]["actor"] = " n/A "
    write_parquet(rows, root / "data" / "data" / "part-00000.parquet", row_group_size=3)
    videos = root / "videos"
    ids = [row["video_uid"] for row in rows]
    for video_id in ids[:5]:
        make_video(videos / f"{video_id}.mp4", seconds=CLIP_SECONDS, width=320, height=180, fps=10, faststart=True)
    (videos / f"{ids[5]}.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom broken file")  # a broken clip
    # ids[6] has no clip at all; a clip without a row must be ignored too.
    make_video(videos / "NoRowForMe1.mp4", seconds=2, width=64, height=64, fps=10)
    return {"root": root, "rows": {row["video_uid"]: row for row in rows}, "ids": ids, "videos": videos}


def clip_facts(ffprobe, path):
    info = ffprobe(path)
    video = next(stream for stream in info["streams"] if stream["codec_type"] == "video")
    num, den = map(int, video["avg_frame_rate"].split("/"))
    return {"fps": num / den, "frames": int(video["nb_frames"]), "duration": float(info["format"]["duration"]),
            "width": video["width"], "height": video["height"]}


def expected_gpt(row: dict, field: str, clip_duration: float, keep_na=False, drop_crossing=False) -> list[tuple]:
    group, key = GPT[field]
    found = []
    for node in row["nodes"]:
        text = ((node.get("gpt") or {}).get(group) or {}).get(key)
        if text is None or (not keep_na and text.strip().lower() == "n/a"):
            continue
        if node["end"] <= node["start"] or node["start"] >= clip_duration:
            continue
        if drop_crossing and node["end"] > clip_duration:
            continue
        found.append((node["node_id"], text))
    return sorted(found)


def tiers_of(row: dict) -> dict[str, str]:
    parents = {node["parent_id"] for node in row["nodes"]}
    return {node["node_id"]: "root" if node["parent_id"] is None else ("mid" if node["node_id"] in parents else "leaf")
            for node in row["nodes"]}


@pytest.fixture(scope="module")
def built(corpus):
    name = "test-a100m"
    summary = build_dataset(corpus["root"] / "data", corpus["videos"], name=name, overwrite=True)
    return summary, fo.load_dataset(name)


def test_summary_counts(corpus, built):
    summary, dataset = built
    ids = corpus["ids"]
    assert summary.added == 5 and len(dataset) == 5
    assert summary.broken and summary.broken[0].startswith(f"{ids[5]}: ")
    assert summary.tree_problems and summary.tree_problems[0].startswith(f"{ids[3]}: ")
    assert "2 roots" in summary.tree_problems[0] and "nobody" in summary.tree_problems[0]
    assert set(dataset.distinct("video_uid")) == set(ids[:5])


def test_detections_match_the_trees(corpus, built, ffprobe):
    _, dataset = built
    crossing_seen = 0
    for sample in dataset:
        row = corpus["rows"][sample.video_uid]
        facts = clip_facts(ffprobe, corpus["videos"] / f"{sample.video_uid}.mp4")
        tiers = tiers_of(row)
        for field in GPT:
            detections = sample[field].detections
            got = sorted((d.node_id, d.label) for d in detections)
            assert got == expected_gpt(row, field, facts["duration"]), (sample.video_uid, field)
            for d in detections:
                first, last = d.support
                assert 1 <= first <= last <= facts["frames"]
                assert first == min(facts["frames"], math.floor(d.start * facts["fps"]) + 1)
                assert d.crosses_clip_end == (d.end > facts["duration"])
                if d.crosses_clip_end:
                    crossing_seen += 1
                    assert last == facts["frames"]
                if d.node_id in tiers:  # the dangling/second-root extras follow the same rule
                    assert d.tier == tiers[d.node_id]
                original = next(n for n in row["nodes"] if n["node_id"] == d.node_id)
                assert (d.start, d.end, d.level, d.parent_id) == (
                    original["start"], original["end"], original["level"], original["parent_id"])
        assert sample.tree_depth == max(node["level"] for node in row["nodes"]) + 1
        assert sample.metadata.total_frame_count == facts["frames"]
        assert (sample.metadata.frame_width, sample.metadata.frame_height) == (facts["width"], facts["height"])
        assert sample.metadata.duration == pytest.approx(facts["duration"])
        assert sample.full_video_url == f"https://www.youtube.com/watch?v={sample.video_uid}"
    assert crossing_seen > 0


def test_leaves_at_several_levels_are_leaves(built):
    _, dataset = built
    leaf_levels = set()
    for sample in dataset:
        for d in sample.gpt_action_brief.detections:
            if d.tier == "leaf":
                leaf_levels.add(d.level)
    # gpt is never on a leaf of a well-formed tree: leaves show up in Stage-2 fields instead.
    assert leaf_levels == set()


def test_metadata_fields_and_nulls(corpus, built):
    _, dataset = built
    for sample in dataset:
        metadata = corpus["rows"][sample.video_uid]["metadata"]
        date = metadata.get("upload_date")
        if date:
            assert sample.upload_date.replace(tzinfo=timezone.utc) == datetime.strptime(date, "%Y%m%d").replace(
                tzinfo=timezone.utc)
        else:
            assert sample.upload_date is None
        assert sample.title == metadata["title"] and sample.view_count == metadata["view_count"]
        assert sample.full_video_duration == metadata["duration"]
        entries = metadata.get("transcript") or []
        assert len(sample.transcript_segments.detections) <= len(entries)
        if not entries:
            assert sample.transcript is None and sample.transcript_segments.detections == []


def test_transcript_segments_end_where_the_next_starts(corpus, built):
    _, dataset = built
    sample = max(dataset, key=lambda s: len(s.transcript_segments.detections))
    segments = sample.transcript_segments.detections
    assert len(segments) >= 2
    for current, following in zip(segments, segments[1:]):
        assert current.end == following.start
    times = [float(entry["time"]) for entry in corpus["rows"][sample.video_uid]["metadata"]["transcript"]]
    assert segments[0].start == min(times)


def test_incremental_rerun_adds_only_new_videos(corpus, built, tmp_path):
    _, dataset = built
    before = {sample.video_uid: sample.id for sample in dataset}
    again = build_dataset(corpus["root"] / "data", corpus["videos"], name=dataset.name)
    assert again.added == 0 and again.already == 5
    new_id = corpus["ids"][6]
    make_video(corpus["videos"] / f"{new_id}.mp4", seconds=4, width=160, height=90, fps=10)
    try:
        third = build_dataset(corpus["root"] / "data", corpus["videos"], name=dataset.name)
        assert third.added == 1 and len(dataset) == 6
        assert {s.video_uid: s.id for s in dataset if s.video_uid != new_id} == before  # none touched
    finally:
        (corpus["videos"] / f"{new_id}.mp4").unlink()


def test_overwrite_rebuilds_and_options_apply(corpus):
    name = "test-a100m-options"
    build_dataset(corpus["root"] / "data", corpus["videos"], name=name, overwrite=True)
    first_ids = set(fo.load_dataset(name).values("id"))
    options = LabelOptions(keep_na=True, drop_crossing=True, stage2=True)
    summary = build_dataset(corpus["root"] / "data", corpus["videos"], name=name, overwrite=True, options=options)
    dataset = fo.load_dataset(name)
    assert summary.added == 5 and not first_ids & set(dataset.values("id"))
    crossing = dataset.count_values("gpt_action_brief.detections.crosses_clip_end")
    assert crossing.get(True, 0) == 0
    for sample in dataset:
        duration = sample.metadata.duration
        for field in GPT:
            got = sorted((d.node_id, d.label) for d in sample[field].detections)
            assert got == expected_gpt(corpus["rows"][sample.video_uid], field, duration, keep_na=True,
                                       drop_crossing=True)
    actors = [d.label for s in dataset for d in s.gpt_action_actor.detections]
    assert " n/A " in actors
    llama_tiers = {d.tier for s in dataset for d in s.llama3_caption.detections}
    assert llama_tiers == {"leaf"}
    leaf_levels = set()
    for sample in dataset:  # Stage-2 captions cover every node: tiers checked against the tree, leaves at many levels
        tiers = tiers_of(corpus["rows"][sample.video_uid])
        for d in sample.plm_caption.detections:
            if d.node_id in tiers:
                assert d.tier == tiers[d.node_id]
            if d.tier == "leaf":
                leaf_levels.add(d.level)
    assert len(leaf_levels) >= 3
    assert dataset.count("plm_caption.detections") > dataset.count("gpt_action_brief.detections")


def test_na_dropped_everywhere_by_default(built):
    _, dataset = built
    for field in GPT:
        labels = dataset.values(f"{field}.detections.label", unwind=True)
        assert labels and not [label for label in labels if label.strip().lower() == "n/a"]


def test_cli_fiftyone_prints_plain_summary(corpus):
    result = CliRunner().invoke(cli, ["action100m", "fiftyone", "--data-dir", str(corpus["root"] / "data"),
                                      "--videos", str(corpus["videos"]), "--name", "test-a100m-cli"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith(f"skipped {corpus['ids'][5]}: ") for line in lines)
    assert any(line.startswith(f"tree {corpus['ids'][3]}: ") for line in lines)
    assert "fiftyone: dataset 'test-a100m-cli' has 5 samples: 5 added," in result.output
    assert "open it with: reelset action100m app --name test-a100m-cli" in lines


def test_missing_videos_folder_is_one_line_error(corpus, tmp_path):
    result = CliRunner().invoke(cli, ["action100m", "fiftyone", "--data-dir", str(corpus["root"] / "data"),
                                      "--videos", str(tmp_path / "nope")])
    assert result.exit_code == 1 and result.output.startswith("error: ") and result.output.count("\n") == 1


def test_a_run_that_cannot_start_or_fails_before_adding_leaves_no_dataset(corpus, tmp_path):
    import pyarrow.parquet as pq

    from reelset.core.errors import ReelsetError

    name = "test-a100m-left-nothing"
    with pytest.raises(ReelsetError, match="no data/\\*.parquet shards"):
        build_dataset(tmp_path / "nothing-here", corpus["videos"], name=name)
    assert not fo.dataset_exists(name)
    # A shard whose footer reads but whose second row group's pages are garbage: found only once the run is under
    # way, after the dataset was made.
    shard = tmp_path / "data" / "data" / "part-00000.parquet"
    shard.parent.mkdir(parents=True)
    data = bytearray((corpus["root"] / "data" / "data" / "part-00000.parquet").read_bytes())
    group = pq.ParquetFile(corpus["root"] / "data" / "data" / "part-00000.parquet").metadata.row_group(1)
    for column in range(group.num_columns):
        start = group.column(column).data_page_offset
        data[start:start + 16] = b"\xff" * 16
    shard.write_bytes(bytes(data))
    with pytest.raises(ReelsetError, match="row group 1 is corrupt"):
        build_dataset(tmp_path / "data", corpus["videos"], name=name)
    assert not fo.dataset_exists(name)


def test_status_record_disagreeing_with_the_file_marks_it_broken(corpus, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    video_id = corpus["ids"][0]
    (videos / f"{video_id}.mp4").write_bytes((corpus["videos"] / f"{video_id}.mp4").read_bytes())
    (videos / "status.jsonl").write_text(json.dumps({"id": video_id, "status": "ok", "clip_seconds": 90.0}) + "\n")
    summary = build_dataset(corpus["root"] / "data", videos, name="test-a100m-status", overwrite=True)
    assert summary.added == 0 and "download recorded 90.0 s" in summary.broken[0]


VOLATILE = {"_id", "_dataset_id", "created_at", "last_modified_at", "_rand"}


def _stable(document):
    if isinstance(document, dict):
        return {key: _stable(value) for key, value in document.items() if key not in VOLATILE}
    if isinstance(document, list):
        return [_stable(value) for value in document]
    return document


def test_documents_equal_what_add_samples_stores(corpus, built):
    """The fast path writes the same documents FiftyOne's public add_samples writes (a FiftyOne upgrade that
    changes its document layout fails here)."""
    _, dataset = built
    reference = fo.Dataset("test-a100m-reference", overwrite=True)
    reference.media_type = "video"
    reference.add_sample_field("upload_date", fo.DateTimeField)
    for sample in dataset:
        copy = fo.Sample(filepath=sample.filepath)
        for name, value in sample.iter_fields():
            if name not in ("id", "filepath", "created_at", "last_modified_at", "tags"):
                copy[name] = value.copy() if hasattr(value, "copy") else value
        reference.add_sample(copy, dynamic=True)
    ours = sorted(dataset._sample_collection.find({}), key=lambda document: document["video_uid"])
    theirs = sorted(reference._sample_collection.find({}), key=lambda document: document["video_uid"])
    assert len(ours) == len(theirs) >= 5
    for mine, reference_document in zip(ours, theirs):
        assert _stable(mine) == _stable(reference_document)
