"""``reelset taste`` in a person's terms, end to end: real photos as phone videos (an iPhone's ``.mov`` in Paris with
its time zone, an Android ``.mp4`` in Sydney), a smaller, trimmed re-encode of one of them (a near-duplicate), a
video of two shots, and one without metadata; the real EfficientNet-Lite0, the shipped YouTube-8M vocabulary, the
offline gazetteer. Checks ``predictions.json`` and the report's sections."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from reelset.core.ffmpeg import run_ffmpeg
from reelset.core.progress import Reporter
from reelset.sandbox.media import make_phone_video
from reelset.taste.run import run_taste
from reelset.taste.samples import make_photo_video, sample_photo

PARIS_SUMMER = timezone(timedelta(hours=2))
CAT_TAKEN = datetime(2023, 7, 14, 12, 0, tzinfo=PARIS_SUMMER)
COFFEE_TAKEN = datetime(2024, 1, 5, 8, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def tasted(tmp_path_factory):
    work = tmp_path_factory.mktemp("terms")
    videos, plain = work / "videos", work / "plain"
    plain.mkdir()
    cat = make_photo_video(sample_photo("chelsea"), plain / "cat.mov", seconds=4, size=(300, 200))
    make_phone_video(videos / "cat.mov", style="apple", when=CAT_TAKEN, lat=48.8584, lon=2.2945, source=cat)
    coffee = make_photo_video(sample_photo("coffee"), plain / "coffee.mp4", seconds=4, size=(300, 200))
    make_phone_video(videos / "coffee.mp4", style="android", when=COFFEE_TAKEN, lat=-33.8568, lon=151.2153,
                     source=coffee)
    # The last 3 s of the coffee video, smaller and re-encoded: the same moments, another file.
    run_ffmpeg(["-loglevel", "error", "-y", "-ss", "1", "-i", str(coffee), "-vf", "scale=150:100",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", str(videos / "coffee-trimmed.mp4")], label="trim")
    rocket = make_photo_video(sample_photo("rocket"), plain / "rocket.mp4", seconds=2, size=(300, 200))
    bike = make_photo_video(sample_photo("motorcycle_left"), plain / "bike.mp4", seconds=2, size=(300, 200))
    (plain / "list.txt").write_text(f"file '{rocket}'\nfile '{bike}'\n")
    run_ffmpeg(["-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(plain / "list.txt"),
                "-c", "copy", str(videos / "two-shots.mp4")], label="concat")
    reporter = Reporter(interactive=False, out=io.StringIO(), err=io.StringIO())
    out = work / "report"
    summary = run_taste([videos], out, cache_dir=work / "cache", dataset=None, reporter=reporter)
    records = {Path(record["path"]).name: record
               for record in json.loads((out / "predictions.json").read_text(encoding="utf-8"))}
    return summary, records, out


def test_what_comes_out_as_youtube8m_verticals_and_entities(tasted):
    _, records, _ = tasted
    assert records["cat.mov"]["vertical"] == "Pets & Animals"
    assert records["cat.mov"]["labels"][0] == {**records["cat.mov"]["labels"][0], "name": "Cat",
                                                "vertical": "Pets & Animals", "unsure": False}
    assert records["coffee.mp4"]["vertical"] == "Food & Drink"


def test_when_and_where_come_from_the_phones_metadata(tasted):
    _, records, _ = tasted
    cat, coffee = records["cat.mov"], records["coffee.mp4"]
    assert (cat["taken"], cat["taken_from"]) == ("2023-07-14T12:00:00+02:00", "metadata")  # the zone it was filmed in
    assert datetime.fromisoformat(coffee["taken"]) == COFFEE_TAKEN and coffee["taken_from"] == "metadata"
    assert (cat["place"], cat["lat"], cat["lon"]) == ("Paris, France", pytest.approx(48.8584), pytest.approx(2.2945))
    assert coffee["place"] == "Sydney, Australia"
    assert records["two-shots.mp4"]["taken_from"] == "file" and records["two-shots.mp4"]["place"] is None


def test_shots_and_duplicates(tasted):
    summary, records, _ = tasted
    assert records["two-shots.mp4"]["shots"] == 2 and records["cat.mov"]["shots"] == 1
    by_name = {Path(video.path).name: video for video in summary.videos}
    assert records["coffee-trimmed.mp4"]["duplicate_of"] == by_name["coffee.mp4"].path
    assert [name for name, record in records.items() if record["duplicate_of"]] == ["coffee-trimmed.mp4"]


def test_the_report_answers_in_those_terms(tasted):
    _, _, out = tasted
    soup = BeautifulSoup((out / "report.html").read_text(encoding="utf-8"), "html.parser")
    totals = {tag["data-total"]: tag.get_text() for tag in soup.select("[data-total]")}
    assert totals["videos"] == "3" and totals["duplicates"] == "1"  # 4 files: the trimmed copy is folded in
    for section in ("verticals", "years", "places", "moments", "videos"):
        assert soup.find("section", id=section) is not None, section
    places = soup.find("section", id="places").get_text()
    assert "Paris, France" in places and "Sydney, Australia" in places
    moments = soup.select("#moments img")
    assert moments and all((out / img["src"]).is_file() for img in moments)
    cards = {Path(card["data-path"]).name: card for card in soup.select("#videos article.video")}
    assert cards["cat.mov"]["data-vertical"] == "Pets & Animals" and cards["cat.mov"]["data-place"] == "Paris, France"
