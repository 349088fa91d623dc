"""Make the README's picture of the taste report from a real run (kept in docs/, not part of set-up or tests).

    .venv/bin/python docs/taste_screenshot.py [--workdir demo-output/taste] [--height 1900]

- writes the sample library of :mod:`reelset.taste.samples` (videos of real photos shipped in installed packages:
  a cat, espresso, Grace Hopper, a rocket, a motorbike; a test pattern; three broken files) into
  ``<workdir>/videos``, once;
- runs ``run_taste`` on it (the offline ImageNet tagger, the feature cache, no FiftyOne dataset) into
  ``<workdir>/report``;
- opens ``report.html`` in headless Chromium (Debian's ``chromium``, installed with apt when missing) through the
  DevTools protocol, exactly as ``docs/screenshots.py`` does, and saves ``docs/images/taste-report.png``.

Rerunning overwrites the picture.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))

from screenshots import IMAGES, REPO, ShotError, browser, wait_for  # noqa: E402

WIDTH = 1280
# The thumbnails load lazily: only those on screen are fetched, so only those are waited for.
_IMAGES_LOADED_JS = ("[...document.images].filter(image => image.getBoundingClientRect().top < innerHeight)"
                     ".every(image => image.complete && image.naturalWidth > 0)")


def make_report(workdir: Path) -> Path:
    """The sample library's report (made once per run; features come from the cache after the first)."""
    from reelset.core.progress import Reporter
    from reelset.taste.run import run_taste, summary_lines
    from reelset.taste.samples import make_sample_library

    videos = workdir / "videos"
    make_sample_library(videos)
    reporter = Reporter()
    summary = run_taste([videos], workdir / "report", dataset=None, reporter=reporter)
    for line in summary_lines(summary):
        print(line, file=sys.stderr)
    if not summary.tagged:
        raise ShotError("no video was tagged; see the warnings above")
    return summary.report


def shoot_report(report: Path, out: Path, height: int) -> Path:
    """Screenshot the top ``height`` pixels of the report at :data:`WIDTH` pixels wide."""
    with browser((WIDTH, height)) as page:
        page.open(report.resolve().as_uri())
        wait_for("the report", lambda: page.evaluate("document.readyState") == "complete"
                 and page.evaluate(_IMAGES_LOADED_JS), timeout=30)
        time.sleep(0.5)
        page.screenshot(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make docs/images/taste-report.png from a real taste run.")
    parser.add_argument("--workdir", type=Path, default=REPO / "demo-output" / "taste",
                        help="Where the sample videos and the report go. Default: demo-output/taste")
    parser.add_argument("--height", type=int, default=1900, help="Pixels of the page to show (from the top).")
    args = parser.parse_args(argv)
    from reelset.core.errors import ReelsetError

    IMAGES.mkdir(parents=True, exist_ok=True)
    try:
        out = shoot_report(make_report(args.workdir.resolve()), IMAGES / "taste-report.png", args.height)
    except (ShotError, ReelsetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
