"""``reelset doctor``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("doctor")
@click.option("--path", type=click.Path(path_type=Path, exists=True, file_okay=False), default=Path("."),
              show_default=True, help="Folder whose free disk space is checked.")
@click.option("--model-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The inception-yt8m model dir to verify (default: $HOME/yt8m).")
@click.pass_context
def command(ctx: click.Context, path: Path, model_dir: Path | None) -> None:
    """Check what reelset needs: ffmpeg/ffprobe (libx264, aac), yt-dlp, yt-dlp-ejs, a JavaScript runtime for
    YouTube, FiftyOne's database, what feature extraction needs (torch, the EfficientNet-Lite0 weights package,
    the optional TensorFlow extra, the inception-yt8m model files against their recorded checksums), what taste
    needs (ImageNet names, WordNet 3.0), the optional Dask extra (--scheduler), free disk. Prints each as
    ok/missing with how to fix it; exits 1 if a required one is missing."""
    from reelset.core.progress import Reporter
    from reelset.doctor import iter_checks

    reporter = Reporter()
    checks = []
    for check in iter_checks(path, model_dir):  # each line as soon as its check is done
        checks.append(check)
        state = "ok" if check.ok else ("MISSING" if check.required else "warning")
        fix = f"  -> fix: {check.fix}" if check.fix else ""
        reporter.line(f"{state:8} {check.name}: {check.detail}{fix}")
    missing = [check.name for check in checks if check.required and not check.ok]
    reporter.line(f"doctor: {len(checks) - len(missing)} of {len(checks)} checks ok"
                  + (f"; missing: {', '.join(missing)}" if missing else ""))
    ctx.exit(1 if missing else 0)
