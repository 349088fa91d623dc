"""YouTube video ids: the one validation every step applies before an id is used in a URL or a file name."""

from __future__ import annotations

import re

YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
ID_LENGTH = 11


def is_youtube_id(value: object) -> bool:
    """Whether ``value`` is exactly 11 characters of ``[A-Za-z0-9_-]`` (``fullmatch``: no trailing newline slips by)."""
    return isinstance(value, str) and YOUTUBE_ID.fullmatch(value) is not None


def why_invalid(value: object) -> str:
    """A short reason why ``value`` is not a YouTube id (for reports), e.g. ``10 characters, expected 11``."""
    if not isinstance(value, str):
        return f"not a string ({type(value).__name__})"
    if value == "":
        return "empty"
    bad = sorted({char for char in value if not (char.isascii() and (char.isalnum() or char in "_-"))})
    if bad:
        shown = "".join(bad[:5])
        return f"contains characters outside A-Z a-z 0-9 _ - ({shown!r})"
    return f"{len(value)} characters, expected {ID_LENGTH}"


def show_id(value: object, width: int = 40) -> str:
    """An id as it may be printed in a report: repr-escaped and shortened, so that nothing in it acts on a terminal."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
