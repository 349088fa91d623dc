"""`yt8m inspect` and `yt8m export` on real-format TFRecord files, good and corrupt."""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.sandbox.yt8m_sample import write_sample_shard
from reelset.yt8m.export import export_records
from reelset.yt8m.inspect import inspect_records, inspection_lines
from reelset.yt8m.records import dequantize, read_records
from reelset.yt8m.vocabulary import load_vocabulary


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("yt8m")
    return {
        "frame": write_sample_shard(root / "train0208.tfrecord", "frame", 5, seed=1, frames=40),
        "frame2": write_sample_shard(root / "train0274.tfrecord", "frame", 3, seed=2, frames=25),
        "video": write_sample_shard(root / "video0000.tfrecord", "video", 7, seed=3),
        "segment": write_sample_shard(root / "validate0638.tfrecord", "segment", 2, seed=4, frames=30),
        "v1": write_sample_shard(root / "old0000.tfrecord", "frame-v1", 2, seed=5, frames=10),
    }


def corrupted(tmp_path, source):
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside a record's data: its data CRC fails
    path = tmp_path / f"bad-{source.name}"
    path.write_bytes(bytes(data))
    return path


def write_vocabulary(path, classes=3862):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Index", "TrainVideoCount", "KnowledgeGraphId", "Name", "WikiUrl", "Vertical1", "Vertical2",
                         "Vertical3", "WikiDescription"])
        for index in range(classes):
            writer.writerow([index, 100, f"/m/{index:05x}", f"Class {index}", "", "Games" if index % 2 else "Sports",
                             "", "", 'A "quoted" description'])
    return path


def test_inspect_counts_and_names(shards, tmp_path):
    vocabulary = load_vocabulary(write_vocabulary(tmp_path / "vocabulary.csv"))
    inspection = inspect_records([shards["frame"], shards["video"]], vocabulary=vocabulary)
    lines = inspection_lines(inspection, vocabulary=vocabulary, top_k=3)
    records = list(read_records([shards["frame"]]))
    frames = sum(len(record["rgb"]) for record in records)
    assert lines[0] == (f"{shards['frame']}: frame level, 5 records, 5 videos, {frames} frames; features: "
                        "rgb (n, 1024) uint8, audio (n, 128) uint8; backbone: inception-yt8m")
    assert lines[1].startswith(f"{shards['video']}: video level, 7 records, 7 videos, 0 frames; features: "
                               "mean_audio (128) float32, mean_rgb (1024) float32")
    assert lines[2].startswith("total: 2 files, 12 records, 12 videos") and "0 corrupt records skipped" in lines[2]
    counts = {}
    for record in [*records, *read_records([shards["video"]])]:
        for label in record["labels"].tolist():
            counts[label] = counts.get(label, 0) + 1
    best = max(counts, key=lambda label: (counts[label], -label))
    assert any(line.split()[:2] == [str(best), str(counts[best])] and f"Class {best}" in line for line in lines[4:])


def test_cli_inspect_flags_lines_and_exit_code(shards, tmp_path):
    vocabulary = write_vocabulary(tmp_path / "vocabulary.csv")
    result = CliRunner().invoke(cli, ["yt8m", "inspect", str(shards["frame2"]), "--vocabulary", str(vocabulary),
                                      "--top-k", "1"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{shards['frame2']}: frame level, 3 records, 3 videos, ")
    assert lines[1].startswith("total: 1 files, 3 records, 3 videos, ")
    assert lines[2] == "top 1 labels:"  # --top-k
    assert lines[3] == "  label    count  name (vertical)"
    assert len(lines) == 5 and "  Class " in lines[4]  # --vocabulary: the class's name
    assert result.stderr == ""


def test_inspect_label_table_without_a_vocabulary_says_how_to_get_names(shards, tmp_path, monkeypatch):
    monkeypatch.setenv("REELSET_CACHE_DIR", str(tmp_path / "empty-cache"))  # no vocabulary cached
    result = CliRunner().invoke(cli, ["yt8m", "inspect", str(shards["video"]), "--top-k", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[2] == ("top 2 labels (ids only: for their names run `reelset yt8m vocab` once, or give "
                        "--vocabulary FILE):")
    assert lines[3] == "  label    count"
    assert len(lines) == 6 and all(len(line.split()) == 2 for line in lines[4:])
    counts = {}
    for record in read_records([shards["video"]]):
        for label in record["labels"].tolist():
            counts[label] = counts.get(label, 0) + 1
    assert [int(line.split()[1]) for line in lines[4:]] == sorted(counts.values(), reverse=True)[:2]


def test_inspect_json_lines(shards):
    result = CliRunner().invoke(cli, ["yt8m", "inspect", "--json", str(shards["segment"]), str(shards["v1"])])
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["file"], o["index"]) for o in objects] == [(str(shards["segment"]), 0), (str(shards["segment"]), 1),
                                                          (str(shards["v1"]), 0), (str(shards["v1"]), 1)]
    first = next(read_records([shards["segment"]]))
    assert objects[0]["id"] == first["id"] and objects[0]["labels"] == first["labels"].tolist()
    assert objects[0]["features"]["rgb"] == [30, 1024] and "segment_scores" in objects[0]["features"]
    assert result.stderr.splitlines()[-1].startswith("total: 2 files, 4 records")


def test_corrupt_record_stops_or_is_skipped(shards, tmp_path):
    bad = corrupted(tmp_path, shards["frame"])
    result = CliRunner().invoke(cli, ["yt8m", "inspect", str(bad)])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {bad}: record ") and " at byte " in result.output
    assert result.output.count("\n") == 1
    result = CliRunner().invoke(cli, ["yt8m", "inspect", "--skip-corrupt", str(bad)])
    assert result.exit_code == 0
    assert result.stderr.startswith(f"skipped: {bad}: record ")
    assert "4 records" in result.stdout and "1 corrupt records skipped" in result.stdout


def test_labels_out_of_the_vocabulary_are_refused(shards, tmp_path):
    small = write_vocabulary(tmp_path / "small.csv", classes=2)
    result = CliRunner().invoke(cli, ["yt8m", "inspect", str(shards["frame"]), "--vocabulary", str(small)])
    assert result.exit_code == 1 and "out of range" in result.output


def test_export_parquet_round_trip(shards, tmp_path):
    out = tmp_path / "frames.parquet"
    summary = export_records([shards["frame"], shards["frame2"]], out, to="parquet")
    table = pq.read_table(out)
    records = list(read_records([shards["frame"], shards["frame2"]]))
    assert table.num_rows == 8 and table.column_names == ["id", "labels", "rgb", "audio"]
    for row, record in zip(table.to_pylist(), records):
        assert row["id"] == record["id"] and row["labels"] == record["labels"].tolist()
        assert np.array_equal(np.array(row["rgb"], dtype=np.uint8), record["rgb"])
    assert (summary.records, summary.frames, summary.out, summary.columns) == \
        (8, sum(len(r["rgb"]) for r in records), out, ["id", "labels", "rgb", "audio"])


def test_cli_export_flags_line_and_exit_code(shards, tmp_path):
    out = tmp_path / "frames.npz"
    result = CliRunner().invoke(cli, ["yt8m", "export", str(shards["frame2"]), "--to", "npz", "--dequantize",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    frames = sum(len(record["rgb"]) for record in read_records([shards["frame2"]]))
    assert result.output == f"exported 3 records ({frames} frames) to {out}: id, labels, rgb, audio\n"
    assert np.load(out)["rgb"].dtype == np.float32  # --to npz --dequantize


def test_export_npz_dequantized(shards, tmp_path):
    out = tmp_path / "frames.npz"
    summary = export_records([shards["frame"]], out, to="npz", dequantize=True)
    data = np.load(out)
    records = list(read_records([shards["frame"]]))
    assert summary.records == 5 and data["rgb"].dtype == np.float32
    offsets = data["rgb_offsets"]
    for index, record in enumerate(records):
        assert np.array_equal(data["rgb"][offsets[index]:offsets[index + 1]], dequantize(record["rgb"]))
        labels = data["labels"][data["labels_offsets"][index]:data["labels_offsets"][index + 1]]
        assert labels.tolist() == record["labels"].tolist() and data["id"][index] == record["id"]


def test_export_video_level_and_refusals(shards, tmp_path):
    out = tmp_path / "video.parquet"
    export_records([shards["video"]], out)
    schema = pq.read_schema(out)
    assert str(schema.field("mean_rgb").type) == "fixed_size_list<element: float>[1024]"
    with pytest.raises(ReelsetError, match="cannot be exported together"):
        export_records([shards["video"], shards["frame"]], tmp_path / "mixed.parquet")
    assert not (tmp_path / "mixed.parquet").exists()
    with pytest.raises(ReelsetError, match="--to 'csv'"):
        export_records([shards["video"]], tmp_path / "x.csv", to="csv")


@pytest.mark.parametrize("to, out", [("npz", "x.parquet"), ("parquet", "x.NPZ")])
def test_export_to_a_file_named_for_the_other_format_is_refused_before_writing(shards, tmp_path, to, out):
    target = tmp_path / "out" / out
    named_for = out.rsplit(".", 1)[1].lower()
    with pytest.raises(ReelsetError, match=f"give --to {named_for}, or an --out ending in .{to}"):
        export_records([shards["video"]], target, to=to)  # the Python API refuses too
    result = CliRunner().invoke(cli, ["yt8m", "export", str(shards["video"]), "--to", to, "--out", str(target)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: --out {target}: the name says {named_for} but --to {to} writes "
                                          f"{to}; give --to {named_for}, or an --out ending in .{to}"]
    assert not (tmp_path / "out").exists()


def test_export_to_a_name_of_no_known_format_is_written_as_asked(shards, tmp_path):
    out = tmp_path / "frames.bin"
    assert export_records([shards["frame2"]], out, to="npz").records == 3
    assert np.load(out)["id"].shape == (3,)
