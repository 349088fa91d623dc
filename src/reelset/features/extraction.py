"""Your own videos in YouTube-8M form (``reelset yt8m extract``): 1 fps frames -> backbone -> quantized records.

The original TF1 ``extract_tfrecords_main.py``, with its flags and its output, without its defects:

- inputs: a CSV of ``<video_file>,<labels joined by ;>`` lines (the path may itself contain commas: the labels are
  after the last one), or a folder of videos; a bad line or a bad video is reported and skipped, the run goes on,
  and the summary says ``Successfully encoded N out of M videos`` on one plain line;
- each record: context ``id`` = the video path exactly as written in the CSV, ``labels`` sorted, ``mean_rgb`` = the
  mean of the unquantized features, ``backbone`` = the model that made them, ``audio_source``; frame features
  ``rgb`` = the 8-bit features, one per frame (or, with ``skip_frame_level_features``, a video-level Example);
- audio (``settings.audio``): ``none`` by default, no ``audio`` list and ``audio_source = "none"`` in the context (a
  deliberate change: the original wrote 128 zero bytes per frame, which dequantize to -1.99, not silence);
  ``zeros`` writes them as the original did (its ``insert_zero_audio_features``), with ``audio_source = "zeros"``;
  ``vggish`` writes YouTube-8M's audio (:mod:`reelset.features.audio`): ``audio`` = one 128-byte VGGish vector per
  ``rgb`` frame (the 0.96 s from that frame's time), ``mean_audio`` = the mean of the unquantized floats,
  ``audio_source = "vggish"``; a video without sound gets a record without audio (``audio_source = "none"``), named
  in the summary's ``no_sound``;
- each video is one task (:func:`reelset.features.video.video_features`) of an executor (:mod:`reelset.scale`):
  threads here decode (frames and sound) while the backbone (and VGGish) embeds, or a Dask cluster's workers do it
  all (``--scheduler``); each finished video's features are cached by the file's content hash and the settings
  (the audio choice and VGGish's files included), so a rerun (or a run after a crash) skips what is done; this
  process alone writes the records, in input order;
- output: exactly ``OUT`` with one shard, or ``<stem>-00000-of-000NN.tfrecord`` beside it with ``shard_size``; every
  file written atomically.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reelset.core.atomic import atomic_outputs, check_output
from reelset.core.cache import default_cache_dir, writable_cache_dir
from reelset.core.errors import ReelsetError, one_line
from reelset.core.textfile import read_text
from reelset.features.backbones import Backbone
from reelset.features.constants import AUDIO_VGGISH, AUDIO_ZEROS
from reelset.features.video import (
    ExtractSettings,
    FeatureCache,
    VideoFeatures,
    VideoInput,
    VideoResult,
    VideoTask,
    check_audio,
    settings_backbone,
    settings_vggish,
    video_features,
)
from reelset.formats.yt8m_records import write_records
from reelset.scale import Executor, executor_for

if TYPE_CHECKING:
    from reelset.features.audio import Vggish

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm")  # the order messages list them in
AUDIO_WIDTH = 128


@dataclass
class ExtractSummary:
    total: int = 0
    encoded: int = 0
    from_cache: int = 0
    frames: int = 0
    failures: list[str] = field(default_factory=list)  # "<path>: <reason>" (bad CSV lines: "<csv>:<line>: ...")
    warnings: list[str] = field(default_factory=list)  # encoded, but e.g. truncated: decoded up to the damage
    no_sound: list[str] = field(default_factory=list)  # --audio vggish: encoded without audio, no sound (paths)
    outputs: list[Path] = field(default_factory=list)
    max_quantization_error: float = 0.0

    @property
    def line(self) -> str:
        return f"Successfully encoded {self.encoded} out of {self.total} videos"


def read_video_csv(path: Path) -> tuple[list[VideoInput], list[str]]:
    """The videos of an extractor CSV, and the bad lines (``"<csv>:<line>: <reason>"``).

    Raises:
        ReelsetError: the file is binary or not UTF-8 text (named, before anything is written).
    """
    videos, bad = [], []
    text = read_text(path, expected="a videos CSV (<video_file>,<labels joined by ;> lines)")
    for number, raw in enumerate(io.StringIO(text, newline=""), 1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        video, separator, labels_text = line.rpartition(",")
        if not separator or not video.strip():
            bad.append(f"{path}:{number}: expected <video_file>,<labels joined by ;>, got {line[:80]!r}")
            continue
        try:
            labels = tuple(sorted({int(label) for label in labels_text.split(";") if label.strip()}))
        except ValueError:
            bad.append(f"{path}:{number}: labels must be integers joined by ';', got {labels_text[:40]!r}")
            continue
        if any(label < 0 for label in labels):
            bad.append(f"{path}:{number}: negative label in {labels_text[:40]!r}")
            continue
        videos.append(VideoInput(video, labels))
    return videos, bad


def find_videos(folder: Path) -> list[VideoInput]:
    """Every video file below ``folder`` (recursive, sorted), without labels."""
    return [VideoInput(str(path)) for path in sorted(Path(folder).rglob("*"))
            if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file()]


def read_inputs(source: Path) -> tuple[list[VideoInput], list[str]]:
    """A CSV file or a folder of videos."""
    source = Path(source)
    if source.is_dir():
        return find_videos(source), []
    if not source.is_file():
        raise ReelsetError(f"{source}: no such CSV file or folder")
    return read_video_csv(source)

def make_record(video: VideoInput, features: VideoFeatures, settings: ExtractSettings) -> dict:
    """The YouTube-8M record of one video (see the module docstring for its keys)."""
    zeros = settings.audio == AUDIO_ZEROS
    vggish = settings.audio == AUDIO_VGGISH and features.audio is not None
    record: dict = {
        settings.video_file_feature_key: video.path,
        settings.labels_feature_key: np.asarray(sorted(video.labels), np.int64),
        f"mean_{settings.image_feature_key}": features.mean,
        "backbone": features.backbone.encode(),
        "audio_source": b"zeros" if zeros else b"vggish" if vggish else b"none",
    }
    if zeros:
        record["mean_audio"] = np.zeros(AUDIO_WIDTH, np.float32)
    elif vggish:
        record["mean_audio"] = features.mean_audio
    if not settings.skip_frame_level_features:
        record[settings.image_feature_key] = features.quantized
        if zeros:
            record["audio"] = np.zeros((len(features.quantized), AUDIO_WIDTH), np.uint8)
        elif vggish:
            record["audio"] = features.audio_quantized
    return record


def shard_paths(out: Path, shards: int) -> list[Path]:
    """``OUT`` itself for one shard, else ``<stem>-00000-of-000NN<suffix>`` beside it."""
    out = Path(out)
    if shards <= 1:
        return [out]
    suffix = out.suffix or ".tfrecord"
    return [out.with_name(f"{out.stem}-{index:05d}-of-{shards:05d}{suffix}") for index in range(shards)]

def check_settings(settings: ExtractSettings) -> None:
    """Raises ReelsetError for settings no video could be encoded with, or a feature cache that cannot be written
    (the folder checked, nothing made)."""
    if settings.shard_size is not None and settings.shard_size < 1:
        raise ReelsetError(f"--shard-size must be at least 1, got {settings.shard_size}")
    if settings.frames_per_second <= 0 or settings.max_frames < 1:
        raise ReelsetError("--frames-per-second must be above 0 and --max-frames at least 1")
    check_audio(settings)
    if settings.use_cache:
        writable_cache_dir(settings.cache_dir)

def iter_video_features(inputs: Iterable[VideoInput], settings: ExtractSettings, executor: Executor,
                        backbone: Backbone | None = None, vggish: Vggish | None = None) -> Iterator[VideoResult]:
    """Each input's features, in input order, computed by the tasks of ``executor`` (``backbone`` and ``vggish``:
    those loaded in this process, for tasks that run here; a cluster's workers load their own). New features go
    into the feature cache here, as they are yielded (on a cluster: under ``settings.cache_dir``, or this machine's
    default cache)."""
    shared = replace(settings, cache_dir=_shared(executor, settings.cache_dir),
                     model_dir=_shared(executor, settings.model_dir),
                     audio_model_dir=_shared(executor, settings.audio_model_dir))
    tasks = (VideoTask(video, str(executor.shared_path(video.path)), shared, executor.in_process(backbone),
                       executor.in_process(vggish)) for video in inputs)
    cache = None
    if settings.use_cache:
        backbone = backbone or settings_backbone(settings)
        vggish = settings_vggish(settings, vggish)
        cache = FeatureCache(settings.cache_dir or default_cache_dir(), settings,
                             getattr(backbone, "fingerprint", backbone.name), vggish.fingerprint if vggish else None)
    for result in executor.map_ordered(video_features, tasks, on_error=_task_failed):
        if cache is not None and result.cache_key and result.features is not None and not result.from_cache:
            cache.put(result.cache_key, result.features)  # here, in order: the cache's single writer
        yield result


def _shared(executor: Executor, path: Path | None) -> Path | None:
    return None if path is None else executor.shared_path(path)


def _task_failed(task: VideoTask, error: Exception) -> VideoResult:
    return VideoResult(task.video, None, f"{task.video.path}: task failed: {one_line(error, typed=True)}")


def extract(
    inputs: list[VideoInput],
    out: Path,
    settings: ExtractSettings = ExtractSettings(),
    *,
    invalid: list[str] = (),
    backbone: Backbone | None = None,
    vggish: Vggish | None = None,
    on_video: Callable[[VideoInput, str | None], None] = lambda video, error: None,
    on_warning: Callable[[str], None] = lambda message: None,
    executor: Executor | str | None = None,
) -> ExtractSummary:
    """Encode ``inputs`` into YouTube-8M records at ``out``; see the module docstring.

    Args:
        invalid: inputs already found bad (the bad lines of :func:`read_video_csv`): counted among the videos and
            the failures of the summary.
        backbone: an already loaded backbone (its name must be ``settings.backbone``); default: load it (here, so
            that a backbone that cannot be loaded stops the run before anything is written; a cluster's workers
            load their own).
        vggish: with ``settings.audio`` vggish, VGGish already loaded (:func:`reelset.features.audio.load_vggish`);
            default: load it here, before anything is written, its files fetched at first use.
        on_video: called after each video with the error message, or None when it was encoded.
        on_warning: called with each warning (a damaged video encoded up to the damage).
        executor: where the videos are decoded and embedded (:func:`reelset.scale.executor_for`: an Executor, or
            a Dask scheduler's address or ``distributed.Client``, whose workers must see the videos, the cache and
            the model folder at the same absolute path); this process writes the records, the same bytes wherever
            the features were made, given the torch thread count (a Dask worker uses one). Default:
            threads here, ``settings.decode_workers`` decoding while one embeds.

    Raises:
        ReelsetError: bad settings, an output or a feature cache that cannot be written, a backbone or VGGish that
            cannot be loaded (its files missing, corrupt, unreachable, not matching their checksums), or a scheduler
            that cannot be reached (all before anything is written); videos that fail are reported, not raised.
    """
    check_settings(settings)
    check_output(out)
    with executor_for(executor, workers=settings.decode_workers + 1) as running:  # the decoders and one embedder
        backbone = settings_backbone(settings, backbone)
        vggish = settings_vggish(settings, vggish)
        results = iter_video_features(inputs, settings, running, backbone, vggish)
        return _encode(inputs, results, Path(out), settings, backbone, invalid, on_video, on_warning)


def _encode(inputs: list[VideoInput], results: Iterable[VideoResult], out: Path, settings: ExtractSettings,
            backbone: Backbone, invalid: list[str], on_video: Callable[[VideoInput, str | None], None],
            on_warning: Callable[[str], None]) -> ExtractSummary:
    """The records of ``results``, in input order, streamed into the shards at ``out``."""
    summary = ExtractSummary(total=len(inputs) + len(invalid), failures=list(invalid))

    def records() -> Iterator[dict]:
        for result in results:
            if result.error is not None:
                summary.failures.append(result.error)
                on_video(result.video, result.error)
                continue
            features = result.features
            summary.from_cache += result.from_cache
            for warning in features.warnings:
                summary.warnings.append(warning)
                on_warning(warning)
            error_bound = float(np.abs(backbone.from_bytes(features.quantized) - features.features).max(initial=0))
            summary.max_quantization_error = max(summary.max_quantization_error, error_bound)
            if features.no_sound:
                summary.no_sound.append(result.video.path)
            summary.encoded += 1
            summary.frames += len(features.features)
            on_video(result.video, None)
            yield make_record(result.video, features, settings)

    summary.outputs = _write_shards(records(), out, settings.shard_size)
    return summary


def _write_shards(records: Iterator[dict], out: Path, shard_size: int | None) -> list[Path]:
    """Stream the records into temporary shards, then give them their final names (the count is known only at the
    end). Nothing takes a final name before every shard is complete; a killed run's temporary shards are removed by
    the next run (:func:`reelset.core.atomic.atomic_outputs`)."""
    records = iter(records)
    with atomic_outputs(out) as staged:
        while True:
            temporary = staged.new()
            count = write_records(temporary, itertools.islice(records, shard_size) if shard_size else records)
            if count == 0 and len(staged.paths) > 1:
                staged.drop(temporary)
                break
            if not shard_size or count < shard_size:
                break
        finals = shard_paths(out, len(staged.paths))
        staged.commit(finals)
        return finals
