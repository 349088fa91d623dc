"""Training: :func:`train` reads records, chooses and fits a model, and writes a model directory.

The recipe (why: :mod:`.shallow`):

1. **inputs**: each video's vector (rgb and audio side by side; at frame level each frame) scaled to unit length,
   nothing else: the features are PCA projections whose variance says how much a dimension tells, and a vector's
   length (4 to 35 in YouTube-8M) says nothing about the labels.
2. **small data** (at most ``cv_max_videos``: 20,000 videos, 2,000 at frame level): ``--model auto`` cross-validates the shallow models, L2
   logistic regression (``logistic``; at frame level ``meanpool``, on the mean frame), similarity-weighted cosine
   kNN (``knn``) and their ``blend``, each setting scored by the GAP of its out-of-fold predictions over ``folds``
   folds, and fits the best on every video. A validation split of a few hundred videos is too noisy to choose by
   (a GAP on 60 videos has a standard deviation of about 0.05), and a strong model trained by epochs in every fold
   would cost more than it wins on so few videos.
3. **more data**: the shallow settings are chosen on the validation videos (``validation_fraction`` of them, drawn
   with the seed, or the validation files), and the level's strong model (``moe``; ``nextvlad``) is trained on the
   training videos by Adam, scoring the validation videos (GAP@20) after each epoch and stopping when ``patience``
   epochs in a row did not beat its best (a higher GAP, or the same GAP with a lower loss), or at ``epochs``. The
   better on the validation videos wins (the shallow one on a tie); it is refitted on every video (training +
   validation), the strong model from the same initial weights for its best epoch count. Without ``refit``, the
   best epoch's weights are kept instead. Without validation videos there is one phase: ``epochs`` epochs on
   everything.
4. An explicit ``--model`` runs the same steps for that model alone (a shallow one: its settings chosen as above).

Adam, binary cross-entropy summed over classes and averaged over videos (the starter code's loss), output biases at
the label priors (:mod:`.networks`).

Reproducible and resumable: every random choice is drawn from the seed and the step it belongs to: the folds, the
split and the initial weights from the seed, each epoch's shuffle and dropout from (seed, stage, epoch). The
shallow choice, once made, and after every epoch the whole state (weights, optimizer, history, results so far) go to
``checkpoint.pt`` atomically, so a run that is killed and started again continues from the last finished epoch and
ends with the same weights, bit for bit, as a run that was never interrupted (on the same device and thread count:
floating-point sums on other hardware may round differently). A choice stopped midway is made again (the same
folds give the same result). The checkpoint carries a fingerprint of the data and the settings; a run with other
data or settings refuses it rather than mixing the two.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from reelset.core.atomic import atomic_output, atomic_write_text, check_output, remove_stale_temps
from reelset.core.errors import ReelsetError, one_line
from reelset.core.locks import exclusive_lock
from reelset.features.backbones.device import resolve_device, torch_gpu_count
from reelset.yt8m import metrics
from reelset.yt8m.constants import AUTO
from reelset.yt8m.model import CHECKPOINT_FILE, FORMAT, FORMAT_VERSION, MODEL_FILE, WEIGHTS_FILE
from reelset.yt8m.training.data import (
    DEFAULT_MAX_FRAMES,
    ClassSet,
    FeatureSpace,
    VideoSet,
    concatenate,
    load_videos,
    resolve_class_set,
)
from reelset.yt8m.training.networks import (
    LEVELS,
    LINEAR_MODELS,
    MODELS,
    Architecture,
    architecture,
    build_network,
    model_options,
    prior_logits,
)
from reelset.yt8m.vocabulary import Vocabulary

AUTO_CANDIDATES = {"video": ("logistic", "knn", "blend", "moe"), "frame": ("meanpool", "knn", "blend", "nextvlad")}
DEFAULT_FOLDS = 5
FEWER_FOLDS, FEWER_FOLDS_ABOVE = 3, 2_000
CV_MAX_VIDEOS = {"video": 20_000, "frame": 2_000}  # above: one validation split, and the strong model joins
RESUME_MODES = ("auto", "require", "restart")
LOCK_FILE = ".train.lock"


class TrainingError(ReelsetError):
    """Training cannot start or go on as asked."""


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides the trained weights (device and threads aside).

    Attributes:
        level: ``video`` (one vector per video: ``mean_rgb``, or the mean of the frames) or ``frame``.
        model: ``auto`` (the better of the level's baseline and strong model on the validation videos) or an
            architecture of :data:`~reelset.yt8m.training.networks.MODELS` (``logistic``, ``moe``, ``nextvlad``,
            ``meanpool``).
        options: hyperparameters (``{"mixtures": 4}``); with ``auto``, each candidate takes those it has.
        features: the features to read (``("rgb",)``); None: rgb plus audio when every record has audio.
        classes: the outputs, label ids or names (``"1,2,Vehicle"``); None: every class of the vocabulary.
        verticals: predict the vocabulary's verticals instead of its classes.
        epochs: the most epochs of a select phase (and of the only phase without validation).
        patience: stop after this many epochs without a better validation result.
        validation_fraction: share of the videos held out for validation when no validation files are given (0:
            none, train ``epochs`` epochs).
        batch_size, learning_rate: None: the architecture's defaults.
        weight_decay: Adam's L2 penalty.
        seed: initial weights, split, shuffles and dropout.
        max_frames: frames per video a frame-level model reads (the first ones).
        refit: after early stopping, train again on all videos for the best epoch count.
        folds: cross-validation folds of the shallow models' choice on small data (below 2: a validation split);
            None: 5, or 3 above 2,000 videos (more videos, fewer folds needed: each fold's GAP is less noisy).
        cv_max_videos: the most videos the choice cross-validates; above, it holds out ``validation_fraction``
            and the strong model joins; None: 20,000 at video level, 2,000 at frame level (where what NeXtVLAD
            sees, the frames' order, is out of the shallow models' reach).
    """

    level: str = "video"
    model: str = AUTO
    options: Mapping[str, object] = field(default_factory=dict)
    features: tuple[str, ...] | None = None
    classes: str | None = None
    verticals: bool = False
    epochs: int = 30
    patience: int = 3
    validation_fraction: float = 0.1
    batch_size: int | None = None
    learning_rate: float | None = None
    weight_decay: float = 0.0
    seed: int = 0
    max_frames: int = DEFAULT_MAX_FRAMES
    refit: bool = True
    folds: int | None = None
    cv_max_videos: int | None = None


@dataclass(frozen=True)
class EpochResult:
    """One finished epoch (its checkpoint already written when :func:`train` reports it)."""

    phase: str  # "select" or "refit"
    model: str
    epoch: int  # 1-based, within its phase
    epochs: int  # planned epochs of the phase (the most, for select)
    loss: float  # mean training loss
    seconds: float  # training time of the epoch (validation excluded)
    videos: int  # training videos of the epoch
    validation: dict | None  # select phase: metrics on the validation videos, with "loss"
    best_epoch: int | None  # select phase: the best epoch so far

    def line(self) -> str:
        text = (f"{self.phase} {self.model} epoch {self.epoch}/{self.epochs}: loss {self.loss:.4f}, "
                f"{self.videos / max(self.seconds, 1e-9):.0f} videos/s")
        if self.validation:
            text += (f", validation GAP {self.validation['gap']:.4f} (loss {self.validation['loss']:.4f}), "
                     f"best epoch {self.best_epoch}")
        return text


@dataclass(frozen=True)
class TrainSummary:
    """What :func:`train` made (also in ``model.json``)."""

    out: Path
    model: str
    level: str
    backbone: str
    features: tuple[str, ...]
    features_reason: str
    classes: int
    target: str
    videos: int  # training videos of the select phase (all videos when there is no validation)
    validation_videos: int
    best_epoch: int | None
    final_epochs: int  # epochs of the weights written
    validation: dict | None  # the chosen model's metrics at its best select epoch
    candidates: dict  # model -> {"best_epoch", "validation"} of each model tried (auto)
    seconds: float  # training time (all phases, this run and the runs it resumed)
    videos_per_second: float
    refit: bool  # the weights were trained again on all videos for the best epoch count
    resumed_at: str | None = None  # "select moe epoch 3" when this run continued a checkpoint
    already_trained: bool = False
    selection: str | None = None  # how the model was chosen: "5-fold cross-validation", "validation videos"
    setting: str | None = None  # a shallow model's chosen setting: "knn k=10"

    def lines(self) -> list[str]:
        """The summary as plain result lines."""
        lines = [f"model: {self.out} ({self.model}, {self.level} level, {self.backbone} "
                 f"{'+'.join(self.features)}, {self.classes} {self.target})",
                 f"features: {self.features_reason}"]
        if self.already_trained:
            lines.append("already trained with these data and settings: nothing to do (--restart trains again)")
        if self.resumed_at:
            lines.append(f"resumed from the checkpoint after {self.resumed_at}")
        lines.append(f"videos: {self.videos} training, {self.validation_videos} validation")
        if len(self.candidates) > 1:
            tried = ", ".join(f"{name} {result['validation']['gap']:.4f}" for name, result in self.candidates.items())
            lines.append(f"chosen: {self.model} ({self.selection or 'validation'} GAP: {tried})")
        if self.validation:
            where = f"at epoch {self.best_epoch}" if self.best_epoch is not None else f"with {self.setting}"
            lines.append(f"{self.selection or 'validation'}: GAP {self.validation['gap']:.4f}, "
                         f"mAP {self.validation['map']:.4f}, Hit@1 {self.validation['hit_at_1']:.4f}, "
                         f"PERR {self.validation['perr']:.4f} {where}")
        if self.best_epoch is None and self.setting:
            lines.append(f"weights: fitted on {'all ' if self.refit else ''}the videos ({self.setting})")
        else:
            lines.append(f"weights: {self.final_epochs} epochs" + (" on all videos (refit)" if self.refit else ""))
        lines.append(f"training: {self.seconds:.1f} s, {self.videos_per_second:.0f} videos/s")
        return lines


# ---------------------------------------------------------------------------------------------------------------------
# One network's training


def _batches(count: int, batch_size: int, generator: np.random.Generator) -> list[np.ndarray]:
    order = generator.permutation(count)
    batches = [order[start:start + batch_size] for start in range(0, count, batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:  # batch norm needs two videos: a lone last one joins the others
        batches[-2] = np.concatenate(batches[-2:])
        batches.pop()
    return batches


def _loss(log_p: torch.Tensor, log_q: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * log_p + (1.0 - targets) * log_q).sum(dim=1).mean()


def masked_loss(log_p: torch.Tensor, log_q: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The binary cross-entropy of the outputs where ``mask`` is 1, summed per row and averaged over rows.

    A segment rating says nothing of the segment's other classes: their outputs (mask 0) add nothing to the loss
    and get no gradient (``log_p``/``log_q`` are finite, so ``0 * term`` is exactly 0).
    """
    return -(mask * (targets * log_p + (1.0 - targets) * log_q)).sum(dim=1).mean()


class _Trainer:
    """Fresh networks, epochs and scores for one architecture."""

    def __init__(self, spec: Architecture, options: dict, settings: TrainSettings, space: FeatureSpace,
                 num_classes: int, device: str):
        self.spec, self.options, self.settings, self.space = spec, options, settings, space
        self.num_classes, self.device = num_classes, device
        self.batch_size = settings.batch_size or spec.batch_size
        self.learning_rate = settings.learning_rate or spec.learning_rate

    def fresh(self, videos: VideoSet) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        """The initial network for ``videos`` (priors and input statistics from them) and its optimizer: the same
        weights for the same seed, whatever the state of torch's global random generator (left as it was)."""
        widths = tuple(self.space.widths[name] for name in self.space.features)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.settings.seed)
            network = build_network(self.spec, widths, self.num_classes,
                                    prior_logits(videos.positives(self.num_classes), len(videos)), self.options)
        network.to(self.device)
        optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate,
                                     weight_decay=self.settings.weight_decay)
        return network, optimizer

    def _tensors(self, videos: VideoSet, indices: np.ndarray):
        x, mask = videos.inputs(indices)
        return (torch.from_numpy(x).to(self.device), None if mask is None else torch.from_numpy(mask).to(self.device),
                torch.from_numpy(videos.targets(indices, self.num_classes)).to(self.device))

    def epoch(self, network, optimizer, videos: VideoSet, seed: int, on_batch=None) -> float:
        """One epoch over ``videos``, shuffled and with dropout drawn from ``seed``; returns the mean loss."""
        batches = _batches(len(videos), self.batch_size, np.random.default_rng(seed))
        network.train()
        total, done = 0.0, 0
        devices = [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)  # dropout
            for indices in batches:
                x, mask, targets = self._tensors(videos, indices)
                loss = _loss(*network(x, mask), targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(indices)
                done += len(indices)
                if on_batch is not None:
                    on_batch(done, len(videos))
        return total / max(done, 1)

    def score(self, network, videos: VideoSet) -> dict:
        """Metrics (:func:`reelset.yt8m.metrics.evaluate`) and loss on ``videos``."""
        network.eval()
        chunks, loss = [], 0.0
        with torch.inference_mode():
            for start in range(0, len(videos), self.batch_size):
                indices = np.arange(start, min(start + self.batch_size, len(videos)))
                x, mask, targets = self._tensors(videos, indices)
                log_p, log_q = network(x, mask)
                loss += float(_loss(log_p, log_q, targets)) * len(indices)
                chunks.append(log_p.exp().float().cpu().numpy())
        truth = videos.targets(np.arange(len(videos)), self.num_classes) > 0
        result = metrics.evaluate(np.concatenate(chunks), truth)
        # Plain Python numbers: the checkpoint is read back with weights_only (no numpy scalars) and goes to JSON.
        return {**{key: int(value) if key == "num_videos" else float(value) for key, value in result.items()},
                "loss": loss / len(videos)}


def _state_copy(network: torch.nn.Module) -> dict:
    return {key: value.detach().cpu().clone() for key, value in network.state_dict().items()}


def _optimizer_to(optimizer: torch.optim.Optimizer, device: str) -> None:
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and key != "step":
                state[key] = value.to(device)


def _better(result: dict, best: dict | None) -> bool:
    """A higher validation GAP, or the same GAP (e.g. a perfect 1.0) with a lower loss."""
    return best is None or (result["gap"], -result["loss"]) > (best["gap"], -best["loss"])


# ---------------------------------------------------------------------------------------------------------------------
# The run


def _candidates(settings: TrainSettings) -> list[tuple[Architecture, dict]]:
    """The architectures to train, with their options: one, or for ``auto`` the level's shallow models (logistic
    regression, kNN, their blend) and its strong one (``moe``, ``nextvlad``)."""
    if settings.level not in LEVELS:
        raise TrainingError(f"--level {settings.level!r}: expected one of {', '.join(LEVELS)}")
    if settings.model != AUTO:
        spec = architecture(settings.model, settings.level)
        return [(spec, model_options(spec, settings.options))]
    specs = [MODELS[name] for name in AUTO_CANDIDATES[settings.level]]
    known = {key for spec in specs for key in spec.options}
    for key in settings.options:
        if key not in known:
            raise TrainingError(f"--option {key}: no {settings.level}-level model of --model auto has it (options: "
                                f"{', '.join(sorted(known)) or 'none'})")
    return [(spec, model_options(spec, {k: v for k, v in settings.options.items() if k in spec.options}))
            for spec in specs]


def _cross_validates(settings: TrainSettings, candidates: list[tuple[Architecture, dict]], videos: int,
                     validation_files: bool) -> bool:
    """Whether the shallow models' choice is made by cross-validation: there is one to make, no validation files
    were given, ``folds`` is at least 2 and there are at most ``cv_max_videos`` videos (small data: a validation
    split would be too few videos to tell the settings apart). ``auto`` then tries the shallow models only: the
    strong ones need more data than that to win (and epochs in every fold)."""
    most = settings.cv_max_videos if settings.cv_max_videos is not None else CV_MAX_VIDEOS[settings.level]
    return (any(spec.shallow for spec, _ in candidates) and not validation_files and _folds(settings, videos) >= 2
            and videos <= most)


def _folds(settings: TrainSettings, videos: int) -> int:
    if settings.folds is not None:
        return settings.folds
    return DEFAULT_FOLDS if videos <= FEWER_FOLDS_ABOVE else FEWER_FOLDS


def _epoch_seed(seed: int, stage: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, stage, epoch]).generate_state(1)[0])


@dataclass
class TrainingState:
    """Where a run of :func:`train` stands after its last finished epoch: what ``checkpoint.pt`` holds.

    The run follows a plan of stages (:func:`_plan`): a ``select`` stage per candidate when there are validation
    videos, then the ``refit`` of the chosen one; else one ``refit`` stage on every video. On disk the state is a
    plain dict of these fields, by name and in this order (:meth:`to_checkpoint`), read back with
    ``weights_only=True`` (tensors, numbers, strings, lists, dicts and None only).

    Attributes:
        fingerprint: the data and settings the run belongs to (a run of other ones refuses the checkpoint).
        stage: the index in the plan of the stage under way (the plan's length: every stage done).
        epoch: the epochs that stage has finished (0: it starts from its fresh network).
        bad_epochs: select stage: the epochs in a row since its last better validation result (early stopping).
        history: one entry per finished epoch of every stage (phase, model, epoch, loss, seconds, and for a select
            epoch its validation metrics): ``model.json``'s history.
        results: candidate name -> ``{"best_epoch", "validation"}``: its best select epoch so far and its metrics.
        network: the ``state_dict`` of the stage's network after its last finished epoch (None at epoch 0).
        optimizer: the ``state_dict`` of the stage's optimizer then (None at epoch 0).
        best_network: select stage without ``refit``: the weights of its best epoch so far; else None.
        leader: the model chosen so far: the best candidate of the finished select stages, or the model of a
            finished refit stage.
        leader_network: without ``refit``: the leader's best select weights (the weights the model gets); None when
            the last stage's network is the model.
        seconds: the training time of every epoch so far (this run and the runs it resumed).
        videos_trained: the videos trained on over those epochs (for videos/s).
        shallow: the shallow models' choice, once made (:func:`_select_shallow`): the best setting, its metrics
            on the held-out videos, every setting's GAP.
    """

    fingerprint: str
    stage: int = 0
    epoch: int = 0
    bad_epochs: int = 0
    history: list[dict] = field(default_factory=list)
    results: dict[str, dict] = field(default_factory=dict)
    network: dict[str, torch.Tensor] | None = None
    optimizer: dict | None = None
    best_network: dict[str, torch.Tensor] | None = None
    leader: str | None = None
    leader_network: dict[str, torch.Tensor] | None = None
    seconds: float = 0.0
    videos_trained: int = 0
    shallow: dict | None = None

    def to_checkpoint(self) -> dict:
        """The checkpoint's dict: every field under its name, in order (the objects themselves, not copies)."""
        return {item.name: getattr(self, item.name) for item in fields(self)}

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping) -> TrainingState:
        """The state a checkpoint's dict (:meth:`to_checkpoint`, read back) holds."""
        return cls(**{item.name: checkpoint[item.name] for item in fields(cls) if item.name in checkpoint})

    def next_stage(self) -> None:
        """Move on to the plan's next stage, which starts from its fresh network."""
        self.stage += 1
        self.epoch = self.bad_epochs = 0
        self.network = self.optimizer = self.best_network = None


def _save_checkpoint(path: Path, state: TrainingState) -> None:
    with atomic_output(path) as tmp:
        torch.save(state.to_checkpoint(), tmp)


def _vocabulary_source(vocabulary: Vocabulary | None) -> dict | None:
    if vocabulary is None:
        return None
    source = {"source": vocabulary.source, "version": vocabulary.version, "classes": vocabulary.size}
    if vocabulary.path is not None and Path(vocabulary.path).exists():
        source["path"] = str(Path(vocabulary.path).resolve())
        source["sha256"] = hashlib.sha256(Path(vocabulary.path).read_bytes()).hexdigest()
    return source


def _split(count: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) indices: ``round(count * fraction)`` videos (at least one when the fraction is not 0
    and there are two videos) drawn with the seed, both in file order."""
    if fraction <= 0 or count < 2:
        return np.arange(count), np.arange(0)
    held = min(count - 1, max(1, round(count * fraction)))
    chosen = np.sort(np.random.default_rng([seed, 7]).permutation(count)[:held])
    keep = np.ones(count, bool)
    keep[chosen] = False
    return np.flatnonzero(keep), chosen


def _prepare_out(out: Path, fingerprint: str, resume: str) -> tuple[TrainingState | None, dict | None]:
    """(checkpoint to resume or None, finished model.json with this fingerprint or None)."""
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    checkpoint_path, config_path = out / CHECKPOINT_FILE, out / MODEL_FILE
    if resume == "restart":
        for name in (CHECKPOINT_FILE, MODEL_FILE, WEIGHTS_FILE):
            (out / name).unlink(missing_ok=True)
        return None, None
    if checkpoint_path.exists():
        try:
            checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError) as error:
            raise TrainingError(f"{checkpoint_path}: unreadable checkpoint ({one_line(error, first_line=True)}): "
                                f"--restart discards it") from None
        if not isinstance(checkpoint, dict) or checkpoint.get("fingerprint") != fingerprint:
            raise TrainingError(f"{checkpoint_path} is the checkpoint of another training (other data or settings): "
                                f"--restart discards it, or choose another --out")
        return TrainingState.from_checkpoint(checkpoint), None
    if config_path.exists():
        try:
            finished = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            finished = {}
        if finished.get("training", {}).get("fingerprint") == fingerprint and (out / WEIGHTS_FILE).exists():
            return None, finished
        raise TrainingError(f"{out} already holds a model trained on other data or settings: --restart replaces it, "
                            f"or choose another --out")
    if resume == "require":
        raise TrainingError(f"--resume: {out} has no checkpoint to resume")
    return None, None


def _summary(out: Path, config: dict, *, resumed_at: str | None = None, already: bool = False) -> TrainSummary:
    training = config["training"]
    return TrainSummary(
        out=out, model=config["model"], level=config["level"], backbone=config["backbone"],
        features=tuple(config["features"]), features_reason=config["features_reason"],
        classes=len(config["classes"]["ids"]), target=config["classes"]["target"], videos=training["videos"],
        validation_videos=training["validation_videos"], best_epoch=training["best_epoch"],
        final_epochs=training["final_epochs"], validation=training["validation"],
        candidates=training["candidates"], seconds=training["seconds"],
        videos_per_second=training["videos_per_second"], refit=training["refit"], resumed_at=resumed_at,
        already_trained=already, selection=training.get("selection"), setting=training.get("setting"))


@dataclass
class _Job:
    """A training ready to run: settings, what the data turned out to be, and the fingerprint of both."""

    settings: TrainSettings
    candidates: list[tuple[Architecture, dict]]  # trained by epochs (moe, nextvlad)
    shallow: list[tuple[Architecture, dict]]  # fitted without epochs, settings chosen on held-out videos
    cross_validate: bool  # the shallow choice is made by folds of the training videos (no validation videos)
    class_set: ClassSet
    space: FeatureSpace
    reason: str
    training: VideoSet
    validation: VideoSet
    paths: list[Path]
    validation_paths: list[Path]
    vocabulary: Vocabulary | None
    device: str
    fingerprint: str


def train(
    paths: Sequence[Path],
    out: Path,
    settings: TrainSettings = TrainSettings(),
    *,
    validation_paths: Sequence[Path] | None = None,
    vocabulary: Vocabulary | None = None,
    device: str = "auto",
    resume: str = "auto",
    on_epoch: Callable[[EpochResult], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    on_record: Callable[[], None] | None = None,
) -> TrainSummary:
    """Train a classifier on the records of ``paths`` and write it to the model directory ``out``.

    Args:
        validation_paths: validation records (instead of holding out ``settings.validation_fraction``).
        vocabulary: names, verticals and the range of label ids (None: ids only, 3,862 classes).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        resume: ``auto`` (continue a matching checkpoint in ``out``, else start), ``require`` (there must be one),
            ``restart`` (discard checkpoint and model, start over).
        on_epoch: called after each epoch, once its checkpoint is written (an exception raised there stops the run
            at that point: the next run resumes from it).
        on_batch: ``(videos done, videos)`` within an epoch; ``on_record``: after each record read.

    Returns:
        What was trained and how well (also in ``out/model.json``). A rerun of a finished training with the same
        data and settings returns its summary without training.

    Raises:
        ReelsetError: bad settings, ``out`` not writable, records that cannot be trained on (see
            :func:`~.data.load_videos`), a checkpoint or model of another training in ``out``, an unavailable
            device; a run that fails before its first checkpoint leaves no new folder or lock file in ``out``.
    """
    out = Path(out)
    if resume not in RESUME_MODES:
        raise TrainingError(f"resume={resume!r}: expected one of {', '.join(RESUME_MODES)}")
    check_output(out, folder=True)  # before the records are read: that may take long
    if resume == "require" and not any((out / name).is_file() for name in (CHECKPOINT_FILE, MODEL_FILE)):
        raise TrainingError(f"--resume: {out} has no checkpoint to resume")  # as _prepare_out says, sooner
    if settings.epochs < 1 or settings.patience < 1 or not 0 <= settings.validation_fraction < 1:
        raise TrainingError("epochs and patience must be at least 1, the validation fraction in [0, 1)")
    candidates = _candidates(settings)
    resolved_device = resolve_device(device, gpus=torch_gpu_count())
    class_set: ClassSet = resolve_class_set(vocabulary, classes=settings.classes, verticals=settings.verticals)
    paths = [Path(path) for path in paths]
    if not paths:
        raise TrainingError("no input files")
    everything, reason = load_videos(paths, level=settings.level, class_set=class_set, features=settings.features,
                                     max_frames=settings.max_frames, on_record=on_record)
    space = everything.space
    cross_validate = _cross_validates(settings, candidates, len(everything), bool(validation_paths))
    if cross_validate and settings.model == AUTO:  # small data: the shallow models, chosen by their folds
        candidates = [(spec, options) for spec, options in candidates if spec.shallow]
    if validation_paths:
        validation, _ = load_videos([Path(p) for p in validation_paths], level=settings.level, class_set=class_set,
                                    space=space, max_frames=settings.max_frames, on_record=on_record)
        training = everything
    elif cross_validate:
        training, validation = everything, everything.subset(np.arange(0))
    else:
        train_indices, validation_indices = _split(len(everything), settings.validation_fraction, settings.seed)
        training, validation = everything.subset(train_indices), everything.subset(validation_indices)
    del everything
    if not cross_validate and not len(validation):
        if settings.model == AUTO:  # nothing to choose on: the strong model, trained on everything
            candidates = [(spec, options) for spec, options in candidates if not spec.shallow]
        elif candidates[0][0].shallow and not all(candidates[0][1].values()):
            raise TrainingError(f"--model {settings.model}: its settings are chosen on held-out videos, and there "
                                f"are none: keep --validation-fraction above 0 or --folds at 2 or more")

    # The options as each candidate resolved them: "4" from the command line and 4 from Python are the same run.
    resolved = {**asdict(settings), "options": {spec.name: options for spec, options in candidates}}
    digest = hashlib.sha256(json.dumps({"settings": resolved, "classes": class_set.to_json(),
                                        "features": list(space.features)}, sort_keys=True, default=str).encode())
    training.fingerprint(digest)
    validation.fingerprint(digest)
    job = _Job(settings, [c for c in candidates if not c[0].shallow], [c for c in candidates if c[0].shallow],
               cross_validate, class_set, space, reason, training, validation, paths,
               [Path(p) for p in validation_paths or []], vocabulary, resolved_device, digest.hexdigest())
    created = not out.is_dir()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive_lock(out / LOCK_FILE, f"{out}: another training is running in this model directory"):
            return _execute(job, out, resume, on_epoch, on_batch)
    except BaseException:
        if created:  # stopped before its first checkpoint (out of memory, Ctrl-C): no empty folder is left
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


@dataclass
class _Run:
    """A job's plan under way in its (locked) model directory: what every stage needs besides the state."""

    job: _Job
    plan: list[tuple[str, int | None]]  # (phase, candidate index; None: the chosen candidate), see _plan
    refit: bool  # the chosen candidate is trained again on every video
    trainers: list[_Trainer]  # one per candidate
    final_videos: VideoSet  # what a refit stage trains on: training and validation videos when refitting
    checkpoint_path: Path
    on_epoch: Callable[[EpochResult], None] | None
    on_batch: Callable[[int, int], None] | None


def _execute(job: _Job, out: Path, resume: str, on_epoch, on_batch) -> TrainSummary:
    """Run (or resume) ``job``'s plan in ``out`` (locked) and write the model directory.

    First the shallow models' choice (:func:`_select_shallow`, checkpointed once made), then the stages from where
    the checkpoint left off: :func:`_select_stage` for each candidate trained by epochs (which ends with
    :func:`_choose`), :func:`_refit_stage` for the chosen one or the only one, then :func:`_write_model`; or, when
    a shallow model leads, :func:`_write_shallow_model`.
    """
    checkpoint, finished = _prepare_out(out, job.fingerprint, resume)
    if finished is not None:
        return _summary(out, finished, already=True)
    has_validation = len(job.validation) > 0
    refit = has_validation and job.settings.refit
    run = _Run(job, _plan(len(job.candidates), has_validation, refit), refit,
               [_Trainer(spec, options, job.settings, job.space, len(job.class_set), job.device)
                for spec, options in job.candidates],
               concatenate(job.training, job.validation) if refit else job.training,
               out / CHECKPOINT_FILE, on_epoch, on_batch)
    state = checkpoint if checkpoint is not None else TrainingState(job.fingerprint)
    resumed_at = _resumed_at(run, state) if checkpoint is not None else None
    if job.shallow and state.shallow is None:
        state.shallow = _select_shallow(job, on_epoch)
        if run.plan:
            _save_checkpoint(run.checkpoint_path, state)
    network = None
    while state.stage < len(run.plan):
        phase, index = run.plan[state.stage]
        if phase == "refit" and index is None and _shallow_leads(state):
            state.next_stage()  # a shallow model beat the others on the validation videos: nothing to refit
            continue
        network = _select_stage(run, state, index) if phase == "select" else _refit_stage(run, state, index)
        state.next_stage()
        if state.stage < len(run.plan):
            _save_checkpoint(run.checkpoint_path, state)
    if state.shallow is not None and (not run.plan or _shallow_leads(state)):
        return _write_shallow_model(run, out, state, resumed_at)
    return _write_model(run, out, state, network, resumed_at)


@dataclass(frozen=True)
class SettingResult:
    """One shallow setting scored on the held-out videos (reported through ``on_epoch``, like an epoch)."""

    selection: str  # "5-fold cross-validation" or "validation videos"
    setting: str  # "knn k=10"
    validation: dict

    def line(self) -> str:
        return f"{self.selection}: {self.setting}: GAP {self.validation['gap']:.4f}"


def _shallow_names(job: _Job) -> dict[str, str]:
    """The shallow choice's model (logistic, knn, blend) -> the architecture that runs it (at frame level the
    logistic regression is ``meanpool``: the mean frame)."""
    return {("logistic" if spec.name in LINEAR_MODELS.values() else spec.name):
            (LINEAR_MODELS[job.space.level] if spec.name in LINEAR_MODELS.values() else spec.name)
            for spec, _ in job.shallow}


_GRIDS_OF = {"logistic": ("l2",), "knn": ("k",), "blend": ("l2", "k", "alpha")}


def _select_shallow(job: _Job, on_epoch) -> dict:
    """Choose the shallow model and its setting on held-out videos: the training videos' folds (small data), or the
    validation videos. What is chosen, its metrics and every setting's GAP, as plain data (for the checkpoint)."""
    from reelset.yt8m.training import shallow

    settings, classes = job.settings, len(job.class_set)
    options: dict = {}
    for _, given in job.shallow:
        options.update({key: value for key, value in given.items() if value})
    grids = {"l2_grid": (options["l2"],) if "l2" in options else shallow.L2_GRID,
             "k_grid": (options["k"],) if "k" in options else shallow.K_GRID,
             "alpha_grid": (options["alpha"],) if "alpha" in options else shallow.ALPHA_GRID}
    if job.cross_validate:
        videos = job.training
        folds = min(_folds(settings, len(videos)), len(videos))
        selection = f"{folds}-fold cross-validation"
    else:
        videos = concatenate(job.training, job.validation)
        folds = np.concatenate((np.full(len(job.training), -1), np.zeros(len(job.validation)))).astype(np.int64)
        selection = "validation videos"
    names = _shallow_names(job)
    if len(names) == 1 and all(len(grids[f"{key}_grid"]) == 1 for key in _GRIDS_OF[next(iter(names))]):
        model = next(iter(names))  # one setting, given in full: nothing to choose
        setting = shallow.Setting(model, **{key: (int if key == "k" else float)(grids[f"{key}_grid"][0])
                                            for key in _GRIDS_OF[model]})
        return {"model": names[model], "options": setting.options(), "setting": setting.label(),
                "selection": "given", "validation": None, "candidates": {}, "cross_validation": None,
                "seconds": 0.0}
    x = shallow.unit_rows(videos.mean_vectors())
    targets = videos.targets(np.arange(len(videos)), classes)
    started = time.perf_counter()

    def on_setting(setting, result):
        if on_epoch is not None:
            on_epoch(SettingResult(selection, setting.label(), result))

    chosen = shallow.cross_validate(x, targets, models=tuple(names), folds=folds, seed=settings.seed,
                                    on_setting=on_setting, **grids)
    return {"model": names[chosen.best.model], "options": chosen.best.options(), "setting": chosen.best.label(),
            "selection": selection, "validation": chosen.results[chosen.best],
            "candidates": {names[model]: {"setting": chosen.best_of(model)[0].label(),
                                          "validation": chosen.best_of(model)[1]}
                           for model in names},
            "cross_validation": chosen.to_json(), "seconds": time.perf_counter() - started}


def _write_shallow_model(run: _Run, out: Path, state: TrainingState, resumed_at: str | None) -> TrainSummary:
    """Fit the chosen shallow model on every video (the held-out ones too, unless ``refit`` is off with validation
    videos) and write the model directory."""
    from reelset.yt8m.training import shallow

    job, chosen = run.job, state.shallow
    videos = job.training if job.cross_validate or not job.settings.refit else concatenate(job.training,
                                                                                          job.validation)
    started = time.perf_counter()
    model = chosen["model"]
    kind = "logistic" if model in LINEAR_MODELS.values() else model
    setting = shallow.Setting(kind, **chosen["options"])
    network = shallow.fit_network(setting, model, shallow.unit_rows(videos.mean_vectors()),
                                  videos.targets(np.arange(len(videos)), len(job.class_set)),
                                  tuple(job.space.widths[name] for name in job.space.features))
    seconds = chosen["seconds"] + time.perf_counter() - started
    state.seconds += seconds
    state.videos_trained += len(videos)
    config = _config(run, state, model, chosen["options"], {
        "selection": chosen["selection"], "setting": chosen["setting"], "shallow": chosen,
        "candidates": {**chosen["candidates"], **state.results}, "best_epoch": None, "final_epochs": 0,
        "refit": videos is not job.training or job.cross_validate, "validation": chosen["validation"],
        "fitted_videos": len(videos)})
    with atomic_output(out / WEIGHTS_FILE) as tmp:
        torch.save(_state_copy(network), tmp)
    atomic_write_text(out / MODEL_FILE, json.dumps(config, indent=1, default=_json_default) + "\n")
    run.checkpoint_path.unlink(missing_ok=True)
    return _summary(out, config, resumed_at=resumed_at)


def _shallow_leads(state: TrainingState) -> bool:
    """A shallow model's held-out GAP is at least the best of the models trained by epochs (the simpler wins ties)."""
    if state.shallow is None:
        return False
    rivals = [result["validation"]["gap"] for name, result in state.results.items()]
    if not rivals:
        return True
    return state.shallow["validation"] is not None and state.shallow["validation"]["gap"] >= max(rivals)


def _plan(candidates: int, has_validation: bool, refit: bool) -> list[tuple[str, int | None]]:
    """The stages as (phase, candidate index): select each candidate on the validation videos, then refit the
    chosen one (None: known only once the select stages are done); without validation videos, train the last
    (strong) candidate on everything. A stage's position is part of the seeds of its epochs and of the checkpoint.
    """
    if not candidates:
        return []
    plan = [("select", index) for index in range(candidates)] if has_validation else [("refit", candidates - 1)]
    if refit:
        plan.append(("refit", None))
    return plan


def _resumed_at(run: _Run, state: TrainingState) -> str:
    """Where a checkpoint left off, for the summary: ``"select moe epoch 3"``."""
    phase, index = run.plan[state.stage] if state.stage < len(run.plan) else ("done", None)
    name = run.job.candidates[index][0].name if index is not None else state.leader or "-"
    return f"{phase} {name} epoch {state.epoch}"


def _stage_network(run: _Run, state: TrainingState, trainer: _Trainer,
                   videos: VideoSet) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The stage's network and optimizer: fresh for ``videos``, then, when the checkpoint is within the stage, with
    the weights and optimizer state of its last finished epoch (a resumed stage goes on where it stopped)."""
    network, optimizer = trainer.fresh(videos)
    if state.epoch > 0:
        network.load_state_dict(state.network)
        optimizer.load_state_dict(state.optimizer)
        _optimizer_to(optimizer, run.job.device)
    return network, optimizer


def _train_epoch(run: _Run, state: TrainingState, trainer: _Trainer, network: torch.nn.Module,
                 optimizer: torch.optim.Optimizer, videos: VideoSet) -> tuple[int, float, float]:
    """Train the stage's next epoch, shuffled and with dropout from (seed, stage, epoch) so that a resumed run draws
    the same, and count its time and videos; returns (epoch, mean loss, seconds)."""
    epoch = state.epoch + 1
    started = time.perf_counter()
    loss = trainer.epoch(network, optimizer, videos, _epoch_seed(run.job.settings.seed, state.stage, epoch),
                         run.on_batch)
    seconds = time.perf_counter() - started
    state.seconds += seconds
    state.videos_trained += len(videos)
    return epoch, loss, seconds


def _end_epoch(run: _Run, state: TrainingState, network: torch.nn.Module, optimizer: torch.optim.Optimizer,
               result: EpochResult) -> None:
    """Record a finished epoch (history, the stage's weights and optimizer state) and write the checkpoint before
    ``on_epoch`` hears of it: whatever happens from then on, the next run resumes after this epoch."""
    state.history.append({"phase": result.phase, "model": result.model, "epoch": result.epoch, "loss": result.loss,
                          "seconds": result.seconds,
                          **({"validation": result.validation} if result.validation else {})})
    state.epoch = result.epoch
    state.network, state.optimizer = _state_copy(network), optimizer.state_dict()
    _save_checkpoint(run.checkpoint_path, state)
    if run.on_epoch is not None:
        run.on_epoch(result)


def _select_stage(run: _Run, state: TrainingState, index: int) -> torch.nn.Module:
    """Fit candidate ``index`` on the training videos, scoring the validation videos after each epoch, until
    ``patience`` epochs in a row did not beat its best or ``epochs`` epochs: its best epoch count and metrics (in
    ``state.results``) decide the choice and the length of the refit. Returns the network of its last epoch."""
    settings, trainer, videos = run.job.settings, run.trainers[index], run.job.training
    network, optimizer = _stage_network(run, state, trainer, videos)
    name = trainer.spec.name
    result = state.results.get(name)
    while state.epoch < settings.epochs and state.bad_epochs < settings.patience:
        epoch, loss, seconds = _train_epoch(run, state, trainer, network, optimizer, videos)
        scored = trainer.score(network, run.job.validation)
        if result is None or _better(scored, result["validation"]):
            result = {"best_epoch": epoch, "validation": scored}
            state.results[name] = result
            state.bad_epochs = 0
            if not settings.refit:
                state.best_network = _state_copy(network)
        else:
            state.bad_epochs += 1
        _end_epoch(run, state, network, optimizer, EpochResult("select", name, epoch, settings.epochs, loss, seconds,
                                                                len(videos), scored, result["best_epoch"]))
    _choose(state, name, result)
    return network


def _choose(state: TrainingState, name: str, result: dict) -> None:
    """The candidate choice (``--model auto``): after its select stage, ``name`` leads when its best validation
    result beats the leader's (the first candidate leads at first), with its best weights when there is no refit."""
    leader = state.results.get(state.leader) if state.leader else None
    if leader is None or _better(result["validation"], leader["validation"]):
        state.leader = name
        state.leader_network = state.best_network


def _refit_stage(run: _Run, state: TrainingState, index: int | None) -> torch.nn.Module:
    """Train on every video the model gets (no scoring: there are no videos left to score on): the chosen candidate
    (``index`` None) for its best epoch count, or without validation videos the only stage, ``epochs`` epochs.
    Its model leads, with the weights of its last epoch: the returned network."""
    if index is None:  # the refit of the chosen model
        index = next(i for i, (spec, _) in enumerate(run.job.candidates) if spec.name == state.leader)
        planned = state.results[state.leader]["best_epoch"]
    else:
        planned = run.job.settings.epochs
    trainer, videos = run.trainers[index], run.final_videos
    network, optimizer = _stage_network(run, state, trainer, videos)
    name = trainer.spec.name
    while state.epoch < planned:
        epoch, loss, seconds = _train_epoch(run, state, trainer, network, optimizer, videos)
        _end_epoch(run, state, network, optimizer,
                   EpochResult("refit", name, epoch, planned, loss, seconds, len(videos), None, None))
    state.leader = name
    state.leader_network = None
    return network


def _write_model(run: _Run, out: Path, state: TrainingState, network: torch.nn.Module | None,
                 resumed_at: str | None) -> TrainSummary:
    """Write the finished training as a model directory (weights, then ``model.json``, each atomically) and drop the
    checkpoint. The weights: the last stage's ``network``, or without refit the leader's best select epoch's."""
    index = [spec.name for spec, _ in run.job.candidates].index(state.leader)
    if state.leader_network is not None:  # no refit: the best select epoch's weights
        network, _ = run.trainers[index].fresh(run.job.training)
        network.load_state_dict(state.leader_network)
    config = _model_config(run, state, index)
    with atomic_output(out / WEIGHTS_FILE) as tmp:
        torch.save(_state_copy(network), tmp)
    atomic_write_text(out / MODEL_FILE, json.dumps(config, indent=1, default=_json_default) + "\n")
    run.checkpoint_path.unlink(missing_ok=True)
    return _summary(out, config, resumed_at=resumed_at)


def _model_config(run: _Run, state: TrainingState, index: int) -> dict:
    """``model.json`` of the finished training of candidate ``index`` (trained by epochs)."""
    job, settings = run.job, run.job.settings
    spec, options = job.candidates[index]
    result = state.results.get(state.leader)
    return _config(run, state, spec.name, options, {
        "settings_extra": {"batch_size": run.trainers[index].batch_size,
                           "learning_rate": run.trainers[index].learning_rate},
        "selection": "validation videos" if result else None, "setting": None, "shallow": state.shallow,
        "candidates": {**(state.shallow or {}).get("candidates", {}), **state.results},
        "best_epoch": result["best_epoch"] if result else None,
        "final_epochs": result["best_epoch"] if result else settings.epochs,
        "refit": run.refit, "validation": result["validation"] if result else None})


def _config(run: _Run, state: TrainingState, model: str, options: dict, training: dict) -> dict:
    """``model.json``: what prediction needs to rebuild ``model`` with ``options``, and under ``training`` how it
    was made (settings, files, the choice, history, speed) with the ``training`` entries given."""
    job, settings = run.job, run.job.settings
    extra = training.pop("settings_extra", {})
    return {
        "format": FORMAT, "version": FORMAT_VERSION, "model": model, "options": options, "inputs": "unit",
        "level": job.space.level, "backbone": job.space.backbone, "features": list(job.space.features),
        "widths": dict(job.space.widths), "record_keys": job.space.record_keys(), "features_reason": job.reason,
        "max_frames": job.space.max_frames, "classes": job.class_set.to_json(),
        "vocabulary": _vocabulary_source(job.vocabulary),
        "training": {
            "fingerprint": job.fingerprint,
            "settings": {**asdict(settings), "options": options, **extra},
            "files": [str(path) for path in job.paths],
            "validation_files": [str(path) for path in job.validation_paths],
            "videos": len(job.training), "validation_videos": len(job.validation),
            **training, "history": state.history,
            "seconds": state.seconds, "videos_per_second": state.videos_trained / max(state.seconds, 1e-9),
            "device": job.device, "threads": torch.get_num_threads(), "torch": torch.__version__,
        },
    }


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (Path, os.PathLike)):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


__all__ = ["AUTO", "AUTO_CANDIDATES", "EpochResult", "TrainSettings", "TrainSummary", "TrainingError", "masked_loss",
           "train"]
