"""The taste FiftyOne dataset carries the report's fields (real FiftyOne on the test session's private MongoDB):
vertical, when, where, shots and duplicates, and keeps them true when a run is repeated."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from reelset.core.errors import ReelsetError
from reelset.taste.dataset import DUPLICATE_TAG, write_dataset
from reelset.taste.predict import Label
from reelset.taste.results import TastedVideo
from reelset.taste.scan import TakenAt

TAKEN = datetime(2023, 5, 4, 15, 30, tzinfo=timezone.utc)
EIFFEL_TOWER = (48.8584, 2.2945)  # lat, lon


def _video(path: Path, **fields) -> TastedVideo:
    return TastedVideo(path=str(path), labels=[Label("Cat", 0.8, "Pets & Animals"),
                                               Label("Dog", 0.04, "Pets & Animals", unsure=True)],
                       frame_labels=None, timestamps=np.arange(3, dtype=float), taken=TakenAt(TAKEN, "metadata"),
                       duration=3.0, frame_rate=10.0, frame_count=30, width=96, height=64, **fields)


def test_the_dataset_has_vertical_time_place_shots_and_duplicates(tmp_path):
    import fiftyone as fo

    name = "taste-dataset-fields"
    cat, copy, other = tmp_path / "cat.mp4", tmp_path / "copy of cat.mp4", tmp_path / "other.mov"
    videos = [_video(cat, vertical="Pets & Animals", lat=EIFFEL_TOWER[0], lon=EIFFEL_TOWER[1], place="Paris, France",
                     shots=4),
              _video(copy, vertical="Pets & Animals", duplicate_of=str(cat), shots=1),
              _video(other)]  # nothing known: no vertical, place, shots
    assert write_dataset(name, videos).added == 3
    dataset = fo.load_dataset(name)
    schema = dataset.get_field_schema()
    assert schema["location"].document_type is fo.GeoLocation and schema["vertical"].document_type is fo.Classification
    assert isinstance(schema["taken_at"], fo.DateTimeField) and isinstance(schema["shots"], fo.IntField)

    by_path = {Path(sample.filepath).name: sample for sample in dataset}
    first = by_path["cat.mp4"]
    assert first["vertical"].label == "Pets & Animals"
    assert first["location"].point == [EIFFEL_TOWER[1], EIFFEL_TOWER[0]]  # GeoJSON order: [lon, lat]
    assert first["place"] == "Paris, France" and first["shots"] == 4
    assert first["taken_at"].replace(tzinfo=timezone.utc) == TAKEN and first["taken_from"] == "metadata"
    assert [(label.label, label["unsure"]) for label in first["video_tags"].classifications] == [
        ("Cat", False), ("Dog", True)]
    assert first.tags == [] and first["duplicate_of"] is None
    duplicate = by_path["copy of cat.mp4"]
    assert duplicate.tags == [DUPLICATE_TAG] and duplicate["duplicate_of"] == str(cat.resolve())
    unknown = by_path["other.mov"]
    assert unknown["vertical"] is None and unknown["location"] is None and unknown["place"] is None
    assert unknown["shots"] is None
    # The positions are real GeoJSON: a geo query around Paris finds the one video filmed there.
    paris = [[[2.2, 48.8], [2.5, 48.8], [2.5, 48.95], [2.2, 48.95], [2.2, 48.8]]]
    assert dataset.geo_within(paris).values("filepath") == [str(cat.resolve())]
    assert dataset.match_tags(DUPLICATE_TAG).values("filepath") == [str(copy.resolve())]

    # The next run: the copy is no longer a duplicate (its user's tag stays), the first lost its position.
    duplicate.tags.append("favourite")
    duplicate.save()
    videos[0].lat = videos[0].lon = videos[0].place = None
    videos[1].duplicate_of = None
    summary = write_dataset(name, videos)
    assert summary.updated == 3 and summary.added == 0
    by_path = {Path(sample.filepath).name: sample for sample in fo.load_dataset(name)}
    assert by_path["copy of cat.mp4"].tags == ["favourite"] and by_path["copy of cat.mp4"]["duplicate_of"] is None
    assert by_path["cat.mp4"]["location"] is None and by_path["cat.mp4"]["place"] is None

    # A dataset of that name whose field has another type is refused, in one line, before anything is written to it.
    clash = fo.Dataset("taste-dataset-clash")
    clash.add_sample_field("location", fo.StringField)
    with pytest.raises(ReelsetError, match="has a field 'location' that is not a GeoLocation"):
        write_dataset("taste-dataset-clash", videos)
    clash = fo.load_dataset("taste-dataset-clash")
    assert len(clash) == 0 and "vertical" not in clash.get_field_schema()
