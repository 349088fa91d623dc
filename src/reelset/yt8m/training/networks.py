"""The classifiers: video-level (logistic, mixture of experts) and frame-level (NeXtVLAD, mean-pool logistic).

Every network takes a batch and returns, per class, ``(log p, log (1 - p))``: both computed stably (a mixture of
sigmoids has no single logit), so the binary cross-entropy never takes the log of a rounded 0 or 1.

- video level: ``forward(x)`` with ``x`` (batch, width) float32, the video's features concatenated in
  :attr:`Network.widths` order (``mean_rgb`` then ``mean_audio``);
- frame level: ``forward(x, mask)`` with ``x`` (batch, frames, width) float32 (dequantized, padded with zeros) and
  ``mask`` (batch, frames) 1.0 for real frames, 0.0 for padding. Padding never changes a prediction.

Each network starts with :class:`Standardize` (per-feature mean and scale of the training data, kept in the
weights), and its output biases start at the label priors, ``log(p / (1 - p))``: an untrained network predicts
each class's frequency, the best constant guess.

The architectures (``--model``; hyperparameters by ``--option name=value``, defaults in :data:`MODELS`):

============  =====  ==========================================================================================
name          level  what it is
============  =====  ==========================================================================================
``logistic``  video  one linear layer and a sigmoid per class (weights start at zero: the prior).
``moe``       video  the starter code's mixture of experts: per class, ``mixtures`` logistic experts and a softmax
                     gate over them plus a "none" expert (probability 0).
``nextvlad``  frame  NeXtVLAD (Lin et al. 2018, 3rd in the 2nd YouTube-8M challenge): frames expanded
                     (``expansion``), split in ``groups``, each group softly assigned to ``clusters`` centers
                     and weighted by a sigmoid attention; residuals summed per cluster, intra-normalised, then
                     dropout, a hidden layer with batch norm, SE context gating and a MoE classifier. One NeXtVLAD
                     per feature (audio with half the clusters, as in the original). Before it, a residual
                     depthwise temporal convolution (``temporal_kernel`` frames, starts at zero) lets each frame
                     see its neighbours: NeXtVLAD itself is a sum over frames and blind to their order.
``meanpool``  frame  the mean of the (real) frames, then a logistic layer: the frame-level baseline.
============  =====  ==========================================================================================

``--model auto`` (the default) is not an architecture: training tries the level's baseline and strong model and
keeps the better on the validation videos (:mod:`.loop`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reelset.core.errors import ReelsetError
from reelset.yt8m.constants import MODEL_NAMES

LEVELS = ("video", "frame")


class Standardize(nn.Module):
    """``(x - mean) * scale`` per feature, with the statistics of the training data (buffers: saved with the
    weights). Starts as the identity."""

    def __init__(self, width: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("scale", torch.ones(width))

    def set_statistics(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        # A constant feature (std 0, e.g. zero audio) is centred and left unscaled.
        self.scale.copy_(torch.as_tensor(np.where(std > 1e-6, 1.0 / np.maximum(std, 1e-6), 1.0), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.scale


def _log_sigmoids(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return F.logsigmoid(logits), F.logsigmoid(-logits)


class MixtureOfExperts(nn.Module):
    """Per class, ``p = sum_k g_k sigmoid(w_k x)`` over ``mixtures`` experts, the gates ``g`` a softmax over the
    experts and a "none" expert that always says 0 (the starter code's ``MoeModel``)."""

    def __init__(self, width: int, num_classes: int, mixtures: int, prior_logits: torch.Tensor):
        super().__init__()
        self.num_classes, self.mixtures = num_classes, mixtures
        self.gates = nn.Linear(width, num_classes * (mixtures + 1))
        self.experts = nn.Linear(width, num_classes * mixtures)
        # Small random weights break the symmetry between experts; with uniform gates the experts' mixture starts at
        # the prior: each expert says p (M + 1) / M, weighted M / (M + 1) in all.
        nn.init.normal_(self.gates.weight, std=0.01)
        nn.init.zeros_(self.gates.bias)
        nn.init.normal_(self.experts.weight, std=0.01)
        prior = torch.sigmoid(prior_logits) * (mixtures + 1) / mixtures
        with torch.no_grad():
            self.experts.bias.copy_(torch.logit(prior.clamp(1e-6, 1 - 1e-3)).repeat_interleave(mixtures))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = x.shape[0]
        log_gates = F.log_softmax(self.gates(x).view(batch, self.num_classes, self.mixtures + 1), dim=-1)
        logits = self.experts(x).view(batch, self.num_classes, self.mixtures)
        experts = log_gates[..., :self.mixtures]
        log_p = torch.logsumexp(experts + F.logsigmoid(logits), dim=-1)
        log_q = torch.logsumexp(torch.cat([experts + F.logsigmoid(-logits), log_gates[..., self.mixtures:]], -1), -1)
        return log_p, log_q


class LogisticModel(nn.Module):
    """Video level: standardize, one linear layer."""

    def __init__(self, width: int, num_classes: int, prior_logits: torch.Tensor):
        super().__init__()
        self.inputs = Standardize(width)
        self.linear = nn.Linear(width, num_classes)
        nn.init.zeros_(self.linear.weight)
        with torch.no_grad():
            self.linear.bias.copy_(prior_logits)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return _log_sigmoids(self.linear(self.inputs(x)))


class MoeModel(nn.Module):
    """Video level: standardize, mixture of experts."""

    def __init__(self, width: int, num_classes: int, prior_logits: torch.Tensor, mixtures: int):
        super().__init__()
        self.inputs = Standardize(width)
        self.classifier = MixtureOfExperts(width, num_classes, mixtures, prior_logits)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.classifier(self.inputs(x))


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)


class MeanPoolModel(LogisticModel):
    """Frame level baseline: the logistic model on the mean of the real frames."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return super().forward(_masked_mean(x, mask))


class TemporalContext(nn.Module):
    """``x + depthwise_conv(x)`` over time (``kernel`` frames, centred), zero at the start: each frame learns to
    carry what comes before and after it, which an orderless pooling needs to see order."""

    def __init__(self, width: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv1d(width, width, kernel, padding=kernel // 2, groups=width, bias=False)
        nn.init.zeros_(self.conv.weight)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (x + self.conv(x.transpose(1, 2)).transpose(1, 2)) * mask[..., None]


class NeXtVLAD(nn.Module):
    """NeXtVLAD pooling of one feature's frames -> (batch, clusters * expansion * width / groups)."""

    def __init__(self, width: int, clusters: int, groups: int, expansion: int):
        super().__init__()
        if (expansion * width) % groups:
            raise ReelsetError(f"nextvlad: expansion x width ({expansion} x {width}) must be a multiple of groups "
                               f"({groups})")
        self.clusters, self.groups = clusters, groups
        self.group_width = expansion * width // groups
        self.expand = nn.Linear(width, expansion * width)
        self.attention = nn.Linear(expansion * width, groups)
        self.assign = nn.Linear(expansion * width, groups * clusters)
        self.centers = nn.Parameter(torch.randn(clusters, self.group_width) * 0.01)
        self.output_size = clusters * self.group_width
        self.norm = nn.BatchNorm1d(self.output_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, frames, _ = x.shape
        expanded = self.expand(x)
        attention = torch.sigmoid(self.attention(expanded)) * mask[..., None]  # (batch, frames, groups)
        assignment = torch.softmax(self.assign(expanded).view(batch, frames, self.groups, self.clusters), dim=-1)
        assignment = (assignment * attention[..., None]).reshape(batch, frames * self.groups, self.clusters)
        grouped = expanded.reshape(batch, frames * self.groups, self.group_width)
        vlad = assignment.transpose(1, 2) @ grouped  # (batch, clusters, group width)
        vlad = vlad - assignment.sum(1)[..., None] * self.centers
        vlad = F.normalize(vlad, dim=2)  # intra-normalisation: each cluster's residual to unit length
        return self.norm(vlad.reshape(batch, self.output_size))


class ContextGating(nn.Module):
    """Squeeze-and-excitation gating (NeXtVLAD's): ``x * sigmoid(W2 relu(bn(W1 x)))``, W1 reducing by ``reduction``."""

    def __init__(self, width: int, reduction: int):
        super().__init__()
        inner = max(1, width // reduction)
        self.squeeze = nn.Linear(width, inner, bias=False)
        self.norm = nn.BatchNorm1d(inner)
        self.excite = nn.Linear(inner, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.excite(F.relu(self.norm(self.squeeze(x)))))


class NeXtVLADModel(nn.Module):
    """Frame level: standardize, temporal context, one NeXtVLAD per feature, dropout, hidden layer + batch norm,
    context gating, mixture of experts."""

    def __init__(self, widths: tuple[int, ...], num_classes: int, prior_logits: torch.Tensor, *, clusters: int,
                 groups: int, expansion: int, hidden: int, dropout: float, mixtures: int, gating_reduction: int,
                 temporal_kernel: int):
        super().__init__()
        self.widths = widths
        self.inputs = Standardize(sum(widths))
        self.temporal = TemporalContext(sum(widths), temporal_kernel) if temporal_kernel > 1 else None
        # As in the original, the second feature (audio) gets half the clusters.
        self.pools = nn.ModuleList(NeXtVLAD(width, clusters if index == 0 else max(1, clusters // 2), groups,
                                            expansion) for index, width in enumerate(widths))
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(sum(pool.output_size for pool in self.pools), hidden, bias=False)
        self.hidden_norm = nn.BatchNorm1d(hidden)
        self.gating = ContextGating(hidden, gating_reduction)
        self.classifier = MixtureOfExperts(hidden, num_classes, mixtures, prior_logits)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.inputs(x) * mask[..., None]
        if self.temporal is not None:
            x = self.temporal(x, mask)
        parts = torch.split(x, list(self.widths), dim=-1)
        pooled = torch.cat([pool(part, mask) for pool, part in zip(self.pools, parts)], dim=-1)
        return self.classifier(self.gating(self.hidden_norm(self.hidden(self.dropout(pooled)))))


# ---------------------------------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class Architecture:
    """One ``--model``: its level, its hyperparameters (``--option``) with their defaults, and training defaults."""

    name: str
    level: str
    description: str
    build: Callable[..., nn.Module]  # (widths, num_classes, prior_logits, **options)
    options: dict = field(default_factory=dict)
    batch_size: int = 256
    learning_rate: float = 1e-3


MODELS: dict[str, Architecture] = {
    "logistic": Architecture(
        "logistic", "video", "logistic regression (one linear layer)",
        lambda widths, classes, prior: LogisticModel(sum(widths), classes, prior),
        batch_size=64, learning_rate=1e-3),
    "moe": Architecture(
        "moe", "video", "mixture of experts (starter code's MoeModel)",
        lambda widths, classes, prior, mixtures: MoeModel(sum(widths), classes, prior, mixtures),
        options={"mixtures": 2}, batch_size=64, learning_rate=1e-3),
    "nextvlad": Architecture(
        "nextvlad", "frame", "NeXtVLAD + context gating + MoE, with temporal context",
        lambda widths, classes, prior, **options: NeXtVLADModel(tuple(widths), classes, prior, **options),
        options={"clusters": 64, "groups": 8, "expansion": 2, "hidden": 1024, "dropout": 0.5, "mixtures": 2,
                 "gating_reduction": 8, "temporal_kernel": 3},
        batch_size=64, learning_rate=5e-4),
    "meanpool": Architecture(
        "meanpool", "frame", "mean of the frames + logistic regression",
        lambda widths, classes, prior: MeanPoolModel(sum(widths), classes, prior),
        batch_size=64, learning_rate=1e-3),
}
DEFAULT_MODELS = {"video": "moe", "frame": "nextvlad"}
if tuple(MODELS) != MODEL_NAMES:  # the command line offers MODEL_NAMES without importing torch
    raise RuntimeError(f"reelset.yt8m.constants.MODEL_NAMES {MODEL_NAMES} must list MODELS' keys {tuple(MODELS)} "
                       "in their order")


def architecture(name: str | None, level: str) -> Architecture:
    """The architecture ``name`` (default: the level's), checked against ``level``."""
    if level not in LEVELS:
        raise ReelsetError(f"--level {level!r}: expected one of {', '.join(LEVELS)}")
    name = name or DEFAULT_MODELS[level]
    if name not in MODELS:
        raise ReelsetError(f"--model {name!r}: unknown; expected one of {', '.join(MODELS)}")
    spec = MODELS[name]
    if spec.level != level:
        choices = ", ".join(model for model, item in MODELS.items() if item.level == level)
        raise ReelsetError(f"--model {name} is a {spec.level}-level model, but --level is {level} "
                           f"({level}-level models: {choices})")
    return spec


def model_options(spec: Architecture, given: dict | None) -> dict:
    """The architecture's hyperparameters: its defaults updated with ``given`` (values cast to the default's type).

    Raises:
        ReelsetError: an option the architecture does not have, or a value of the wrong kind.
    """
    options = dict(spec.options)
    for key, value in (given or {}).items():
        if key not in options:
            known = ", ".join(options) or "none"
            raise ReelsetError(f"--option {key}: the {spec.name} model has no such option (its options: {known})")
        kind = type(spec.options[key])
        try:
            options[key] = kind(value) if kind is not int else int(str(value), 10)
        except ValueError:
            raise ReelsetError(f"--option {key}={value}: expected {kind.__name__}") from None
    return options


def build_network(spec: Architecture, widths: tuple[int, ...], num_classes: int, prior_logits: np.ndarray,
                  options: dict) -> nn.Module:
    """A fresh network (initialised from torch's current random state)."""
    prior = torch.as_tensor(prior_logits, dtype=torch.float32)
    return spec.build(tuple(widths), num_classes, prior, **options)


def prior_logits(positives: np.ndarray, videos: int) -> np.ndarray:
    """``log(p / (1 - p))`` of each class's frequency, smoothed (``(count + 0.5) / (videos + 1)``) so that a class
    never seen gets a finite, small prior."""
    p = (np.asarray(positives, dtype=np.float64) + 0.5) / (videos + 1.0)
    return np.log(p / (1.0 - p)).astype(np.float32)
