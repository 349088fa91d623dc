"""The segment task (reelset.yt8m.segments) against a port of the starter code (tests/support/segment_reference.py)
and against small cases worked out by hand."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from reelset.yt8m.segments import (SUBMISSION_HEADER, SegmentError, SegmentRanking, evaluate_segments, rank_segments,
                                   rated_classes, segment_starts)
from tests.support.segment_reference import (reference_get_segments, reference_read_labels, reference_segment_map,
                                             reference_submission)

SHARED_LABEL_IDS = Path(__file__).resolve().parents[3] / "shared" / "data" / "yt8m-segment-label-ids.csv"


# ---------------------------------------------------------------------------------------------------------------------
# The shipped class list


def test_shipped_rated_classes_are_the_1000_of_the_challenge():
    ids = rated_classes()
    assert len(ids) == 1000 and ids[0] == 3 and ids[-1] < 3862
    assert (np.diff(ids) > 0).all()
    if SHARED_LABEL_IDS.exists():  # the project's reference copy (README gives the md5)
        assert hashlib.md5(SHARED_LABEL_IDS.read_bytes()).hexdigest() == "a58c03d823819eeaabecabf4bd0767f2"
        assert (rated_classes(SHARED_LABEL_IDS) == ids).all()


def test_rated_classes_skips_non_integer_lines_and_refuses_empty_files(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("Index\n7\nnope\n3\n")
    assert rated_classes(path).tolist() == [3, 7]
    path.write_text("Index\n")
    with pytest.raises(SegmentError, match="no class id"):
        rated_classes(path)


# ---------------------------------------------------------------------------------------------------------------------
# Forming segments


def test_segments_are_the_starter_codes_five_frame_bags():
    rng = np.random.default_rng(0)
    num_frames = np.array([1, 5, 6, 12, 20])
    max_frame = 20
    batch = rng.normal(size=(len(num_frames), max_frame, 3)).astype(np.float32)
    for row, count in enumerate(num_frames):
        batch[row, count:] = 0  # the reader pads with zeros after dequantizing
    reference = reference_get_segments(batch, num_frames, 5)
    ids = reference["video_segment_ids"]
    offset = 0
    for row, count in enumerate(num_frames):
        starts = segment_starts(int(count))
        assert starts.tolist() == ids[ids[:, 0] == row, 1].tolist()
        for index, start in enumerate(starts):
            real = min(5, count - start)
            assert reference["num_frames_batch"][offset + index] == real
            bag = reference["video_batch"][offset + index]
            np.testing.assert_array_equal(bag[:real], batch[row, start:start + real])
            assert not bag[real:].any()
        offset += len(starts)
    assert segment_starts(400).tolist() == list(range(0, 300, 5))  # the reader's max_frames


# ---------------------------------------------------------------------------------------------------------------------
# Ranking and the metric against the reference, on random data with ties


def _random_task(seed: int, *, videos: int = 40, classes: int = 12, levels: int = 6):
    """Videos with segment scores from few distinct values (many ties) and ratings for some (segment, class)."""
    rng = np.random.default_rng(seed)
    class_ids = np.arange(classes) * 3 + 1
    rated = class_ids[rng.random(classes) < 0.7]
    values = np.round(rng.random(levels), 3).astype(np.float32)  # %g-exact: ties survive the round trip
    task = []
    for index in range(videos):
        frames = int(rng.integers(1, 40))
        starts = segment_starts(frames)
        probabilities = values[rng.integers(0, levels, (len(starts), classes))]
        count = int(rng.integers(0, 8))
        labels = rng.choice(rated, count)
        label_starts = rng.integers(0, frames // 5 + 3, count) * 5  # some past the last frame
        scores = rng.integers(0, 2, count).astype(np.float32)
        task.append({"id": f"v{index:03d}", "starts": starts, "probabilities": probabilities,
                     "segment_labels": labels, "segment_start_times": label_starts, "segment_scores": scores})
    return class_ids, rated, task


def _ours(class_ids, rated, task, top_k, cap):
    ranking = SegmentRanking(class_ids, rated, top_k=top_k, max_per_class=cap)
    for video in task:
        ranking.add(video["id"], video["starts"], video["probabilities"],
                    (video["segment_labels"], video["segment_start_times"], video["segment_scores"]))
    return ranking


def _reference(class_ids, rated, task, top_k, cap):
    """The reference pipeline; the model's outputs are spread over the vocabulary's columns (class id = column)."""
    width = int(class_ids.max()) + 1
    segment_ids, rows = [], []
    for video in task:
        for start, row in zip(video["starts"], video["probabilities"]):
            dense = np.zeros(width, np.float32)
            dense[class_ids] = row
            segment_ids.append(f"{video['id']}:{start}")
            rows.append(dense)
    mask = np.zeros(width, np.float32)
    mask[rated] = 1.0
    return reference_submission(segment_ids, np.array(rows), top_k, mask, cap)


def _parse(lines):
    return {int(line.split(",")[0]): line.strip().split(",")[1].split(" ") for line in lines[1:]}


@pytest.mark.parametrize("seed,top_k,cap", [(0, 3, 1000), (1, 5, 7), (2, 12, 4), (3, 2, 1)])
def test_submission_matches_the_reference_up_to_the_order_of_ties(seed, top_k, cap):
    class_ids, rated, task = _random_task(seed)
    # The reference's argpartition runs over the vocabulary-wide vector: give ours the same columns, so the same
    # call makes the same choice among ties at the k-th place.
    width = int(class_ids.max()) + 1
    ranking = SegmentRanking(np.arange(width), rated, top_k=top_k, max_per_class=cap)
    for video in task:
        dense = np.zeros((len(video["starts"]), width), np.float32)
        dense[:, class_ids] = video["probabilities"]
        ranking.add(video["id"], video["starts"], dense)
    ours = list(ranking.submission_lines())
    assert ours[0] == SUBMISSION_HEADER
    reference = _reference(class_ids, rated, task, top_k, cap)
    ours_lists, reference_lists = _parse(ours), _parse(reference)
    assert set(ours_lists) == set(reference_lists)
    scores = {}
    for video in task:
        for start, row in zip(video["starts"], video["probabilities"]):
            for column, class_id in enumerate(class_ids):
                scores[(f"{video['id']}:{start}", int(class_id))] = float(row[column])
    for class_id, listed in reference_lists.items():
        assert len(ours_lists[class_id]) == len(listed) <= cap
        ours_scores = [scores[(segment, class_id)] for segment in ours_lists[class_id]]
        assert ours_scores == [scores[(segment, class_id)] for segment in listed]  # same scores, same order
        assert set(ours_lists[class_id]) == set(listed)  # the cap keeps the same segments, ties included
        by_score = {}
        for segment, score in zip(ours_lists[class_id], ours_scores):
            by_score.setdefault(score, []).append(segment)
        assert all(group == sorted(group, reverse=True) for group in by_score.values())


@pytest.mark.parametrize("seed,top_k,cap", [(0, 12, 1000), (1, 12, 7), (2, 12, 3), (4, 12, 1), (5, 4, 50)])
def test_metric_equals_the_reference_scorer_on_our_submission(seed, top_k, cap):
    class_ids, rated, task = _random_task(seed)
    ranking = _ours(class_ids, rated, task, top_k, cap)
    lines = list(ranking.submission_lines())
    labels = reference_read_labels([{"id": v["id"], **{k: v[k] for k in ("segment_labels", "segment_start_times",
                                                                          "segment_scores")}} for v in task])
    listed = {int(line.split(",")[0]) for line in lines[1:]}
    positive = {label for (_, label), score in labels.items() if score > 0}
    ours = ranking.evaluate()
    assert ours.classes_without_positives == len(listed - positive)
    # The reference fails on a listed class without a positive rating: give it the lines it can score.
    scorable = [lines[0]] + [line for line in lines[1:] if int(line.split(",")[0]) in positive]
    expected, expected_aps = reference_segment_map(scorable, labels)
    assert ours.aps == pytest.approx(expected_aps, abs=1e-12)
    assert ours.map == pytest.approx(expected, abs=1e-12)
    assert ours.rated == len(labels)
    assert ours.positives == sum(score > 0 for score in labels.values())


def test_metric_equals_the_reference_end_to_end_when_ties_do_not_mix_ratings():
    """Distinct scores: the order within ties cannot matter, so the two pipelines give the same number."""
    class_ids, rated, task = _random_task(6, levels=10**6)
    rng = np.random.default_rng(6)
    for video in task:
        video["probabilities"] = np.round(rng.random(video["probabilities"].shape), 5).astype(np.float32) + 0.01
    top_k = len(class_ids)
    ours = _ours(class_ids, rated, task, top_k, 9).evaluate()
    labels = reference_read_labels([{"id": v["id"], **{k: v[k] for k in ("segment_labels", "segment_start_times",
                                                                          "segment_scores")}} for v in task])
    positive = {label for (_, label), score in labels.items() if score > 0}
    lines = _reference(class_ids, rated, task, top_k, 9)
    expected, _ = reference_segment_map([lines[0]] + [line for line in lines[1:]
                                                      if int(line.split(",")[0]) in positive], labels)
    assert ours.map == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------------------------------------------------------------
# Small cases by hand


def test_hand_computed_average_precision():
    # One class (7). Segments a:0 0.9, a:5 0.8, b:0 0.7 (unrated), b:5 0.6, c:0 0.5; ratings: a:0 +, a:5 -, b:5 +,
    # c:0 -, and d:0 + (never scored). Rated list: a:0 + (1/1), a:5 -, b:5 + (2/3), c:0 -; P = 3.
    ranking = SegmentRanking([7], [7], top_k=1, max_per_class=100)
    ranking.add("a", [0, 5], [[0.9], [0.8]], ([7, 7], [0, 5], [1.0, 0.0]))
    ranking.add("b", [0, 5], [[0.7], [0.6]], ([7], [5], [1.0]))
    ranking.add("c", [0], [[0.5]], ([7], [0], [0.0]))
    ranking.add("d", [], np.zeros((0, 1)), ([7], [0], [1.0]))
    assert list(ranking.submission_lines()) == [SUBMISSION_HEADER, "7,a:0 a:5 b:0 b:5 c:0"]
    result = ranking.evaluate()
    assert result.aps == {7: pytest.approx((1 / 1 + 2 / 3) / 3)}
    assert (result.rated, result.positives, result.num_videos, result.num_segments) == (5, 3, 4, 5)


def test_cap_ties_and_rounding_by_hand():
    # %g keeps 6 digits: 0.1234564 and 0.1234559 both read back as 0.123456, a tie; the cap of 2 keeps the larger
    # segment ids among the tied ones, listed in descending id order.
    ranking = SegmentRanking([1, 2], [1], top_k=2, max_per_class=2)
    ranking.add("x", [0, 5, 10], [[0.1234564, 0.9], [0.1234559, 0.9], [0.01, 0.9]])
    assert list(ranking.submission_lines()) == [SUBMISSION_HEADER, "1,x:5 x:0"]  # class 2 is not rated
    ranking = SegmentRanking([1], [1], top_k=1, max_per_class=3)
    ranking.add("x", [0, 5, 10], [[0.5], [0.5], [0.5]])
    assert list(ranking.submission_lines())[1] == "1,x:5 x:10 x:0"  # string order: "x:5" > "x:10" > "x:0"


def test_last_rating_wins_and_classes_without_positives_are_left_out():
    ranking = SegmentRanking([1, 2], [1, 2], top_k=2, max_per_class=10)
    ranking.add("x", [0], [[0.9, 0.8]], ([1, 1, 2], [0, 0, 0], [1.0, 0.0, 0.0]))
    result = ranking.evaluate()
    assert result.rated == 2 and result.positives == 0
    assert result.classes == 0 and result.classes_without_positives == 2 and np.isnan(result.map)


def test_top_k_per_segment_limits_the_classes_a_segment_reaches():
    ranking = SegmentRanking([1, 2, 3], [1, 2, 3], top_k=1, max_per_class=10)
    ranking.add("x", [0, 5], [[0.1, 0.9, 0.2], [0.3, 0.2, 0.1]])
    assert list(ranking.submission_lines())[1:] == ["1,x:5", "2,x:0"]


def test_bad_inputs_are_refused():
    with pytest.raises(SegmentError, match="none of the model's classes"):
        SegmentRanking([0, 1], [5])
    ranking = SegmentRanking([1], [1])
    with pytest.raises(SegmentError, match="shape"):
        ranking.add("x", [0, 5], [[0.5]])
    with pytest.raises(SegmentError, match="differ in length"):
        ranking.add("x", [0], [[0.5]], ([1, 1], [0], [1.0]))


# ---------------------------------------------------------------------------------------------------------------------
# With a trained model and records


@pytest.fixture(scope="module")
def segment_files(tmp_path_factory):
    from reelset.yt8m.records import write_records
    from reelset.yt8m.training.synthetic import planted_records

    folder = tmp_path_factory.mktemp("segments")
    class_ids = [3, 7, 8, 11]  # rated classes of the shipped list
    records = []
    rng = np.random.default_rng(3)
    for index, record in enumerate(planted_records(24, level="frame", class_ids=class_ids, classes=4, frames=17,
                                                   seed=2, rgb_width=16, audio_width=4)):
        keep = 6 + index % 12
        rated = int(rng.integers(1, 5))
        records.append({**record, "rgb": record["rgb"][:keep], "audio": record["audio"][:keep],
                        "segment_labels": rng.choice(class_ids, rated).astype(np.int64),
                        "segment_start_times": (rng.integers(0, 5, rated) * 5).astype(np.int64),
                        "segment_scores": rng.integers(0, 2, rated).astype(np.float32)})
    write_records(folder / "validate.tfrecord", records)
    return folder / "validate.tfrecord", records


@pytest.fixture(scope="module")
def frame_model(segment_files):
    from reelset.yt8m.model import load_model
    from reelset.yt8m.training import TrainSettings, train

    out = segment_files[0].parent / "model"
    train([segment_files[0]], out, TrainSettings(level="frame", model="meanpool", classes="3,7,8,11", epochs=1,
                                                 validation_fraction=0.0))
    return load_model(out, device="cpu")


def test_model_ranking_matches_the_reference_pipeline(frame_model, segment_files, one_torch_thread):
    from reelset.yt8m.records import dequantize

    path, records = segment_files
    ranking = rank_segments(frame_model, [path], top_k=4, max_per_class=20)
    # The reference: pad every video to 300 frames, cut 5-frame bags, run the model on each bag.
    segment_ids, rows = [], []
    for record in records:
        frames = np.concatenate([dequantize(record["rgb"]), dequantize(record["audio"])], axis=1)
        padded = np.zeros((1, 300, frames.shape[1]), np.float32)
        padded[0, :len(frames)] = frames
        bags = reference_get_segments(padded, np.array([len(frames)]), 5)
        for (_, start), bag, count in zip(bags["video_segment_ids"], bags["video_batch"], bags["num_frames_batch"]):
            segment_ids.append(f"{record['id']}:{start}")
            rows.append(frame_model.predict({"rgb": bag[:count, :16], "audio": bag[:count, 16:]}))
    width = 12
    dense = np.zeros((len(rows), width), np.float32)
    dense[:, frame_model.class_ids] = np.array(rows)
    mask = np.zeros(width, np.float32)
    mask[[3, 7, 8, 11]] = 1
    reference = _parse(reference_submission(segment_ids, dense, 4, mask, 20))
    ours = _parse(list(ranking.submission_lines()))
    assert {k: sorted(v) for k, v in ours.items()} == {k: sorted(v) for k, v in reference.items()}
    result = evaluate_segments(frame_model, [path], top_k=4, max_per_class=20)
    labels = reference_read_labels(records)
    positive = {label for (_, label), score in labels.items() if score > 0}
    lines = list(ranking.submission_lines())
    expected, _ = reference_segment_map([lines[0]] + [line for line in lines[1:]
                                                      if int(line.split(",")[0]) in positive], labels)
    assert result.map == pytest.approx(expected, abs=1e-12)
    assert result.num_videos == len(records) and result.num_segments == len(segment_ids)


def test_records_without_ratings_cannot_be_evaluated(frame_model, segment_files, tmp_path):
    from reelset.yt8m.records import write_records

    plain = [{key: value for key, value in record.items() if not key.startswith("segment_")}
             for record in segment_files[1]]
    write_records(tmp_path / "plain.tfrecord", plain)
    with pytest.raises(SegmentError, match="no segment ratings"):
        evaluate_segments(frame_model, [tmp_path / "plain.tfrecord"])
    # ... but they can be ranked (the test split has no ratings).
    assert len(list(rank_segments(frame_model, [tmp_path / "plain.tfrecord"]).submission_lines())) > 1


def test_cli_evaluate_and_predict_segments(frame_model, segment_files):
    import json

    from click.testing import CliRunner

    from reelset.cli import cli

    path = str(segment_files[0])
    runner = CliRunner()
    result = runner.invoke(cli, ["yt8m", "evaluate", str(frame_model.path), path, "--segments", "--json",
                                 "--top-k", "4", "--max-per-class", "20", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    expected = evaluate_segments(frame_model, [path], top_k=4, max_per_class=20)
    assert json.loads(result.output.strip().splitlines()[-1]) == pytest.approx(expected.as_json(), nan_ok=True)
    result = runner.invoke(cli, ["yt8m", "predict", str(frame_model.path), path, "--segments", "--top-k", "4",
                                 "--max-per-class", "20", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == list(rank_segments(frame_model, [path], top_k=4,
                                                            max_per_class=20).submission_lines())
    result = runner.invoke(cli, ["yt8m", "evaluate", str(frame_model.path), path, "--max-per-class", "20"])
    assert result.exit_code != 0 and "--max-per-class: only with --segments" in result.output


def test_a_video_level_model_scores_the_mean_of_a_segments_frames(segment_files):
    from reelset.yt8m.model import load_model
    from reelset.yt8m.records import dequantize
    from reelset.yt8m.training import TrainSettings, train

    path, records = segment_files
    out = path.parent / "video-model"
    train([path], out, TrainSettings(model="logistic", classes="3,7,8,11", epochs=1, validation_fraction=0.0))
    model = load_model(out, device="cpu")
    ranking = rank_segments(model, [path], top_k=4, max_per_class=1000)
    listed = _parse(list(ranking.submission_lines()))
    record = records[5]
    rgb, audio = dequantize(record["rgb"]), dequantize(record["audio"])
    expected = model.predict({"rgb": rgb[10:15].mean(axis=0), "audio": audio[10:15].mean(axis=0)})
    segment = f"{record['id']}:10"
    for column, class_id in enumerate(model.class_ids):
        position = listed[class_id].index(segment)
        scores = [float("%g" % s) for s in sorted(
            (model.predict({"rgb": dequantize(r["rgb"])[start:start + 5].mean(axis=0),
                            "audio": dequantize(r["audio"])[start:start + 5].mean(axis=0)})[column]
             for r in records for start in segment_starts(len(r["rgb"]))), reverse=True)]
        assert scores[position] == float("%g" % expected[column])
