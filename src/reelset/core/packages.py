"""Installed Python packages' versions, from their metadata (nothing is imported)."""

from __future__ import annotations

import importlib.metadata


def version(name: str) -> str | None:
    """The installed version of the distribution ``name`` (``"tensorflow-cpu"``), or None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
