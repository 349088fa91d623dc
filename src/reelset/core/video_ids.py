"""YouTube video ids: the one validation every step applies before an id is used in a URL or a file name."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
ID_LENGTH = 11
# The hosts and paths of a video's page whose id yt-dlp's YouTube extractor takes (watch?v=, youtu.be/, shorts/,
# embed/, live/, v/, e/), on www., m., music. and the no-cookie host.
_YOUTUBE_HOST = re.compile(r"(?:(?:www|m|music)\.)?(?:youtube\.com|youtube-nocookie\.com)", re.I)
_PATH_ID = re.compile(r"/(?:shorts|embed|live|v|e)/([A-Za-z0-9_-]{11})(?:[/?#]|$)")


def is_youtube_id(value: object) -> bool:
    """Whether ``value`` is exactly 11 characters of ``[A-Za-z0-9_-]`` (``fullmatch``: no trailing newline slips by)."""
    return isinstance(value, str) and YOUTUBE_ID.fullmatch(value) is not None


def id_from_url(text: str) -> str | None:
    """The 11-character id in a YouTube video URL as yt-dlp reads it (``https://www.youtube.com/watch?v=ID&t=1``,
    ``https://youtu.be/ID?si=x``, ``/shorts/ID``, ``/embed/ID``, ``/live/ID``, with or without the scheme), or None
    when ``text`` is not such a URL."""
    text = text.strip()
    if "/" not in text:
        return None
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host = (parts.hostname or "").lower()
    if host in ("youtu.be", "www.youtu.be"):
        candidate = parts.path.strip("/").split("/")[0]
    elif _YOUTUBE_HOST.fullmatch(host):
        if parts.path.rstrip("/") == "/watch":
            candidate = (parse_qs(parts.query).get("v") or [""])[0]
        else:
            match = _PATH_ID.match(parts.path)
            candidate = match.group(1) if match else ""
    else:
        return None
    return candidate if is_youtube_id(candidate) else None


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
