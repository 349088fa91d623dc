"""Defaults of the downloads, in a module that imports nothing heavy: the command line's option definitions use
them, so ``reelset --help`` needs no ``yt_dlp`` (:mod:`.ytdlp` imports them from here)."""

from __future__ import annotations

DEFAULT_URL_TEMPLATE = "https://www.youtube.com/watch?v={id}"
