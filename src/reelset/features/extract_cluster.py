"""``yt8m extract --scheduler``: each video decoded and embedded by a Dask worker, the records written here.

One task per video (:func:`extract_video_task`): the worker hashes the file, takes its features from the feature
cache or decodes and embeds it with the backbone it loaded once for its process, puts them in the cache, and
returns them. The calling process receives the results in input order (:func:`reelset.core.cluster.map_ordered`)
and writes the records exactly as the local run does, so the output file is the same, byte for byte, as a local
run's with one torch thread (a Dask worker's: its OMP_NUM_THREADS is 1); with more threads, CPU convolutions sum
in another order and ``mean_rgb`` differs in its last float bits (the 8-bit frames stay the same, or one step off).

Paths: the record's id stays the path as written in the CSV; the task reads the file by its absolute path (made
here, so relative CSV paths work), which every worker must see at that same path. ``--cache-dir`` and
``--model-dir`` are sent as absolute paths; without ``--cache-dir`` each worker uses its own default cache
(``$REELSET_CACHE_DIR`` of the worker, ...). A video whose task fails for good (its worker died on it
``allowed-failures`` times) is reported as a failed video, like an undecodable one.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from reelset.core.cluster import run_ordered
from reelset.features.backbones import Backbone
from reelset.features.extract import ExtractSettings, VideoInput, VideoResult, iter_video_features, settings_backbone

_BACKBONES: dict[tuple, Backbone] = {}  # per worker process: loaded once, used by every task of that process
_BACKBONES_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class VideoTask:
    """One video for a worker: its absolute path and the run's settings (paths in them absolute too)."""

    path: str
    labels: tuple[int, ...]
    settings: ExtractSettings


def worker_backbone(settings: ExtractSettings) -> Backbone:
    """The backbone of ``settings``, loaded once per process and kept."""
    key = (settings.backbone, str(settings.model_dir), settings.device, str(settings.expected_sha256))
    with _BACKBONES_LOCK:
        if key not in _BACKBONES:
            _BACKBONES[key] = settings_backbone(settings)
        return _BACKBONES[key]


def extract_video_task(task: VideoTask) -> VideoResult:
    """Runs on a worker: one video's features (or its one-line error), through the local pipeline's own code."""
    settings = dataclasses.replace(task.settings, decode_workers=1)
    video = VideoInput(task.path, task.labels)
    return next(iter_video_features([video], settings, worker_backbone(settings)))


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else Path(path).expanduser().absolute()


def _task_failed(task: VideoTask, error: BaseException) -> VideoResult:
    return VideoResult(VideoInput(task.path, task.labels), None,
                       f"{task.path}: task failed on the cluster: {type(error).__name__}: {error}")


def cluster_video_features(inputs: Iterable[VideoInput], settings: ExtractSettings, scheduler: Any
                           ) -> Iterator[VideoResult]:
    """Each input's features, in input order, computed on the Dask cluster at ``scheduler`` (an address, or a
    connected ``distributed.Client``, which is left open).

    Connects at once (a scheduler that cannot be reached raises ReelsetError before anything is written); the
    client made here is closed when the iterator finishes or is closed.
    """
    inputs = list(inputs)
    settings = dataclasses.replace(settings, cache_dir=_absolute(settings.cache_dir),
                                   model_dir=_absolute(settings.model_dir))
    tasks = (VideoTask(str(_absolute(Path(video.path))), video.labels, settings) for video in inputs)
    results = run_ordered(extract_video_task, tasks, scheduler=scheduler, on_error=_task_failed)
    return (_as_written(video, result) for video, result in zip(inputs, results))


def _as_written(video: VideoInput, result: VideoResult) -> VideoResult:
    """The worker's result under the path as the user wrote it (the record's id, and the error's first word)."""
    error = result.error
    absolute = str(_absolute(Path(video.path)))
    if error is not None and error.startswith(absolute):
        error = video.path + error[len(absolute):]
    return dataclasses.replace(result, video=video, error=error)
