"""``reelset yt8m vocab``, and the ``--vocabulary`` option every command that shows class names takes."""

from __future__ import annotations

from pathlib import Path

import click

from reelset.cli.yt8m import group
from reelset.cli.options import CACHE_DIR_DEFAULT
from reelset.yt8m.constants import OFFICIAL_URL

CACHE_DIR_OPTION = click.option(
    "--cache-dir", envvar="REELSET_CACHE_DIR", show_envvar=True, type=click.Path(path_type=Path, file_okay=False),
    default=None, show_default=CACHE_DIR_DEFAULT, help="reelset's cache folder.")

vocabulary_option = click.option(
    "--vocabulary", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
    show_default="the one `reelset yt8m vocab` cached, if any",
    help="The v2 vocabulary.csv to name classes with. The 2017 label_names.csv is refused: its ids are not v2's.")
"""Use as ``@vocabulary_option`` and pass the value to :func:`reelset.yt8m.vocabulary.resolve_vocabulary`."""


@group.command("vocab")
@click.option("--url", default=OFFICIAL_URL, show_default=True, help="Where to download vocabulary.csv from.")
@CACHE_DIR_OPTION
@click.option("--refresh", is_flag=True, help="Download again even when the file is cached.")
def vocab_command(url: str, cache_dir: Path | None, refresh: bool) -> None:
    """Download the YouTube-8M v2 vocabulary (3,862 classes) into the cache, once.

    The file is checked (header, indices 0..N-1 without gaps, not the 2017 label_names.csv) before it takes its
    cache name <cache>/yt8m/vocabulary.csv; later runs reuse it. Prints its path, size, classes and verticals.

    \b
    Examples:
      reelset yt8m vocab
      reelset yt8m vocab --refresh --cache-dir /data/reelset-cache
    """
    from reelset.core.progress import Reporter
    from reelset.yt8m.vocabulary import fetch_vocabulary

    reporter = Reporter()
    with reporter.live():
        bar = reporter.task("vocabulary.csv", total=None)
        fetched = fetch_vocabulary(url, cache_dir, refresh=refresh,
                                   on_progress=lambda done, total: bar.update(completed=done, total=total))
    reporter.line(f"vocabulary: {fetched.path}")
    reporter.line(f"source: {'downloaded from ' + url if fetched.downloaded else 'cache (--refresh downloads again)'}")
    reporter.line(f"bytes: {fetched.bytes}")
    reporter.line(f"classes: {fetched.vocabulary.size}")
    reporter.line(f"verticals: {len(fetched.vocabulary.verticals)}")
