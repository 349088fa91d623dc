"""The backbones' names, the ``--audio`` and ``--device`` choices and the model dir, in a module that imports nothing
heavy: the command line's option definitions use them, so ``reelset --help`` needs neither numpy nor torch nor
requests (:mod:`.backbones`, :mod:`.backbones.device`, :mod:`.backbones.model_files` and :mod:`.audio` import them
from here)."""

from __future__ import annotations

from pathlib import Path

EFFICIENTNET_LITE0 = "efficientnet-lite0"
INCEPTION_YT8M = "inception-yt8m"
BACKBONES = (EFFICIENTNET_LITE0, INCEPTION_YT8M)
DEFAULT_BACKBONE = EFFICIENTNET_LITE0

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"

# What the records' audio is: none (no audio, ``audio_source`` "none"), the original extractor's 128 zero bytes per
# frame ("zeros"), or YouTube-8M's audio recipe, VGGish + the AudioSet PCA ("vggish").
AUDIO_NONE = "none"
AUDIO_ZEROS = "zeros"
AUDIO_VGGISH = "vggish"
AUDIO_CHOICES = (AUDIO_NONE, AUDIO_ZEROS, AUDIO_VGGISH)
DEFAULT_AUDIO = AUDIO_NONE


def default_model_dir() -> Path:
    """``$HOME/yt8m``, where the original extractor keeps the same files (the VGGish files go there too)."""
    return Path.home() / "yt8m"
