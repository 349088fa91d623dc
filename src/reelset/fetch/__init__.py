"""Downloading videos: yt-dlp resolves the streams, one ffmpeg pass makes the clip, a check verifies it.

:func:`download_videos` is ``reelset action100m download`` as a library call (politeness, retries, circuit breaker,
status file; each attempt a task of an executor: threads here or a Dask cluster); :func:`fetch_clip` is one attempt at
one video; :func:`verify_clip` checks a clip against the output contract.

Example::

    from pathlib import Path
    from reelset.fetch import DownloadSettings, download_videos
    summary = download_videos(["dQw4w9WgXcQ"], DownloadSettings(out_dir=Path("videos"), max_duration=30))
    summary.counts["ok"], summary.exit_code
"""

from reelset.core.lazy import lazy_exports

_EXPORTS = {
    "DownloadSettings": ".download",
    "DownloadSummary": ".download",
    "download_videos": ".download",
    "read_ids": ".download",
    "fetch_clip": ".clip",
    "verify_clip": ".normalise",
    "YtdlpSession": ".ytdlp",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
