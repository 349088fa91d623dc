"""Find a person's videos, and when each was taken.

Folders are searched recursively for ``.mp4 .mov .m4v .mkv .avi .webm`` files (any case); files and folders whose
name starts with a dot are left out (macOS's ``._IMG_0001.MOV`` resource forks, editors' and reelset's own
temporary files). A file named on the command line is taken whatever its suffix (ffmpeg decides whether it is a
video). Each video is listed once, in the order of the paths given, sorted within a folder.

When a video was taken: the ``creation_time`` tag cameras and phones write into the container (UTC), else the
file's modification time; both shown in the local time zone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from reelset.core.errors import ReelsetError
from reelset.features.extraction import VIDEO_SUFFIXES


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def scan_videos(paths: Iterable[str | Path]) -> list[Path]:
    """The videos below the folders and the files given (see the module docstring).

    Raises:
        ReelsetError: a path that does not exist.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        given = Path(given)
        if given.is_dir():
            candidates = sorted(path for path in given.rglob("*")
                                if path.suffix.lower() in VIDEO_SUFFIXES and not _hidden(path, given)
                                and path.is_file())
        elif given.exists():
            candidates = [given]
        else:
            raise ReelsetError(f"{given}: no such file or folder")
        for path in candidates:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(path)
    return found


@dataclass(frozen=True)
class TakenAt:
    """When a video was taken (aware, local time zone) and where that came from: ``"metadata"`` or ``"file"``."""

    when: datetime
    source: str


def parse_creation_time(text: str | None) -> datetime | None:
    """A container's ``creation_time`` (ISO 8601, e.g. ``2023-07-14T10:00:00.000000Z``) as an aware datetime, or
    None when absent or unreadable. A time without a zone is UTC, as the tag is defined."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def taken_at(path: str | Path, creation_time: str | None) -> TakenAt:
    """The video's creation time from its metadata, else its file's modification time."""
    when = parse_creation_time(creation_time)
    if when is not None:
        return TakenAt(when.astimezone(), "metadata")
    return TakenAt(datetime.fromtimestamp(os.stat(path).st_mtime, timezone.utc).astimezone(), "file")
