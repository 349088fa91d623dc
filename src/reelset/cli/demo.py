"""``reelset demo``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False), default=Path("demo-output"),
              show_default=True, help="Folder for the sample, the fake hub's files and every output.")
@click.option("--videos", type=click.IntRange(min=4, max=200), default=20, show_default=True,
              help="Number of sample videos.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated sample.")
@click.pass_context
def command(ctx: click.Context, workdir: Path, videos: int, seed: int) -> None:
    """Run every pipeline end to end, offline, on generated sample data, and check what each step produced.

    \b
    1. Action100M: sample rows in the real schema and matching videos, served by a fake
       Hugging Face hub and a video server on 127.0.0.1; `action100m build` on them (ids,
       download, the FiftyOne dataset "action100m-demo") with the real huggingface_hub, yt-dlp,
       ffmpeg and FiftyOne. One video is missing on purpose, as 5-10% of real ones are.
    2. YouTube-8M: `yt8m download` of a shard from a local mirror into WORKDIR/yt8m, read back;
       the segment task on sample v3 records: a frame-level model, `yt8m train --segments --from`
       it, `yt8m evaluate --segments` and `yt8m predict --segments` (WORKDIR/yt8m-segments).
    3. Your videos: `yt8m extract` on the clips, again with `--audio vggish` (the VGGish files
       served from 127.0.0.1), then `taste` on them and on videos made from photos
       (WORKDIR/taste/report.html, FiftyOne dataset "taste-demo").
    4. With TensorFlow (./scripts/setup.sh tensorflow): `taste --yt8m` on a red, a blue and a
       green video: tiny Inception-format archives and a shard of 2/video/train from a local
       mirror, a model trained on it (WORKDIR/taste-yt8m/report.html). Skipped without, saying so.

    Ends with one line, "demo: done: ..." (exit 0) or "demo: FAILED: ..." naming the step (exit 1). Rerunning
    reuses the generated files, the clips and the dataset.

    \b
    Examples:
      reelset demo                              # everything in demo-output/
      reelset demo --workdir /tmp/try --videos 8
    """
    from reelset.core.progress import Reporter
    from reelset.demo import run_demo

    ctx.exit(run_demo(workdir, videos=videos, seed=seed, reporter=Reporter()))
