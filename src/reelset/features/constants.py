"""The backbones' names, the ``--device`` choices and the inception-yt8m model dir, in a module that imports nothing
heavy: the command line's option definitions use them, so ``reelset --help`` needs neither numpy nor torch nor
requests (:mod:`.backbones`, :mod:`.backbones.device` and :mod:`.backbones.model_files` import them from here)."""

from __future__ import annotations

from pathlib import Path

EFFICIENTNET_LITE0 = "efficientnet-lite0"
INCEPTION_YT8M = "inception-yt8m"
BACKBONES = (EFFICIENTNET_LITE0, INCEPTION_YT8M)
DEFAULT_BACKBONE = EFFICIENTNET_LITE0

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def default_model_dir() -> Path:
    """``$HOME/yt8m``, where the original extractor keeps the same files."""
    return Path.home() / "yt8m"
