"""The taste report: one self-contained HTML file (``report.html``) that opens anywhere, offline.

Everything is inline: the charts are PNGs drawn by matplotlib (its Agg canvas, no pyplot state) and the thumbnails
JPEGs, both as ``data:`` URIs; the style sheet is in the page; there is no script and no external URL, so the file
can be mailed or archived as it is.

Sections, each a ``<section id=...>`` (the tests and anyone scripting the page find them by id):

- ``totals``: videos tagged, hours of video, files skipped, features from the cache, the period covered
  (each number in an element with ``data-total="videos|hours|skipped|from-cache"``);
- ``categories``: the videos counted by the category of their top label (the "vertical" for a YouTube-8M model;
  left out when its vocabulary gives no verticals), as a chart and a table that also gives each group's share of
  all scores;
- ``labels``: the most frequent top labels;
- ``timeline``: the same counts over time, by day when the videos span at most 62 days, by month up to ten years,
  else by year, empty periods included;
- ``videos``: one card per video (newest first): thumbnail, when it was taken (and whether the date comes from the
  file's metadata or its modification time), length, the top labels with scores and groups;
- ``skipped``: every file that could not be tagged and why, and the warnings of those tagged in part.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np

from reelset.core.atomic import atomic_write_text
from reelset.taste.results import SkippedFile, TastedVideo

DAY_SPAN_DAYS = 62
MONTH_SPAN_YEARS = 10
TOP_GROUPS_CHART = 12
TIMELINE_GROUPS = 8
OTHER = "other"


@dataclass
class ReportInput:
    """What the report shows, besides the videos and the skipped files."""

    sources: Sequence[str]
    tagger: str
    group_kind: str = "category"  # or "vertical"; "none": the labels have no groups (no such chart)
    top_k: int = 5
    from_cache: int = 0
    group_shares: dict[str, float] = field(default_factory=dict)  # each group's share of all scores
    generated: datetime | None = None


def period_unit(times: Sequence[datetime]) -> str:
    """``"day"``, ``"month"`` or ``"year"``: the step of the timeline for videos taken at ``times``."""
    if not times:
        return "month"
    span = max(times) - min(times)
    if span.days <= DAY_SPAN_DAYS:
        return "day"
    return "month" if span.days <= MONTH_SPAN_YEARS * 366 else "year"


def period_key(when: datetime, unit: str) -> str:
    return when.strftime({"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}[unit])


def all_periods(times: Sequence[datetime], unit: str) -> list[str]:
    """Every period from the first video's to the last one's, empty ones included."""
    if not times:
        return []
    first, last = min(times), max(times)
    keys = []
    if unit == "day":
        day, end = first.date(), last.date()
        while day <= end:
            keys.append(day.isoformat())
            day = date.fromordinal(day.toordinal() + 1)
    elif unit == "month":
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            keys.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    else:
        keys = [f"{year:04d}" for year in range(first.year, last.year + 1)]
    return keys


def _palette(groups: Sequence[str]) -> dict[str, str]:
    """One colour per group, stable within a report: tab10 by rank, grey for "other"."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    colours = colormaps["tab10"].colors + colormaps["Dark2"].colors
    palette = {group: to_hex(colours[rank % len(colours)]) for rank, group in enumerate(groups)}
    palette[OTHER] = "#b0b0b0"
    return palette


def _png(figure) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def bar_chart(items: Sequence[tuple[str, float]], *, xlabel: str, colours: Sequence[str] | None = None) -> str:
    """A horizontal bar chart of counts (first item on top) as a base64 PNG."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(5.0, 0.36 * len(items) + 0.8))
    axes = figure.add_subplot()
    labels = [name for name, _ in items][::-1]
    values = [value for _, value in items][::-1]
    bars = axes.barh(labels, values, color=(list(colours)[::-1] if colours else "#4c72b0"))
    axes.bar_label(bars, labels=[f"{value:g}" for value in values], padding=3, fontsize=9)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(xlabel)
    axes.spines[["top", "right"]].set_visible(False)
    axes.margins(x=0.12)
    return _png(figure)


def timeline_chart(periods: Sequence[str], series: dict[str, list[int]], palette: dict[str, str]) -> str:
    """Stacked bars of video counts per period, one colour per group, as a base64 PNG."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(9.5, 3.2))
    axes = figure.add_subplot()
    positions = np.arange(len(periods))
    bottom = np.zeros(len(periods))
    for group, counts in series.items():
        axes.bar(positions, counts, bottom=bottom, color=palette.get(group, "#b0b0b0"), label=group, width=0.8)
        bottom += np.asarray(counts, float)
    step = max(1, len(periods) // 16)
    axes.set_xticks(positions[::step], [periods[index] for index in range(0, len(periods), step)], rotation=45,
                    ha="right", fontsize=8)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("videos")
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return _png(figure)


def _escape(text) -> str:
    return html.escape(str(text), quote=True)


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.2f}" if hours < 10 else f"{hours:.1f}"


def _length(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def _thumbnail(video: TastedVideo) -> str:
    if video.thumbnail is None or not Path(video.thumbnail).is_file():
        return '<div class="thumb missing">no picture</div>'
    data = base64.b64encode(Path(video.thumbnail).read_bytes()).decode("ascii")
    return f'<img class="thumb" alt="{_escape(Path(video.path).name)}" src="data:image/jpeg;base64,{data}">'


def _video_card(video: TastedVideo, group_name: str) -> str:
    source = "from its metadata" if video.taken.source == "metadata" else "file modification time"
    labels = "".join(
        f'<li class="label" data-name="{_escape(label.name)}" data-score="{label.score:.6f}" '
        f'data-category="{_escape(label.category)}"><span class="name">{_escape(label.name)}</span>'
        f'<span class="group">{_escape(label.category or "")}</span>'
        f'<span class="meter"><span style="width:{max(0.0, min(1.0, label.score)) * 100:.1f}%"></span></span>'
        f'<span class="score">{label.score * 100:.1f}%</span></li>'
        for label in video.labels)
    notes = "".join(f'<p class="note">{_escape(warning)}</p>' for warning in video.warnings)
    return (f'<article class="video" data-path="{_escape(video.path)}" data-main="{_escape(video.main_group)}">'
            f'{_thumbnail(video)}<h3 title="{_escape(video.path)}">{_escape(Path(video.path).name)}</h3>'
            f'<p class="meta"><time datetime="{video.taken.when.isoformat()}" data-source="{video.taken.source}">'
            f'{video.taken.when:%Y-%m-%d %H:%M}</time> ({source}) &middot; {_length(video.seconds)}'
            f'{" &middot; features from cache" if video.from_cache else ""}</p>'
            f'<p class="main">{_escape(group_name)}: <b>{_escape(video.main_group)}</b></p>'
            f'<ol class="labels">{labels}</ol>{notes}</article>')


_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d1d1f;
       background: #f6f6f4; }
header, section, .row { max-width: 1180px; margin: 0 auto; padding: 18px 28px; }
.row { display: flex; flex-wrap: wrap; gap: 0 36px; padding: 0 28px; }
.row section { margin: 0; padding: 18px 0; flex: 1 1 440px; }
header { padding-top: 28px; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 12px; border-bottom: 1px solid #ddd; padding-bottom: 6px; }
.sub { color: #666; margin: 0; font-size: 13px; }
.totals { display: flex; flex-wrap: wrap; gap: 12px; }
.total { background: #fff; border-radius: 10px; padding: 12px 18px; min-width: 130px;
         box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.total b { display: block; font-size: 26px; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.chart { background: #fff; border-radius: 10px; padding: 10px; box-shadow: 0 1px 2px rgba(0,0,0,.08);
         max-width: 100%; }
.chart img { max-width: 100%; display: block; }
table { border-collapse: collapse; background: #fff; font-size: 13px; }
.table { max-height: 380px; overflow-y: auto; }
td, th { padding: 4px 10px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 16px; }
.video { background: #fff; border-radius: 10px; overflow: hidden; box-shadow: 0 1px 2px rgba(0,0,0,.08);
         padding-bottom: 8px; }
.video .thumb { width: 100%; aspect-ratio: 16 / 10; object-fit: cover; display: block; background: #222; }
.video .thumb.missing { color: #aaa; display: flex; align-items: center; justify-content: center; }
.video h3 { font-size: 14px; margin: 8px 12px 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.video p { margin: 2px 12px; font-size: 12px; color: #555; }
.video .main { color: #1d1d1f; font-size: 13px; }
.labels { list-style: none; margin: 6px 12px 0; padding: 0; font-size: 12px; }
.label { display: grid; grid-template-columns: 1fr 60px 44px; grid-template-rows: auto auto; column-gap: 6px; }
.label .name { grid-column: 1; font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.label .group { grid-column: 1; grid-row: 2; color: #888; font-size: 11px; }
.label .meter { grid-column: 2; grid-row: 1 / 3; align-self: center; height: 6px; background: #eee;
                border-radius: 3px; overflow: hidden; }
.label .meter span { display: block; height: 100%; background: #4c72b0; }
.label .score { grid-column: 3; grid-row: 1 / 3; align-self: center; text-align: right; color: #444; }
.note { color: #a15c00 !important; }
footer { max-width: 1180px; margin: 0 auto; padding: 10px 28px 30px; color: #777; font-size: 12px; }
"""


def render_report(videos: Sequence[TastedVideo], skipped: Sequence[SkippedFile], info: ReportInput) -> str:
    """The report's HTML (see the module docstring)."""
    group_name = "vertical" if info.group_kind == "vertical" else "category"
    group_title = "verticals" if info.group_kind == "vertical" else "categories"
    generated = info.generated or datetime.now().astimezone()
    total_seconds = sum(video.seconds for video in videos)
    times = [video.taken.when for video in videos]
    by_group = Counter(video.main_group for video in videos)
    ranked_groups = [group for group, _ in sorted(by_group.items(), key=lambda item: (-item[1], item[0]))]
    palette = _palette(ranked_groups[:TIMELINE_GROUPS])
    parts = [f"<header><h1>What videos do you love to take?</h1>"
             f'<p class="sub">{_escape(", ".join(info.sources))} &middot; {_escape(info.tagger)} &middot; '
             f"top {info.top_k} labels per video &middot; made {generated:%Y-%m-%d %H:%M}</p></header>"]

    period = (f"{min(times):%Y-%m-%d} to {max(times):%Y-%m-%d}" if times else "none")
    totals = [("videos", len(videos), "videos tagged"), ("hours", _hours(total_seconds), "hours of video"),
              ("skipped", len(skipped), "files skipped"), ("from-cache", info.from_cache, "from cache")]
    parts.append('<section id="totals"><h2>Totals</h2><div class="totals">'
                 + "".join(f'<div class="total"><b data-total="{key}">{value}</b>{text}</div>'
                           for key, value, text in totals)
                 + f'<div class="total"><b>{_escape(period)}</b>taken</div></div></section>')

    if videos and info.group_kind != "none":
        top = ranked_groups[:TOP_GROUPS_CHART]
        chart = bar_chart([(group, by_group[group]) for group in top],
                          xlabel=f"videos (by the {group_name} of their top label)",
                          colours=[palette.get(group, palette[OTHER]) for group in top])
        rows = "".join(
            f'<tr data-group="{_escape(group)}"><td>{_escape(group)}</td><td class="num">{by_group[group]}</td>'
            f'<td class="num">{info.group_shares.get(group, 0.0) * 100:.1f}%</td></tr>' for group in ranked_groups)
        groups_section = (f'<section id="categories"><h2>Top {group_title}</h2><div class="charts">'
                          f'<div class="chart"><img alt="Top {group_title}" src="data:image/png;base64,{chart}">'
                          f'</div><div class="table"><table><tr><th>{group_name}</th><th class="num">videos</th>'
                          f'<th class="num">share of scores</th></tr>{rows}</table></div></div></section>')
    else:
        groups_section = ""
    if videos:
        top_labels = Counter(video.labels[0].name for video in videos if video.labels)
        ranked_labels = sorted(top_labels.items(), key=lambda item: (-item[1], item[0]))[:TOP_GROUPS_CHART]
        label_group = {video.labels[0].name: video.main_group for video in videos if video.labels}
        label_chart = bar_chart(ranked_labels, xlabel="videos (by their top label)",
                                colours=[palette.get(label_group[name], palette[OTHER]) for name, _ in ranked_labels])
        parts.append(f'<div class="row">{groups_section}<section id="labels"><h2>Top labels</h2><div class="chart">'
                     f'<img alt="Top labels" src="data:image/png;base64,{label_chart}"></div></section></div>')

        unit = period_unit(times)
        periods = all_periods(times, unit)
        shown = ranked_groups[:TIMELINE_GROUPS]
        series = {group: [0] * len(periods) for group in [*shown, OTHER]}
        index = {key: position for position, key in enumerate(periods)}
        for video in videos:
            group = video.main_group if video.main_group in shown else OTHER
            series[group][index[period_key(video.taken.when, unit)]] += 1
        series = {group: counts for group, counts in series.items() if any(counts)}
        chart = timeline_chart(periods, series, palette)
        parts.append(f'<section id="timeline" data-unit="{unit}"><h2>Over time (by {unit})</h2>'
                     f'<div class="chart"><img alt="Videos by {unit}" src="data:image/png;base64,{chart}"></div>'
                     f'<p class="sub">When a video was taken: its creation time from the file\'s metadata, else the '
                     f"file's modification time.</p></section>")

    cards = "".join(_video_card(video, group_name)
                    for video in sorted(videos, key=lambda video: video.taken.when, reverse=True))
    parts.append(f'<section id="videos"><h2>Videos ({len(videos)})</h2><div class="grid">{cards}</div></section>')

    rows = "".join(f'<tr data-path="{_escape(item.path)}"><td>{_escape(item.path)}</td><td>{_escape(item.reason)}'
                   f"</td></tr>" for item in skipped)
    warnings = [(video.path, warning) for video in videos for warning in video.warnings]
    warned = "".join(f"<li>{_escape(warning)}</li>" for _, warning in warnings)
    parts.append(f'<section id="skipped"><h2>Skipped files ({len(skipped)})</h2>'
                 + (f"<table><tr><th>file</th><th>why</th></tr>{rows}</table>" if skipped
                    else "<p>None: every file was tagged.</p>")
                 + (f"<h3>Tagged with warnings</h3><ul>{warned}</ul>" if warnings else "")
                 + "</section>")
    parts.append("<footer>A video's scores are the mean over its frames (one per second) of the per-frame "
                 "scores; its labels are the top scores whatever their value. Made by reelset taste.</footer>")
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>reelset taste: {len(videos)} videos</title><style>{_STYLE}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def write_report(path: Path, videos: Sequence[TastedVideo], skipped: Sequence[SkippedFile],
                 info: ReportInput) -> Path:
    """Write :func:`render_report` to ``path`` atomically."""
    atomic_write_text(Path(path), render_report(videos, skipped, info))
    return Path(path)
