"""The VGGish network of ``vggish_slim.py``, run by torch on the weights of its TensorFlow checkpoint.

``define_vggish_slim``, layer by layer (slim's defaults: 3 x 3 convolutions with stride 1 and ``SAME`` padding,
2 x 2 max-pools with stride 2 and ``SAME`` padding, ReLU after every layer but the last)::

    input (n, 96, 64) -> NHWC (n, 96, 64, 1)
    conv1 -> pool1 -> conv2 -> pool2 -> conv3/conv3_1 -> conv3/conv3_2 -> pool3 -> conv4/conv4_1 -> conv4/conv4_2
    -> pool4 -> flatten -> fc1/fc1_1 -> fc1/fc1_2 -> fc2 (the 128-d embedding, no ReLU)

The variables are ``vggish/<layer>/weights`` and ``vggish/<layer>/biases``: convolution kernels in TensorFlow's
``(height, width, in, out)`` order, dense weights as ``(in, out)``. Torch convolves in NCHW, so the kernels are
permuted to ``(out, in, height, width)`` and, because ``slim.flatten`` flattens an NHWC tensor, the last feature map
is put back in NHWC order before the first dense layer (flattening NCHW would feed ``fc1_1`` its inputs in another
order). ``SAME`` is one pixel of zeros around each 3 x 3 convolution, and for the pools (no padding on even sizes;
an odd size would get one more row or column at the end, which ``ceil_mode`` reproduces).

The embedding layer has no ReLU: the official code applied one until 2020, when tensorflow/models#9080 ("VGGish
embeddings are pre-activation, not post-activation") removed it, because the released AudioSet embeddings (and the
audio of YouTube-8M, made the same way) were computed before that activation; the checkpoint is the same either way.

The widths of the layers are read from the checkpoint's shapes (the real one: 64, 128, 256, 256, 512, 512, 4096,
4096, 128, about 72 million weights), so a narrower network in the same format runs the same code.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reelset.core.errors import ReelsetError

SCOPE = "vggish"
CONVOLUTIONS = ("conv1", "conv2", "conv3/conv3_1", "conv3/conv3_2", "conv4/conv4_1", "conv4/conv4_2")
POOLED_AFTER = frozenset({"conv1", "conv2", "conv3/conv3_2", "conv4/conv4_2"})
DENSE = ("fc1/fc1_1", "fc1/fc1_2", "fc2")
INPUT_SHAPE = (96, 64)  # frames x mel bands of one patch


def _after_pools(size: int) -> int:
    for _ in POOLED_AFTER:
        size = -(-size // 2)  # a SAME pool of stride 2: ceil(size / 2)
    return size


class VggishNetwork:
    """The network of the module docstring on ``device``, built from ``tensors`` (name -> array, as
    :func:`reelset.formats.tf_checkpoint.read_checkpoint` gives them; other variables are ignored).

    Raises:
        ReelsetError: a variable missing or of a shape that does not fit the layers before it (named, with
            ``source``, the checkpoint's path).
    """

    def __init__(self, tensors: Mapping[str, np.ndarray], *, device: str = "cpu", source: str = "checkpoint"):
        import torch

        self.device = device
        self.source = source
        self.convolutions: list[tuple[str, object, object]] = []
        channels = 1
        for layer in CONVOLUTIONS:
            weights, biases = self._variables(tensors, layer, 4)
            if weights.shape[:3] != (3, 3, channels):
                raise self._shape_error(layer, weights.shape, f"(3, 3, {channels}, N)")
            channels = weights.shape[3]
            self._check_biases(layer, biases, channels)
            self.convolutions.append((layer, self._tensor(weights, torch).permute(3, 2, 0, 1).contiguous(),
                                      self._tensor(biases, torch)))
        width = _after_pools(INPUT_SHAPE[0]) * _after_pools(INPUT_SHAPE[1]) * channels
        self.dense: list[tuple[str, object, object]] = []
        for layer in DENSE:
            weights, biases = self._variables(tensors, layer, 2)
            if weights.shape[0] != width:
                raise self._shape_error(layer, weights.shape, f"({width}, N)")
            width = weights.shape[1]
            self._check_biases(layer, biases, width)
            self.dense.append((layer, self._tensor(weights, torch), self._tensor(biases, torch)))
        self.width = width  # the embedding's: 128 for VGGish

    def _variables(self, tensors: Mapping[str, np.ndarray], layer: str, rank: int) -> tuple[np.ndarray, np.ndarray]:
        found = []
        for kind in ("weights", "biases"):
            name = f"{SCOPE}/{layer}/{kind}"
            if name not in tensors:
                raise ReelsetError(f"{self.source}: no variable {name}; not a VGGish checkpoint")
            found.append(np.asarray(tensors[name]))
        if found[0].ndim != rank:
            raise self._shape_error(layer, found[0].shape, f"rank {rank}")
        return found[0], found[1]

    def _check_biases(self, layer: str, biases: np.ndarray, width: int) -> None:
        if biases.shape != (width,):
            raise ReelsetError(f"{self.source}: {SCOPE}/{layer}/biases has shape {biases.shape}, expected ({width},)")

    def _shape_error(self, layer: str, shape: tuple, expected: str) -> ReelsetError:
        return ReelsetError(f"{self.source}: {SCOPE}/{layer}/weights has shape {tuple(shape)}, expected {expected}")

    def _tensor(self, array: np.ndarray, torch):
        # A copy: the checkpoint's arrays are views of its file buffer, not necessarily aligned for torch.
        return torch.tensor(np.asarray(array, np.float32), device=self.device)

    def __call__(self, patches) -> np.ndarray:
        """``(n, 96, 64)`` log-mel patches -> ``(n, width)`` float32 embeddings (one forward pass; batch outside)."""
        import torch
        import torch.nn.functional as F

        patches = np.asarray(patches, np.float32)
        if patches.ndim != 3 or patches.shape[1:] != INPUT_SHAPE:
            raise ValueError(f"patches must be (n, {INPUT_SHAPE[0]}, {INPUT_SHAPE[1]}), got {patches.shape}")
        with torch.inference_mode():
            net = torch.from_numpy(np.ascontiguousarray(patches)).to(self.device).unsqueeze(1)  # NCHW, C = 1
            for layer, weights, biases in self.convolutions:
                net = F.relu(F.conv2d(net, weights, biases, padding=1))
                if layer in POOLED_AFTER:
                    net = F.max_pool2d(net, kernel_size=2, stride=2, ceil_mode=True)
            net = net.permute(0, 2, 3, 1).reshape(len(patches), -1)  # flattened in NHWC order, as slim.flatten
            for index, (_, weights, biases) in enumerate(self.dense):
                net = torch.addmm(biases, net, weights)
                if index < len(self.dense) - 1:
                    net = F.relu(net)
            return net.cpu().numpy()
