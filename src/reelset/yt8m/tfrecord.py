"""TFRecord framing: moved to :mod:`reelset.formats.tfrecord`, re-exported here under the old name."""

from reelset.formats.tfrecord import (BATCH_BYTES, FOOTER_BYTES, HEADER_BYTES, CorruptRecordError, Record,
                                      frame_record, iter_tfrecords, masked_crc, scan_tfrecords, write_tfrecords)

__all__ = ["BATCH_BYTES", "FOOTER_BYTES", "HEADER_BYTES", "CorruptRecordError", "Record", "frame_record",
           "iter_tfrecords", "masked_crc", "scan_tfrecords", "write_tfrecords"]
