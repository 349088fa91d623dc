"""``reelset yt8m download``: the official download.py's configuration and files, parallel and resumable."""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path

import click

from reelset.cli.yt8m import group
from reelset.cli.options import scheduler_option
from reelset.core.errors import ReelsetError
from reelset.yt8m.constants import DATA_BASE_URL, MIRRORS, PLAN_BASE_URL


class _OfficialEnvOption(click.Option):
    """An option whose environment variable (the official script's ``partition``, ``mirror``, ``shard``) the help
    shows the usual way but the library reads, so that its values are checked with the official script's messages
    (:func:`reelset.yt8m.download.config_from_environment`)."""

    def resolve_envvar_value(self, ctx: click.Context) -> str | None:
        return None


def _checked(parser: str) -> Callable:
    """A click callback: a flag's value parsed by the library's ``parser`` (a name in :mod:`reelset.yt8m.download`,
    imported when a value is given), its error a usage error (exit 2)."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None):
        if value is None:
            return None
        from reelset.yt8m import download

        try:
            return operator.attrgetter(parser)(download)(value)
        except download.ConfigError as exc:
            raise click.BadParameter(str(exc)) from exc

    return callback


@group.command("download")
@click.option("--partition", cls=_OfficialEnvOption, envvar="partition", show_envvar=True,
              callback=_checked("Partition.parse"), metavar="VERSION/LEVEL/SPLIT",
              help="e.g. 2/frame/train; level video_level, frame_level, video or frame; split train, validate or "
                   "test.")
@click.option("--mirror", cls=_OfficialEnvOption, envvar="mirror", show_envvar=True,
              callback=_checked("parse_mirror"), metavar="|".join(MIRRORS), help="Data host {mirror}.data.yt8m.org.")
@click.option("--shard", cls=_OfficialEnvOption, envvar="shard", show_envvar=True, callback=_checked("Shard.parse"),
              metavar="X,Y", show_default="1,1", help="Download shard X of Y, 1 <= X <= Y (1,1: all the files).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
              show_default=True, help="Folder of the files and of the plan <partition>_download_plan.json.")
@click.option("--jobs", type=click.IntRange(min=1), default=4, show_default=True,
              help="Files downloaded at once (without --scheduler; on a cluster: one per worker thread).")
@click.option("--dry-run", is_flag=True,
              help="Print the local names of the selected files, one per line, then their total size when the "
                   "server announces it; download nothing but the plan (which is not saved).")
@click.option("--plan-base-url", default=PLAN_BASE_URL, show_default=True,
              help="Host of the plans: <base>/<version>/download_plans/<level>_<split>.json.")
@click.option("--data-base-url", default=DATA_BASE_URL, show_default=True,
              help="Host of the files: <base>/<partition>/<remote name>; {mirror} is replaced by the mirror.")
@click.option("--retries", type=click.IntRange(min=1), default=4, show_default=True,
              help="Attempts per request for transient failures (connection drops, timeouts, 5xx, 429).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="Seconds without data before a connection counts as stalled.")
@scheduler_option
def download_command(partition, mirror, shard, scheduler, **options) -> None:
    """Download a YouTube-8M partition, or one shard of it, as the official download.py does.

    \b
    Same configuration as
      curl data.yt8m.org/download.py | shard=1,1000 partition=2/frame/train mirror=us python
    i.e. the environment variables partition, mirror and shard, checked with the same messages; the flags
    override them:
      reelset yt8m download --partition 2/frame/train --mirror us --shard 1,1000 --out data/

    \b
    Sharding: the file named N is in shard X of Y when int(md5(N), 16) % Y == X - 1, the official rule. So
    shard 1,1000 is the same ~1/1000 of the files on every machine (5 of the 3,844 train files, about 1.2 GB of
    frame-level data), and shards 1..Y together are the whole partition.

    \b
    Files keep the official local names (traindw.tfrecord -> train0208.tfrecord). The plan file in --out lists
    what is still to download; each verified file (md5 from the plan) is removed from it at once.

    \b
    Resume: run the same command again, after Ctrl-C, kill -9 or a network failure. The plan says which files
    are left and a file cut short (<name>.part) continues where it stopped (HTTP Range). The official script
    resumes from a plan written here, and this command from one the official script wrote.

    \b
    A file whose md5 does not match is downloaded once more; if it still does not match it is reported
    (Error downloading <file>. MD5 does not match!), never takes its final name (the official script leaves it
    in place) and stays in the plan; the other files go on and the exit status is 1. The free disk space is
    checked against the announced sizes before the first byte.

    \b
    On a Dask cluster (--scheduler ADDRESS, or REELSET_SCHEDULER): each file is downloaded, checked and renamed
    into place by a worker, straight into --out, which must be a folder every worker sees at the same absolute
    path (a shared file system); the workers must reach the data host. This process alone keeps the plan and
    prints the lines above, as files finish; a worker that dies mid-file has its file taken up by another, which
    resumes from what it left. The files and the plan are the same as a local run's.

    \b
    Examples:
      reelset yt8m download --partition 2/video/validate --mirror us --shard 1,1000 --out yt8m/ --dry-run
      reelset yt8m download --partition 2/frame/train --mirror eu --shard 1,1000 --out yt8m/ --jobs 8
      shard=1,100 partition=2/video/train mirror=asia reelset yt8m download --out yt8m/
    """
    from reelset.core.progress import Reporter
    from reelset.yt8m.download import ConfigError, config_from_environment, download_partition

    try:
        config = config_from_environment(partition=partition, mirror=mirror, shard=shard, **options)
    except ConfigError as exc:
        raise ReelsetError(f"{exc}{_where_set(exc)}") from exc
    download_partition(config, Reporter(), executor=scheduler or None).check()


def _where_set(error) -> str:
    """Where the faulty setting of a :class:`~reelset.yt8m.download.ConfigError` comes from, and the other way to
    set it (the official messages name only the environment variable)."""
    if error.setting is None:
        return ""
    if error.source == "missing":
        return f" (or the flag --{error.setting})"
    if error.source == "environment":
        return f" (from the environment variable {error.setting}; the flag --{error.setting} overrides it)"
    return ""

