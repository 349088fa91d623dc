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
    a local video server on 127.0.0.1, then runs `action100m ids` and `action100m download` against them with the
    real huggingface_hub, yt-dlp and ffmpeg. Rerunning reuses what is already there.
    """
    from reelset.core.progress import Reporter
    from reelset.demo import run_demo

    ctx.exit(run_demo(workdir, videos=videos, seed=seed, reporter=Reporter()))
