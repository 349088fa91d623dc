"""yt-dlp options reelset builds: extra arguments, cookies (never leaked), JS runtime discovery."""

from __future__ import annotations

import pytest

from reelset.core.errors import ReelsetError
from reelset.fetch.clip import Redactor, printable_args
from reelset.fetch.ytdlp import cookie_secrets, find_js_runtimes, load_cookie_jar, parse_extra_args

COOKIES = """# Netscape HTTP Cookie File
.youtube.com\tTRUE\t/\tTRUE\t2147483647\tSID\tsecret-sid-value-123
127.0.0.1\tFALSE\t/\tFALSE\t2147483647\tSESSION\ttopsecretcookievalue
"""


def test_extra_args_become_library_params() -> None:
    params = parse_extra_args('--extractor-args "youtube:po_token=web.gvs+TOKEN" --sleep-requests 2')
    assert params["extractor_args"] == {"youtube": {"po_token": ["web.gvs+TOKEN"]}}
    assert params["sleep_interval_requests"] == 2.0
    assert parse_extra_args("") == {} and parse_extra_args(None) == {}


def test_bad_extra_args_are_one_line_errors() -> None:
    with pytest.raises(ReelsetError, match="no such option: --not-an-option") as info:
        parse_extra_args("--not-an-option")
    assert "\n" not in str(info.value)


def test_cookie_file_is_loaded_and_its_values_are_secrets(tmp_path) -> None:
    path = tmp_path / "cookies.txt"
    path.write_text(COOKIES)
    before = path.read_text()
    jar = load_cookie_jar(path, None)
    assert {cookie.name for cookie in jar} == {"SID", "SESSION"}
    assert sorted(cookie_secrets(jar)) == ["secret-sid-value-123", "topsecretcookievalue"]
    assert path.read_text() == before  # the user's file is never written back


def test_missing_cookie_file_and_bad_browser(tmp_path) -> None:
    with pytest.raises(ReelsetError, match="cookies file not found"):
        load_cookie_jar(tmp_path / "nope.txt", None)
    with pytest.raises(ReelsetError, match="unsupported browser"):
        load_cookie_jar(None, "netscape-navigator")


def test_redactor_and_printable_args_hide_secrets() -> None:
    redact = Redactor(["topsecretcookievalue"])
    assert redact("Cookie: SESSION=topsecretcookievalue; x") == "Cookie: SESSION=<redacted>; x"
    shown = printable_args(["-cookies", "SESSION=topsecretcookievalue;", "-headers", "Authorization: x\r\n", "-i", "u"])
    assert "topsecret" not in shown and "Authorization" not in shown and shown.endswith("-i u")


def test_deno_from_the_python_package_is_found() -> None:
    runtimes = {runtime.name: runtime for runtime in find_js_runtimes()}
    assert "deno" in runtimes and runtimes["deno"].supported


def test_malformed_cookie_file_is_refused_without_echoing_it(tmp_path, capfd) -> None:
    path = tmp_path / "cookies.txt"
    path.write_text("SESSION\tleakme-leakme-leakme\tnot a netscape line\n")
    with pytest.raises(ReelsetError, match="cookies could not be loaded") as info:
        load_cookie_jar(path, None)
    out, err = capfd.readouterr()
    assert "leakme" not in out + err + str(info.value)
