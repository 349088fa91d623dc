"""What every backbone checks of its input (a module of its own: the backbones import it, the package imports them)."""

from __future__ import annotations

import numpy as np


def check_frames(frames) -> np.ndarray:
    """``frames`` as a ``(n, height, width, 3)`` uint8 array, or ValueError."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (n, height, width, 3) RGB, got {frames.dtype} {frames.shape}")
    return frames
