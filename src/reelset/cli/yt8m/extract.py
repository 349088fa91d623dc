"""``reelset yt8m extract``: the original feature extractor's command line, on reelset's pipeline."""

from __future__ import annotations

from pathlib import Path

import click

from reelset.cli.yt8m import group
from reelset.cli.options import CACHE_DIR_DEFAULT, prefer_old, scheduler_option
from reelset.core.errors import ReelsetError
from reelset.features.constants import (
    AUDIO_CHOICES,
    AUDIO_ZEROS,
    BACKBONES,
    DEFAULT_AUDIO,
    DEFAULT_BACKBONE,
    DEVICE_CHOICES,
    default_model_dir,
)


def _both(name: str, **kwargs):
    """An option under its reelset spelling and the original's (``--input-videos-csv`` and ``--input_videos_csv``)."""
    dashed, underscored = f"--{name.replace('_', '-')}", f"--{name}"
    return click.option(dashed, underscored, name, **kwargs)


def _flag(name: str, default: bool, help: str):
    dashed = name.replace("_", "-")
    return click.option(f"--{dashed}/--no-{dashed}", f"--{name}/--no{name}", name, default=default,
                        show_default=True, help=help)


@group.command("extract")
@_both("input_videos_csv", type=click.Path(path_type=Path, exists=True), required=True,
       help="CSV of <video_file>,<labels joined by ;> lines (as the original), or a folder of videos.")
@_both("output_tfrecords_file", type=click.Path(path_type=Path, dir_okay=False), required=True,
       help="Output TFRecord file (with --shard-size: <stem>-00000-of-000NN.tfrecord beside it).")
@click.option("--backbone", type=click.Choice(BACKBONES), default=DEFAULT_BACKBONE, show_default=True,
              help="efficientnet-lite0: offline ImageNet model (its own feature space); inception-yt8m: the original "
                   "Inception-v3 + PCA recipe, YouTube-8M's feature space (downloads its files; needs TensorFlow).")
@_both("frames_per_second", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
       help="Frames per second: the first at t=0, then every 1/fps seconds.")
@click.option("--max-frames", type=click.IntRange(min=1), default=300, show_default=True, help="Frames per video.")
@_flag("skip_frame_level_features", False, "Write video-level records (mean features) only.")
@_both("labels_feature_key", default="labels", show_default=True, help="Context key of the labels.")
@_both("image_feature_key", default="rgb", show_default=True, help="Key of the image features (and mean_<key>).")
@_both("video_file_feature_key", default="id", show_default=True, help="Context key of the video path.")
@click.option("--audio", type=click.Choice(AUDIO_CHOICES), default=DEFAULT_AUDIO, show_default=True,
              help="none: records without audio (they say so); zeros: 128 zero bytes per frame, as the original "
                   "extractor's insert_zero_audio_features; vggish: YouTube-8M's audio, VGGish + PCA, one vector per "
                   "frame (downloads its files once; a video without sound gets no audio).")
@click.option("--insert-zero-audio-features/--no-insert-zero-audio-features",
              "--insert_zero_audio_features/--noinsert_zero_audio_features", "old_zero_audio", default=None,
              hidden=True)
@_both("model_dir", type=click.Path(path_type=Path, file_okay=False), default=default_model_dir,
       show_default="~/yt8m",
       help="Where the inception-yt8m files go (downloaded once, checksums recorded and verified).")
@click.option("--expected-sha256", default=None, help="Pin the inception-yt8m archives' sha256 (name=digest,...).")
@click.option("--audio-model-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              show_default="--model-dir",
              help="Where the VGGish files go (downloaded once from $REELSET_VGGISH_URL and $REELSET_VGGISH_PCA_URL, "
                   "else the official URLs; checksums recorded and verified).")
@click.option("--audio-expected-sha256", default=None,
              help="Pin the VGGish files' sha256 (vggish_model.ckpt=digest,vggish_pca_params.npz=digest).")
@click.option("--device", default="auto", show_default=True,
              help=f"Where the backbone (and VGGish) runs: {DEVICE_CHOICES} (auto: a GPU when there is one).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              show_default="the backbone's: 8 on a CPU, 128 on a GPU", help="Frames per forward pass.")
@click.option("--jobs", "decode_workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Videos decoded at the same time (while the model embeds).")
@click.option("--cache-dir", envvar="REELSET_CACHE_DIR", show_envvar=True,
              type=click.Path(path_type=Path, file_okay=False), default=None,
              show_default=CACHE_DIR_DEFAULT,
              help="Cache of finished videos' features (by content hash and settings).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the feature cache.")
@click.option("--shard-size", type=click.IntRange(min=1), default=None, show_default="all in one file",
              help="Videos per output file.")
@scheduler_option
@click.pass_context
def extract_command(ctx: click.Context, input_videos_csv: Path, output_tfrecords_file: Path, no_cache: bool,
                    scheduler: str | None, old_zero_audio: bool | None, **values) -> None:
    """Extract 1-frame-per-second features from videos into YouTube-8M SequenceExample records, like youtube-8m's
    extract_tfrecords_main.py (its flags work in both spellings), with a choice of backbone, and their sound as
    YouTube-8M's audio features (--audio vggish).

    The context id is the video path exactly as written in the CSV; labels are sorted. A bad CSV line or an
    unreadable video is reported and skipped; the run ends with "Successfully encoded N out of M videos" and
    exits 1 when a video failed; videos without sound (--audio vggish) are listed. Reruns reuse the feature cache.
    With --scheduler, each video is decoded and embedded on a Dask worker and this process writes the records
    (the same file as a local run).

    \b
    Examples:
      reelset yt8m extract --input-videos-csv videos.csv --output-tfrecords-file features.tfrecord
      reelset yt8m extract --input_videos_csv ~/Videos --output_tfrecords_file mine.tfrecord --jobs 4 --audio vggish
      reelset yt8m extract --input-videos-csv videos.csv --output-tfrecords-file yt8m.tfrecord \\
          --backbone inception-yt8m --audio vggish --device cuda --shard-size 1000
    """
    from reelset.core.progress import Reporter
    from reelset.features.extraction import ExtractSettings, extract, read_inputs

    reporter = Reporter()
    inputs, bad_lines = read_inputs(input_videos_csv)
    for line in bad_lines:
        reporter.warn(f"skipped {line}")
    if not inputs:
        raise ReelsetError(f"{input_videos_csv}: no videos to encode")
    values["audio"] = prefer_old(AUDIO_ZEROS if old_zero_audio else None, values["audio"])
    settings = ExtractSettings(use_cache=not no_cache, **values)
    with reporter.live():
        bar = reporter.task("videos", total=len(inputs))

        def on_video(video, error):
            bar.advance()
            if error:
                reporter.warn(f"failed {error}")

        summary = extract(inputs, output_tfrecords_file, settings, invalid=bad_lines, on_video=on_video,
                          on_warning=reporter.warn, executor=scheduler or None)
    for path in summary.outputs:
        reporter.line(f"wrote {path}")
    reporter.line(f"frames: {summary.frames}, from cache: {summary.from_cache} videos, "
                  f"largest 8-bit quantization error: {summary.max_quantization_error:.4f}")
    reporter.line(summary.line)
    if summary.no_sound:
        reporter.line(f"no sound: {len(summary.no_sound)} videos (their records have no audio)")
        for path in summary.no_sound:
            reporter.line(f"  {path}")
    if summary.failures:
        reporter.line(f"failures: {len(summary.failures)}")
        for failure in summary.failures:
            reporter.line(f"  {failure}")
    ctx.exit(1 if summary.failures else 0)
