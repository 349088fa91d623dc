"""The pure parts of taste: scanning, dates, top labels, the timeline's periods, the HTML report, the exports."""

from __future__ import annotations

import csv
import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup

from reelset.core.errors import ReelsetError
from reelset.taste.dataset import frame_number
from reelset.taste.predict import FrameTopLabels, Label, group_scores, top_labels
from reelset.taste.report import ReportInput, all_periods, period_unit, render_report
from reelset.taste.results import SkippedFile, TastedVideo
from reelset.taste.run import write_predictions
from reelset.taste.scan import TakenAt, parse_creation_time, scan_videos, taken_at


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


def test_when_a_video_was_taken(tmp_path):
    assert parse_creation_time("2023-07-14T10:00:00.000000Z") == datetime(2023, 7, 14, 10, tzinfo=timezone.utc)
    assert parse_creation_time("2023-07-14 10:00:00") == datetime(2023, 7, 14, 10, tzinfo=timezone.utc)
    assert parse_creation_time("yesterday") is None and parse_creation_time(None) is None
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    os.utime(video, (1_600_000_000, 1_600_000_000))
    from_file = taken_at(video, None)
    assert from_file.source == "file" and from_file.when.timestamp() == 1_600_000_000
    from_metadata = taken_at(video, "2021-01-02T03:04:05Z")
    assert from_metadata.source == "metadata" and from_metadata.when.timestamp() == datetime(
        2021, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp()


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


def _video(path: str, when: datetime, labels: list[tuple[str, float, str]], *, source="metadata",
           thumbnail: Path | None = None, warnings=()) -> TastedVideo:
    return TastedVideo(path=path, labels=[Label(*label) for label in labels], frame_labels=None, timestamps=np.arange(3, dtype=float), taken=TakenAt(when, source),
                       duration=90.0, thumbnail=thumbnail, warnings=list(warnings))


def test_the_report_is_one_self_contained_page_with_its_sections(tmp_path):
    from PIL import Image

    thumbnail = tmp_path / "t.jpg"
    Image.new("RGB", (32, 20), (200, 30, 30)).save(thumbnail)
    when = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    videos = [
        _video("cats/a.mp4", when, [("Egyptian cat", 0.8, "feline"), ("tabby", 0.1, "feline")], thumbnail=thumbnail),
        _video("cats/b <&>.mp4", when + timedelta(days=40), [("tabby", 0.6, "feline"), ("espresso", 0.2, "food")],
               source="file", warnings=["cats/b <&>.mp4: damaged or truncated video"]),
        _video("food/c.mov", when + timedelta(days=100), [("espresso", 0.9, "food"), ("cup", 0.05, "food")]),
    ]
    skipped = [SkippedFile("broken/x.mp4", "unreadable media (moov atom not found)")]
    page = render_report(videos, skipped, ReportInput(sources=["cats", "food"], tagger="test tagger", top_k=2,
                                                      from_cache=1, group_shares={"feline": 0.6, "food": 0.4}))
    soup = BeautifulSoup(page, "html.parser")
    for section in ("totals", "categories", "labels", "timeline", "videos", "skipped"):
        assert soup.find("section", id=section) is not None, section
    totals = {tag["data-total"]: tag.get_text() for tag in soup.select("[data-total]")}
    assert totals == {"videos": "3", "hours": "0.07", "skipped": "1", "from-cache": "1"}
    assert soup.find("section", id="timeline")["data-unit"] == "month"
    assert [row["data-group"] for row in soup.select("#categories tr[data-group]")] == ["feline", "food"]
    cards = soup.select("#videos article.video")
    assert [card["data-path"] for card in cards] == ["food/c.mov", "cats/b <&>.mp4", "cats/a.mp4"]  # newest first
    assert [(item["data-name"], float(item["data-score"])) for item in cards[2].select("li.label")] == [
        ("Egyptian cat", 0.8), ("tabby", 0.1)]
    assert cards[1].find("time")["data-source"] == "file"
    assert cards[2].find("img")["src"].startswith("data:image/jpeg;base64,")
    assert cards[1].select_one(".thumb.missing") is not None
    assert [row["data-path"] for row in soup.select("#skipped tr[data-path]")] == ["broken/x.mp4"]
    assert "damaged or truncated" in soup.find("section", id="skipped").get_text()
    # Self-contained: every image inline, no link, script or URL to anything outside the file.
    assert all(image["src"].startswith("data:image/") for image in soup.find_all("img"))
    assert not soup.find_all(["script", "link", "iframe"])
    without_inline = re.sub(r"data:image/(?:png|jpeg);base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"(?:https?:|ftp:)?//[a-z0-9]|url\(", without_inline, re.I)


def test_an_empty_run_still_reports_the_skipped_files():
    page = render_report([], [SkippedFile("x.mp4", "empty file (0 bytes)")], ReportInput(sources=["."], tagger="t"))
    soup = BeautifulSoup(page, "html.parser")
    assert soup.select_one('[data-total="videos"]').get_text() == "0"
    assert soup.find("section", id="timeline") is None
    assert soup.select_one("#skipped tr[data-path]")["data-path"] == "x.mp4"


def test_predictions_json_and_csv_say_the_same(tmp_path):
    when = datetime(2024, 3, 1, tzinfo=timezone.utc)
    videos = [_video("a, b.mp4", when, [("Egyptian cat", 0.123456789, "feline"), ("tabby", 1e-9, "feline")]),
              _video("c.mp4", when, [("espresso", 0.5, "food")])]
    json_path, csv_path = write_predictions(tmp_path, videos)
    records = json.loads(json_path.read_text())
    assert records == [
        {"path": "a, b.mp4", "labels": [{"name": "Egyptian cat", "score": 0.123457, "category": "feline"},
                                        {"name": "tabby", "score": 0.0, "category": "feline"}]},
        {"path": "c.mp4", "labels": [{"name": "espresso", "score": 0.5, "category": "food"}]}]
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["path"], int(row["rank"]), row["name"], float(row["score"]), row["category"]) for row in rows] == [
        (record["path"], rank, label["name"], label["score"], label["category"])
        for record in records for rank, label in enumerate(record["labels"], 1)]
