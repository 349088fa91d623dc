"""Your own videos in YouTube-8M form (``reelset yt8m extract``): 1 fps frames -> backbone -> quantized records.

The original TF1 ``extract_tfrecords_main.py``, with its flags and its output, without its defects:

- inputs: a CSV of ``<video_file>,<labels joined by ;>`` lines (the path may itself contain commas: the labels are
  after the last one), or a folder of videos; a bad line or a bad video is reported and skipped, the run goes on,
  and the summary says ``Successfully encoded N out of M videos`` on one plain line;
- each record: context ``id`` = the video path exactly as written in the CSV, ``labels`` sorted, ``mean_rgb`` = the
  mean of the unquantized features, ``backbone`` = the model that made them, ``audio_source``; frame features
  ``rgb`` = the 8-bit features, one per frame (or, with ``skip_frame_level_features``, a video-level Example);
- audio is absent unless asked: no ``audio`` list and ``audio_source = "none"`` in the context (a deliberate change:
  the original wrote 128 zero bytes per frame, which dequantize to -1.99, not silence);
  ``insert_zero_audio_features`` writes them as the original did, with ``audio_source = "zeros"``;
- frames are decoded in threads while the backbone embeds batches; each finished video's features are cached by the
  file's content hash and the settings, so a rerun (or a run after a crash) skips what is done;
- output: exactly ``OUT`` with one shard, or ``<stem>-00000-of-000NN.tfrecord`` beside it with ``shard_size``; every
  file written atomically.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reelset.core.atomic import atomic_output
from reelset.core.cache import default_cache_dir
from reelset.core.errors import ReelsetError
from reelset.core.threads import parallel_map
from reelset.features.backbones import Backbone, load_backbone
from reelset.features.frames import decode_frames
from reelset.yt8m.records import dequantize, write_records

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm"}
AUDIO_WIDTH = 128
CACHE_VERSION = 1


@dataclass(frozen=True)
class ExtractSettings:
    """The extractor's settings; field names follow the original's flags where it had them."""

    backbone: str = "efficientnet-lite0"
    frames_per_second: float = 1.0
    max_frames: int = 300
    skip_frame_level_features: bool = False
    labels_feature_key: str = "labels"
    image_feature_key: str = "rgb"
    video_file_feature_key: str = "id"
    insert_zero_audio_features: bool = False
    model_dir: Path | None = None
    expected_sha256: str | None = None
    device: str = "auto"
    batch_size: int | None = None  # frames per forward pass; None: the backbone's own (8 on a CPU, 128 on a GPU)
    decode_workers: int = 2
    cache_dir: Path | None = None
    use_cache: bool = True
    shard_size: int | None = None

    def cache_key_settings(self, fingerprint: str) -> dict:
        """What a cached video's features depend on besides its content: the backbone's weights and the sampling."""
        return {"version": CACHE_VERSION, "backbone": fingerprint, "fps": self.frames_per_second,
                "max_frames": self.max_frames}


@dataclass(frozen=True)
class VideoInput:
    """One video to encode: its path as written by the user, and its labels."""

    path: str
    labels: tuple[int, ...] = ()


@dataclass
class ExtractSummary:
    total: int = 0
    encoded: int = 0
    from_cache: int = 0
    frames: int = 0
    failures: list[str] = field(default_factory=list)  # "<path>: <reason>" (bad CSV lines: "<csv>:<line>: ...")
    warnings: list[str] = field(default_factory=list)  # encoded, but e.g. truncated: decoded up to the damage
    outputs: list[Path] = field(default_factory=list)
    max_quantization_error: float = 0.0

    @property
    def line(self) -> str:
        return f"Successfully encoded {self.encoded} out of {self.total} videos"


def read_video_csv(path: Path) -> tuple[list[VideoInput], list[str]]:
    """The videos of an extractor CSV, and the bad lines (``"<csv>:<line>: <reason>"``)."""
    videos, bad = [], []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for number, raw in enumerate(handle, 1):
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


@dataclass(frozen=True)
class VideoFeatures:
    """The features of one video: ``features`` float32 ``(frames, width)`` (the unquantized floats), ``quantized``
    their 8-bit form as stored, ``timestamps`` the sample times in seconds, the backbone's name, and the decoder's
    warnings (a damaged file decoded up to the damage)."""

    features: np.ndarray
    quantized: np.ndarray
    timestamps: np.ndarray
    backbone: str
    warnings: tuple[str, ...] = ()

    @property
    def mean(self) -> np.ndarray:
        return self.features.mean(axis=0).astype(np.float32) if len(self.features) else np.zeros(
            self.features.shape[1], np.float32)


def _embed(backbone: Backbone, frames: np.ndarray, batch_size: int | None) -> np.ndarray:
    """Features of ``frames``: the backbone batches by itself (its ``max_batch``), ``batch_size`` overrides that."""
    if batch_size and hasattr(backbone, "max_batch"):
        backbone.max_batch = batch_size
    if not len(frames):
        return np.zeros((0, backbone.width), np.float32)
    return np.asarray(backbone.embed(frames), np.float32)


def extract_video_features(path: str | Path, *, backbone: Backbone | str = "efficientnet-lite0",
                           frames_per_second: float = 1.0, max_frames: int = 300, batch_size: int | None = None,
                           device: str = "auto") -> VideoFeatures:
    """The features of one video as numpy arrays (for users who do not want files).

    Raises:
        ReelsetError: the video cannot be decoded (missing, empty, corrupt) or the backbone cannot be loaded.
    """
    model = load_backbone(backbone, device=device) if isinstance(backbone, str) else backbone
    decoded = decode_frames(path, fps=frames_per_second, max_frames=max_frames, size=model.input_size)
    return _features_of(model, decoded, batch_size)


def _features_of(backbone: Backbone, decoded, batch_size: int | None) -> VideoFeatures:
    features = _embed(backbone, decoded.frames, batch_size)
    return VideoFeatures(features, backbone.to_bytes(features), np.asarray(decoded.timestamps, np.float64),
                         backbone.name, tuple(decoded.warnings))


class FeatureCache:
    """Finished videos' features by content hash and settings: ``<cache>/features/<key[:2]>/<key>.npz``."""

    def __init__(self, root: Path, settings: ExtractSettings, fingerprint: str):
        self.root = Path(root) / "features"
        self.settings = json.dumps(settings.cache_key_settings(fingerprint), sort_keys=True)

    def key(self, path: Path) -> str:
        digest = hashlib.sha256(self.settings.encode())
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def _file(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> VideoFeatures | None:
        try:
            with np.load(self._file(key)) as data:
                return VideoFeatures(data["features"], data["quantized"], data["timestamps"], str(data["backbone"]),
                                     tuple(str(text) for text in data["warnings"]))
        except (OSError, KeyError, ValueError):  # missing or damaged: compute again
            return None

    def put(self, key: str, features: VideoFeatures) -> None:
        with atomic_output(self._file(key)) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, features=features.features, quantized=features.quantized,
                     timestamps=features.timestamps, backbone=np.array(features.backbone),
                     warnings=np.array(features.warnings, dtype=str))


def make_record(video: VideoInput, features: VideoFeatures, settings: ExtractSettings) -> dict:
    """The YouTube-8M record of one video (see the module docstring for its keys)."""
    record: dict = {
        settings.video_file_feature_key: video.path,
        settings.labels_feature_key: np.asarray(sorted(video.labels), np.int64),
        f"mean_{settings.image_feature_key}": features.mean,
        "backbone": features.backbone.encode(),
        "audio_source": b"zeros" if settings.insert_zero_audio_features else b"none",
    }
    if settings.insert_zero_audio_features:
        record["mean_audio"] = np.zeros(AUDIO_WIDTH, np.float32)
    if not settings.skip_frame_level_features:
        record[settings.image_feature_key] = features.quantized
        if settings.insert_zero_audio_features:
            record["audio"] = np.zeros((len(features.quantized), AUDIO_WIDTH), np.uint8)
    return record


def shard_paths(out: Path, shards: int) -> list[Path]:
    """``OUT`` itself for one shard, else ``<stem>-00000-of-000NN<suffix>`` beside it."""
    out = Path(out)
    if shards <= 1:
        return [out]
    suffix = out.suffix or ".tfrecord"
    return [out.with_name(f"{out.stem}-{index:05d}-of-{shards:05d}{suffix}") for index in range(shards)]


@dataclass(frozen=True)
class VideoResult:
    """One video's outcome: its features (``from_cache`` when they were cached), or the one-line error."""

    video: VideoInput
    features: VideoFeatures | None
    error: str | None = None
    from_cache: bool = False


def check_settings(settings: ExtractSettings) -> None:
    """Raises ReelsetError for settings no video could be encoded with."""
    if settings.shard_size is not None and settings.shard_size < 1:
        raise ReelsetError(f"--shard-size must be at least 1, got {settings.shard_size}")
    if settings.frames_per_second <= 0 or settings.max_frames < 1:
        raise ReelsetError("--frames-per-second must be above 0 and --max-frames at least 1")


def settings_backbone(settings: ExtractSettings, backbone: Backbone | None = None) -> Backbone:
    """``backbone`` checked against the settings, or the settings' backbone loaded."""
    if backbone is None:
        return load_backbone(settings.backbone, model_dir=settings.model_dir, device=settings.device,
                             expected_sha256=settings.expected_sha256)
    if backbone.name != settings.backbone:
        raise ReelsetError(f"the backbone given is {backbone.name}, the settings say {settings.backbone}")
    return backbone


def iter_video_features(inputs: Iterable[VideoInput], settings: ExtractSettings, backbone: Backbone
                        ) -> Iterator[VideoResult]:
    """Each input's features, in input order: worker threads hash and decode the next videos (ffmpeg and hashing
    release the GIL) while this thread embeds batches; finished videos come from and go to the cache."""
    fingerprint = getattr(backbone, "fingerprint", backbone.name)
    cache = FeatureCache(settings.cache_dir or default_cache_dir(), settings, fingerprint) if settings.use_cache else None

    def decode(video: VideoInput):
        try:
            key = cache.key(Path(video.path)) if cache and Path(video.path).is_file() else None
            cached = cache.get(key) if key else None
            if cached is not None and cached.backbone == backbone.name:
                return video, key, cached, None
            decoded = decode_frames(video.path, fps=settings.frames_per_second, max_frames=settings.max_frames,
                                    size=backbone.input_size)
            return video, key, decoded, None
        except ReelsetError as error:
            return video, None, None, str(error)
        except OSError as error:
            return video, None, None, f"{video.path}: {error.strerror or error}"

    workers = max(1, settings.decode_workers)
    for video, key, result, error in parallel_map(decode, (video for video in inputs), workers=workers, window=2 * workers):
        if error is not None:
            yield VideoResult(video, None, error if error.startswith(video.path) else f"{video.path}: {error}")
        elif isinstance(result, VideoFeatures):
            yield VideoResult(video, result, from_cache=True)
        else:
            features = _features_of(backbone, result, settings.batch_size)
            if cache and key:
                cache.put(key, features)
            yield VideoResult(video, features)


def extract(
    inputs: list[VideoInput],
    out: Path,
    settings: ExtractSettings = ExtractSettings(),
    *,
    invalid: list[str] = (),
    backbone: Backbone | None = None,
    on_video: Callable[[VideoInput, str | None], None] = lambda video, error: None,
    on_warning: Callable[[str], None] = lambda message: None,
    scheduler: Any = None,
) -> ExtractSummary:
    """Encode ``inputs`` into YouTube-8M records at ``out``; see the module docstring.

    Args:
        invalid: inputs already found bad (the bad lines of :func:`read_video_csv`): counted among the videos and
            the failures of the summary.
        backbone: an already loaded backbone (its name must be ``settings.backbone``); default: load it. Not used
            with ``scheduler`` (each worker loads its own).
        on_video: called after each video with the error message, or None when it was encoded.
        on_warning: called with each warning (a damaged video encoded up to the damage).
        scheduler: a Dask scheduler address (or a connected ``distributed.Client``): each video is decoded and
            embedded on a worker (:mod:`reelset.features.extract_cluster`), this process writes the records
            (the local run's bytes, given its torch thread count: workers use one). Default: this process.

    Raises:
        ReelsetError: bad settings, a backbone that cannot be loaded, or a scheduler that cannot be reached;
            videos that fail are reported, not raised.
    """
    check_settings(settings)
    if scheduler is not None:
        from reelset.features.extract_cluster import cluster_video_features

        results = cluster_video_features(inputs, settings, scheduler)
        from_bytes = dequantize  # what every backbone's from_bytes is; the backbone itself is on the workers
    else:
        backbone = settings_backbone(settings, backbone)
        results = iter_video_features(inputs, settings, backbone)
        from_bytes = backbone.from_bytes
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
            error_bound = float(np.abs(from_bytes(features.quantized) - features.features).max(initial=0))
            summary.max_quantization_error = max(summary.max_quantization_error, error_bound)
            summary.encoded += 1
            summary.frames += len(features.features)
            on_video(result.video, None)
            yield make_record(result.video, features, settings)

    summary.outputs = _write_shards(records(), Path(out), settings.shard_size)
    return summary


def _write_shards(records: Iterator[dict], out: Path, shard_size: int | None) -> list[Path]:
    """Stream the records into temporary shards, then give them their final names (the count is known only at the
    end). Nothing takes a final name before every shard is complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staged: list[Path] = []
    records = iter(records)
    try:
        while True:
            temporary = out.with_name(f".{out.name}.part{len(staged):05d}-{os.getpid()}")
            count = write_records(temporary, itertools.islice(records, shard_size) if shard_size else records)
            if count == 0 and staged:
                temporary.unlink(missing_ok=True)
                break
            staged.append(temporary)
            if not shard_size or count < shard_size:
                break
        finals = shard_paths(out, len(staged))
        for temporary, final in zip(staged, finals):
            os.replace(temporary, final)
        return finals
    finally:
        for temporary in staged:
            temporary.unlink(missing_ok=True)
