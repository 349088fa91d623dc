"""Serving the FiftyOne App on an Action100M dataset (``reelset action100m app``).

What :func:`serve_app` adds to ``fiftyone.launch_app``:

- the URL is the first line, before FiftyOne says anything; FiftyOne's launch messages (the ssh port-forwarding
  instructions of a remote session, the welcome banner) and its session's ``print`` calls ("Could not connect
  session, trying again in 10 seconds" while its server starts, the "call session.wait()" advice) are not shown
  (they go to FiftyOne's loggers at debug level);
- a port already in use is one clear error, not a minute of waiting (FiftyOne would connect to whatever FiftyOne
  server holds the port, or time out);
- the App opens with one label field shown on the clips, the brief action (:data:`BRIEF_ACTION_FIELD`); the other
  label fields are unticked in the sidebar, one click away;
- stopping it (Ctrl-C, or the returned session's ``close()``) stops FiftyOne's server process too.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from reelset.core.errors import ReelsetError, one_line
from reelset.core.fiftyone_db import hide_old_mongodb_notice

if TYPE_CHECKING:
    import fiftyone as fo

BRIEF_ACTION_FIELD = "gpt_action_brief"  # the brief action of each node of the Tree-of-Captions (action100m.tree)
_SESSION_MODULES = ("fiftyone.core.session.session", "fiftyone.core.session.client")


def app_url(address: str, port: int) -> str:
    """The URL a browser opens (0.0.0.0 listens everywhere; locally it is reached at 127.0.0.1)."""
    host = "127.0.0.1" if address in {"0.0.0.0", ""} else address
    return f"http://{host}:{port}/"


def serve_app(name: str, *, address: str = "127.0.0.1", port: int = 5151,
              on_ready: Callable[[str], None] = print, wait: bool = True,
              view: Callable[[fo.Dataset], tuple[fo.DatasetView, str]] | None = None) -> fo.Session | None:
    """Start the App on dataset ``name`` (remote mode: no browser is opened) and, with ``wait``, serve it until
    Ctrl-C.

    ``view``, when given, makes what the App shows from the dataset: a view and the words that describe it on the
    URL line (``action100m search --open``: the hits as clips); it may raise a ReelsetError.

    ``on_ready`` gets the URL line first, as soon as the dataset and the port are checked (the server takes seconds
    to start); with ``wait``, then ``app: serving ...`` once the server answers and ``app: stopped`` at the end.

    Returns:
        The FiftyOne session when ``wait`` is False (for callers that drive it, e.g. the screenshot script): its
        ``close()`` stops the server process. None once a waiting App is stopped.

    Raises:
        ReelsetError: no dataset ``name``, or ``address:port`` cannot be listened on (in use, not this machine's).
    """
    import fiftyone as fo

    hide_old_mongodb_notice()
    if not fo.dataset_exists(name):
        known = ", ".join(sorted(fo.list_datasets())) or "none"
        raise ReelsetError(f"FiftyOne dataset {name!r} not found (datasets: {known}); "
                           "run `reelset action100m fiftyone`")
    _check_port_free(address, port)
    dataset = fo.load_dataset(name)
    show_brief_action_first(dataset)
    shown, what = view(dataset) if view is not None else (dataset, f"dataset {name}")
    on_ready(f"app: {app_url(address, port)} ({what}); Ctrl-C stops it")
    if not wait:
        return _launch(shown, address, port)
    started = time.monotonic()
    try:
        session = _launch(shown, address, port)
        try:
            on_ready(f"app: serving (started in {time.monotonic() - started:.0f} s)")
            session.wait(-1)
        finally:
            session.close()  # stops the server process (FiftyOne's service wrapper and the server under it)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how the App is stopped: the session is closed above
    on_ready("app: stopped")
    return None


def show_brief_action_first(dataset: fo.Dataset) -> bool:
    """Make the App open with only :data:`BRIEF_ACTION_FIELD` ticked among the label fields (shown on the clips),
    the others unticked in the sidebar.

    FiftyOne's API for this is the dataset's App config: ``dataset.app_config.active_fields``, the dataset default
    of the sidebar's checkboxes (None: every label field is ticked). It is stored with the dataset, so
    ``fiftyone app launch`` opens the same way; a choice already stored there is left as it is.

    Returns:
        Whether the config was changed (not when it was set already, or the dataset has no such field).
    """
    import fiftyone as fo

    if dataset.app_config.active_fields is not None or not dataset.has_sample_field(BRIEF_ACTION_FIELD):
        return False
    dataset.app_config.active_fields = fo.ActiveFields(paths=[BRIEF_ACTION_FIELD])
    dataset.save()
    return True


def _check_port_free(address: str, port: int) -> None:
    """Refuse a port something already listens on before FiftyOne starts: it would attach to a FiftyOne server
    there (which closing this App would not stop) or wait a minute for a port it cannot bind."""
    try:
        family, kind, protocol, _, where = socket.getaddrinfo(address or None, port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is fine
            probe.bind(where)
    except OSError as exc:
        raise ReelsetError(f"{address}:{port}: cannot serve the App there ({one_line(exc, strerror=True)}); "
                           "is another App running? stop it, or choose another --port") from None


def _launch(dataset: fo.Dataset | fo.DatasetView, address: str, port: int) -> fo.Session:
    import fiftyone as fo

    _send_session_prints_to_log()
    with _quiet(_SESSION_MODULES[0]):
        return fo.launch_app(dataset, address=address, port=port, remote=True, auto=False)


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Only warnings and errors from ``logger_name`` meanwhile (launch_app logs its instructions at INFO)."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _send_session_prints_to_log() -> None:
    """FiftyOne's session modules ``print`` two messages instead of logging them, one of them from a background
    thread at any time of the session's life, so no launch-time setting can hide it: a module-level ``print`` in
    those two modules (found before the builtin) sends them to their logger at debug level. Idempotent."""
    import importlib

    for module_name in _SESSION_MODULES:
        module = importlib.import_module(module_name)
        logger = logging.getLogger(module_name)

        def to_log(*values, _logger=logger, **_) -> None:
            _logger.debug(" ".join(str(value) for value in values).strip())

        module.print = to_log
