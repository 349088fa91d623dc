"""Running a step's heavy work on a Dask cluster, with the calling process as the single writer.

One machine is the default (threads and processes on this machine); ``--scheduler ADDRESS`` (or
``$REELSET_SCHEDULER``) sends the work to the workers of a running Dask scheduler instead. The pattern is the same
for every step:

- a task is a *pure function of picklable arguments* defined at module level (so workers import it by name), that
  reads its inputs from paths and returns plain data (numpy arrays, strings); expected failures (a bad video) are
  returned as values, not raised, so they are not retried;
- the caller submits the tasks through :func:`map_ordered` (results in input order, a bounded number in flight) or
  :func:`map_unordered` (results as they finish) and alone writes every output and status file: tasks finishing out
  of order or twice (a rerun) cannot corrupt or duplicate anything;
- a worker that dies mid-task has its tasks rerun on another worker by the scheduler (up to Dask's
  ``distributed.scheduler.allowed-failures``, 3 by default, after which the task fails with ``KilledWorker``);
  ``retries`` reruns a task whose function raised.

What the workers need: the same Python environment (reelset and its dependencies; ``pip install 'reelset[dask]'``
on every machine), and every path a task gets (inputs, the feature cache, the model folder) visible under the same
absolute path, e.g. one shared file system mounted at the same place. The caller makes paths absolute before
submitting; the output files are written by the caller only.

Dask is imported only here and only when a scheduler is given: reelset works without it.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reelset.core.errors import ReelsetError

if TYPE_CHECKING:
    import distributed

T = TypeVar("T")
U = TypeVar("U")

SCHEDULER_ENV = "REELSET_SCHEDULER"
INSTALL_HINT = "pip install 'reelset[dask]' (or: pip install 'dask[distributed]')"
CONNECT_TIMEOUT = 10.0
DEFAULT_RETRIES = 1

scheduler_option = click.option(
    "--scheduler", envvar=SCHEDULER_ENV, show_envvar=True, default=None, metavar="ADDRESS",
    help="Run the heavy work on a Dask cluster: the scheduler's address (tcp://host:8786, or host:8786), or a "
         "scheduler file written by `dask scheduler --scheduler-file` (a path ending in .json). Every path the "
         "workers use (inputs, cache, model files, and the folders they write into: clips, shard files) must be "
         "visible to every worker under the same absolute path (a shared file system); status files, plans, "
         "records and reports are written by this process (docs/scale.md). Default: local processes and threads "
         "on this machine.",
)


def import_distributed():
    """``distributed``, or a one-line ReelsetError naming the extra to install."""
    try:
        import distributed
    except ImportError as error:
        raise ReelsetError(f"--scheduler needs Dask, which is not installed ({error.name}): {INSTALL_HINT}") from None
    return distributed


def _probe(address: str, timeout: float) -> None:
    """Fail fast, with one line, when a tcp/tls scheduler address does not answer (a Client that fails to connect
    leaves a half-made object that blocks for seconds when collected)."""
    match = re.fullmatch(r"(?:(tcp|tls)://)?\[?([^\[\]/]+?)\]?:(\d+)/?", address)
    if not match:
        if "://" not in address:
            raise ReelsetError(f"--scheduler {address!r}: expected tcp://host:port, host:port or a scheduler file "
                               "(.json)")
        return  # other transports (inproc, ucx, ws): the Client's own timeout applies
    host, port = match.group(2), int(match.group(3))
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ReelsetError(f"--scheduler {address}: cannot reach the Dask scheduler ({reason}); is it running, and "
                           "is this address reachable from here?") from None


def connect(address: str, *, timeout: float = CONNECT_TIMEOUT) -> distributed.Client:
    """A Dask client connected to the scheduler at ``address`` (see :data:`scheduler_option` for the forms).

    The client is not made the default one (nothing else in the process starts using Dask by accident); close it
    when done (it is a context manager).

    Raises:
        ReelsetError: Dask is not installed (the extra named), the scheduler file is missing, or the scheduler
            cannot be reached within ``timeout`` seconds.
    """
    distributed = import_distributed()
    address = str(address).strip()
    kwargs: dict[str, Any] = {"timeout": timeout, "set_as_default": False}
    if address.endswith(".json") and "://" not in address:
        if not Path(address).is_file():
            raise ReelsetError(f"--scheduler {address}: no such scheduler file")
        kwargs["scheduler_file"] = address
    else:
        _probe(address, timeout)
        kwargs["address"] = address
    try:
        return distributed.Client(**kwargs)
    except (OSError, TimeoutError, ValueError) as error:
        raise ReelsetError(f"--scheduler {address}: cannot connect to the Dask scheduler: {error}") from None


@contextlib.contextmanager
def client_for(scheduler: Any) -> Iterator[distributed.Client | None]:
    """The client of ``scheduler``: None for None (run locally); for an address, connected here and closed at the
    end; a ``distributed.Client`` given is used as it is and left open."""
    if not isinstance(scheduler, str):
        yield scheduler
        return
    with connect(scheduler) as client:
        yield client


def worker_threads(client: distributed.Client) -> int:
    """How many tasks the cluster runs at once now (at least 1: an adaptive cluster may have no worker yet)."""
    return max(1, sum(client.nthreads().values()))


def _window(client: distributed.Client, window: int | None) -> Callable[[], int]:
    """The number of tasks to keep in flight: ``window``, or four per worker thread of the cluster as it is now
    (looked up at most once a second: workers of a batch or Kubernetes cluster join while the run goes on)."""
    if window:
        return lambda: window
    checked = {"at": -1.0, "size": 4}

    def size() -> int:
        now = time.monotonic()
        if now - checked["at"] >= 1.0:
            checked["at"], checked["size"] = now, 4 * worker_threads(client)
        return checked["size"]

    return size


def _submitter(client: distributed.Client, function: Callable, retries: int) -> Callable[[int, Any], Any]:
    # Explicit unique keys: the same item twice must run twice (Dask would merge equal "pure" keys), and hashing
    # the arguments for a key costs time for nothing.
    name = getattr(function, "__name__", "task")
    run = uuid.uuid4().hex[:12]

    def submit(index: int, item: Any):
        return client.submit(function, item, key=f"reelset-{name}-{run}-{index}", retries=retries, pure=False)

    return submit


def _outcome(future, item: T, on_error: Callable[[T, BaseException], U] | None) -> U:
    try:
        return future.result()
    except Exception as error:  # the task's exception, or KilledWorker when it killed too many workers
        if on_error is None:
            raise
        return on_error(item, error)


def map_ordered(client: distributed.Client, function: Callable[[T], U], items: Iterable[T], *,
                window: int | None = None, retries: int = DEFAULT_RETRIES,
                on_error: Callable[[T, BaseException], U] | None = None) -> Iterator[U]:
    """``map(function, items)`` on the cluster, results yielded here in input order, at most ``window`` tasks in
    flight (default: four per worker thread, following the workers as they join or leave), so memory stays flat and
    the caller writes in a fixed order.

    Args:
        function: a module-level function of one picklable argument (see the module docstring).
        retries: times a task whose function raised is run again (a worker's death is handled by the scheduler).
        on_error: ``(item, exception) -> result`` yielded in place of a task that failed for good (its function
            raised after the retries, or it killed ``allowed-failures`` workers); default: the exception is raised
            here at the item's turn.

    Closing the generator early cancels the tasks still in flight.
    """
    limit = _window(client, window)
    submit = _submitter(client, function, retries)
    pending: collections.deque = collections.deque()
    numbered = enumerate(items)
    try:
        for index, item in numbered:
            pending.append((submit(index, item), item))
            while len(pending) >= limit():
                future, head = pending.popleft()
                yield _outcome(future, head, on_error)
        while pending:
            future, head = pending.popleft()
            yield _outcome(future, head, on_error)
    finally:
        if pending:
            client.cancel([future for future, _ in pending])


def map_unordered(client: distributed.Client, function: Callable[[T], U], items: Iterable[T], *,
                  window: int | None = None, retries: int = DEFAULT_RETRIES,
                  on_error: Callable[[T, BaseException], U] | None = None) -> Iterator[tuple[int, U]]:
    """Like :func:`map_ordered`, but ``(input index, result)`` pairs yielded as the tasks finish: for steps whose
    output order does not matter (a status file keyed by id), so one slow task holds nothing back."""
    distributed = import_distributed()
    limit = _window(client, window)
    submit = _submitter(client, function, retries)
    numbered = enumerate(items)
    in_flight: dict[Any, tuple[int, T]] = {}
    finished = distributed.as_completed(loop=client.loop)

    def refill() -> None:
        for index, item in itertools.islice(numbered, max(0, limit() - len(in_flight))):
            future = submit(index, item)
            in_flight[future] = (index, item)
            finished.add(future)

    try:
        refill()
        while in_flight:
            future = next(finished)
            index, item = in_flight.pop(future)
            result = _outcome(future, item, on_error)
            refill()
            yield index, result
    finally:
        if in_flight:
            client.cancel(list(in_flight))


def run_ordered(function: Callable[[T], U], items: Iterable[T], *, scheduler: Any = None,
                **options: Any) -> Iterator[U]:
    """``map(function, items)`` in this process when ``scheduler`` is None, else :func:`map_ordered` on the cluster
    at ``scheduler`` (an address, connected here at once and closed at the end, or a ``distributed.Client``, left
    open). For steps whose task is the same function either way; ``options`` go to :func:`map_ordered`."""
    if scheduler is None:
        return map(function, items)

    def results() -> Iterator[U]:
        with client_for(scheduler) as client:
            yield from map_ordered(client, function, items, **options)

    return results()
