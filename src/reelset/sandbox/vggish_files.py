"""A narrow VGGish checkpoint and PCA file in the official files' formats, for the demo and the tests.

The real ``vggish_model.ckpt`` is a 290 MB V1 TensorFlow checkpoint of ``vggish_slim.py``'s variables and the real
``vggish_pca_params.npz`` holds ``pca_eigen_vectors`` (128 x 128) and ``pca_means`` (128); neither can be fetched
offline. :func:`write_vggish_files` writes both in the same formats (the checkpoint with reelset's own writer of
TensorFlow's format, byte for byte what a V1 ``Saver`` writes, no TensorFlow needed) with the same variable names,
the same input (96 x 64 patches) and embedding (128), and narrow layers: convolutions of 4, 8, 16, 16, 32 and 32
channels instead of 64, 128, 256, 256, 512, 512, dense layers of 64 instead of 4096. The weights are random (He
initialisation, seeded); the PCA is a random rotation scaled so that the features of ordinary sounds mostly stay
inside the 8-bit range [-2, 2]. Different sounds give different features, which is all a test or a demo needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reelset.core.atomic import atomic_output
from reelset.formats.tf_checkpoint import write_checkpoint

CHECKPOINT_NAME = "vggish_model.ckpt"
PCA_NAME = "vggish_pca_params.npz"
NARROW_CONVOLUTIONS = (4, 8, 16, 16, 32, 32)  # conv1, conv2, conv3_1, conv3_2, conv4_1, conv4_2
NARROW_DENSE = (64, 64)  # fc1_1, fc1_2
EMBEDDING = 128
_CONVOLUTION_LAYERS = ("conv1", "conv2", "conv3/conv3_1", "conv3/conv3_2", "conv4/conv4_1", "conv4/conv4_2")
_FLAT_POSITIONS = 6 * 4  # the 96 x 64 patch after four 2 x 2 pools
PCA_SCALE = 0.2  # see the module docstring: keeps the PCA'd features of the narrow network mostly in [-2, 2]


def vggish_tensors(seed: int = 0, convolutions: tuple[int, ...] = NARROW_CONVOLUTIONS,
                   dense: tuple[int, int] = NARROW_DENSE) -> dict[str, np.ndarray]:
    """The variables of ``vggish_slim.py``'s network (``vggish/<layer>/weights`` and ``/biases``, TensorFlow's
    shapes) with the given widths, float32."""
    if len(convolutions) != len(_CONVOLUTION_LAYERS) or len(dense) != 2:
        raise ValueError("six convolution widths and two dense widths are needed")
    rng = np.random.default_rng(seed)
    tensors: dict[str, np.ndarray] = {}

    def layer(name: str, shape: tuple[int, ...]) -> None:
        fan_in = int(np.prod(shape[:-1]))
        tensors[f"vggish/{name}/weights"] = rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32)
        tensors[f"vggish/{name}/biases"] = rng.normal(0, 0.05, shape[-1]).astype(np.float32)

    channels = 1
    for name, width in zip(_CONVOLUTION_LAYERS, convolutions):
        layer(name, (3, 3, channels, width))
        channels = width
    layer("fc1/fc1_1", (_FLAT_POSITIONS * channels, dense[0]))
    layer("fc1/fc1_2", (dense[0], dense[1]))
    layer("fc2", (dense[1], EMBEDDING))
    return tensors


def pca_params(seed: int = 0) -> dict[str, np.ndarray]:
    """``pca_eigen_vectors`` (a random rotation times :data:`PCA_SCALE`) and ``pca_means``, float64 as the
    official file's."""
    rng = np.random.default_rng(seed + 1)
    rotation, _ = np.linalg.qr(rng.standard_normal((EMBEDDING, EMBEDDING)))
    return {"pca_eigen_vectors": rotation * PCA_SCALE, "pca_means": rng.normal(0, 0.5, EMBEDDING)}


def write_vggish_files(folder: str | Path, seed: int = 0, **widths) -> dict[str, Path]:
    """``vggish_model.ckpt`` and ``vggish_pca_params.npz`` in ``folder`` (made if needed), by file name (the names
    ``load_vggish(..., urls=...)`` takes); ``widths``: ``convolutions`` and ``dense`` of :func:`vggish_tensors`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = write_checkpoint(folder / CHECKPOINT_NAME, vggish_tensors(seed, **widths))
    with atomic_output(folder / PCA_NAME) as tmp, open(tmp, "wb") as out:
        np.savez(out, **pca_params(seed))
    return {CHECKPOINT_NAME: checkpoint, PCA_NAME: folder / PCA_NAME}
