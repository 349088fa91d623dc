"""When and where a video was taken: videos made by real ffmpeg the way Android phones and iPhones write them, read
back with ffprobe, then the reading rules (sources in order, bogus times, ISO 6709 forms) on tags alone."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reelset.core.ffmpeg import probe
from reelset.sandbox.media import make_phone_video, make_video
from reelset.taste.capture import capture_facts, metadata_time, parse_iso6709

PARIS_SUMMER = timezone(timedelta(hours=2))
TAKEN = datetime(2023, 7, 14, 12, 0, tzinfo=PARIS_SUMMER)  # noon in Paris: 10:00 UTC
EIFFEL = (48.8584, 2.2945)
OPERA_HOUSE = (-33.8568, 151.2153)
FILE_TIME = datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def probed_tags(path: Path) -> dict[str, str]:
    """The tags as capture_facts gets them: probe's (the container's, then each stream's for names it lacks)."""
    info = probe(path)
    assert info.video is not None
    return info.tags


@pytest.fixture(scope="module")
def phone_videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("phones")
    videos = {
        "android": make_phone_video(folder / "PXL_20230714_100000.mp4", style="android", when=TAKEN,
                                    lat=EIFFEL[0], lon=EIFFEL[1]),
        "apple": make_phone_video(folder / "IMG_0001.MOV", style="apple", when=TAKEN,
                                  lat=OPERA_HOUSE[0], lon=OPERA_HOUSE[1], altitude=35),
        "plain": make_video(folder / "plain.mp4", seconds=1, width=64, height=48, audio=None),
        # ffmpeg's mp4 muxer drops a location it cannot parse; its mov muxer writes the text as given.
        "malformed": make_phone_video(folder / "odd.mov", style="android", when=TAKEN,
                                      extra_tags={"location": "somewhere nice/"}),
        "epoch": make_phone_video(folder / "epoch.mov", style="apple",
                                  extra_tags={"creation_time": "1970-01-01T00:00:00Z",
                                              "com.apple.quicktime.creationdate": "1904-01-01T00:00:00+0000"}),
    }
    for name in ("plain", "malformed", "epoch"):
        os.utime(videos[name], (FILE_TIME.timestamp(), FILE_TIME.timestamp()))
    return videos


def test_android_video_reads_back_as_phones_write_it(phone_videos):
    tags = probed_tags(phone_videos["android"])
    # What ffprobe shows for a Pixel's or a Galaxy's video: ISO 6709 in `location` and again in `location-eng`.
    assert tags["location"] == tags["location-eng"] == "+48.8584+002.2945/"
    assert tags["creation_time"].startswith("2023-07-14T10:00:00")

    facts = capture_facts(tags, phone_videos["android"])
    assert facts.taken_from == "metadata"
    assert facts.taken == TAKEN and not facts.filmed_zone  # UTC, shown in this machine's zone
    assert (facts.lat, facts.lon, facts.altitude) == (*EIFFEL, None)


def test_apple_video_keeps_its_local_time_zone_and_altitude(phone_videos):
    tags = probed_tags(phone_videos["apple"])
    assert tags["com.apple.quicktime.creationdate"] == "2023-07-14T12:00:00+0200"
    assert tags["com.apple.quicktime.location.ISO6709"] == "-33.8568+151.2153+035.000/"

    facts = capture_facts(tags, phone_videos["apple"])
    assert facts.taken_from == "metadata"
    assert facts.taken == TAKEN
    # Noon where it was filmed, whatever this machine's zone: the time zone came with the video.
    assert facts.taken.utcoffset() == timedelta(hours=2) and facts.taken.hour == 12 and facts.filmed_zone
    assert (facts.lat, facts.lon, facts.altitude) == (*OPERA_HOUSE, 35.0)


def test_video_without_metadata_is_dated_by_its_file(phone_videos):
    tags = probed_tags(phone_videos["plain"])
    facts = capture_facts(tags, phone_videos["plain"])
    assert facts.taken_from == "file" and not facts.filmed_zone
    assert facts.taken == FILE_TIME
    assert facts.taken.tzinfo is not None
    assert (facts.lat, facts.lon, facts.altitude) == (None, None, None)


def test_epoch_zero_times_are_not_believed(phone_videos):
    tags = probed_tags(phone_videos["epoch"])
    assert tags["creation_time"].startswith("1970-01-01")
    facts = capture_facts(tags, phone_videos["epoch"])
    assert (facts.taken_from, facts.taken) == ("file", FILE_TIME)


def test_malformed_location_gives_no_position_and_no_error(phone_videos):
    tags = probed_tags(phone_videos["malformed"])
    assert tags["location"] == "somewhere nice/"
    facts = capture_facts(tags, phone_videos["malformed"])
    assert (facts.lat, facts.lon) == (None, None)
    assert (facts.taken_from, facts.taken) == ("metadata", TAKEN)


NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_apple_creationdate_wins_over_creation_time():
    tags = {"creation_time": "2023-07-14T10:00:05.000000Z",
            "com.apple.quicktime.creationdate": "2023-07-14T12:00:00+0200"}
    taken = metadata_time(tags, now=NOW)
    assert taken == TAKEN and taken.utcoffset() == timedelta(hours=2)


def test_apple_creationdate_without_zone_gives_way_to_creation_time():
    tags = {"creation_time": "2023-07-14T10:00:05Z", "com.apple.quicktime.creationdate": "2023-07-14T12:00:00"}
    assert metadata_time(tags, now=NOW) == datetime(2023, 7, 14, 10, 0, 5, tzinfo=timezone.utc)


def test_creation_time_without_zone_is_utc_and_names_match_in_any_case():
    assert metadata_time({"CREATION_TIME": "2023-07-14 10:00:00"}, now=NOW) == TAKEN
    assert metadata_time({"COM.APPLE.QUICKTIME.CREATIONDATE": "2023-07-14T12:00:00+0200"}, now=NOW) == TAKEN


@pytest.mark.parametrize("bogus", [
    "1904-01-01T00:00:00.000000Z",  # QuickTime's clock zero
    "1970-01-01T00:00:00.000000Z",  # Unix's
    "1969-12-31T19:00:00-0500",  # Unix's, written in a local zone
    "2024-01-02T12:00:00Z",  # a day and a half after NOW
    "2023-13-45T99:00:00Z",
    "yesterday",
    "",
])
def test_bogus_metadata_times_fall_back(bogus, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    os.utime(video, (FILE_TIME.timestamp(), FILE_TIME.timestamp()))
    for name in ("creation_time", "com.apple.quicktime.creationdate"):
        facts = capture_facts({name: bogus}, video, now=NOW)
        assert (facts.taken_from, facts.taken) == ("file", FILE_TIME)
    # A bogus Apple date does not hide a good creation_time.
    good = {"com.apple.quicktime.creationdate": bogus, "creation_time": "2023-07-14T10:00:00Z"}
    assert capture_facts(good, video, now=NOW).taken == TAKEN


def test_a_time_within_a_day_ahead_is_believed():
    assert metadata_time({"creation_time": "2024-01-01T13:00:00Z"}, now=NOW) is not None


def test_missing_file_when_its_time_is_needed_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        capture_facts({}, tmp_path / "gone.mp4")


@pytest.mark.parametrize(("text", "expected"), [
    ("+48.8584+002.2945/", (48.8584, 2.2945, None)),
    ("+48.8584+002.2945+035.000/", (48.8584, 2.2945, 35.0)),
    ("-33.8568+151.2153/", (-33.8568, 151.2153, None)),
    ("+40.6892-074.0445-002.5/", (40.6892, -74.0445, -2.5)),
    ("+48.8584+002.2945", (48.8584, 2.2945, None)),  # the closing slash left out
    (" +48.8584+002.2945/\n", (48.8584, 2.2945, None)),
    ("+48.8584+002.2945+035.000CRSWGS_84/", (48.8584, 2.2945, 35.0)),
    ("+4851.504+00217.670/", (48.8584, 2.29450, None)),  # degrees and minutes
    ("+485130.24-0021740.2/", (48.858400, -2.294500, None)),  # degrees, minutes and seconds
    ("+48.8584+002.2945+1000000/", (48.8584, 2.2945, None)),  # no such altitude: the position stays
])
def test_iso6709_forms(text, expected):
    got = parse_iso6709(text)
    assert got is not None
    assert got[0] == pytest.approx(expected[0], abs=1e-6) and got[1] == pytest.approx(expected[1], abs=1e-6)
    assert got[2] == expected[2]


@pytest.mark.parametrize("text", [
    None, "", "/", "somewhere nice/", "48.8584,2.2945", "+48.8584/", "+48.8584+002.2945+035.000+1/",
    "+91.0000+002.2945/", "-90.5+000.1/", "+48.8584+180.0001/", "+48.8584-200.0/",
    "+00.0000+000.0000/",  # what a device without a fix writes
    "+4875.0+00217.670/", "+485175.0+0021740.2/",  # 75 minutes; 75 seconds
    "+123.0+002.2945/", "+48.8584+0022.2945/",  # digits that fit no form
    "+48.8584+002.2945/junk", "+nan+002.2945/", "+48.+002.2945/",
])
def test_malformed_or_impossible_iso6709_is_none(text):
    assert parse_iso6709(text) is None


def test_location_tags_tried_in_order_past_a_bad_one(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    tags = {"com.apple.quicktime.location.ISO6709": "+99.0+000.0/", "location": "garbage",
            "location-eng": "+01.5+002.5/", "creation_time": "2023-07-14T10:00:00Z"}
    facts = capture_facts(tags, video, now=NOW)
    assert (facts.lat, facts.lon, facts.altitude) == (1.5, 2.5, None)
    facts = capture_facts({**tags, "com.apple.quicktime.location.ISO6709": "+10.0+020.0+001.0/"}, video, now=NOW)
    assert (facts.lat, facts.lon, facts.altitude) == (10.0, 20.0, 1.0)


@pytest.mark.parametrize(("options", "message"), [
    ({"style": "nokia"}, "style"),
    ({"when": datetime(2023, 7, 14, 12, 0)}, "aware"),
    ({"lat": 48.8584}, "both lat and lon"),
])
def test_make_phone_video_refuses_what_no_phone_writes(options, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        make_phone_video(tmp_path / "clip.mp4", **options)
    with pytest.raises(ValueError, match="mp4 or .mov"):
        make_phone_video(tmp_path / "clip.mkv")
    assert list(tmp_path.iterdir()) == []
