"""Tasks on a Dask cluster: :class:`DaskExecutor`, and what only a cluster needs (connecting, the cluster-wide
start schedule :class:`ClusterPacer`, the stop flag tasks see on their workers).

``--scheduler ADDRESS`` (or ``$REELSET_SCHEDULER``) sends a step's tasks to the workers of a running Dask scheduler;
the calling process stays the single writer of every output (see :mod:`reelset.scale`):

- a worker that dies mid-task has its tasks rerun on another worker by the scheduler (up to Dask's
  ``distributed.scheduler.allowed-failures``, 3 by default, after which the task fails with ``KilledWorker``);
  ``retries`` reruns a task whose function raised;
- tasks have unique keys: the same item twice runs twice (Dask would merge equal "pure" keys);
- at most four tasks per worker thread are in flight, following the workers as they join or leave (an adaptive, a
  batch or a Kubernetes cluster grows while the run goes on).

What the workers need: the same Python environment (reelset and its dependencies; ``pip install 'reelset[dask]'``
on every machine), and every path a task gets (inputs, the feature cache, the model folder, the folders tasks write
into) visible under the same absolute path, e.g. one shared file system mounted at the same place: the executor makes
paths absolute (:meth:`DaskExecutor.shared_path`).

Dask is imported only here and only when a scheduler is given: reelset works without it.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reelset.core.errors import ReelsetError
from reelset.scale.executor import PER_WORKER, Executor, OnError

if TYPE_CHECKING:
    import distributed

T = TypeVar("T")
U = TypeVar("U")

INSTALL_HINT = "pip install 'reelset[dask]' (or: pip install 'dask[distributed]')"
CONNECT_TIMEOUT = 10.0
DEFAULT_RETRIES = 1
STOP_POLL_SECONDS = 1.0


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
    """A Dask client connected to the scheduler at ``address`` (``tcp://host:port``, ``host:port``, or a scheduler
    file written by ``dask scheduler --scheduler-file``, a path ending in ``.json``).

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


def worker_threads(client: distributed.Client) -> int:
    """How many tasks the cluster runs at once now (at least 1: an adaptive cluster may have no worker yet)."""
    return max(1, sum(client.nthreads().values()))


class DaskExecutor(Executor):
    """Tasks on the workers of ``client`` (a connected ``distributed.Client``, left open by :meth:`close`).

    Args:
        retries: times a task whose function raised is run again (a worker's death is handled by the scheduler).
    """

    def __init__(self, client: distributed.Client, *, retries: int = DEFAULT_RETRIES):
        self.client = client
        self.retries = retries
        self._run = uuid.uuid4().hex[:12]
        self._count = itertools.count()
        self._checked = (-1.0, 1)

    @property
    def workers(self) -> int:
        """The cluster's worker threads now, looked up at most once a second."""
        now = time.monotonic()
        if now - self._checked[0] >= 1.0:
            self._checked = (now, worker_threads(self.client))
        return self._checked[1]

    def _submit(self, function: Callable, item: Any):
        # Explicit unique keys: the same item twice must run twice, and hashing the arguments costs time for nothing.
        key = f"reelset-{getattr(function, '__name__', 'task')}-{self._run}-{next(self._count)}"
        return self.client.submit(function, item, key=key, retries=self.retries, pure=False)

    @staticmethod
    def _outcome(future, item: T, on_error: OnError | None) -> U:
        try:
            return future.result()
        except Exception as error:  # the task's exception, or KilledWorker when it killed too many workers
            if on_error is None:
                raise
            return on_error(item, error)

    def map_ordered(self, function, items, *, window=None, on_error=None):
        pending: collections.deque = collections.deque()
        try:
            for item in items:
                pending.append((self._submit(function, item), item))
                while len(pending) >= (window or PER_WORKER * self.workers):
                    future, head = pending.popleft()
                    yield self._outcome(future, head, on_error)
            while pending:
                future, head = pending.popleft()
                yield self._outcome(future, head, on_error)
        finally:
            if pending:
                self.client.cancel([future for future, _ in pending])

    def map_unordered(self, function, items, *, window=None, on_error=None):
        distributed = import_distributed()
        numbered = enumerate(items)
        in_flight: dict[Any, tuple[int, Any]] = {}
        finished = distributed.as_completed(loop=self.client.loop)

        def refill() -> None:
            room = (window or PER_WORKER * self.workers) - len(in_flight)
            for index, item in itertools.islice(numbered, max(0, room)):
                future = self._submit(function, item)
                in_flight[future] = (index, item)
                finished.add(future)

        try:
            refill()
            while in_flight:
                future = next(finished)
                index, item = in_flight.pop(future)
                result = self._outcome(future, item, on_error)
                refill()
                yield index, result
        finally:
            if in_flight:
                self.client.cancel(list(in_flight))

    def call(self, function, item, *, on_error=None):
        return self._outcome(self._submit(function, item), item, on_error)

    def shared_path(self, path: str | Path) -> Path:
        return Path(path).expanduser().absolute()

    def in_process(self, value):
        return None

    @contextlib.contextmanager
    def pacer(self, min_gap: float, max_gap: float) -> Iterator[ClusterPacer]:
        pacer = ClusterPacer(f"reelset-pacer-{uuid.uuid4().hex[:12]}", min_gap, max_gap, self.client)
        pacer.open()
        try:
            yield pacer
        finally:
            pacer.close()

    @contextlib.contextmanager
    def stop_flag(self) -> Iterator[ClusterStop]:
        stop = ClusterStop(f"reelset-stop-{uuid.uuid4().hex[:12]}", self.client)
        try:
            yield stop
        finally:
            stop.close()

    def where(self) -> str:
        return f"the cluster at {self.client.scheduler.address} ({worker_threads(self.client)} worker threads now)"


class ClusterPacer:
    """The :class:`~reelset.scale.pacing.Pacer` of a whole cluster: the same ``reserve``/``wait``/``hold_for``, with
    the next free start time kept on the Dask scheduler under ``name`` (a ``distributed.Variable``, read and moved
    under a ``distributed.Lock``), so consecutive starts anywhere on the cluster are ``min_gap``..``max_gap`` seconds
    apart, a task rerun after its worker died included.

    The times are wall-clock times of the machines involved: keep their clocks synchronised (NTP); a skew of d
    seconds between two machines moves their starts by at most d. Made in the calling process with its ``client``
    (:meth:`open` it before the first task); a copy pickled into a task uses its worker's client.
    """

    def __init__(self, name: str, min_gap: float, max_gap: float, client: distributed.Client | None = None):
        if min_gap < 0 or max_gap < min_gap:
            raise ValueError(f"sleep range must satisfy 0 <= min <= max, got {min_gap}..{max_gap}")
        self.name = name
        self.min_gap = min_gap
        self.max_gap = max_gap
        self._client = client

    def __reduce__(self):
        return ClusterPacer, (self.name, self.min_gap, self.max_gap)

    def _primitives(self) -> tuple[distributed.Lock, distributed.Variable]:
        distributed = import_distributed()
        if self._client is None:  # in a task: the worker's own connection
            lock = distributed.Lock(f"{self.name}-lock")
        else:
            lock = distributed.Lock(f"{self.name}-lock", scheduler_rpc=self._client.scheduler,
                                    loop=self._client.loop)
        return lock, distributed.Variable(self.name, client=self._client)

    def open(self) -> None:
        """Start the run's schedule: the first start may happen now."""
        self._primitives()[1].set(0.0)

    def close(self) -> None:
        """Remove the schedule from the scheduler."""
        self._primitives()[1].delete()

    def reserve(self) -> float:
        """Claim the next start slot of the cluster; return how many seconds to wait for it."""
        lock, next_free = self._primitives()
        with lock:
            now = time.time()
            slot = max(now, float(next_free.get()))
            next_free.set(slot + random.uniform(self.min_gap, self.max_gap))
        return slot - now

    def hold_for(self, seconds: float) -> None:
        """Allow no start anywhere on the cluster in the next ``seconds`` (a circuit breaker's pause)."""
        lock, next_free = self._primitives()
        with lock:
            next_free.set(max(float(next_free.get()), time.time() + seconds))

    def wait(self, stop) -> bool:
        """Wait for a start slot; False if ``stop`` (an Event) was set meanwhile."""
        delay = self.reserve()
        return not stop.wait(delay) if delay > 0 else not stop.is_set()


class ClusterStop:
    """A run's stop flag: set in the calling process, seen by every task. Here it is a ``threading.Event`` (asking
    it costs nothing) mirrored into a ``distributed.Event`` named ``name`` on the scheduler; pickled into a task it
    becomes a :class:`RemoteStop` of that name."""

    def __init__(self, name: str, client: distributed.Client):
        self.name = name
        self._here = threading.Event()
        self._remote = import_distributed().Event(name, client=client)

    def __reduce__(self):
        return RemoteStop, (self.name,)

    def set(self) -> None:
        self._here.set()
        self._remote.set()

    def is_set(self) -> bool:
        return self._here.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._here.wait(timeout)

    def close(self) -> None:
        """Remove the flag from the scheduler."""
        self._remote.clear()


class RemoteStop:
    """The run's stop flag as a task sees it on its worker: the ``distributed.Event`` ``name``, asked at most once a
    second while polled (ffmpeg's cancel check runs four times a second)."""

    def __init__(self, name: str):
        self.name = name
        self._event: Any = None
        self._asked = -1.0
        self._set = False

    def __reduce__(self):
        return RemoteStop, (self.name,)

    @property
    def event(self):
        if self._event is None:
            self._event = import_distributed().Event(self.name)
        return self._event

    def set(self) -> None:
        self.event.set()

    def wait(self, timeout: float | None = None) -> bool:
        self._set = self._set or self.event.wait(timeout)
        return self._set

    def is_set(self) -> bool:
        now = time.monotonic()
        if not self._set and now - self._asked >= STOP_POLL_SECONDS:
            self._asked = now
            self._set = self.event.is_set()
        return self._set
