"""Where FiftyOne keeps its datasets: its bundled database (the default), or an external MongoDB server.

FiftyOne reads ``FIFTYONE_DATABASE_URI`` into ``fiftyone.config`` when it is first imported, and uses
``fiftyone.config.database_uri`` when it first connects. :func:`use_database` covers both moments: it sets the
environment variable (for an import still to come, and for child processes) and, when FiftyOne is already
imported but not yet connected, its config. Every command that writes a FiftyOne dataset takes ``--database-uri``
(:data:`reelset.cli.options.database_uri_option`) and calls it before touching FiftyOne.

Importing this module also hides one FiftyOne notice (:func:`hide_old_mongodb_notice`), so that it is hidden before
FiftyOne first connects: the commands that use FiftyOne import it (through their options), and so do the Action100M
dataset builder and the App.
"""

from __future__ import annotations

import logging
import os
import re
import sys

from reelset.core.errors import ReelsetError

DATABASE_URI_ENV = "FIFTYONE_DATABASE_URI"
PING_TIMEOUT_MS = 5000
# Logged by fiftyone.core.odm.database (_is_fcv_upgradeable) at every connection to a MongoDB 6.x server.
OLD_MONGODB_NOTICE = "You are running the oldest supported major version of MongoDB"
_FIFTYONE_DATABASE_LOGGER = "fiftyone.core.odm.database"


class _OldMongoDBNoticeFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(OLD_MONGODB_NOTICE)


def hide_old_mongodb_notice() -> None:
    """Drop FiftyOne's "oldest supported major version of MongoDB" warning, which it logs at every connection to the
    bundled MongoDB 6 and which asks nothing of the user today; ``reelset doctor`` reports it once, with what to do.
    FiftyOne's other database warnings still show. Idempotent; works before or after FiftyOne is imported (the
    filter sits on FiftyOne's logger by name, which FiftyOne's logging setup leaves alone)."""
    logger = logging.getLogger(_FIFTYONE_DATABASE_LOGGER)
    if not any(isinstance(existing, _OldMongoDBNoticeFilter) for existing in logger.filters):
        logger.addFilter(_OldMongoDBNoticeFilter())


hide_old_mongodb_notice()


def redact_uri(uri: str) -> str:
    """``uri`` without its password (``mongodb://user:***@host``), for messages and summaries."""
    return re.sub(r"(?<=://)([^:/@]*):[^@/]*@", r"\1:***@", uri)


def use_database(uri: str | None, *, check: bool = True) -> None:
    """Make FiftyOne use the MongoDB server at ``uri`` in this process (nothing when ``uri`` is empty).

    Args:
        check: connect once first (``PING_TIMEOUT_MS``), so an unreachable server is one clear line now rather
            than a long timeout deep inside FiftyOne later.

    Raises:
        ReelsetError: ``uri`` is not a MongoDB URI, the server does not answer, or FiftyOne is already connected
            to another database in this process.
    """
    if not uri:
        return
    shown = redact_uri(uri)
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise ReelsetError(f"--database-uri {shown}: expected mongodb://host[:port] or mongodb+srv://...")
    if check:
        _ping(uri, shown)
    fiftyone = sys.modules.get("fiftyone")
    if fiftyone is not None:
        from fiftyone.core.odm import database

        current = fiftyone.config.database_uri
        if getattr(database, "_client", None) is not None and current != uri:
            raise ReelsetError(f"FiftyOne is already connected to {redact_uri(current or 'its bundled database')} "
                               f"in this process; set --database-uri {shown} before its first use")
    os.environ[DATABASE_URI_ENV] = uri  # for an import still to come, and for child processes
    if fiftyone is not None:
        fiftyone.config.database_uri = uri  # read again at the first connection


def _ping(uri: str, shown: str) -> None:
    try:
        import pymongo
        import pymongo.errors
    except ImportError:  # FiftyOne brings pymongo; without it there is nothing to check with
        return
    client = None
    try:
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=PING_TIMEOUT_MS, connect=False)
        client.admin.command("ping")
    except pymongo.errors.PyMongoError as error:
        reason = str(error).split(",")[0].split("\n")[0]
        raise ReelsetError(f"--database-uri {shown}: cannot reach MongoDB ({redact_uri(reason)})") from None
    finally:
        if client is not None:
            client.close()
