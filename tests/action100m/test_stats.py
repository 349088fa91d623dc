"""`action100m stats`: the numbers of stats.json against trees whose answers are worked out by hand, against the
sample generator's rows recounted independently, the four charts as real pictures, the command's lines, and bad input
as one error line that leaves nothing behind.
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from reelset.action100m import stats
from reelset.action100m.stats import (
    BINS,
    annotation_stats,
    brief_key,
    duration_bin,
    near_duplicates,
    normalise_brief,
    quantile_from_histogram,
    summary_lines,
)
from reelset.action100m.tree import is_na
from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.sandbox.action100m_sample import make_sample_rows, write_parquet, write_sample_repo
from reelset.sandbox.media import make_video

A, B, C = "vidAAAAAAAA", "vidBBBBBBBB", "vidCCCCCCCC"
OUTPUTS = ["stats.json", "levels.png", "captions.png", "briefs.png", "survival.png"]


def gpt(brief, detailed="d", actor="a cook", summary: tuple | None = ("s", "sd")):
    return {"summary": None if summary is None else {"brief": summary[0], "detailed": summary[1]},
            "action": {"brief": brief, "detailed": detailed, "actor": actor}}


def node(node_id, parent_id, level, start, end, *, caption: Any = "c", llama3=None, annotation=None):
    return {"node_id": node_id, "parent_id": parent_id, "level": level, "start": start, "end": end,
            "plm_action": "x", "plm_caption": caption, "llama3_caption": llama3, "gpt": annotation}


def hand_rows() -> list[dict[str, Any]]:
    """Three videos whose every number is worked out in the tests below (times in seconds).

    A: r [0,120) -> a [0,60) (-> a1 [0,2), a2 [2,60)), b [60,120)
    B: R [0,200) -> c [0,100) (-> c1 [0,95), c2 [95,100)), d [100,200) (-> d1 [100,150), d2 [150,200))
    C: its root [0,10) and a node with an empty span (a malformed row: counted, not fatal)
    """
    tree_a = [
        node("r", None, 0, 0, 120, annotation=gpt("Cut the onion.")),
        node("a", "r", 1, 0, 60, annotation=gpt("cutting an  onion", actor="N/A")),
        node("b", "r", 1, 60, 120, llama3="l"),
        node("a1", "a", 2, 0, 2, llama3="l"),
        node("a2", "a", 2, 2, 60, llama3="l", caption=None),
    ]
    tree_b = [
        node("R", None, 0, 0, 200, annotation=gpt("N/A", detailed="n/a", actor=" N/A ", summary=("N/A", "sd"))),
        node("c", "R", 1, 0, 100, annotation=gpt("Stir the soup!", actor="N/A")),
        node("d", "R", 1, 100, 200),
        node("c1", "c", 2, 0, 95, llama3="l", caption="   "),
        node("c2", "c", 2, 95, 100),
        node("d1", "d", 2, 100, 150, llama3="l"),
        node("d2", "d", 2, 150, 200, llama3="l"),
    ]
    tree_c = [
        node("root", None, 0, 0, 10, annotation=gpt("cut the onion", actor="x", summary=None)),
        node("bad", "root", 1, 5, 5),
    ]
    return [{"video_uid": uid, "metadata": None, "nodes": nodes}
            for uid, nodes in ((A, tree_a), (B, tree_b), (C, tree_c))]


def places(inside, crossing, after):
    total = inside + crossing + after
    return {"inside": inside, "crossing": crossing, "after": after,
            "fractions": {"inside": round(inside / total, 6), "crossing": round(crossing / total, 6),
                          "after": round(after / total, 6)}}


@pytest.fixture()
def hand_data(tmp_path) -> Path:
    write_parquet(hand_rows(), tmp_path / "hand" / "data" / "part-00000.parquet", row_group_size=2)
    return tmp_path / "hand"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Clips of A (3 s, an MP4 the index reader reads), B (2 s, Matroska under an .mp4 name: ffprobe's to read),
    C (not a video), and one without a row."""
    folder = tmp_path_factory.mktemp("clips")
    make_video(folder / f"{A}.mp4", seconds=3, width=64, height=48, audio=None)
    make_video(folder / "b.mkv", seconds=2, width=64, height=48, audio=None)
    (folder / "b.mkv").rename(folder / f"{B}.mp4")
    (folder / f"{C}.mp4").write_bytes(b"not a video at all")
    (folder / "vidEEEEEEEE.mp4").write_bytes(b"no row for this one")
    (folder / "notes.mp4").write_bytes(b"not an id, never read")
    return folder


@pytest.fixture(scope="module")
def hand_run(tmp_path_factory, clips) -> tuple[stats.StatsSummary, Path]:
    """One run over the hand-made trees and the clips (charts take a second to draw: the tests share it)."""
    root = tmp_path_factory.mktemp("hand-run")
    write_parquet(hand_rows(), root / "hand" / "data" / "part-00000.parquet", row_group_size=2)
    return annotation_stats(root / "hand", videos_dir=clips, out_dir=root / "out", clip_seconds=90, top=2), root / "out"


def snapshot(root: Path) -> dict[str, object]:
    return {str(path.relative_to(root)): "dir" if path.is_dir() else path.stat().st_size
            for path in sorted(root.rglob("*"))}


def test_hand_made_trees_give_the_numbers_worked_out_by_hand(hand_run):
    summary, out = hand_run
    report = json.loads((out / "stats.json").read_text())
    assert report == summary.report
    assert summary.files == [out / name for name in OUTPUTS]

    assert (report["trees"], report["trees_with_problems"], report["nodes"], report["depth"]) == (3, 1, 13, 3)
    assert report["problem_examples"] == [f"{C}: node bad: span 5.0..5.0 is empty or reversed, skipped"]
    assert report["tiers"] == {"root": 3, "mid": 3, "leaf": 7}
    levels = {level["level"]: level for level in report["levels"]}
    assert [levels[n]["nodes"] for n in (0, 1, 2)] == [3, 4, 6]
    assert [levels[n]["tiers"] for n in (0, 1, 2)] == [
        {"root": 3, "mid": 0, "leaf": 0}, {"root": 0, "mid": 3, "leaf": 1}, {"root": 0, "mid": 0, "leaf": 6}]
    # Quantiles are the lower ones (the smallest duration with at least p of them at or below it), within 0.6%.
    expected = {0: (110, 120, 10, 200, 10, 200), 1: (80, 60, 60, 100, 60, 100), 2: (260 / 6, 50, 2, 95, 2, 95)}
    for level, (mean, median, p10, p90, low, high) in expected.items():
        seconds = levels[level]["seconds"]
        assert seconds["mean"] == pytest.approx(mean, abs=1e-4)
        assert (seconds["min"], seconds["max"]) == (low, high)
        for name, value in (("median", median), ("p10", p10), ("p90", p90)):
            assert seconds[name] == pytest.approx(value, rel=0.006), (level, name)

    captions = report["captions"]
    assert {source: captions[source]["nodes"] for source in ("gpt", "plm_caption", "plm_action", "llama3_caption")} \
        == {"gpt": 5, "plm_caption": 11, "plm_action": 13, "llama3_caption": 6}
    assert {tier: value["nodes"] for tier, value in captions["gpt"]["by_tier"].items()} == {
        "root": 3, "mid": 2, "leaf": 0}
    assert captions["llama3_caption"]["by_tier"]["leaf"] == {"nodes": 6, "fraction": round(6 / 7, 6)}
    assert captions["plm_caption"]["by_tier"]["leaf"]["nodes"] == 5  # a None and a blank caption are not captions
    # Internal nodes of 4 s or more: r, a, R, c, d and C's root (a root without children); d has no gpt.
    assert (captions["gpt_eligible"]["nodes"], captions["gpt_eligible"]["with_gpt"]) == (6, 5)

    na = report["na"]
    assert na["gpt_nodes"] == 5
    assert {name: value["na"] for name, value in na["fields"].items()} == {
        "gpt_summary_brief": 1, "gpt_summary_detailed": 0, "gpt_action_brief": 1, "gpt_action_detailed": 1,
        "gpt_action_actor": 3}
    assert na["fields"]["gpt_action_actor"]["rate"] == 0.6
    assert na["fields"]["gpt_summary_brief"]["missing"] == 1  # C's root has no summary at all
    assert (na["action_all_na"], na["action_all_na_rate"], na["actor_only_na"]) == (1, 0.2, 2)

    briefs = report["briefs"]
    assert (briefs["briefs"], briefs["distinct"]) == (4, 3)  # "N/A" is not a brief
    # "cut the onion" and "cutting an onion" share the key "cut onion"; "stir the soup" stands alone.
    assert (briefs["near_duplicates"], briefs["near_duplicate_groups"]) == (2, 1)
    assert briefs["top"] == [{"brief": "cut the onion", "count": 2}, {"brief": "cutting an onion", "count": 1}]

    survival = report["survival"]
    assert (survival["clip_seconds"], survival["trees"], survival["trees_whole"]) == (90, 3, 1)
    assert survival["nodes"] == places(4, 5, 4)
    assert survival["gpt_nodes"] == places(2, 3, 0)
    assert [(level["level"], level["nodes"]) for level in survival["levels"]] == [
        (0, places(1, 2, 0)), (1, places(1, 2, 1)), (2, places(2, 1, 3))]


def test_survival_at_each_clips_own_length(hand_run):
    report = hand_run[0].report
    found = report["clips"]
    assert (found["clips"], found["trees"], found["without_row"]) == (4, 2, 1)
    assert found["unreadable"] == [f"{C}.mp4"]
    assert found["seconds"]["min"] == pytest.approx(2.0, abs=0.05)
    assert found["seconds"]["max"] == pytest.approx(3.0, abs=0.05)
    # A cut at 3 s: a1 [0,2) inside; r, a, a2 crossing; b after. B at 2 s: R, c, c1 crossing; d, c2, d1, d2 after.
    assert found["nodes"] == places(1, 6, 5)
    assert found["gpt_nodes"] == places(0, 4, 0)
    assert [(level["level"], level["nodes"]) for level in found["levels"]] == [
        (0, places(0, 2, 0)), (1, places(0, 2, 2)), (2, places(1, 2, 3))]
    assert report["survival"]["nodes"] == places(4, 5, 4)  # the fixed cut is unchanged by the clips


def recount(rows: list[dict[str, Any]], cut: float) -> dict[str, Any]:
    """The numbers of a report recomputed from the raw rows, without the tree module: a leaf is a node that no other
    node names as parent."""
    levels: Counter[tuple[int, str]] = Counter()
    places_at: Counter[str] = Counter()
    na: Counter[str] = Counter()
    briefs: Counter[str] = Counter()
    gpt_nodes = 0
    for row in rows:
        parents = {raw["parent_id"] for raw in row["nodes"]}
        for raw in row["nodes"]:
            tier = "root" if raw["parent_id"] is None else "mid" if raw["node_id"] in parents else "leaf"
            levels[raw["level"], tier] += 1
            places_at["inside" if raw["end"] <= cut else "crossing" if raw["start"] < cut else "after"] += 1
            if raw["gpt"] is not None:
                gpt_nodes += 1
                action = raw["gpt"]["action"]
                for key in ("brief", "detailed", "actor"):
                    na[key] += is_na(action[key])
                na["all"] += all(is_na(action[key]) for key in ("brief", "detailed", "actor"))
                if not is_na(action["brief"]):
                    briefs[" ".join(action["brief"].lower().split())] += 1
    return {"levels": levels, "places": places_at, "na": na, "gpt_nodes": gpt_nodes, "briefs": briefs}


def test_sample_rows_across_shards_and_batches_match_a_recount(tmp_path, monkeypatch):
    rows = make_sample_rows(8, seed=3, video_seconds=(40, 150), max_depths=(6, 9))
    write_sample_repo(tmp_path / "data", rows, shards=3, row_group_size=2)
    monkeypatch.setattr(stats, "ROWS_PER_BATCH", 3)  # batches that straddle row groups: several flushes
    rows_seen = []
    totals = []
    report = annotation_stats(tmp_path / "data", out_dir=tmp_path / "out", clip_seconds=60,
                              on_rows=rows_seen.append, on_total=totals.append).report
    expected = recount(rows, 60)

    assert totals == [8] and sum(rows_seen) == 8 and len(rows_seen) >= 3
    assert report["trees"] == 8 and report["trees_with_problems"] == 0
    assert report["nodes"] == sum(len(row["nodes"]) for row in rows)
    assert {(level["level"], tier): count for level in report["levels"]
            for tier, count in level["tiers"].items() if count} == dict(expected["levels"])
    assert {place: report["survival"]["nodes"][place] for place in ("inside", "crossing", "after")} == {
        place: expected["places"][place] for place in ("inside", "crossing", "after")}
    na = report["na"]
    assert na["gpt_nodes"] == expected["gpt_nodes"] > 0
    assert [na["fields"][f"gpt_action_{key}"]["na"] for key in ("brief", "detailed", "actor")] == [
        expected["na"][key] for key in ("brief", "detailed", "actor")]
    assert na["action_all_na"] == expected["na"]["all"]
    # The sample's briefs are plain lowercase words: normalising changes nothing, so the counts must agree.
    assert Counter({item["brief"]: item["count"] for item in report["briefs"]["top"]}) == Counter(
        dict(sorted(expected["briefs"].items(), key=lambda item: (-item[1], item[0]))[:30]))
    for level in report["levels"]:
        seconds = level["seconds"]
        assert seconds["min"] <= seconds["p10"] <= seconds["median"] <= seconds["p90"] <= seconds["max"]


def test_the_four_charts_are_real_pictures(hand_run):
    for name in OUTPUTS[1:]:
        path = hand_run[1] / name
        assert path.stat().st_size > 20_000, name
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= 1200 and image.height >= 500, name
            colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert len(colours) > 50, name  # text, bars and axes, not a blank page


def test_brief_normalisation_and_near_duplicate_keys():
    assert normalise_brief("  Cut the ONION. ") == "cut the onion"
    assert normalise_brief("Don't stir -- yet!\n") == "dont stir yet"
    assert normalise_brief("pour_water…into   the bowl") == "pour water into the bowl"
    assert normalise_brief("?!") == ""
    assert brief_key("cut the onions") == brief_key("cutting an onion") == brief_key("cut onion") == "cut onion"
    assert brief_key("slicing the tomatoes") == brief_key("slice a tomato") == "slic tomato"
    assert brief_key("stirring the pot") == brief_key("stir pots") == "stir pot"
    assert brief_key("cut the knives") != brief_key("cut a knife")  # naive: irregular plurals stay apart
    assert brief_key("add the dishes") == brief_key("adding a dish") == "add dish"
    assert brief_key("string a bead") == "string bead"  # no vowel before -ing: not a verb form
    assert brief_key("pick up the box") != brief_key("pick the box")  # particles stay
    assert brief_key("the") == "the"  # only function words: its own key
    assert near_duplicates(Counter({"cut the onion": 3, "cutting an onion": 1, "cut onions": 1,
                                    "stir the soup": 2, "the": 1, "a": 1})) == (3, 1)


def test_quantiles_from_the_histogram_are_within_half_a_bin():
    rng = np.random.default_rng(0)
    durations = rng.lognormal(mean=1.5, sigma=1.4, size=20_000)
    counts = np.bincount(duration_bin(durations), minlength=BINS)
    for p in (0.1, 0.5, 0.9):
        exact = float(np.quantile(durations, p, method="inverted_cdf"))
        value = quantile_from_histogram(counts, p, float(durations.min()), float(durations.max()))
        assert value == pytest.approx(exact, rel=0.006), p
    assert duration_bin(np.array([0.001, math.inf, 1e9]))[0] == 0
    assert list(duration_bin(np.array([math.inf, 1e9]))) == [BINS - 1, BINS - 1]


def test_cli_prints_the_summary_and_reads_the_default_videos_folder(hand_data, clips, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(clips, tmp_path / "videos")
    result = CliRunner().invoke(cli, ["action100m", "stats", "--data-dir", str(hand_data), "--top", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # Medians come from the histogram, within 0.6%: level 2's 50 s may read 49.8.
    assert re.fullmatch(r"median seconds per level: 0: 12\d, 1: 60\.?\d?, 2: (49\.\d|50\.?\d?)", lines[2]), lines[2]
    assert lines[:2] + lines[3:] == [
        "trees: 3 in 1 shard(s), 1 with problems; nodes: 13 in 3 levels (3 root, 3 mid, 7 leaf)",
        "nodes per level: 0: 3, 1: 4, 2: 6",
        "captions: gpt on 5 nodes (38.5%; 83.3% of internal nodes >= 4 s), plm_caption 84.6%, plm_action 100.0%, "
        "llama3_caption 46.2% (llama3_caption on 85.7% of leaves)",
        "N/A in gpt: summary_brief 20.0%, summary_detailed 0.0%, action_brief 20.0%, action_detailed 20.0%, "
        "action_actor 60.0%; action brief, detailed and actor all N/A 20.0%",
        "briefs: 4, 3 distinct, 2 near-duplicates in 1 groups; most frequent: 'cut the onion' (2)",
        "90 s cut: nodes 30.8% inside, 38.5% crossing, 30.8% after; gpt nodes 40.0% inside, 60.0% crossing, "
        "0.0% after",
        "clips (2 with a row in videos): nodes 8.3% inside, 50.0% crossing, 41.7% after; gpt nodes 0.0% inside, "
        "100.0% crossing, 0.0% after",
        f"clips: 1 unreadable, left out (e.g. {C}.mp4)",
        "wrote action100m-stats/: stats.json, levels.png, captions.png, briefs.png, survival.png",
    ]
    assert sorted(path.name for path in (tmp_path / "action100m-stats").iterdir()) == sorted(OUTPUTS)


def test_cli_without_a_videos_folder_skips_the_clips(hand_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["action100m", "stats", "--data-dir", str(hand_data), "--out", "s",
                                      "--clip-seconds", "150"])
    assert result.exit_code == 0, result.output
    assert not any(line.startswith("clips") for line in result.stdout.splitlines())
    # Ends at or before 150 s: all but R [0,200), d [100,200) (crossing) and d2 [150,200) (after).
    assert "150 s cut: nodes 76.9% inside, 15.4% crossing, 7.7% after;" in result.stdout
    assert json.loads((tmp_path / "s" / "stats.json").read_text())["clips"] is None


def bad_inputs(root: Path) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = {"missing": root / "missing", "blocker": root / "blocker.txt", "data": root / "data",
             "truncated": root / "truncated", "wrong": root / "wrong"}
    paths["blocker"].write_text("a file where a folder is expected\n")
    write_parquet(hand_rows(), paths["data"] / "data" / "part-00000.parquet")
    truncated = paths["truncated"] / "data" / "part-00000.parquet"
    truncated.parent.mkdir(parents=True)
    data = (paths["data"] / "data" / "part-00000.parquet").read_bytes()
    truncated.write_bytes(data[:len(data) // 2])
    (paths["wrong"] / "data").mkdir(parents=True)
    pq.write_table(pa.table({"url": ["https://example.com/a"], "caption": ["a cat"]}),
                   paths["wrong"] / "data" / "part-00000.parquet")
    (root / "taken").mkdir()
    (root / "taken" / "stats.json").mkdir()
    return paths


BAD = [
    ("no-shards", ["--data-dir", "{missing}"], "{missing}: no data/*.parquet shards (run `reelset action100m ids`"),
    ("truncated", ["--data-dir", "{truncated}"], "{truncated}/data/part-00000.parquet: not a readable parquet file"),
    ("wrong-schema", ["--data-dir", "{wrong}"], "{wrong}/data/part-00000.parquet: column 'video_uid' is missing"),
    ("out-under-file", ["--data-dir", "{data}", "--out", "{blocker}/stats"],
     "{blocker}/stats: cannot be created: {blocker} is a file, not a folder"),
    ("out-file-is-folder", ["--data-dir", "{data}", "--out", "taken"], "taken/stats.json: is a folder"),
    ("videos-missing", ["--data-dir", "{data}", "--videos", "{missing}"], "{missing}: not a folder of clips"),
]


@pytest.mark.parametrize(("argv", "error"), [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_bad_input_is_one_error_line_and_writes_nothing(argv, error, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = {name: str(path) for name, path in bad_inputs(tmp_path).items()}
    before = snapshot(tmp_path)
    result = CliRunner().invoke(cli, ["action100m", "stats", *[arg.format(**paths) for arg in argv]])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: " + error.format(**paths)), result.stderr
    assert "Traceback" not in result.output
    assert snapshot(tmp_path) == before


def test_a_failed_chart_leaves_no_output_at_all(hand_data, tmp_path, monkeypatch):
    class Broken:
        def savefig(self, path, **options):
            Path(path).write_bytes(b"half a picture")
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(stats, "briefs_figure", lambda report: Broken())
    with pytest.raises(OSError, match="No space left"):
        annotation_stats(hand_data, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_rows_without_a_usable_node_are_one_error(tmp_path):
    rows = [{"video_uid": A, "metadata": None, "nodes": []},
            {"video_uid": B, "metadata": None, "nodes": [node("x", None, 0, 5, 1)]}]
    write_parquet(rows, tmp_path / "empty" / "data" / "part-00000.parquet")
    with pytest.raises(ReelsetError, match=rf"no usable Tree-of-Captions node in 2 row\(s\) \(e.g. {A}: 0 roots"):
        annotation_stats(tmp_path / "empty", out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_summary_lines_of_a_report_without_briefs(tmp_path):
    rows = [{"video_uid": A, "metadata": None, "nodes": [node("r", None, 0, 0, 30, annotation=gpt("N/A"))]}]
    write_parquet(rows, tmp_path / "d" / "data" / "part-00000.parquet")
    summary = annotation_stats(tmp_path / "d", out_dir=tmp_path / "out", top=5)
    assert summary.report["briefs"]["top"] == []
    assert "briefs: 0, 0 distinct, 0 near-duplicates in 0 groups" in summary_lines(summary)
    with Image.open(tmp_path / "out" / "briefs.png") as image:
        assert image.format == "PNG"


def test_random_rows_never_break_the_counts(tmp_path):
    """Trees of any shape the generator makes, at any cut: the places add up to the nodes, level by level."""
    rng = random.Random(5)
    rows = make_sample_rows(4, seed=rng.randrange(1000), video_seconds=(20, 60), max_depths=(3, 7))
    write_sample_repo(tmp_path / "data", rows, shards=2)
    report = annotation_stats(tmp_path / "data", out_dir=tmp_path / "out", clip_seconds=rng.uniform(5, 50)).report
    for level, survived in zip(report["levels"], report["survival"]["levels"]):
        assert level["level"] == survived["level"]
        assert sum(survived["nodes"][place] for place in ("inside", "crossing", "after")) == level["nodes"]
