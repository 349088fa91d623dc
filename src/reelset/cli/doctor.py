"""``reelset doctor``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("doctor")
@click.option("--path", type=click.Path(path_type=Path, exists=True, file_okay=False), default=Path("."),
              show_default=True, help="Folder whose free disk space is checked.")
@click.option("--model-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              show_default="$HOME/yt8m", help="The inception-yt8m model dir to verify.")
@click.option("--offline", is_flag=True, help="Do not check whether the hosts the steps download from answer.")
@click.pass_context
def command(ctx: click.Context, path: Path, model_dir: Path | None, offline: bool) -> None:
    """Check what reelset needs: ffmpeg/ffprobe (libx264, aac), yt-dlp, yt-dlp-ejs, a JavaScript runtime for
    YouTube, FiftyOne's database and its MongoDB version, what feature extraction needs (torch, the
    EfficientNet-Lite0 weights package, the optional TensorFlow extra, the inception-yt8m model files against their
    recorded checksums), what taste needs (ImageNet names, WordNet 3.0), the optional Dask extra (--scheduler), free
    disk, and whether the hosts the steps download from answer (the Hugging Face hub, YouTube, data.yt8m.org and
    its mirror, the model file hosts; each as overridden by HF_ENDPOINT, REELSET_URL_TEMPLATE, mirror,
    REELSET_INCEPTION_URL and REELSET_YT8M_PCA_URL), all at once, 3 s at most.

    Each line is ok, warning (optional, or a host unreachable now: offline, only the steps that need it fail) or
    error, with how to fix it; exits 1 if there is an error.

    \b
    Examples:
      reelset doctor
      reelset doctor --offline
      mirror=eu reelset doctor --model-dir ~/yt8m --path .
    """
    from reelset.core.progress import Reporter
    from reelset.doctor import iter_checks

    reporter = Reporter()
    counts = {"ok": 0, "warning": 0, "error": 0}
    errors = []
    for check in iter_checks(path, model_dir, hosts=not offline):  # each line as soon as its check is done
        counts[check.state] += 1
        if check.state == "error":
            errors.append(check.name)
        fix = f"  -> fix: {check.fix}" if check.fix else ""
        reporter.line(f"{check.state:8} {check.name}: {check.detail}{fix}")
    reporter.line(f"doctor: {counts['ok']} ok, {_plural(counts['warning'], 'warning')}, "
                  f"{_plural(counts['error'], 'error')}" + (f" ({', '.join(errors)})" if errors else "")
                  + ("; hosts not checked (--offline)" if offline else ""))
    ctx.exit(1 if errors else 0)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
