"""From a video's features to what it shows, in YouTube-8M's terms: per-label scores, per-second scores, the top
labels (each marked ``unsure`` when its score is too low to state as a fact), and the video's vertical.

Two taggers follow :class:`Tagger`, and both speak YouTube-8M's language (its 3,862 entities and 25 verticals,
:mod:`reelset.taste.verticals`), so the report reads the same whichever made it:

- :class:`ImageNetTagger` (the offline default): EfficientNet-Lite0's own ImageNet classifier applied to each
  frame's features (``classify_features``: cached features are tagged without decoding again). Each of the 1,000
  classes is mapped onto a YouTube-8M entity by :func:`reelset.taste.verticals.imagenet_mapping`; the probabilities of
  the classes mapped to one entity add up to that entity's score ("Egyptian cat" and "tabby" both count as "Cat");
  a class that maps to no entity keeps its ImageNet name, in vertical "Other". A video's scores are the mean over
  its frames. A label is unsure below :data:`IMAGENET_UNSURE_BELOW` (a probability) or when the mapping that made it
  is itself unsure (confidence under :data:`MAPPING_UNSURE_BELOW`).
- :class:`Yt8mTagger`: a trained YouTube-8M model (``reelset.yt8m.model.load_model``); the video's features must
  come from the backbone the model was trained on; labels are YouTube-8M entities and their vertical the model's
  (else the shipped vocabulary's for that name; ``""`` for a class it does not know). Scores are independent
  probabilities: unsure below :data:`YT8M_UNSURE_BELOW`. Per-second scores only from frame-level models that give
  them (``predict_frames``). A model trained on rgb+audio is fed the video's VGGish audio too (its ``audio`` is
  ``"vggish"``: extraction computes it); such a model cannot tag a video without sound from its pictures alone, so
  that video is skipped with :data:`NO_SOUND` as its reason (:meth:`Tagger.cannot_tag`), the others tagged.

Labels are the top ``k`` whatever their score, best first; equal scores keep the label order. A video's vertical is
the one whose top labels (those the report shows) add up highest (:func:`video_vertical`): over all 3,862 classes,
the many small scores of unrelated entities would outweigh the one the model is sure of.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from reelset.core.errors import ReelsetError
from reelset.features.backbones import EFFICIENTNET_LITE0, RECORD_KEY, Backbone, load_backbone
from reelset.features.constants import AUDIO_NONE, AUDIO_VGGISH
from reelset.features.extraction import VideoFeatures

NUM_IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class Label:
    """One predicted label: the fine name (an ImageNet class or a YouTube-8M entity), its score in [0, 1], its
    group (category or vertical), and whether the score is too low to state it as a fact (``unsure``)."""

    name: str
    score: float
    category: str
    unsure: bool = False


class Tagger(Protocol):
    """What taste needs from a tagger.

    Attributes:
        backbone: the backbone whose features it reads (extraction uses it).
        names: the fine label of each class index.
        groups: the category (or vertical) of each class index, ``""`` when unknown.
        group_kind: ``"vertical"``: what the report calls the groups (both taggers give YouTube-8M verticals).
        description: one line for the report (what model, what labels).
        scores_sum_to_one: whether a video's scores are a distribution (ImageNet) or independent (YouTube-8M).
        unsure: when one of its labels is unsure.
        audio: the audio its features need (``ExtractSettings.audio``): ``"none"``, or ``"vggish"`` for a model
            that reads YouTube-8M's audio features.
    """

    backbone: str
    names: Sequence[str]
    groups: Sequence[str]
    group_kind: str
    description: str
    scores_sum_to_one: bool
    unsure: Unsure
    audio: str

    def cannot_tag(self, features: VideoFeatures) -> str | None:
        """Why the video of ``features`` cannot be tagged (one line, without its path), or None when it can."""

    def scores(self, features: VideoFeatures) -> tuple[np.ndarray, np.ndarray | None]:
        """``(num_classes,)`` scores of the video and ``(frames, num_classes)`` per-frame scores (or None)."""


IMAGENET_UNSURE_BELOW = 0.3  # a mean probability: under it, the frames mostly show something else
MAPPING_UNSURE_BELOW = 0.5  # ImageNet class -> entity mappings that climbed far or matched an ambiguous word
YT8M_UNSURE_BELOW = 0.5  # an independent probability: under it the model leans towards "no"
# Why an rgb+audio model skips a video without sound: zeros or made-up audio would be features YouTube-8M's videos
# never have, and the model's scores for them would mean nothing.
NO_SOUND = ("no audio stream: the model reads rgb+audio features and cannot tag a video from its pictures alone "
            "(a model trained on rgb alone can)")


@dataclass(frozen=True)
class Unsure:
    """When a label is unsure: its score under ``below``, or the label's own ``confidence`` (by label index, e.g.
    an ImageNet-to-entity mapping's) under ``confidence_below``."""

    below: float = 0.0
    confidence: Sequence[float] | None = None
    confidence_below: float = MAPPING_UNSURE_BELOW

    def __call__(self, index: int, score: float) -> bool:
        return score < self.below or (self.confidence is not None
                                      and self.confidence[index] < self.confidence_below)


def top_labels(scores: np.ndarray, names: Sequence[str], groups: Sequence[str], k: int,
               unsure: Unsure | None = None) -> list[Label]:
    """The ``k`` best labels, best first (a stable sort: equal scores keep the label order)."""
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")[:k]
    unsure = unsure or Unsure()
    return [Label(names[index], float(scores[index]), groups[index], unsure(int(index), float(scores[index])))
            for index in order]


def video_vertical(labels: Sequence[Label]) -> str:
    """The vertical whose ``labels`` (a video's top labels, :func:`top_labels`) add up highest: ``""`` when none has
    one; on a tie, the vertical of the better label. Only the top labels count: a model's thousands of small scores
    of unrelated entities would add up past the label it is sure of (a video that is "Tomato" at 0.999 would be
    "Games", the vertical with the most entities)."""
    totals: dict[str, float] = {}
    for label in labels:
        if label.category:
            totals[label.category] = totals.get(label.category, 0.0) + float(label.score)
    return max(totals, key=totals.__getitem__) if totals else ""  # max keeps the first of equal totals


@dataclass(frozen=True)
class FrameTopLabels:
    """The top k labels of each frame, kept compact (a large library's frames would not fit in memory as objects
    or as all their scores): class indices and scores ``(frames, k)``, with the tagger's names and groups.
    Indexing or iterating gives each frame's labels, best first."""

    classes: np.ndarray
    scores: np.ndarray
    names: Sequence[str]
    groups: Sequence[str]
    unsure: Unsure | None = None

    @classmethod
    def from_scores(cls, frame_scores: np.ndarray, names: Sequence[str], groups: Sequence[str],
                    k: int, unsure: Unsure | None = None) -> FrameTopLabels:
        frame_scores = np.asarray(frame_scores, np.float32)
        classes = np.argsort(-frame_scores, axis=1, kind="stable")[:, :k].astype(np.int32)
        return cls(classes, np.take_along_axis(frame_scores, classes, axis=1), names, groups, unsure)

    def __len__(self) -> int:
        return len(self.classes)

    def __getitem__(self, frame: int) -> list[Label]:
        unsure = self.unsure or Unsure()
        return [Label(self.names[index], float(score), self.groups[index], unsure(int(index), float(score)))
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
    """The 1,000 ImageNet classes of EfficientNet-Lite0, told as YouTube-8M entities and verticals (module
    docstring)."""

    group_kind = "vertical"
    scores_sum_to_one = True
    audio = AUDIO_NONE

    def __init__(self, backbone: Backbone, mappings: Sequence):
        if backbone.name != EFFICIENTNET_LITE0 or not hasattr(backbone, "classify_features"):
            raise ReelsetError(f"the offline tagger needs the {EFFICIENTNET_LITE0} backbone, not {backbone.name}")
        if len(mappings) != NUM_IMAGENET_CLASSES:
            raise ReelsetError(f"the ImageNet mapping has {len(mappings)} classes, not {NUM_IMAGENET_CLASSES}")
        self._backbone = backbone
        self.backbone = backbone.name
        index_of: dict[str, int] = {}
        self.names: list[str] = []
        self.groups: list[str] = []
        confidence: list[float] = []
        label_of_class = np.empty(len(mappings), np.int64)
        entities = {mapping.entity for mapping in mappings if mapping.entity}
        for mapping in mappings:
            if mapping.entity:
                name, sure = mapping.entity, float(mapping.confidence)
            else:  # the class itself, in "Other" (never a name taken by an entity)
                name = mapping.name if mapping.name not in entities else f"{mapping.name} (ImageNet)"
                sure = 1.0
            if name not in index_of:
                index_of[name] = len(self.names)
                self.names.append(name)
                self.groups.append(mapping.vertical)
                confidence.append(sure)
            label = index_of[name]
            if sure > confidence[label]:  # the surest mapping names the entity's vertical
                confidence[label], self.groups[label] = sure, mapping.vertical
            label_of_class[mapping.index] = label
        self._label_of_class = label_of_class
        self.unsure = Unsure(IMAGENET_UNSURE_BELOW, tuple(confidence))
        mapped = sum(1 for mapping in mappings if mapping.entity)
        self.description = (f"offline tagger: {EFFICIENTNET_LITE0}'s ImageNet classifier, its 1,000 classes told as "
                            f"{len(entities)} YouTube-8M entities ({mapped} classes mapped through WordNet 3.0; "
                            f"the other {len(mappings) - mapped} in \"Other\")")

    def cannot_tag(self, features: VideoFeatures) -> str | None:
        return None

    def scores(self, features: VideoFeatures) -> tuple[np.ndarray, np.ndarray | None]:
        classes = np.asarray(self._backbone.classify_features(features.features), np.float32)
        per_frame = np.zeros((len(classes), len(self.names)), np.float32)
        np.add.at(per_frame.T, self._label_of_class, classes.T)  # the classes of one label add up
        return per_frame.mean(axis=0).astype(np.float32), per_frame


class Yt8mTagger:
    """A trained YouTube-8M model (the ``TrainedModel`` of ``reelset.yt8m.model``): entities and their verticals,
    from rgb features, or rgb and VGGish audio (module docstring)."""

    group_kind = "vertical"
    scores_sum_to_one = False

    def __init__(self, model, source: str = "model"):
        features = tuple(getattr(model, "features", ("rgb",)))
        if "rgb" not in features or not set(features) <= {"rgb", "audio"}:
            raise ReelsetError(f"{source}: the model reads {'+'.join(features) or 'no'} features; taste gives it rgb, "
                               "or rgb+audio")
        self.features = features
        self.audio = AUDIO_VGGISH if "audio" in features else AUDIO_NONE
        if self.audio == AUDIO_VGGISH:
            from reelset.features.audio.vggish import WIDTH

            width = dict(getattr(model, "widths", None) or {}).get("audio", WIDTH)
            if width != WIDTH:
                raise ReelsetError(f"{source}: the model reads audio features of width {width}; YouTube-8M's (VGGish) "
                                   f"have {WIDTH}")
        self.model = model
        self.backbone = model.backbone
        self.names = list(model.class_names)
        groups = list(getattr(model, "class_groups", None) or [""] * len(self.names))
        if not all(groups):  # the vocabulary shipped with reelset knows the verticals of YouTube-8M's names
            from reelset.taste.verticals import load_entities

            known = {entity.name: entity.verticals[0] for entity in load_entities() if entity.verticals}
            groups = [group or known.get(name, "") for group, name in zip(groups, self.names)]
        self.groups = [group or "" for group in groups]
        self.unsure = Unsure(YT8M_UNSURE_BELOW)
        read = f"{model.backbone} features" + (" and VGGish audio" if self.audio == AUDIO_VGGISH else "")
        self.description = f"YouTube-8M {model.level}-level model {source} ({len(self.names)} entities, {read})"

    def cannot_tag(self, features: VideoFeatures) -> str | None:
        return NO_SOUND if self.audio == AUDIO_VGGISH and features.audio is None else None

    def scores(self, features: VideoFeatures) -> tuple[np.ndarray, np.ndarray | None]:
        # The backbone goes along so that the model itself refuses features of another space.
        inputs = {"rgb": np.asarray(features.features, np.float32), RECORD_KEY: features.backbone}
        if self.audio == AUDIO_VGGISH:
            if features.audio is None:
                raise ReelsetError(NO_SOUND)
            # The unquantized floats, as the rgb ones: what the records' mean_audio averages.
            inputs["audio"] = np.asarray(features.audio, np.float32)
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
        ReelsetError: WordNet or ``imagenet-classes`` missing; a model that cannot be loaded, reads features other
            than rgb and VGGish audio, or whose backbone cannot be loaded here (the message says which and why).
    """
    if model is None:
        from reelset.taste.verticals import imagenet_mapping

        mappings = imagenet_mapping(wordnet_dir, cache_dir=cache_dir)  # first: a missing WordNet fails fast
        backbone = load_backbone(EFFICIENTNET_LITE0, device=device)
        return ImageNetTagger(backbone, mappings), backbone
    source = str(model) if isinstance(model, (str, Path)) else "given"
    loaded = load_yt8m_model(model, device=device) if isinstance(model, (str, Path)) else model
    tagger = Yt8mTagger(loaded, source)
    try:
        backbone = load_backbone(tagger.backbone, device=device, model_dir=backbone_model_dir)
    except ReelsetError as exc:
        raise ReelsetError(f"--model {source} was trained on {tagger.backbone} features, and that backbone cannot "
                           f"be loaded here: {exc}") from exc
    return tagger, backbone
