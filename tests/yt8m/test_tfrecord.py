"""TFRecord framing: the layout and masked CRCs of the spec, streaming reads, and every framing error."""

from __future__ import annotations

import os
import struct
import threading

import pytest

from reelset.core.errors import ReelsetError
from reelset.yt8m.tfrecord import (CorruptRecordError, frame_record, iter_tfrecords, masked_crc, scan_tfrecords,
                                   write_tfrecords)


def crc32c_bitwise(data: bytes) -> int:
    """CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit: independent of the crc32c package."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def spec_mask(crc: int) -> int:
    """The spec's mask: ((c >> 15) | (c << 17)) + 0xa282ead8, mod 2**32."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) % 2**32


PAYLOADS = [b"", b"a", b"hello tfrecord", bytes(range(256)) * 300, os.urandom(200_000), b"\x00" * 7]


def offsets_of(payloads) -> list[int]:
    offsets, position = [], 0
    for payload in payloads:
        offsets.append(position)
        position += 12 + len(payload) + 4
    return offsets


def test_masked_crc_follows_the_spec():
    assert crc32c_bitwise(b"123456789") == 0xE3069283  # the standard CRC-32C check value
    for data in (b"", b"123456789", b"\x01\x02\x03", os.urandom(100)):
        assert masked_crc(data) == spec_mask(crc32c_bitwise(data))


def test_frame_record_layout():
    payload = b"some payload"
    framed = frame_record(payload)
    length, length_crc = struct.unpack_from("<QI", framed)
    assert length == len(payload)
    assert length_crc == spec_mask(crc32c_bitwise(framed[:8]))
    assert framed[12:12 + length] == payload
    assert struct.unpack_from("<I", framed, 12 + length)[0] == spec_mask(crc32c_bitwise(payload))
    assert len(framed) == 12 + len(payload) + 4


@pytest.mark.parametrize("prefetch", [False, True])
def test_round_trip_with_indexes_and_offsets(tmp_path, prefetch):
    path = tmp_path / "a.tfrecord"
    assert write_tfrecords(path, PAYLOADS) == len(PAYLOADS)
    assert path.read_bytes() == b"".join(frame_record(payload) for payload in PAYLOADS)
    records = list(iter_tfrecords(path, prefetch=prefetch))
    assert [index for index, _, _ in records] == list(range(len(PAYLOADS)))
    assert [offset for _, offset, _ in records] == offsets_of(PAYLOADS)
    # Every payload stays valid after the reader moved on: buffers are never reused under a caller's view.
    assert [bytes(payload) for _, _, payload in records] == PAYLOADS


def test_empty_file_has_no_records(tmp_path):
    path = tmp_path / "empty.tfrecord"
    path.write_bytes(b"")
    assert list(iter_tfrecords(path)) == []


def test_writer_is_atomic(tmp_path):
    path = tmp_path / "out.tfrecord"

    def payloads():
        yield b"first"
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError):
        write_tfrecords(path, payloads())
    assert list(tmp_path.iterdir()) == []


def write(tmp_path, payloads=(b"zero", b"one" * 10, b"two" * 20)) -> tuple:
    path = tmp_path / "bad.tfrecord"
    write_tfrecords(path, payloads)
    return path, bytearray(path.read_bytes()), offsets_of(payloads)


def read_error(path, **options) -> CorruptRecordError:
    with pytest.raises(CorruptRecordError) as caught:
        list(iter_tfrecords(path, **options))
    error = caught.value
    assert isinstance(error, ReelsetError)
    assert "\n" not in str(error)
    return error


def test_truncated_inside_a_header(tmp_path):
    path, data, offsets = write(tmp_path)
    path.write_bytes(data + b"\x05\x00\x00")  # three bytes of a fourth header
    error = read_error(path)
    end = offsets[-1] + 12 + 60 + 4
    assert str(error) == (f"{path}: record 3 at byte {end}: truncated: the file ends 3 bytes into the 12-byte "
                          f"record header")
    assert (error.index, error.offset, error.fatal) == (3, end, True)


def test_truncated_inside_the_data(tmp_path):
    path, data, offsets = write(tmp_path)
    path.write_bytes(data[:offsets[2] + 12 + 30])
    error = read_error(path)
    assert str(error) == (f"{path}: record 2 at byte {offsets[2]}: truncated: the record needs 76 bytes "
                          f"(data length 60), the file ends after 42")


def test_bad_length_crc(tmp_path):
    path, data, offsets = write(tmp_path)
    data[offsets[1]] ^= 0x01  # the length field of record 1
    path.write_bytes(data)
    error = read_error(path)
    assert str(error).startswith(f"{path}: record 1 at byte {offsets[1]}: bad length CRC (the length field says "
                                 f"31 bytes; stored 0x")
    assert error.fatal


def test_absurd_length_without_crc_check_is_truncation_not_an_allocation(tmp_path):
    path, data, offsets = write(tmp_path)
    data[offsets[1] + 7] = 0x7F  # length ~ 2**63
    path.write_bytes(data)
    error = read_error(path, verify_crc=False)
    assert f"record 1 at byte {offsets[1]}: truncated: the record needs" in str(error)


def test_bad_data_crc_spoils_only_its_record(tmp_path):
    path, data, offsets = write(tmp_path)
    data[offsets[1] + 12 + 5] ^= 0x40
    path.write_bytes(data)
    error = read_error(path)
    assert str(error).startswith(f"{path}: record 1 at byte {offsets[1]}: bad data CRC (30 bytes of data; stored 0x")
    assert not error.fatal
    reported = []
    records = list(iter_tfrecords(path, on_corrupt=reported.append))
    assert [(index, bytes(payload)) for index, _, payload in records] == [(0, b"zero"), (2, b"two" * 20)]
    assert [error.index for error in reported] == [1]
    # Without CRC checks the damage goes through unnoticed, as it would with TensorFlow's option off.
    assert len(list(iter_tfrecords(path, verify_crc=False))) == 3


def test_a_framing_error_ends_the_file_for_on_corrupt(tmp_path):
    path, data, offsets = write(tmp_path)
    data[offsets[1] + 2] ^= 0x01
    path.write_bytes(data)
    reported = []
    assert [index for index, _, _ in iter_tfrecords(path, on_corrupt=reported.append)] == [0]
    assert [(error.index, error.fatal) for error in reported] == [(1, True)]


def test_scan_yields_errors_in_place(tmp_path):
    path, data, offsets = write(tmp_path)
    data[offsets[0] + 12] ^= 0x01
    path.write_bytes(data)
    items = list(scan_tfrecords(path, prefetch=True))
    assert isinstance(items[0], CorruptRecordError) and items[0].index == 0
    assert [item[0] for item in items[1:]] == [1, 2]


def test_closing_early_stops_the_prefetch_thread(tmp_path):
    path = tmp_path / "many.tfrecord"
    write_tfrecords(path, (os.urandom(300_000) for _ in range(40)))
    before = threading.active_count()
    records = iter_tfrecords(path, prefetch=True)
    next(records)
    assert threading.active_count() == before + 1
    records.close()
    assert threading.active_count() == before
