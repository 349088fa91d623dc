"""The timeline picture of one video's Tree-of-Captions, and finding that video's row in the shards.

Pictures are read back (PIL for PNG, XML for SVG) and the label layout is checked on the rendered text extents, so
these tests state what a user sees, not what the drawing code meant to do.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from reelset.action100m.timeline import (
    DPI,
    ELLIPSIS,
    TIER_COLOURS,
    draw_timeline,
    figure_size,
    find_row,
    fit_label,
    overflowing_labels,
    show_video,
    timeline_bars,
    timeline_figure,
)
from reelset.action100m.tree import Tree, build_tree
from reelset.core.errors import ReelsetError
from reelset.sandbox.action100m_sample import make_sample_rows, write_sample_repo

SVG = "{http://www.w3.org/2000/svg}"


def raw_node(
    node_id: str, parent_id: str | None, level: int, start: float, end: float,
    action: str | None = None, summary: str | None = None,
) -> dict[str, Any]:
    """A node dict as a row holds it; ``gpt`` only when a brief action or summary is given."""
    gpt = None
    if action is not None or summary is not None:
        gpt = {
            "summary": {"brief": summary, "detailed": None},
            "action": {"brief": action, "detailed": None, "actor": None},
        }
    return {"node_id": node_id, "parent_id": parent_id, "level": level, "start": start, "end": end, "gpt": gpt}


def spine_tree(depth: int, seconds: float = 100.0) -> Tree:
    """A tree ``depth`` levels deep where each level splits into a leaf and the node that goes on: leaves everywhere."""
    nodes = [raw_node("n0", None, 0, 0.0, seconds, action="make an omelette")]
    start = 0.0
    for level in range(1, depth):
        parent, half = f"n{level - 1}", (seconds - start) / 2
        nodes.append(raw_node(f"leaf{level}", parent, level, start, start + half))
        nodes.append(raw_node(f"n{level}", parent, level, start + half, seconds, action=f"step {level} of the recipe"))
        start += half
    return build_tree("spineTree01", nodes)


def sample_tree() -> tuple[dict[str, Any], Tree]:
    row = make_sample_rows(3, seed=0)[0]
    return row, build_tree(row["video_uid"], row["nodes"])


def bars_in_svg(path: Path) -> Counter[str]:
    """Bars drawn per tier: the shapes inside each ``bars-<tier>`` group (a path, or a ``use`` of a defined path)."""
    counts: Counter[str] = Counter()
    for group in ET.parse(path).getroot().iter(f"{SVG}g"):
        gid = group.get("id") or ""
        if gid.startswith("bars-"):
            defined = {id(element) for defs in group.iter(f"{SVG}defs") for element in defs.iter()}
            shapes = [e for e in group.iter() if e.tag in (f"{SVG}path", f"{SVG}use") and id(e) not in defined]
            counts[gid.removeprefix("bars-")] += len(shapes)
    return counts


def svg_ids(path: Path) -> set[str]:
    return {element.get("id") for element in ET.parse(path).getroot().iter() if element.get("id")}


def test_leaves_at_several_levels_are_coloured_as_leaves():
    tree = spine_tree(5)
    bars = {bar.node_id: bar for bar in timeline_bars(tree)}

    assert len(bars) == len(tree.nodes) == 9
    assert bars["n0"].tier == "root" and bars["n0"].colour == TIER_COLOURS["root"]
    for level in range(1, 5):
        leaf = bars[f"leaf{level}"]
        assert (leaf.tier, leaf.colour, leaf.row) == ("leaf", TIER_COLOURS["leaf"], level)
    assert [bars[f"n{level}"].tier for level in range(1, 5)] == ["mid", "mid", "mid", "leaf"]
    assert (bars["leaf1"].x, bars["leaf1"].width) == (0.0, 50.0)
    assert (bars["n1"].x, bars["n1"].width) == (50.0, 50.0)


def test_labels_use_the_brief_action_then_the_summary_and_skip_na():
    tree = build_tree("labelsTest1", [
        raw_node("root", None, 0, 0, 40, action="whisk  the\n eggs"),
        raw_node("a", "root", 1, 0, 10, action="N/A\n", summary="a cook shows an omelette"),
        raw_node("b", "root", 1, 10, 20, action=" n/a ", summary="N/A"),
        raw_node("c", "root", 1, 20, 30, action=None, summary="pour the eggs"),
        raw_node("d", "root", 1, 30, 40),
    ])
    labels = {bar.node_id: bar.label for bar in timeline_bars(tree)}

    assert labels == {
        "root": "whisk the eggs",
        "a": "a cook shows an omelette",
        "b": None,
        "c": "pour the eggs",
        "d": None,
    }


def test_fit_label_keeps_what_fits_and_marks_the_cut():
    def measure(text: str) -> float:
        return 6.0 * len(text)

    assert fit_label("whisk the eggs", 200, measure) == "whisk the eggs"
    cut = fit_label("whisk the eggs", 60, measure)
    assert cut == "whisk the" + ELLIPSIS  # the space before the cut is dropped
    assert measure(cut) <= 60
    assert fit_label("whisk the eggs", 20, measure) is None  # not even four characters and the ellipsis
    assert fit_label("ok", 5, measure) is None


def narrow_bars_tree() -> Tree:
    """Thirty 2 s bars under a 60 s root, all with a long label: most labels must be cut."""
    long_text = "a person carefully whisks the eggs with a fork in a large bowl on the counter"
    nodes = [raw_node("root", None, 0, 0, 60, action=long_text)]
    nodes += [raw_node(f"s{i}", "root", 1, i * 2.0, (i + 1) * 2.0, action=long_text) for i in range(30)]
    return build_tree("narrowBars1", nodes)


@pytest.mark.parametrize("make_tree", [narrow_bars_tree, lambda: sample_tree()[1]], ids=["narrow", "sample"])
def test_drawn_labels_stay_inside_their_bars(make_tree):
    tree = make_tree()
    figure = timeline_figure(tree, clip_seconds=30)
    figure.canvas.draw()
    labels = [text.get_text() for text in figure.axes[0].texts if (text.get_gid() or "").startswith("label-")]

    assert labels, "wide bars must carry text"
    assert overflowing_labels(figure, timeline_bars(tree)) == []
    if tree.video_uid == "narrowBars1":
        assert len(labels) == 31  # no bar left without text
        assert sum(label.endswith(ELLIPSIS) for label in labels) == 30  # the root is wide enough for all of it


def test_overflowing_labels_reports_text_wider_than_its_bar():
    tree = build_tree("overflowTst", [
        raw_node("root", None, 0, 0, 100),
        raw_node("a", "root", 1, 0, 2),
        raw_node("b", "root", 1, 2, 100),
    ])
    figure = timeline_figure(tree)
    axes = figure.axes[0]
    axes.text(0, 1, "far too long for a two second bar", gid="label-a")
    axes.text(2, 1, "fits", gid="label-b")
    figure.canvas.draw()

    assert overflowing_labels(figure, timeline_bars(tree)) == ["a"]


def test_png_has_the_size_of_the_layout_and_is_written_atomically(tmp_path):
    tree = spine_tree(20)
    out = draw_timeline(tree, tmp_path / "tree.png", title="A $5 omelette")

    width_in, height_in = figure_size(20)
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (round(width_in * DPI), round(height_in * DPI))
    assert figure_size(20)[1] > figure_size(5)[1]  # deep trees get taller, not thinner rows
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tree.png"]  # no temporary file left


def test_svg_has_one_bar_per_node_and_the_clip_end_when_asked(tmp_path):
    row, tree = sample_tree()
    with_clip = draw_timeline(tree, tmp_path / "clip.svg", title=row["metadata"]["title"], clip_seconds=30)
    without_clip = draw_timeline(tree, tmp_path / "plain.svg")

    tiers = Counter(node.tier for node in tree.nodes)
    assert bars_in_svg(with_clip) == tiers
    assert sum(bars_in_svg(without_clip).values()) == len(tree.nodes)
    assert {"clip-end", "clip-end-label"} <= svg_ids(with_clip)
    assert "<!-- clip end -->" in with_clip.read_text()
    assert not {"clip-end", "clip-end-label"} & svg_ids(without_clip)


def test_pdf_follows_the_suffix(tmp_path):
    _, tree = sample_tree()
    out = draw_timeline(tree, tmp_path / "tree.PDF")

    assert out.read_bytes().startswith(b"%PDF")


def test_heading_names_the_video_depth_and_node_count(tmp_path):
    row, tree = sample_tree()
    figure = timeline_figure(tree, title=row["metadata"]["title"])
    texts = [text.get_text() for text in figure.texts]

    assert texts[0] == f"{tree.video_uid} \u00b7 {row['metadata']['title']}"
    assert f"depth {tree.depth}" in texts[1] and f"{len(tree.nodes)} nodes" in texts[1]


def test_long_videos_read_in_minutes_and_short_ones_in_seconds():
    def tick_labels(tree: Tree) -> list[str]:
        figure = timeline_figure(tree)
        figure.canvas.draw()
        return [label.get_text() for label in figure.axes[0].get_xticklabels()]

    assert "5:00" in tick_labels(spine_tree(4, seconds=600))
    assert "1:00:00" in tick_labels(spine_tree(4, seconds=4000))
    short = tick_labels(spine_tree(4, seconds=45))
    assert "40" in short and not any(":" in label for label in short)


def test_bad_requests_fail_with_one_line(tmp_path):
    _, tree = sample_tree()
    with pytest.raises(ReelsetError, match=r"unsupported picture format '\.jpg'"):
        draw_timeline(tree, tmp_path / "tree.jpg")
    with pytest.raises(ReelsetError, match="clip_seconds must be a positive number"):
        draw_timeline(tree, tmp_path / "tree.png", clip_seconds=0)
    with pytest.raises(ReelsetError, match="nothing to draw"):
        draw_timeline(build_tree("emptyTree01", []), tmp_path / "tree.png")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def sample_repo(tmp_path_factory) -> tuple[Path, list[dict[str, Any]]]:
    rows = make_sample_rows(7, seed=3)
    root = tmp_path_factory.mktemp("action100m")
    write_sample_repo(root, rows, shards=3, row_group_size=2)
    return root, rows


def test_find_row_reads_the_row_from_any_shard(sample_repo):
    root, rows = sample_repo
    for row in (rows[0], rows[3], rows[-1]):  # first shard, a middle row group, last shard
        assert find_row(root, row["video_uid"]) == row


def test_find_row_errors_are_one_line(sample_repo):
    root, _ = sample_repo
    with pytest.raises(ReelsetError) as absent:
        find_row(root, "AAAAAAAAAAA")
    assert str(absent.value) == f"AAAAAAAAAAA: not found in 3 shard(s) of {root}"

    with pytest.raises(ReelsetError, match="not a YouTube id") as invalid:
        find_row(root, "abc\nrm -rf")
    assert "\n" not in str(invalid.value)


def test_show_video_draws_the_row_with_its_title(sample_repo, tmp_path):
    root, rows = sample_repo
    row = rows[4]
    out = show_video(root, row["video_uid"], tmp_path / "show.svg", clip_seconds=30)

    assert sum(bars_in_svg(out).values()) == len(row["nodes"])
    assert f"<!-- {row['video_uid']} \u00b7 {row['metadata']['title']} -->" in out.read_text()


def test_show_video_checks_the_output_before_searching(tmp_path):
    with pytest.raises(ReelsetError, match="unsupported picture format"):
        show_video(tmp_path / "no-such-dataset", "AAAAAAAAAAA", tmp_path / "show.gif")
