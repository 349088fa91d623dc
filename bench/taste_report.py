"""Benchmark: the taste report of a large library: its size, how long it takes to write, and how long a browser takes
to open it, against the previous report (every thumbnail inlined as a ``data:`` URI) in the same run.

The entries are generated (500 and 5,000, fixed seed) to look like a phone library: five years of videos, YouTube-8M
verticals with uneven weights (and "Other"), three to five entity labels each (the low-scored ones unsure), 45 % with
a GPS position around one of 24 cities, 3 % near-duplicates of an earlier video, shots, lengths of a few seconds to a
few minutes, a few skipped files; the thumbnails are 48 real JPEGs (320 px wide, crops of the sample photos that
scikit-image and matplotlib ship), shared by the entries, in the report's ``thumbnails/`` folder as the run writes
them. The anchor is the report of the commit this tree is based on (``git show HEAD:src/reelset/taste/report.py``,
imported from a temporary copy), given the same videos.

Measured for each report: the HTML file's size (and the thumbnails next to it), the median time to write it (after a
warm-up that imports matplotlib), and the median of ``--runs`` opens in Debian's Chromium (headless, installed with
apt when missing; driven over the DevTools protocol by ``docs/screenshots.py``'s Browser, a fresh browser for each
open, 1280x900): the load event, DOMContentLoaded and the first contentful paint, from the page's own Performance
timeline (milliseconds since the navigation started), the CPU time of the page's main thread until then (DevTools'
``ThreadTime``: what the load costs, whatever else the machine runs), and the elements in the page; for the new
report also the time one filter change takes (the select box's change event to the next layout done). Last, each
chart of the largest report as the PNG the report embeds and as SVG (matplotlib's, text as paths and as text):
bytes inline and time to draw, and a page of just those charts opened the same way.

Usage: python bench/taste_report.py [--quick] [--runs N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "docs"))

from screenshots import Browser, wait_for  # noqa: E402

from reelset.taste import report  # noqa: E402
from reelset.taste.predict import Label  # noqa: E402
from reelset.taste.results import SkippedFile, TastedVideo  # noqa: E402
from reelset.taste.scan import TakenAt  # noqa: E402

SIZES = (500, 5000)
WINDOW = (1280, 900)
THUMBNAILS = 48
THUMBNAIL_SIZE = (320, 180)
SEED = 14
# vertical -> (weight, entities): a phone library leans to pets, food, travel and family
VERTICALS = {
    "Pets & Animals": (14, ["Cat", "Dog", "Horse", "Bird", "Aquarium"]),
    "Food & Drink": (11, ["Cooking", "Coffee", "Cake", "Restaurant", "Barbecue"]),
    "Travel": (10, ["Beach", "Mountain", "Hiking", "Waterfall", "City"]),
    "People & Society": (10, ["Wedding", "Baby", "Birthday", "Family", "Party"]),
    "Sports": (7, ["Football", "Skiing", "Cycling", "Swimming", "Surfing"]),
    "Arts & Entertainment": (7, ["Concert", "Dance", "Theatre", "Fireworks", "Festival"]),
    "Autos & Vehicles": (5, ["Car", "Motorcycle", "Train", "Boat", "Airplane"]),
    "Music": (5, ["Guitar", "Piano", "Drum kit", "Singing", "Violin"]),
    "Hobbies & Leisure": (4, ["Garden", "Fishing", "Camping", "Drawing", "Lego"]),
    "Games": (3, ["Video game", "Board game", "Minecraft", "Chess", "Card game"]),
    "Home & Garden": (3, ["Kitchen", "Living room", "Flower", "Lawn", "Furniture"]),
    "Science": (2, ["Rocket", "Telescope", "Microscope", "Robot", "Volcano"]),
    "Other": (6, ["Screen", "Text", "Room", "Shadow", "Wall"]),
}
CITIES = [("Paris, France", 48.857, 2.352), ("London, United Kingdom", 51.507, -0.128),
          ("Berlin, Germany", 52.520, 13.405), ("Madrid, Spain", 40.417, -3.704), ("Rome, Italy", 41.903, 12.496),
          ("Lisbon, Portugal", 38.722, -9.139), ("Amsterdam, Netherlands", 52.368, 4.904),
          ("Vienna, Austria", 48.208, 16.373), ("Zurich, Switzerland", 47.377, 8.541),
          ("Barcelona, Spain", 41.385, 2.173), ("Nice, France", 43.710, 7.262), ("Lyon, France", 45.764, 4.836),
          ("New York City, United States", 40.713, -74.006), ("San Francisco, United States", 37.775, -122.419),
          ("Tokyo, Japan", 35.690, 139.692), ("Kyoto, Japan", 35.012, 135.768), ("Sydney, Australia", -33.869, 151.209),
          ("Cape Town, South Africa", -33.925, 18.424), ("Rio de Janeiro, Brazil", -22.907, -43.173),
          ("Reykjavik, Iceland", 64.147, -21.943), ("Bangkok, Thailand", 13.756, 100.502),
          ("Marrakesh, Morocco", 31.630, -7.981), ("Chamonix, France", 45.924, 6.869),
          ("Brighton, United Kingdom", 50.823, -0.137)]
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "motorcycle_left", "grace_hopper")


def make_thumbnails(folder: Path, count: int = THUMBNAILS) -> list[Path]:
    """``count`` JPEGs the size of the run's thumbnails: crops of the installed sample photos, some mirrored and
    tinted, saved as the run's ffmpeg does (quality about 85)."""
    from PIL import Image, ImageOps

    from reelset.taste.samples import sample_photo

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    photos = [Image.fromarray(sample_photo(name)).convert("RGB") for name in PHOTOS]
    paths = []
    for index in range(count):
        photo = photos[index % len(photos)]
        width, height = photo.size
        crop_width = rng.randint(width // 2, width)
        crop_height = min(height, crop_width * THUMBNAIL_SIZE[1] // THUMBNAIL_SIZE[0])
        left, top = rng.randint(0, width - crop_width), rng.randint(0, height - crop_height)
        picture = photo.crop((left, top, left + crop_width, top + crop_height)).resize(THUMBNAIL_SIZE)
        if index % 2:
            picture = ImageOps.mirror(picture)
        tint = Image.new("RGB", THUMBNAIL_SIZE, tuple(rng.randint(0, 255) for _ in range(3)))
        picture = Image.blend(picture, tint, 0.15)
        path = folder / f"thumb{index:02d}-{index:012x}.jpg"
        picture.save(path, quality=85)
        paths.append(path)
    return paths


def make_library(count: int, thumbnails: list[Path]) -> tuple[list[TastedVideo], list[SkippedFile]]:
    """``count`` tagged videos and a few skipped files, as a run over a phone library would give them."""
    rng = random.Random(SEED + count)
    names = list(VERTICALS)
    weights = [VERTICALS[name][0] for name in names]
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    videos: list[TastedVideo] = []
    for index in range(count):
        vertical = rng.choices(names, weights)[0]
        entities = rng.sample(VERTICALS[vertical][1], 3) + rng.sample(VERTICALS[rng.choice(names)][1], 2)
        scores = sorted((rng.betavariate(2, 3) for _ in entities), reverse=True)
        labels = [Label(name, score, vertical if position < 3 else "", unsure=score < 0.15)
                  for position, (name, score) in enumerate(zip(entities, scores))][:rng.randint(3, 5)]
        when = start + timedelta(seconds=rng.uniform(0, 5 * 365 * 86400))
        place = lat = lon = None
        if rng.random() < 0.45:
            place, lat, lon = CITIES[min(int(rng.expovariate(0.18)), len(CITIES) - 1)]
            lat, lon = lat + rng.gauss(0, 0.03), lon + rng.gauss(0, 0.03)
        duplicate_of = (videos[rng.randrange(len(videos))].path if videos and rng.random() < 0.03 else None)
        seconds = min(600.0, rng.lognormvariate(3.2, 0.9))
        videos.append(TastedVideo(
            path=f"/home/me/Phone/DCIM/{when:%Y}/{when:%m}/VID_{when:%Y%m%d_%H%M%S}_{index:05d}.mp4", labels=labels,
            frame_labels=None, timestamps=np.arange(int(seconds), dtype=float),
            taken=TakenAt(when, "metadata" if rng.random() < 0.85 else "file"), duration=seconds, frame_rate=30.0,
            frame_count=int(seconds * 30), width=1920, height=1080, size_bytes=int(seconds * 2_000_000),
            thumbnail=thumbnails[index % len(thumbnails)], from_cache=rng.random() < 0.5, vertical=vertical,
            lat=lat, lon=lon, place=place, shots=max(1, int(rng.expovariate(1 / 6))), duplicate_of=duplicate_of))
    skipped = [SkippedFile(f"/home/me/Phone/DCIM/broken/VID_{index:03d}.mp4",
                           "unreadable media (moov atom not found)") for index in range(max(1, count // 500))]
    return videos, skipped


def best_moments(videos: list[TastedVideo]) -> dict[str, tuple[str, Path | None]]:
    """The top-scored video of each vertical (what the run will give)."""
    best: dict[str, TastedVideo] = {}
    for video in videos:
        if video.vertical != "Other" and (video.vertical not in best
                                          or video.labels[0].score > best[video.vertical].labels[0].score):
            best[video.vertical] = video
    return {vertical: (video.path, video.thumbnail) for vertical, video in best.items()}


def old_report_module(workdir: Path):
    """The report module of HEAD, from a temporary copy."""
    source = subprocess.run(["git", "show", "HEAD:src/reelset/taste/report.py"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout
    path = workdir / "old_taste_report.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_taste_report", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def time_write(write, runs: int) -> dict:
    """The median wall-clock and CPU seconds of ``runs`` calls of ``write()``."""
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        write()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return {"write_s": statistics.median(wall), "write_cpu_s": statistics.median(cpu)}


_TIMING_JS = """(() => {
  const nav = performance.getEntriesByType("navigation")[0];
  if (!nav || !(nav.loadEventEnd > 0)) return null;
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  return {load_ms: nav.loadEventEnd, dom_content_loaded_ms: nav.domContentLoadedEventEnd,
          first_paint_ms: paint ? paint.startTime : null, elements: document.getElementsByTagName("*").length,
          images_loaded: [...document.images].filter(image => image.complete && image.naturalWidth > 0).length};
})()"""
_FILTER_JS = """(() => {
  const form = document.getElementById("filters");
  if (!form) return null;
  form.vertical.selectedIndex = 1;
  const started = performance.now();
  form.dispatchEvent(new Event("change"));
  document.body.offsetHeight;  // the layout the change causes, done now
  const ms = performance.now() - started;
  return {filter_ms: ms, shown: Number(document.getElementById("shown").textContent)};
})()"""


_TIMES = ("load_ms", "dom_content_loaded_ms", "first_paint_ms", "cpu_ms", "filter_ms")


def _thread_seconds(browser: Browser) -> float:
    metrics = browser.call("Performance.getMetrics")["metrics"]
    return next(metric["value"] for metric in metrics if metric["name"] == "ThreadTime")


def open_page(page: Path, *, filter_too: bool = False) -> dict:
    """Open ``page`` in a fresh headless Chromium; its Performance timeline's figures (module docstring), and the
    CPU time of the page's main thread until then (``cpu_ms``: what the load costs, whatever else the machine
    runs)."""
    browser = Browser(WINDOW)
    try:
        browser.call("Performance.enable", timeDomain="threadTicks")
        before = _thread_seconds(browser)
        browser.call("Page.navigate", url=page.resolve().as_uri())
        timing = wait_for(f"{page.name} to load", lambda: browser.evaluate(_TIMING_JS), timeout=180, every=0.05)
        timing["cpu_ms"] = (_thread_seconds(browser) - before) * 1000
        if filter_too:
            timing.update(browser.evaluate(_FILTER_JS) or {})
        return timing
    finally:
        browser.close()


def median_opens(page: Path, runs: int, *, filter_too: bool = False) -> dict:
    """The median of each figure over ``runs`` opens (the elements of the last)."""
    opens = [open_page(page, filter_too=filter_too) for _ in range(runs)]
    figures = {}
    for key in _TIMES:
        values = [run[key] for run in opens if run.get(key) is not None]  # headless may report no first paint
        if values:
            figures[key] = statistics.median(values)
    figures.update(elements=opens[-1]["elements"], images_loaded=opens[-1]["images_loaded"],
                   opens=[round(run["load_ms"]) for run in opens])
    if "shown" in opens[-1]:
        figures["filter_shown"] = opens[-1]["shown"]
    return figures


def chart_formats(videos, skipped, info, workdir: Path, runs: int) -> dict:
    """Every chart of the report as PNG (inline base64, as embedded) and as SVG (text as paths, and as text): bytes
    and seconds to draw, and the load of a page holding only those charts."""
    import matplotlib

    figures = []
    embed = report._chart

    def recording(figure, alt):
        figures.append((alt, figure))
        return embed(figure, alt)

    report._chart = recording
    try:
        report.render_report(videos, skipped, info, folder=workdir)
    finally:
        report._chart = embed
    rows, pages = {}, {"png": [], "svg-paths": [], "svg-text": []}
    for alt, figure in figures:
        started = time.perf_counter()
        png = f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(report.figure_png(figure)).decode()}">'
        png_s = time.perf_counter() - started
        row = {"png_bytes": len(png), "png_s": png_s}
        for kind, fonttype in (("svg-paths", "path"), ("svg-text", "none")):
            with matplotlib.rc_context({"svg.fonttype": fonttype}):
                started = time.perf_counter()
                svg = _inline_svg(figure)
                row[f"{kind}_s"] = time.perf_counter() - started
            row[f"{kind}_bytes"] = len(svg)
            pages[kind].append(svg)
        pages["png"].append(png)
        rows[alt] = row
    loads = {}
    for kind, parts in pages.items():
        page = workdir / f"charts-{kind}.html"
        page.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{"".join(parts)}</body></html>')
        loads[kind] = {"bytes": page.stat().st_size, **median_opens(page, runs)}
    return {"charts": rows, "pages": loads}


def _inline_svg(figure) -> str:
    """The figure as an ``<svg>`` element to put in a page (no XML prolog, no DOCTYPE, no metadata)."""
    import io

    from matplotlib.backends.backend_svg import FigureCanvasSVG

    FigureCanvasSVG(figure)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None,
                                                                         "Format": None, "Type": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def measure(size: int, thumbnails: list[Path], old_module, workdir: Path, runs: int) -> dict:
    videos, skipped = make_library(size, thumbnails)
    generated = datetime(2026, 1, 1, tzinfo=timezone.utc)
    info = report.ReportInput(sources=["/home/me/Phone/DCIM"], tagger="bench", group_kind="vertical",
                              generated=generated, best_moments=best_moments(videos))
    old_info = old_module.ReportInput(sources=["/home/me/Phone/DCIM"], tagger="bench", group_kind="vertical",
                                      generated=generated)
    new_page, old_page = workdir / f"report-{size}.html", workdir / f"old-report-{size}.html"
    figures = {}
    for name, page, write in (
            ("new", new_page, lambda: report.write_report(new_page, videos, skipped, info)),
            ("old", old_page, lambda: old_module.write_report(old_page, videos, skipped, old_info))):
        write()  # warm-up: imports, the page cache of the thumbnails
        figures[name] = {**time_write(write, runs), "html_bytes": page.stat().st_size}
    figures["new"]["thumbnail_bytes"] = sum(path.stat().st_size for path in thumbnails)
    open_page(new_page)  # warm-up: Chromium's own files in the page cache
    for name, page in (("old", old_page), ("new", new_page)):
        figures[name].update(median_opens(page, runs, filter_too=name == "new"))
    figures["entries"] = size
    figures["duplicates"] = sum(1 for video in videos if video.duplicate_of)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 entries only, 1 open of each page")
    parser.add_argument("--runs", type=int, help="writes and opens of each report (default 3; 1 with --quick)")
    parser.add_argument("--keep", type=Path, help="write the reports here (kept) instead of a temporary folder")
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    sizes = SIZES[:1] if args.quick else SIZES
    with tempfile.TemporaryDirectory(prefix="reelset-bench-report-") as temporary:
        workdir = args.keep or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        thumbnails = make_thumbnails(workdir / "thumbnails")
        old_module = old_report_module(Path(temporary))
        results = {str(size): measure(size, thumbnails, old_module, workdir, runs) for size in sizes}
        largest = make_library(sizes[-1], thumbnails)
        charts = chart_formats(*largest, report.ReportInput(sources=["x"], tagger="bench",
                                                            best_moments=best_moments(largest[0])), workdir, runs)
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    print(f"taste report, median of {runs} (writes; opens in headless Chromium, a fresh browser each), "
          f"load average {'/'.join(f'{value:.1f}' for value in load) if load else '-'}")
    print(f"  {'entries':>7s} {'report':6s} {'html':>9s} {'write':>7s} {'(cpu)':>7s} {'load':>8s} {'DCL':>8s} "
          f"{'FCP':>8s} {'page cpu':>8s} {'elements':>8s} {'filter':>8s}")
    for size, figures in results.items():
        for name in ("old", "new"):
            row = figures[name]
            filter_ms = f"{row['filter_ms']:6.0f}ms" if "filter_ms" in row else ""
            first_paint = f"{row['first_paint_ms']:6.0f}ms" if row.get("first_paint_ms") else "-"
            print(f"  {size:>7s} {name:6s} {row['html_bytes'] / 1e6:7.2f}MB {row['write_s']:6.2f}s "
                  f"{row['write_cpu_s']:6.2f}s {row['load_ms']:6.0f}ms {row['dom_content_loaded_ms']:6.0f}ms "
                  f"{first_paint:>8s} {row['cpu_ms']:6.0f}ms {row['elements']:8d} {filter_ms:>8s}")
        print(f"  {'':7s} {'':6s} load {figures['old']['load_ms'] / figures['new']['load_ms']:.1f}x faster, "
              f"{figures['old']['html_bytes'] / figures['new']['html_bytes']:.1f}x smaller "
              f"(+{figures['new']['thumbnail_bytes'] / 1e6:.2f} MB of thumbnail files next to it)")
    print(f"  charts of the {sizes[-1]}-entry report: bytes inline (draw time)")
    for alt, row in charts["charts"].items():
        print(f"    {alt:32s} png {row['png_bytes']:8d} ({row['png_s'] * 1000:4.0f}ms)   svg paths "
              f"{row['svg-paths_bytes']:8d} ({row['svg-paths_s'] * 1000:4.0f}ms)   svg text "
              f"{row['svg-text_bytes']:8d} ({row['svg-text_s'] * 1000:4.0f}ms)")
    for kind, row in charts["pages"].items():
        print(f"    page of the charts as {kind:9s} {row['bytes']:8d} bytes, load {row['load_ms']:5.0f}ms, "
              f"page cpu {row['cpu_ms']:5.0f}ms")
    machine = {"python": platform.python_version(), "cpu_count": os.cpu_count(), "processor": platform.processor(),
               "load_average": load, "chromium": _chromium_version()}
    print(json.dumps({"machine": machine, "runs": runs, "sizes": results, "charts": charts}))


def _chromium_version() -> str:
    try:
        return subprocess.run(["chromium", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return ""


if __name__ == "__main__":
    main()
