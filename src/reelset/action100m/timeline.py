"""One video's Tree-of-Captions as a timeline picture, read from the parquet alone.

Behind ``reelset action100m show ID --out FILE``: levels are rows (level 0 on top), each node is a bar over its
``[start, end]`` seconds, coloured by its tier as the tree gives it (a leaf is a node without children, at whatever
level), with its brief action written inside when the bar is wide enough. A dashed line can mark the end of the
downloaded clip, which shows at a glance which segments a clip cuts.

Design choices:

- Bars are drawn as one collection per tier, not one artist per node: real trees reach 5,570 nodes and per-node
  patches take seconds to draw, a collection a fraction of one.
- Labels are fitted with the renderer's own text metrics at the output resolution, so a label never spills over its
  bar; bars narrower than :data:`LABEL_MIN_PIXELS` get no text at all (a letter and an ellipsis read as noise).
- The figure is built on an Agg canvas of its own (no ``pyplot``): the caller's matplotlib backend and global figure
  list are left alone, and nothing runs without a display. matplotlib is imported only when a picture is drawn, so
  importing this module (the CLI does) stays cheap.
- Row height is fixed and the figure grows with the depth, so a 20-level tree stays as readable as a 5-level one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reelset.action100m.schema import COLUMNS, METADATA, NODES, VIDEO_UID
from reelset.action100m.shards import check_shard, require_shards
from reelset.action100m.tree import LEAF, MID, ROOT, Node, Tree, build_tree, is_na
from reelset.core.atomic import atomic_output
from reelset.core.errors import ReelsetError, one_line
from reelset.core.video_ids import is_youtube_id, show_id, why_invalid

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.backend_bases import RendererBase
    from matplotlib.figure import Figure

FORMATS = ("png", "svg", "pdf")
DPI = 150

# Layout in inches. Margins are fixed (no layout engine) so that label fitting, done before saving, measures the
# axes exactly as they are drawn.
WIDTH_IN = 14.0
ROW_IN = 0.32
TOP_IN = 0.95  # two heading lines, the legend, and the "clip end" label above the axes
BOTTOM_IN = 0.6
LEFT_IN = 0.8
RIGHT_IN = 0.35
HEADING_LEFT_IN = 0.2

BAR_HEIGHT = 0.8  # in rows: the gap between rows shows where one level ends
EDGE_POINTS = 0.5  # white edge that separates siblings ...
EDGE_MIN_PIXELS = 4.0  # ... except on bars so thin that the edge would hide their colour
LABEL_POINTS = 7.0
LABEL_PAD_POINTS = 2.5
LABEL_MIN_PIXELS = 14.0
MIN_LABEL_CHARS = 4  # "th…" says nothing; "tigh…" starts to
ELLIPSIS = "\u2026"

TIER_COLOURS = {ROOT: "#37474F", MID: "#2F6DB5", LEAF: "#F2A541"}
TEXT_COLOURS = {ROOT: "white", MID: "white", LEAF: "#1A1A1A"}
ROW_SHADE = "#F2F3F5"
CLIP_COLOUR = "#C62828"

LONG_VIDEO_SECONDS = 180.0  # from here on, ticks read as m:ss
_TICK_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200)
_MAX_TICKS = 12


@dataclass(frozen=True)
class Bar:
    """What the picture draws for one node, in data units (seconds, rows)."""

    node_id: str
    row: int  # the node's level; row 0 is the top one
    x: float  # start, seconds
    width: float  # seconds
    tier: str
    label: str | None  # the full text; the picture may shorten it to fit the bar

    @property
    def colour(self) -> str:
        return TIER_COLOURS[self.tier]


def node_label(node: Node) -> str | None:
    """The text for a node's bar: the brief action, else the brief summary; "N/A" in any spelling counts as none."""
    for field_name in ("gpt_action_brief", "gpt_summary_brief"):
        text = " ".join((node.gpt_text(field_name) or "").split())
        if text and not is_na(text):
            return text
    return None


def timeline_bars(tree: Tree) -> list[Bar]:
    """One :class:`Bar` per node of ``tree``, in the tree's order."""
    return [
        Bar(node.node_id, node.level, node.start, node.end - node.start, node.tier, node_label(node))
        for node in tree.nodes
    ]


def fit_label(text: str, max_width: float, measure: Callable[[str], float]) -> str | None:
    """The longest form of ``text`` that ``measure`` says is at most ``max_width`` wide.

    That is ``text`` itself, or a prefix of it ending in an ellipsis with at least :data:`MIN_LABEL_CHARS`
    characters; None when not even that fits. ``measure`` must grow with the text (widths do), which makes a
    binary search exact.
    """
    if measure(text) <= max_width:
        return text
    if len(text) <= MIN_LABEL_CHARS:
        return None

    def shortened(length: int) -> str:
        return text[:length].rstrip() + ELLIPSIS

    if measure(shortened(MIN_LABEL_CHARS)) > max_width:
        return None
    fits, too_long = MIN_LABEL_CHARS, len(text)
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if measure(shortened(middle)) <= max_width:
            fits = middle
        else:
            too_long = middle
    return shortened(fits)


def figure_size(depth: int) -> tuple[float, float]:
    """Width and height in inches: fixed width, a fixed height per level."""
    return WIDTH_IN, TOP_IN + BOTTOM_IN + ROW_IN * max(depth, 1)


def timeline_figure(tree: Tree, *, title: str | None = None, clip_seconds: float | None = None) -> Figure:
    """Build the picture of ``tree`` without saving it (for :func:`draw_timeline`, and for checking its layout).

    Raises:
        ReelsetError: the tree has no usable node.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    bars = timeline_bars(tree)
    if not bars:
        problems = "; ".join(tree.problems) or "the row has no nodes"
        raise ReelsetError(f"{tree.video_uid}: nothing to draw ({problems})")
    width_in, height_in = figure_size(tree.depth)
    figure = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((
        LEFT_IN / width_in,
        BOTTOM_IN / height_in,
        1 - (LEFT_IN + RIGHT_IN) / width_in,
        1 - (TOP_IN + BOTTOM_IN) / height_in,
    ))
    x_end = max(max(bar.x + bar.width for bar in bars), clip_seconds or 0.0)
    _draw_rows(axes, tree.depth)
    _draw_time_axis(axes, x_end)
    _draw_bars(axes, bars)
    if clip_seconds is not None:
        _draw_clip_end(axes, clip_seconds)
    renderer = figure.canvas.get_renderer()
    _draw_labels(axes, bars, renderer)
    _draw_heading(figure, tree, title, renderer, clip_seconds)
    return figure


def overflowing_labels(figure: Figure, bars: Sequence[Bar]) -> list[str]:
    """The node ids whose label, as the renderer lays it out, is not wholly inside the node's bar.

    The independent check of the fitting in :func:`timeline_figure`: it reads the extents of the drawn text
    artists (``gid`` ``label-<node_id>``), not the widths the fitting computed.
    """
    axes = figure.axes[0]
    renderer = figure.canvas.get_renderer()
    bars_by_id = {bar.node_id: bar for bar in bars}
    overflowing = []
    for text in axes.texts:
        gid = text.get_gid() or ""
        if not gid.startswith("label-"):
            continue
        bar = bars_by_id[gid.removeprefix("label-")]
        corners = [(bar.x, bar.row - BAR_HEIGHT / 2), (bar.x + bar.width, bar.row + BAR_HEIGHT / 2)]
        (x0, y0), (x1, y1) = axes.transData.transform(corners)
        extent = text.get_window_extent(renderer)
        # min/max: the y axis is inverted, so the data corners are not the pixel box's lower-left and upper-right.
        if extent.x0 < min(x0, x1) or extent.x1 > max(x0, x1) or extent.y0 < min(y0, y1) or extent.y1 > max(y0, y1):
            overflowing.append(bar.node_id)
    return overflowing


def draw_timeline(tree: Tree, out: Path, *, title: str | None = None, clip_seconds: float | None = None) -> Path:
    """Draw ``tree`` as a timeline into ``out`` (PNG, SVG or PDF after its suffix), atomically; return ``out``.

    Args:
        tree: the video's Tree-of-Captions, from :func:`~reelset.action100m.tree.build_tree`.
        out: the picture to write; its suffix picks the format.
        title: the video's title, shown after its id.
        clip_seconds: where the downloaded clip ends; drawn as a dashed "clip end" line.

    Raises:
        ReelsetError: an unsupported suffix, a ``clip_seconds`` that is not a positive number, or an empty tree.
    """
    out = Path(out)
    picture_format = _check_request(out, clip_seconds)
    figure = timeline_figure(tree, title=title, clip_seconds=clip_seconds)
    with atomic_output(out) as tmp:
        # The temporary name does not end in the suffix, so the format is given explicitly.
        figure.savefig(tmp, format=picture_format, dpi=DPI)
    return out


def find_row(data_dir: Path, video_uid: str) -> dict[str, Any]:
    """The row of ``video_uid`` in ``<data_dir>/data/*.parquet``, as a dict of ``video_uid``, ``metadata``, ``nodes``.

    The shards hold 20-30 GB, so the search reads only the ``video_uid`` column, one row group at a time, and
    decodes the full columns of the single row group that holds the match.

    Raises:
        ReelsetError: ``video_uid`` is not a YouTube id, there is no shard (the ids step has not run), a shard is
            unreadable, or no shard has the id.
    """
    if not is_youtube_id(video_uid):
        raise ReelsetError(f"{show_id(video_uid)}: not a YouTube id ({why_invalid(video_uid)})")
    shards = require_shards(data_dir)
    for path in shards:
        shard = check_shard(path, COLUMNS)
        for group in range(shard.num_row_groups):
            ids = _read_row_group(shard, path, group, [VIDEO_UID]).column(VIDEO_UID)
            index = pc.index(ids, video_uid).as_py()
            if index >= 0:
                return _read_row_group(shard, path, group, list(COLUMNS)).take([index]).to_pylist()[0]
    raise ReelsetError(f"{video_uid}: not found in {len(shards)} shard(s) of {data_dir}")


def show_video(data_dir: Path, video_uid: str, out: Path, *, clip_seconds: float | None = None) -> Path:
    """Find ``video_uid`` in the shards of ``data_dir`` and draw its Tree-of-Captions into ``out``; return ``out``.

    The output request is checked before the (possibly long) search, so a typo in ``out`` fails at once.

    Raises:
        ReelsetError: as :func:`find_row` and :func:`draw_timeline`.
    """
    _check_request(Path(out), clip_seconds)
    row = find_row(data_dir, video_uid)
    tree = build_tree(video_uid, row[NODES])
    title = (row[METADATA] or {}).get("title")
    return draw_timeline(tree, out, title=title, clip_seconds=clip_seconds)


def _check_request(out: Path, clip_seconds: float | None) -> str:
    """The picture format named by ``out``'s suffix, after checking it and ``clip_seconds``."""
    picture_format = out.suffix.lower().lstrip(".")
    if picture_format not in FORMATS:
        raise ReelsetError(f"{out}: unsupported picture format {out.suffix!r} (use .png, .svg or .pdf)")
    if clip_seconds is not None and not (math.isfinite(clip_seconds) and clip_seconds > 0):
        raise ReelsetError(f"clip_seconds must be a positive number of seconds, got {clip_seconds!r}")
    return picture_format


def _read_row_group(shard: pq.ParquetFile, path: Path, group: int, columns: list[str]) -> pa.Table:
    try:
        return shard.read_row_group(group, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        reason = one_line(exc, limit=160)
        raise ReelsetError(f"{path}: row group {group} is corrupt ({reason})") from exc


def _draw_rows(axes: Axes, depth: int) -> None:
    """One row per level, level 0 on top, every other row shaded so that deep trees stay easy to follow."""
    axes.set_ylim(depth - 0.5, -0.5)
    axes.set_yticks(range(depth), [f"level {level}" for level in range(depth)], fontsize=8)
    axes.tick_params(axis="y", length=0)
    for level in range(1, depth, 2):
        axes.axhspan(level - 0.5, level + 0.5, color=ROW_SHADE, linewidth=0, zorder=0)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)


def _draw_time_axis(axes: Axes, x_end: float) -> None:
    """Seconds for short videos, m:ss (h:mm:ss past an hour) for long ones, with about a dozen round ticks."""
    from matplotlib.ticker import FormatStrFormatter, FuncFormatter, MultipleLocator

    axes.set_xlim(0, x_end)
    step = next((step for step in _TICK_STEPS if x_end / step <= _MAX_TICKS), x_end / _MAX_TICKS)
    axes.xaxis.set_major_locator(MultipleLocator(step))
    if x_end >= LONG_VIDEO_SECONDS:
        axes.xaxis.set_major_formatter(FuncFormatter(lambda seconds, _: _clock(seconds)))
        axes.set_xlabel("time (h:mm:ss)" if x_end >= 3600 else "time (m:ss)", fontsize=9)
    else:
        axes.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        axes.set_xlabel("time (s)", fontsize=9)
    axes.tick_params(axis="x", labelsize=8)
    axes.grid(axis="x", color="#D9D9D9", linewidth=0.6)
    axes.set_axisbelow(True)


def _clock(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _draw_bars(axes: Axes, bars: Sequence[Bar]) -> None:
    """One collection per tier, with ``gid`` ``bars-<tier>`` (in SVG, one path per bar inside that group)."""
    from matplotlib.collections import PolyCollection

    pixels_per_second = _pixels_per_second(axes)
    half = BAR_HEIGHT / 2
    for tier in (ROOT, MID, LEAF):
        tier_bars = [bar for bar in bars if bar.tier == tier]
        if not tier_bars:
            continue
        boxes = [
            ((bar.x, bar.row - half), (bar.x + bar.width, bar.row - half),
             (bar.x + bar.width, bar.row + half), (bar.x, bar.row + half))
            for bar in tier_bars
        ]
        edges = [EDGE_POINTS if bar.width * pixels_per_second >= EDGE_MIN_PIXELS else 0.0 for bar in tier_bars]
        collection = PolyCollection(
            boxes, closed=True, facecolors=TIER_COLOURS[tier], edgecolors="white", linewidths=edges, zorder=2
        )
        collection.set_gid(f"bars-{tier}")
        axes.add_collection(collection, autolim=False)


def _draw_clip_end(axes: Axes, clip_seconds: float) -> None:
    from matplotlib.transforms import blended_transform_factory

    # Over the bars, under the labels: the line must not hide the text it crosses.
    axes.axvline(clip_seconds, color=CLIP_COLOUR, linestyle=(0, (4, 3)), linewidth=1.3, zorder=2.5, gid="clip-end")
    axes.text(
        clip_seconds, 1.0, "clip end", transform=blended_transform_factory(axes.transData, axes.transAxes),
        ha="center", va="bottom", color=CLIP_COLOUR, fontsize=8, clip_on=False, gid="clip-end-label",
    )


def _draw_labels(axes: Axes, bars: Sequence[Bar], renderer: RendererBase) -> None:
    """Write each label that fits inside its bar, measured with ``renderer`` at the figure's resolution."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.transforms import offset_copy

    font = FontProperties(size=LABEL_POINTS)
    after_pad = offset_copy(axes.transData, fig=axes.figure, x=LABEL_PAD_POINTS, units="points")
    pad_pixels = LABEL_PAD_POINTS * axes.figure.dpi / 72
    pixels_per_second = _pixels_per_second(axes)

    def measure(text: str) -> float:
        return renderer.get_text_width_height_descent(text, font, ismath=False)[0]

    for bar in bars:
        bar_pixels = bar.width * pixels_per_second
        if bar.label is None or bar_pixels < LABEL_MIN_PIXELS:
            continue
        text = fit_label(bar.label, bar_pixels - 2 * pad_pixels, measure)
        if text is not None:
            axes.text(
                bar.x, bar.row, text, transform=after_pad, fontproperties=font, color=TEXT_COLOURS[bar.tier],
                ha="left", va="center", parse_math=False, clip_on=True, zorder=3, gid=f"label-{bar.node_id}",
            )


def _draw_heading(
    figure: Figure, tree: Tree, title: str | None, renderer: RendererBase, clip_seconds: float | None
) -> None:
    """Id and title (shortened to the figure's width), the tree's size, and the legend on the right."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    width_in, height_in = figure.get_size_inches()
    font = FontProperties(size=12, weight="bold")
    heading = " \u00b7 ".join(part for part in (tree.video_uid, " ".join((title or "").split())) if part)
    available = (width_in - HEADING_LEFT_IN - RIGHT_IN) * figure.dpi
    heading = fit_label(heading, available, lambda text: renderer.get_text_width_height_descent(text, font, False)[0])
    figure.text(
        HEADING_LEFT_IN / width_in, 1 - 0.12 / height_in, heading or tree.video_uid, fontproperties=font,
        va="top", parse_math=False, gid="heading",
    )
    facts = f"Tree-of-Captions \u00b7 depth {tree.depth} \u00b7 {len(tree.nodes):,} nodes"
    if tree.problems:
        facts += f" \u00b7 {len(tree.problems)} problem(s) in the row"
    figure.text(HEADING_LEFT_IN / width_in, 1 - 0.42 / height_in, facts, fontsize=9, color="#444444", va="top")

    counts = {tier: sum(node.tier == tier for node in tree.nodes) for tier in (ROOT, MID, LEAF)}
    handles: list[Any] = [
        Patch(facecolor=TIER_COLOURS[tier], label=f"{tier} ({counts[tier]:,})") for tier in (ROOT, MID, LEAF)
    ]
    if clip_seconds is not None:
        handles.append(Line2D([], [], color=CLIP_COLOUR, linestyle=(0, (4, 3)), label=f"clip end ({clip_seconds:g} s)"))
    figure.legend(
        handles=handles, loc="upper right", bbox_to_anchor=(1 - RIGHT_IN / width_in, 1 - 0.34 / height_in),
        ncols=len(handles), frameon=False, fontsize=8.5, handlelength=1.6, columnspacing=1.4,
    )


def _pixels_per_second(axes: Axes) -> float:
    start, end = axes.get_xlim()
    return axes.bbox.width / (end - start)
