"""Where reelset keeps what it can fetch again (vocabularies, id mappings, model files, feature caches)."""

from __future__ import annotations

import os
from pathlib import Path

from reelset.core.atomic import check_output


def default_cache_dir() -> Path:
    """reelset's cache folder: ``$REELSET_CACHE_DIR``, else ``$XDG_CACHE_HOME/reelset``, else ``~/.cache/reelset``."""
    if os.environ.get("REELSET_CACHE_DIR"):
        return Path(os.environ["REELSET_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "reelset"
    return Path.home() / ".cache" / "reelset"


def writable_cache_dir(cache_dir: Path | None = None) -> Path:
    """``cache_dir`` (default :func:`default_cache_dir`), after checking, touching nothing, that the cache can be
    written there (:func:`reelset.core.atomic.check_output`): a run checks it before it starts.

    Raises:
        ReelsetError: the folder is a file, is under a file, or cannot be written.
    """
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    check_output(folder, folder=True)
    return folder
