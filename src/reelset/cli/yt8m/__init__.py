"""``reelset yt8m ...``: YouTube-8M commands, one module per area, each registering its commands on :data:`group`."""

from __future__ import annotations

import importlib
import pkgutil

import click


@click.group("yt8m")
def group() -> None:
    """YouTube-8M: download shards like the official download.py, read and write its TFRecords without
    TensorFlow, inspect and export them, map labels through the vocabulary, extract the same features from your own
    videos, train, evaluate and predict."""


def _register() -> None:
    # Each module below defines its commands with @group.command(...): importing it registers them.
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_register()
