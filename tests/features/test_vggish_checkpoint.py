"""TensorFlow's V1 checkpoint without TensorFlow (:mod:`reelset.formats.tf_checkpoint`), the format of the official
``vggish_model.ckpt``: our writer's file is byte for byte what TensorFlow's V1 ``Saver`` writes, our reader reads
TensorFlow's, and damaged files are one-line errors."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from reelset.formats.tf_checkpoint import (
    BLOCK_SIZE,
    CheckpointError,
    read_checkpoint,
    slice_key,
    write_checkpoint,
)
from reelset.sandbox.vggish_files import NARROW_CONVOLUTIONS, vggish_tensors, write_vggish_files


def mixed_tensors() -> dict[str, np.ndarray]:
    """Every dtype, a scalar, an empty tensor, names that need OrderedCode's escapes, more than one block (many
    small tensors) and a tensor over twice the block size (a block of its own)."""
    rng = np.random.default_rng(7)
    return {
        "vggish/conv1/weights": rng.standard_normal((3, 3, 1, 4)).astype(np.float32),
        "vggish/conv1/biases": rng.standard_normal(4).astype(np.float32),
        "big": rng.standard_normal((2 * BLOCK_SIZE // 4 + 10,)).astype(np.float32),
        **{f"many/v{index:02d}": rng.standard_normal(2000).astype(np.float32) for index in range(40)},
        "global_step": np.array(123456789, np.int64),
        "ints": np.array([-3, 5, 1 << 40], np.int64),
        "int32": np.array([[-1, 2], [3, -(1 << 31)]], np.int32),
        "doubles": np.array([1.5, -2.25]),
        "na\x00me \xff\u00e9": np.ones((2, 0, 3), np.float32),
    }


def test_written_tensors_read_back_exactly(tmp_path):
    tensors = mixed_tensors()
    path = write_checkpoint(tmp_path / "mixed.ckpt", tensors)
    assert path.stat().st_size > 2 * BLOCK_SIZE
    back = read_checkpoint(path)
    assert list(back) == sorted(tensors)
    for name, array in tensors.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape, name
        assert np.array_equal(back[name], array), name
    assert back["vggish/conv1/weights"].flags.writeable
    assert os.listdir(tmp_path) == ["mixed.ckpt"]  # written atomically: no temporary left


def test_keys_are_tensorflows_ordered_code():
    # EncodeTensorNameSlice: 0, the name (\x00 -> \x00\xff, \xff -> \xff\x00) and \x00\x01, the rank, then
    # (start 0, length -1) per dimension as signed OrderedCode numbers: 0x80 and 0x7f.
    assert slice_key("a", 2) == b"\x00a\x00\x01\x01\x02\x80\x7f\x80\x7f"
    assert slice_key("x\x00y\xff", 0) == b"\x00x\x00\xffy\xc3\xbf\x00\x01\x00"


def test_the_sandbox_checkpoint_has_vggish_slims_variables(tmp_path):
    files = write_vggish_files(tmp_path)
    tensors = read_checkpoint(files["vggish_model.ckpt"])
    assert sorted(tensors) == sorted(f"vggish/{layer}/{kind}" for layer in (
        "conv1", "conv2", "conv3/conv3_1", "conv3/conv3_2", "conv4/conv4_1", "conv4/conv4_2", "fc1/fc1_1",
        "fc1/fc1_2", "fc2") for kind in ("weights", "biases"))
    assert tensors["vggish/conv1/weights"].shape == (3, 3, 1, NARROW_CONVOLUTIONS[0])
    assert tensors["vggish/fc1/fc1_1/weights"].shape == (6 * 4 * NARROW_CONVOLUTIONS[-1], 64)
    assert tensors["vggish/fc2/weights"].shape == (64, 128)
    assert all(array.dtype == np.float32 for array in tensors.values())
    with np.load(files["vggish_pca_params.npz"]) as pca:
        assert pca["pca_eigen_vectors"].shape == (128, 128) and pca["pca_means"].shape == (128,)
    assert np.array_equal(vggish_tensors(3)["vggish/fc2/biases"], vggish_tensors(3)["vggish/fc2/biases"])


def test_tensorflow_writes_the_same_bytes_and_reads_ours(tmp_path):
    tf = pytest.importorskip("tensorflow")
    v1 = tf.compat.v1
    tensors = {name: array for name, array in mixed_tensors().items() if "\x00" not in name}
    tensors.update(vggish_tensors(1))
    graph = tf.Graph()
    with graph.as_default():
        variables = {name: v1.Variable(array, name=f"v{index}") for index, (name, array) in enumerate(tensors.items())}
        saver = v1.train.Saver(variables, write_version=v1.train.SaverDef.V1)
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            saver.save(session, str(tmp_path / "tf.ckpt"), write_meta_graph=False, write_state=False)
    ours = write_checkpoint(tmp_path / "ours.ckpt", tensors)
    assert (tmp_path / "tf.ckpt").read_bytes() == ours.read_bytes()
    from_tf = read_checkpoint(tmp_path / "tf.ckpt")
    reader = tf.train.load_checkpoint(str(ours))
    for name, array in tensors.items():
        assert np.array_equal(from_tf[name], array), name
        assert np.array_equal(reader.get_tensor(name), array), name


def test_slices_are_assembled_and_must_cover_their_tensor(tmp_path):
    tf = pytest.importorskip("tensorflow")
    v1 = tf.compat.v1
    value = np.arange(24, dtype=np.float32).reshape(6, 4)
    graph = tf.Graph()
    with graph.as_default():
        partitioned = v1.get_variable("p", shape=value.shape, initializer=v1.zeros_initializer(),
                                      partitioner=v1.fixed_size_partitioner(3))
        saver = v1.train.Saver([partitioned], write_version=v1.train.SaverDef.V1)
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            for index, part in enumerate(partitioned):  # three slices of two rows each
                session.run(part.assign(value[2 * index:2 * index + 2]))
            saver.save(session, str(tmp_path / "parts.ckpt"), write_meta_graph=False, write_state=False)
    assert np.array_equal(read_checkpoint(tmp_path / "parts.ckpt")["p"], value)


def damaged(path, name: str, offset: int = 0, byte: int = 0, size: int | None = None):
    """A copy of ``path`` called ``name``, cut to ``size`` bytes or with ``byte`` xored in at ``offset``."""
    data = bytearray(path.read_bytes())
    if size is not None:
        data = data[:size]
    else:
        data[offset] ^= byte
    target = path.with_name(name)
    target.write_bytes(bytes(data))
    return target


def test_damaged_or_foreign_files_are_one_line_errors(tmp_path):
    good = write_checkpoint(tmp_path / "good.ckpt", vggish_tensors(0))
    size = good.stat().st_size
    cases = {
        "bad magic number": damaged(good, "magic.ckpt", size - 1, 0x01),
        "checksum mismatch": damaged(good, "flipped.ckpt", 100, 0x40),
        "shorter than a table footer": damaged(good, "stub.ckpt", size=20),
        "bad magic": damaged(good, "cut.ckpt", size=size - 3),
    }
    for reason, path in cases.items():
        with pytest.raises(CheckpointError) as caught:
            read_checkpoint(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: not a readable TensorFlow V1 checkpoint (") and reason in message
        assert "\n" not in message
    (tmp_path / "text.ckpt").write_text("not a checkpoint at all, but long enough to hold a footer of 48 bytes...")
    with pytest.raises(CheckpointError, match="bad magic number"):
        read_checkpoint(tmp_path / "text.ckpt")
    with pytest.raises(CheckpointError, match="missing.ckpt: no such checkpoint file$"):
        read_checkpoint(tmp_path / "missing.ckpt")
    (tmp_path / "v2.ckpt.index").write_bytes(b"")
    with pytest.raises(CheckpointError, match="V2 checkpoint's prefix"):
        read_checkpoint(tmp_path / "v2.ckpt")
    with pytest.raises(CheckpointError, match="a folder"):
        read_checkpoint(tmp_path)


def test_a_sound_table_of_broken_protos_is_a_one_line_error(tmp_path):
    from reelset.formats.tf_checkpoint import _TableWriter

    for name, entries, reason in (
            ("no-meta.ckpt", [(b"\x00a", b"")], "no metadata entry"),
            ("bad-proto.ckpt", [(b"", b"\x0a\xff\xff\xff")], "truncated"),
            ("early.ckpt", [(b"", b""), (b"\x00b", b"\x12\x05\x0a\x03abc")], "a tensor slice before the metadata"),
            ("unlisted.ckpt", [(b"", b"\x0a\x00"), (b"\x00b", b"\x12\x05\x0a\x03abc")], "'abc', which the metadata")):
        with open(tmp_path / name, "wb") as out:
            table = _TableWriter(out)
            for key, value in entries:
                table.add(key, value)
            table.finish()
        with pytest.raises(CheckpointError, match=reason):
            read_checkpoint(tmp_path / name)


def test_a_compressed_block_is_named(tmp_path):
    good = write_checkpoint(tmp_path / "good.ckpt", {"w": np.ones(3, np.float32)})
    data = bytearray(good.read_bytes())
    # The data block is first; its trailer follows its contents: set the type to snappy (1) and fix the crc.
    from crc32c import crc32c

    from reelset.formats import tf_checkpoint

    footer = data[-48:]
    (index_offset, _), pos = tf_checkpoint._handle(footer, tf_checkpoint._handle(footer)[1])
    (offset, length), _ = tf_checkpoint._handle(next(tf_checkpoint._entries(
        memoryview(data)[index_offset:len(data) - 48 - 5]))[1])
    data[offset + length] = 1
    crc = crc32c(bytes(data[offset + length:offset + length + 1]), crc32c(bytes(data[offset:offset + length])))
    data[offset + length + 1:offset + length + 5] = struct.pack("<I", tf_checkpoint._mask(crc))
    (tmp_path / "snappy.ckpt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"compressed \(type 1\)"):
        read_checkpoint(tmp_path / "snappy.ckpt")


def test_unsupported_dtypes_are_refused_when_writing(tmp_path):
    with pytest.raises(ValueError, match="float16"):
        write_checkpoint(tmp_path / "x.ckpt", {"half": np.ones(2, np.float16)})
    assert not (tmp_path / "x.ckpt").exists()
