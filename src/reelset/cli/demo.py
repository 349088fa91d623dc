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
    """Run the pipeline end to end, offline, on generated sample data.

    Generates Action100M rows in the real schema and matching videos, serves them from a fake Hugging Face hub and
    a local video server on 127.0.0.1, and runs `action100m build` against them (ids, download, the FiftyOne dataset)
    with the real huggingface_hub, yt-dlp, ffmpeg and FiftyOne; then downloads a YouTube-8M shard from a local
    mirror and reads it, extracts the clips' features (`yt8m extract`), and writes a taste report on videos made
    from photos. Rerunning reuses what is already there.

    \b
    Examples:
      reelset demo                              # everything in demo-output/
      reelset demo --workdir /tmp/try --videos 8
    """
    from reelset.core.progress import Reporter
    from reelset.demo import run_demo

    ctx.exit(run_demo(workdir, videos=videos, seed=seed, reporter=Reporter()))
