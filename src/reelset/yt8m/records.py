"""YouTube-8M records as numpy: moved to :mod:`reelset.formats.yt8m_records` (below both ``reelset.yt8m``, which
reads them, and ``reelset.features``, which writes them); its public API is re-exported here under the old name.
"""

from reelset.formats.yt8m_records import (DEFAULT_WIDTHS, DEQUANTIZE_TABLE, FRAME_FEATURES, PARSE_WORKERS,
                                          QUANTIZE_MAX, QUANTIZE_MIN, Record, dequantize, parse_record, quantize,
                                          read_records, serialize_record, to_message, write_records)

__all__ = ["DEFAULT_WIDTHS", "DEQUANTIZE_TABLE", "FRAME_FEATURES", "PARSE_WORKERS", "QUANTIZE_MAX", "QUANTIZE_MIN",
           "Record", "dequantize", "parse_record", "quantize", "read_records", "serialize_record", "to_message",
           "write_records"]
