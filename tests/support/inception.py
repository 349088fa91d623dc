"""A tiny stand-in for the original recipe's two archives, for tests and demos that cannot fetch the real ones.

``inception-2015-12-05.tgz`` holds a ``classify_image_graph_def.pb`` with the real graph's tensor names
(``DecodeJpeg:0`` uint8 ``(height, width, 3)`` in, ``pool_3/_reshape:0`` ``(1, 2048)`` out, batch axis fixed at
1 by an ``ExpandDims``): the frame resized to 8 x 8, its pixels / 255 times a fixed random matrix. ``yt8m_pca.tgz``
holds ``mean.npy``, ``eigenvals.npy``, ``eigenvecs.npy`` of YouTube-8M's shapes (2048 x 1, 2048 x 1, 2048 x 2048):
a mean at the middle of the features' range, unit eigenvalues and the identity, so the whitened features are the
centred pool_3 values, which keeps them inside the 8-bit range. Colour and layout change the features, so a
classifier can learn from them. Building the graph needs TensorFlow (the ``tensorflow`` extra).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np

RESIZED = 8
POOL3 = 2048


def tiny_graph_bytes(seed: int = 0) -> bytes:
    """The serialized GraphDef (see the module docstring)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    weights = np.random.default_rng(seed).uniform(0, 2 / (RESIZED * RESIZED * 3 / 2), (RESIZED * RESIZED * 3, POOL3))
    with tf.Graph().as_default() as graph:
        image = v1.placeholder(tf.uint8, [None, None, 3], name="DecodeJpeg")
        batch = tf.expand_dims(tf.cast(image, tf.float32), 0)
        resized = tf.raw_ops.ResizeBilinear(images=batch, size=tf.constant([RESIZED, RESIZED]))
        flat = tf.reshape(resized, [1, RESIZED * RESIZED * 3]) * (1 / 255)
        tf.reshape(tf.matmul(flat, tf.constant(weights.astype(np.float32))), [1, POOL3], name="pool_3/_reshape")
    return graph.as_graph_def().SerializeToString()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _tgz(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_tiny_inception_archives(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Both archives in ``folder``, by file name (the names ``load_backbone(..., urls=...)`` takes)."""
    folder = Path(folder)
    graph = _tgz(folder / "inception-2015-12-05.tgz", {"classify_image_graph_def.pb": tiny_graph_bytes(seed)})
    pca = _tgz(folder / "yt8m_pca.tgz", {
        "mean.npy": _npy(np.ones((POOL3, 1), np.float32)),
        "eigenvals.npy": _npy(np.full((POOL3, 1), 1 - 1e-4, np.float32)),  # + the recipe's 1e-4: unit scale
        "eigenvecs.npy": _npy(np.eye(POOL3, dtype=np.float32)),
    })
    return {graph.name: graph, pca.name: pca}
