"""YouTube-8M records: round trips in the real formats, (de)quantization, max_frames, every corrupt-record case, and
the fast parser held to the generic protobuf parse on many random records, regular and irregular."""

from __future__ import annotations

import random
import re
import struct
import threading

import numpy as np
import pytest

from reelset.core.errors import ReelsetError
from reelset.sandbox.yt8m_sample import sample_records, write_sample_shard
from reelset.yt8m import CorruptRecordError, dequantize, quantize, read_records, write_records
from reelset.formats import yt8m_records as records_module
from reelset.yt8m.records import DEQUANTIZE_TABLE, parse_record, serialize_record, to_message
from reelset.yt8m.tfrecord import frame_record, write_tfrecords


def assert_same_record(got: dict, expected: dict) -> None:
    expected = dict(expected)
    if "video_id" in expected:  # v1: read as "id"
        expected = {"id": expected.pop("video_id"), **expected}
    assert list(got)[:2] == ["id", "labels"]
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            assert got[key].dtype == value.dtype, key
            assert got[key].shape == value.shape, key
            assert np.array_equal(got[key], value), key
        else:
            assert got[key] == value, key


# ---------------------------------------------------------------------------------------------- quantization

def test_dequantize_is_the_starter_formula():
    assert dequantize(np.array([0, 255], np.uint8)).tolist() == [-1.9921875, 2.0078125]
    codes = np.arange(256, dtype=np.uint8)
    # TensorFlow computes cast(q, float32) * float32(4/255), then + float32(4/512 - 2), rounding after each step.
    by_steps = (codes.astype(np.float32) * np.float32(4 / 255)) + np.float32(4 / 512 - 2)
    assert dequantize(codes).dtype == np.float32
    assert np.array_equal(dequantize(codes), by_steps)
    assert np.array_equal(DEQUANTIZE_TABLE, by_steps)
    assert np.allclose(dequantize(codes), codes.astype(np.float64) * 4 / 255 + 4 / 512 - 2, atol=1e-6)
    # The computed path gives the table's values bit for bit, in any shape and layout.
    frames = np.random.default_rng(0).integers(0, 256, (50, 1033), dtype=np.uint8)[:, 9:]
    assert np.array_equal(dequantize(frames), DEQUANTIZE_TABLE[frames])
    with pytest.raises(TypeError):
        dequantize(np.array([1.0]))


def test_quantize_is_the_extractor_formula_and_half_a_bin_from_dequantize():
    values = np.array([-3.0, -2.0, 0.0, 2.0, 5.0, 1.0, -1.0], np.float32)
    # clip to [-2, 2], round((x + 2) * 255 / 4): -2 -> 0, 0 -> 127.5 -> 128 (half to even), 2 -> 255, 1 -> 191.25
    assert quantize(values).tolist() == [0, 0, 128, 255, 255, 191, 64]
    assert quantize(values).dtype == np.uint8
    x = np.random.default_rng(1).uniform(-2, 2, 100_000).astype(np.float32)
    error = dequantize(quantize(x)) - x
    # Not centred on 0: the starter code adds half a bin the extractor never subtracted.
    assert error.min() >= -1e-4 and error.max() <= 4 / 255 + 1e-4
    assert abs(error.mean() - 2 / 255) < 1e-3
    assert dequantize(quantize(np.float32(0.0))) == pytest.approx(128 * 4 / 255 + 4 / 512 - 2, abs=1e-6)  # 0.0157


# ---------------------------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("kind", ["video", "frame", "video-v1", "frame-v1", "segment"])
def test_sample_shards_round_trip(tmp_path, kind):
    path = write_sample_shard(tmp_path / "train0208.tfrecord", kind, 12, seed=5)
    got = list(read_records(path))
    expected = list(sample_records(kind, 12, seed=5))
    assert len(got) == 12
    for record, reference in zip(got, expected):
        assert_same_record(record, reference)
        assert record["id"].endswith("dw") and len(record["id"]) == 4  # train0208 is traindw
        assert record["labels"].dtype == np.int64 and list(record["labels"]) == sorted(record["labels"])


def test_the_real_shapes_and_types(tmp_path):
    video = next(read_records(write_sample_shard(tmp_path / "v.tfrecord", "video", 1, seed=1)))
    assert (video["mean_rgb"].shape, video["mean_rgb"].dtype) == ((1024,), np.float32)
    assert (video["mean_audio"].shape, video["mean_audio"].dtype) == ((128,), np.float32)
    frame = next(read_records(write_sample_shard(tmp_path / "f.tfrecord", "segment", 1, seed=1)))
    frames = len(frame["rgb"])
    assert 0 < frames <= 300
    assert (frame["rgb"].shape, frame["rgb"].dtype) == ((frames, 1024), np.uint8)
    assert (frame["audio"].shape, frame["audio"].dtype) == ((frames, 128), np.uint8)
    assert frame["segment_labels"].dtype == np.int64 and frame["segment_start_times"].dtype == np.int64
    assert frame["segment_scores"].dtype == np.float32
    assert set(frame["segment_scores"].tolist()) <= {0.0, 1.0}
    assert all(start % 5 == 0 for start in frame["segment_start_times"])


def test_dequantized_frames(tmp_path):
    path = write_sample_shard(tmp_path / "f.tfrecord", "frame", 3, seed=2)
    for raw, floats in zip(read_records(path), read_records(path, dequantize=True)):
        for name in ("rgb", "audio"):
            assert floats[name].dtype == np.float32
            assert np.array_equal(floats[name], DEQUANTIZE_TABLE[raw[name]])
        assert np.array_equal(raw["labels"], floats["labels"])


def test_max_frames_pads_and_truncates_only_when_asked(tmp_path):
    records = [{"id": "AAdw", "labels": np.array([1]), "rgb": np.full((5, 1024), 7, np.uint8),
                "audio": np.full((5, 128), 9, np.uint8)}]
    path = tmp_path / "f.tfrecord"
    write_records(path, records)
    plain = next(read_records(path))
    assert plain["rgb"].shape == (5, 1024) and "num_frames" not in plain
    padded = next(read_records(path, max_frames=8))
    assert padded["rgb"].shape == (8, 1024) and padded["audio"].shape == (8, 128)
    assert padded["num_frames"] == 5
    assert (padded["rgb"][:5] == 7).all() and (padded["rgb"][5:] == 0).all()
    floats = next(read_records(path, max_frames=8, dequantize=True))
    assert np.array_equal(floats["rgb"][:5], np.full((5, 1024), DEQUANTIZE_TABLE[7]))
    assert (floats["rgb"][5:] == 0.0).all()  # the starter reader pads after dequantizing, with 0.0
    cut = next(read_records(path, max_frames=3))
    assert cut["rgb"].shape == (3, 1024) and cut["num_frames"] == 3


def test_other_backbones_and_extra_context_pass_through(tmp_path):
    rng = np.random.default_rng(3)
    record = {"id": "clips/holiday 1.mp4", "labels": np.array([3, 17]), "backbone": b"efficientnet-lite0",
              "mean_audio": np.zeros(128, np.float32), "mean_rgb": rng.normal(size=1280).astype(np.float32),
              "notes": [b"a", b"b"], "empty": None,
              "rgb": rng.integers(0, 256, (4, 1280), dtype=np.uint8), "audio": np.zeros((4, 128), np.uint8)}
    path = tmp_path / "own.tfrecord"
    write_records(path, [record])
    got = next(read_records(path))
    assert_same_record(got, {key: record[key] for key in ("id", "labels", "backbone", "empty", "mean_audio",
                                                           "mean_rgb", "notes", "rgb", "audio")})


def test_zero_frames_take_the_width_of_the_feature_space(tmp_path):
    records = [{"id": "AAdw", "labels": np.array([], np.int64), "rgb": np.zeros((0, 1024), np.uint8),
                "audio": np.zeros((0, 128), np.uint8)},
               {"id": "ABdw", "labels": np.array([2]), "mean_rgb": np.zeros(1280, np.float32),
                "rgb": np.zeros((0, 1280), np.uint8)}]
    path = tmp_path / "zero.tfrecord"
    write_records(path, records)
    first, second = read_records(path)
    assert first["rgb"].shape == (0, 1024) and first["audio"].shape == (0, 128)
    assert second["rgb"].shape == (0, 1280)


def test_paths_single_or_many(tmp_path):
    one = write_sample_shard(tmp_path / "a.tfrecord", "video", 2, seed=1)
    two = write_sample_shard(tmp_path / "b.tfrecord", "video", 3, seed=2)
    assert len(list(read_records(str(one)))) == 2
    assert [r["id"] for r in read_records([one, two])] == ([r["id"] for r in read_records(one)]
                                                           + [r["id"] for r in read_records(two)])


def test_writing_is_deterministic_and_atomic(tmp_path):
    records = list(sample_records("segment", 3, seed=4))
    first, second = tmp_path / "1.tfrecord", tmp_path / "2.tfrecord"
    write_records(first, records)
    write_records(second, [dict(reversed(list(record.items()))) for record in records])  # keys in another order
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() == b"".join(frame_record(to_message(r).SerializeToString(deterministic=True))
                                          for r in records)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.tfrecord", "2.tfrecord"]
    with pytest.raises(ValueError):  # a bad record after a good one: nothing is left behind
        write_records(tmp_path / "3.tfrecord", [records[0], {"id": "x", "labels": ["not a number"]}])
    assert not (tmp_path / "3.tfrecord").exists()


def test_video_level_is_an_example_and_frame_level_a_sequence_example():
    video, frame = next(sample_records("video", 1)), next(sample_records("frame", 1))
    assert to_message(video).DESCRIPTOR.name == "Example"
    assert to_message(frame).DESCRIPTOR.name == "SequenceExample"
    assert sorted(to_message(frame).context.feature) == ["id", "labels"]
    assert sorted(to_message(frame).feature_lists.feature_list) == ["audio", "rgb"]


# ---------------------------------------------------------------------------------------------- a protobuf encoder
# A protobuf encoder written from the wire format, with the freedoms a valid writer has: non-minimal varints,
# fields in any order, unpacked repeated numbers, repeated map keys (the last wins), unknown fields.

def varint(value: int, pad: int = 0) -> bytes:
    """A varint; ``pad`` extra continuation bytes make it non-minimal (still valid)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    if pad:
        out[-1] |= 0x80
        out += b"\x80" * (pad - 1) + b"\x00"
    return bytes(out)


def field(number: int, payload: bytes, pad: int = 0) -> bytes:
    return varint(number << 3 | 2, 0) + varint(len(payload), pad) + payload


class Encoder:
    def __init__(self, rng: random.Random, irregular: bool):
        self.rng, self.irregular = rng, irregular

    def pad(self) -> int:
        return self.rng.choice([0, 0, 0, 1, 2]) if self.irregular else 0

    def maybe(self, probability: float) -> bool:
        return self.irregular and self.rng.random() < probability

    def feature(self, kind: str, values) -> bytes:
        if kind == "bytes":
            body = b"".join(field(1, value, self.pad()) for value in values)
            return field(1, body, self.pad())
        if kind == "float":
            if self.maybe(0.3):  # unpacked: one fixed32 field per value
                body = b"".join(b"\x0d" + struct.pack("<f", value) for value in values)
            else:
                body = field(1, struct.pack(f"<{len(values)}f", *values), self.pad()) if len(values) else b""
            feature = field(2, body, self.pad())
        else:
            if self.maybe(0.3):
                body = b"".join(b"\x08" + varint(int(value)) for value in values)
            else:
                body = field(1, b"".join(varint(int(value)) for value in values), self.pad()) if len(values) else b""
            feature = field(3, body, self.pad())
        if self.maybe(0.1):
            feature += b"\x20\x01"  # an unknown varint field 4 in Feature
        return feature

    def entry(self, key: str, value: bytes) -> bytes:
        parts = [field(1, key.encode(), self.pad()), field(2, value, self.pad())]
        if self.maybe(0.2):
            parts.reverse()
        return field(1, b"".join(parts), self.pad())

    def features(self, items: list[tuple[str, bytes]]) -> bytes:
        items = list(items)
        if self.irregular:
            self.rng.shuffle(items)
        if self.maybe(0.2):  # a repeated key: protobuf keeps the last
            key, _ = self.rng.choice(items)
            items.insert(0, (key, self.feature("bytes", [b"overwritten"])))
        return b"".join(self.entry(key, value) for key, value in items)


REGULAR = Encoder(random.Random(0), irregular=False)


def sequence_payload(context: dict[str, bytes], lists: dict[str, list[bytes]]) -> bytes:
    """A SequenceExample from encoded context features and, per feature list, encoded frame features."""
    lists_body = b"".join(REGULAR.entry(name, b"".join(field(1, frame) for frame in frames))
                          for name, frames in lists.items())
    return field(1, REGULAR.features(list(context.items()))) + field(2, lists_body)


def frames_of(*rows: bytes) -> list[bytes]:
    return [REGULAR.feature("bytes", [row]) for row in rows]


GOOD_CONTEXT = {"id": REGULAR.feature("bytes", [b"G1dw"]), "labels": REGULAR.feature("int64", [1])}


# ---------------------------------------------------------------------------------------------- corrupt records

def good(index: int) -> dict:
    return {"id": f"G{index}dw", "labels": np.array([index]), "rgb": np.zeros((3, 1024), np.uint8),
            "audio": np.zeros((3, 128), np.uint8)}


CORRUPT_CASES = {
    "garbage": (b"\xff\xff\xff\xff", "not a tf.train.Example or tf.train.SequenceExample protobuf"),
    "no id": (field(1, REGULAR.features([("video_idx", REGULAR.feature("bytes", [b"x"]))])),
              "no 'id' (or v1 'video_id') feature: not a YouTube-8M record"),
    "id as int": (field(1, REGULAR.features([("id", REGULAR.feature("int64", [7]))])),
                  "feature 'id' holds an int64_list, expected one bytes value"),
    "labels as floats": (sequence_payload({**GOOD_CONTEXT, "labels": REGULAR.feature("float", [1.5])}, {}),
                         "feature 'labels' holds a float_list, expected an int64_list"),
    "unequal widths": (sequence_payload(GOOD_CONTEXT, {"rgb": frames_of(bytes(1024), bytes(1024), bytes(1016)),
                                                       "audio": frames_of(*[bytes(128)] * 3)}),
                       "feature list 'rgb': frames of unequal widths (frame 0 has 1024 bytes, frame 2 has 1016)"),
    "not the feature space": (serialize_record({**good(0), "mean_rgb": np.zeros(1280, np.float32)}),
                              "feature list 'rgb': frames of 1024 bytes, but the record's feature space is 1280 "
                              "wide (mean_rgb has 1280 values)"),
    "different lengths": (serialize_record({**good(0), "audio": np.zeros((2, 128), np.uint8)}),
                          "feature lists of different lengths (rgb 3, audio 2 frames)"),
    "two values a frame": (sequence_payload(GOOD_CONTEXT, {"audio": [REGULAR.feature("bytes", [bytes(64)] * 2)]}),
                           "feature list 'audio': frame 0 holds 2 bytes values, expected 1"),
    "a frame without value": (sequence_payload(GOOD_CONTEXT, {"audio": [*frames_of(bytes(128)), b""]}),
                              "feature list 'audio': frame 1 holds no value"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_CASES))
def test_each_corrupt_record_is_named_with_file_index_and_offset(tmp_path, case):
    payload, problem = CORRUPT_CASES[case]
    payloads = [serialize_record(good(0)), payload, serialize_record(good(2))]
    path = tmp_path / "bad.tfrecord"
    write_tfrecords(path, payloads)
    offset = 12 + len(payloads[0]) + 4
    with pytest.raises(CorruptRecordError) as caught:
        list(read_records(path))
    assert isinstance(caught.value, ReelsetError)
    message = str(caught.value)
    assert message.startswith(f"{path}: record 1 at byte {offset}: "), message
    assert problem in message
    assert "\n" not in message
    # Both parsers agree on what is wrong.
    with pytest.raises(ValueError, match="^" + re.escape(problem)):
        parse_record(payload, fast=False)
    # With skip_corrupt the bad record is reported and the others come through.
    reported = []
    ids = [r["id"] for r in read_records(path, skip_corrupt=True, on_corrupt=reported.append)]
    assert ids == ["G0dw", "G2dw"]
    assert reported == [message]


def test_skip_corrupt_reports_on_stderr_by_default(tmp_path, capsys):
    path = tmp_path / "bad.tfrecord"
    write_tfrecords(path, [serialize_record(good(0)), b"\xff\xff", serialize_record(good(2))])
    assert len(list(read_records(path, skip_corrupt=True, dequantize=True))) == 2
    assert f"{path}: record 1 at byte" in capsys.readouterr().err


def test_corrupt_records_among_large_ones_with_dequantize(tmp_path):
    # Large (frame-level) records are dequantized in threads: errors and order must come through the same way.
    big = [{**good(index), "rgb": np.full((300, 1024), index, np.uint8), "audio": np.zeros((300, 128), np.uint8)}
           for index in range(6)]
    payloads = [serialize_record(record) for record in big]
    payloads[3] = payloads[3].replace(b"labels", b"lab3ls")  # still a protobuf, still the same length
    payloads[4] = b"\xff" * 100_000
    path = tmp_path / "big.tfrecord"
    write_tfrecords(path, payloads)
    offsets = [sum(12 + len(payload) + 4 for payload in payloads[:index]) for index in range(6)]
    got = list(read_records(path, dequantize=True, skip_corrupt=True, on_corrupt=(reported := []).append))
    assert [record["id"] for record in got] == ["G0dw", "G1dw", "G2dw", "G3dw", "G5dw"]
    assert [record["rgb"][0, 0] for record in got] == [DEQUANTIZE_TABLE[i] for i in (0, 1, 2, 3, 5)]
    assert "lab3ls" in got[3] and "labels" in got[3]  # an unknown context key passes through; no labels: empty
    assert len(reported) == 1 and reported[0].startswith(f"{path}: record 4 at byte {offsets[4]}: not a tf.train")
    with pytest.raises(CorruptRecordError, match=f"record 4 at byte {offsets[4]}"):
        list(read_records(path, dequantize=True))
    records = read_records(path, dequantize=True)
    next(records)
    records.close()  # stops the reading and parsing threads
    assert not [thread for thread in threading.enumerate() if thread.name.startswith(("parallel-map", "tfrecord"))]


def test_framing_errors_come_through_read_records(tmp_path):
    path = tmp_path / "bad.tfrecord"
    write_tfrecords(path, [serialize_record(good(0)), serialize_record(good(1))])
    data = bytearray(path.read_bytes())
    second = 12 + len(serialize_record(good(0))) + 4
    data[second + 20] ^= 0x10
    path.write_bytes(data)
    with pytest.raises(CorruptRecordError, match=f"record 1 at byte {second}: bad data CRC"):
        list(read_records(path))
    path.write_bytes(data[:second + 5])
    reported = []
    assert len(list(read_records([path, path], skip_corrupt=True, on_corrupt=reported.append))) == 2
    assert len(reported) == 2 and all("truncated" in line for line in reported)


# ---------------------------------------------------------------------------------------------- fast == generic

def random_payload(rng: random.Random, irregular: bool) -> bytes:
    encoder = Encoder(rng, irregular)
    nprng = np.random.default_rng(rng.randrange(2**32))
    labels = sorted(rng.sample(range(3862), rng.randint(0, 5)))
    if rng.random() < 0.1:
        labels.append(-rng.randrange(1, 2**40))  # negative int64: ten-byte varints
    context = [("id" if rng.random() < 0.8 else "video_id", encoder.feature("bytes", [bytes(rng.choices(b"abcXYZ09",
                                                                                              k=4))])),
               ("labels", encoder.feature("int64", labels))]
    frame_level = rng.random() < 0.7
    if rng.random() < 0.3:
        context += [("segment_labels", encoder.feature("int64", labels[:2])),
                    ("segment_start_times", encoder.feature("int64", [5 * rng.randrange(60) for _ in labels[:2]])),
                    ("segment_scores", encoder.feature("float", [float(rng.randrange(2)) for _ in labels[:2]]))]
    if rng.random() < 0.2:
        context.append(("backbone", encoder.feature("bytes", [b"efficientnet-lite0"])))
    if not frame_level:
        context += [("mean_rgb", encoder.feature("float", nprng.normal(size=1024).astype(np.float32).tolist())),
                    ("mean_audio", encoder.feature("float", nprng.normal(size=128).astype(np.float32).tolist()))]
        return field(1, encoder.features(context), encoder.pad())
    frames = rng.choice([0, 1, 2, rng.randint(3, 40)])
    width = rng.choice([1024, 1024, 1280, 3])
    lists = []
    for name, size in (("rgb", width), ("audio", 128)):
        rows = [nprng.integers(0, 256, size, dtype=np.uint8).tobytes() for _ in range(frames)]
        if irregular and frames > 1 and rng.random() < 0.15:  # an irregular frame width: corrupt
            rows[rng.randrange(frames)] = rows[0][:-1]
        if irregular and frames and rng.random() < 0.1:  # float frames instead of bytes
            body = b"".join(encoder.feature("float", nprng.normal(size=4).astype(np.float32).tolist())
                            for _ in range(frames))
        else:
            body = b"".join(field(1, encoder.feature("bytes", [row]), encoder.pad()) for row in rows)
        lists.append((name, body))
    if irregular and rng.random() < 0.1:
        lists.append(("rgb", lists[0][1]))  # a repeated feature-list key
    lists_body = b"".join(encoder.entry(name, body) for name, body in lists)
    parts = [field(1, encoder.features(context), encoder.pad()), field(2, lists_body, encoder.pad())]
    if encoder.maybe(0.2):
        parts.reverse()
    return b"".join(parts)


def parse_both(payload: bytes, **options):
    results = []
    for fast in (True, False):
        try:
            results.append(parse_record(payload, fast=fast, **options))
        except ValueError as error:
            results.append(f"error: {error}")
    return results


@pytest.mark.parametrize("irregular", [False, True])
def test_fast_parser_equals_generic_parse_on_random_records(monkeypatch, irregular):
    rng = random.Random(20240 + irregular)
    fast_used = 0
    real_fast = records_module._parse_fast

    def counting(buf):
        nonlocal fast_used
        result = real_fast(buf)
        fast_used += 1
        return result

    monkeypatch.setattr(records_module, "_parse_fast", counting)
    outcomes = set()
    for _ in range(400):
        payload = random_payload(rng, irregular)
        options = rng.choice([{}, {"dequantize": True}, {"max_frames": rng.randint(1, 50)}])
        fast, generic = parse_both(payload, **options)
        if isinstance(generic, str):
            assert fast == generic
            outcomes.add("error")
            continue
        assert not isinstance(fast, str), fast
        assert_same_record(fast, generic)
        outcomes.add("record")
    assert outcomes == ({"record", "error"} if irregular else {"record"})
    if irregular:
        assert 0 < fast_used < 400  # some records were regular enough, others fell back
    else:
        assert fast_used == 400  # every regular record took the fast path


def test_fast_frames_are_zero_copy_views_of_the_record():
    payload = bytearray(serialize_record({**good(0), "rgb": np.arange(3 * 1024).reshape(3, 1024).astype(np.uint8)}))
    record = parse_record(payload)
    assert record["rgb"].base is not None and not record["rgb"].flags.c_contiguous
    first = int(record["rgb"][0, 0])
    index = payload.index(bytes(np.arange(1024, dtype=np.uint8)))
    payload[index] = (first + 1) % 256
    assert record["rgb"][0, 0] == (first + 1) % 256  # the view sees the buffer
