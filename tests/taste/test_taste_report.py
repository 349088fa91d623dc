"""The pure parts of taste: scanning, dates, top labels, the timeline's periods, the HTML report (parsed with
BeautifulSoup), the exports."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from bs4 import BeautifulSoup

from reelset.core.errors import ReelsetError
from reelset.taste.dataset import frame_number
from reelset.taste.predict import FrameTopLabels, Label, group_scores, top_labels
from reelset.taste.report import (
    ReportInput,
    all_periods,
    counted_videos,
    map_extent,
    period_unit,
    rank,
    render_report,
    write_report,
)
from reelset.taste.results import SkippedFile, TastedVideo
from reelset.taste.run import write_predictions
from reelset.taste.scan import TakenAt, scan_videos


def test_scan_finds_videos_recursively_once_and_leaves_hidden_files_out(tmp_path):
    for name in ["b/clip.MP4", "a/deep/er/x.mkv", "a/y.webm", "a/z.avi", "a/w.m4v", "a/v.mov", "notes.txt",
                 "a/._x.mov", ".hidden/inside.mp4", "a/.tmp.mp4"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = scan_videos([tmp_path, tmp_path / "a" / "y.webm", tmp_path / "notes.txt"])
    relative = [path.relative_to(tmp_path).as_posix() for path in found]
    assert relative == ["a/deep/er/x.mkv", "a/v.mov", "a/w.m4v", "a/y.webm", "a/z.avi", "b/clip.MP4",
                        "notes.txt"]  # a file given by name is taken whatever its suffix
    with pytest.raises(ReelsetError, match="no such file or folder"):
        scan_videos([tmp_path / "missing"])


def test_top_labels_whatever_their_score_best_first():
    scores = np.array([0.1, 0.0, 0.5, 0.1, 0.3], np.float32)
    names, groups = ["a", "b", "c", "d", "e"], ["g1", "g1", "g2", "g2", ""]
    assert [label.name for label in top_labels(scores, names, groups, 4)] == ["c", "e", "a", "d"]  # ties: index
    assert [label.name for label in top_labels(scores, names, groups, 9)] == ["c", "e", "a", "d", "b"]
    assert top_labels(scores, names, groups, 1)[0] == Label("c", pytest.approx(0.5), "g2")
    assert group_scores(scores, groups) == pytest.approx({"g2": 0.6, "": 0.3, "g1": 0.1})


def test_frame_top_labels_are_compact_and_read_as_labels():
    frame_scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.5, 0.0]], np.float32)
    frames = FrameTopLabels.from_scores(frame_scores, ["a", "b", "c"], ["x", "y", "x"], 2)
    assert frames.classes.shape == (2, 2) and len(frames) == 2
    assert list(frames) == [[Label("b", pytest.approx(0.7), "y"), Label("c", pytest.approx(0.2), "x")],
                            [Label("a", 0.5, "x"), Label("b", 0.5, "y")]]


def test_timeline_periods_depend_on_the_span():
    day = datetime(2024, 1, 30, 12, tzinfo=timezone.utc)
    assert period_unit([day, day + timedelta(days=62)]) == "day"
    assert all_periods([day, day + timedelta(days=3)], "day") == ["2024-01-30", "2024-01-31", "2024-02-01",
                                                                   "2024-02-02"]
    assert period_unit([day, day + timedelta(days=63)]) == "month"
    assert all_periods([day, datetime(2025, 2, 1, tzinfo=timezone.utc)], "month")[-3:] == [
        "2024-12", "2025-01", "2025-02"]
    assert len(all_periods([day, datetime(2025, 2, 1, tzinfo=timezone.utc)], "month")) == 14
    assert period_unit([day, day + timedelta(days=11 * 366)]) == "year"


def test_frame_numbers_of_the_one_per_second_samples():
    assert [frame_number(t, 10) for t in (0, 1, 2)] == [1, 11, 21]  # the frame shown at t, counted from 1
    assert [frame_number(t, 30000 / 1001) for t in (0, 1, 2)] == [1, 30, 60]
    assert frame_number(5, 10, frame_count=40) == 40
    assert [frame_number(t, 0.5) for t in (0, 1, 2)] == [1, 1, 2]


def _video(path: str, when: datetime, labels: list[tuple], *, source="metadata", thumbnail: Path | None = None,
           warnings=(), **fields) -> TastedVideo:
    return TastedVideo(path=path, labels=[Label(*label) for label in labels], frame_labels=None,
                       timestamps=np.arange(3, dtype=float), taken=TakenAt(when, source), duration=90.0,
                       thumbnail=thumbnail, warnings=list(warnings), **fields)


PETS, FOOD, OTHER = "Pets & Animals", "Food & Drink", "Other"
PARIS, LONDON = ("Paris, France", 48.8584, 2.2945), ("London, United Kingdom", 51.5072, -0.1276)


def _library(thumbnail: Path) -> list[TastedVideo]:
    """Six videos: two of pets (one filmed in Paris) and a copy of one of them, one of food (London, file time,
    damaged), two whose labels map to no vertical (more than food: "Other" still comes last)."""
    when = datetime(2023, 3, 1, 12, tzinfo=timezone.utc)
    cat, dog_unsure, cup_unsure = ("Cat", 0.8, PETS), ("Dog", 0.05, PETS, True), ("Cup", 0.05, FOOD, True)
    return [
        _video("pets/a.mp4", when, [cat, dog_unsure], thumbnail=thumbnail, vertical=PETS, place=PARIS[0],
               lat=PARIS[1], lon=PARIS[2], shots=3),
        _video("pets/a copy.mp4", when + timedelta(days=400), [cat, dog_unsure], thumbnail=thumbnail, vertical=PETS,
               duplicate_of="pets/a.mp4", shots=3),
        _video("pets/e.mp4", when - timedelta(days=300), [cat], vertical=PETS, shots=1),
        _video("food/c <&>.mov", when + timedelta(days=100), [("Coffee", 0.9, FOOD), cup_unsure], source="file",
               vertical=FOOD, place=LONDON[0], lat=LONDON[1], lon=LONDON[2],
               warnings=["food/c <&>.mov: damaged or truncated video"]),
        _video("misc/d1.mp4", when + timedelta(days=2), [("Screen", 0.06, "", True)], vertical=OTHER),
        _video("misc/d2.mp4", when + timedelta(days=3), [("Screen", 0.07, "", True)], vertical=OTHER),
    ]


def test_the_report_answers_in_verticals_places_and_years_with_duplicates_counted_once(tmp_path):
    from PIL import Image

    out = tmp_path / "out"
    thumbnail = out / "thumbnails" / "a b.jpg"
    thumbnail.parent.mkdir(parents=True)
    Image.new("RGB", (32, 20), (200, 30, 30)).save(thumbnail)
    videos = _library(thumbnail)
    skipped = [SkippedFile("broken/x.mp4", "unreadable media (moov atom not found)")]
    info = ReportInput(sources=["pets", "food"], tagger="test tagger", group_kind="vertical", top_k=2, from_cache=1,
                       best_moments={PETS: ("pets/a.mp4", thumbnail), FOOD: ("food/c <&>.mov", None)})
    page = write_report(out / "report.html", videos, skipped, info).read_text()
    soup = BeautifulSoup(page, "html.parser")
    for section in ("totals", "verticals", "labels", "timeline", "years", "places", "moments", "videos", "skipped"):
        assert soup.find("section", id=section) is not None, section
    assert soup.find("section", id="categories") is None
    answer = soup.find(id="answer").get_text()
    assert answer == ("Mostly Pets & Animals (40% of 5 videos), then Food & Drink (20%). Filmed most in London, "
                      "United Kingdom (1 video). Busiest year: 2023 (4 videos).")  # places tied: by name

    # The copy counts once: 5 videos, 5 x 90 s, and nowhere in the counts below (its year, 2024, has no row).
    totals = {tag["data-total"]: tag.get_text() for tag in soup.select("[data-total]")}
    assert totals == {"videos": "5", "hours": "0.12", "places": "2", "duplicates": "1", "skipped": "1",
                      "from-cache": "1"}
    assert [(row["data-vertical"], row.find_all("td")[1].get_text()) for row in soup.select("#verticals tr")[1:]] == [
        (PETS, "2"), (FOOD, "1"), (OTHER, "2")]  # "Other" last whatever its count
    assert [row["data-year"] for row in soup.select("#years tr[data-year]")] == ["2023", "2022"]
    assert "Pets & Animals (1)" in soup.select_one('#years tr[data-year="2023"]').get_text()
    assert [(row["data-place"], row.find_all("td")[1].get_text()) for row in soup.select("#places tr[data-place]")] \
        == [(LONDON[0], "1"), (PARIS[0], "1")]
    assert soup.select_one("#places img")["src"].startswith("data:image/png;base64,")  # the points, drawn here

    # Labels: counted once per (counted) video; a label that is only ever a guess is marked, never stated.
    labels = {row["data-label"]: row for row in soup.select("#labels tr[data-label]")}
    assert labels["Cat"]["data-sure"] == "2" and labels["Cat"]["data-unsure"] == "0"
    assert labels["Screen"]["data-sure"] == "0" and labels["Screen"]["data-unsure"] == "2"
    assert "unsure" in labels["Screen"]["class"] and "Screen?" in labels["Screen"].get_text()
    assert "not a fact" in labels["Screen"].select_one("[title]")["title"]
    assert "?" not in labels["Cat"].get_text()

    cards = soup.select("#videos article.video")
    assert [card["data-path"] for card in cards] == [
        "pets/a copy.mp4", "food/c <&>.mov", "misc/d2.mp4", "misc/d1.mp4", "pets/a.mp4", "pets/e.mp4"]  # newest first
    months = soup.select("#videos .month")  # by month, each drawn only once scrolled to (a placeholder height)
    assert [(month["data-month"], len(month.select("article.video"))) for month in months] == [
        ("2024-04", 1), ("2023-06", 1), ("2023-03", 3), ("2022-05", 1)]
    assert months[2].find("h3").get_text() == "March 2023 (3)" and "contain-intrinsic-size" in months[2]["style"]
    by_path = {card["data-path"]: card for card in cards}
    first = by_path["pets/a.mp4"]
    assert (first["data-vertical"], first["data-year"], first["data-place"]) == (PETS, "2023", PARIS[0])
    assert "data-place" not in by_path["pets/e.mp4"].attrs  # no place: the filter reads it as ""
    assert [(item["data-name"], float(item["data-score"]), item.get("data-unsure")) for item in first.select("li")] == [
        ("Cat", 0.8, None), ("Dog", 0.05, "true")]
    for item in soup.select("#videos li"):  # every unsure label says so; no sure one looks unsure
        unsure = item.get("data-unsure") == "true"
        assert ("?" in item.get_text()) == unsure and ("not a fact" in item.get("title", "")) == unsure
    assert "3 shots" in first.get_text() and "(from metadata)" in first.get_text() and PARIS[0] in first.get_text()
    assert by_path["food/c <&>.mov"].find("time")["data-source"] == "file"
    assert "(file time)" in by_path["food/c <&>.mov"].get_text()
    copy = by_path["pets/a copy.mp4"]
    assert copy["data-duplicate-of"] == "pets/a.mp4" and "duplicate of a.mp4" in copy.select_one(".dup").get_text()
    assert by_path["pets/e.mp4"].select_one(".missing") is not None

    # Filters: one select box per attribute, whose options are exactly the cards' values; shown only with JS.
    form = soup.find("form", id="filters")
    assert form.has_attr("hidden") and not any(card.has_attr("hidden") for card in cards)
    for name, attribute in (("vertical", "data-vertical"), ("year", "data-year"), ("place", "data-place")):
        options = [option["value"] for option in form.find("select", attrs={"name": name}).find_all("option")]
        assert options[0] == "*" and sorted(options[1:]) == sorted({card.get(attribute, "") for card in cards})
    [script] = soup.find_all("script")
    assert not script.has_attr("src") and "filters" in script.get_text()

    # Thumbnails are the files next to the report, linked relatively and loaded lazily; only the charts are inline.
    pictures = soup.select("#videos img, #moments img")
    assert len(pictures) == 3
    for picture in pictures:
        assert (picture["src"], picture["loading"], picture["width"], picture["height"]) == (
            "thumbnails/a%20b.jpg", "lazy", "32", "20")
        assert (out / unquote(picture["src"])).resolve() == thumbnail.resolve()
    assert soup.select_one('#moments figure[data-vertical="Food & Drink"] .missing') is not None
    assert all(image["src"].startswith("data:image/png;base64,") for image in soup.find_all("img")
               if image not in pictures)
    assert "data:image/jpeg" not in page
    assert not soup.find_all(["link", "iframe"])
    without_inline = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"(?:https?:|ftp:)?//[a-z0-9]|url\(", without_inline, re.I)

    assert [row["data-path"] for row in soup.select("#skipped tr[data-path]")] == ["broken/x.mp4"]
    assert "damaged or truncated" in soup.find("section", id="skipped").get_text()


def test_the_thumbnail_links_are_relative_to_the_folder_of_the_page(tmp_path):
    from PIL import Image

    thumbnail = tmp_path / "run" / "thumbnails" / "t.jpg"
    thumbnail.parent.mkdir(parents=True)
    Image.new("RGB", (40, 24)).save(thumbnail)
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    videos = [_video("a.mp4", when, [("Cat", 0.9, PETS)], thumbnail=thumbnail, vertical=PETS),
              _video("b.mp4", when, [("Cat", 0.9, PETS)], thumbnail=tmp_path / "gone.jpg", vertical=PETS)]
    info = ReportInput(sources=["."], tagger="t")
    for folder, link in ((tmp_path / "run", "thumbnails/t.jpg"), (tmp_path / "elsewhere", "../run/thumbnails/t.jpg")):
        soup = BeautifulSoup(render_report(videos, [], info, folder=folder), "html.parser")
        cards = soup.select("#videos article.video")
        assert cards[0].find("img")["src"] == link and (folder / link).resolve() == thumbnail.resolve()
        assert cards[1].find("img") is None and cards[1].select_one(".missing").get_text() == "no picture"


def test_counting_ranking_and_the_map_view():
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    chain = [_video("a.mp4", when, []), _video("b.mp4", when, [], duplicate_of="a.mp4"),
             _video("c.mp4", when, [], duplicate_of="b.mp4"), _video("d.mp4", when, [], duplicate_of="skipped.mp4")]
    assert [video.path for video in counted_videos(chain)] == ["a.mp4", "d.mp4"]  # its original is not in the run
    assert rank({"Other": 9, "(unknown)": 8, "Travel": 1, "Sports": 3, "Music": 3}) == [
        "Music", "Sports", "Travel", "Other", "(unknown)"]
    west, east, south, north = map_extent([2.29, 2.35], [48.85, 48.86])  # one town: at least a degree around it
    assert west < 2.29 and east > 2.35 and east - west >= 1 and north - south >= 1
    assert map_extent([-122.4, 139.7], [37.8, 35.7]) == (-180, 180, -90, 90)  # across the world: all of it
    assert map_extent([179.9], [89.9])[1] == 180 and map_extent([179.9], [89.9])[3] == 90


def test_an_empty_run_still_reports_the_skipped_files():
    page = render_report([], [SkippedFile("x.mp4", "empty file (0 bytes)")], ReportInput(sources=["."], tagger="t"))
    soup = BeautifulSoup(page, "html.parser")
    assert soup.select_one('[data-total="videos"]').get_text() == "0"
    assert soup.find("section", id="timeline") is None and soup.find("section", id="verticals") is None
    assert soup.select_one("#skipped tr[data-path]")["data-path"] == "x.mp4"


def test_predictions_json_and_csv_say_the_same(tmp_path):
    when = datetime(2024, 3, 1, tzinfo=timezone.utc)
    videos = [_video("a, b.mp4", when, [("Cat", 0.123456789, PETS), ("Dog", 1e-9, PETS, True)], vertical=PETS,
                     place=PARIS[0], lat=PARIS[1], lon=PARIS[2], shots=3),
              _video("c.mp4", when, [("Coffee", 0.5, FOOD)], source="file", vertical=FOOD, duplicate_of="a, b.mp4")]
    json_path, csv_path = write_predictions(tmp_path, videos)
    records = json.loads(json_path.read_text())
    assert records == [
        {"path": "a, b.mp4", "vertical": PETS,
         "labels": [{"name": "Cat", "score": 0.123457, "vertical": PETS, "unsure": False},
                    {"name": "Dog", "score": 0.0, "vertical": PETS, "unsure": True}],
         "taken": "2024-03-01T00:00:00+00:00", "taken_from": "metadata", "place": PARIS[0], "lat": PARIS[1],
         "lon": PARIS[2], "duration": 90.0, "shots": 3, "duplicate_of": None},
        {"path": "c.mp4", "vertical": FOOD, "labels": [{"name": "Coffee", "score": 0.5, "vertical": FOOD,
                                                       "unsure": False}],
         "taken": "2024-03-01T00:00:00+00:00", "taken_from": "file", "place": None, "lat": None, "lon": None,
         "duration": 90.0, "shots": None, "duplicate_of": "a, b.mp4"}]
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["path"], row["vertical"], int(row["rank"]), row["name"], float(row["score"]), row["label_vertical"],
             row["unsure"], row["place"], row["duplicate_of"]) for row in rows] == [
        (record["path"], record["vertical"], rank, label["name"], label["score"], label["vertical"],
         str(int(label["unsure"])), record["place"] or "", record["duplicate_of"] or "")
        for record in records for rank, label in enumerate(record["labels"], 1)]
