"""YouTube-8M records as numpy: :func:`read_records` and :func:`write_records`, without TensorFlow.

A record is a dict::

    {"id": "fYdw", "labels": int64 array, <feature name>: numpy array, ...}

- video level (``tf.train.Example``): ``mean_rgb`` (1024,) and ``mean_audio`` (128,) float32;
- frame level (``tf.train.SequenceExample``): ``rgb`` (frames, 1024) and ``audio`` (frames, 128) uint8, the quantized
  bytes as stored, or float32 with ``dequantize=True``;
- v1 files name the id ``video_id``: it is read as ``id``;
- the segment-rated v3 context (``segment_labels`` and ``segment_start_times`` int64, ``segment_scores`` float32) and
  any other context key are passed through: float lists as float32 arrays, int64 lists as int64 arrays, bytes lists
  as ``bytes`` when they hold one value (e.g. the ``backbone`` name our extractor writes) and ``list[bytes]``
  otherwise, a feature with no list set as ``None``. :func:`write_records` turns each back into the same feature.

A record's feature space is whatever its values say: records made by other backbones have frames of their own width.
Within a record it must be consistent: every frame of a feature list has the same width, which is also the length of
the context's ``mean_<name>`` when there is one, and every feature list has the same number of frames.

How reading is fast
-------------------
The frame features of a YouTube-8M SequenceExample are regular: frame after frame, a ``Feature`` holding one
``BytesList`` holding one value of the same width, so every frame starts with the same few bytes of protobuf framing.
:func:`_parse_fast` walks the wire format with a minimal varint reader to find the context and the feature lists,
reads the first frame's framing, checks that the list's length is a whole number of frames and (with a few
vectorised comparisons of machine words) that every frame starts with the same framing bytes, and then returns the
frames as a strided ``(frames, width)`` numpy view of the record's buffer: nothing is copied. Context lists become
``numpy.frombuffer`` views too (float lists) or are decoded from their varints (int64 lists). Anything else it meets (unknown fields,
repeated keys, unpacked lists, frames of other widths or kinds, a key that is not UTF-8, a truncated field) makes it
give up, and the record goes through :func:`_parse_generic`, the protobuf parse of :mod:`reelset.formats.proto`, which
is the reference: both produce the same record or the generic one says what is wrong. The tests hold the two to
identical results on many random records, regular and irregular.

Dequantizing is the starter code's ``q * 4/255 + 4/512 - 2`` in float32, exactly as TensorFlow computes it (multiply,
round to float32, add, round). :data:`DEQUANTIZE_TABLE` holds its 256 values; numpy's gather from a table converts
every byte index to an 8-byte integer first and is three times slower than doing the two float32 operations over the
frames, which give bit for bit the table's values (a test checks all 256), so the frames are computed, not gathered.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from reelset.core.threads import parallel_map
from reelset.formats import proto
from reelset.formats.tfrecord import CorruptRecordError, scan_tfrecords, write_tfrecords

Record = dict[str, Any]

FRAME_FEATURES = ("rgb", "audio")  # the frame-level feature lists of YouTube-8M
DEFAULT_WIDTHS = {"rgb": 1024, "audio": 128}  # the width of an empty feature list when nothing else says
# Threads that parse and dequantize (floats only): the cores this process may use, up to 4 (reading is one more).
PARSE_WORKERS = max(1, min(4, len(os.sched_getaffinity(0))))
# Records at least this large (frame level: ~350 KB) are dequantized in threads; for small ones (video level,
# ~4.7 KB, nothing to dequantize) threads would cost more than they give.
_THREADED_RECORD_BYTES = 64 * 1024
_SMALL_LIST = 64  # packed int64 lists up to this many bytes are decoded in Python (numpy calls cost more)
# Context features whose kind is known (besides mean_*, float): the labels and the v3 segments.
_CONTEXT_TYPES = {"labels": "int64", "segment_labels": "int64", "segment_start_times": "int64",
                  "segment_scores": "float"}

# Quantization as the starter code (dequantize) and the feature extractor (quantize) do it.
QUANTIZE_MIN, QUANTIZE_MAX = -2.0, 2.0
_SCALE = np.float32((QUANTIZE_MAX - QUANTIZE_MIN) / 255.0)
_BIAS = np.float32((QUANTIZE_MAX - QUANTIZE_MIN) / 512.0 + QUANTIZE_MIN)
DEQUANTIZE_TABLE = np.arange(256, dtype=np.float32) * _SCALE + _BIAS
DEQUANTIZE_TABLE.flags.writeable = False


def quantize(features) -> np.ndarray:
    """Floats to bytes as the feature extractor does: clip to [-2, 2], then ``round((x + 2) * 255 / 4)``.

    The two are half a bin apart, on purpose: the starter code's :func:`dequantize` adds half a bin (``4/512``) that
    this never subtracted, so ``dequantize(quantize(x)) - x`` lies in ``[4/512 - 2/255, 4/512 + 2/255]``, about
    ``[-0.00003, 0.0157]`` (one bin, rounding's half bin each way shifted by the 4/512) instead of around 0,
    and ``dequantize(quantize(0.0))`` is ``0.0157``. Both are kept exactly as they are for compatibility: every
    published record was quantized this way and every published model was trained on features dequantized that way.
    """
    # In float32 like the extractor (its features are float32), then round half to even like its Python round().
    values = np.clip(np.asarray(features, dtype=np.float32), np.float32(QUANTIZE_MIN), np.float32(QUANTIZE_MAX))
    scaled = (values - np.float32(QUANTIZE_MIN)) * np.float32(255.0 / (QUANTIZE_MAX - QUANTIZE_MIN))
    return np.round(scaled).astype(np.uint8)


def dequantize(quantized) -> np.ndarray:
    """Bytes to float32 as the starter code does: ``q * 4/255 + 4/512 - 2`` (0 -> -1.9921875, 255 -> 2.0078125).

    Bit for bit the values of :data:`DEQUANTIZE_TABLE` (see :func:`quantize` for the half-bin offset).
    """
    values = np.asarray(quantized)
    if values.dtype != np.uint8:
        raise TypeError(f"dequantize expects uint8 bytes, got {values.dtype}")
    out = values.astype(np.float32)
    out *= _SCALE
    out += _BIAS
    return out


class _Irregular(Exception):
    """The fast parser met something it does not handle: parse the record generically instead."""


class _Corrupt(Exception):
    """What is wrong with a record (the caller adds file, index and offset)."""


# --------------------------------------------------------------------------------------------------- wire format
# A feature value as both parsers give it: (kind, value), kind in {"bytes", "float", "int64", None}.

def _varint(buf, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    byte = buf[pos]
    if byte < 0x80:
        return byte, pos + 1
    second = buf[pos + 1]
    if second < 0x80:  # two bytes: lengths up to 16 KB, label ids
        return (byte & 0x7F) | second << 7, pos + 2
    result, shift, pos = (byte & 0x7F) | (second & 0x7F) << 7, 14, pos + 1
    while True:
        pos += 1
        byte = buf[pos]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos + 1
        shift += 7
        if shift > 63:
            raise _Irregular


def _field(buf, pos: int, end: int, tag: int) -> tuple[int, int]:
    """The (start, end) of the length-delimited field ``tag`` at ``pos``."""
    if buf[pos] != tag:
        raise _Irregular
    length = buf[pos + 1]
    if length < 0x80:  # the common one-byte length, without a call
        start = pos + 2
    else:
        length, start = _varint(buf, pos + 1)
    stop = start + length
    if stop > end:
        raise _Irregular
    return start, stop


def _fast_lists(buf, pos: int, end: int) -> dict[str, np.ndarray | None]:
    """A ``FeatureLists`` message (``map<string, FeatureList>``) in ``buf[pos:end]``: ``{key: frames}``."""
    lists = {}
    while pos < end:
        entry_start, pos = _field(buf, pos, end, 0x0A)
        key_start, key_end = _field(buf, entry_start, pos, 0x0A)
        value_start, value_end = _field(buf, key_end, pos, 0x12)
        key = str(buf[key_start:key_end], "utf-8")
        if value_end != pos or key in lists:
            raise _Irregular  # a field after the value, or a repeated key (the last one would win)
        lists[key] = _fast_frames(buf, value_start, value_end)
    return lists


def _fast_features(buf, pos: int, end: int) -> dict[str, tuple[str | None, Any]]:
    """A ``Features`` message (``map<string, Feature>``) in ``buf[pos:end]``: ``{key: (kind, values)}``.

    The hot loop of video-level records, so the field walk is written out (a one-byte length is read without a
    call): twice as fast as going through :func:`_field`. Packed float lists become ``numpy.frombuffer`` views.
    """
    features: dict[str, tuple[str | None, Any]] = {}
    while pos < end:
        if buf[pos] != 0x0A:  # map entry
            raise _Irregular
        size = buf[pos + 1]
        if size < 0x80:
            entry = pos + 2
        else:
            size, entry = _varint(buf, pos + 1)
        pos = entry + size  # the end of this entry
        if pos > end or buf[entry] != 0x0A:  # key
            raise _Irregular
        size = buf[entry + 1]
        if size < 0x80:
            key_start = entry + 2
        else:
            size, key_start = _varint(buf, entry + 1)
        key_end = key_start + size
        if key_end >= pos or buf[key_end] != 0x12:  # value: a Feature
            raise _Irregular
        size = buf[key_end + 1]
        if size < 0x80:
            value = key_end + 2
        else:
            size, value = _varint(buf, key_end + 1)
        key = str(buf[key_start:key_end], "utf-8")
        if value + size != pos or key in features:
            raise _Irregular  # a field after the value, or a repeated key (the last one would win)
        if value == pos:
            features[key] = (None, None)
            continue
        kind = buf[value]  # which list of the oneof: exactly one, filling the Feature
        size = buf[value + 1]
        if size < 0x80:
            list_start = value + 2
        else:
            size, list_start = _varint(buf, value + 1)
        if list_start + size != pos:
            raise _Irregular
        if kind == 0x0A:  # BytesList: one field per value
            values, at = [], list_start
            while at < pos:
                start, at = _field(buf, at, pos, 0x0A)
                values.append(buf[start:at])
            features[key] = ("bytes", values)
            continue
        if kind != 0x12 and kind != 0x1A:  # FloatList, Int64List
            raise _Irregular
        if list_start == pos:
            features[key] = ("float", np.empty(0, np.float32)) if kind == 0x12 else ("int64", np.empty(0, np.int64))
            continue
        data, data_end = _field(buf, list_start, pos, 0x0A)  # the packed values
        if data_end != pos:
            raise _Irregular
        if kind == 0x12:
            if (pos - data) % 4:
                raise _Irregular
            features[key] = ("float", np.frombuffer(buf, "<f4", (pos - data) // 4, data))
        else:
            features[key] = ("int64", _varints(buf, data, pos))
    return features


def _varints(buf, start: int, end: int) -> np.ndarray:
    """Packed int64 varints (two's complement, ten bytes for a negative value)."""
    if end - start > _SMALL_LIST:
        raw = np.frombuffer(buf, np.uint8, end - start, start)
        if not np.count_nonzero(raw & 0x80):  # every value below 128: one byte each
            return raw.astype(np.int64)
    values, pos = [], start
    while pos < end:
        value, pos = _varint(buf, pos)
        value &= (1 << 64) - 1  # protobuf keeps the low 64 bits of an over-long varint
        values.append(value - (1 << 64) if value >= 1 << 63 else value)
    if pos != end:
        raise _Irregular
    return np.array(values, dtype=np.int64)


def _fast_frames(buf, start: int, end: int) -> np.ndarray | None:
    """The frames of a FeatureList as a ``(frames, width)`` uint8 view, or None for an empty list."""
    if start == end:
        return None
    feature_start, stride_end = _field(buf, start, end, 0x0A)
    list_start, list_end = _field(buf, feature_start, stride_end, 0x0A)
    value_start, value_end = _field(buf, list_start, list_end, 0x0A)
    if list_end != stride_end or value_end != list_end:
        raise _Irregular  # not one Feature holding one BytesList holding one value
    stride, framing = stride_end - start, value_start - start
    frames, rest = divmod(end - start, stride)
    if rest or (frames > 1 and not _same_framing(buf, start, stride, frames, framing)):
        raise _Irregular
    return np.ndarray((frames, stride - framing), np.uint8, buf, value_start, (stride, 1))


def _same_framing(buf, start: int, stride: int, frames: int, framing: int) -> bool:
    """Whether every frame begins with the first frame's ``framing`` bytes.

    Compared as a few overlapping machine words per frame (two for YouTube-8M's 9 bytes), each word one strided
    numpy column: a handful of vectorised operations whatever the frame count.
    """
    word = 8 if framing >= 8 else 4  # framing is at least 6 bytes: three tags and three lengths
    if framing < word:
        return False
    for offset in [*range(0, framing - word, word), framing - word]:
        column = np.ndarray((frames,), f"<u{word}", buf, start + offset, (stride,))
        if np.count_nonzero(column != column[0]):
            return False
    return True


def _parse_fast(buf: memoryview) -> tuple[dict, dict | None]:
    """(context features, feature lists or None) of an Example / SequenceExample; raises :class:`_Irregular`."""
    context_span = lists_span = None
    pos, end = 0, len(buf)
    try:
        while pos < end:
            tag = buf[pos]
            if tag == 0x0A and context_span is None:
                context_span = _field(buf, pos, end, tag)
            elif tag == 0x12 and lists_span is None:
                lists_span = _field(buf, pos, end, tag)
            else:
                raise _Irregular
            pos = (context_span if tag == 0x0A else lists_span)[1]
        context = _fast_features(buf, *context_span) if context_span else {}
        return context, None if lists_span is None else _fast_lists(buf, *lists_span)
    except (IndexError, UnicodeDecodeError):
        raise _Irregular from None


def _parse_generic(buf) -> tuple[dict, dict | None]:
    """The reference parse: protobuf's, then the same checks the fast path's framing implies."""
    message = proto.SequenceExample()
    try:
        message.ParseFromString(buf)
    except DecodeError as error:
        raise _Corrupt(f"not a tf.train.Example or tf.train.SequenceExample protobuf ({error})") from None
    context = {key: _generic_feature(feature) for key, feature in message.context.feature.items()}
    if not message.HasField("feature_lists"):
        return context, None
    return context, {key: _generic_frames(key, feature_list)
                     for key, feature_list in message.feature_lists.feature_list.items()}


def _generic_feature(feature) -> tuple[str | None, Any]:
    kind = feature.WhichOneof("kind")
    if kind == "bytes_list":
        return "bytes", list(feature.bytes_list.value)
    if kind == "float_list":
        return "float", np.array(feature.float_list.value, dtype=np.float32)
    if kind == "int64_list":
        return "int64", np.array(feature.int64_list.value, dtype=np.int64)
    return None, None


def _generic_frames(name: str, feature_list) -> np.ndarray | None:
    """A FeatureList as a (frames, width) array: bytes frames (one value each) as uint8, float/int64 frames as such."""
    frames = [_generic_feature(feature) for feature in feature_list.feature]
    if not frames:
        return None
    kind = frames[0][0]
    for number, (frame_kind, values) in enumerate(frames):
        if frame_kind is None:
            raise _Corrupt(f"feature list {name!r}: frame {number} holds no value")
        if frame_kind != kind:
            raise _Corrupt(f"feature list {name!r}: frame {number} holds {_kind_name(frame_kind)}, "
                           f"frame 0 holds {_kind_name(kind)}")
        if kind == "bytes" and len(values) != 1:
            raise _Corrupt(f"feature list {name!r}: frame {number} holds {len(values)} bytes values, expected 1")
    rows = [values[0] for _, values in frames] if kind == "bytes" else [values for _, values in frames]
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        first = len(rows[0])
        number = next(i for i, row in enumerate(rows) if len(row) != first)
        unit = "bytes" if kind == "bytes" else "values"
        raise _Corrupt(f"feature list {name!r}: frames of unequal widths (frame 0 has {first} {unit}, "
                       f"frame {number} has {len(rows[number])})")
    if kind == "bytes":
        return np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), len(rows[0]))
    return np.stack(rows)


def _kind_name(kind: str | None) -> str:
    return {"bytes": "a bytes_list", "float": "a float_list", "int64": "an int64_list"}.get(kind, "no value")


# ------------------------------------------------------------------------------------------------- records

def _record(context: dict, lists: dict | None, as_floats: bool, max_frames: int | None) -> Record:
    """The record dict from parsed features, with the YouTube-8M checks."""
    id_key = "id" if "id" in context else "video_id"  # v1 files say video_id
    if id_key not in context:
        raise _Corrupt("no 'id' (or v1 'video_id') feature: not a YouTube-8M record")
    kind, values = context.pop(id_key)
    if kind != "bytes" or len(values) != 1:
        holds = f"{len(values)} bytes values" if kind == "bytes" else _kind_name(kind)
        raise _Corrupt(f"feature {id_key!r} holds {holds}, expected one bytes value")
    record: Record = {"id": str(values[0], "utf-8", "surrogateescape")}
    kind, labels = context.pop("labels", (None, None))
    if kind not in ("int64", None):
        raise _Corrupt(f"feature 'labels' holds {_kind_name(kind)}, expected an int64_list")
    record["labels"] = labels if kind else np.empty(0, np.int64)
    for key in sorted(context):
        kind, values = context[key]
        expected = _CONTEXT_TYPES.get(key, "float" if key.startswith("mean_") else None)
        if expected and kind not in (expected, None):
            raise _Corrupt(f"feature {key!r} holds {_kind_name(kind)}, expected {_kind_name(expected)}")
        if kind == "bytes":
            values = bytes(values[0]) if len(values) == 1 else [bytes(value) for value in values]
        record[key] = values
    if lists is None:
        return record
    names = sorted(lists, key=lambda name: (FRAME_FEATURES.index(name) if name in FRAME_FEATURES else 2, name))
    frame_lists = {name: _checked_frames(name, lists[name], record) for name in names}
    counts = {name: len(frames) for name, frames in frame_lists.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{name} {count}" for name, count in counts.items())
        raise _Corrupt(f"feature lists of different lengths ({listed} frames)")
    for name, frames in frame_lists.items():
        if max_frames is not None:
            frames = frames[:max_frames]
        if as_floats and frames.dtype == np.uint8:
            frames = dequantize(frames)
        record[name] = frames if max_frames is None else _padded(frames, max_frames)
    if max_frames is not None:
        record["num_frames"] = min(max(counts.values(), default=0), max_frames)
    return record


def _checked_frames(name: str, frames: np.ndarray | None, record: Record) -> np.ndarray:
    """A feature list's frames, checked against the record's feature space (its ``mean_<name>``, when it has one)."""
    if name in record:
        raise _Corrupt(f"{name!r} is both a context feature and a feature list")
    mean = record.get(f"mean_{name}")
    if frames is None:
        return np.empty((0, len(mean) if isinstance(mean, np.ndarray) else DEFAULT_WIDTHS.get(name, 0)), np.uint8)
    if isinstance(mean, np.ndarray) and frames.shape[1] != len(mean):
        unit = "bytes" if frames.dtype == np.uint8 else "values"
        raise _Corrupt(f"feature list {name!r}: frames of {frames.shape[1]} {unit}, but the record's feature space "
                       f"is {len(mean)} wide (mean_{name} has {len(mean)} values)")
    return frames


def _padded(frames: np.ndarray, max_frames: int) -> np.ndarray:
    """The starter reader's ``resize_axis`` after truncation: pad with zeros (0.0 once dequantized, as there)."""
    if len(frames) == max_frames:
        return frames
    padded = np.zeros((max_frames, frames.shape[1]), frames.dtype)
    padded[:len(frames)] = frames
    return padded


def parse_record(payload, *, dequantize: bool = False, max_frames: int | None = None,
                 fast: bool = True) -> Record:
    """One serialized Example / SequenceExample as a record dict; raises ``ValueError`` saying what is wrong.

    ``fast=False`` forces the generic protobuf parse (the reference the fast parser is tested against).
    """
    try:
        return _parse_payload(memoryview(payload), dequantize, max_frames, fast)
    except _Corrupt as error:
        raise ValueError(str(error)) from None


def _parse_payload(buf: memoryview, as_floats: bool, max_frames: int | None, fast: bool) -> Record:
    if fast:
        try:
            context, lists = _parse_fast(buf)
        except _Irregular:
            context, lists = _parse_generic(buf)
    else:
        context, lists = _parse_generic(buf)
    return _record(context, lists, as_floats, max_frames)


def read_records(paths: str | os.PathLike | Iterable[str | os.PathLike], *, dequantize: bool = False,
                 max_frames: int | None = None, skip_corrupt: bool = False,
                 on_corrupt: Callable[[str], None] | None = None, verify_crc: bool = True,
                 positions: bool = False) -> Iterator[Record]:
    """Yield one record dict per record of the TFRecord files ``paths`` (one path or several), in order.

    Args:
        dequantize: frame features as float32 (the starter code's formula) instead of the stored uint8 bytes.
        max_frames: pad (with zeros) or truncate every feature list to this many frames, like the starter reader,
            and add ``num_frames`` (the frames kept). Without it, records keep their own length.
        skip_corrupt: report each bad record through ``on_corrupt(message)`` (default: a line on stderr) and go
            on; a framing error (truncation, bad length CRC) also skips the rest of its file.
        verify_crc: check both CRCs of every record (on by default; costs a few percent).
        positions: yield ``(path, index, record)`` instead of the record (``index`` counts from 0 in its file).

    Raises:
        CorruptRecordError: (without ``skip_corrupt``) the first bad record, naming file, record index, byte offset
            and what is wrong.

    With ``dequantize`` and frame-level records, a background thread reads and checks the next records while
    :data:`PARSE_WORKERS` threads parse and dequantize the ones before (numpy releases the GIL), so every core is
    used and records still come in order; the byte path and video-level records are cheap enough that more threads
    would only contend for the GIL. The uint8 frames and the
    float lists of a record are views of its read buffer: keep ``.copy()`` of a small part of many records rather
    than the views, or each keeps its whole record alive.
    """
    report = on_corrupt or _print_corrupt
    for path in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        parse = functools.partial(_parse_item, path, dequantize, max_frames)
        if dequantize and _first_record_bytes(path) >= _THREADED_RECORD_BYTES:
            items = parallel_map(parse, scan_tfrecords(path, verify_crc=verify_crc, prefetch=True),
                                 workers=PARSE_WORKERS, window=4 * PARSE_WORKERS)
        else:
            items = (parse(item) for item in scan_tfrecords(path, verify_crc=verify_crc))
        with contextlib.closing(items):  # an error or an early stop ends the threads and closes the file now
            for item in items:
                if isinstance(item, CorruptRecordError):
                    if not skip_corrupt:
                        raise item
                    report(str(item))
                else:
                    index, record = item
                    yield (str(path), index, record) if positions else record


def _first_record_bytes(path) -> int:
    """The length field of the file's first record (0 if there is none): tells frame level from video level."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    return int.from_bytes(head, "little") if len(head) == 8 else 0


def _parse_item(path, as_floats: bool, max_frames: int | None, item: tuple | CorruptRecordError
                ) -> tuple[int, Record] | CorruptRecordError:
    """``(index, record)`` from what :func:`scan_tfrecords` gives, or the error that says what is wrong with it."""
    if isinstance(item, CorruptRecordError):
        return item
    index, offset, payload = item
    try:
        return index, _parse_payload(payload, as_floats, max_frames, True)
    except _Corrupt as error:
        return CorruptRecordError(path, index, offset, str(error))


def _print_corrupt(message: str) -> None:
    print(f"skipped: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------- writing

def _feature(message, key: str, value) -> None:
    """Set ``message`` (a proto Feature) from a record value."""
    if value is None:
        return
    if isinstance(value, str):
        message.bytes_list.value.append(value.encode("utf-8", "surrogateescape"))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        message.bytes_list.value.append(bytes(value))
    elif isinstance(value, list) and all(isinstance(item, (bytes, bytearray, memoryview, str)) for item in value):
        message.bytes_list.SetInParent()
        message.bytes_list.value.extend(item.encode("utf-8", "surrogateescape") if isinstance(item, str)
                                        else bytes(item) for item in value)
    else:
        array = np.asarray(value)
        if array.ndim != 1:
            raise ValueError(f"feature {key!r}: expected a 1-d array, got shape {array.shape}")
        if array.dtype.kind == "f":
            message.float_list.SetInParent()
            message.float_list.value.extend(array.astype(np.float32).tolist())
        elif array.dtype.kind in "iub":
            message.int64_list.SetInParent()
            message.int64_list.value.extend(array.astype(np.int64).tolist())
        else:
            raise ValueError(f"feature {key!r}: cannot store values of type {array.dtype}")


def _frames(feature_list, key: str, frames) -> None:
    """Set a proto FeatureList from a (frames, width) array: uint8 rows as one bytes value each (as quantized)."""
    array = np.asarray(frames)
    if array.ndim != 2:
        raise ValueError(f"feature list {key!r}: expected a (frames, width) array, got shape {array.shape}")
    if array.dtype == np.uint8:
        for row in array:
            feature_list.feature.add().bytes_list.value.append(row.tobytes())
    elif array.dtype.kind == "f":
        for row in array.astype(np.float32):
            feature_list.feature.add().float_list.value.extend(row.tolist())
    elif array.dtype.kind in "iu":
        for row in array.astype(np.int64):
            feature_list.feature.add().int64_list.value.extend(row.tolist())
    else:
        raise ValueError(f"feature list {key!r}: cannot store frames of type {array.dtype}")


def to_message(record: Mapping[str, Any]):
    """A record dict as a proto message: a SequenceExample when it has frame features (2-d arrays), else an Example.

    ``id`` and ``labels`` go to the context; 2-d arrays become feature lists (uint8 frames as one bytes value each,
    written as given: quantize floats yourself with :func:`quantize`); ``num_frames`` (added by ``max_frames``) is
    not stored. Any context keys are written as given (the extractor's ``--video-file-feature-key`` can rename
    ``id``; :func:`read_records` then needs ``id`` or ``video_id`` to read the file back).
    """
    frame_keys = [key for key, value in record.items()
                  if key != "num_frames" and isinstance(value, np.ndarray) and value.ndim == 2]
    message = proto.SequenceExample() if frame_keys else proto.Example()
    context = message.context if frame_keys else message.features
    for key, value in record.items():
        if key == "num_frames" or key in frame_keys:
            continue
        if key == "labels":
            value = np.asarray(value, dtype=np.int64).reshape(-1)
        _feature(context.feature[key], key, value)
    if frame_keys:
        message.feature_lists.SetInParent()
        for key in frame_keys:
            _frames(message.feature_lists.feature_list[key], key, record[key])
    return message


def serialize_record(record: Mapping[str, Any]) -> bytes:
    """The deterministic serialization of :func:`to_message` (sorted map keys): what TensorFlow writes too."""
    return to_message(record).SerializeToString(deterministic=True)


def write_records(path: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> int:
    """Write ``records`` (dicts shaped like :func:`read_records`'s) to a TFRecord file atomically; return the count.

    Video-level records become ``tf.train.Example``, frame-level ones ``tf.train.SequenceExample``, serialized
    deterministically and framed like ``tf.io.TFRecordWriter``, so the file is byte-identical to TensorFlow's for the
    same messages.
    """
    return write_tfrecords(path, (serialize_record(record) for record in records))
