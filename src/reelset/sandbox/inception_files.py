"""A tiny stand-in for the original recipe's two archives, for the demo and the tests, which cannot fetch the real
ones (a 90 MB graph and YouTube-8M's PCA).

``inception-2015-12-05.tgz`` holds a ``classify_image_graph_def.pb`` with the real graph's tensor names
(``DecodeJpeg:0`` uint8 ``(height, width, 3)`` in, ``pool_3/_reshape:0`` ``(1, 2048)`` out, batch axis fixed at
1 by an ``ExpandDims``): the frame resized to 8 x 8, its pixels / 255 times a fixed random matrix. ``yt8m_pca.tgz``
holds ``mean.npy``, ``eigenvals.npy``, ``eigenvecs.npy`` of YouTube-8M's shapes (2048 x 1, 2048 x 1, 2048 x 2048):
a mean at the middle of the features' range, unit eigenvalues and the identity, so the whitened features are the
centred pool_3 values, which keeps them inside the 8-bit range. Colour and layout change the features, so a
classifier can learn from them. Building the graph needs TensorFlow (the ``tensorflow`` extra).

The archives are the same bytes every time for a seed (no timestamps inside), so files fetched from a previous
run's server still match their recorded sha256.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import numpy as np

from reelset.core.atomic import atomic_write_bytes

GRAPH_ARCHIVE = "inception-2015-12-05.tgz"
PCA_ARCHIVE = "yt8m_pca.tgz"
RESIZED = 8
POOL3 = 2048


def tiny_graph_bytes(seed: int = 0) -> bytes:
    """The serialized GraphDef (see the module docstring).

    Raises:
        ImportError: TensorFlow is not installed.
    """
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


def _tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 in the gzip header and the members' TarInfo: the same members give the same archive bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as zipped:
        with tarfile.open(fileobj=zipped, mode="w") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_tiny_inception_archives(folder: str | Path, seed: int = 0) -> dict[str, Path]:
    """Both archives in ``folder`` (made if needed, each written atomically), by file name (the names
    ``load_backbone(..., urls=...)`` and ``Yt8mSource.backbone_urls`` take).

    Raises:
        ImportError: TensorFlow is not installed (the graph is built with it).
    """
    folder = Path(folder)
    graph, pca = folder / GRAPH_ARCHIVE, folder / PCA_ARCHIVE
    atomic_write_bytes(graph, _tgz({"classify_image_graph_def.pb": tiny_graph_bytes(seed)}))
    atomic_write_bytes(pca, _tgz({
        "mean.npy": _npy(np.ones((POOL3, 1), np.float32)),
        "eigenvals.npy": _npy(np.full((POOL3, 1), 1 - 1e-4, np.float32)),  # + the recipe's 1e-4: unit scale
        "eigenvecs.npy": _npy(np.eye(POOL3, dtype=np.float32)),
    }))
    return {graph.name: graph, pca.name: pca}
