"""Click options shared by several commands, defined once."""

from __future__ import annotations

import click

from reelset.core.fiftyone_db import DATABASE_URI_ENV
from reelset.scale import SCHEDULER_ENV

scheduler_option = click.option(
    "--scheduler", envvar=SCHEDULER_ENV, show_envvar=True, default=None, metavar="ADDRESS",
    help="Run the heavy work on a Dask cluster: the scheduler's address (tcp://host:8786, or host:8786), or a "
         "scheduler file written by `dask scheduler --scheduler-file` (a path ending in .json). Every path the "
         "workers use (inputs, cache, model files, and the folders they write into: clips, shard files) must be "
         "visible to every worker under the same absolute path (a shared file system); status files, plans, "
         "records and reports are written by this process (docs/scale.md). Default: local processes and threads "
         "on this machine.",
)

database_uri_option = click.option(
    "--database-uri", envvar=DATABASE_URI_ENV, show_envvar=True, default=None, metavar="URI",
    help="Put the FiftyOne dataset in this MongoDB server (mongodb://host:27017, mongodb+srv://...; FiftyOne's own "
         "FIFTYONE_DATABASE_URI). Default: FiftyOne's bundled database on this machine.",
)
