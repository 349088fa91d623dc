"""``inception-yt8m``: YouTube-8M's own recipe, so that the output matches the dataset's features.

Exactly what the original ``feature_extractor.py`` does, per frame:

1. the 2015 Inception-v3 graph (``classify_image_graph_def.pb``) gets the whole RGB uint8 frame on ``DecodeJpeg:0``
   (any size: the graph casts, adds a batch axis, resizes bilinearly to 299 x 299 and normalises by itself) and gives
   ``pool_3/_reshape:0``, shape ``(1, 2048)``. The graph's batch axis is fixed at 1 (``ExpandDims`` after the input),
   so frames go through one at a time, in one session, with a prepared callable (no graph lookup per frame);
2. the YouTube-8M PCA: ``((x - mean) @ eigenvecs.T[:, :1024]) / sqrt(eigenvals[:1024] + 1e-4)`` with the arrays as
   stored (``mean.npy`` 2048 x 1, ``eigenvals.npy`` 2048 x 1, ``eigenvecs.npy`` 2048 x 2048, one eigenvector per
   *row*, hence the transpose), the original's ``feats.reshape((1, 2048)).dot(pca_eigenvecs)`` with
   ``pca_eigenvecs = eigenvecs.T[:, :1024]``, batched over frames and in the arrays' own dtypes;
3. those 1024 floats are what the records hold (``mean_rgb`` is their mean); the bytes are YouTube-8M's quantize
   (clip to [-2, 2], ``round((x + 2) * 255 / 4)``) and readers dequantize with the starter code's formula.

The graph runs on TensorFlow (the optional ``tensorflow`` extra, imported only when this backbone is loaded).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from reelset.core.digest import file_digest
from reelset.core.errors import ReelsetError, one_line
from reelset.features.backbones.device import resolve_device, tensorflow_gpu_count
from reelset.features.backbones.checks import check_frames
from reelset.features.backbones.model_files import InceptionFiles
from reelset.formats.yt8m_records import dequantize, quantize

NAME = "inception-yt8m"
WIDTH = 1024
POOL3_WIDTH = 2048
INPUT_TENSOR = "DecodeJpeg:0"
OUTPUT_TENSOR = "pool_3/_reshape:0"
PCA_EPSILON = 1e-4
EXTRA_HINT = "pip install 'reelset[tensorflow]' (or: pip install tensorflow-cpu)"


def import_tensorflow():
    """TensorFlow, imported on demand, with its C++ start-up chatter (not its errors) kept off stderr.

    Raises:
        ReelsetError: TensorFlow is not installed (the message names the extra).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ReelsetError(f"{NAME} runs the Inception graph with TensorFlow, which is not installed: "
                           f"{EXTRA_HINT}") from exc
    return tf


class Yt8mPca:
    """The YouTube-8M PCA and whitening, from the arrays as ``yt8m_pca.tgz`` stores them.

    Args:
        mean: ``(D, 1)``; eigenvals: ``(D, 1)``; eigenvecs: ``(D, D)``, eigenvector ``i`` in row ``i``.
        components: how many leading components to keep (1024 for YouTube-8M).
    """

    def __init__(self, mean: np.ndarray, eigenvals: np.ndarray, eigenvecs: np.ndarray, components: int = WIDTH):
        dims = mean.shape[0]
        expected = {"mean": (dims, 1), "eigenvals": (dims, 1), "eigenvecs": (dims, dims)}
        for label, array in (("mean", mean), ("eigenvals", eigenvals), ("eigenvecs", eigenvecs)):
            if array.shape != expected[label]:
                raise ValueError(f"{label} has shape {array.shape}, expected {expected[label]}")
        if not 0 < components <= dims:
            raise ValueError(f"components must be in 1..{dims}, got {components}")
        self.dims = dims
        self.components = components
        self.mean = mean[:, 0]
        self.eigenvals = eigenvals[:components, 0]
        self.eigenvecs = eigenvecs.T[:, :components]

    @classmethod
    def from_files(cls, mean: Path, eigenvals: Path, eigenvecs: Path) -> Yt8mPca:
        """Load the three ``.npy`` files, checking they have YouTube-8M's shapes (2048 -> 1024).

        Raises:
            ReelsetError: a file that is not a numeric ``.npy`` array of the expected shape (named).
        """
        expected = {"mean": (POOL3_WIDTH, 1), "eigenvals": (POOL3_WIDTH, 1), "eigenvecs": (POOL3_WIDTH, POOL3_WIDTH)}
        arrays = {}
        for label, path in (("mean", mean), ("eigenvals", eigenvals), ("eigenvecs", eigenvecs)):
            try:
                array = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise ReelsetError(f"{path}: not a readable .npy array ({one_line(exc, limit=160)})") from exc
            if array.shape != expected[label] or array.dtype.kind != "f":
                raise ReelsetError(f"{path}: expected a float array of shape {expected[label]}, "
                                   f"got {array.dtype} {array.shape}")
            arrays[label] = array
        return cls(arrays["mean"], arrays["eigenvals"], arrays["eigenvecs"], WIDTH)

    def apply(self, features) -> np.ndarray:
        """``(n, D)`` features to ``(n, components)`` whitened components, float32 (the original's operations)."""
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.dims:
            raise ValueError(f"features must be (n, {self.dims}), got {features.shape}")
        projected = (features - self.mean) @ self.eigenvecs
        projected /= np.sqrt(self.eigenvals + PCA_EPSILON)
        return projected.astype(np.float32, copy=False)


class InceptionYt8m:
    """The original recipe as a :class:`~reelset.features.backbones.Backbone` (see the module docstring).

    Args:
        files: the verified model files (:func:`~reelset.features.backbones.model_files.fetch_inception_files`).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (GPUs as TensorFlow sees them).
    """

    name = NAME
    width = WIDTH
    input_size: tuple[int, int] | None = None  # the whole decoded frame: the graph resizes it itself

    def __init__(self, files: InceptionFiles, *, device: str = "auto"):
        tf = import_tensorflow()
        self.device = resolve_device(device, gpus=tensorflow_gpu_count(tf), framework="TensorFlow")
        self.files = files
        self.pca = Yt8mPca.from_files(files.pca_mean, files.pca_eigenvals, files.pca_eigenvecs)
        # What cached features depend on: the four files' contents (verified against the record just before, so
        # their recorded digests are reused rather than hashing 100 MB again).
        self.fingerprint = NAME + ":" + ",".join(files.sha256 or (
            file_digest(path) for path in (files.graph, files.pca_mean, files.pca_eigenvals, files.pca_eigenvecs)))
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(Path(files.graph).read_bytes())
        except Exception as exc:  # protobuf's DecodeError, whose module differs between implementations
            raise ReelsetError(f"{files.graph}: not a TensorFlow GraphDef ({type(exc).__name__})") from exc
        graph = tf.Graph()
        placement = "/device:CPU:0" if self.device == "cpu" else f"/device:GPU:{self.device.split(':')[1]}"
        try:
            with graph.as_default(), tf.device(placement):
                tf.compat.v1.import_graph_def(graph_def, name="")
        except ValueError as exc:
            raise ReelsetError(f"{files.graph}: TensorFlow cannot import the graph "
                               f"({one_line(exc, limit=160)})") from exc
        tensors = []
        for tensor_name in (INPUT_TENSOR, OUTPUT_TENSOR):
            try:
                tensors.append(graph.get_tensor_by_name(tensor_name))
            except (KeyError, ValueError) as exc:
                raise ReelsetError(f"{files.graph}: the graph has no tensor {tensor_name}") from exc
        self._session = tf.compat.v1.Session(graph=graph, config=tf.compat.v1.ConfigProto(allow_soft_placement=True))
        self._pool3_of_one = self._session.make_callable(tensors[1], feed_list=[tensors[0]])

    def pool3(self, frames) -> np.ndarray:
        """The graph's ``pool_3/_reshape:0`` for each frame: float32 ``(n, 2048)``."""
        frames = check_frames(frames)
        out = np.empty((len(frames), POOL3_WIDTH), np.float32)
        for index, frame in enumerate(frames):
            value = self._pool3_of_one(frame)
            if value.shape != (1, POOL3_WIDTH):
                raise ReelsetError(f"{self.files.graph}: {OUTPUT_TENSOR} has shape {value.shape}, "
                                   f"expected (1, {POOL3_WIDTH})")
            out[index] = value[0]
        return out

    def embed(self, frames) -> np.ndarray:
        """The 1024 PCA-whitened features per frame that the records hold (float32, before clipping)."""
        return self.pca.apply(self.pool3(frames))

    def to_bytes(self, features) -> np.ndarray:
        """YouTube-8M's quantize: clip to [-2, 2], ``round((x + 2) * 255 / 4)``."""
        return quantize(features)

    def from_bytes(self, quantized) -> np.ndarray:
        """The starter code's dequantize, as every YouTube-8M reader does it."""
        return dequantize(quantized)

    def close(self) -> None:
        self._session.close()

    def __repr__(self) -> str:
        return f"InceptionYt8m(device={self.device!r}, graph={str(self.files.graph)!r})"
