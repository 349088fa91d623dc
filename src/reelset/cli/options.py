"""Click options shared by several commands, defined once, and the command line's vocabulary.

One name for one thing, in every command:

- ``--jobs``: how many items (videos, clips, files, requests) a step works on at the same time. ``--threads``
  (``yt8m train | evaluate | predict``) is another thing: the CPU threads torch gives one computation.
- ``--ids``: an ids file, one id per line (written by ``action100m ids``, read by ``action100m download | build``;
  ``yt8m youtube-ids --ids`` reads YouTube-8M ids).
- ``--out``: what a command writes (a file or a folder, as its help says).
- Defaults and environment variables are shown by click (``[env var: JOBS; default: 4]``): ``show_default=True``,
  or ``show_default="<text>"`` when the default is None but means something; never "(default: ...)" in a help text.

A renamed option keeps its old name as a hidden alias (:func:`old_name`), so scripts written for it still work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from reelset.core.fiftyone_db import DATABASE_URI_ENV
from reelset.scale import SCHEDULER_ENV

# Where reelset keeps its caches unless --cache-dir (REELSET_CACHE_DIR) says otherwise (reelset.core.cache).
CACHE_DIR_DEFAULT = "$XDG_CACHE_HOME/reelset or ~/.cache/reelset"

scheduler_option = click.option(
    "--scheduler", envvar=SCHEDULER_ENV, show_envvar=True, default=None, show_default="this machine",
    metavar="ADDRESS",
    help="Run the heavy work on the Dask cluster at ADDRESS (tcp://host:8786, host:8786, or a scheduler file .json), "
         "whose workers see every path at the same absolute path: docs/scale.md.",
)

database_uri_option = click.option(
    "--database-uri", envvar=DATABASE_URI_ENV, show_envvar=True, default=None,
    show_default="FiftyOne's bundled database on this machine", metavar="URI",
    help="Put the FiftyOne dataset in this MongoDB server (mongodb://host:27017, mongodb+srv://...; FiftyOne's own "
         "FIFTYONE_DATABASE_URI).",
)


def old_name(name: str, dest: str, **kwargs: Any) -> Callable:
    """A hidden option under a name reelset used before (``--workers`` for ``--jobs``), stored in ``dest``.

    Its value is None unless given, and the command prefers it when it is given (:func:`prefer_old`): old scripts
    run as they did, and the help shows only the current name.
    """
    return click.option(name, dest, default=None, hidden=True, **kwargs)


def prefer_old(old_value: Any, value: Any) -> Any:
    """``old_value`` (an :func:`old_name` option's) when it was given, else ``value``."""
    return value if old_value is None else old_value
