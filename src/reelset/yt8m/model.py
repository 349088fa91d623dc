"""A trained YouTube-8M classifier, on disk and in use: :func:`load_model` -> :class:`TrainedModel`.

Models are made by :func:`reelset.yt8m.training.train` (``reelset yt8m train``) and used by ``reelset yt8m
evaluate`` / ``predict`` and ``reelset taste``.

The model directory
-------------------
- ``model.json``: what the model is and reads, as plain JSON: ``model`` and its ``options``, ``level``, the feature
  space (``backbone``, ``features``, ``widths``, ``record_keys``, ``max_frames``), the class set (``classes``:
  ``target`` labels or verticals, ``ids``, ``names``, ``groups``, ``label_space``, and for verticals which
  verticals each label id stands for), the ``vocabulary`` it was named with (path, version, size, sha256; or
  null), and ``training``: settings, files, video counts, per-epoch history, best epoch, validation metrics, speed,
  and the ``fingerprint`` of data and settings that a rerun compares.
- ``weights.pt``: the network's ``state_dict`` (``torch.save``; read back with ``weights_only=True``, which runs no
  code).
- ``checkpoint.pt``: only while training runs or after it was interrupted; the next run resumes from it.

Each file is written atomically; ``model.json`` comes last, so a directory with one is complete.

The API
-------
``TrainedModel`` attributes: ``backbone`` (feature space: ``inception-yt8m``, ``efficientnet-lite0``), ``level``
(``video`` | ``frame``), ``features`` (``("rgb",)`` or ``("rgb", "audio")``), ``widths`` (``{"rgb": 1024, ...}``),
``class_ids``, ``class_names`` (vocabulary names, or ``str(id)`` without one), ``class_groups`` (each class's
vertical, "" when unknown; for a ``--verticals`` model the vertical names themselves), ``max_frames``,
``num_classes``, ``name`` (the architecture), ``device``, ``path``, ``config`` (``model.json`` as a dict).

- :meth:`TrainedModel.predict`: one video's features -> probabilities (num_classes,) float32.
- :meth:`TrainedModel.predict_batch`: records (as ``read_records`` yields them) -> (ids, probabilities).
- :meth:`TrainedModel.predict_frames`: per-second probabilities (frames, num_classes): a video-level model scores
  each frame as if it were a whole video; a frame-level model scores a window of ``window`` frames centred on
  each frame (5 by default, the length of YouTube-8M's rated segments; narrower at the ends).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

from reelset.core.errors import ReelsetError, one_line
from reelset.features.backbones import RECORD_KEY, backbone_of_record
from reelset.features.backbones.device import resolve_device, torch_gpu_count
from reelset.yt8m.records import Record, dequantize
from reelset.yt8m.training.data import ClassSet, FeatureSpace, pad_frames
from reelset.yt8m.training.networks import MODELS, build_network

MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.pt"
CHECKPOINT_FILE = "checkpoint.pt"
FORMAT = "reelset-yt8m-model"
FORMAT_VERSION = 2  # 2: unit-length inputs ("inputs": "unit"); 1: standardised inputs, still read
READ_VERSIONS = (1, 2)
FRAME_WINDOW = 5  # predict_frames' window for frame-level models: a YouTube-8M segment (5 s)

__all__ = ["CHECKPOINT_FILE", "MODEL_FILE", "WEIGHTS_FILE", "ModelError", "TrainedModel", "load_model"]


class ModelError(ReelsetError):
    """A model directory that cannot be used, or inputs a model cannot read."""


def _floats(values) -> np.ndarray:
    values = np.asarray(values)
    return dequantize(values) if values.dtype == np.uint8 else values.astype(np.float32, copy=False)


class TrainedModel:
    """A loaded model, ready to predict on ``device`` (see the module docstring for the attributes)."""

    def __init__(self, path: Path, config: dict, network: torch.nn.Module, device: str):
        self.path = Path(path)
        self.config = config
        self.name: str = config["model"]
        self.space = FeatureSpace(config["level"], config["backbone"], tuple(config["features"]),
                                  {name: int(width) for name, width in config["widths"].items()},
                                  int(config["max_frames"]))
        self.classes = ClassSet.from_json(config["classes"])
        self.backbone: str = self.space.backbone
        self.level: str = self.space.level
        self.features: tuple[str, ...] = self.space.features
        self.widths: dict[str, int] = dict(self.space.widths)
        self.max_frames: int = self.space.max_frames
        self.class_ids: list[int] = list(self.classes.ids)
        self.class_names: list[str] = list(self.classes.names)
        self.class_groups: list[str] = list(self.classes.groups)
        self.device = device
        self.network = network.to(device).eval()
        self.batch_size = 256 if self.level == "video" else 32

    @property
    def num_classes(self) -> int:
        return len(self.class_ids)

    def __repr__(self) -> str:
        return (f"TrainedModel({self.name}, {self.level} level, {self.backbone} {'+'.join(self.features)}, "
                f"{self.num_classes} classes, {self.path})")

    # ------------------------------------------------------------------------------------------------- inputs

    def _feature(self, features: Mapping, name: str) -> np.ndarray:
        # A video-level model reads mean_<name> first, as in training (our extractor's records have both).
        if self.level == "video" and f"mean_{name}" in features:
            values = np.asarray(features[f"mean_{name}"])
        elif name in features:
            values = np.asarray(features[name])
        else:
            raise ModelError(f"no '{name}' features given; the model reads {', '.join(self.features)}")
        if values.shape[-1] != self.widths[name] or values.ndim not in (1, 2):
            raise ModelError(f"'{name}' features of shape {values.shape}; the model reads (frames, "
                             f"{self.widths[name]})")
        return values

    def _check_backbone(self, features: Mapping, where: str) -> None:
        backbone = backbone_of_record(features)
        if backbone != self.backbone:
            raise ModelError(f"{where}features from the {backbone} backbone, but the model reads {self.backbone} "
                             f"features: use records extracted with --backbone {self.backbone}")

    def _video_input(self, features: Mapping) -> np.ndarray:
        parts = []
        for name in self.features:
            values = _floats(self._feature(features, name))
            parts.append(values if values.ndim == 1 else values.mean(axis=0, dtype=np.float32))
        return np.concatenate(parts)

    def _frame_parts(self, features: Mapping, *, truncate: bool = True) -> list[np.ndarray]:
        parts = []
        for name in self.features:
            values = self._feature(features, name)
            if values.ndim != 2:
                raise ModelError(f"'{name}': a frame-level model reads (frames, width) frame features, got shape "
                                 f"{values.shape}")
            if "num_frames" in features:  # read_records(max_frames=...) padding
                values = values[:int(features["num_frames"])]
            parts.append(values[:self.max_frames] if truncate else values)
        if len({len(part) for part in parts}) > 1:
            raise ModelError(f"features of different frame counts ({', '.join(str(len(p)) for p in parts)})")
        return parts

    def _forward(self, x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        with torch.inference_mode():
            inputs = torch.from_numpy(x).to(self.device)
            masks = None if mask is None else torch.from_numpy(mask).to(self.device)
            log_p, _ = self.network(inputs, masks)
            return log_p.exp().float().cpu().numpy()

    # ------------------------------------------------------------------------------------------------- predict

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """One video's probabilities, (num_classes,) float32.

        Args:
            features: by feature name (``"rgb"``, ``"audio"``): the video's frame features (frames, width), float32
                dequantized (uint8 bytes are dequantized here). A video-level model takes their mean, and also
                accepts one vector, (width,) or (1, width), e.g. a video-level record's ``mean_rgb`` (a record dict
                works as it is). A frame-level model keeps the first ``max_frames`` frames.

        Raises:
            ModelError: a feature the model reads is missing or of another width; ``features`` holds a
                ``backbone`` that is not the model's.
        """
        if RECORD_KEY in features:
            self._check_backbone(features, "")
        if self.level == "video":
            return self._forward(self._video_input(features)[None], None)[0]
        x, mask = pad_frames([self._frame_parts(features)], self.space.width)
        return self._forward(x, mask)[0]

    def predict_batch(self, records: Iterable[Record], *, batch_size: int | None = None
                      ) -> tuple[list[str], np.ndarray]:
        """Probabilities of every record: ``(ids, (videos, num_classes) float32)``.

        Records are dicts as :func:`reelset.yt8m.read_records` yields them (``dequantize=True``; bytes work too).

        Raises:
            ModelError: a record of another backbone, or without a feature the model reads, or of other widths.
        """
        ids: list[str] = []
        chunks: list[np.ndarray] = []
        pending: list = []
        size = batch_size or self.batch_size

        def flush():
            if self.level == "video":
                chunks.append(self._forward(np.stack(pending), None))
            else:
                chunks.append(self._forward(*pad_frames(pending, self.space.width)))
            pending.clear()

        for index, record in enumerate(records):
            where = f"record {index} (id {record.get('id', '?')}): "
            self._check_backbone(record, where)
            try:
                pending.append(self._video_input(record) if self.level == "video" else self._frame_parts(record))
            except ModelError as error:
                raise ModelError(f"{where}{error}") from None
            ids.append(record.get("id", str(index)))
            if len(pending) >= size:
                flush()
        if pending:
            flush()
        probabilities = np.concatenate(chunks) if chunks else np.zeros((0, self.num_classes), np.float32)
        return ids, probabilities

    def predict_frames(self, features: Mapping[str, np.ndarray], *, window: int = FRAME_WINDOW) -> np.ndarray:
        """Per-second probabilities, (frames, num_classes) float32.

        A video-level model scores each frame's features as a video; a frame-level model scores the ``window``
        frames centred on each frame (fewer at the ends), for every frame (``max_frames`` limits whole-video
        predictions only). ``features`` as for :meth:`predict`, with frames.
        """
        if RECORD_KEY in features:
            self._check_backbone(features, "")
        if self.level == "video":
            frames = [_floats(self._feature({name: features[name]} if name in features else {}, name))
                      for name in self.features]  # the frames, not mean_<name>
            if any(part.ndim != 2 for part in frames):
                raise ModelError("predict_frames needs frame features (frames, width)")
            x = np.concatenate(frames, axis=1)
            return np.concatenate([self._forward(x[start:start + 4096], None)
                                   for start in range(0, len(x), 4096)] or [np.zeros((0, self.num_classes))])
        parts = self._frame_parts(features, truncate=False)  # every second, past max_frames too
        count, half = len(parts[0]), max(1, window) // 2
        windows = [[part[max(0, t - half):t + half + 1] for part in parts] for t in range(count)]
        out = [self._forward(*pad_frames(windows[start:start + 256], self.space.width))
               for start in range(0, count, 256)]
        return np.concatenate(out) if out else np.zeros((0, self.num_classes), np.float32)

    def outputs_of(self, labels: Iterable[int], where: str = "") -> list[int]:
        """The outputs a video with these label ids should switch on (for evaluation); ids out of range refused."""
        labels = np.asarray(list(labels), dtype=np.int64)
        self.classes.check_labels(labels, where or "labels")
        return self.classes.outputs_of(labels)


def read_config(model_dir: Path) -> dict:
    """``model.json`` of ``model_dir``, checked for the keys every reader needs."""
    model_dir = Path(model_dir)
    config_path = model_dir / MODEL_FILE
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: no such model directory")
    if not config_path.exists():
        if (model_dir / CHECKPOINT_FILE).exists():
            raise ModelError(f"{model_dir}: training has not finished (only a checkpoint is there): run the same "
                             f"`reelset yt8m train ... --out {model_dir}` again to resume it")
        raise ModelError(f"{model_dir}: not a model directory (no {MODEL_FILE}; `reelset yt8m train` makes one)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{config_path}: corrupt model description ({error})") from None
    required = ("format", "version", "model", "options", "level", "backbone", "features", "widths", "max_frames",
                "classes")
    missing = [key for key in required if not isinstance(config, dict) or key not in config]
    if missing:
        raise ModelError(f"{config_path}: corrupt model description (missing {', '.join(missing)})")
    if config["format"] != FORMAT or config["version"] not in READ_VERSIONS:
        raise ModelError(f"{config_path}: format {config['format']} v{config['version']}, this reelset reads "
                         f"{FORMAT} v{', v'.join(map(str, READ_VERSIONS))}")
    if config["model"] not in MODELS:
        raise ModelError(f"{config_path}: unknown model {config['model']!r}")
    return config


def network_for(config: dict, device: str = "cpu") -> torch.nn.Module:
    """An (untrained) network of the shape ``config`` describes."""
    spec = MODELS[config["model"]]
    classes = len(config["classes"]["ids"])
    with torch.random.fork_rng(devices=[]):  # random init, overwritten by the weights: leave the caller's RNG alone
        network = build_network(spec, tuple(int(config["widths"][name]) for name in config["features"]), classes,
                                np.zeros(classes, np.float32), config["options"],
                                inputs=config.get("inputs", "standardize"))  # format 1 had no "inputs"
    return network.to(device)


def load_model(model_dir: Path, *, device: str = "auto") -> TrainedModel:
    """The model in ``model_dir``, on ``device`` (``auto``: a GPU when torch sees one, else the CPU).

    Raises:
        ModelError: the directory is missing, unfinished or corrupt (one line naming the file).
        DeviceError: the device is not there.
    """
    model_dir = Path(model_dir)
    config = read_config(model_dir)
    resolved = resolve_device(device, gpus=torch_gpu_count())
    weights_path = model_dir / WEIGHTS_FILE
    try:
        network = network_for(config)
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except FileNotFoundError:
        raise ModelError(f"{weights_path}: missing (the model directory is incomplete)") from None
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError) as error:
        raise ModelError(f"{weights_path}: corrupt or not this model's weights "
                         f"({one_line(error, first_line=True)})") from None
    return TrainedModel(model_dir, config, network, resolved)
