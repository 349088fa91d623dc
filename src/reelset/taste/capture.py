"""When and where a video was taken, from its container's metadata (ffprobe's tags) and its file.

When, in this order:

1. Apple's ``com.apple.quicktime.creationdate`` (``2023-07-14T12:00:00+0200``): the local time where the video was
   taken, with its zone, so it is kept in that zone (a video taken at noon in Paris says 12:00+02:00 wherever the
   report is made). Used only when it carries a zone: without one it says no more than ``creation_time``.
2. ``creation_time`` (``2023-07-14T10:00:00.000000Z``), which cameras and phones write in UTC; a time without a
   zone is UTC, as the tag is defined. Shown in this machine's local zone.
3. The file's modification time (``taken_from="file"``), in this machine's local zone: what is left when the
   metadata says nothing, or nothing believable.

A metadata time is not believed when it is before 1971 (the zero of the QuickTime clock, 1904-01-01, and of the Unix
clock, 1970-01-01, which cameras with an unset clock write, in any zone) or more than :data:`FUTURE_SLACK` ahead of
now; the next source is used instead.

Where: ISO 6709 text (``+48.8584+002.2945/``, with an altitude in metres ``+48.8584+002.2945+035.000/``) in Apple's
``com.apple.quicktime.location.ISO6709``, else in the ``location`` tag Android phones write (ffprobe shows it again
as ``location-eng``). Degrees may also be written as degrees and minutes (``+4851.50+00217.67/``) or degrees, minutes
and seconds, as ISO 6709 allows. Malformed or out-of-range text, and ``+00.0000+000.0000/`` (what a device without a
fix writes), give no location: never an exception.

Tag names are matched whatever their case (ffprobe keeps the file's; other tools lower them).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

__all__ = [
    "Capture", "capture_facts", "metadata_time", "parse_iso6709", "parse_metadata_time",
    "APPLE_CREATIONDATE", "APPLE_LOCATION", "CREATION_TIME", "LOCATION_TAGS", "FUTURE_SLACK",
]

APPLE_CREATIONDATE = "com.apple.quicktime.creationdate"
APPLE_LOCATION = "com.apple.quicktime.location.ISO6709"
CREATION_TIME = "creation_time"
LOCATION_TAGS = (APPLE_LOCATION, "location", "location-eng")  # in the order they are tried
# A camera's clock a little ahead, or a local time written as UTC (up to 14 h off), is still believable.
FUTURE_SLACK = timedelta(days=1)
_EARLIEST = datetime(1971, 1, 1, tzinfo=timezone.utc)
_ALTITUDE_LIMIT_M = 100_000  # beyond this it is not a place on Earth's surface or in a plane
# Latitude and longitude each signed; their integer digits say the form (see _angle); then an optional signed
# altitude, an optional coordinate reference system, and the closing slash (which some writers leave out).
_ISO6709 = re.compile(
    r"(?P<lat>[+-]\d+(?:\.\d+)?)(?P<lon>[+-]\d+(?:\.\d+)?)(?P<alt>[+-]\d+(?:\.\d+)?)?(?:CRS[\w:.-]*)?/?"
)
_EXIF_DATE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})(?=[ T])")  # 2023:07:14 12:00:00, as EXIF writes dates


@dataclass(frozen=True)
class Capture:
    """When and where a video was taken.

    Attributes:
        taken: an aware datetime (see the module docstring for its zone).
        taken_from: ``"metadata"`` or ``"file"`` (the file's modification time).
        lat, lon: degrees (WGS 84), both None when the metadata has no believable location.
        altitude: metres above sea level, None when not written.
        filmed_zone: ``taken`` is in the zone it was filmed in (Apple's creationdate), not this machine's.
    """

    taken: datetime
    taken_from: str
    lat: float | None = None
    lon: float | None = None
    altitude: float | None = None
    filmed_zone: bool = False


def capture_facts(tags: Mapping[str, str], path: str | Path, *, now: datetime | None = None) -> Capture:
    """When and where the video at ``path`` was taken, from its ffprobe ``tags`` (the container's, with the
    streams' filling in what it lacks) and, for the time only when the tags have none to believe, its file.

    Args:
        now: what "in the future" is measured from (default: the current time; naive means local); for tests.

    Raises:
        OSError: the file's modification time was needed and the file cannot be read.
    """
    tags = _lower_keys(tags)
    taken, filmed_zone = _metadata_time(tags, now)
    taken_from = "metadata"
    if taken is None:
        taken = datetime.fromtimestamp(os.stat(path).st_mtime, timezone.utc).astimezone()
        taken_from = "file"
    position = None
    for name in LOCATION_TAGS:
        position = parse_iso6709(tags.get(name.lower()))
        if position is not None:
            break
    lat, lon, altitude = position if position is not None else (None, None, None)
    return Capture(taken, taken_from, lat, lon, altitude, filmed_zone)


def metadata_time(tags: Mapping[str, str], *, now: datetime | None = None) -> datetime | None:
    """The capture time the tags give, by the order and checks of the module docstring, or None."""
    return _metadata_time(_lower_keys(tags), now)[0]


def _metadata_time(tags: Mapping[str, str], now: datetime | None) -> tuple[datetime | None, bool]:
    """:func:`metadata_time` of lower-cased ``tags``, and whether it is Apple's (in the zone it was filmed in)."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.astimezone()  # a naive "now" is this machine's local time, as datetime.now() gives it
    apple = parse_metadata_time(tags.get(APPLE_CREATIONDATE.lower()))
    if apple is not None and apple.utcoffset() is not None and _believable(apple, now):
        return apple, True
    creation = parse_metadata_time(tags.get(CREATION_TIME))
    if creation is not None:
        if creation.tzinfo is None:
            creation = creation.replace(tzinfo=timezone.utc)
        if _believable(creation, now):
            return creation.astimezone(), False
    return None, False


def parse_metadata_time(text: str | None) -> datetime | None:
    """An ISO 8601 time as metadata writes it (``2023-07-14T10:00:00.000000Z``, ``2023-07-14T12:00:00+0200``,
    ``2023-07-14 10:00:00``, EXIF's ``2023:07:14 10:00:00``): a datetime, naive when the text has no zone; None
    when absent or unreadable."""
    if not text or not isinstance(text, str):
        return None
    text = _EXIF_DATE.sub(r"\1-\2-\3", text.strip())
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_iso6709(text: str | None) -> tuple[float, float, float | None] | None:
    """``(lat, lon, altitude)`` from ISO 6709 text (see the module docstring); None when it is not a believable
    position. The altitude alone may be None (absent, or beyond any place on Earth)."""
    if not text or not isinstance(text, str):
        return None
    match = _ISO6709.fullmatch(text.strip())
    if not match:
        return None
    lat = _angle(match["lat"], degree_digits=2)
    lon = _angle(match["lon"], degree_digits=3)
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180 or (lat == 0 and lon == 0):
        return None
    altitude = float(match["alt"]) if match["alt"] else None
    if altitude is not None and abs(altitude) > _ALTITUDE_LIMIT_M:
        altitude = None
    return lat, lon, altitude


def _angle(text: str, *, degree_digits: int) -> float | None:
    """A signed ISO 6709 angle in degrees. Its integer digits give the form: up to ``degree_digits`` (2 for a
    latitude, 3 for a longitude; fewer is a common sloppiness) are degrees, two more are degrees and minutes
    (``DDMM.MM``), four more degrees, minutes and seconds (``DDMMSS.SS``)."""
    sign = -1.0 if text[0] == "-" else 1.0
    whole, _, fraction = text[1:].partition(".")
    fraction = f".{fraction}" if fraction else ""
    if len(whole) <= degree_digits:
        value = float(whole + fraction)
    elif len(whole) == degree_digits + 2:
        degrees, minutes = int(whole[:-2]), float(whole[-2:] + fraction)
        if minutes >= 60:
            return None
        value = degrees + minutes / 60
    elif len(whole) == degree_digits + 4:
        degrees, minutes, seconds = int(whole[:-4]), int(whole[-4:-2]), float(whole[-2:] + fraction)
        if minutes >= 60 or seconds >= 60:
            return None
        value = degrees + minutes / 60 + seconds / 3600
    else:
        return None
    return sign * value if math.isfinite(value) else None


def _believable(when: datetime, now: datetime) -> bool:
    return _EARLIEST <= when <= now + FUTURE_SLACK


def _lower_keys(tags: Mapping[str, str]) -> dict[str, str]:
    return {str(key).lower(): value for key, value in (tags or {}).items()}
