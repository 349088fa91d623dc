"""The small-data models: L2 logistic regression (against scikit-learn), kNN (by hand), their blend, the
cross-validated choice, unit-length inputs, the YouTube-8M-like synthetic data, and models of format 1."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from reelset.yt8m.model import MODEL_FILE, WEIGHTS_FILE, load_model, network_for
from reelset.yt8m.records import write_records
from reelset.yt8m.training import TrainSettings, train
from reelset.yt8m.training import shallow
from reelset.yt8m.training.networks import PRIOR_WEIGHT
from reelset.yt8m.training.synthetic import train_video_counts, yt8m_like_records

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(videos=120, width=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(videos, width)).astype(np.float32)
    targets = np.zeros((videos, classes), np.float32)
    targets[:, 0] = (x[:, 0] + 0.5 * rng.normal(size=videos)) > 0
    targets[:, 1] = (x[:, 1] - x[:, 2] + 0.5 * rng.normal(size=videos)) > 0.5
    return shallow.unit_rows(x), targets  # class 2: no positive video


def test_logistic_regression_is_the_l2_penalised_optimum_scikit_learn_finds():
    from sklearn.linear_model import LogisticRegression

    x, targets = _data()
    l2 = 0.01
    fit = shallow.fit_logistic(x, targets, l2)
    for label in (0, 1):
        # Ours: mean over videos of the cross-entropy + l2/2 |w|^2; scikit-learn's: C * sum + 1/2 |w|^2 (the
        # intercept not penalised), the same optimum for C = 1 / (videos * l2).
        reference = LogisticRegression(C=1.0 / (len(x) * l2), tol=1e-10, max_iter=10_000).fit(x, targets[:, label])
        np.testing.assert_allclose(fit.weight[label], reference.coef_[0], atol=2e-3)
        assert fit.bias[label] == pytest.approx(reference.intercept_[0], abs=2e-3)
    # A class no video has keeps zero weights and its smoothed prior: (0 + 0.5) / (videos + 1).
    assert not fit.weight[2].any()
    assert fit.bias[2] == pytest.approx(np.log(0.5 / (len(x) + 0.5)), abs=1e-5)
    # A weaker penalty lets the weights grow.
    assert np.linalg.norm(shallow.fit_logistic(x, targets, 1e-4).weight) > np.linalg.norm(fit.weight)


def test_knn_votes_by_similarity_by_hand():
    bank = shallow.unit_rows(np.array([[1, 0], [1, 1], [0, 1], [-1, 0]], np.float32))
    targets = np.array([[1, 0], [1, 1], [0, 1], [0, 1]], np.float32)
    query = shallow.unit_rows(np.array([[2, 0.2]], np.float32))
    scores = shallow.knn_scores(bank, targets, query, k=2)
    similarity = bank @ query[0]
    nearest = np.argsort(-similarity)[:2]  # [1, 0] and [1, 1]
    weights = similarity[nearest]
    prior = targets.mean(axis=0)
    expected = (weights @ targets[nearest] + PRIOR_WEIGHT * prior) / (weights.sum() + PRIOR_WEIGHT)
    np.testing.assert_allclose(scores[0], expected, rtol=1e-6)
    assert scores[0, 0] > 0.99 and scores[0, 1] < 0.5
    # An opposite neighbour counts nothing: the query [-1, 0] with k=4 votes only with [-1, 0] (and 0-similar ones).
    far = shallow.knn_scores(bank, targets, shallow.unit_rows(np.array([[-1, 0]], np.float32)), k=4)
    assert far[0, 1] > 0.99


def test_cross_validation_scores_out_of_fold_and_keeps_the_best():
    x, targets = _data(videos=150)
    seen = []
    result = shallow.cross_validate(x, targets, folds=5, seed=1, l2_grid=(1e-1, 1e-2), k_grid=(3, 9),
                                    alpha_grid=(0.5,), on_setting=lambda setting, metrics: seen.append(setting))
    labels = [setting.label() for setting, _ in result.scores]
    assert labels == ["logistic l2=0.1", "logistic l2=0.01", "knn k=3", "knn k=9",
                      f"blend alpha=0.5 (l2={result.best_of('logistic')[0].l2:g}, k={result.best_of('knn')[0].k})"]
    assert [setting.label() for setting in seen] == labels
    assert result.best_gap == max(gap for _, gap in result.scores)
    assert result.results[result.best]["gap"] == result.best_gap
    # The folds: balanced, drawn with the seed.
    folds = shallow.fold_of(150, 5, 1)
    assert np.bincount(folds).tolist() == [30] * 5
    assert (shallow.fold_of(150, 5, 1) == folds).all() and not (shallow.fold_of(150, 5, 2) == folds).all()
    # One model only: its settings alone are candidates.
    assert shallow.cross_validate(x, targets, models=("knn",), folds=3, k_grid=(3, 9)).best.model == "knn"


def test_a_fixed_validation_set_scores_only_the_validation_videos():
    x, targets = _data(videos=100)
    fold = np.r_[np.full(70, -1), np.zeros(30)].astype(np.int64)
    result = shallow.cross_validate(x, targets, models=("knn",), folds=fold, k_grid=(5,))
    assert result.folds == 1 and result.results[result.best]["num_videos"] == 30
    direct = shallow.knn_scores(x[:70], targets[:70], x[70:], 5)
    from reelset.yt8m import metrics

    assert result.best_gap == pytest.approx(metrics.evaluate(direct, targets[70:] > 0)["gap"], abs=1e-12)


@pytest.fixture(scope="module")
def like_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("like")
    small = {"classes": 40, "topics": 60, "rgb_width": 32, "audio_width": 8}
    write_records(root / "train.tfrecord", yt8m_like_records(150, seed=1, **small))
    write_records(root / "test.tfrecord", yt8m_like_records(40, seed=2, **small))
    return root


@pytest.mark.parametrize("model", ["logistic", "knn", "blend"])
def test_saved_models_predict_what_was_fitted_and_ignore_vector_length(like_files, tmp_path, model):
    out = tmp_path / model
    summary = train([like_files / "train.tfrecord"], out, TrainSettings(model=model, folds=3))
    assert summary.model == model and summary.selection == "3-fold cross-validation"
    loaded = load_model(out)
    from reelset.yt8m.records import read_records

    records = list(read_records([like_files / "test.tfrecord"]))
    _, probabilities = loaded.predict_batch(records)
    longer = [{**record, "mean_rgb": record["mean_rgb"] * 3, "mean_audio": record["mean_audio"] * 3}
              for record in records]
    np.testing.assert_allclose(loaded.predict_batch(longer)[1], probabilities, atol=1e-5)
    # The network's scores are shallow's, on the same fit.
    train_records = list(read_records([like_files / "train.tfrecord"]))
    x = shallow.unit_rows(np.stack([np.r_[r["mean_rgb"], r["mean_audio"]] for r in train_records]))
    targets = np.zeros((len(x), loaded.num_classes), np.float32)
    for row, record in enumerate(train_records):
        targets[row, record["labels"]] = 1
    queries = shallow.unit_rows(np.stack([np.r_[r["mean_rgb"], r["mean_audio"]] for r in records]))
    options = loaded.config["options"]
    knn = shallow.knn_scores(x, targets, queries, options["k"]) if "k" in options else None
    linear = shallow.linear_scores(shallow.fit_logistic(x, targets, options["l2"]), queries) if "l2" in options \
        else None
    expected = {"knn": knn, "logistic": linear,
                "blend": None if knn is None or linear is None else options.get("alpha", 0) * knn
                + (1 - options.get("alpha", 0)) * linear}[model]
    np.testing.assert_allclose(probabilities, expected, atol=2e-4)


def test_format_1_models_with_standardised_inputs_still_load(like_files, tmp_path):
    out = tmp_path / "old"
    train([like_files / "train.tfrecord"], out, TrainSettings(model="moe", epochs=1))
    config = json.loads((out / MODEL_FILE).read_text())
    config["version"] = 1
    del config["inputs"]
    network = network_for(config)
    assert type(network.inputs).__name__ == "Standardize"
    weights = network.state_dict()
    weights["inputs.mean"] = torch.full_like(weights["inputs.mean"], 0.5)
    torch.save(weights, out / WEIGHTS_FILE)
    (out / MODEL_FILE).write_text(json.dumps(config))
    loaded = load_model(out)
    assert torch.equal(loaded.network.inputs.mean, weights["inputs.mean"])


def test_yt8m_like_records_look_like_the_real_data():
    records = list(yt8m_like_records(1500, rgb_width=64, audio_width=16, seed=3))
    counts = np.array([len(record["labels"]) for record in records])
    assert 2.6 < counts.mean() < 3.4 and counts.min() >= 1
    vectors = np.stack([np.r_[record["mean_rgb"], record["mean_audio"]] for record in records])
    lengths = np.linalg.norm(vectors, axis=1)
    assert lengths.min() >= 4 - 1e-3 and lengths.max() <= 35 + 1e-3 and lengths.max() / lengths.min() > 5
    # Lengths say nothing about the labels: as long with a common class as without it.
    common = np.array([0 in record["labels"] for record in records])
    assert abs(np.log(lengths[common]).mean() - np.log(lengths[~common]).mean()) < 0.15
    # Long-tailed like the real frequencies: the common classes are common, most classes rare.
    frequency = np.bincount(np.concatenate([record["labels"] for record in records]), minlength=3862)
    real = train_video_counts()
    assert len(real) == 3862 and real[0] == 788288
    assert frequency[:10].sum() > 0.2 * frequency.sum() and (frequency > 0).sum() < 1500
    # PCA-like: the first dimensions vary most (at YouTube-8M's width, where the profile is what real data has).
    spread = np.stack([record["mean_rgb"] for record in yt8m_like_records(300, seed=4)]).std(axis=0)
    assert spread[:16].mean() > 2 * spread[-64:].mean()


def test_a_setting_given_in_full_is_fitted_without_a_choice(like_files, tmp_path):
    seen = []
    summary = train([like_files / "train.tfrecord"], tmp_path / "m",
                    TrainSettings(model="knn", options={"k": 4}, validation_fraction=0),
                    on_epoch=lambda result: seen.append(result))
    assert not seen and summary.selection == "given" and summary.setting == "knn k=4"
    assert summary.validation is None and load_model(tmp_path / "m").config["options"] == {"k": 4}
    with pytest.raises(Exception, match="chosen on held-out videos, and there are none"):
        train([like_files / "train.tfrecord"], tmp_path / "n",
              TrainSettings(model="knn", validation_fraction=0, folds=0))
