"""Action100M's defaults, in a module that imports nothing heavy: the command line's option definitions use them, so
``reelset --help`` needs neither ``huggingface_hub`` nor ``pyarrow`` (:mod:`.hub` and :mod:`.ids` import them from
here)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_REPO = "facebook/action100m-preview"
DEFAULT_DATA_DIR = Path("action100m-preview")
DEFAULT_IDS_FILE = Path("video_ids.txt")

# `action100m export`
EXPORT_FORMATS = ("webdataset", "files", "hf")
DEFAULT_EXPORT_DIR = Path("segments")
DEFAULT_SHARD_SIZE = 1000
CAPTION_FAMILIES = ("gpt", "plm", "llama3", "transcript")
TIERS = ("root", "mid", "leaf")

# `action100m index` / `search`
SEARCH_FAMILIES = ("gpt", "plm", "llama3", "transcript", "title")
DEFAULT_SEARCH_FIELDS = ("gpt", "transcript", "title")
SEARCH_INDEX_DIR = "search-index"  # the index's folder inside the data folder, unless --index says otherwise
SEARCH_MODES = ("hybrid", "fulltext", "dense")
DEFAULT_TOP_K = 10
DEFAULT_PER_VIDEO = 2
