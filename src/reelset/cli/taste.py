"""``reelset taste``: what videos do you love to take? A thin command over :func:`reelset.taste.run.run_taste`."""

from __future__ import annotations

from pathlib import Path

import click

from reelset.cli.options import CACHE_DIR_DEFAULT, database_uri_option, scheduler_option
from reelset.features.constants import DEVICE_CHOICES
from reelset.taste.constants import DEFAULT_DATASET, DEFAULT_TOP_K


@click.command("taste")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("taste-report"),
              show_default=True, help="Folder for report.html, predictions.json/.csv and thumbnails/.")
@click.option("--model", "model_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              show_default="the offline ImageNet tagger, told in YouTube-8M's entities and verticals",
              help="A trained YouTube-8M model folder (rgb features only).")
@click.option("--top-k", type=click.IntRange(min=1), default=DEFAULT_TOP_K, show_default=True,
              help="Labels per video (and per second), best first, whatever their score.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Tag only the first N videos found.")
@click.option("--dataset", default=DEFAULT_DATASET, show_default=True,
              help="FiftyOne dataset to create or update (it mirrors the last run).")
@click.option("--no-dataset", is_flag=True, help="Do not write a FiftyOne dataset.")
@database_uri_option
@click.option("--cache-dir", envvar="REELSET_CACHE_DIR", show_envvar=True,
              type=click.Path(path_type=Path, file_okay=False), default=None, show_default=CACHE_DIR_DEFAULT,
              help="Feature cache (shared with `yt8m extract`): reruns skip the videos already done.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the feature cache.")
@click.option("--device", default="auto", show_default=True,
              help=f"Where the models run: {DEVICE_CHOICES} (auto: a GPU when there is one).")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Videos decoded at the same time (while the model embeds).")
@click.option("--backbone-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              show_default="~/yt8m",
              help="Where a model trained on inception-yt8m features finds that backbone's files (as `yt8m extract "
                   "--model-dir`).")
@click.option("--wordnet-dir", envvar="REELSET_WORDNET_DIR", show_envvar=True,
              type=click.Path(path_type=Path, file_okay=False), default=None, show_default="/usr/share/wordnet",
              help="Folder holding WordNet 3.0's data.noun and index.noun (Debian's wordnet-base).")
@scheduler_option
def command(paths: tuple[Path, ...], out: Path, model_dir: Path | None, top_k: int,
            limit: int | None, dataset: str, no_dataset: bool, cache_dir: Path | None, no_cache: bool, device: str,
            jobs: int, backbone_dir: Path | None, wordnet_dir: Path | None, database_uri: str | None,
            scheduler: str | None) -> None:
    """Tag your own videos (folders, searched recursively, or files) and report what you like to film.

    Says what each video shows in YouTube-8M's terms (its vertical, e.g. "Pets & Animals", and entity tags such as
    "Cat"; low scores marked unsure), when it was taken (the phone's metadata, else the file's time), where (GPS in
    the metadata, named offline), its shots, and which videos are near-duplicates. Writes OUT/report.html (with
    OUT/thumbnails/ next to it: verticals, tags, a year in review, places, best moments, every video filterable by
    vertical, year and place, what was skipped and why), OUT/predictions.json and .csv, and a FiftyOne dataset.
    Features are cached by content: a rerun only decodes new videos. With --scheduler, the
    cluster's workers decode, embed and thumbnail the videos (they must see the videos, OUT and --cache-dir at the
    same absolute paths); this process tags them and writes every output. When no video can be tagged, it is an
    error (exit 1) and nothing is written.

    \b
    Examples:
      reelset taste ~/Videos
      reelset taste ~/Videos /media/phone/DCIM --out my-taste --top-k 3 --no-dataset
      reelset taste ~/Videos --model my-model --jobs 4 --device cuda
    """
    from reelset.core.fiftyone_db import use_database
    from reelset.core.progress import Reporter
    from reelset.taste.run import run_taste, summary_lines

    if not no_dataset:
        use_database(database_uri)
    reporter = Reporter()
    summary = run_taste(list(paths), out, model=model_dir, top_k=top_k, limit=limit,
                        dataset=None if no_dataset else dataset, cache_dir=cache_dir, use_cache=not no_cache,
                        device=device, jobs=jobs, wordnet_dir=wordnet_dir, backbone_model_dir=backbone_dir,
                        reporter=reporter, executor=scheduler or None)
    for line in summary_lines(summary):
        reporter.line(line)
