"""Fine-tuning a frame-level model on the segment ratings of v3 records: :func:`fine_tune_segments`
(``reelset yt8m train --segments --from MODEL_DIR``).

The 2019 challenge's v3 records (``3/frame/validate``) rate a few 5-second segments of each video for one class,
0 or 1 (``segment_labels``, ``segment_start_times``, ``segment_scores``). The teams that did well trained a
video-level-labelled frame model first, then fine-tuned it on these ratings for a few thousand steps. So does
this module:

- **start point**: the weights, standardisation, architecture, options, feature space and classes of an existing
  frame-level model directory (``base``). A video-level model, a ``--verticals`` model, or one whose classes do not
  cover the task's rated classes (``data/segment_label_ids.csv``) is refused.
- **data** (:func:`~.data.load_segments`): the window of 5 frames at each rated start below the frame count;
  a window's targets are its rated classes' scores, and only those outputs are known.
- **loss**: :func:`~.loop.masked_loss`, the binary cross-entropy of the rated outputs only.
- **selection**: after each epoch the held-out videos (``validation_paths``, or ``validation_fraction`` of the
  videos, chosen by a hash of (seed, video id)) are ranked and scored as the challenge does
  (:meth:`reelset.yt8m.segments.SegmentRanking.evaluate`, mAP@``max_per_class``); the base model's score counts
  as epoch 0, and the best epoch's weights are kept (no refit: the held-out ratings are the only yardstick, and
  the base model was already trained on everything else). Without held-out videos: ``epochs`` epochs.
- **bookkeeping**: as :func:`~.loop.train`: a checkpoint after every epoch (a killed run resumes and ends with the
  same weights), a fingerprint of data, base weights and settings, and ``model.json`` with the base model and the
  segment settings under ``training``.

Adam (a tenth of the base model's learning rate unless told), batches of windows drawn with (seed, epoch).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from crc32c import crc32c

from reelset.core.atomic import atomic_output, atomic_write_text, check_output
from reelset.core.locks import exclusive_lock
from reelset.features.backbones.device import resolve_device, torch_gpu_count
from reelset.yt8m.model import CHECKPOINT_FILE, MODEL_FILE, WEIGHTS_FILE, TrainedModel, load_model, network_for
from reelset.yt8m.segments import MAX_PER_CLASS, RATED_CLASSES_CSV, TOP_K, SegmentRanking, rated_classes
from reelset.yt8m.training.data import SegmentSet, load_segments
from reelset.yt8m.training.loop import (
    LOCK_FILE,
    RESUME_MODES,
    TrainingError,
    TrainingState,
    _batches,
    _epoch_seed,
    _json_default,
    _optimizer_to,
    _prepare_out,
    _save_checkpoint,
    _state_copy,
    masked_loss,
)

TASK = "segments"  # model.json's training.task of a fine-tuned model
LEARNING_RATE_FACTOR = 0.1  # of the base model's learning rate: fine-tuning should move, not relearn


@dataclass(frozen=True)
class SegmentSettings:
    """What decides the fine-tuned weights besides the base model and the data.

    Attributes:
        epochs: the most epochs (passes over the rated windows).
        patience: stop after this many epochs without a better held-out segment mAP.
        validation_fraction: share of the videos held out when no validation files are given (0: none).
        batch_size: windows per step; None: the base model's batch size.
        learning_rate: None: a tenth of the base model's.
        weight_decay: Adam's L2 penalty.
        seed: the held-out videos, shuffles and dropout.
        top_k, max_per_class: the ranking the held-out videos are scored with (the challenge's: 20, 100,000).
    """

    epochs: int = 30
    patience: int = 3
    validation_fraction: float = 0.1
    batch_size: int | None = None
    learning_rate: float | None = None
    weight_decay: float = 0.0
    seed: int = 0
    top_k: int = TOP_K
    max_per_class: int = MAX_PER_CLASS


@dataclass(frozen=True)
class SegmentEpochResult:
    """One finished epoch (its checkpoint already written)."""

    epoch: int
    epochs: int
    loss: float  # mean masked loss over the epoch's windows
    seconds: float
    windows: int
    validation: dict | None  # SegmentEvaluation.as_json() of the held-out videos
    best_epoch: int | None

    def line(self) -> str:
        text = (f"segments epoch {self.epoch}/{self.epochs}: loss {self.loss:.4f}, "
                f"{self.windows / max(self.seconds, 1e-9):.0f} windows/s")
        if self.validation:
            text += f", validation segment mAP {_map_text(self.validation)}, best epoch {self.best_epoch}"
        return text


@dataclass(frozen=True)
class SegmentTrainSummary:
    """What :func:`fine_tune_segments` made (also in ``model.json``)."""

    out: Path
    base: str
    model: str
    windows: int
    videos: int
    validation_videos: int
    best_epoch: int | None
    final_epochs: int
    base_validation: dict | None
    validation: dict | None
    seconds: float
    resumed_at: str | None = None
    already_trained: bool = False

    def lines(self) -> list[str]:
        lines = [f"model: {self.out} ({self.model} fine-tuned on segment ratings from {self.base})"]
        if self.already_trained:
            lines.append("already trained with these data and settings: nothing to do (--restart trains again)")
        if self.resumed_at:
            lines.append(f"resumed from the checkpoint after {self.resumed_at}")
        lines.append(f"videos: {self.videos} training ({self.windows} rated windows), {self.validation_videos} "
                     f"validation")
        if self.validation:
            lines.append(f"validation: segment mAP {_map_text(self.validation)} at epoch {self.best_epoch} (base "
                         f"model: {_map_text(self.base_validation)})")
        lines.append(f"weights: {self.final_epochs} epochs of fine-tuning")
        lines.append(f"training: {self.seconds:.1f} s")
        return lines


def _map_text(result: dict | None) -> str:
    value = None if result is None else result.get("map")
    return "-" if value is None or value != value else f"{value:.4f}"


def _map_key(result: dict) -> float:
    value = result.get("map")
    return -1.0 if value is None or value != value else float(value)  # NaN (no positive rating): worst


def _check_base(model: TrainedModel, base: Path, rated: np.ndarray) -> None:
    """Refuse a base model the segment task cannot fine-tune (one line each)."""
    if model.level != "frame":
        raise TrainingError(f"--from {base}: a video-level model ({model.name}); --segments fine-tunes a "
                            f"frame-level model (train one with --level frame)")
    if model.classes.target != "labels":
        raise TrainingError(f"--from {base}: the model predicts verticals; the segment task rates label classes")
    missing = np.setdiff1d(rated, np.asarray(model.class_ids, np.int64))
    if len(missing):
        shown = ", ".join(str(int(label)) for label in missing[:5])
        raise TrainingError(f"--from {base}: its classes miss {len(missing)} of the {len(rated)} rated classes of "
                            f"the segment task (e.g. {shown}): train it on every class, or on those")


def _held_out(seed: int, fraction: float) -> Callable[[str], bool] | None:
    """Whether a video is held out: a hash of (seed, id) below ``fraction`` (streams; independent of file order)."""
    if fraction <= 0:
        return None
    return lambda video_id: crc32c(f"{seed}:{video_id}".encode("utf-8", "surrogateescape")) < fraction * 2 ** 32


def _probabilities(network: torch.nn.Module, windows: SegmentSet, batch_size: int, device: str) -> np.ndarray:
    network.eval()
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(windows), batch_size):
            x, mask = windows.inputs(np.arange(start, min(start + batch_size, len(windows))))
            log_p, _ = network(torch.from_numpy(x).to(device), torch.from_numpy(mask).to(device))
            chunks.append(log_p.exp().float().cpu().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)


def score_segments(network: torch.nn.Module, held: SegmentSet, class_ids: Sequence[int], rated: Iterable[int], *,
                   top_k: int = TOP_K, max_per_class: int = MAX_PER_CLASS, batch_size: int = 256,
                   device: str = "cpu") -> dict:
    """The segment task's metric (:meth:`SegmentRanking.evaluate`, as JSON) of ``network`` on a held-out set."""
    probabilities = _probabilities(network, held, batch_size, device)
    ranking = SegmentRanking(class_ids, rated, top_k=top_k, max_per_class=max_per_class)
    bounds = np.searchsorted(held.videos, np.arange(len(held.video_ids) + 1))
    for video, video_id in enumerate(held.video_ids):
        span = slice(bounds[video], bounds[video + 1])
        ranking.add(video_id, held.starts[span], probabilities[span], held.ratings[video])
    # Plain Python numbers: the checkpoint is read back with weights_only and goes to JSON.
    return {key: float(value) if isinstance(value, (float, np.floating)) else int(value)
            for key, value in ranking.evaluate().as_json().items()}


def fine_tune_segments(
    paths: Sequence[Path],
    out: Path,
    base: Path,
    settings: SegmentSettings = SegmentSettings(),
    *,
    validation_paths: Sequence[Path] | None = None,
    rated: Iterable[int] | None = None,
    device: str = "auto",
    resume: str = "auto",
    on_epoch: Callable[[SegmentEpochResult], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    on_record: Callable[[], None] | None = None,
) -> SegmentTrainSummary:
    """Fine-tune the frame-level model in ``base`` on the segment ratings of the v3 records of ``paths`` and write
    the result to the model directory ``out`` (see the module docstring).

    Args:
        validation_paths: held-out records (instead of ``settings.validation_fraction`` of the videos).
        rated: the task's class ids (default: the 1,000 of ``data/segment_label_ids.csv``).
        device, resume, on_epoch, on_batch, on_record: as :func:`reelset.yt8m.training.train`.

    Returns:
        What was trained and how well (also in ``out/model.json``).

    Raises:
        ReelsetError: a base model that is not a usable frame-level model of the rated classes, ``out`` equal to
            ``base`` or not writable, records without ratings or of another feature space, a checkpoint or model of
            another training in ``out``, an unavailable device.
    """
    out, base = Path(out), Path(base)
    if resume not in RESUME_MODES:
        raise TrainingError(f"resume={resume!r}: expected one of {', '.join(RESUME_MODES)}")
    if settings.epochs < 1 or settings.patience < 1 or not 0 <= settings.validation_fraction < 1:
        raise TrainingError("epochs and patience must be at least 1, the validation fraction in [0, 1)")
    if out.resolve() == base.resolve():
        raise TrainingError(f"--out {out}: the base model's directory; fine-tune into another one")
    check_output(out, folder=True)
    if resume == "require" and not (out / CHECKPOINT_FILE).is_file() and not (out / MODEL_FILE).is_file():
        raise TrainingError(f"--resume: {out} has no checkpoint to resume")
    rated_ids = rated_classes() if rated is None else np.unique(np.asarray(list(rated), np.int64))
    base_model = load_model(base, device="cpu")
    _check_base(base_model, base, rated_ids)
    resolved_device = resolve_device(device, gpus=torch_gpu_count())
    paths = [Path(path) for path in paths]
    if not paths:
        raise TrainingError("no input files")
    if validation_paths:
        training, _, _ = load_segments(paths, space=base_model.space, class_set=base_model.classes, rated=rated_ids,
                                       on_record=on_record)
        _, held, _ = load_segments([Path(p) for p in validation_paths], space=base_model.space,
                                   class_set=base_model.classes, rated=rated_ids, held_out=lambda _: True,
                                   on_record=on_record)
    else:
        training, held, _ = load_segments(paths, space=base_model.space, class_set=base_model.classes,
                                          rated=rated_ids, held_out=_held_out(settings.seed,
                                                                              settings.validation_fraction),
                                          on_record=on_record)
    if not len(training):
        raise TrainingError(f"no rated segment of a rated class within the frames of the training videos of "
                            f"{', '.join(map(str, paths))}")
    base_training = base_model.config.get("training", {}).get("settings", {})
    batch_size = settings.batch_size or int(base_training.get("batch_size") or 32)
    learning_rate = settings.learning_rate or float(base_training.get("learning_rate") or 1e-3) * LEARNING_RATE_FACTOR
    weights_sha256 = hashlib.sha256((base / WEIGHTS_FILE).read_bytes()).hexdigest()
    resolved = {**asdict(settings), "batch_size": batch_size, "learning_rate": learning_rate}
    digest = hashlib.sha256(json.dumps({"task": TASK, "settings": resolved, "base_weights": weights_sha256,
                                        "rated": rated_ids.tolist()}, sort_keys=True).encode())
    training.fingerprint(digest)
    held.fingerprint(digest)
    job = _SegmentJob(base, base_model, weights_sha256, settings, resolved, rated_ids, training, held, paths,
                      [Path(p) for p in validation_paths or []], resolved_device, digest.hexdigest())
    created = not out.is_dir()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive_lock(out / LOCK_FILE, f"{out}: another training is running in this model directory"):
            return _execute(job, out, resume, on_epoch, on_batch)
    except BaseException:
        if created:  # stopped before its first checkpoint: no empty folder is left
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


@dataclass
class _SegmentJob:
    base: Path
    base_model: TrainedModel
    weights_sha256: str
    settings: SegmentSettings
    resolved: dict  # the settings with batch size and learning rate resolved
    rated: np.ndarray
    training: SegmentSet
    held: SegmentSet
    paths: list[Path]
    validation_paths: list[Path]
    device: str
    fingerprint: str


def _fresh(job: _SegmentJob) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The base model's network (a copy of its weights) on the job's device, and a fresh optimizer."""
    network = network_for(job.base_model.config)
    network.load_state_dict(copy.deepcopy(job.base_model.network.state_dict()))
    network.to(job.device)
    optimizer = torch.optim.Adam(network.parameters(), lr=job.resolved["learning_rate"],
                                 weight_decay=job.settings.weight_decay)
    return network, optimizer


def _epoch(job: _SegmentJob, network, optimizer, seed: int, on_batch) -> float:
    windows, outputs = job.training, job.base_model.num_classes
    batches = _batches(len(windows), job.resolved["batch_size"], np.random.default_rng(seed))
    network.train()
    total, done = 0.0, 0
    devices = [torch.device(job.device).index or 0] if job.device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)  # dropout
        for indices in batches:
            x, mask = windows.inputs(indices)
            targets, rated = windows.targets(indices, outputs)
            log_p, log_q = network(torch.from_numpy(x).to(job.device), torch.from_numpy(mask).to(job.device))
            loss = masked_loss(log_p, log_q, torch.from_numpy(targets).to(job.device),
                               torch.from_numpy(rated).to(job.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(indices)
            done += len(indices)
            if on_batch is not None:
                on_batch(done, len(windows))
    return total / max(done, 1)


def _score(job: _SegmentJob, network) -> dict:
    return score_segments(network, job.held, job.base_model.class_ids, job.rated, top_k=job.settings.top_k,
                          max_per_class=job.settings.max_per_class, batch_size=job.resolved["batch_size"],
                          device=job.device)


def _execute(job: _SegmentJob, out: Path, resume: str, on_epoch, on_batch) -> SegmentTrainSummary:
    checkpoint, finished = _prepare_out(out, job.fingerprint, resume)
    if finished is not None:
        return _summary(out, finished, already=True)
    settings = job.settings
    has_validation = len(job.held) > 0 and job.held.ratings is not None and any(
        len(labels) for labels, _, _ in job.held.ratings)
    state = checkpoint if checkpoint is not None else TrainingState(job.fingerprint)
    resumed_at = f"segments epoch {state.epoch}" if checkpoint is not None else None
    network, optimizer = _fresh(job)
    if state.epoch > 0:
        network.load_state_dict(state.network)
        optimizer.load_state_dict(state.optimizer)
        _optimizer_to(optimizer, job.device)
    if has_validation and TASK not in state.results:  # the base model is epoch 0: fine-tuning must beat it
        scored = _score(job, network)
        state.results = {TASK: {"best_epoch": 0, "validation": scored}, "base": {"validation": scored}}
        state.best_network = _state_copy(network)
    while state.epoch < settings.epochs and state.bad_epochs < settings.patience:
        epoch = state.epoch + 1
        started = time.perf_counter()
        loss = _epoch(job, network, optimizer, _epoch_seed(settings.seed, 0, epoch), on_batch)
        seconds = time.perf_counter() - started
        state.seconds += seconds
        state.videos_trained += len(job.training)
        scored, best = None, None
        if has_validation:
            scored = _score(job, network)
            result = state.results[TASK]
            if _map_key(scored) > _map_key(result["validation"]):
                state.results[TASK] = {"best_epoch": epoch, "validation": scored}
                state.best_network = _state_copy(network)
                state.bad_epochs = 0
            else:
                state.bad_epochs += 1
            best = state.results[TASK]["best_epoch"]
        state.history.append({"phase": TASK, "epoch": epoch, "loss": loss, "seconds": seconds,
                              **({"validation": scored} if scored else {})})
        state.epoch = epoch
        state.network, state.optimizer = _state_copy(network), optimizer.state_dict()
        _save_checkpoint(out / CHECKPOINT_FILE, state)
        if on_epoch is not None:
            on_epoch(SegmentEpochResult(epoch, settings.epochs, loss, seconds, len(job.training), scored, best))
    if state.best_network is not None:
        network.load_state_dict(state.best_network)
    return _write_model(job, out, state, network, resumed_at)


def _write_model(job: _SegmentJob, out: Path, state: TrainingState, network, resumed_at) -> SegmentTrainSummary:
    """``model.json``: the base model's description (what prediction reads), with ``training`` about this run."""
    config = copy.deepcopy(job.base_model.config)
    result = state.results.get(TASK)
    base_training = config.pop("training", {})
    config["training"] = {
        "task": TASK,
        "fingerprint": job.fingerprint,
        "base_model": {"path": str(job.base.resolve()), "model": config["model"],
                       "weights_sha256": job.weights_sha256, "fingerprint": base_training.get("fingerprint"),
                       "files": base_training.get("files")},
        "segments": {"rated_classes": len(job.rated),
                     "rated_file": str(RATED_CLASSES_CSV) if np.array_equal(job.rated, rated_classes()) else None,
                     "window_frames": 5, "top_k": job.settings.top_k,
                     "max_per_class": job.settings.max_per_class},
        "settings": job.resolved,
        "files": [str(path) for path in job.paths],
        "validation_files": [str(path) for path in job.validation_paths],
        "videos": len(job.training.video_ids), "windows": len(job.training),
        "rated_pairs": job.training.rated_pairs, "validation_videos": len(job.held.video_ids),
        "best_epoch": result["best_epoch"] if result else None,
        "final_epochs": result["best_epoch"] if result else state.epoch,
        "base_validation": state.results.get("base", {}).get("validation"),
        "validation": result["validation"] if result else None,
        "history": state.history, "seconds": state.seconds,
        "windows_per_second": state.videos_trained / max(state.seconds, 1e-9),
        "device": job.device, "threads": torch.get_num_threads(), "torch": torch.__version__,
    }
    with atomic_output(out / WEIGHTS_FILE) as tmp:
        torch.save(_state_copy(network), tmp)
    atomic_write_text(out / MODEL_FILE, json.dumps(config, indent=1, default=_json_default) + "\n")
    (out / CHECKPOINT_FILE).unlink(missing_ok=True)
    return _summary(out, config, resumed_at=resumed_at)


def _summary(out: Path, config: dict, *, resumed_at: str | None = None, already: bool = False) -> SegmentTrainSummary:
    training = config["training"]
    return SegmentTrainSummary(
        out=out, base=training["base_model"]["path"], model=config["model"], windows=training["windows"],
        videos=training["videos"], validation_videos=training["validation_videos"],
        best_epoch=training["best_epoch"], final_epochs=training["final_epochs"],
        base_validation=training["base_validation"], validation=training["validation"], seconds=training["seconds"],
        resumed_at=resumed_at, already_trained=already)


__all__ = ["LEARNING_RATE_FACTOR", "SegmentEpochResult", "SegmentSettings", "SegmentTrainSummary",
           "fine_tune_segments", "score_segments"]
