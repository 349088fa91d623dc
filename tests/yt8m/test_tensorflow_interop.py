"""TensorFlow interop, with TensorFlow itself as the oracle (``tensorflow-cpu``, the optional extra the test command
installs): our files are byte-identical to ``tf.io.TFRecordWriter``'s for the same messages, TensorFlow reads our
files with the same values, we read TensorFlow's, our messages are TensorFlow's field for field, and both modules
import in one process in either order."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from google.protobuf import descriptor_pb2

from reelset.sandbox.yt8m_sample import sample_records
from reelset.yt8m import proto, read_records, write_records
from reelset.yt8m.records import DEQUANTIZE_TABLE

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow", reason="tensorflow-cpu is the optional test extra that proves TFRecord "
                                              "interop; the test command installs it (pip install tensorflow-cpu)")

KINDS = ("video", "frame", "video-v1", "frame-v1", "segment")


def own_backbone_records() -> list[dict]:
    """Records as our extractor writes them for another backbone: 1280-wide frames, a ``backbone`` name."""
    rng = np.random.default_rng(7)
    return [{"id": f"videos/clip {index}.mp4", "labels": np.array([2, 5]), "backbone": b"efficientnet-lite0",
             "mean_rgb": rng.normal(size=1280).astype(np.float32), "mean_audio": np.zeros(128, np.float32),
             "rgb": rng.integers(0, 256, (6, 1280), dtype=np.uint8), "audio": np.full((6, 128), 0, np.uint8)}
            for index in range(3)]


def records_of(kind: str) -> list[dict]:
    return own_backbone_records() if kind == "backbone" else list(sample_records(kind, 6, seed=11))


def tf_feature(value):
    """A tf.train.Feature built with TensorFlow's own API (independent of reelset's writer)."""
    if isinstance(value, str):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
    if isinstance(value, bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    if value.dtype.kind == "f":
        return tf.train.Feature(float_list=tf.train.FloatList(value=value.tolist()))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=value.tolist()))


def tf_message(record: dict):
    frames = {key: value for key, value in record.items() if isinstance(value, np.ndarray) and value.ndim == 2}
    context = tf.train.Features(feature={key: tf_feature(value) for key, value in record.items()
                                         if key not in frames})
    if not frames:
        return tf.train.Example(features=context)
    lists = {key: tf.train.FeatureList(feature=[tf_feature(row.tobytes()) for row in value])
             for key, value in frames.items()}
    return tf.train.SequenceExample(context=context, feature_lists=tf.train.FeatureLists(feature_list=lists))


def tf_write(path, records, *, deterministic: bool = True) -> None:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(tf_message(record).SerializeToString(deterministic=deterministic))


def tf_read(path, kind: str, *, dequantize: bool = False) -> list[dict]:
    """Our file through tf.data and the starter code's parsing (parse_single_(sequence_)example, decode_raw)."""
    id_key = "video_id" if kind.endswith("-v1") else "id"
    context = {id_key: tf.io.FixedLenFeature([], tf.string), "labels": tf.io.VarLenFeature(tf.int64)}
    if kind.startswith("video"):
        context.update(mean_rgb=tf.io.FixedLenFeature([1024], tf.float32),
                       mean_audio=tf.io.FixedLenFeature([128], tf.float32))
    if kind == "segment":
        context.update(segment_labels=tf.io.VarLenFeature(tf.int64), segment_start_times=tf.io.VarLenFeature(tf.int64),
                       segment_scores=tf.io.VarLenFeature(tf.float32))
    width = 1024
    if kind == "backbone":
        width = 1280
        context.update(backbone=tf.io.FixedLenFeature([], tf.string),
                       mean_rgb=tf.io.FixedLenFeature([1280], tf.float32),
                       mean_audio=tf.io.FixedLenFeature([128], tf.float32))

    def parse(serialized):
        if kind.startswith("video"):
            parsed, lists = tf.io.parse_single_example(serialized, context), {}
        else:
            parsed, lists = tf.io.parse_single_sequence_example(
                serialized, context_features=context,
                sequence_features={name: tf.io.FixedLenSequenceFeature([], tf.string) for name in ("rgb", "audio")})
        out = {key: value.values if isinstance(value, tf.sparse.SparseTensor) else value
               for key, value in parsed.items()}
        for name, size in (("rgb", width), ("audio", 128)):
            if name in lists:
                frames = tf.reshape(tf.io.decode_raw(lists[name], tf.uint8), [-1, size])
                if dequantize:  # the starter code's utils.Dequantize
                    frames = tf.cast(frames, tf.float32) * (4.0 / 255.0) + (4.0 / 512.0 - 2.0)
                out[name] = frames
        return out

    dataset = tf.data.TFRecordDataset(str(path)).map(parse, num_parallel_calls=2).prefetch(2)
    records = []
    for item in dataset.as_numpy_iterator():
        item["id"] = item.pop(id_key).decode()
        if "backbone" in item:
            item["backbone"] = bytes(item["backbone"])
        records.append(item)
    return records


def assert_same(ours: dict, theirs: dict) -> None:
    assert sorted(ours) == sorted(theirs)
    for key, value in theirs.items():
        if isinstance(value, np.ndarray):
            assert ours[key].dtype == value.dtype, key
            assert np.array_equal(ours[key], value), key
        else:
            assert ours[key] == value, key


@pytest.mark.parametrize("kind", [*KINDS, "backbone"])
def test_our_file_is_byte_identical_to_tensorflows_writer(tmp_path, kind):
    records = records_of(kind)
    ours, theirs = tmp_path / "ours.tfrecord", tmp_path / "theirs.tfrecord"
    write_records(ours, records)
    tf_write(theirs, records)
    assert ours.read_bytes() == theirs.read_bytes()


@pytest.mark.parametrize("kind", [*KINDS, "backbone"])
def test_tensorflow_reads_our_files_with_the_same_values(tmp_path, kind):
    path = tmp_path / "ours.tfrecord"
    write_records(path, records_of(kind))
    for dequantize in (False, True):
        theirs = tf_read(path, kind, dequantize=dequantize)
        ours = list(read_records(path, dequantize=dequantize))
        assert len(ours) == len(theirs) == len(records_of(kind))
        for mine, tensorflows in zip(ours, theirs):
            assert_same(mine, tensorflows)


@pytest.mark.parametrize("kind", [*KINDS, "backbone"])
def test_we_read_tensorflows_files_with_the_same_values(tmp_path, kind):
    path = tmp_path / "theirs.tfrecord"
    records = records_of(kind)
    tf_write(path, records, deterministic=False)  # as TensorFlow writes by default
    got = list(read_records(path))
    assert len(got) == len(records)
    for mine, original in zip(got, records):
        original = dict(original)
        if "video_id" in original:
            original["id"] = original.pop("video_id")
        assert_same(mine, original)
    for mine in read_records(path, dequantize=True):
        if "rgb" in mine:
            assert mine["rgb"].dtype == np.float32
            assert np.isin(mine["rgb"], DEQUANTIZE_TABLE).all()


def test_tensorflow_rejects_what_we_reject(tmp_path):
    path = tmp_path / "ours.tfrecord"
    write_records(path, records_of("frame"))
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(data)
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset(str(path)))
    with pytest.raises(Exception, match="record 0 at byte 0: bad data CRC"):
        list(read_records(path))


@pytest.mark.parametrize("name", ["BytesList", "FloatList", "Int64List", "Feature", "Features", "FeatureList",
                                  "FeatureLists", "Example", "SequenceExample"])
def test_our_messages_are_tensorflows_field_for_field(name):
    ours, theirs = getattr(proto, name).DESCRIPTOR, getattr(tf.train, name).DESCRIPTOR
    assert ours.full_name == f"reelset.tfexample.{name}" and theirs.full_name == f"tensorflow.{name}"
    ours_proto, theirs_proto = descriptor_pb2.DescriptorProto(), descriptor_pb2.DescriptorProto()
    ours.CopyToProto(ours_proto)
    theirs.CopyToProto(theirs_proto)
    # Names, numbers, types, labels, packing, oneofs, map entries: all the same but the package.
    assert str(ours_proto).replace(".reelset.tfexample.", ".tensorflow.") == str(theirs_proto)
    files = [descriptor_pb2.FileDescriptorProto(), descriptor_pb2.FileDescriptorProto()]
    ours.file.CopyToProto(files[0])
    theirs.file.CopyToProto(files[1])
    assert files[0].syntax == files[1].syntax == "proto3"


IMPORT_ORDER_SCRIPT = textwrap.dedent("""
    import os, sys, tempfile
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if sys.argv[1] == "tensorflow-first":
        import tensorflow as tf
        from reelset.yt8m import proto, read_records, write_records
    else:
        from reelset.yt8m import proto, read_records, write_records
        import tensorflow as tf
    import numpy as np
    ours = proto.SequenceExample()
    ours.context.feature["id"].bytes_list.value.append(b"abdw")
    ours.feature_lists.feature_list["rgb"].feature.add().bytes_list.value.append(bytes(1024))
    theirs = tf.train.SequenceExample.FromString(ours.SerializeToString())
    assert theirs.context.feature["id"].bytes_list.value == [b"abdw"]
    assert proto.SequenceExample.FromString(theirs.SerializeToString()) == ours
    path = os.path.join(tempfile.mkdtemp(), "x.tfrecord")
    write_records(path, [{"id": "abdw", "labels": np.array([3]), "mean_rgb": np.ones(1024, np.float32),
                          "mean_audio": np.ones(128, np.float32)}])
    parsed = tf.io.parse_single_example(next(iter(tf.data.TFRecordDataset(path))),
                                        {"id": tf.io.FixedLenFeature([], tf.string)})
    assert parsed["id"].numpy() == b"abdw" and next(read_records(path))["id"] == "abdw"
    print("ok", ours.DESCRIPTOR.full_name, theirs.DESCRIPTOR.full_name)
""")


@pytest.mark.slow  # two fresh processes that import TensorFlow
def test_both_import_orders_work_in_one_process():
    runs = {order: subprocess.Popen([sys.executable, "-c", IMPORT_ORDER_SCRIPT, order], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            for order in ("tensorflow-first", "reelset-first")}
    for order, run in runs.items():
        out, err = run.communicate(timeout=240)
        assert run.returncode == 0, f"{order}: {err[-2000:]}"
        assert out.strip() == "ok reelset.tfexample.SequenceExample tensorflow.SequenceExample", order
