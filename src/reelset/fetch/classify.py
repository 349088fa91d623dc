"""What a download failure means, from its message: the status recorded for the video and what happens next.

| status        | meaning                                             | retried in the run | retried on rerun          |
|---------------|-----------------------------------------------------|--------------------|---------------------------|
| ok            | a verified ``<id>.mp4`` is in place                  | -                  | no                        |
| unavailable   | gone for good: removed, private, 404/410, geo, ...  | no                 | only with --retry-failed  |
| blocked       | bot check, captcha, sign-in, HTTP 403, PO token      | no                 | yes                       |
| rate_limited  | HTTP 429, "try again later"                          | yes, long back-off | yes                       |
| env_error     | our side: no JS runtime, no ffmpeg, no usable format | no                 | yes                       |
| failed        | transient: network, timeouts, 5xx, bad output        | yes, back-off      | yes                       |
| invalid       | not a YouTube id; never touches the disk             | no                 | no                        |

The rules are ordered: the first that matches wins. "Requested format is not available" is deliberately *not*
``unavailable`` (the original scripts' defect): on YouTube it is what a missing JavaScript runtime or a PO-token block
looks like. The test suite checks these rules against messages copied verbatim from yt-dlp and ffmpeg.
"""

from __future__ import annotations

import re

OK = "ok"
UNAVAILABLE = "unavailable"
BLOCKED = "blocked"
RATE_LIMITED = "rate_limited"
ENV_ERROR = "env_error"
FAILED = "failed"
INVALID = "invalid"

STATUSES = (OK, UNAVAILABLE, BLOCKED, RATE_LIMITED, ENV_ERROR, FAILED, INVALID)
PERMANENT = frozenset({UNAVAILABLE, INVALID})
RETRY_IN_RUN = frozenset({FAILED, RATE_LIMITED})
BREAKER_STATUSES = frozenset({BLOCKED, RATE_LIMITED})

# An HTTP status in a message, not a number that happens to be one: ffmpeg's stream lines say "410 kb/s".
_NOT_A_RATE = r"(?!\s*(?:[kmg]?b/s|k?hz|fps|tb[rnc]))"


def _status(code: int) -> str:
    return rf"\b{code}\b{_NOT_A_RATE}"


_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        ENV_ERROR,
        re.compile(
            r"requested format is not available|only images are available|"
            r"no supported javascript runtime|javascript runtime|js runtime|n challenge|"
            r"signature (?:extraction|solving|function)|\bejs\b|"
            r"ff(?:mpeg|probe) (?:not found|is not installed|could not be found)|"
            r"unknown encoder|no such filter",
            re.I,
        ),
    ),
    (
        RATE_LIMITED,
        re.compile(
            rf"{_status(429)}|too many requests|try again later|rate[- ]?limit|"
            r"current session has been rate-limited",
            re.I,
        ),
    ),
    (
        # yt-dlp appends the captcha to YouTube's own reason ("Video unavailable. YouTube is requiring a captcha
        # challenge before playback", yt_dlp/extractor/youtube/_video.py): the session is blocked, not the video gone.
        BLOCKED,
        re.compile(r"requiring a captcha|captcha challenge", re.I),
    ),
    (
        # What YouTube says about the video itself wins over the sign-in hint yt-dlp appends to many messages.
        UNAVAILABLE,
        re.compile(
            r"video unavailable|this video is unavailable|private video|video is private|members[- ]only|"
            r"join this channel|copyright|account .*terminated|has been removed|removed by the uploader|"
            r"no longer available|available in your country|blocked it in your country|geo.?restrict",
            re.I,
        ),
    ),
    (
        BLOCKED,
        re.compile(
            r"not a bot|confirm you.?re not|sign in to confirm|confirm your age|inappropriate for some users|"
            rf"{_status(403)}|forbidden|po[ _-]?token|ip is likely being blocked|login required|please sign in",
            re.I,
        ),
    ),
    (
        UNAVAILABLE,
        re.compile(
            rf"{_status(404)}|{_status(410)}|not found|\bgone\b|is not available|isn.t available|does not exist|"
            r"unsupported url|premieres in|this live event",
            re.I,
        ),
    ),
]


def classify_error(message: str) -> str:
    """The status for a failure message (yt-dlp's exception text or ffmpeg's stderr); ``failed`` if nothing matches."""
    for status, pattern in _RULES:
        if pattern.search(message or ""):
            return status
    return FAILED


SESSION_LIMIT = re.compile(r"rate-limited by youtube for up to an hour", re.I)


def is_session_limit(message: str) -> bool:
    """Whether YouTube says the whole session is rate-limited for up to an hour (then every start waits that long:
    retrying sooner only prolongs it)."""
    return SESSION_LIMIT.search(message or "") is not None

