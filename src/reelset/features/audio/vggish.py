"""YouTube-8M's audio features: VGGish, the AudioSet PCA and 8-bit quantization, one vector per video frame.

:class:`Vggish` loads the two official files (verified by :mod:`reelset.features.backbones.model_files`): the
checkpoint, read without TensorFlow (:mod:`reelset.formats.tf_checkpoint`) into the torch network of
:mod:`.network`, and the PCA parameters. :meth:`Vggish.features` turns samples and video timestamps into what the
records hold, exactly as ``vggish_postprocess.Postprocessor`` does after the network:

- ``pca = pca_eigen_vectors @ (embedding - pca_means)`` (PCA and whitening in one matrix, in the arrays' dtypes);
- the floats the records' ``mean_audio`` averages are these, unclipped (as ``mean_rgb`` averages the unclipped
  video features);
- the bytes are ``uint8((clip(pca, -2, 2) + 2) * 255 / 4)``: truncated, not rounded (the video recipe rounds), and
  the starter code's dequantize (``q * 4/255 + 4/512 - 2``) adds about half a step back, so a reader's value is
  within about half a step of the float (``[4/512 - 4/255, 4/512]``, +-0.0079).

:func:`vggish_features` is one video's audio for given timestamps (for ``reelset taste`` and library users; extraction
decodes with :func:`video_sound` while the frames decode and embeds later), None when the video has no sound.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelset.core.digest import file_digest
from reelset.core.errors import ReelsetError, one_line
from reelset.features.audio.decode import DECODE_TIMEOUT, DecodedAudio, decode_audio
from reelset.features.audio.frontend import PATCH_SECONDS, log_mel_patches
from reelset.features.audio.network import VggishNetwork
from reelset.features.backbones.model_files import VggishFiles
from reelset.features.constants import AUDIO_VGGISH
from reelset.formats.tf_checkpoint import read_checkpoint
from reelset.formats.yt8m_records import QUANTIZE_MAX, QUANTIZE_MIN, dequantize

WIDTH = 128  # YouTube-8M's audio features
PCA_EIGEN_VECTORS = "pca_eigen_vectors"
PCA_MEANS = "pca_means"
MAX_BATCH = 32  # patches per forward pass: bounds the activations (the real network's largest: 1.5 MB a patch)


class VggishPca:
    """``vggish_postprocess.Postprocessor``: ``pca_eigen_vectors`` (128 x 128, applied from the left) and
    ``pca_means`` (128) as ``vggish_pca_params.npz`` stores them."""

    def __init__(self, eigen_vectors: np.ndarray, means: np.ndarray):
        if eigen_vectors.shape != (WIDTH, WIDTH) or means.reshape(-1).shape != (WIDTH,):
            raise ValueError(f"expected a {WIDTH} x {WIDTH} matrix and {WIDTH} means, got {eigen_vectors.shape} "
                             f"and {means.shape}")
        self.matrix = eigen_vectors
        self.means = means.reshape(-1, 1)

    @classmethod
    def from_file(cls, path: Path) -> VggishPca:
        """Load ``vggish_pca_params.npz``.

        Raises:
            ReelsetError: not a readable ``.npz``, a missing array, or arrays of the wrong shape (named).
        """
        try:
            params = np.load(path, allow_pickle=False)
            if not isinstance(params, np.lib.npyio.NpzFile):
                raise ReelsetError(f"{path}: one .npy array, not the .npz of {PCA_EIGEN_VECTORS} and {PCA_MEANS}")
            with params:
                missing = [name for name in (PCA_EIGEN_VECTORS, PCA_MEANS) if name not in params.files]
                if missing:
                    raise ReelsetError(f"{path}: no array {missing[0]}; expected {PCA_EIGEN_VECTORS} and {PCA_MEANS}")
                arrays = {name: params[name] for name in (PCA_EIGEN_VECTORS, PCA_MEANS)}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ReelsetError(f"{path}: not a readable .npz file ({one_line(exc, limit=160)})") from exc
        for name, array in arrays.items():
            if array.dtype.kind != "f":
                raise ReelsetError(f"{path}: {name} is {array.dtype}, expected floats")
        try:
            return cls(arrays[PCA_EIGEN_VECTORS], arrays[PCA_MEANS])
        except ValueError as exc:
            raise ReelsetError(f"{path}: {exc}") from exc

    def apply(self, embeddings: np.ndarray) -> np.ndarray:
        """``(n, 128)`` embeddings -> ``(n, 128)`` PCA'd values, computed as the reference (its dtypes: float64 with
        the official float64 arrays)."""
        return np.dot(self.matrix, (embeddings.T - self.means)).T

    @staticmethod
    def quantize(values: np.ndarray) -> np.ndarray:
        """The reference's bytes: clip to [-2, 2], scale to [0, 255], truncate."""
        clipped = np.clip(values, QUANTIZE_MIN, QUANTIZE_MAX)
        return ((clipped - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN))).astype(np.uint8)


@dataclass(frozen=True)
class AudioFeatures:
    """One video's audio: ``features`` float32 ``(frames, 128)`` (the PCA'd floats, unclipped), ``quantized`` their
    bytes as stored, ``timestamps`` the video times (s) each patch starts at, and warnings (damaged audio)."""

    features: np.ndarray
    quantized: np.ndarray
    timestamps: np.ndarray
    warnings: tuple[str, ...] = ()

    @property
    def mean(self) -> np.ndarray:
        return self.features.mean(axis=0).astype(np.float32) if len(self.features) else np.zeros(WIDTH, np.float32)


class Vggish:
    """VGGish + PCA + quantization (see the module docstring), on ``device`` (``auto``, ``cpu``, ``cuda[:N]``).

    Args:
        files: the verified files (:func:`~reelset.features.backbones.model_files.fetch_vggish_files`).

    Raises:
        ReelsetError: a checkpoint that is not VGGish's (unreadable, a variable missing or misshapen), a PCA file
            that is not the AudioSet one's shape, a device that is not there.
    """

    name = AUDIO_VGGISH
    width = WIDTH

    def __init__(self, files: VggishFiles, *, device: str = "auto"):
        from reelset.features.backbones.device import resolve_device, torch_gpu_count

        self.device = resolve_device(device, gpus=torch_gpu_count())
        self.files = files
        self.network = VggishNetwork(read_checkpoint(files.checkpoint), device=self.device,
                                     source=str(files.checkpoint))
        if self.network.width != WIDTH:
            raise ReelsetError(f"{files.checkpoint}: the embedding has {self.network.width} values, expected {WIDTH}")
        self.pca = VggishPca.from_file(files.pca_params)
        # What cached features depend on: the two files' contents (verified against the record just before).
        self.fingerprint = AUDIO_VGGISH + ":" + ",".join(
            files.sha256 or (file_digest(path) for path in (files.checkpoint, files.pca_params)))

    def embed(self, patches) -> np.ndarray:
        """``(n, 96, 64)`` log-mel patches -> ``(n, 128)`` float32 raw embeddings, :data:`MAX_BATCH` at a time."""
        patches = np.asarray(patches, np.float32)
        if not len(patches):
            return np.zeros((0, WIDTH), np.float32)
        return np.concatenate([self.network(patches[start:start + MAX_BATCH])
                               for start in range(0, len(patches), MAX_BATCH)])

    def postprocess(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The PCA'd floats (float32) and their bytes, from raw embeddings."""
        values = self.pca.apply(np.asarray(embeddings))
        return values.astype(np.float32), self.pca.quantize(values)

    def features(self, samples, timestamps, warnings: tuple[str, ...] = ()) -> AudioFeatures:
        """One vector per timestamp: the patch of 16 kHz mono ``samples`` starting at it (silence after the end)."""
        times = np.asarray(timestamps, np.float64).reshape(-1)
        values, quantized = self.postprocess(self.embed(log_mel_patches(samples, times)))
        return AudioFeatures(values, quantized, times, tuple(warnings))

    def from_bytes(self, quantized) -> np.ndarray:
        """The starter code's dequantize, as every YouTube-8M reader does it."""
        return dequantize(quantized)

    def __repr__(self) -> str:
        return f"Vggish(device={self.device!r}, checkpoint={str(self.files.checkpoint)!r})"


def load_vggish(
    model_dir: Path | None = None,
    *,
    device: str = "auto",
    expected_sha256: str | Mapping[str, str] | None = None,
    urls: Mapping[str, str] | None = None,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> Vggish:
    """VGGish ready to run on ``device``, its files fetched into ``model_dir`` (default ``$HOME/yt8m``) at first use
    and verified on every use.

    Args:
        expected_sha256: pins of ``vggish_model.ckpt`` and ``vggish_pca_params.npz``: ``NAME=HEX[,NAME=HEX]`` or a
            mapping by file name.
        urls: URLs by file name (else ``$REELSET_VGGISH_URL`` / ``$REELSET_VGGISH_PCA_URL``, else the official ones).
        on_progress: ``(file name, bytes so far, total or None)`` while a file downloads.

    Raises:
        ReelsetError: a file that cannot be fetched (HTTP, not an http(s) URL), does not match its pin or its record,
            is not what VGGish needs; a device that is not there.
    """
    from reelset.features.backbones.device import resolve_device, torch_gpu_count
    from reelset.features.backbones.model_files import fetch_vggish_files

    resolve_device(device, gpus=torch_gpu_count())  # before a 290 MB download, not after
    files = fetch_vggish_files(model_dir, urls=urls, expected_sha256=expected_sha256, on_progress=on_progress)
    return Vggish(files, device=device)


def video_sound(path: str | Path, timestamps, *, timeout: float = DECODE_TIMEOUT) -> DecodedAudio | None:
    """The sound of the video at ``path`` that the patches at ``timestamps`` hear (16 kHz mono, from its start to
    the end of the last patch), or None when it has no audio stream.

    Raises:
        MediaError: the file cannot be read or its audio decoded (one line naming it).
    """
    times = np.asarray(timestamps, np.float64).reshape(-1)
    seconds = float(times.max()) + PATCH_SECONDS + 0.01 if len(times) else 0.0  # 0.01: a start rounds by 5 ms
    return decode_audio(path, seconds=seconds, timeout=timeout)


def vggish_features(path: str | Path, timestamps, vggish: Vggish, *,
                    timeout: float = DECODE_TIMEOUT) -> AudioFeatures | None:
    """The audio of the video at ``path`` for its frames at ``timestamps`` (seconds): ``(len(timestamps), 128)``
    floats and bytes, or None when the video has no sound (no audio stream).

    Raises:
        MediaError: the file cannot be read or its audio decoded (one line naming it).
    """
    decoded = video_sound(path, timestamps, timeout=timeout)
    if decoded is None:
        return None
    return vggish.features(decoded.samples, timestamps, decoded.warnings)
