"""The classifiers: video-level (logistic, mixture of experts) and frame-level (NeXtVLAD, mean-pool logistic).

Every network takes a batch and returns, per class, ``(log p, log (1 - p))``: both computed stably (a mixture of
sigmoids has no single logit), so the binary cross-entropy never takes the log of a rounded 0 or 1.

- video level: ``forward(x)`` with ``x`` (batch, width) float32, the video's features concatenated in
  :attr:`Network.widths` order (``mean_rgb`` then ``mean_audio``);
- frame level: ``forward(x, mask)`` with ``x`` (batch, frames, width) float32 (dequantized, padded with zeros) and
  ``mask`` (batch, frames) 1.0 for real frames, 0.0 for padding. Padding never changes a prediction.

Each network starts with :class:`UnitLength` (each video's or frame's vector scaled to length ``sqrt(width)``;
models of format 1 started with :class:`Standardize`, the training data's per-feature statistics, and still load),
and its output biases start at the label priors, ``log(p / (1 - p))``: an untrained network predicts each class's
frequency, the best constant guess.

The architectures (``--model``; hyperparameters by ``--option name=value``, defaults in :data:`MODELS`):

============  =====  ==========================================================================================
name          level  what it is
============  =====  ==========================================================================================
``logistic``  video  one linear layer and a sigmoid per class, L2-penalised (``l2``), fitted by L-BFGS
                     (:mod:`.shallow`).
``knn``       any    similarity-weighted votes of the ``k`` nearest training videos (cosine); the training
                     videos' vectors and labels are its weights. Frame level: the mean frame.
``blend``     any    ``alpha * knn + (1 - alpha) * logistic``.
``moe``       video  the starter code's mixture of experts: per class, ``mixtures`` logistic experts and a softmax
                     gate over them plus a "none" expert (probability 0). Adam, early stopping.
``nextvlad``  frame  NeXtVLAD (Lin et al. 2018, 3rd in the 2nd YouTube-8M challenge): frames expanded
                     (``expansion``), split in ``groups``, each group softly assigned to ``clusters`` centers
                     and weighted by a sigmoid attention; residuals summed per cluster, intra-normalised, then
                     dropout, a hidden layer with batch norm, SE context gating and a MoE classifier. One NeXtVLAD
                     per feature (audio with half the clusters, as in the original). Before it, a residual
                     depthwise temporal convolution (``temporal_kernel`` frames, starts at zero) lets each frame
                     see its neighbours: NeXtVLAD itself is a sum over frames and blind to their order.
``meanpool``  frame  the mean of the (real) frames, then ``logistic``: the frame-level baseline.
============  =====  ==========================================================================================

The shallow ones (``logistic``, ``knn``, ``blend``, ``meanpool``) take their settings from cross-validation when
an option is 0 (unset). ``--model auto`` (the default) is not an architecture: training chooses (:mod:`.loop`).
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
PRIOR_WEIGHT = 1e-3  # kNN: the class prior's share in a score (breaks ties between classes no neighbour has)


INPUTS = ("unit", "standardize")


class UnitLength(nn.Module):
    """Each vector (a video's, or a frame's) scaled to length ``sqrt(width)``: its direction is kept, its length (4 to
    35 in YouTube-8M, unrelated to the labels) dropped, and each dimension keeps its share of the variance (the
    features are PCA projections: a dimension's variance says how much it tells). ``sqrt(width)`` keeps the values
    near 1 each, where Adam's default steps suit. An all-zero vector (padding) stays zero."""

    def __init__(self, width: int):
        super().__init__()
        self.length = float(np.sqrt(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1, eps=1e-12) * self.length


class Standardize(nn.Module):
    """``(x - mean) * scale`` per feature, the training data's statistics as buffers saved with the weights: the first
    layer of format-1 models (before unit-length inputs), kept to read them."""

    def __init__(self, width: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("scale", torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.scale


def input_transform(kind: str, width: int) -> nn.Module:
    """The first layer of every network: ``unit`` (:class:`UnitLength`) or ``standardize`` (older models)."""
    if kind == "unit":
        return UnitLength(width)
    if kind == "standardize":
        return Standardize(width)
    raise ReelsetError(f"inputs {kind!r}: expected one of {', '.join(INPUTS)}")


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
    """Video level: the input transform, one linear layer."""

    def __init__(self, width: int, num_classes: int, prior_logits: torch.Tensor, inputs: str = "unit"):
        super().__init__()
        self.inputs = input_transform(inputs, width)
        self.linear = nn.Linear(width, num_classes)
        nn.init.zeros_(self.linear.weight)
        with torch.no_grad():
            self.linear.bias.copy_(prior_logits)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return _log_sigmoids(self.linear(self.inputs(x)))


class MoeModel(nn.Module):
    """Video level: the input transform, mixture of experts."""

    def __init__(self, width: int, num_classes: int, prior_logits: torch.Tensor, mixtures: int, inputs: str = "unit"):
        super().__init__()
        self.inputs = input_transform(inputs, width)
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
    """Frame level: the input transform (each frame), temporal context, one NeXtVLAD per feature, dropout, hidden layer + batch norm,
    context gating, mixture of experts."""

    def __init__(self, widths: tuple[int, ...], num_classes: int, prior_logits: torch.Tensor, *, clusters: int,
                 groups: int, expansion: int, hidden: int, dropout: float, mixtures: int, gating_reduction: int,
                 temporal_kernel: int, inputs: str = "unit"):
        super().__init__()
        self.widths = widths
        self.inputs = input_transform(inputs, sum(widths))
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


class KnnModel(nn.Module):
    """Similarity-weighted votes of the ``k`` nearest training videos (cosine): :func:`.shallow.knn_scores` as a
    network. The training videos' unit vectors and targets are buffers (saved with the weights; their count comes
    from the weights file). A frame-level video is its mean frame."""

    def __init__(self, width: int, num_classes: int, k: int):
        super().__init__()
        self.k, self.num_classes = k, num_classes
        self.register_buffer("bank", torch.zeros(0, width))
        self.register_buffer("target_offsets", torch.zeros(1, dtype=torch.long))
        self.register_buffer("target_values", torch.zeros(0, dtype=torch.long))
        self.register_buffer("prior", torch.zeros(num_classes))
        self._dense = None

    def set_bank(self, vectors: np.ndarray, offsets: np.ndarray, values: np.ndarray, prior: np.ndarray) -> None:
        """The training videos: unit ``vectors`` (videos, width), CSR targets, each class's share of the videos."""
        self.bank = torch.as_tensor(np.ascontiguousarray(vectors), dtype=torch.float32)
        self.target_offsets = torch.as_tensor(offsets, dtype=torch.long)
        self.target_values = torch.as_tensor(values, dtype=torch.long)
        self.prior = torch.as_tensor(prior, dtype=torch.float32)
        self._dense = None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("bank", "target_offsets", "target_values"):  # sized by the weights file
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        self._dense = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _targets(self) -> torch.Tensor:
        if self._dense is None or self._dense.device != self.bank.device:
            counts = self.target_offsets.diff()
            rows = torch.repeat_interleave(torch.arange(len(counts), device=self.bank.device), counts)
            dense = torch.zeros((len(counts), self.num_classes), dtype=torch.bool, device=self.bank.device)
            dense[rows, self.target_values] = True
            self._dense = dense
        return self._dense

    def probabilities(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim == 3:
            x = _masked_mean(x, mask)
        queries = F.normalize(x.float(), dim=-1, eps=1e-12)
        similarity = queries @ self.bank.T
        weights, nearest = similarity.topk(max(1, min(self.k, len(self.bank))), dim=1)
        weights = weights.clamp(min=0.0)
        votes = torch.einsum("qk,qkc->qc", weights, self._targets()[nearest].float())
        return (votes + PRIOR_WEIGHT * self.prior) / (weights.sum(dim=1, keepdim=True) + PRIOR_WEIGHT)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return _log_probabilities(self.probabilities(x, mask))


def _log_probabilities(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p = p.clamp(1e-7, 1 - 1e-7)
    return torch.log(p), torch.log1p(-p)


class BlendModel(nn.Module):
    """``alpha * knn + (1 - alpha) * logistic``: a logistic regression (on the mean frame at frame level) and a
    :class:`KnnModel`, their probabilities mixed."""

    def __init__(self, width: int, num_classes: int, prior_logits: torch.Tensor, *, alpha: float, k: int,
                 inputs: str = "unit"):
        super().__init__()
        self.alpha = alpha
        self.linear = LogisticModel(width, num_classes, prior_logits, inputs)
        self.knn = KnnModel(width, num_classes, k)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim == 3:  # frame level: the mean frame
            x, mask = _masked_mean(x, mask), None
        log_p, log_q = self.linear(x)
        knn_p, knn_q = _log_probabilities(self.knn.probabilities(x, mask))
        alpha = torch.tensor(self.alpha)
        return (torch.logaddexp(torch.log(alpha) + knn_p, torch.log1p(-alpha) + log_p),
                torch.logaddexp(torch.log(alpha) + knn_q, torch.log1p(-alpha) + log_q))


# ---------------------------------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class Architecture:
    """One ``--model``: its level (``video``, ``frame``, or ``any``: a frame-level video is its mean frame), its
    hyperparameters (``--option``) with their defaults, and how it is fitted: ``shallow`` models without epochs,
    their settings chosen by cross-validation (:mod:`.shallow`; an option at 0 is chosen), the others by Adam with
    early stopping (``batch_size``, ``learning_rate``)."""

    name: str
    level: str
    description: str
    build: Callable[..., nn.Module]  # (widths, num_classes, prior_logits, inputs=..., **options)
    options: dict = field(default_factory=dict)
    batch_size: int = 256
    learning_rate: float = 1e-3
    shallow: bool = False


MODELS: dict[str, Architecture] = {
    "logistic": Architecture(
        "logistic", "video", "L2-penalised logistic regression, fitted by L-BFGS",
        lambda widths, classes, prior, inputs="unit", l2=0.0: LogisticModel(sum(widths), classes, prior, inputs),
        options={"l2": 0.0}, batch_size=64, learning_rate=1e-3, shallow=True),
    "moe": Architecture(
        "moe", "video", "mixture of experts (starter code's MoeModel)",
        lambda widths, classes, prior, mixtures, inputs="unit": MoeModel(sum(widths), classes, prior, mixtures,
                                                                         inputs),
        options={"mixtures": 2}, batch_size=64, learning_rate=1e-3),
    "knn": Architecture(
        "knn", "any", "similarity-weighted k nearest neighbours (cosine)",
        lambda widths, classes, prior, inputs="unit", k=0: KnnModel(sum(widths), classes, k),
        options={"k": 0}, shallow=True),
    "blend": Architecture(
        "blend", "any", "alpha * knn + (1 - alpha) * logistic",
        lambda widths, classes, prior, inputs="unit", alpha=0.0, k=0, l2=0.0: BlendModel(
            sum(widths), classes, prior, alpha=alpha, k=k, inputs=inputs),
        options={"alpha": 0.0, "k": 0, "l2": 0.0}, shallow=True),
    "nextvlad": Architecture(
        "nextvlad", "frame", "NeXtVLAD + context gating + MoE, with temporal context",
        lambda widths, classes, prior, inputs="unit", **options: NeXtVLADModel(tuple(widths), classes, prior,
                                                                                inputs=inputs, **options),
        options={"clusters": 64, "groups": 8, "expansion": 2, "hidden": 1024, "dropout": 0.5, "mixtures": 2,
                 "gating_reduction": 8, "temporal_kernel": 3},
        batch_size=64, learning_rate=5e-4),
    "meanpool": Architecture(
        "meanpool", "frame", "mean of the frames + L2-penalised logistic regression (L-BFGS)",
        lambda widths, classes, prior, inputs="unit", l2=0.0: MeanPoolModel(sum(widths), classes, prior, inputs),
        options={"l2": 0.0}, batch_size=64, learning_rate=1e-3, shallow=True),
}
DEFAULT_MODELS = {"video": "moe", "frame": "nextvlad"}
LINEAR_MODELS = {"video": "logistic", "frame": "meanpool"}  # the level's logistic regression
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
    if spec.level not in (level, "any"):
        choices = ", ".join(model for model, item in MODELS.items() if item.level in (level, "any"))
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
                  options: dict, inputs: str = "unit") -> nn.Module:
    """A fresh network (initialised from torch's current random state) whose first layer is ``inputs``."""
    prior = torch.as_tensor(prior_logits, dtype=torch.float32)
    return spec.build(tuple(widths), num_classes, prior, inputs=inputs, **options)


def prior_logits(positives: np.ndarray, videos: int) -> np.ndarray:
    """``log(p / (1 - p))`` of each class's frequency, smoothed (``(count + 0.5) / (videos + 1)``) so that a class
    never seen gets a finite, small prior."""
    p = (np.asarray(positives, dtype=np.float64) + 0.5) / (videos + 1.0)
    return np.log(p / (1.0 - p)).astype(np.float32)
