"""Real yt-dlp / ffmpeg error strings for the download error-classifier tests.

Every message in ``MESSAGES`` is copied verbatim from one of three kinds of
source; nothing is paraphrased or invented:

* **source** - a string literal in the installed yt-dlp 2026.10.26
  (``.venv/lib/python3.11/site-packages/yt_dlp``), cited as ``file:line``.
  Where yt-dlp wraps the literal, the string is shown as the user sees it,
  e.g. ``ERROR: [youtube] <id>: <msg>`` (ExtractorError with ``expected=True``,
  see ``utils/_utils.py:1001-1008``) or ``WARNING: [youtube] <id>: <msg>``.
  The video id in such a reconstructed string is an example.
* **issue** - text users pasted into GitHub issues, cited by URL.  These keep
  the real-world quirks: YouTube's curly apostrophe (U+2019), a mangled
  U+FFFD replacement character, older youtube-dl wording, or collapsed spaces.
* **observed** - output captured on this machine (Debian 12.11,
  ffmpeg 5.1.9-0+deb12u1, yt-dlp 2026.10.26 with the ``requests`` handler),
  run against throw-away local test servers on 127.0.0.1:
    - ``:18765`` a threaded ``http.server`` that answers ``/404/...``,
      ``/403/...``, ``/410/...``, ``/429/...``, ``/500/...``, ``/502/...`` and
      ``/503/...`` with that status; ``/trunc/...`` sends
      ``Content-Length: 1000000`` and closes after 1000 bytes; ``/stall/...``
      sends headers plus 1000 bytes and then hangs; ``/stallhdr/...`` never
      answers; ``/garbage/...`` sends 3200 bytes of text as ``video/mp4``.
    - ``:18770`` reads the request, then closes without replying;
      ``:18771`` reads the request, then sends a TCP RST; ``:18773`` sends
      1000 of 1000000 promised bytes, then a RST.
    - ``:18799`` - nothing listening (connection refused).
  ffmpeg was run as
  ``ffmpeg -hide_banner -nostdin -rw_timeout 2000000 -i URL -f null -``.
  yt-dlp was run as a library: ``YoutubeDL({...}).extract_info(url)``
  (generic extractor, ``socket_timeout=2``, ``extractor_retries=0``), and
  ``process_ie_result``/``extract_info`` on a ready-made info dict whose format
  URL points at the servers (``socket_timeout=2``, ``retries`` 0 or 2).  The
  ``[youtube]`` "observed (stub)" messages were made by the real
  ``YoutubeIE._real_extract`` code with ``_initial_extract`` stubbed to return
  one player response whose ``playabilityStatus`` reason/subreason is the
  YouTube text quoted in the cited issue.  This shows how yt-dlp 2026.10.26
  wraps that text.
  The ``[http @ 0x...]`` pointer values in ffmpeg lines change on every run.

Note: ``ERROR: \\r[download] Got error: ...`` really contains a carriage
return; it comes from ``downloader/common.py:416``.

Each entry is ``(verbatim message, expected status, source)``.  Statuses:
``unavailable`` (permanent), ``blocked``, ``rate_limited``, ``env_error``,
``failed`` (transient).  Notes on the tricky entries:

* Age-restricted videos count as ``blocked`` (a sign-in is needed): cookies of
  an age-verified account make them downloadable, so a rerun with ``--cookies``
  must try them again, which ``unavailable`` (permanent) would prevent.
* Private, age-gate and bot-check messages all end with the same
  "Use --cookies-from-browser or --cookies ..." hint.  The classifier must
  decide on the YouTube reason text, not on that hint.
* "Video unavailable. This content isn't available, try again later." is
  ``rate_limited`` even though it starts with "Video unavailable".
* "Unable to download webpage: HTTP Error 404" is ``unavailable``.  The HTTP
  status decides, not the generic "Unable to download webpage" prefix.
* "Requested format is not available" is ``env_error``.  In practice it
  follows a missing JS runtime or failed n/sig challenge, which leaves only
  storyboard images.
* For ffmpeg, 410 and 429 give the same final line ("Server returned 4XX
  Client Error, but not one of 40{0,1,3,4}").  Only the preceding
  ``[http @ ...] HTTP error 4xx`` line tells them apart, so those entries keep
  the whole stderr block.
"""

MESSAGES: list[tuple[str, str, str]] = [
    # ------------------------------------------------------------------
    # unavailable
    # ------------------------------------------------------------------
    (
        "ERROR: [youtube] XyHm0BmtLHg: Video unavailable",
        "unavailable",
        "issue: https://github.com/yt-dlp/yt-dlp/issues/17702",
    ),
    (
        "ERROR: [youtube] Ik1C0aYvqVk: Video unavailable. This video is no longer available due to a copyright claim by Sarah Ann Kennedy",
        "unavailable",
        "issue: https://github.com/meeb/tubesync/issues/478 (yt-dlp CLI output quoted by maintainer)",
    ),
    (
        "ERROR: [youtube] Frti4cmhDx4: Video unavailable. This video contains content from Paramount Global (CBS), who has blocked it in your country on copyright grounds",
        "unavailable",
        "issue: https://github.com/chelaxian/tg-ytdlp-bot/issues/176",
    ),
    (
        "ERROR: [youtube] bbbbbbbbbbb: Video unavailable. This video is no longer available because the YouTube account associated with this video has been terminated.",
        "unavailable",
        "observed (stub): yt-dlp 2026.10.26 _real_extract, reason 'Video unavailable' + subreason from "
        "https://github.com/vididataset/VIDI/issues/1; join at yt_dlp/extractor/youtube/_video.py:4069",
    ),
    (
        "Private video. Sign in if you've been granted access to this video",
        "unavailable",
        "issue: https://github.com/yt-dlp/yt-dlp/issues/2027",
    ),
    (
        "ERROR: [youtube] aaaaaaaaaaa: Private video. Sign in if you've been granted access to this video. Use --cookies-from-browser or --cookies for the authentication. See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass cookies. Also see  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies  for tips on effectively exporting YouTube cookies",
        "unavailable",
        "observed (stub): yt-dlp 2026.10.26 _real_extract, reason/subreason from "
        "https://github.com/yt-dlp/yt-dlp/issues/2027; hint at yt_dlp/extractor/youtube/_video.py:4071-4073, "
        "extractor/youtube/_base.py:715-717, extractor/common.py:597,602",
    ),
    (
        "ERROR: [youtube] vlEbNepkWyw: Join this channel to get access to members-only content like this video, and other exclusive perks.",
        "unavailable",
        "issue: https://github.com/fe80Grau/ytdlp2STRM/issues/109",
    ),
    (
        "ERROR: [youtube] ltcd1B8WyTM: The uploader has not made this video available in your country\nYou might want to use a VPN or a proxy server (with --proxy) to workaround.",
        "unavailable",
        "observed (stub): yt-dlp 2026.10.26 _real_extract, subreason from "
        "https://github.com/KurtBestor/Hitomi-Downloader/issues/4948; raise_geo_restricted at "
        "yt_dlp/extractor/youtube/_video.py:4067, suffix at yt_dlp/YoutubeDL.py:1743",
    ),
    (
        "ERROR: [youtube] fVs0suPHAX8: Sign in to confirm your age. This video may be inappropriate for some users.",
        "blocked",
        "issue: https://github.com/yt-dlp/yt-dlp/issues/11086 (title); age gate: needs a signed-in session",
    ),
    (
        "ERROR: [youtube] fVs0suPHAX8: Sign in to confirm your age. This video may be inappropriate for some users. Use --cookies-from-browser or --cookies for the authentication. See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass cookies. Also see  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies  for tips on effectively exporting YouTube cookies",
        "blocked",
        "observed (stub): yt-dlp 2026.10.26 _real_extract, reason/subreason from "
        "https://github.com/yt-dlp/yt-dlp/issues/11086; hint at yt_dlp/extractor/youtube/_video.py:4071-4073",
    ),
    (
        "ERROR: unable to download video data: HTTP Error 404: Not Found",
        "unavailable",
        "observed: yt-dlp 2026.10.26 process_ie_result on format url http://127.0.0.1:18765/404/v.mp4; "
        "literal at yt_dlp/YoutubeDL.py:3593 + networking/exceptions.py:63",
    ),
    (
        "ERROR: [generic] v: Unable to download webpage: HTTP Error 404: Not Found (caused by <HTTPError 404: Not Found>)",
        "unavailable",
        "observed: yt-dlp 2026.10.26 extract_info('http://127.0.0.1:18765/404/v.mp4'); "
        "literals at yt_dlp/extractor/common.py:915,917 + utils/_utils.py:1007",
    ),
    (
        "ERROR: unable to download video data: HTTP Error 410: Gone",
        "unavailable",
        "observed: yt-dlp 2026.10.26 process_ie_result on format url http://127.0.0.1:18765/410/v.mp4",
    ),
    (
        "http://127.0.0.1:18765/404/x.mp4: Server returned 404 Not Found",
        "unavailable",
        "observed: ffmpeg 5.1.9-0+deb12u1 on Debian 12.11, "
        "ffmpeg -hide_banner -nostdin -rw_timeout 2000000 -i http://127.0.0.1:18765/404/x.mp4 -f null -",
    ),
    (
        "[http @ 0x55b303304140] HTTP error 410 Gone\n"
        "http://127.0.0.1:18765/410/x.mp4: Server returned 4XX Client Error, but not one of 40{0,1,3,4}",
        "unavailable",
        "observed: ffmpeg 5.1.9-0+deb12u1 on Debian 12.11, full stderr of "
        "ffmpeg -hide_banner -nostdin -rw_timeout 2000000 -i http://127.0.0.1:18765/410/x.mp4 -f null -",
    ),
    # ------------------------------------------------------------------
    # blocked
    # ------------------------------------------------------------------
    (
        "ERROR: [youtube] vykUUUZXJLs: Sign in to confirm you\u2019re not a bot. Use --cookies-from-browser or --cookies for the authentication. See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass cookies. Also see  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies  for tips on effectively exporting YouTube cookies",
        "blocked",
        "observed (stub): yt-dlp 2026.10.26 _real_extract, reason/subreason from "
        "https://github.com/yt-dlp/yt-dlp/issues/10798; hint at yt_dlp/extractor/youtube/_video.py:4071-4073",
    ),
    (
        "Sign in to confirm you\u2019re not a bot. Use --cookies-from-browser or --cookies for the authentication. See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass cookies. Also see  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies  for tips on effectively exporting YouTube cookies",
        "blocked",
        "issue: https://github.com/anaisbetts/mcp-youtube/issues/6",
    ),
    (
        "ERROR: [youtube] vykUUUZXJLs: Sign in to confirm you\u2019re not a bot. This helps protect our community. Learn more",
        "blocked",
        "issue: https://github.com/yt-dlp/yt-dlp/issues/10798 (older yt-dlp, before the cookies hint)",
    ),
    (
        "yt_dlp.utils.DownloadError: ERROR: [youtube] rVXeIRY6H9c: Sign in to confirm you\ufffdre not a bot. This helps protect our community. Learn more",
        "blocked",
        "issue: https://github.com/yt-dlp/yt-dlp/issues/12175 (curly apostrophe mangled to U+FFFD by console encoding)",
    ),
    (
        "Sign in to confirm you're not a bot",
        "blocked",
        "issue: https://github.com/kanehekili/YoutubeDownloader/issues/8 (straight-apostrophe variant)",
    ),
    (
        "ERROR: unable to download video data: HTTP Error 403: Forbidden",
        "blocked",
        "observed: yt-dlp 2026.10.26 process_ie_result on format url http://127.0.0.1:18765/403/v.mp4; "
        "also https://github.com/yt-dlp/yt-dlp/issues/17013 (title)",
    ),
    (
        "ERROR: [generic] v: Unable to download webpage: HTTP Error 403: Forbidden (caused by <HTTPError 403: Forbidden>)",
        "blocked",
        "observed: yt-dlp 2026.10.26 extract_info('http://127.0.0.1:18765/403/v.mp4')",
    ),
    (
        'WARNING: [youtube] duoKPS6dMZ8: mweb client https formats require a GVS PO Token which was not provided. They will be skipped as they may yield HTTP Error 403. You can manually pass a GVS PO Token for this client with --extractor-args "youtube:po_token=mweb.gvs+XXX". For more information, refer to  https://github.com/yt-dlp/yt-dlp/wiki/PO-Token-Guide',
        "blocked",
        "issue: https://github.com/yt-dlp/yt-dlp/issues/17013; literal at yt_dlp/extractor/youtube/_video.py:3196-3200",
    ),
    (
        "ERROR: [youtube] dQw4w9WgXcQ: All player responses are invalid. Your IP is likely being blocked by Youtube",
        "blocked",
        "source: yt_dlp/extractor/youtube/_video.py:3186 (yt-dlp 2026.10.26), wrapped as ExtractorError(expected=True)",
    ),
    (
        "http://127.0.0.1:18765/403/x.mp4: Server returned 403 Forbidden (access denied)",
        "blocked",
        "observed: ffmpeg 5.1.9-0+deb12u1 on Debian 12.11, "
        "ffmpeg -hide_banner -nostdin -rw_timeout 2000000 -i http://127.0.0.1:18765/403/x.mp4 -f null -; "
        "same wording in https://github.com/yt-dlp/yt-dlp/issues/2696",
    ),
    # ------------------------------------------------------------------
    # rate_limited
    # ------------------------------------------------------------------
    (
        "ERROR: [youtube] SOWBtuuCDig: Video unavailable. This content isn't available, try again later. The current session has been rate-limited by YouTube for up to an hour. It is recommended to use `-t sleep` to add a delay between video requests to avoid exceeding the rate limit. For more information, refer to  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#this-content-isnt-available-try-again-later",
        "rate_limited",
        "observed (stub): yt-dlp 2026.10.26 _real_extract, reason/subreason from "
        "https://github.com/toolforge/video2commons/issues/288; literal at yt_dlp/extractor/youtube/_video.py:4076-4081",
    ),
    (
        "An exception occurred: DownloadError: ERROR: [youtube] SOWBtuuCDig: Video unavailable. This content isn't available, try again later. Your account has been rate-limited by YouTube for up to an hour. It is recommended to use `-t sleep` to add a delay between video requests to avoid exceeding the rate limit. For more information, refer to https://github.com/yt-dlp/yt-dlp/wiki/Extractors#this-content-isnt-available-try-again-later",
        "rate_limited",
        "issue: https://github.com/toolforge/video2commons/issues/288 (authenticated variant; double space before URL collapsed in the issue)",
    ),
    (
        "ERROR: unable to download video data: HTTP Error 429: Too Many Requests",
        "rate_limited",
        "observed: yt-dlp 2026.10.26 process_ie_result on format url http://127.0.0.1:18765/429/v.mp4",
    ),
    (
        "ERROR: [generic] v: Unable to download webpage: HTTP Error 429: Too Many Requests (caused by <HTTPError 429: Too Many Requests>)",
        "rate_limited",
        "observed: yt-dlp 2026.10.26 extract_info('http://127.0.0.1:18765/429/v.mp4')",
    ),
    (
        "ERROR: Unable to download video subtitles for 'en': HTTP Error 429: Too Many Requests",
        "rate_limited",
        "issue: https://github.com/jely2002/youtube-dl-gui/issues/676",
    ),
    (
        "HTTP Error 429: Too Many Requests (caused by <HTTPError 429: Too Many Requests>)",
        "rate_limited",
        "issue: https://github.com/boul2gom/yt-dlp/issues/60",
    ),
    (
        "[http @ 0x561937d18140] HTTP error 429 Too Many Requests\n"
        "http://127.0.0.1:18765/429/x.mp4: Server returned 4XX Client Error, but not one of 40{0,1,3,4}",
        "rate_limited",
        "observed: ffmpeg 5.1.9-0+deb12u1 on Debian 12.11, full stderr of "
        "ffmpeg -hide_banner -nostdin -rw_timeout 2000000 -i http://127.0.0.1:18765/429/x.mp4 -f null -",
    ),
    # ------------------------------------------------------------------
    # env_error
    # ------------------------------------------------------------------
    (
        "ERROR: [youtube] dQw4w9WgXcQ: Requested format is not available. Use --list-formats for a list of available formats",
        "env_error",
        "observed: yt-dlp 2026.10.26 extract_info with format 'bestvideo[height>=2160]' on a 360p-only info dict; "
        "literal at yt_dlp/YoutubeDL.py:3093",
    ),
    (
        "ERROR: [youtube] mVzLoTowtPM: Requested format is not available. Use --list-formats for a list of available formats",
        "env_error",
        "issue: https://github.com/ikoyhn/clean-cast/issues/107 (after n-challenge failure)",
    ),
    (
        "WARNING: Only images are available for download. use --list-formats to see them",
        "env_error",
        "issue: https://github.com/ikoyhn/clean-cast/issues/107; literal at yt_dlp/YoutubeDL.py:2933 "
        "(str.capitalize() lower-cases 'Use'); observed via logger without 'WARNING: '",
    ),
    (
        "WARNING: [youtube] mVzLoTowtPM: n challenge solving failed: Some formats may be missing. Ensure you have a supported JavaScript runtime and challenge solver script distribution installed. Review any warnings presented before this message. For more details, refer to  https://github.com/yt-dlp/yt-dlp/wiki/EJS",
        "env_error",
        "issue: https://github.com/ikoyhn/clean-cast/issues/107; literal at yt_dlp/extractor/youtube/_video.py:3344-3348,3355",
    ),
    (
        "WARNING: [youtube] lFlnf-9I7HQ: Signature solving failed: Some formats may be missing. Ensure you have a supported JavaScript runtime and challenge solver script distribution installed. Review any warnings presented before this message. For more details, refer to  https://github.com/yt-dlp/yt-dlp/wiki/EJS",
        "env_error",
        "source: yt_dlp/extractor/youtube/_video.py:3344-3348,3351 + _EJS_WIKI_URL at "
        "extractor/youtube/jsc/_builtin/ejs.py:36; prefix seen in https://github.com/ikoyhn/clean-cast/issues/107",
    ),
    (
        "WARNING: [youtube] No supported JavaScript runtime could be found. Only deno is enabled by default; to use another runtime add  --js-runtimes RUNTIME[:PATH]  to your command/config. YouTube extraction without a JS runtime has been deprecated, and some formats may be missing. See  https://github.com/yt-dlp/yt-dlp/wiki/EJS  for details on installing one",
        "env_error",
        "issue: https://github.com/netblue30/firejail/issues/6999; literal at yt_dlp/extractor/youtube/_video.py:2995-2999",
    ),
    (
        'WARNING: [youtube] [jsc] Error solving n challenge request using "quickjs" provider: Error running QuickJS process (returncode: 1): found 0 sig function possibilities.',
        "env_error",
        "issue: https://github.com/deniscerri/ytdlnis/issues/1094; literals at "
        "yt_dlp/extractor/youtube/jsc/_director.py:81 + jsc/_builtin/quickjs.py:55",
    ),
    (
        "ERROR: You have requested merging of multiple formats but ffmpeg is not installed. Aborting due to --abort-on-error",
        "env_error",
        "observed: yt-dlp 2026.10.26 format '137+140' with ffmpeg_location='/nonexistent/ffmpeg'; "
        "literal at yt_dlp/YoutubeDL.py:3540,3542",
    ),
    (
        "ERROR: m3u8 download detected but ffmpeg could not be found. Please install",
        "env_error",
        "observed: yt-dlp 2026.10.26 m3u8 format, external_downloader ffmpeg, ffmpeg_location='/nonexistent/ffmpeg'; "
        "literal at yt_dlp/downloader/external.py:403",
    ),
    (
        "ERROR: Postprocessing: ffprobe and ffmpeg not found. Please install or provide the path using --ffmpeg-location",
        "env_error",
        "observed: yt-dlp 2026.10.26 FFmpegExtractAudio with ffmpeg_location='/nonexistent/ffmpeg'; "
        "literals at yt_dlp/YoutubeDL.py:3664 + postprocessor/ffmpeg.py:234",
    ),
    # ------------------------------------------------------------------
    # failed (transient)
    # ------------------------------------------------------------------
    (
        "ERROR: \r[download] Got error: HTTP Error 500: Internal Server Error",
        "failed",
        "observed: yt-dlp 2026.10.26 process_ie_result, retries=0, format url http://127.0.0.1:18765/500/v.mp4; "
        "literal at yt_dlp/downloader/common.py:416",
    ),
    (
        "ERROR: \r[download] Got error: HTTP Error 503: Service Unavailable. Giving up after 2 retries",
        "failed",
        "observed: yt-dlp 2026.10.26 process_ie_result, retries=2, format url http://127.0.0.1:18765/503/v.mp4; "
        "literal at yt_dlp/utils/_utils.py:5300",
    ),
    (
        "ERROR: \r[download] Got error: HTTPConnection(host='127.0.0.1', port=18799): Failed to establish a new connection: [Errno 111] Connection refused. Giving up after 2 retries",
        "failed",
        "observed: yt-dlp 2026.10.26 process_ie_result, retries=2, format url http://127.0.0.1:18799/v.mp4 (nothing listening)",
    ),
    (
        "ERROR: [generic] v: Unable to download webpage: HTTPConnection(host='127.0.0.1', port=18799): Failed to establish a new connection: [Errno 111] Connection refused (caused by TransportError(\"HTTPConnection(host='127.0.0.1', port=18799): Failed to establish a new connection: [Errno 111] Connection refused\"))",
        "failed",
        "observed: yt-dlp 2026.10.26 extract_info('http://127.0.0.1:18799/v.mp4')",
    ),
    (
        "ERROR: \r[download] Got error: HTTPConnectionPool(host='127.0.0.1', port=18765): Read timed out.",
        "failed",
        "observed: yt-dlp 2026.10.26 process_ie_result, socket_timeout=2, retries=0, format url http://127.0.0.1:18765/stall/v.mp4",
    ),
    (
        "ERROR: [generic] v: Unable to download webpage: HTTPConnectionPool(host='127.0.0.1', port=18765): Read timed out. (read timeout=2.0) (caused by TransportError(\"HTTPConnectionPool(host='127.0.0.1', port=18765): Read timed out. (read timeout=2.0)\"))",
        "failed",
        "observed: yt-dlp 2026.10.26 extract_info('http://127.0.0.1:18765/stallhdr/v.mp4'), socket_timeout=2",
    ),
    (
        "ERROR: \r[download] Got error: 1000 bytes read, 999000 more expected. Giving up after 2 retries",
        "failed",
        "observed: yt-dlp 2026.10.26 process_ie_result, retries=2, format url http://127.0.0.1:18765/trunc/v.mp4; "
        "IncompleteRead text at yt_dlp/networking/exceptions.py:80-82",
    ),
    (
        "ERROR: \r[download] Got error: ('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))",
        "failed",
        "observed: yt-dlp 2026.10.26 process_ie_result, retries=0, format url http://127.0.0.1:18771/v.mp4 (RST on request)",
    ),
    (
        "ERROR: [generic] v: Unable to download webpage: ('Connection aborted.', RemoteDisconnected('Remote end closed connection without response')) (caused by TransportError(\"('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))\"))",
        "failed",
        "observed: yt-dlp 2026.10.26 extract_info('http://127.0.0.1:18770/v.mp4') (server closes without reply)",
    ),
    (
        "ERROR: Did not get any data blocks",
        "failed",
        "observed: yt-dlp 2026.10.26 process_ie_result on http://127.0.0.1:18772/v.mp4 (200, no body, close); "
        "literal at yt_dlp/downloader/http.py:329",
    ),
    (
        "ERROR: ffmpeg exited with code 1",
        "failed",
        "observed: yt-dlp 2026.10.26 m3u8 via external ffmpeg, playlist segment returns 404; "
        "literal at yt_dlp/downloader/external.py:79",
    ),
    (
        "[tcp @ 0x559aa94c7200] Connection to tcp://127.0.0.1:18799 failed: Connection refused\n"
        "http://127.0.0.1:18799/x.mp4: Connection refused",
        "failed",
        "observed: ffmpeg 5.1.9-0+deb12u1 on Debian 12.11, full stderr of "
        "ffmpeg -hide_banner -nostdin -rw_timeout 2000000 -i http://127.0.0.1:18799/x.mp4 -f null -",
    ),
    (
        "http://127.0.0.1:18765/stall/x.mp4: Connection timed out",
        "failed",
        "observed: ffmpeg 5.1.9-0+deb12u1 on Debian 12.11, -rw_timeout 2000000 against /stall/ (same for /stallhdr/)",
    ),
    (
        "[http @ 0x555b0826f140] Stream ends prematurely at 1000, should be 1000000\n"
        "http://127.0.0.1:18765/trunc/x.mp4: Input/output error",
        "failed",
        "observed: ffmpeg 5.1.9-0+deb12u1 on Debian 12.11, full stderr for /trunc/x.mp4",
    ),
    (
        "http://127.0.0.1:18765/garbage/x.mp4: Invalid data found when processing input",
        "failed",
        "observed: ffmpeg 5.1.9-0+deb12u1 on Debian 12.11, last stderr line for /garbage/x.mp4 "
        "(after 'moov atom not found')",
    ),
    (
        "http://127.0.0.1:18770/x.mp4: End of file",
        "failed",
        "observed: ffmpeg 5.1.9-0+deb12u1 on Debian 12.11, server closes connection without a response",
    ),
    (
        "http://127.0.0.1:18771/x.mp4: Connection reset by peer",
        "failed",
        "observed: ffmpeg 5.1.9-0+deb12u1 on Debian 12.11, server sends TCP RST",
    ),
    (
        "[http @ 0x5649e7071140] HTTP error 502 Bad Gateway\n"
        "http://127.0.0.1:18765/502/x.mp4: Server returned 5XX Server Error reply",
        "failed",
        "observed: ffmpeg 5.1.9-0+deb12u1 on Debian 12.11, full stderr for /502/x.mp4 (same last line for 500 and 503)",
    ),
]
