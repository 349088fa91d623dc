"""YouTube-8M: the official downloader's behaviour, vocabulary, metrics, training, on records read without TensorFlow.

The public record API is :func:`read_records` and :func:`write_records` (see :mod:`reelset.formats.yt8m_records`,
also importable as ``reelset.yt8m.records``); :func:`download_partition` is ``reelset yt8m download``,
:func:`export_records` ``yt8m export``, :func:`inspect_records` ``yt8m inspect``, :func:`train` / :func:`evaluate_model`
/ :func:`load_model` ``yt8m train | evaluate | predict``; :func:`evaluate_segments`, :func:`rank_segments` and
:func:`fine_tune_segments` the segment task (``--segments``); :mod:`reelset.yt8m.metrics` has GAP@20, mAP, Hit@1 and
PERR.
"""

from reelset.core.lazy import lazy_exports

_EXPORTS = {
    "CorruptRecordError": "reelset.formats.tfrecord",
    "dequantize": "reelset.formats.yt8m_records",
    "quantize": "reelset.formats.yt8m_records",
    "read_records": "reelset.formats.yt8m_records",
    "write_records": "reelset.formats.yt8m_records",
    "download_partition": ".download",
    "export_records": ".export",
    "inspect_records": ".inspect",
    "train": ".training.loop",
    "evaluate_model": ".training.evaluation",
    "load_model": ".model",
    "evaluate_segments": ".segments",
    "rank_segments": ".segments",
    "fine_tune_segments": ".training.segment_tuning",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
