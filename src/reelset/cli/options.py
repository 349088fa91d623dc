"""Click options shared by several commands, defined once."""

from __future__ import annotations

import click

from reelset.core.fiftyone_db import DATABASE_URI_ENV
from reelset.scale import SCHEDULER_ENV

scheduler_option = click.option(
    "--scheduler", envvar=SCHEDULER_ENV, show_envvar=True, default=None, metavar="ADDRESS",
    help="Run the heavy work on the Dask cluster at ADDRESS (tcp://host:8786, host:8786, or a scheduler file .json); "
         "workers must see every path at the same absolute path (docs/scale.md). Default: this machine.",
)

database_uri_option = click.option(
    "--database-uri", envvar=DATABASE_URI_ENV, show_envvar=True, default=None, metavar="URI",
    help="Put the FiftyOne dataset in this MongoDB server (mongodb://host:27017, mongodb+srv://...; FiftyOne's own "
         "FIFTYONE_DATABASE_URI). Default: FiftyOne's bundled database on this machine.",
)
