"""The small-data models, fitted without epochs: L2-penalised logistic regression, cosine kNN and their blend, chosen
by k-fold cross-validation.

Why (measured on real YouTube-8M video-level records, a few hundred training videos): per-dimension standardisation
hurts (the features are PCA projections: a dimension's variance says how much it tells), a video's vector length
(4 to 35, unrelated to its labels) makes linear scores of long vectors crowd the top of the pooled GAP ranking,
Adam with early stopping regularises a 1152 x 3862 layer poorly, and a choice made on 60 validation videos is noise.
So here:

- **inputs**: each video's vector (rgb and audio concatenated; a frame-level video's mean frame) scaled to unit
  length, nothing else (:func:`unit_rows`);
- **logistic**: binary cross-entropy summed over classes and averaged over videos, plus ``l2 / 2 * |W|^2``, fitted
  to convergence by full-batch L-BFGS; classes without a positive video keep zero weights and their prior bias;
- **knn**: the ``k`` most similar training videos (cosine), each weighted by its similarity (negative ones count
  0), vote for their labels: ``score = sum(w * y) / sum(w)``, with a trace of the class prior so that no score is 0;
- **blend**: ``alpha * knn + (1 - alpha) * logistic``;
- **choice**: every setting of every candidate is scored by the GAP of its out-of-fold predictions pooled over
  ``folds`` folds (every video is scored once, by a model that did not see it), on the 500 classes with the most
  videos (each class's scores are independent of the others', and those hold most labels: 83% of YouTube-8M's;
  scoring all 3,862 would make the fits five times as long), and the best is refitted on all videos and classes. Logistic regressions run from the strongest penalty to the weakest, each fold's fit starting from the
  previous one's weights, and stop at the first whose GAP is lower than the one before; the blend's settings cost no fit at all (they
  mix stored out-of-fold predictions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from reelset.yt8m import metrics
from reelset.yt8m.training.networks import MODELS, PRIOR_WEIGHT, build_network

L2_GRID = (3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6)  # strongest first: each fit starts from the previous one
K_GRID = (3, 5, 10, 20)
ALPHA_GRID = (0.25, 0.5, 0.75)
FIRST_ITERATIONS, WARM_ITERATIONS = 100, 40
CV_CLASSES = 500  # the choice is scored on the most frequent classes: 83% of YouTube-8M's labels, a 5th of the fits
CHUNK = 4096  # videos per block of a similarity or score matrix


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (float32; an all-zero row stays zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def dense_targets(offsets: np.ndarray, values: np.ndarray, num_classes: int) -> np.ndarray:
    """(videos, classes) float32 0/1 from the CSR targets of a video set."""
    counts = np.diff(offsets)
    dense = np.zeros((len(counts), num_classes), np.float32)
    dense[np.repeat(np.arange(len(counts)), counts), values] = 1.0
    return dense


# ---------------------------------------------------------------------------------------------------------------------
# Logistic regression


@dataclass
class LinearFit:
    """A fitted logistic regression: ``weight`` (classes, width), ``bias`` (classes,), the L-BFGS iterations used."""

    weight: np.ndarray
    bias: np.ndarray
    iterations: int = 0


def prior_logit(positives: np.ndarray, videos: int) -> np.ndarray:
    """Each class's smoothed frequency as a logit (``(count + 0.5) / (videos + 1)``): a class never seen gets a
    small, finite prior (as :func:`reelset.yt8m.training.networks.prior_logits`)."""
    p = (np.asarray(positives, np.float64) + 0.5) / (videos + 1.0)
    return np.log(p / (1.0 - p)).astype(np.float32)


def fit_logistic(x: np.ndarray, targets: np.ndarray, l2: float, *, start: LinearFit | None = None,
                 max_iterations: int = FIRST_ITERATIONS) -> LinearFit:
    """L2-penalised logistic regression of every class on ``x`` (unit rows) by full-batch L-BFGS.

    Args:
        targets: (videos, classes) 0/1.
        start: the weights to start from (a fit with a nearby penalty); None: zero weights, prior biases.
    """
    videos, classes = targets.shape
    positives = targets.sum(axis=0)
    active = np.flatnonzero(positives > 0)
    weight = np.zeros((classes, x.shape[1]), np.float32)
    bias = prior_logit(positives, videos)
    if not len(active):
        return LinearFit(weight, bias)
    with torch.random.fork_rng(devices=[]):
        inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        wanted = torch.from_numpy(np.ascontiguousarray(targets[:, active]))
        w = torch.zeros((len(active), x.shape[1]), dtype=torch.float32)
        b = torch.from_numpy(bias[active].copy())
        if start is not None:
            w.copy_(torch.from_numpy(start.weight[active]))
            b.copy_(torch.from_numpy(start.bias[active]))
        w.requires_grad_(True)
        b.requires_grad_(True)
        optimizer = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iterations, history_size=20,
                                      tolerance_grad=1e-5, tolerance_change=1e-7, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad(set_to_none=True)
            logits = torch.addmm(b, inputs, w.T)
            loss = F.binary_cross_entropy_with_logits(logits, wanted, reduction="sum") / videos
            loss = loss + 0.5 * l2 * w.pow(2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        iterations = int(optimizer.state[w].get("n_iter", 0))
    weight[active] = w.detach().numpy()
    bias[active] = b.detach().numpy()
    return LinearFit(weight, bias, iterations)


def linear_scores(fit: LinearFit, x: np.ndarray) -> np.ndarray:
    """Probabilities (videos, classes) float32 of a fitted logistic regression on unit rows ``x``."""
    logits = x @ fit.weight.T + fit.bias
    return (1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------------
# kNN


def knn_scores(bank: np.ndarray, bank_targets: np.ndarray, queries: np.ndarray, k: int,
               prior: np.ndarray | None = None) -> np.ndarray:
    """Similarity-weighted votes of the ``k`` nearest ``bank`` videos (cosine: all rows unit length).

    Args:
        bank_targets: (bank videos, classes) 0/1.
        prior: per class, the score a video with no similar neighbour gets (default: the bank's frequencies).
    """
    k = max(1, min(k, len(bank)))
    prior = bank_targets.mean(axis=0) if prior is None else prior
    out = np.empty((len(queries), bank_targets.shape[1]), np.float32)
    for start in range(0, len(queries), CHUNK):
        similarity = queries[start:start + CHUNK] @ bank.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weights = np.maximum(np.take_along_axis(similarity, nearest, axis=1), 0.0)
        votes = np.einsum("qk,qkc->qc", weights, bank_targets[nearest])
        out[start:start + CHUNK] = (votes + PRIOR_WEIGHT * prior) / (weights.sum(axis=1, keepdims=True)
                                                                      + PRIOR_WEIGHT)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Cross-validation


@dataclass(frozen=True)
class Setting:
    """One candidate with its setting: ``logistic`` (``l2``), ``knn`` (``k``) or ``blend`` (``alpha``, with the
    best logistic ``l2`` and kNN ``k``)."""

    model: str
    l2: float | None = None
    k: int | None = None
    alpha: float | None = None

    def label(self) -> str:
        if self.model == "logistic":
            return f"logistic l2={self.l2:g}"
        if self.model == "knn":
            return f"knn k={self.k}"
        return f"blend alpha={self.alpha:g} (l2={self.l2:g}, k={self.k})"

    def options(self) -> dict:
        return {key: value for key, value in (("l2", self.l2), ("k", self.k), ("alpha", self.alpha))
                if value is not None}


@dataclass
class CrossValidation:
    """Out-of-fold GAP of every setting tried (in order), and the best setting."""

    folds: int
    scores: list[tuple[Setting, float]]
    best: Setting
    best_gap: float
    results: dict[Setting, dict]  # every metric (metrics.evaluate) of each setting

    def best_of(self, model: str) -> tuple[Setting, dict]:
        """The best setting of ``model`` and its metrics."""
        setting = max((item for item in self.scores if item[0].model == model), key=lambda item: item[1])[0]
        return setting, self.results[setting]

    def to_json(self) -> dict:
        return {"folds": self.folds, "best": {"model": self.best.model, **self.best.options()},
                "best_label": self.best.label(), "best_gap": self.best_gap,
                "settings": [{"setting": setting.label(), "model": setting.model, **setting.options(), "gap": gap}
                             for setting, gap in self.scores]}


def fold_of(count: int, folds: int, seed: int) -> np.ndarray:
    """Each video's fold (0..folds-1), sizes within one of each other, drawn with the seed (the same seed and count
    give the same folds)."""
    order = np.random.default_rng([seed, 11]).permutation(count)
    fold = np.empty(count, np.int64)
    fold[order] = np.arange(count) % folds
    return fold


def cross_validate(x: np.ndarray, targets: np.ndarray, *, models: Sequence[str] = ("logistic", "knn", "blend"),
                   folds: int | np.ndarray = 5, seed: int = 0, l2_grid: Sequence[float] = L2_GRID,
                   k_grid: Sequence[int] = K_GRID, alpha_grid: Sequence[float] = ALPHA_GRID,
                   classes: int | None = CV_CLASSES,
                   on_setting: Callable[[Setting, dict], None] | None = None) -> CrossValidation:
    """Score every setting of ``models`` by its pooled out-of-fold GAP; see the module docstring.

    Args:
        x: (videos, width) unit rows. targets: (videos, classes) 0/1.
        models: the candidates (``blend`` needs the other two).
        folds: how many folds (drawn with ``seed``), or each video's fold: 0..n-1, or -1 for a video that is
            never held out (a fixed validation set: the training videos -1, the validation videos 0).
        classes: score the ``classes`` classes with the most positive videos only (None: all): each class's
            logistic regression and kNN scores are independent of the others', so these are the models' exact
            predictions for those classes, and they hold most labels of a long-tailed vocabulary.
        on_setting: called with each setting and its metrics as soon as it is scored.
    """
    if classes is not None and targets.shape[1] > classes:
        kept = np.sort(np.argsort(-targets.sum(axis=0), kind="stable")[:classes])
        targets = targets[:, kept]
    fold = fold_of(len(x), folds, seed) if isinstance(folds, int) else np.asarray(folds, np.int64)
    count = int(fold.max()) + 1
    scored = fold >= 0
    truth = targets[scored] > 0
    scores: list[tuple[Setting, float]] = []
    results: dict[Setting, dict] = {}
    best: dict[str, tuple[float, Setting, np.ndarray]] = {}

    def record(setting: Setting, predictions: np.ndarray) -> float:
        result = {key: int(value) if key == "num_videos" else float(value)
                  for key, value in metrics.evaluate(predictions[scored], truth).items()}
        gap = result["gap"]
        scores.append((setting, gap))
        results[setting] = result
        if setting.model not in best or gap > best[setting.model][0]:
            best[setting.model] = (gap, setting, predictions)
        if on_setting is not None:
            on_setting(setting, result)
        return gap

    if "logistic" in models or "blend" in models:
        starts: list[LinearFit | None] = [None] * count
        last = -1.0
        for l2 in l2_grid:
            predictions = np.zeros(targets.shape, np.float32)
            for index in range(count):
                inside, outside = fold != index, fold == index
                fit = fit_logistic(x[inside], targets[inside], l2, start=starts[index],
                                   max_iterations=WARM_ITERATIONS if starts[index] else FIRST_ITERATIONS)
                starts[index] = fit
                predictions[outside] = linear_scores(fit, x[outside])
            gap = record(Setting("logistic", l2=float(l2)), predictions)
            if gap < last:  # past the best penalty: the GAP only falls from here
                break
            last = gap
    if "knn" in models or "blend" in models:
        for k in k_grid:
            predictions = np.zeros(targets.shape, np.float32)
            for index in range(count):
                inside, outside = fold != index, fold == index
                predictions[outside] = knn_scores(x[inside], targets[inside], x[outside], int(k))
            record(Setting("knn", k=int(k)), predictions)
    if "blend" in models:
        linear, knn = best["logistic"][1], best["knn"][1]
        for alpha in alpha_grid:
            mixed = alpha * best["knn"][2] + (1.0 - alpha) * best["logistic"][2]
            record(Setting("blend", l2=linear.l2, k=knn.k, alpha=float(alpha)), mixed)
    candidates = [(gap, setting) for setting, gap in scores if setting.model in models]
    gap, setting = max(candidates, key=lambda item: item[0])
    return CrossValidation(count, scores, setting, gap, results)


# ---------------------------------------------------------------------------------------------------------------------
# The chosen setting, fitted on every video, as a network


def fit_network(setting: Setting, name: str, x: np.ndarray, targets: np.ndarray, widths: tuple[int, ...]):
    """The network of ``setting`` fitted on unit rows ``x`` and (videos, classes) ``targets``: ``name`` is the
    architecture (``logistic`` or ``meanpool`` for a logistic setting; ``knn``; ``blend``)."""
    videos, classes = targets.shape
    positives = targets.sum(axis=0)
    network = build_network(MODELS[name], widths, classes, prior_logit(positives, videos), setting.options())
    length = float(np.sqrt(sum(widths)))  # the networks' UnitLength scales to sqrt(width): the weights undo it
    linear = network.linear if setting.model == "blend" else network
    if setting.model in ("logistic", "blend"):
        fit = fit_logistic(x, targets, setting.l2)
        with torch.no_grad():
            linear.linear.weight.copy_(torch.from_numpy(fit.weight / length))
            linear.linear.bias.copy_(torch.from_numpy(fit.bias))
    if setting.model in ("knn", "blend"):
        knn = network.knn if setting.model == "blend" else network
        rows, columns = np.nonzero(targets)
        offsets = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=videos)))).astype(np.int64)
        knn.set_bank(x, offsets, columns.astype(np.int64), positives / max(videos, 1))
    return network
