"""TFRecord framing: a streaming reader with CRC checks and an atomic writer, byte-compatible with TensorFlow.

A TFRecord file is a sequence of records, each framed as::

    uint64 length (little endian) | uint32 masked crc32c(length bytes) | data | uint32 masked crc32c(data)

with ``mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8`` (mod 2**32), exactly TensorFlow's ``RecordWriter``.

Reading streams the file: each record is read with one ``readinto`` into a buffer of its own (one copy, from the
page cache; the same read also takes the next record's header) and handed out as a ``memoryview`` of that buffer,
so nothing is copied again and memory stays flat whatever the file size. Anything a caller keeps that views a record
(``numpy.frombuffer`` of it, say) keeps that record's buffer alive, and only that one.

With ``prefetch`` a background thread reads and checks the CRCs of the next records while the caller works on this
one (a few batches of about 1 MB ahead at most, :func:`reelset.core.threads.prefetched`); ``readinto`` and ``crc32c``
release the GIL, so reading overlaps work that releases it too (numpy's), on another core. It is off by default:
for a caller that holds the GIL most of the time, the two threads only contend for it.

Every failure is a :class:`CorruptRecordError` naming the file, the record index and its byte offset. Framing errors
(a truncated file, a bad length CRC) end the file, since the next record cannot be found; a bad data CRC only
spoils its record.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path

import numpy as np
from crc32c import crc32c

from reelset.core.atomic import atomic_output
from reelset.core.errors import ReelsetError
from reelset.core.threads import prefetched

HEADER_BYTES = 12  # uint64 length + uint32 masked crc of it
FOOTER_BYTES = 4  # uint32 masked crc of the data
BATCH_BYTES = 1 << 20
_BUFFER_BYTES = 1 << 16  # small records come from this buffer; large ones are read straight into their own
_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")


class CorruptRecordError(ReelsetError):
    """A record that cannot be read: ``path``, ``index`` (0-based), ``offset`` (of its header) and ``problem``.

    ``fatal`` is true for framing errors, after which nothing more of the file can be read.
    """

    def __init__(self, path: str | os.PathLike, index: int, offset: int, problem: str, *, fatal: bool = False):
        self.path, self.index, self.offset, self.problem, self.fatal = str(path), index, offset, problem, fatal
        super().__init__(f"{self.path}: record {index} at byte {offset}: {problem}")


def masked_crc(data) -> int:
    """TensorFlow's masked crc32c of ``data`` (any bytes-like object)."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(payload) -> bytes:
    """One framed record (header, payload, footer), as ``tf.io.TFRecordWriter`` writes it."""
    length = _LENGTH.pack(len(payload))
    return b"".join((length, _CRC.pack(masked_crc(length)), payload, _CRC.pack(masked_crc(payload))))


def write_tfrecords(path: str | os.PathLike, payloads: Iterable[bytes]) -> int:
    """Write ``payloads`` as a TFRecord file, atomically; return the number of records."""
    count = 0
    with atomic_output(Path(path)) as tmp, open(tmp, "wb") as handle:
        for payload in payloads:
            handle.write(frame_record(payload))
            count += 1
    return count


Record = tuple[int, int, memoryview]  # (index, byte offset of the header, payload)


def iter_tfrecords(path: str | os.PathLike, *, verify_crc: bool = True, prefetch: bool = False,
                   on_corrupt: Callable[[CorruptRecordError], None] | None = None) -> Iterator[Record]:
    """Yield ``(index, offset, payload)`` for each record of the TFRecord file at ``path``.

    ``payload`` is a read-write ``memoryview`` of the record's data (see the module docstring for its lifetime).
    ``verify_crc`` checks both CRCs of every record. Without ``on_corrupt`` the first bad record raises
    :class:`CorruptRecordError`; with it, each error is passed to ``on_corrupt`` and reading goes on with the next
    record (a bad data CRC) or stops for this file (a framing error).
    """
    items = scan_tfrecords(path, verify_crc=verify_crc, prefetch=prefetch)
    with contextlib.closing(items):  # an error or an early stop closes the file (and stops the thread) now
        for item in items:
            if isinstance(item, CorruptRecordError):
                if on_corrupt is None:
                    raise item
                on_corrupt(item)
            else:
                yield item


def scan_tfrecords(path: str | os.PathLike, *, verify_crc: bool = True,
                   prefetch: bool = False) -> Generator[Record | CorruptRecordError, None, None]:
    """Like :func:`iter_tfrecords`, with each bad record's :class:`CorruptRecordError` yielded in its place.

    After a ``fatal`` error nothing more comes from the file.
    """
    frames = _iter_frames(path, verify_crc)
    return prefetched(frames, weigh=_payload_bytes, name="tfrecord-reader") if prefetch else frames


def _payload_bytes(item: Record | CorruptRecordError) -> int:
    return len(item[2]) if isinstance(item, tuple) else BATCH_BYTES  # an error goes out at once


def _iter_frames(path, verify_crc: bool) -> Iterator[Record | CorruptRecordError]:
    """The framing loop: records, and errors as values (so that a reading thread can pass them on).

    Each record is read with one ``readinto`` into a buffer of its own that also takes the next record's header.
    """
    with open(path, "rb", buffering=_BUFFER_BYTES) as handle:
        known_size = os.fstat(handle.fileno()).st_size
        header: memoryview | bytes = handle.read(HEADER_BYTES)
        index = offset = 0
        while header:
            if len(header) < HEADER_BYTES:
                yield CorruptRecordError(path, index, offset, f"truncated: the file ends {len(header)} bytes into "
                                         f"the {HEADER_BYTES}-byte record header", fatal=True)
                return
            length, length_crc = _HEADER.unpack_from(header)
            if verify_crc and (computed := masked_crc(header[:8])) != length_crc:
                yield CorruptRecordError(path, index, offset, f"bad length CRC (the length field says {length} bytes;"
                                         f" stored 0x{length_crc:08x}, computed 0x{computed:08x})", fatal=True)
                return
            end = offset + HEADER_BYTES + length + FOOTER_BYTES
            if end > known_size:
                known_size = os.fstat(handle.fileno()).st_size
            # A length the file cannot hold is refused before anything is allocated for it.
            buffer = memoryview(np.empty(length + FOOTER_BYTES + HEADER_BYTES, np.uint8)) if end <= known_size else None
            got = _read_into(handle, buffer) if buffer is not None else known_size - offset - HEADER_BYTES
            if got < length + FOOTER_BYTES:
                yield CorruptRecordError(path, index, offset, f"truncated: the record needs {end - offset} bytes "
                                         f"(data length {length}), the file ends after {HEADER_BYTES + got}",
                                         fatal=True)
                return
            payload = buffer[:length]
            header = buffer[length + FOOTER_BYTES:got]
            if verify_crc:
                (data_crc,) = _CRC.unpack_from(buffer, length)
                if (computed := masked_crc(payload)) != data_crc:
                    yield CorruptRecordError(path, index, offset, f"bad data CRC ({length} bytes of data; stored "
                                             f"0x{data_crc:08x}, computed 0x{computed:08x})")
                    index, offset = index + 1, end
                    continue
            yield index, offset, payload
            index, offset = index + 1, end


def _read_into(handle, buffer: memoryview) -> int:
    """Fill ``buffer`` from ``handle``; return the count of bytes read (short only at the end of the file)."""
    filled = 0
    while filled < len(buffer):
        count = handle.readinto(buffer[filled:])
        if not count:
            break
        filled += count
    return filled
