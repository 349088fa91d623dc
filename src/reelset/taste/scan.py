"""Find a person's videos, and when each was taken.

Folders are searched recursively for ``.mp4 .mov .m4v .mkv .avi .webm`` files (any case); files and folders whose
name starts with a dot are left out (macOS's ``._IMG_0001.MOV`` resource forks, editors' and reelset's own
temporary files). A file named on the command line is taken whatever its suffix (ffmpeg decides whether it is a
video). Each video is listed once, in the order of the paths given, sorted within a folder.

When a video was taken: :class:`TakenAt` (read by :mod:`reelset.taste.capture`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
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
