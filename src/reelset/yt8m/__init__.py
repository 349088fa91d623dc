"""YouTube-8M: the official downloader's behaviour, a TFRecord codec without TensorFlow, vocabulary, metrics.

The public record API is :func:`read_records` and :func:`write_records` (see :mod:`reelset.yt8m.records`).
"""

from reelset.yt8m.records import dequantize, quantize, read_records, write_records
from reelset.yt8m.tfrecord import CorruptRecordError

__all__ = ["CorruptRecordError", "dequantize", "quantize", "read_records", "write_records"]
