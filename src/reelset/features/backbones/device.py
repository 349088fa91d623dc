"""``--device auto|cpu|cuda|cuda:N``: which device a backbone runs on.

The rule is the same for both frameworks, only the count of visible GPUs comes from each (torch for
``efficientnet-lite0``, TensorFlow for ``inception-yt8m``): ``auto`` takes the first GPU when there is one and the CPU
otherwise; ``cpu`` is always the CPU; ``cuda`` / ``cuda:N`` ask for a GPU and fail with a clear error when that GPU is
not there, rather than silently running on the CPU.
"""

from __future__ import annotations

import re

from reelset.core.errors import ReelsetError
from reelset.features.constants import DEVICE_CHOICES

_PATTERN = re.compile(r"auto|cpu|cuda(?::(\d+))?")


class DeviceError(ReelsetError):
    """The requested device is malformed or not available here."""


def resolve_device(requested: str, *, gpus: int, framework: str = "torch") -> str:
    """``"cpu"`` or ``"cuda:N"`` for ``requested``, given the number of GPUs ``framework`` can see.

    Raises:
        DeviceError: a malformed request, or a GPU asked for that is not there (the message says how many are).
    """
    text = (requested or "auto").strip().lower()
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise DeviceError(f"--device {requested!r}: expected {DEVICE_CHOICES}")
    if text == "auto":
        return "cuda:0" if gpus > 0 else "cpu"
    if text == "cpu":
        return "cpu"
    index = int(match.group(1) or 0)
    if gpus <= 0:
        raise DeviceError(f"--device {requested}: no CUDA GPU is visible to {framework} here; "
                          "use --device cpu (or auto, which falls back to the CPU)")
    if index >= gpus:
        raise DeviceError(f"--device {requested}: {framework} sees {gpus} GPU(s), cuda:0 to cuda:{gpus - 1}")
    return f"cuda:{index}"


def torch_gpu_count() -> int:
    """GPUs torch can use (0 with a CPU-only build)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def tensorflow_gpu_count(tf) -> int:
    """GPUs TensorFlow can use (0 with ``tensorflow-cpu``)."""
    return len(tf.config.list_physical_devices("GPU"))
