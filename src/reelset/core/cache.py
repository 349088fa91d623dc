"""Where reelset keeps what it can fetch again (vocabularies, id mappings, model files, feature caches)."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """reelset's cache folder: ``$REELSET_CACHE_DIR``, else ``$XDG_CACHE_HOME/reelset``, else ``~/.cache/reelset``."""
    if os.environ.get("REELSET_CACHE_DIR"):
        return Path(os.environ["REELSET_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "reelset"
    return Path.home() / ".cache" / "reelset"
