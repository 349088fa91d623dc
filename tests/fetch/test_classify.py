"""The error classifier against real messages (tests/fetch/error_messages.py cites where each one comes from)."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

from reelset.fetch.classify import (
    BLOCKED,
    ENV_ERROR,
    FAILED,
    RATE_LIMITED,
    STATUSES,
    UNAVAILABLE,
    classify_error,
)


def _load_messages() -> list[tuple[str, str, str]]:
    path = Path(__file__).with_name("error_messages.py")
    spec = importlib.util.spec_from_file_location("reelset_test_error_messages", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MESSAGES


MESSAGES = _load_messages()


@pytest.mark.parametrize(("message", "expected", "source"), MESSAGES, ids=[f"{i}-{m[1]}" for i, m in enumerate(MESSAGES)])
def test_real_message_is_classified(message: str, expected: str, source: str) -> None:
    assert source, "every message cites where it comes from"
    assert classify_error(message) == expected


def test_every_failure_status_has_real_examples() -> None:
    counts = Counter(expected for _, expected, _ in MESSAGES)
    for status in (UNAVAILABLE, BLOCKED, RATE_LIMITED, ENV_ERROR, FAILED):
        assert counts[status] >= 4, status
    assert set(counts) <= set(STATUSES)


def test_format_not_available_is_not_permanent() -> None:
    # The original scripts logged any "not available" as gone for good; this one means the JS runtime or a PO token.
    message = "ERROR: [youtube] dQw4w9WgXcQ: Requested format is not available. Use --list-formats for a list of available formats"
    assert classify_error(message) == ENV_ERROR


def test_unknown_message_is_transient() -> None:
    assert classify_error("something nobody has seen before") == FAILED
    assert classify_error("") == FAILED


@pytest.mark.parametrize("bitrate", [403, 404, 410, 429])
def test_bitrate_in_ffmpeg_output_is_not_an_http_status(bitrate: int) -> None:
    # ffmpeg's stderr is classified with the message; its stream lines carry bitrates that look like statuses
    # (observed: ffmpeg 5.1.9 reading a moov-at-end mp4 from a server that ignores Range).
    message = (
        "aaaaaaaaaaa ffmpeg: Stream ends prematurely at 48, should be 363732\n"
        "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5646a043c600] Could not find codec parameters for stream 0 (Video: h264 "
        f"(avc1 / 0x31637661), none, 320x240, {bitrate} kb/s): unspecified pixel format\n"
        "http://127.0.0.1:8765/aaaaaaaaaaa.mp4: Input/output error"
    )
    assert classify_error(message) == FAILED
    assert classify_error(f"Stream #0:1: Audio: aac, 44100 Hz, mono, {bitrate}kb/s") == FAILED
