"""reelset: build video datasets and study what is in videos.

The package reads like the pipeline: ``action100m`` and ``yt8m`` are the sources, ``fetch`` downloads and normalises
videos, ``features`` turns your own videos into YouTube-8M features, ``taste`` reports what they show, ``scale`` runs
the heavy steps here or on a Dask cluster, ``core`` holds the one shared helper for each job (atomic writes, ffmpeg,
status, progress, HTTP), ``cli`` is the thin command line over all of it, and ``sandbox`` holds the offline
sandbox: the local servers and sample generators used by the demo (and reused by the tests, whose test-only helpers
live outside the package, in ``tests/support``).

The main entry points, importable from here (each the library call behind a command)::

    import reelset
    reelset.build_action100m(...)     # reelset action100m build: ids -> clips -> FiftyOne dataset
    reelset.download_videos(...)      # reelset action100m download
    reelset.download_yt8m(...)        # reelset yt8m download
    reelset.read_records(...)         # YouTube-8M TFRecords without TensorFlow
    reelset.extract(...)              # reelset yt8m extract: your videos as YouTube-8M records
    reelset.run_taste(...)            # reelset taste
    reelset.executor_for(...)         # where the heavy work runs: threads here, or a Dask cluster
"""

from reelset.core.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "build_action100m": ".action100m:build",
    "download_videos": ".fetch",
    "download_yt8m": ".yt8m:download_partition",
    "read_records": ".yt8m",
    "write_records": ".yt8m",
    "extract": ".features",
    "run_taste": ".taste",
    "executor_for": ".scale",
}
__all__ = ["__version__", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
