"""Classifiers on YouTube-8M features (torch): training, evaluation, prediction.

- :mod:`.networks`: the architectures (video level: ``logistic``, ``moe``; frame level: ``nextvlad``,
  ``meanpool``; either: ``knn``, ``blend``) and their registry;
- :mod:`.shallow`: the models fitted without epochs (L-BFGS logistic regression, kNN, blend) and their
  cross-validated choice;
- :mod:`.data`: records -> class set, feature space, in-memory video sets and batches (the rules shared with
  prediction);
- :mod:`.loop`: :func:`train` (the choice, early stopping, refit, checkpoints, seeds);
- :mod:`.synthetic`: records with a planted signal, and records shaped like YouTube-8M's;
- :mod:`.segment_tuning`: :func:`fine_tune_segments` (a frame-level model fine-tuned on v3 segment ratings);
- :mod:`.evaluation`: :func:`evaluate_model` (streamed metrics, per-vertical table), :func:`predict_records`.

A trained model is used through :mod:`reelset.yt8m.model` (:func:`~reelset.yt8m.model.load_model`), which reads
:mod:`.data` and :mod:`.networks`; the names below are imported on first use so that either side can be imported
first.
"""

import importlib

_EXPORTS = {
    "DEFAULT_MODELS": "networks", "MODELS": "networks",
    "ClassSet": "data", "FeatureSpace": "data", "resolve_class_set": "data",
    "EpochResult": "loop", "TrainSettings": "loop", "TrainSummary": "loop", "TrainingError": "loop", "train": "loop",
    "Evaluation": "evaluation", "Prediction": "evaluation", "evaluate_model": "evaluation",
    "predict_records": "evaluation",
    "SegmentSettings": "segment_tuning", "fine_tune_segments": "segment_tuning",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
