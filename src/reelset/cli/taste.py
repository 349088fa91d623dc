"""``reelset taste``: what videos do you love to take? A thin command over :func:`reelset.taste.run.run_taste`, and
with ``--yt8m`` over :func:`reelset.taste.yt8m_loop.run_taste_yt8m` (the original project in one command)."""

from __future__ import annotations

from pathlib import Path

import click

from reelset.cli.options import CACHE_DIR_DEFAULT, database_uri_option, scheduler_option
from reelset.features.constants import AUDIO_NONE, AUDIO_VGGISH, DEVICE_CHOICES
from reelset.taste.constants import DEFAULT_DATASET, DEFAULT_TOP_K
from reelset.taste.yt8m_loop import DEFAULT_MIRROR, DEFAULT_SHARD, PARTITION
from reelset.yt8m.constants import DATA_BASE_URL, MIRRORS, PLAN_BASE_URL

# The options of --yt8m alone: given on the command line without it, they are a mistake, not a no-op.
YT8M_OPTIONS = ("yt8m_shard", "mirror", "plan_base_url", "data_base_url", "inception_url", "pca_url", "audio")
# `yt8m extract --audio`'s zeros are silence, which taste tags nothing with: --yt8m trains on rgb then, as with none.
TASTE_AUDIO = (AUDIO_NONE, AUDIO_VGGISH)


def _shard(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--yt8m-shard``'s value checked by the downloader's rule (imported only for a value given: a run without
    --yt8m needs no downloader)."""
    if ctx.get_parameter_source(param.name) == click.core.ParameterSource.DEFAULT:
        return value
    from reelset.yt8m.download import ConfigError, Shard

    try:
        return str(Shard.parse(value))
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("taste")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("taste-report"),
              show_default=True, help="Folder for report.html, predictions.json/.csv and thumbnails/.")
@click.option("--model", "model_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              show_default="the offline ImageNet tagger, told in YouTube-8M's entities and verticals",
              help="A trained YouTube-8M model folder: rgb, or rgb+audio (your videos' sound then goes through "
                   "VGGish too, and a video without sound is skipped).")
@click.option("--yt8m", is_flag=True,
              help=f"Tag with a model trained here on YouTube-8M, the original project in one command: fetch the "
                   f"Inception + PCA files (once), download --yt8m-shard of {PARTITION}, train the default model, "
                   f"extract your videos in YouTube-8M's feature space. All cached in --cache-dir; needs TensorFlow.")
@click.option("--audio", type=click.Choice(TASTE_AUDIO), default=AUDIO_NONE, show_default=True,
              help="With --yt8m: vggish trains the model on rgb+audio and turns your videos' sound into YouTube-8M's "
                   "audio features (VGGish + PCA, as `yt8m extract --audio vggish`); a video without sound is then "
                   "skipped, with that reason. none: rgb alone.")
@click.option("--yt8m-shard", default=DEFAULT_SHARD, show_default=True, callback=_shard, metavar="X,Y",
              help="With --yt8m: the shard of the training data to download and train on (X of Y, the official "
                   "md5-of-name rule; 1,100 is about 1% of it).")
@click.option("--mirror", type=click.Choice(MIRRORS), default=DEFAULT_MIRROR, show_default=True,
              help="With --yt8m: the data host {mirror}.data.yt8m.org (as `yt8m download --mirror`).")
@click.option("--plan-base-url", default=PLAN_BASE_URL, show_default=True,
              help="With --yt8m: host of the download plans (as `yt8m download`).")
@click.option("--data-base-url", default=DATA_BASE_URL, show_default=True,
              help="With --yt8m: host of the files; {mirror} is replaced by the mirror (as `yt8m download`).")
@click.option("--inception-url", envvar="REELSET_INCEPTION_URL", show_envvar=True, default=None,
              show_default="download.tensorflow.org's", help="With --yt8m: where inception-2015-12-05.tgz comes from.")
@click.option("--pca-url", envvar="REELSET_YT8M_PCA_URL", show_envvar=True, default=None,
              show_default="data.yt8m.org's", help="With --yt8m: where yt8m_pca.tgz comes from.")
@click.option("--top-k", type=click.IntRange(min=1), default=DEFAULT_TOP_K, show_default=True,
              help="Labels per video (and per second), best first, whatever their score.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Tag only the first N videos found.")
@click.option("--dataset", default=DEFAULT_DATASET, show_default=True,
              help="FiftyOne dataset to create or update (it mirrors the last run).")
@click.option("--no-dataset", is_flag=True, help="Do not write a FiftyOne dataset.")
@database_uri_option
@click.option("--cache-dir", envvar="REELSET_CACHE_DIR", show_envvar=True,
              type=click.Path(path_type=Path, file_okay=False), default=None, show_default=CACHE_DIR_DEFAULT,
              help="Feature cache (shared with `yt8m extract`), and with --yt8m its data and models: reruns skip "
                   "what is done.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the feature cache.")
@click.option("--device", default="auto", show_default=True,
              help=f"Where the models run: {DEVICE_CHOICES} (auto: a GPU when there is one).")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Videos decoded at the same time (while the model embeds).")
@click.option("--backbone-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              show_default="~/yt8m",
              help="Where a model trained on inception-yt8m features finds that backbone's files, and where --yt8m "
                   "fetches them (as `yt8m extract --model-dir`).")
@click.option("--audio-model-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              show_default="--backbone-dir",
              help="With --yt8m --audio vggish or a --model that reads audio: where the VGGish files go (downloaded "
                   "once from $REELSET_VGGISH_URL and $REELSET_VGGISH_PCA_URL, else the official URLs; checksums "
                   "recorded and verified; as `yt8m extract --audio-model-dir`).")
@click.option("--wordnet-dir", envvar="REELSET_WORDNET_DIR", show_envvar=True,
              type=click.Path(path_type=Path, file_okay=False), default=None, show_default="/usr/share/wordnet",
              help="Folder holding WordNet 3.0's data.noun and index.noun (Debian's wordnet-base).")
@scheduler_option
@click.pass_context
def command(ctx: click.Context, paths: tuple[Path, ...], out: Path, model_dir: Path | None, yt8m: bool, top_k: int,
            limit: int | None, dataset: str, no_dataset: bool, cache_dir: Path | None, no_cache: bool, device: str,
            jobs: int, backbone_dir: Path | None, audio_model_dir: Path | None, wordnet_dir: Path | None,
            database_uri: str | None, scheduler: str | None, **yt8m_options: str | None) -> None:
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

    With --yt8m it does what the original course project did by hand, each step cached and resumable: fetch the
    Inception + PCA files once (into --backbone-dir), download --yt8m-shard of YouTube-8M's video-level training
    data (into --cache-dir, with the official downloader's plan, names and md5 checks), train the default model on
    it (cached by data and settings; a killed training resumes), then tag your videos with it in YouTube-8M's own
    feature space. A line per step says whether it was cached or done. A second run downloads and trains nothing.
    With --audio vggish the model reads YouTube-8M's audio features too (VGGish's files fetched once into
    --audio-model-dir), your videos' sound is turned into the same features, and a video without sound is skipped
    (the report and the last lines say so): such a model cannot tag from the pictures alone.

    \b
    Examples:
      reelset taste ~/Videos
      reelset taste ~/Videos /media/phone/DCIM --out my-taste --top-k 3 --model my-model --no-dataset
      reelset taste ~/Videos --yt8m --audio vggish --yt8m-shard 1,100 --mirror eu --device cuda
    """
    from reelset.core.fiftyone_db import use_database
    from reelset.core.progress import Reporter
    from reelset.taste.run import run_taste, summary_lines

    if yt8m and model_dir is not None:
        raise click.UsageError("--yt8m and --model exclude each other: --yt8m trains the model it tags with", ctx)
    if not yt8m:
        given = [name for name in YT8M_OPTIONS
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if given:
            raise click.UsageError(f"--{given[0].replace('_', '-')} goes with --yt8m", ctx)
    audio_given = ctx.get_parameter_source("audio_model_dir") == click.core.ParameterSource.COMMANDLINE
    if audio_given and model_dir is None and not (yt8m and yt8m_options["audio"] == AUDIO_VGGISH):
        raise click.UsageError("--audio-model-dir goes with --yt8m --audio vggish, or a --model that reads audio", ctx)
    if not no_dataset:
        use_database(database_uri)
    reporter = Reporter()
    options = dict(top_k=top_k, limit=limit, dataset=None if no_dataset else dataset, reporter=reporter,
                   executor=scheduler or None)
    if yt8m:
        summary = _run_yt8m(paths, out, cache_dir=cache_dir, no_cache=no_cache, device=device, jobs=jobs,
                            backbone_dir=backbone_dir, audio_model_dir=audio_model_dir, options=options,
                            **yt8m_options)
    else:
        summary = run_taste(list(paths), out, model=model_dir, cache_dir=cache_dir, use_cache=not no_cache,
                            device=device, jobs=jobs, wordnet_dir=wordnet_dir, backbone_model_dir=backbone_dir,
                            audio_model_dir=audio_model_dir, **options)
    for line in summary_lines(summary):
        reporter.line(line)


def _run_yt8m(paths: tuple[Path, ...], out: Path, *, cache_dir: Path | None, no_cache: bool, device: str, jobs: int,
              backbone_dir: Path | None, audio_model_dir: Path | None, options: dict, yt8m_shard: str, mirror: str,
              plan_base_url: str, data_base_url: str, inception_url: str | None, pca_url: str | None, audio: str):
    """``taste --yt8m``: :func:`reelset.taste.yt8m_loop.run_taste_yt8m` with the options as the library takes them."""
    from reelset.features.backbones.model_files import INCEPTION_ARCHIVE, PCA_ARCHIVE
    from reelset.features.constants import INCEPTION_YT8M
    from reelset.features.video import ExtractSettings
    from reelset.taste.yt8m_loop import Yt8mSource, run_taste_yt8m

    urls = {archive.name: url for archive, url in ((INCEPTION_ARCHIVE, inception_url), (PCA_ARCHIVE, pca_url)) if url}
    source = Yt8mSource(shard=yt8m_shard, mirror=mirror, plan_base_url=plan_base_url, data_base_url=data_base_url,
                        backbone_urls=urls or None)
    extract = ExtractSettings(backbone=INCEPTION_YT8M, device=device, decode_workers=jobs, cache_dir=cache_dir,
                              use_cache=not no_cache, model_dir=backbone_dir, audio=audio,
                              audio_model_dir=audio_model_dir)
    return run_taste_yt8m(list(paths), out, extract, source, **options)
