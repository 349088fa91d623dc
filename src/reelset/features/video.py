"""One video's features: the task that ``reelset yt8m extract`` and ``reelset taste`` run for every video.

:func:`video_features` hashes the file, takes its features from the feature cache (keyed by the content, the
backbone's weights, the sampling and the audio: none, or VGGish and its files) or decodes its 1 fps frames and
embeds them (with ``audio="vggish"``, also its sound: one VGGish vector per frame, :mod:`reelset.features.audio`),
and returns them with their cache key, a failure as a one-line value. It runs wherever an executor puts it
(:mod:`reelset.scale`): in a thread here, where ``decode_workers`` decode at once while one embeds (the backbone is
shared and batches its frames), or on a Dask worker, which loads the backbone (and VGGish) once for its process. The
result is the same bytes either way, given the torch thread count. The cache is written by the process that
consumes the results, in input order (:meth:`FeatureCache.put`): a run interrupted after N videos has cached exactly
those N.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reelset.core.atomic import atomic_output
from reelset.core.cache import default_cache_dir
from reelset.core.digest import file_digest
from reelset.core.errors import ReelsetError, one_line
from reelset.features.backbones import Backbone, load_backbone
from reelset.features.constants import AUDIO_CHOICES, AUDIO_NONE, AUDIO_VGGISH
from reelset.features.frames import decode_frames

if TYPE_CHECKING:
    from reelset.features.audio import Vggish

CACHE_VERSION = 2  # 2: entries may hold VGGish audio


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
    audio: str = AUDIO_NONE  # none | zeros (the original's 128 zero bytes a frame) | vggish (YouTube-8M's recipe)
    model_dir: Path | None = None
    expected_sha256: str | None = None
    audio_model_dir: Path | None = None  # the VGGish files; None: model_dir, else $HOME/yt8m
    audio_expected_sha256: str | None = None
    device: str = "auto"
    batch_size: int | None = None  # frames per forward pass; None: the backbone's own (8 on a CPU, 128 on a GPU)
    decode_workers: int = 2
    cache_dir: Path | None = None
    use_cache: bool = True
    shard_size: int | None = None

    def cache_key_settings(self, fingerprint: str, audio_fingerprint: str | None = None) -> dict:
        """What a cached video's features depend on besides its content: the backbone's weights, the sampling, and
        the audio (``audio_fingerprint``: VGGish's files when ``audio`` is vggish; none and zeros cache no audio)."""
        return {"version": CACHE_VERSION, "backbone": fingerprint, "fps": self.frames_per_second,
                "max_frames": self.max_frames, "audio": audio_fingerprint or AUDIO_NONE}


@dataclass(frozen=True)
class VideoInput:
    """One video to encode: its path as written by the user, and its labels."""

    path: str
    labels: tuple[int, ...] = ()


@dataclass(frozen=True)
class VideoFeatures:
    """The features of one video: ``features`` float32 ``(frames, width)`` (the unquantized floats), ``quantized``
    their 8-bit form as stored, ``timestamps`` the sample times in seconds, the backbone's name, and the decoders'
    warnings (a damaged file decoded up to the damage).

    With VGGish audio: ``audio`` float32 ``(frames, 128)`` (the PCA'd floats, one per frame) and ``audio_quantized``
    their bytes, ``audio_source`` ``"vggish"``; a video without sound has neither, ``audio_source`` ``"none"`` and
    ``no_sound`` True. Without audio asked: neither, ``"none"``, False."""

    features: np.ndarray
    quantized: np.ndarray
    timestamps: np.ndarray
    backbone: str
    warnings: tuple[str, ...] = ()
    audio: np.ndarray | None = None
    audio_quantized: np.ndarray | None = None
    audio_source: str = AUDIO_NONE
    no_sound: bool = False

    @property
    def mean(self) -> np.ndarray:
        return self.features.mean(axis=0).astype(np.float32) if len(self.features) else np.zeros(
            self.features.shape[1], np.float32)

    @property
    def mean_audio(self) -> np.ndarray | None:
        """The mean of the unquantized audio floats (None without audio), as :attr:`mean` is of the video's."""
        if self.audio is None:
            return None
        return self.audio.mean(axis=0).astype(np.float32) if len(self.audio) else np.zeros(
            self.audio.shape[1], np.float32)


def _embed(backbone: Backbone, frames: np.ndarray, batch_size: int | None) -> np.ndarray:
    """Features of ``frames``: the backbone batches by itself (its ``max_batch``), ``batch_size`` overrides that."""
    if batch_size and hasattr(backbone, "max_batch"):
        backbone.max_batch = batch_size
    if not len(frames):
        return np.zeros((0, backbone.width), np.float32)
    return np.asarray(backbone.embed(frames), np.float32)


def extract_video_features(path: str | Path, *, backbone: Backbone | str = "efficientnet-lite0",
                           frames_per_second: float = 1.0, max_frames: int = 300, batch_size: int | None = None,
                           device: str = "auto", audio: Vggish | str = AUDIO_NONE,
                           audio_model_dir: Path | None = None) -> VideoFeatures:
    """The features of one video as numpy arrays (for users who do not want files).

    Args:
        audio: ``"none"``, ``"vggish"`` (VGGish loaded from ``audio_model_dir``, default ``$HOME/yt8m``, its files
            fetched at first use) or an already loaded :class:`~reelset.features.audio.Vggish`: one audio vector
            per frame in :attr:`VideoFeatures.audio`, None for a video without sound (``no_sound``).

    Raises:
        ReelsetError: the video cannot be decoded (missing, empty, corrupt), the backbone or VGGish cannot be loaded,
            an unknown ``audio``.
    """
    vggish = audio
    if isinstance(audio, str):
        if audio not in (AUDIO_NONE, AUDIO_VGGISH):
            raise ReelsetError(f"audio {audio!r}: expected none or vggish (zeros are written by extract, not here)")
        vggish = None
        if audio == AUDIO_VGGISH:
            from reelset.features.audio import load_vggish

            vggish = load_vggish(audio_model_dir, device=device)
    model = load_backbone(backbone, device=device) if isinstance(backbone, str) else backbone
    decoded = decode_frames(path, fps=frames_per_second, max_frames=max_frames, size=model.input_size)
    sound = _sound_of(vggish, path, decoded.timestamps)
    features = _features_of(model, decoded, batch_size)
    return _with_audio(features, vggish, sound)


def _features_of(backbone: Backbone, decoded, batch_size: int | None) -> VideoFeatures:
    features = _embed(backbone, decoded.frames, batch_size)
    return VideoFeatures(features, backbone.to_bytes(features), np.asarray(decoded.timestamps, np.float64),
                         backbone.name, tuple(decoded.warnings))


def _sound_of(vggish: Vggish | None, path: str | Path, timestamps):
    """The decoded sound for VGGish (None: no audio asked), False when the video has no audio stream."""
    if vggish is None:
        return None
    from reelset.features.audio.vggish import video_sound

    decoded = video_sound(path, timestamps)
    return False if decoded is None else decoded


def _with_audio(features: VideoFeatures, vggish: Vggish | None, sound) -> VideoFeatures:
    """``features`` with the VGGish vectors of ``sound`` at its timestamps (see :func:`_sound_of`)."""
    if vggish is None:
        return features
    if sound is False:
        return replace(features, no_sound=True)
    audio = vggish.features(sound.samples, features.timestamps, sound.warnings)
    return replace(features, audio=audio.features, audio_quantized=audio.quantized, audio_source=AUDIO_VGGISH,
                   warnings=features.warnings + audio.warnings)


class FeatureCache:
    """Finished videos' features by content hash and settings: ``<cache>/features/<key[:2]>/<key>.npz``."""

    def __init__(self, root: Path, settings: ExtractSettings, fingerprint: str, audio_fingerprint: str | None = None):
        self.root = Path(root) / "features"
        self.settings = json.dumps(settings.cache_key_settings(fingerprint, audio_fingerprint), sort_keys=True)

    def key(self, path: Path) -> str:
        return file_digest(path, prefix=self.settings.encode())

    def _file(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> VideoFeatures | None:
        try:
            with np.load(self._file(key)) as data:
                has_audio = "audio" in data.files
                return VideoFeatures(data["features"], data["quantized"], data["timestamps"], str(data["backbone"]),
                                     tuple(str(text) for text in data["warnings"]),
                                     audio=data["audio"] if has_audio else None,
                                     audio_quantized=data["audio_quantized"] if has_audio else None,
                                     audio_source=str(data["audio_source"]), no_sound=bool(data["no_sound"]))
        except (OSError, KeyError, ValueError):  # missing or damaged: compute again
            return None

    def put(self, key: str, features: VideoFeatures) -> None:
        audio = {} if features.audio is None else {"audio": features.audio, "audio_quantized": features.audio_quantized}
        with atomic_output(self._file(key)) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, features=features.features, quantized=features.quantized,
                     timestamps=features.timestamps, backbone=np.array(features.backbone),
                     warnings=np.array(features.warnings, dtype=str), audio_source=np.array(features.audio_source),
                     no_sound=np.array(features.no_sound), **audio)


@dataclass(frozen=True)
class VideoResult:
    """One video's outcome: its features (``from_cache`` when they were cached), or the one-line error; and the key
    under which newly made features go into the feature cache (None when they are not to be cached)."""

    video: VideoInput
    features: VideoFeatures | None
    error: str | None = None
    from_cache: bool = False
    cache_key: str | None = None


def settings_backbone(settings: ExtractSettings, backbone: Backbone | None = None) -> Backbone:
    """``backbone`` checked against the settings, or the settings' backbone loaded."""
    if backbone is None:
        return load_backbone(settings.backbone, model_dir=settings.model_dir, device=settings.device,
                             expected_sha256=settings.expected_sha256)
    if backbone.name != settings.backbone:
        raise ReelsetError(f"the backbone given is {backbone.name}, the settings say {settings.backbone}")
    return backbone


_BACKBONES: dict[tuple, Backbone] = {}  # per process: loaded once, used by every task of that process
_VGGISH: dict[tuple, Vggish] = {}  # the same for VGGish
_BACKBONES_LOCK = threading.Lock()
_EMBED_LOCK = threading.Lock()  # one forward pass at a time per process: the backbone uses every core by itself
_DECODE_SLOTS: dict[int, threading.Semaphore] = {}  # videos hashed and decoded at once per process, by decode_workers


def _decode_slot(workers: int) -> threading.Semaphore:
    """The process's limit of ``workers`` videos read and decoded at once. With ``decode_workers + 1`` task threads
    this is the pipeline of the original design: that many videos decode while one embeds."""
    with _BACKBONES_LOCK:
        return _DECODE_SLOTS.setdefault(max(1, workers), threading.Semaphore(max(1, workers)))


def process_backbone(settings: ExtractSettings) -> Backbone:
    """The backbone of ``settings``, loaded once per process and kept (a Dask worker's tasks share it)."""
    key = (settings.backbone, str(settings.model_dir), settings.device, str(settings.expected_sha256))
    with _BACKBONES_LOCK:
        if key not in _BACKBONES:
            _BACKBONES[key] = settings_backbone(settings)
        return _BACKBONES[key]


def check_audio(settings: ExtractSettings) -> None:
    """Raises ReelsetError for an ``audio`` that is not one of none, zeros, vggish."""
    if settings.audio not in AUDIO_CHOICES:
        raise ReelsetError(f"--audio {settings.audio!r}: expected one of {', '.join(AUDIO_CHOICES)}")


def settings_vggish(settings: ExtractSettings, vggish: Vggish | None = None) -> Vggish | None:
    """VGGish for ``settings`` (``vggish`` when given, else loaded: its files fetched at first use and verified into
    ``audio_model_dir``, else ``model_dir``, else ``$HOME/yt8m``); None unless ``audio`` is vggish."""
    check_audio(settings)
    if settings.audio != AUDIO_VGGISH:
        return None
    if vggish is not None:
        return vggish
    from reelset.features.audio import load_vggish

    return load_vggish(settings.audio_model_dir or settings.model_dir, device=settings.device,
                       expected_sha256=settings.audio_expected_sha256)


def process_vggish(settings: ExtractSettings) -> Vggish | None:
    """VGGish for ``settings`` loaded once per process and kept, as :func:`process_backbone`; None without it."""
    if settings.audio != AUDIO_VGGISH:
        return None
    key = (str(settings.audio_model_dir or settings.model_dir), settings.device, str(settings.audio_expected_sha256))
    with _BACKBONES_LOCK:
        if key not in _VGGISH:
            _VGGISH[key] = settings_vggish(settings)
        return _VGGISH[key]


@dataclass(frozen=True)
class VideoTask:
    """One video for :func:`video_features`: the video as the user gave it, the path to open (absolute on a
    cluster), the run's settings, and the backbone and VGGish already loaded in this process (None on a cluster:
    the worker loads its own)."""

    video: VideoInput
    path: str
    settings: ExtractSettings
    backbone: Backbone | None = None
    vggish: Vggish | None = None


def video_features(task: VideoTask) -> VideoResult:
    """One video's features from the cache, or decoded and embedded (with the key to cache them under); its failure
    as a one-line error that starts with the path as the user wrote it."""
    settings, video = task.settings, task.video
    try:
        backbone = task.backbone or process_backbone(settings)
        vggish = task.vggish or process_vggish(settings)
        fingerprint = getattr(backbone, "fingerprint", backbone.name)
        cache = FeatureCache(settings.cache_dir or default_cache_dir(), settings, fingerprint,
                             vggish.fingerprint if vggish else None) if settings.use_cache else None
        with _decode_slot(settings.decode_workers):
            key = cache.key(Path(task.path)) if cache and Path(task.path).is_file() else None
            cached = cache.get(key) if key else None
            if cached is not None and cached.backbone == backbone.name and (
                    vggish is None or cached.audio_source == AUDIO_VGGISH or cached.no_sound):
                return VideoResult(video, cached, from_cache=True)
            decoded = decode_frames(task.path, fps=settings.frames_per_second, max_frames=settings.max_frames,
                                    size=backbone.input_size)
            sound = _sound_of(vggish, task.path, decoded.timestamps)
        with _EMBED_LOCK:
            features = _with_audio(_features_of(backbone, decoded, settings.batch_size), vggish, sound)
        return VideoResult(video, features, cache_key=key)
    except ReelsetError as error:
        return VideoResult(video, None, _named(video, task.path, str(error)))
    except OSError as error:
        return VideoResult(video, None, f"{video.path}: {one_line(error, strerror=True)}")


def _named(video: VideoInput, opened: str, error: str) -> str:
    """``error`` starting with the path as the user wrote it (not the absolute one a cluster's task opened)."""
    if error.startswith(opened):
        return video.path + error[len(opened):]
    return error if error.startswith(video.path) else f"{video.path}: {error}"
