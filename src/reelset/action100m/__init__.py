"""Action100M (``facebook/action100m-preview``): the parquet from the hub, the YouTube ids, the clips' FiftyOne dataset
with the Tree-of-Captions as temporal detections, and pictures of the trees.

Each step is one function, the library call behind its command:

- :func:`build_ids` (``reelset action100m ids``): fetch or check the shards, write the valid YouTube ids;
- :func:`reelset.fetch.download_videos` (``download``): the clips;
- :func:`build_dataset` (``fiftyone``): the persistent FiftyOne video dataset;
- :func:`build` (``build``): the three in one go, one executor for the heavy work;
- :func:`serve_app` (``app``) and :func:`show_video` (``show``): the App on the dataset, one video's tree drawn;
- :func:`export_segments` (``export``): every chosen segment cut exactly, with its captions, as training samples;
- :func:`annotation_stats` (``stats``): what the annotations hold, as a JSON summary and charts;
- :func:`build_search_index` (``index``) and :func:`search` (``search``): find moments by what happens in them.

Example::

    from pathlib import Path
    from reelset.action100m import build
    from reelset.fetch import DownloadSettings
    summary = build("action100m-preview", "video_ids.txt", DownloadSettings(out_dir=Path("videos"), max_duration=60))
    summary.dataset.total   # samples in the FiftyOne dataset "action100m"
"""

from reelset.core.lazy import lazy_exports

_EXPORTS = {
    "build": ".pipeline",
    "BuildSummary": ".pipeline",
    "build_ids": ".ids",
    "build_dataset": ".dataset",
    "LabelOptions": ".labels",
    "build_tree": ".tree",
    "fetch_shards": ".hub",
    "serve_app": ".app",
    "show_video": ".timeline",
    "export_segments": ".export",
    "Selection": ".segments",
    "annotation_stats": ".stats",
    "search": ".query",
    "build_search_index": ".search_index",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
