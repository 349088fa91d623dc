"""TensorFlow's V1 checkpoint (one file, ``tf.train.Saver(write_version=V1)``), read and written without TensorFlow.

The official VGGish checkpoint (``vggish_model.ckpt``) is this format: ``vggish_slim.load_vggish_slim_checkpoint``
restores it with a V1 ``Saver``. A V1 checkpoint is a LevelDB-style table (``tensorflow/core/lib/io/table_format.txt``)
whose values are ``SavedTensorSlices`` protos (``tensorflow/core/util/saved_tensor_slice.proto``):

- the file is data blocks, an empty meta-index block, an index block and a 48-byte footer (two block handles,
  zero padding, the magic ``0xdb4775248b80fb57``); each block is followed by a type byte (0: not compressed, what
  TensorFlow's checkpoint writer always uses) and the masked crc32c of the block and that byte;
- a block holds prefix-compressed entries (``shared``, ``unshared``, ``value length`` varints, the key's new bytes,
  the value) and ends with its restart offsets; the index maps a key at or past each block's last key to the block;
- the first entry (key ``""``) is the metadata: each tensor's name, shape, dtype and slices; every other entry is one
  slice of one tensor, keyed by ``OrderedCode`` (0, the name, the rank, ``start`` and ``length`` per dimension, -1
  for a whole dimension), its values in the ``TensorProto``'s ``float_val`` (packed), as TensorFlow's
  ``TensorSliceWriter`` stores them.

:func:`read_checkpoint` checks every block's crc, parses the protos with a minimal wire-format reader (the values of
a 200 MB tensor become a numpy view of the file's buffer, not a Python list) and assembles each tensor from its
slices. :func:`write_checkpoint` writes whole tensors exactly as TensorFlow does (same block splitting, same index
keys, same proto bytes): a test compares the two files byte for byte.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from crc32c import crc32c

from reelset.core.atomic import atomic_output
from reelset.core.errors import ReelsetError

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_BYTES = 48  # two block handles of at most 20 bytes each, padded to 40, then the 8-byte magic
BLOCK_TRAILER_BYTES = 5  # type byte + masked crc32c
BLOCK_SIZE = 262144  # tensorflow::table::Options::block_size
RESTART_INTERVAL = 16  # tensorflow::table::Options::block_restart_interval (the index block uses 1)
CHECKPOINT_VERSION = 1  # TF_CHECKPOINT_VERSION, the producer TensorFlow's writer records
_MASK_DELTA = 0xA282EAD8

# DataType -> (numpy dtype, TensorProto field of its values, packed element encoding)
_DTYPES = {
    1: (np.dtype("<f4"), 5, "fixed"),  # DT_FLOAT: float_val
    2: (np.dtype("<f8"), 6, "fixed"),  # DT_DOUBLE: double_val
    3: (np.dtype("<i4"), 7, "varint"),  # DT_INT32: int_val
    9: (np.dtype("<i8"), 10, "varint"),  # DT_INT64: int64_val
}
_DTYPE_OF = {np.dtype(dtype).newbyteorder("="): code for code, (dtype, _, _) in _DTYPES.items()}


class CheckpointError(ReelsetError):
    """The file is not a V1 TensorFlow checkpoint, or it is damaged."""


# ------------------------------------------------------------------------------------------------ wire format

def _varint(buf, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(buf) -> Iterator[tuple[int, int, int | memoryview]]:
    """``(field number, wire type, value)`` of a protobuf message: an int for varints and fixed fields, a view of the
    bytes for length-delimited ones."""
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise ValueError("truncated field")
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > end:
            raise ValueError("truncated field")
        yield number, wire, value


def _signed(value: int) -> int:
    """An int64 field read as a varint (two's complement on 64 bits)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _put_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32/int64 fields are their 64-bit two's complement
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _put_bytes(number: int, payload: bytes) -> bytes:
    return _put_varint(number << 3 | 2) + _put_varint(len(payload)) + payload


def _put_int(number: int, value: int) -> bytes:
    return _put_varint(number << 3) + _put_varint(value) if value else b""


# ------------------------------------------------------------------------------------------------ tensors

@dataclass
class _TensorMeta:
    name: str
    shape: tuple[int, ...] = ()
    dtype: int = 0
    slices: int = 0
    parts: list[tuple[tuple[slice, ...], np.ndarray]] = field(default_factory=list)


def _shape(buf) -> tuple[int, ...]:
    dims = []
    for number, _, value in _fields(buf):
        if number == 2:  # dim
            dims.append(next((_signed(size) for n, _, size in _fields(value) if n == 1), 0))
        elif number == 3 and value:
            raise ValueError("a tensor of unknown rank")
    return tuple(dims)


def _extents(buf, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """A TensorSliceProto as index slices of ``shape`` (an extent without a length is the whole dimension)."""
    extents = []
    for number, _, value in _fields(buf):
        if number == 1:
            start, length = 0, None
            for n, _, item in _fields(value):
                if n == 1:
                    start = _signed(item)
                elif n == 2:
                    length = _signed(item)
            extents.append((start, length))
    if not extents:
        extents = [(0, None)] * len(shape)
    if len(extents) != len(shape):
        raise ValueError(f"a slice of rank {len(extents)} for a tensor of rank {len(shape)}")
    return tuple(slice(0, size) if length is None or length < 0 else slice(start, start + length)
                 for (start, length), size in zip(extents, shape))


def _values(buf, dtype: int, count: int) -> np.ndarray:
    """The ``count`` values of a TensorProto: its ``tensor_content`` or its typed list (packed or not)."""
    numpy_dtype, list_field, encoding = _DTYPES[dtype]
    content = None
    chunks: list[np.ndarray] = []
    for number, wire, value in _fields(buf):
        if number == 4:
            content = np.frombuffer(value, numpy_dtype)
        elif number == list_field and wire == 2 and encoding == "fixed":
            chunks.append(np.frombuffer(value, numpy_dtype))
        elif number == list_field and wire == 2:
            chunks.append(np.array(_packed_varints(value), np.uint64).view(np.int64).astype(numpy_dtype))
        elif number == list_field and encoding == "fixed":
            raw = value.to_bytes(numpy_dtype.itemsize, "little")
            chunks.append(np.frombuffer(raw, numpy_dtype))
        elif number == list_field:
            chunks.append(np.array([_signed(value)], numpy_dtype))
    values = content if content is not None else (np.concatenate(chunks) if len(chunks) > 1 else
                                                   chunks[0] if chunks else np.zeros(0, numpy_dtype))
    if len(values) == 1 and count > 1:  # TensorProto's rule: one value stands for all of them
        values = np.full(count, values[0], numpy_dtype)
    if len(values) != count:
        raise ValueError(f"{len(values)} values where the slice has {count}")
    return values


def _packed_varints(buf) -> list[int]:
    out, pos = [], 0
    while pos < len(buf):
        value, pos = _varint(buf, pos)
        out.append(value)
    return out


def _metadata(buf) -> dict[str, _TensorMeta]:
    tensors: dict[str, _TensorMeta] = {}
    for number, _, value in _fields(buf):
        if number != 1:  # versions
            continue
        meta = _TensorMeta("")
        for n, _, item in _fields(value):
            if n == 1:
                meta.name = bytes(item).decode("utf-8")
            elif n == 2:
                meta.shape = _shape(item)
            elif n == 3:
                meta.dtype = item
            elif n == 4:
                meta.slices += 1
        if meta.dtype not in _DTYPES:
            raise ValueError(f"tensor {meta.name!r} has dtype {meta.dtype}, not float, double, int32 or int64")
        tensors[meta.name] = meta
    return tensors


def _add_slice(buf, tensors: dict[str, _TensorMeta]) -> None:
    name, extents_buf, data = None, None, None
    for number, _, value in _fields(buf):
        if number == 1:
            name = bytes(value).decode("utf-8")
        elif number == 2:
            extents_buf = value
        elif number == 3:
            data = value
    if name not in tensors:
        raise ValueError(f"a slice of {name!r}, which the metadata does not list")
    meta = tensors[name]
    extents = _extents(extents_buf if extents_buf is not None else b"", meta.shape)
    sliced = tuple(part.stop - part.start for part in extents)
    values = _values(data if data is not None else b"", meta.dtype, int(np.prod(sliced, dtype=np.int64)))
    meta.parts.append((extents, values.reshape(sliced)))


def _assemble(meta: _TensorMeta) -> np.ndarray:
    if len(meta.parts) != meta.slices:
        raise ValueError(f"tensor {meta.name!r}: {len(meta.parts)} slices stored, {meta.slices} listed")
    whole = tuple(slice(0, size) for size in meta.shape)
    if len(meta.parts) == 1 and meta.parts[0][0] == whole:
        return meta.parts[0][1]  # the usual case: one slice, the whole tensor (a view of the file's buffer)
    numpy_dtype = _DTYPES[meta.dtype][0]
    out = np.zeros(meta.shape, numpy_dtype)
    covered = np.zeros(meta.shape, bool)
    for extents, values in meta.parts:
        out[extents] = values
        covered[extents] = True
    if not covered.all():
        raise ValueError(f"tensor {meta.name!r}: its slices do not cover it")
    return out


# ------------------------------------------------------------------------------------------------ the table

def _unmask(masked: int) -> int:
    rotated = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


def _mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def _block(data: memoryview, handle: tuple[int, int]) -> memoryview:
    offset, size = handle
    end = offset + size
    if end + BLOCK_TRAILER_BYTES > len(data):
        raise ValueError("a block handle points past the end of the file")
    kind = data[end]
    (stored,) = struct.unpack_from("<I", data, end + 1)
    if crc32c(data[end:end + 1], crc32c(data[offset:end])) != _unmask(stored):
        raise ValueError(f"block at byte {offset}: checksum mismatch")
    if kind != 0:
        raise ValueError(f"block at byte {offset}: compressed (type {kind}); TensorFlow's checkpoints are not")
    return data[offset:end]


def _entries(block: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    if len(block) < 4:
        raise ValueError("a block too short for its restart count")
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise ValueError("a block whose restart array overruns it")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + length > limit:
            raise ValueError("a corrupt block entry")
        key = key[:shared] + bytes(block[pos:pos + unshared])
        pos += unshared
        yield key, block[pos:pos + length]
        pos += length


def _handle(buf, pos: int = 0) -> tuple[tuple[int, int], int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return (offset, size), pos


def _table(data: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    if len(data) < FOOTER_BYTES:
        raise ValueError("shorter than a table footer")
    footer = data[len(data) - FOOTER_BYTES:]
    low, high = struct.unpack_from("<II", footer, FOOTER_BYTES - 8)
    if (high << 32 | low) != TABLE_MAGIC:
        raise ValueError("not a TensorFlow table (bad magic number)")
    _, pos = _handle(footer)  # the meta-index block: TensorFlow's checkpoints leave it empty
    index, _ = _handle(footer, pos)
    for _, handle_bytes in _entries(_block(data, index)):
        yield from _entries(_block(data, _handle(handle_bytes)[0]))


def read_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every tensor of the V1 checkpoint at ``path`` by name (in the metadata's order).

    Raises:
        CheckpointError: the file cannot be read, is not a V1 checkpoint (a V2 prefix is named as such), or is
            damaged (a bad checksum, a truncated block or proto, slices that do not make their tensor); one line
            naming the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            buffer = bytearray(size)  # writable, so the arrays that view it are too
            if handle.readinto(buffer) != size:
                raise CheckpointError(f"{path}: the file changed while it was read")
    except FileNotFoundError:
        hint = "; it is a V2 checkpoint's prefix: give a V1 file" if path.with_name(path.name + ".index").exists() \
            else ""
        raise CheckpointError(f"{path}: no such checkpoint file{hint}") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: a folder, not a checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    try:
        return _parse(memoryview(buffer))
    except (ValueError, UnicodeDecodeError, struct.error) as exc:
        raise CheckpointError(f"{path}: not a readable TensorFlow V1 checkpoint ({exc})") from exc


def _parse(data: memoryview) -> dict[str, np.ndarray]:
    tensors: dict[str, _TensorMeta] | None = None
    for key, value in _table(data):
        for number, _, payload in _fields(value):
            if number == 1 and key == b"":
                tensors = _metadata(payload)
            elif number == 2:
                if tensors is None:
                    raise ValueError("a tensor slice before the metadata")
                _add_slice(payload, tensors)
    if tensors is None:
        raise ValueError("no metadata entry")
    return {name: _assemble(meta) for name, meta in tensors.items()}


# ------------------------------------------------------------------------------------------------ writing

def _escape(text: bytes) -> bytes:
    """OrderedCode's string escaping (``\\x00`` -> ``\\x00\\xff``, ``\\xff`` -> ``\\xff\\x00``); the caller adds the
    ``\\x00\\x01`` separator."""
    out = bytearray()
    for byte in text:
        out += b"\x00\xff" if byte == 0 else b"\xff\x00" if byte == 0xFF else bytes((byte,))
    return bytes(out)


def _ordered_number(value: int) -> bytes:
    """OrderedCode's ``WriteNumIncreasing``: a length byte, then the big-endian bytes without leading zeros."""
    payload = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes((len(payload),)) + payload


def _ordered_signed(value: int) -> bytes:
    """OrderedCode's ``WriteSignedNumIncreasing`` (sign bit, then as many 1 bits as bytes follow, then the value)."""
    magnitude = ~value if value < 0 else value
    length = 1 + next(n for n in range(10) if magnitude < 1 << (7 * (n + 1) - 1))
    raw = (value & ((1 << 8 * length) - 1)).to_bytes(length, "big")
    header = ((0xFF00 >> length) & 0xFF) if length <= 8 else 0xFF
    first = bytes((raw[0] ^ header,))
    if length == 9:
        return first + bytes((raw[1] ^ 0x80,)) + raw[2:]
    if length == 10:
        return first + bytes((raw[1] ^ 0xC0,)) + raw[2:]
    return first + raw[1:]


def slice_key(name: str, rank: int) -> bytes:
    """The table key of the whole tensor ``name`` of rank ``rank`` (``EncodeTensorNameSlice``: start 0, length -1
    for every dimension)."""
    return (_ordered_number(0) + _escape(name.encode("utf-8")) + b"\x00\x01" + _ordered_number(rank)
            + (_ordered_signed(0) + _ordered_signed(-1)) * rank)


def _shape_proto(shape: tuple[int, ...]) -> bytes:
    return b"".join(_put_bytes(2, _put_int(1, size)) for size in shape)


def _full_slice_proto(rank: int) -> bytes:
    return _put_bytes(1, b"") * rank


def _tensor_proto(array: np.ndarray, dtype: int) -> bytes:
    numpy_dtype, list_field, encoding = _DTYPES[dtype]
    flat = np.ascontiguousarray(array, numpy_dtype).reshape(-1)
    if not flat.size:
        return b""
    if encoding == "fixed":
        payload = flat.tobytes()
    else:
        payload = b"".join(_put_varint(int(value)) for value in flat)
    return _put_bytes(list_field, payload)


def _block_bytes(entries: list[tuple[bytes, bytes]], restart_interval: int) -> bytes:
    out, restarts, last = bytearray(), [], b""
    for count, (key, value) in enumerate(entries):
        shared = 0
        if count % restart_interval == 0:
            restarts.append(len(out))
        else:
            limit = min(len(last), len(key))
            while shared < limit and last[shared] == key[shared]:
                shared += 1
        out += _put_varint(shared) + _put_varint(len(key) - shared) + _put_varint(len(value))
        out += key[shared:]
        out += value
        last = key
    for restart in restarts or [0]:
        out += struct.pack("<I", restart)
    out += struct.pack("<I", len(restarts or [0]))
    return bytes(out)


def _block_estimate(entries_bytes: int, restarts: int) -> int:
    return entries_bytes + 4 * restarts + 4


def _separator(start: bytes, limit: bytes) -> bytes:
    """TensorFlow's ``FindShortestSeparator``: a short key >= ``start`` and < ``limit``."""
    common = 0
    while common < min(len(start), len(limit)) and start[common] == limit[common]:
        common += 1
    if common < min(len(start), len(limit)) and start[common] < 0xFF and start[common] + 1 < limit[common]:
        return start[:common] + bytes((start[common] + 1,))
    return start


def _successor(key: bytes) -> bytes:
    """TensorFlow's ``FindShortSuccessor``: a short key >= ``key``."""
    for index, byte in enumerate(key):
        if byte != 0xFF:
            return key[:index] + bytes((byte + 1,))
    return key


class _TableWriter:
    """TensorFlow's ``TableBuilder`` with its defaults (no compression), writing to an open binary file."""

    def __init__(self, out):
        self.out = out
        self.offset = 0
        self.block: list[tuple[bytes, bytes]] = []
        self.block_bytes = 0
        self.index: list[tuple[bytes, bytes]] = []
        self.pending: tuple[int, int] | None = None
        self.last_key = b""
        self.entries = 0

    def add(self, key: bytes, value: bytes) -> None:
        if self.entries and len(key) + len(value) >= 2 * BLOCK_SIZE:
            self._flush()
        if self.pending is not None:
            self.index.append((_separator(self.last_key, key), self._handle(self.pending)))
            self.pending = None
        shared = 0
        if len(self.block) % RESTART_INTERVAL:
            while shared < min(len(self.last_key), len(key)) and self.last_key[shared] == key[shared]:
                shared += 1
        self.block.append((key, value))
        self.block_bytes += (len(_put_varint(shared)) + len(_put_varint(len(key) - shared))
                             + len(_put_varint(len(value))) + len(key) - shared + len(value))
        self.last_key = key
        self.entries += 1
        restarts = (len(self.block) + RESTART_INTERVAL - 1) // RESTART_INTERVAL
        if _block_estimate(self.block_bytes, restarts) >= BLOCK_SIZE:
            self._flush()

    def finish(self) -> None:
        self._flush()
        metaindex = self._write_block(_block_bytes([], RESTART_INTERVAL))
        if self.pending is not None:
            self.index.append((_successor(self.last_key), self._handle(self.pending)))
        index = self._write_block(_block_bytes(self.index, 1))
        footer = (self._handle(metaindex) + self._handle(index)).ljust(FOOTER_BYTES - 8, b"\x00")
        self.out.write(footer + struct.pack("<II", TABLE_MAGIC & 0xFFFFFFFF, TABLE_MAGIC >> 32))

    def _flush(self) -> None:
        if self.block:
            self.pending = self._write_block(_block_bytes(self.block, RESTART_INTERVAL))
            self.block, self.block_bytes = [], 0

    def _write_block(self, contents: bytes) -> tuple[int, int]:
        handle = (self.offset, len(contents))
        self.out.write(contents)
        self.out.write(b"\x00" + struct.pack("<I", _mask(crc32c(b"\x00", crc32c(contents)))))
        self.offset += len(contents) + BLOCK_TRAILER_BYTES
        return handle

    @staticmethod
    def _handle(handle: tuple[int, int]) -> bytes:
        return _put_varint(handle[0]) + _put_varint(handle[1])


def write_checkpoint(path: str | os.PathLike, tensors: Mapping[str, np.ndarray]) -> Path:
    """Write ``tensors`` (name -> float32, float64, int32 or int64 array) as a V1 checkpoint, atomically: the bytes
    TensorFlow's V1 ``Saver`` writes for the same variables (sorted by name, each tensor one whole slice).

    Raises:
        ValueError: a tensor of another dtype.
    """
    path = Path(path)
    items = []
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        dtype = _DTYPE_OF.get(array.dtype.newbyteorder("="))
        if dtype is None:
            raise ValueError(f"tensor {name!r}: dtype {array.dtype} is not float32, float64, int32 or int64")
        items.append((name, array, dtype))
    meta = b"".join(_put_bytes(1, _put_bytes(1, name.encode("utf-8")) + _put_bytes(2, _shape_proto(array.shape))
                                + _put_int(3, dtype) + _put_bytes(4, _full_slice_proto(array.ndim)))
                    for name, array, dtype in items)
    meta += _put_bytes(2, _put_int(1, CHECKPOINT_VERSION))
    entries = [(b"", _put_bytes(1, meta))]
    for name, array, dtype in items:
        saved_slice = (_put_bytes(1, name.encode("utf-8")) + _put_bytes(2, _full_slice_proto(array.ndim))
                       + _put_bytes(3, _tensor_proto(array, dtype)))
        entries.append((slice_key(name, array.ndim), _put_bytes(2, saved_slice)))
    with atomic_output(path) as tmp, open(tmp, "wb") as out:
        table = _TableWriter(out)
        for key, value in sorted(entries):
            table.add(key, value)
        table.finish()
    return path
