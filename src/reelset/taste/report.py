"""The taste report: one HTML file (``report.html``) that a person reads in half a minute, that opens offline, and
that stays fast for a phone library of thousands of videos.

What is in the file and what is next to it. Inline: the style sheet, one small script (the videos' filters) and the
charts (PNGs drawn by matplotlib's Agg canvas, no pyplot state, as ``data:`` URIs: smaller and faster to show than
the same charts as SVG; ``docs/benchmarks.md``). Next to it: the thumbnails, the JPEG files the run writes to
``thumbnails/``, linked by relative URLs and loaded lazily (``loading="lazy"``, with their width and height, so the
page does not move as they arrive); the video cards are grouped by month, and a month, like each card, is laid out
and drawn only when it scrolls into view (``content-visibility: auto``): a page of 5,000 videos opens in under a
second (``bench/taste_report.py``). No URL points outside the report's folder: copy or archive the folder, not the page
alone. Without JavaScript every video is shown (and the filters, useless then, are hidden).

A video is counted under its YouTube-8M vertical (``TastedVideo.vertical``; "(unknown)" when not known; "Other" and
"(unknown)" come last in every ranking). A duplicate (``duplicate_of`` naming another video of the run) is counted
once, as the video it duplicates, in the totals and in every count and chart: only its card says it exists. Labels
marked ``unsure`` (too low a score to state as a fact) are never shown as facts: a "?" after the name and a title
that says so, and counted apart from the sure ones.

Sections, each a ``<section id=...>`` (the tests and anyone scripting the page find them by id), after a header
whose one sentence answers the question (``<p id="answer">``):

- ``totals``: videos (duplicates counted once), hours of video, places, duplicates folded, files skipped, features
  from the cache (each number in an element with ``data-total="videos|hours|places|duplicates|skipped|from-cache"``)
  and the period covered;
- ``verticals``: videos per vertical, a chart and a table (videos, hours, share of the videos, and each vertical's
  share of all scores when the run gives them);
- ``labels``: the most frequent labels (entities) over the videos' top labels: in how many videos each is sure, and
  in how many more it is only a guess (``unsure``);
- ``timeline``: the videos over time, stacked by vertical: by day when they span at most 62 days, by month up to ten
  years, else by year, empty periods included;
- ``years``: the year in review, newest first: videos, hours, top verticals and top places of each year;
- ``places``: where the videos were filmed: a table of places (videos, hours, years) and every point with
  coordinates drawn on a plain latitude/longitude grid (no map tiles: nothing remote);
- ``moments`` (when the run gives them): the best moment of each top vertical, its thumbnail and video;
- ``videos``: one card per video, newest first, by month (``<div class="month" data-month="YYYY-MM">``):
  thumbnail, when it was taken (and whether from the file's metadata or its modification time), place, length,
  shots, vertical, the top labels with scores (unsure ones marked), and "duplicate of ..." when it is one;
  filterable by vertical, year and place (select boxes reading ``data-vertical``, ``data-year`` and ``data-place``
  on each ``<article class="video">``; no ``data-place`` when the video has no place);
- ``skipped``: every file that could not be tagged and why, and the warnings of those tagged in part.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np

from reelset.core.atomic import atomic_write_text
from reelset.taste.predict import Label
from reelset.taste.results import UNKNOWN_GROUP, SkippedFile, TastedVideo
from reelset.taste.verticals import OTHER

DAY_SPAN_DAYS = 62
MONTH_SPAN_YEARS = 10
TIMELINE_GROUPS = 8
TOP_LABELS = 20
YEAR_TOP = 3  # verticals and places named per year
MAP_NAMES = 40  # places named on the map at most, most videos first (fewer where names would overlap)
SPOT_DEGREES = 0.05  # points closer than this (about 5 km) are one dot on the map
REST = "other verticals"  # the timeline's bucket for the verticals past the first TIMELINE_GROUPS
LAST = (OTHER, UNKNOWN_GROUP)  # ranked after every real vertical
GRID_COLUMNS = 4  # cards per row in a full-width window (the page is at most 1180 px wide)
CARD_ROW_PX = 344  # a row of cards and the gap below it
MONTH_TITLE_PX = 48
NO_PLACE = ""  # the place of a video that says nothing of where it was filmed (its card has no data-place)


@dataclass
class ReportInput:
    """What the report shows, besides the videos and the skipped files.

    Attributes:
        sources: the folders and files the run was given.
        tagger: one line on the tagger (model, labels).
        group_kind: what a label's ``category`` holds, as the cards name it in the label's title: ``"category"``,
            ``"vertical"``, or ``"none"`` (the labels have no groups).
        top_k: labels per video.
        from_cache: videos whose features came from the cache.
        group_shares: each vertical's share of all scores (the verticals table's last column, when it names
            some of the videos' verticals).
        generated: when the report was made (default: now).
        best_moments: vertical -> (the video's path, its best-moment thumbnail or None): the ``moments`` section.
    """

    sources: Sequence[str]
    tagger: str
    group_kind: str = "category"
    top_k: int = 5
    from_cache: int = 0
    group_shares: dict[str, float] = field(default_factory=dict)
    generated: datetime | None = None
    best_moments: dict[str, tuple[str, Path | None]] = field(default_factory=dict)


# --- counting --------------------------------------------------------------------------------------------------------


def vertical_of(video: TastedVideo) -> str:
    return video.vertical or UNKNOWN_GROUP


def counted_videos(videos: Sequence[TastedVideo]) -> list[TastedVideo]:
    """The videos that count: all but the duplicates of another video of the run (a duplicate of a video that is
    not in the run, say skipped, still counts)."""
    paths = {video.path for video in videos}
    return [video for video in videos if not (video.duplicate_of and video.duplicate_of != video.path
                                              and video.duplicate_of in paths)]


def rank(counts: Mapping[str, float]) -> list[str]:
    """The keys, largest count first, by name on ties; "Other" and "(unknown)" last."""
    return sorted(counts, key=lambda name: (name in LAST, LAST.index(name) if name in LAST else 0, -counts[name],
                                            name))


@dataclass
class LabelCount:
    """How often a label is among the top labels of the counted videos: ``sure`` where it is not ``unsure``."""

    name: str
    vertical: str
    sure: int = 0
    unsure: int = 0


def label_counts(videos: Iterable[TastedVideo]) -> list[LabelCount]:
    """Each label's counts (one per video however often it appears there), most sure videos first, then most
    unsure, then by name."""
    counts: dict[str, LabelCount] = {}
    for video in videos:
        seen: dict[str, Label] = {}
        for label in video.labels:  # a name twice in one video counts once, as sure if either is
            if label.name not in seen or seen[label.name].unsure:
                seen[label.name] = label
        for label in seen.values():
            count = counts.setdefault(label.name, LabelCount(label.name, label.category))
            count.vertical = count.vertical or label.category
            if label.unsure:
                count.unsure += 1
            else:
                count.sure += 1
    return sorted(counts.values(), key=lambda count: (-count.sure, -count.unsure, count.name))


@dataclass
class Tally:
    """Videos and seconds of one group (a vertical, a place, a year)."""

    videos: int = 0
    seconds: float = 0.0

    def add(self, video: TastedVideo) -> None:
        self.videos += 1
        self.seconds += video.seconds


def tally(videos: Iterable[TastedVideo], key) -> dict[str, Tally]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    for video in videos:
        tallies[key(video)].add(video)
    return dict(tallies)


def _top(tallies: Mapping[str, Tally], count: int, *, skip: Iterable[str] = ()) -> list[tuple[str, int]]:
    skip = set(skip)
    ranked = rank({name: item.videos for name, item in tallies.items() if name not in skip})
    return [(name, tallies[name].videos) for name in ranked[:count]]


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


# --- charts (matplotlib figures, embedded as PNG) --------------------------------------------------------------------


def _palette(verticals: Sequence[str]) -> dict[str, str]:
    """One colour per vertical, stable within a report: by rank, greys for "Other", "(unknown)" and the rest."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    colours = [colour for colour in colormaps["tab10"].colors + colormaps["Dark2"].colors
               if max(colour) - min(colour) > 0.05]  # their greys are for "Other" and the rest
    real = [name for name in verticals if name not in LAST]
    palette = {name: to_hex(colours[position % len(colours)]) for position, name in enumerate(real)}
    palette.update({OTHER: "#9a9a9a", UNKNOWN_GROUP: "#c8c8c8", REST: "#dadada"})
    return palette


def bar_chart(items: Sequence[tuple[str, float]], *, xlabel: str, colours: Sequence[str] | None = None):
    """A horizontal bar chart of counts (first item on top): a matplotlib Figure."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(5.0, 0.3 * len(items) + 0.8))
    axes = figure.add_subplot()
    labels = [name for name, _ in items][::-1]
    values = [value for _, value in items][::-1]
    bars = axes.barh(labels, values, color=(list(colours)[::-1] if colours else "#4c72b0"))
    axes.bar_label(bars, labels=[f"{value:g}" for value in values], padding=3, fontsize=9)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(xlabel)
    axes.spines[["top", "right"]].set_visible(False)
    axes.margins(x=0.12)
    return figure


def timeline_chart(periods: Sequence[str], series: dict[str, list[int]], palette: dict[str, str]):
    """Stacked bars of video counts per period, one colour per vertical: a matplotlib Figure."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(9.5, 3.0))
    axes = figure.add_subplot()
    positions = np.arange(len(periods))
    edges = np.arange(len(periods) + 1) - 0.5
    bottom = np.zeros(len(periods))
    for group, counts in series.items():
        # One filled step artist per vertical: a bar per period and vertical (hundreds of patches) takes seconds.
        top = bottom + np.asarray(counts, float)
        axes.stairs(top, edges, baseline=bottom, fill=True, color=palette.get(group, palette[REST]), label=group)
        bottom = top
    axes.set_xlim(edges[0], edges[-1])
    step = max(1, len(periods) // 16)
    axes.set_xticks(positions[::step], [periods[index] for index in range(0, len(periods), step)], rotation=45,
                    ha="right", fontsize=8)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("videos")
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return figure


def map_extent(lons: Sequence[float], lats: Sequence[float]) -> tuple[float, float, float, float]:
    """(west, east, south, north) that shows every point with a margin: the whole world when they span more
    than a third of it, at least one degree either way when they are all in one town."""
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    if east - west > 120 or north - south > 60:
        return -180.0, 180.0, -90.0, 90.0
    pad_x, pad_y = max(0.5, (east - west) * 0.15), max(0.5, (north - south) * 0.15)
    return (max(-180.0, west - pad_x), min(180.0, east + pad_x), max(-90.0, south - pad_y), min(90.0, north + pad_y))


def places_chart(points: Sequence[tuple[float, float]], named: Sequence[tuple[str, float, float]]):
    """The ``(lon, lat)`` points on an equirectangular grid, one dot per spot (about 5 km; larger with more videos
    there), and the ``named`` places (name, lon, lat; most videos first) written next to theirs where the names
    would not overlap: a matplotlib Figure. Degrees are stretched by ``1 / cos(latitude)`` at the middle of the
    view, so a city's shape is not squashed."""
    from matplotlib.figure import Figure

    spots = Counter((round(lon / SPOT_DEGREES) * SPOT_DEGREES, round(lat / SPOT_DEGREES) * SPOT_DEGREES)
                    for lon, lat in points)
    west, east, south, north = map_extent([lon for lon, _ in spots], [lat for _, lat in spots])
    figure = Figure(figsize=(7.5, 4.0))
    axes = figure.add_subplot()
    axes.scatter([lon for lon, _ in spots], [lat for _, lat in spots], s=[10 + 6 * math.sqrt(count)
                 for count in spots.values()], c="#c0392b", alpha=0.6, edgecolors="none", zorder=3)
    written: list[tuple[float, float, float]] = []  # left, right, bottom of each name, as fractions of the view
    for name, lon, lat in named:
        left, bottom = (lon - west) / (east - west), (lat - south) / (north - south)
        right = left + 0.012 * (len(name) + 1)  # an 8-point character is about 1/80 of the plot's width
        if all(right < other_left or left > other_right or abs(bottom - other_bottom) > 0.06
               for other_left, other_right, other_bottom in written):
            axes.annotate(name, (lon, lat), xytext=(4, 3), textcoords="offset points", fontsize=8, zorder=4)
            written.append((left, right, bottom))
    axes.set_xlim(west, east)
    axes.set_ylim(south, north)
    axes.set_aspect(1 / max(math.cos(math.radians((south + north) / 2)), 0.2))
    axes.grid(True, color="#e2e2e2", linewidth=0.6, zorder=0)
    axes.set_xlabel("longitude (°)")
    axes.set_ylabel("latitude (°)")
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def figure_png(figure) -> bytes:
    """The figure as PNG bytes (Agg canvas, tight box, no software tag: the same bytes for the same chart)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _chart(figure, alt: str) -> str:
    data = base64.b64encode(figure_png(figure)).decode("ascii")
    return f'<div class="chart"><img alt="{_escape(alt)}" src="data:image/png;base64,{data}"></div>'


# --- HTML pieces -----------------------------------------------------------------------------------------------------


def _escape(text) -> str:
    return html.escape(str(text), quote=True)


def _attribute(name: str, value) -> str:
    """`` name="value"``, or nothing when ``value`` is empty or None."""
    return f' {name}="{_escape(value)}"' if value else ""


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.2f}" if hours < 10 else f"{hours:.1f}"


def _length(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def _videos(count: int) -> str:
    return f"{count} video{'' if count == 1 else 's'}"


def _percent(part: float, whole: float) -> str:
    return f"{part / whole * 100:.0f}%" if whole else "-"


class _Pictures:
    """``<img>`` tags for the thumbnail files, linked relative to the report's folder, each file's size read
    once (from its header: the JPEG is not decoded)."""

    def __init__(self, folder: Path):
        self._folder = os.path.abspath(folder)
        self._found: dict[str, str | None] = {}

    def tag(self, picture: Path | str | None, alt: str = "") -> str:
        """The ``<img>`` (``alt=""`` where a caption next to it names it), or a "no picture" box."""
        key = None if picture is None else os.fspath(picture)
        if key is not None and key not in self._found:
            self._found[key] = self._read(key)
        found = None if key is None else self._found[key]
        if found is None:
            return '<div class="missing">no picture</div>'
        return f'<img alt="{_escape(alt)}" {found}>'

    def _read(self, picture: str) -> str | None:
        from PIL import Image

        try:
            with Image.open(picture) as image:
                width, height = image.size
        except OSError:  # gone, or not a picture: the card says "no picture"
            return None
        link = os.path.relpath(os.path.abspath(picture), self._folder).replace(os.sep, "/")
        return f'loading="lazy" width="{width}" height="{height}" src="{_escape(quote(link))}"'


def _label_item(label: Label, group_kind: str) -> str:
    """One label of a card: its name and score; an unsure one with a "?" and a title that says it is a guess."""
    score = f'data-name="{_escape(label.name)}" data-score="{label.score:.4g}"'
    if not label.unsure:
        return f"<li {score}>{_escape(label.name)} {label.score * 100:.0f}%</li>"
    group = f"; {group_kind}: {label.category}" if group_kind != "none" and label.category else ""
    title = f"unsure: a low score ({label.score * 100:.1f}%), maybe, not a fact{group}"
    return (f'<li class="unsure" {score} data-unsure="true" title="{_escape(title)}">{_escape(label.name)}? '
            f"{label.score * 100:.0f}%</li>")


def _video_card(video: TastedVideo, pictures: _Pictures, group_kind: str, folded: bool) -> str:
    """One card, kept small (a library has thousands): the path, vertical, year and place as data attributes
    (the filters read them), the thumbnail, then what a person reads."""
    when = video.taken.when
    facts = [f'<time datetime="{when.isoformat(timespec="seconds")}" data-source="{video.taken.source}">'
             f'{when:%Y-%m-%d %H:%M}</time> ({"from metadata" if video.taken.source == "metadata" else "file time"})',
             _length(video.seconds)]
    if video.shots is not None:
        facts.append(f"{video.shots} shot{'' if video.shots == 1 else 's'}")
    if video.from_cache:
        facts.append("features from cache")
    vertical = _escape(vertical_of(video))
    where = (_escape(video.place) if video.place else f"{video.lat:.4f}, {video.lon:.4f}"
             if video.lat is not None and video.lon is not None else "")
    duplicate = (f'<p class="dup">duplicate of <b title="{_escape(video.duplicate_of)}">'
                 f'{_escape(os.path.basename(video.duplicate_of))}</b>{" (counted once)" if folded else ""}</p>'
                 if video.duplicate_of else "")
    labels = "".join(_label_item(label, group_kind) for label in video.labels)
    notes = "".join(f'<p class="note">{_escape(warning)}</p>' for warning in video.warnings)
    return (f'<article class="video" data-path="{_escape(video.path)}" data-vertical="{vertical}" '
            f'data-year="{when.year}"{_attribute("data-place", video.place)}'
            f'{_attribute("data-duplicate-of", video.duplicate_of)}>{pictures.tag(video.thumbnail)}'
            f'<h4>{_escape(os.path.basename(video.path))}</h4><p>{" · ".join(facts)}</p>'
            f'<p><b>{vertical}</b>{f" · {where}" if where else ""}</p><ol class="labels">{labels}</ol>'
            f"{duplicate}{notes}</article>")


def _select(name: str, title: str, options: Sequence[tuple[str, str]]) -> str:
    choices = "".join(f'<option value="{_escape(value)}">{_escape(text)}</option>' for value, text in options)
    return f'<label>{title} <select name="{name}"><option value="*">all</option>{choices}</select></label>'


def _answer(counted: Sequence[TastedVideo], verticals: Mapping[str, Tally], places: Mapping[str, Tally],
            years: Mapping[str, Tally]) -> str:
    """The header's one sentence: the top verticals with their shares, the top place, the busiest year."""
    if not counted:
        return "No video was tagged."
    total = len(counted)
    real = [name for name in rank({name: item.videos for name, item in verticals.items()}) if name not in LAST]
    if real:
        first, *then = real[:3]
        sentence = (f"Mostly <b>{_escape(first)}</b> ({_percent(verticals[first].videos, total)} of "
                    f"{_videos(total)})")
        if then:
            sentence += ", then " + " and ".join(f"{_escape(name)} ({_percent(verticals[name].videos, total)})"
                                                 for name in then)
        sentence += "."
    else:
        sentence = f"{_videos(total)}; none of their tags names a YouTube-8M vertical."
    top_places = _top(places, 1, skip=[NO_PLACE])
    if top_places:
        place, videos = top_places[0]
        sentence += f" Filmed most in <b>{_escape(place)}</b> ({_videos(videos)})."
    busiest = max(years.items(), key=lambda item: (item[1].videos, item[0]))
    if len(years) > 1:
        sentence += f" Busiest year: {busiest[0]} ({_videos(busiest[1].videos)})."
    return sentence


_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d1d1f;
       background: #f6f6f4; }
[hidden] { display: none !important; }
header, section { max-width: 1180px; margin: 0 auto; padding: 16px 28px; }
header { padding-top: 26px; }
h1 { font-size: 27px; margin: 0 0 6px; }
h2 { font-size: 19px; margin: 0 0 12px; border-bottom: 1px solid #ddd; padding-bottom: 6px; }
#answer { font-size: 18px; margin: 0 0 6px; }
.sub { color: #666; margin: 0; font-size: 13px; }
.totals { display: flex; flex-wrap: wrap; gap: 12px; }
.total { background: #fff; border-radius: 10px; padding: 10px 16px; min-width: 120px;
         box-shadow: 0 1px 2px rgba(0,0,0,.08); font-size: 13px; color: #555; }
.total b { display: block; font-size: 25px; color: #1d1d1f; }
.pair { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.chart { background: #fff; border-radius: 10px; padding: 10px; box-shadow: 0 1px 2px rgba(0,0,0,.08);
         max-width: 100%; }
.chart img { max-width: 100%; display: block; }
table { border-collapse: collapse; background: #fff; font-size: 13px; }
.table { max-height: 420px; overflow-y: auto; }
td, th { padding: 4px 10px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; }
.unsure, .guess { color: #8a6d00; }
.moments { display: flex; flex-wrap: wrap; gap: 14px; }
.moment { margin: 0; width: 220px; background: #fff; border-radius: 10px; overflow: hidden;
          box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.moment figcaption { padding: 6px 10px; font-size: 12px; color: #555; }
.moment figcaption b { display: block; color: #1d1d1f; font-size: 13px; }
.missing { color: #aaa; display: flex; align-items: center; justify-content: center; }
.filters { margin: 0 0 14px; font-size: 13px; display: flex; flex-wrap: wrap; gap: 8px 18px; align-items: center; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 14px; }
.video { background: #fff; border-radius: 10px; overflow: hidden; box-shadow: 0 1px 2px rgba(0,0,0,.08);
         padding-bottom: 8px; content-visibility: auto; contain-intrinsic-size: auto 330px; }
.video img, .video .missing, .moment img, .moment .missing { width: 100%; height: auto; aspect-ratio: 16 / 10;
                                                            object-fit: cover; background: #222; }
.video img, .moment img { display: block; }
.month { content-visibility: auto; margin-bottom: 18px; }
.month h3 { font-size: 15px; margin: 0 0 8px; color: #444; }
.video h4 { font-size: 14px; margin: 8px 12px 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.video p { margin: 2px 12px; font-size: 12px; color: #555; }
.video p b { color: #1d1d1f; font-size: 13px; }
.labels { margin: 4px 12px 0; padding: 0 0 0 18px; font-size: 12px; }
.labels .unsure { font-style: italic; }
.dup { color: #6b4fa0 !important; }
.note { color: #a15c00 !important; }
footer { max-width: 1180px; margin: 0 auto; padding: 10px 28px 30px; color: #777; font-size: 12px; }
"""

# Hides the cards that the select boxes rule out, and the months left empty; a month's count, and its placeholder
# height (what content-visibility uses until it is drawn), follow the cards it still shows. Without JavaScript the
# form stays hidden and every card is shown.
_SCRIPT = """(() => {
const form = document.getElementById("filters"), shown = document.getElementById("shown");
const months = document.querySelectorAll("#videos .month");
form.hidden = false;
form.addEventListener("change", () => {
  const want = Object.entries({vertical: form.vertical.value, year: form.year.value, place: form.place.value});
  let total = 0;
  for (const month of months) {
    let count = 0;
    for (const card of month.querySelectorAll("article.video")) {
      const show = want.every(([key, value]) => value === "*" || (card.dataset[key] ?? "") === value);
      card.hidden = !show;
      count += show;
    }
    month.hidden = count === 0;
    month.querySelector("h3 span").textContent = count;
    month.style.containIntrinsicSize = `auto ${Math.ceil(count / %(columns)d) * %(row)d + %(title)d}px`;
    total += count;
  }
  shown.textContent = total;
});
})();""" % {"columns": GRID_COLUMNS, "row": CARD_ROW_PX, "title": MONTH_TITLE_PX}


# --- the page --------------------------------------------------------------------------------------------------------


def render_report(videos: Sequence[TastedVideo], skipped: Sequence[SkippedFile], info: ReportInput, *,
                  folder: str | Path = ".") -> str:
    """The report's HTML (see the module docstring); ``folder`` is where it will be saved: the thumbnails' links
    are relative to it."""
    generated = info.generated or datetime.now().astimezone()
    pictures = _Pictures(Path(folder))
    counted = counted_videos(videos)
    counted_ids = {id(video) for video in counted}
    duplicates = len(videos) - len(counted)
    total_seconds = sum(video.seconds for video in counted)
    verticals = tally(counted, vertical_of)
    ranked = rank({name: item.videos for name, item in verticals.items()})
    places = tally(counted, lambda video: video.place or NO_PLACE)
    years = tally(counted, lambda video: str(video.taken.when.year))
    palette = _palette(ranked)
    times = [video.taken.when for video in counted]

    parts = [f'<header><h1>What videos do you love to take?</h1><p id="answer">'
             f"{_answer(counted, verticals, places, years)}</p>"
             f'<p class="sub">{_escape(", ".join(info.sources))} &middot; {_escape(info.tagger)} &middot; '
             f"top {info.top_k} labels per video &middot; made {generated:%Y-%m-%d %H:%M}</p></header>"]

    period = f"{min(times):%Y-%m-%d} to {max(times):%Y-%m-%d}" if times else "none"
    totals = [("videos", len(counted), "videos"), ("hours", _hours(total_seconds), "hours of video"),
              ("places", len([name for name in places if name != NO_PLACE]), "places"),
              ("duplicates", duplicates, "duplicates, counted once"), ("skipped", len(skipped), "files skipped"),
              ("from-cache", info.from_cache, "features from cache")]
    parts.append('<section id="totals"><h2>Totals</h2><div class="totals">'
                 + "".join(f'<div class="total"><b data-total="{key}">{value}</b>{text}</div>'
                           for key, value, text in totals)
                 + f'<div class="total"><b>{_escape(period)}</b>taken</div></div></section>')

    if counted:
        parts.append(_verticals_section(counted, verticals, ranked, palette, info))
        parts.append(_labels_section(counted, info.group_kind))
        parts.append(_timeline_section(counted, ranked, palette))
        parts.append(_years_section(counted, years))
        parts.append(_places_section(counted, places))
    if info.best_moments:
        parts.append(_moments_section(info.best_moments, ranked, pictures))
    parts.append(_videos_section(videos, counted_ids, ranked, pictures, info.group_kind))

    rows = "".join(f'<tr data-path="{_escape(item.path)}"><td>{_escape(item.path)}</td><td>{_escape(item.reason)}'
                   f"</td></tr>" for item in skipped)
    warnings = [warning for video in videos for warning in video.warnings]
    warned = "".join(f"<li>{_escape(warning)}</li>" for warning in warnings)
    parts.append(f'<section id="skipped"><h2>Skipped files ({len(skipped)})</h2>'
                 + (f"<table><tr><th>file</th><th>why</th></tr>{rows}</table>" if skipped
                    else "<p>None: every file was tagged.</p>")
                 + (f"<h3>Tagged with warnings</h3><ul>{warned}</ul>" if warnings else "")
                 + "</section>")
    parts.append("<footer>A video's scores are the mean over its frames (one per second) of the per-frame scores; "
                 "its labels are its top scores, and those too low to state as facts are marked unsure (?). "
                 "Duplicates are counted once. Made by reelset taste.</footer>")
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>reelset taste: {len(counted)} videos</title><style>{_STYLE}</style></head><body>"
            + "\n".join(parts) + f"<script>{_SCRIPT}</script></body></html>\n")


def _verticals_section(counted, verticals: Mapping[str, Tally], ranked: Sequence[str], palette, info) -> str:
    chart = _chart(bar_chart([(name, verticals[name].videos) for name in ranked], xlabel="videos",
                             colours=[palette.get(name, palette[REST]) for name in ranked]), "Videos per vertical")
    shares = any(name in info.group_shares for name in ranked)  # shares of other groups say nothing here
    rows = "".join(
        f'<tr data-vertical="{_escape(name)}"><td>{_escape(name)}</td><td class="num">{verticals[name].videos}</td>'
        f'<td class="num">{_hours(verticals[name].seconds)}</td>'
        f'<td class="num">{_percent(verticals[name].videos, len(counted))}</td>'
        + (f'<td class="num">{info.group_shares.get(name, 0.0) * 100:.1f}%</td>' if shares else "") + "</tr>"
        for name in ranked)
    shares_header = '<th class="num">share of scores</th>' if shares else ""
    return (f'<section id="verticals"><h2>What you film: videos per vertical</h2><div class="pair">{chart}'
            f'<div class="table"><table><tr><th>vertical</th><th class="num">videos</th><th class="num">hours</th>'
            f'<th class="num">share</th>{shares_header}</tr>{rows}'
            f"</table></div></div></section>")


def _labels_section(counted, group_kind: str) -> str:
    counts = label_counts(counted)[:TOP_LABELS]
    rows = []
    for count in counts:
        guess = count.sure == 0
        name = (f'<span class="unsure" title="only with low scores: maybe, not a fact">{_escape(count.name)}?</span>'
                if guess else _escape(count.name))
        more = (f' <span class="guess" title="{count.unsure} more where the score is low (unsure)">'
                f"+{count.unsure}?</span>" if count.unsure else "")
        rows.append(f'<tr data-label="{_escape(count.name)}" data-sure="{count.sure}" data-unsure="{count.unsure}"'
                    f'{_attribute("class", "unsure" if guess else "")}><td>{name}</td>'
                    + (f"<td>{_escape(count.vertical)}</td>" if group_kind != "none" else "")
                    + f'<td class="num">{count.sure}{more}</td></tr>')
    header = f"<th>{_escape(group_kind)}</th>" if group_kind != "none" else ""
    return (f'<section id="labels"><h2>Most frequent labels</h2><div class="table"><table><tr><th>label</th>'
            f'{header}<th class="num">videos</th></tr>{"".join(rows)}</table></div>'
            f'<p class="sub">Among each video\'s top labels. A "?" marks a guess: a score too low to state as a fact '
            f"(+N?: that many more videos where the label is only a guess).</p></section>")


def _timeline_section(counted, ranked: Sequence[str], palette) -> str:
    times = [video.taken.when for video in counted]
    unit = period_unit(times)
    periods = all_periods(times, unit)
    shown = [name for name in ranked if name not in LAST][:TIMELINE_GROUPS]
    series = {name: [0] * len(periods) for name in [*shown, *LAST, REST]}
    index = {key: position for position, key in enumerate(periods)}
    for video in counted:
        vertical = vertical_of(video)
        series[vertical if vertical in series else REST][index[period_key(video.taken.when, unit)]] += 1
    series = {name: counts for name, counts in series.items() if any(counts)}
    chart = _chart(timeline_chart(periods, series, palette), f"Videos by {unit}")
    return (f'<section id="timeline" data-unit="{unit}"><h2>Over time (by {unit})</h2>{chart}'
            f"<p class=\"sub\">When a video was taken: its creation time from the file's metadata, else the file's "
            f"modification time (the cards say which).</p></section>")


def _years_section(counted, years: Mapping[str, Tally]) -> str:
    rows = []
    for year in sorted(years, reverse=True):
        of_year = [video for video in counted if str(video.taken.when.year) == year]
        top_verticals = _top(tally(of_year, vertical_of), YEAR_TOP)
        top_places = _top(tally(of_year, lambda video: video.place or NO_PLACE), YEAR_TOP, skip=[NO_PLACE])
        rows.append(f'<tr data-year="{year}"><td>{year}</td><td class="num">{years[year].videos}</td>'
                    f'<td class="num">{_hours(years[year].seconds)}</td>'
                    f'<td>{", ".join(f"{_escape(name)} ({videos})" for name, videos in top_verticals)}</td>'
                    f'<td>{", ".join(f"{_escape(name)} ({videos})" for name, videos in top_places) or "-"}</td></tr>')
    return ('<section id="years"><h2>Year in review</h2><table><tr><th>year</th><th class="num">videos</th>'
            '<th class="num">hours</th><th>top verticals</th><th>top places</th></tr>' + "".join(rows)
            + "</table></section>")


def _places_section(counted, places: Mapping[str, Tally]) -> str:
    located = [video for video in counted if video.lat is not None and video.lon is not None]
    named = [name for name in rank({name: item.videos for name, item in places.items()}) if name != NO_PLACE]
    if not located and not named:
        return ('<section id="places"><h2>Places</h2><p>No video says where it was filmed (no GPS position in its '
                "metadata).</p></section>")
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for video in located:
        points[video.place or NO_PLACE].append((float(video.lon), float(video.lat)))
    years: dict[str, set[int]] = defaultdict(set)
    for video in counted:
        years[video.place or NO_PLACE].add(video.taken.when.year)
    rows = "".join(
        f'<tr data-place="{_escape(name)}"><td>{_escape(name)}</td><td class="num">{places[name].videos}</td>'
        f'<td class="num">{_hours(places[name].seconds)}</td><td>{_years_span(years[name])}</td></tr>'
        for name in named)
    chart = ""
    if located:
        labelled = [(name, float(np.mean([lon for lon, _ in points[name]])),
                     float(np.mean([lat for _, lat in points[name]])))
                    for name in named[:MAP_NAMES] if points.get(name)]
        chart = _chart(places_chart([point for group in points.values() for point in group], labelled),
                       "Where the videos were filmed")
    unplaced = places.get(NO_PLACE, Tally()).videos
    return (f'<section id="places"><h2>Places</h2><div class="pair">{chart}<div class="table"><table><tr>'
            f'<th>place</th><th class="num">videos</th><th class="num">hours</th><th>years</th></tr>{rows}</table>'
            f'</div></div><p class="sub">{len(located)} videos carry a GPS position; {unplaced} say nothing of where '
            f"they were filmed. Positions drawn on a plain latitude/longitude grid. Place names: GeoNames "
            f"(CC BY 4.0), offline.</p></section>")


def _years_span(years: set[int]) -> str:
    return str(min(years)) if min(years) == max(years) else f"{min(years)}-{max(years)}"


def _moments_section(moments: Mapping[str, tuple[str, Path | None]], ranked: Sequence[str], pictures) -> str:
    order = [name for name in ranked if name in moments] + [name for name in moments if name not in ranked]
    figures = "".join(
        f'<figure class="moment" data-vertical="{_escape(name)}" data-path="{_escape(moments[name][0])}">'
        f"{pictures.tag(moments[name][1])}"
        f'<figcaption><b>{_escape(name)}</b><span title="{_escape(moments[name][0])}">'
        f"{_escape(Path(moments[name][0]).name)}</span></figcaption></figure>" for name in order)
    return f'<section id="moments"><h2>Best moments</h2><div class="moments">{figures}</div></section>'


def _videos_section(videos, counted_ids, ranked: Sequence[str], pictures: _Pictures, group_kind: str) -> str:
    """The cards, newest first, by month. Each month is laid out and drawn only when it scrolls into view
    (``content-visibility: auto``, with a placeholder height from its number of cards): a page of thousands of
    cards then opens at the cost of the few on screen (``docs/benchmarks.md``)."""
    by_month: dict[str, list[TastedVideo]] = {}
    for video in sorted(videos, key=lambda video: video.taken.when, reverse=True):
        by_month.setdefault(f"{video.taken.when:%Y-%m}", []).append(video)
    months = "".join(
        f'<div class="month" data-month="{month}" style="contain-intrinsic-size: auto '
        f'{math.ceil(len(cards) / GRID_COLUMNS) * CARD_ROW_PX + MONTH_TITLE_PX}px">'
        f'<h3>{cards[0].taken.when:%B %Y} (<span>{len(cards)}</span>)</h3><div class="grid">'
        + "".join(_video_card(video, pictures, group_kind, id(video) not in counted_ids) for video in cards)
        + "</div></div>" for month, cards in by_month.items())
    every_vertical = ranked + sorted({vertical_of(video) for video in videos} - set(ranked))
    every_year = sorted({str(video.taken.when.year) for video in videos}, reverse=True)
    every_place = rank(Counter(video.place for video in videos if video.place))
    place_options = [(name, name) for name in every_place]
    if any(not video.place for video in videos):
        place_options.append((NO_PLACE, "(no place)"))
    form = ('<form id="filters" class="filters" hidden>'
            + _select("vertical", "vertical", [(name, name) for name in every_vertical])
            + _select("year", "year", [(year, year) for year in every_year])
            + _select("place", "place", place_options)
            + f'<span><b id="shown">{len(videos)}</b> of {len(videos)} shown</span></form>')
    return f'<section id="videos"><h2>Videos ({len(videos)})</h2>{form}{months}</section>'


def write_report(path: Path, videos: Sequence[TastedVideo], skipped: Sequence[SkippedFile],
                 info: ReportInput) -> Path:
    """Write :func:`render_report` to ``path`` atomically, the thumbnails linked relative to its folder."""
    path = Path(path)
    atomic_write_text(path, render_report(videos, skipped, info, folder=path.parent))
    return path
