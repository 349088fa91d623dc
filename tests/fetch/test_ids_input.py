"""Ids files as users write them (ids or YouTube URLs), bad ids files, and YouTube's session-wide refusals."""

from __future__ import annotations

import io
import threading

import pytest

from reelset.core.errors import ReelsetError
from reelset.core.progress import Reporter
from reelset.core.video_ids import id_from_url
from reelset.fetch.classify import BLOCKED, RATE_LIMITED, UNAVAILABLE, classify_error, is_session_limit
from reelset.fetch.clip import Outcome
from reelset.fetch.download import DownloadSettings, _Run, read_ids
from reelset.fetch.ytdlp import YtdlpSession
from reelset.scale import LocalExecutor
from reelset.scale.pacing import Pacer

VIDEO = "dQw4w9WgXcQ"


@pytest.mark.parametrize("url", [
    f"https://www.youtube.com/watch?v={VIDEO}",
    f"https://www.youtube.com/watch?v={VIDEO}&t=42s&list=PL123",
    f"https://www.youtube.com/watch?feature=share&v={VIDEO}",
    f"youtube.com/watch?v={VIDEO}",
    f"http://m.youtube.com/watch?v={VIDEO}",
    f"https://music.youtube.com/watch?v={VIDEO}&si=abc",
    f"https://youtu.be/{VIDEO}",
    f"https://youtu.be/{VIDEO}?si=Xy_12&t=3",
    f"https://www.youtube.com/shorts/{VIDEO}",
    f"https://www.youtube.com/shorts/{VIDEO}?feature=share",
    f"https://www.youtube.com/embed/{VIDEO}?start=10",
    f"https://www.youtube-nocookie.com/embed/{VIDEO}",
    f"https://www.youtube.com/live/{VIDEO}?si=q",
])
def test_youtube_urls_give_their_id(url):
    assert id_from_url(url) == VIDEO


@pytest.mark.parametrize("text", [
    VIDEO,  # an id is not a URL
    "https://www.youtube.com/watch?v=short",  # not 11 characters
    "https://www.youtube.com/playlist?list=PL123",
    "https://www.youtube.com/@channel",
    f"https://example.com/watch?v={VIDEO}",  # another site
    f"https://www.youtube.com.evil.example/watch?v={VIDEO}",
    f"https://www.youtube.com/shorts/{VIDEO}x",
])
def test_what_is_not_a_video_url_gives_none(text):
    assert id_from_url(text) is None


def test_an_ids_file_takes_ids_and_urls_and_keeps_bad_lines_for_the_report(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text(f"\ufeff# my list\n{VIDEO}\n\n  https://youtu.be/abcdefghijk?si=1  \r\nnot-an-id\n"
                    "https://www.youtube.com/shorts/ABCDEFGHIJK\n", encoding="utf-8")
    assert read_ids(path) == [VIDEO, "abcdefghijk", "not-an-id", "ABCDEFGHIJK"]


@pytest.mark.parametrize("content, message", [
    (b"", "no ids (the file is empty"),
    (b"# only a comment\n\n", "no ids (the file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "a binary file, expected an ids file"),
    ("caf\u00e9\n".encode("latin-1"), "not UTF-8 text (byte 3)"),
    (b"hello\nworld\n", "no valid YouTube id in its 2 line(s); the first: 'hello': 5 characters, expected 11"),
])
def test_bad_ids_files_are_one_line_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "ids.txt"
    path.write_bytes(content)
    with pytest.raises(ReelsetError) as raised:
        read_ids(path)
    assert str(raised.value).startswith(f"{path}: ") and message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_ids_file_or_a_folder_is_named(tmp_path):
    with pytest.raises(ReelsetError, match="ids file not found"):
        read_ids(tmp_path / "missing.txt")
    with pytest.raises(ReelsetError, match="is a folder, expected an ids file"):
        read_ids(tmp_path)


def test_a_captcha_is_blocked_not_unavailable():
    # yt-dlp's own wording (yt_dlp/extractor/youtube/_video.py appends it to YouTube's reason).
    message = f"ERROR: [youtube] {VIDEO}: Video unavailable. YouTube is requiring a captcha challenge before playback"
    assert classify_error(message) == BLOCKED
    assert classify_error(f"ERROR: [youtube] {VIDEO}: Video unavailable") == UNAVAILABLE


def test_a_session_rate_limited_for_an_hour_holds_every_start_that_long(tmp_path):
    message = (f"ERROR: [youtube] {VIDEO}: Video unavailable. This content isn't available, try again later. The "
               "current session has been rate-limited by YouTube for up to an hour. It is recommended to use `-t "
               "sleep` to add a delay between video requests to avoid exceeding the rate limit.")
    assert classify_error(message) == RATE_LIMITED and is_session_limit(message)
    assert not is_session_limit("HTTP Error 429: Too Many Requests")
    settings = DownloadSettings(out_dir=tmp_path)
    reporter = Reporter(interactive=False, out=io.StringIO(), err=io.StringIO())
    pacer = Pacer(0, 0)
    session = YtdlpSession(max_height=360, socket_timeout=5, sleep_requests=0)
    run = _Run(settings, reporter, store=None, session=session, executor=LocalExecutor(), pacer=pacer,
               stop=threading.Event())
    run.after_attempt(Outcome(VIDEO, RATE_LIMITED, "HTTP Error 429: Too Many Requests"))
    assert pacer.reserve() == pytest.approx(0, abs=0.01)  # an ordinary 429: back-off only
    run.after_attempt(Outcome(VIDEO, RATE_LIMITED, message))
    assert pacer.reserve() >= 3599  # no start anywhere for an hour
    assert "YouTube rate-limits this session for up to an hour" in reporter.err.getvalue()

