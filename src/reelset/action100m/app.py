"""Serving the FiftyOne App on an Action100M dataset (``reelset action100m app``)."""

from __future__ import annotations

from collections.abc import Callable

from reelset.core.errors import ReelsetError


def app_url(address: str, port: int) -> str:
    """The URL a browser opens (0.0.0.0 listens everywhere; locally it is reached at 127.0.0.1)."""
    host = "127.0.0.1" if address in {"0.0.0.0", ""} else address
    return f"http://{host}:{port}/"


def serve_app(name: str, *, address: str = "127.0.0.1", port: int = 5151,
              on_ready: Callable[[str], None] = print, wait: bool = True):
    """Start the App on dataset ``name`` (remote mode: no browser is opened) and block until interrupted.

    Returns the FiftyOne session when ``wait`` is False (for callers that drive it, e.g. the screenshot script).
    """
    import fiftyone as fo

    if not fo.dataset_exists(name):
        known = ", ".join(sorted(fo.list_datasets())) or "none"
        raise ReelsetError(f"FiftyOne dataset {name!r} not found (datasets: {known}); run `reelset action100m fiftyone`")
    session = fo.launch_app(fo.load_dataset(name), address=address, port=port, remote=True, auto=False)
    on_ready(f"app: {app_url(address, port)} (dataset {name}); Ctrl-C stops it")
    if not wait:
        return session
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        pass
    return None
