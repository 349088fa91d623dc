"""File formats that several parts of reelset read or write, below them all (they import only ``reelset.core``).

- :mod:`~reelset.formats.tfrecord`: TFRecord framing (masked crc32c), streaming reader and atomic writer;
- :mod:`~reelset.formats.proto`: TensorFlow's ``Example`` / ``SequenceExample`` messages without TensorFlow;
- :mod:`~reelset.formats.yt8m_records`: YouTube-8M records as numpy dicts (``read_records`` / ``write_records``,
  ``quantize`` / ``dequantize``), which ``reelset.yt8m`` reads and trains on and ``reelset.features`` writes.

``reelset.yt8m.records``, ``reelset.yt8m.tfrecord`` and ``reelset.yt8m.proto`` re-export them under their old names.
"""
