"""``reelset action100m ...``: the Action100M steps (ids, download)."""

from __future__ import annotations

from pathlib import Path

import click

from reelset.action100m import hub
from reelset.action100m.ids import DEFAULT_IDS_FILE, build_ids, ids_report_lines
from reelset.core.progress import Reporter
from reelset.fetch import politeness
from reelset.fetch.download import DownloadSettings, download_videos, read_ids, summary_lines
from reelset.fetch.ytdlp import DEFAULT_URL_TEMPLATE


@click.group("action100m")
def group() -> None:
    """Action100M (facebook/action100m-preview): ids, then clips.

    \b
    reelset action100m ids        parquet shards from the hub -> video_ids.txt
    reelset action100m download   video_ids.txt -> videos/<id>.mp4 (first 90 s, H.264/AAC, <= 480p)
    """


@group.command("ids")
@click.option("--data-dir", type=click.Path(path_type=Path), default=hub.DEFAULT_DATA_DIR, show_default=True,
              help="Where the parquet shards are (or go): <data-dir>/data/*.parquet.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=DEFAULT_IDS_FILE, show_default=True,
              help="Where to write the sorted unique ids, one per line (written atomically).")
@click.option("--repo", "repo_id", default=hub.DEFAULT_REPO, show_default=True, help="Dataset repo on the hub.")
@click.option("--revision", default=None, help="Branch, tag or commit of the dataset (default: main).")
@click.option("--endpoint", envvar="HF_ENDPOINT", default=None, show_envvar=True,
              help="Hub base URL (default https://huggingface.co).")
@click.option("--offline", is_flag=True, default=None,
              help="Use the local shards only (also HF_HUB_OFFLINE=1); checked against the last fetch's manifest.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Keep the first N ids (sorted order).")
@click.option("--sample", type=click.IntRange(min=0), default=None, help="Keep N ids drawn at random with --seed.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample (same seed, same ids).")
def ids_command(data_dir, out, repo_id, revision, endpoint, offline, limit, sample, seed) -> None:
    """Fetch the parquet shards and write the valid YouTube ids to a file.

    Only the video_uid column is read, one row group at a time. Ids that are not 11 characters of
    [A-Za-z0-9_-] are rejected and reported, never used. Offline, the shards are checked against the manifest of
    the last fetch; a folder filled by hand is used as it is, with a note that completeness was not checked.
    """
    reporter = Reporter()
    result = build_ids(data_dir, out, repo_id=repo_id, revision=revision, endpoint=endpoint, offline=offline,
                       limit=limit, sample=sample, seed=seed, progress=reporter.interactive)
    for line in ids_report_lines(result):
        reporter.line(line)


@group.command("download")
@click.option("--ids", "ids_file", envvar="VIDEO_IDS", type=click.Path(path_type=Path), default=DEFAULT_IDS_FILE,
              show_default=True, show_envvar=True, help="File of YouTube ids, one per line.")
@click.option("--out", "out_dir", envvar="OUTPUT_DIR", type=click.Path(path_type=Path, file_okay=False),
              default=Path("videos"), show_default=True, show_envvar=True,
              help="Output folder: <out>/<id>.mp4, logs in <out>/logs/<id>.log, status in <out>/status.jsonl.")
@click.option("--jobs", envvar="JOBS", type=click.IntRange(min=1), default=4, show_default=True, show_envvar=True,
              help="Videos processed in parallel.")
@click.option("--max-videos", envvar="MAX_VIDEOS", type=click.IntRange(min=0), default=0, show_envvar=True,
              help="Stop once this many verified clips are in the folder (earlier runs count); 0: no limit.")
@click.option("--max-height", envvar="MAX_HEIGHT", type=click.IntRange(min=2), default=480, show_default=True,
              show_envvar=True, help="Height cap of the clips, in pixels.")
@click.option("--max-duration", envvar="MAX_DURATION", type=click.FloatRange(min=0, min_open=True), default=90.0,
              show_default=True, show_envvar=True, help="Seconds kept from the start of each video.")
@click.option("--cookies", envvar="COOKIES", type=click.Path(path_type=Path, dir_okay=False), default=None,
              show_envvar=True, help="Netscape cookies file (its contents never reach logs).")
@click.option("--cookies-from", envvar="COOKIES_FROM", default=None, show_envvar=True,
              help="Browser to read cookies from, as yt-dlp's --cookies-from-browser (e.g. firefox, chrome:Profile 1).")
@click.option("--url-template", envvar="REELSET_URL_TEMPLATE", default=DEFAULT_URL_TEMPLATE, show_default=True,
              show_envvar=True, help="Video page URL, {id} replaced by the id.")
@click.option("--retry-failed", is_flag=True, help="Also retry ids recorded as permanently unavailable.")
@click.option("--tries", type=click.IntRange(min=1), default=3, show_default=True,
              help="Attempts per video for transient failures (network, 5xx, 429).")
@click.option("--sleep", type=click.FloatRange(min=0), default=politeness.DEFAULT_SLEEP, show_default=True,
              help="Least seconds between two video starts (all jobs together).")
@click.option("--max-sleep", type=click.FloatRange(min=0), default=politeness.DEFAULT_MAX_SLEEP, show_default=True,
              help="Most seconds between two starts (a random gap in [--sleep, --max-sleep]).")
@click.option("--sleep-requests", type=click.FloatRange(min=0), default=politeness.DEFAULT_SLEEP_REQUESTS,
              show_default=True, help="Seconds between yt-dlp's extraction requests.")
@click.option("--breaker", "breaker_threshold", type=click.IntRange(min=0), default=politeness.DEFAULT_BREAKER_THRESHOLD,
              show_default=True, help="Consecutive blocked/rate-limited results that pause the run (again: stop); 0: off.")
@click.option("--breaker-pause", type=click.FloatRange(min=0), default=politeness.DEFAULT_BREAKER_PAUSE,
              show_default=True, help="Seconds of the circuit breaker's pause.")
@click.option("--socket-timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="Seconds without data before a connection counts as stalled.")
@click.option("--attempt-timeout", type=click.FloatRange(min=0, min_open=True), default=1800.0, show_default=True,
              help="Wall-clock limit of one attempt's ffmpeg pass.")
@click.option("--yt-dlp-args", envvar="YTDLP_ARGS", default=None, show_envvar=True,
              help="Extra yt-dlp options, as on its command line (e.g. \"--extractor-args youtube:po_token=...\").")
@click.pass_context
def download_command(ctx: click.Context, ids_file: Path, **options) -> None:
    """Download the first MAX_DURATION seconds of each video as H.264/AAC MP4 of height <= MAX_HEIGHT.

    Every environment variable of the original script works (JOBS, MAX_VIDEOS, MAX_HEIGHT, MAX_DURATION, COOKIES,
    COOKIES_FROM, VIDEO_IDS, OUTPUT_DIR); flags override them. Resumable: rerun the same command after an
    interruption (kill -9 included) and only what is missing is done. Politeness defaults follow yt-dlp's guidance
    for YouTube (about 240 video starts an hour); use --sleep 0 --max-sleep 0 for your own servers.

    \b
    Exit status: 0 all done (or permanently unavailable), 4 some ids still to retry,
    3 stopped by the circuit breaker or environment errors, 1 could not run.
    """
    settings = DownloadSettings(**options)
    settings.max_videos = settings.max_videos or None
    reporter = Reporter()
    summary = download_videos(read_ids(ids_file), settings, reporter)
    for line in summary_lines(summary):
        reporter.line(line)
    ctx.exit(summary.exit_code)
