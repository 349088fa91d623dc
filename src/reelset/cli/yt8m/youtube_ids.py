"""``reelset yt8m youtube-ids``: YouTube-8M v2 ids to YouTube ids, through the official endpoint, cached."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from reelset.cli.options import old_name, prefer_old
from reelset.cli.yt8m import group
from reelset.cli.yt8m.vocab import CACHE_DIR_OPTION
from reelset.core.errors import ReelsetError
from reelset.core.textfile import read_text
from reelset.core.video_ids import show_id
from reelset.yt8m.constants import DEFAULT_BASE_URL, DEFAULT_JOBS, MAX_JOBS

if TYPE_CHECKING:
    from reelset.yt8m.youtube_ids import IdResult


def _read_ids_file(path: Path) -> list[str]:
    """The ids of ``path``, one per line (blank lines and # comments skipped); invalid ones are kept (reported per
    id later), but a file without a single valid id is refused before any request."""
    from reelset.yt8m.youtube_ids import is_v2_id

    text = read_text(path, expected="an ids file (one YouTube-8M id per line)")
    ids = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not ids:
        raise ReelsetError(f"{path}: no ids (the file is empty or holds only comments); list one YouTube-8M id, "
                           "such as XE00, per line")
    if not any(is_v2_id(video_id) for video_id in ids):
        raise ReelsetError(f"{path}: no valid YouTube-8M id in its {len(ids)} line(s); the first: {show_id(ids[0])} "
                           "(a v2 id is 4 characters of A-Z a-z 0-9 _ -, such as XE00)")
    return ids


@group.command("youtube-ids")
@click.argument("ids", nargs=-1)
@click.option("--ids", "ids_file", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="A file of ids, one per line (blank lines and # comments skipped).")
@old_name("--ids-file", "old_ids_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--base-url", default=DEFAULT_BASE_URL, show_default=True,
              help="Host of the JSONP answers, each at <base-url>/2/j/i/<id[:2]>/<id>.js.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the CSV here (atomically) instead of stdout.")
@CACHE_DIR_OPTION
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache of answers.")
@click.option("--retry-gone", is_flag=True, help="Ask again about ids the cache knows as gone.")
@click.option("--jobs", type=click.IntRange(1, MAX_JOBS), default=DEFAULT_JOBS, show_default=True,
              help="Requests in flight at once.")
def youtube_ids_command(ids, ids_file, old_ids_file, base_url, out, cache_dir, no_cache, retry_gone, jobs) -> None:
    """Map 4-character YouTube-8M v2 ids such as XE00 to YouTube video ids.

    \b
    Writes "id,youtube_id" CSV (a header, then one line per id found) to stdout or --out.
    Gone videos (the endpoint answers with an error) and failures go to stderr, one line each, then a summary
    line. Answers are cached in <cache>/yt8m/youtube_ids.sqlite: a rerun asks only for what is missing.
    Exit code 1 when some ids could not be answered (network, malformed answers): run again to retry them.

    \b
    Examples:
      reelset yt8m youtube-ids XE00 nXSc
      reelset yt8m youtube-ids --ids yt8m_ids.txt --out youtube_ids.csv --jobs 8
    """
    ids_file = prefer_old(old_ids_file, ids_file)
    wanted = list(ids) + (_read_ids_file(ids_file) if ids_file else [])
    if not wanted:
        raise click.UsageError("give ids as arguments or with --ids FILE")
    from reelset.core.atomic import atomic_write_text, check_output
    from reelset.core.progress import Reporter
    from reelset.yt8m.youtube_ids import FAILED, INVALID, OK, resolve_youtube_ids, summary_line

    if out:
        check_output(out)  # before any request: the answers would be lost with nowhere to write them
    reporter = Reporter()
    with reporter.live():
        bar = reporter.task("youtube ids", total=len(dict.fromkeys(wanted)))

        def report(result: IdResult) -> None:
            bar.advance()
            if result.status != OK:
                shown = show_id(result.id) if result.status == INVALID else result.id
                click.echo(f"{result.status} {shown}: {result.reason}", err=True)

        results = resolve_youtube_ids(wanted, base_url=base_url, cache_dir=cache_dir, use_cache=not no_cache,
                                      retry_gone=retry_gone, jobs=jobs, on_result=report)
    rows = ["id,youtube_id"] + [f"{result.id},{result.youtube_id}" for result in results if result.status == OK]
    if out:
        atomic_write_text(out, "\n".join(rows) + "\n")
    else:
        for row in rows:
            reporter.line(row)
    click.echo(summary_line(results), err=True)
    failed = sum(result.status == FAILED for result in results)
    if failed:
        raise ReelsetError(f"{failed} id(s) could not be answered (see above); run the command again to retry them")
