"""Backbones: the models that turn RGB frames into one feature vector per frame, and the 8-bit form of those vectors.

Every backbone follows :class:`Backbone`:

- ``name``: the record's ``backbone`` context value (YouTube-8M's own records carry none and count as
  ``inception-yt8m``: :func:`backbone_of_record`);
- ``width``: features per frame;
- ``input_size``: ``(width, height)`` the decoder should resize frames to (in ffmpeg, bilinear, whole frame), or None
  for the whole frame at its displayed size; ``embed`` accepts any size either way;
- ``fingerprint``: the name plus the sha256 of the weights/model files: cached features are keyed by it;
- ``device``: ``"cpu"`` or ``"cuda:N"``, resolved from ``--device auto|cpu|cuda|cuda:N`` (:mod:`.device`);
- ``embed(frames)``: uint8 ``(n, h, w, 3)`` RGB -> float32 ``(n, width)``, the floats the records hold (``mean_rgb``
  is their mean), any ``n`` (batched inside);
- ``to_bytes(features)`` -> uint8 ``(n, width)``: YouTube-8M's quantize (clip to [-2, 2], ``round((x + 2) * 255/4)``);
- ``from_bytes(q)`` -> float32: YouTube-8M's dequantize (``q * 4/255 + 4/512 - 2``), exactly what readers compute,
  so ``from_bytes(to_bytes(x)) - x`` is the error a reader sees: inside [-2, 2], half a step either side of the
  dequantize's ``4/512`` offset, ``[4/512 - 2/255, 4/512 + 2/255]`` (about [-0.00003, 0.0157]): within one step, 4/255.

The backbones:

=====================  =====  ===========  ============================================================================
name                   width  input_size   features
=====================  =====  ===========  ============================================================================
``efficientnet-lite0``  1280   224 x 224    offline default: EfficientNet-Lite0, ImageNet weights from a pip package;
                                           pooled ReLU6 features in [0, 6] mapped by the fixed ``x * 2/3 - 2``
                                           (:mod:`.efficientnet`). Not YouTube-8M's feature space.
``inception-yt8m``     1024   whole frame  the original recipe: Inception-v3 (2015) pool_3 + YouTube-8M PCA; needs the
                                           ``tensorflow`` extra and the model files (:mod:`.inception`,
                                           :mod:`.model_files`). YouTube-8M's feature space.
=====================  =====  ===========  ============================================================================

Feature spaces never mix silently: records say which backbone made them, and code that combines records (training,
prediction) should compare :func:`backbone_of_record` and refuse a mismatch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from reelset.core.errors import ReelsetError
from reelset.features.backbones.checks import check_frames
from reelset.features.backbones.device import DEVICE_CHOICES, DeviceError, resolve_device
from reelset.features.constants import BACKBONES, DEFAULT_BACKBONE, EFFICIENTNET_LITE0, INCEPTION_YT8M

RECORD_KEY = "backbone"  # the context key of the records

__all__ = ["BACKBONES", "DEFAULT_BACKBONE", "DEVICE_CHOICES", "Backbone", "DeviceError", "backbone_of_record",
           "check_frames", "load_backbone", "resolve_device"]


@runtime_checkable
class Backbone(Protocol):
    """What extraction needs from a backbone; see the module docstring for each member."""

    name: str
    width: int
    input_size: tuple[int, int] | None
    device: str
    fingerprint: str

    def embed(self, frames: np.ndarray) -> np.ndarray: ...

    def to_bytes(self, features: np.ndarray) -> np.ndarray: ...

    def from_bytes(self, quantized: np.ndarray) -> np.ndarray: ...


def load_backbone(
    name: str,
    *,
    model_dir: Path | None = None,
    device: str = "auto",
    expected_sha256: str | Mapping[str, str] | None = None,
    urls: Mapping[str, str] | None = None,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> Backbone:
    """The backbone called ``name``, ready to embed frames on ``device``.

    Args:
        model_dir: where ``inception-yt8m`` keeps its downloaded files (default ``$HOME/yt8m``); unused by
            ``efficientnet-lite0``, whose weights ship in a package.
        device: ``auto`` (a GPU when there is one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        expected_sha256: pins, ``NAME=HEX[,NAME=HEX]`` or a mapping by file name: the two archives of
            ``inception-yt8m``; for ``efficientnet-lite0`` its weights file (a bare digest is accepted there).
        urls: ``inception-yt8m`` archive URLs by file name (else ``$REELSET_INCEPTION_URL`` /
            ``$REELSET_YT8M_PCA_URL``, else the official ones).
        on_progress: ``(file name, bytes so far, total or None)`` while a model file downloads.

    Raises:
        ReelsetError: an unknown name, a device that is not there, a missing package (named, with its install
            command), a model file that cannot be fetched or changed since it was recorded.
    """
    if name == EFFICIENTNET_LITE0:
        from reelset.features.backbones.efficientnet import EfficientNetLite0

        return EfficientNetLite0(device=device, expected_sha256=expected_sha256)
    if name == INCEPTION_YT8M:
        from reelset.features.backbones.inception import InceptionYt8m, import_tensorflow
        from reelset.features.backbones.model_files import fetch_inception_files

        import_tensorflow()  # before a 100 MB download, not after
        files = fetch_inception_files(model_dir, urls=urls, expected_sha256=expected_sha256, on_progress=on_progress)
        return InceptionYt8m(files, device=device)
    raise ReelsetError(f"--backbone {name!r}: unknown backbone; expected one of {', '.join(BACKBONES)}")


def backbone_of_record(record: Mapping) -> str:
    """The backbone that made a record's features: its ``backbone`` context value, or ``inception-yt8m`` for
    records without one (YouTube-8M's own)."""
    value = record.get(RECORD_KEY)
    if value is None:
        return INCEPTION_YT8M
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
