"""The executor interface and the local executor (the package docstring says how they fit; executor_for picks one)."""

from __future__ import annotations

import abc
import contextlib
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol, TypeVar

from reelset.core.threads import parallel_map
from reelset.scale.pacing import Pacer

T = TypeVar("T")
U = TypeVar("U")
O = TypeVar("O")

PER_WORKER = 4  # tasks in flight per worker by default: enough to keep every worker busy, few enough for flat memory

OnError = Callable[[T, Exception], U]


class StopFlag(Protocol):
    """A run's stop flag as the tasks and the orchestrator see it (a ``threading.Event``, or the cluster's)."""

    def set(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class Executor(abc.ABC):
    """Runs a step's tasks and hands their results back to the orchestrator (the single writer).

    The error policy is the same everywhere: a task whose function raises (after the retries, on a cluster) or that
    cannot finish (its worker died too often) is handed to ``on_error(item, exception)``, whose result takes the
    task's place; without ``on_error`` the exception is raised in the orchestrator at the item's turn. A
    ``KeyboardInterrupt`` is never swallowed. Closing a result iterator early cancels the tasks not yet started.
    """

    @property
    @abc.abstractmethod
    def workers(self) -> int:
        """How many tasks run at once now (at least 1)."""

    @abc.abstractmethod
    def map_ordered(self, function: Callable[[T], U], items: Iterable[T], *, window: int | None = None,
                    on_error: OnError | None = None) -> Iterator[U]:
        """``map(function, items)``, results in input order, at most ``window`` tasks in flight (default: four per
        worker, following the workers of a cluster as they join or leave), so memory stays flat and the orchestrator
        writes in a fixed order."""

    @abc.abstractmethod
    def map_unordered(self, function: Callable[[T], U], items: Iterable[T], *, window: int | None = None,
                      on_error: OnError | None = None) -> Iterator[tuple[int, U]]:
        """Like :meth:`map_ordered`, but ``(input index, result)`` pairs as the tasks finish: for steps whose output
        order does not matter, so one slow task holds nothing back."""

    @abc.abstractmethod
    def call(self, function: Callable[[T], U], item: T, *, on_error: OnError | None = None) -> U:
        """One task, waited for by the calling thread (any thread: a step with its own scheduling loop)."""

    def shared_path(self, path: str | Path) -> Path:
        """``path`` as a task must open it (on a cluster: absolute, the same on every machine)."""
        return Path(path)

    def in_process(self, value: O) -> O | None:
        """``value`` when the tasks run in this process (a progress callback, a loaded model), else None: a task on
        another machine cannot call back here, and loads its own model."""
        return value

    @abc.abstractmethod
    def pacer(self, min_gap: float, max_gap: float) -> contextlib.AbstractContextManager:
        """A start schedule shared by every task of the run (a :class:`~reelset.scale.pacing.Pacer`, or the
        cluster's: ``reserve``/``wait``/``hold_for``), released when the ``with`` block ends."""

    @abc.abstractmethod
    def stop_flag(self) -> contextlib.AbstractContextManager[StopFlag]:
        """A stop flag that the orchestrator sets and every task sees (a task waiting for a start slot ends, an
        ffmpeg run in flight is cancelled), released when the ``with`` block ends."""

    def where(self) -> str | None:
        """Where the tasks run, for a line to the user (``the cluster at tcp://... (4 worker threads now)``); None
        for this process, which needs no line."""
        return None

    def close(self) -> None:
        """Release what the executor holds (threads, a cluster connection it opened)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _guarded(function: Callable[[T], U], on_error: OnError | None) -> Callable[[T], U]:
    if on_error is None:
        return function

    def run(item: T) -> U:
        try:
            return function(item)
        except Exception as error:
            return on_error(item, error)

    return run


class LocalExecutor(Executor):
    """Tasks in ``workers`` threads of this process (the calling thread itself when ``workers`` is 1).

    Threads, not processes: reelset's tasks spend their time in ffmpeg, numpy, torch, hashing and I/O, all of which
    release the GIL, and threads share what a task needs from the orchestrator (a loaded model, a progress bar).
    """

    def __init__(self, workers: int = 1):
        self._workers = max(1, int(workers))

    @property
    def workers(self) -> int:
        return self._workers

    def map_ordered(self, function, items, *, window=None, on_error=None):
        run = _guarded(function, on_error)
        if self._workers == 1:
            return (run(item) for item in items)
        return parallel_map(run, (item for item in items), workers=self._workers,
                            window=window or PER_WORKER * self._workers)

    def map_unordered(self, function, items, *, window=None, on_error=None):
        run = _guarded(function, on_error)
        if self._workers == 1:
            return ((index, run(item)) for index, item in enumerate(items))
        return self._unordered(run, items, window or PER_WORKER * self._workers)

    def _unordered(self, run: Callable[[T], U], items: Iterable[T], window: int) -> Iterator[tuple[int, U]]:
        numbered = enumerate(items)
        pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="reelset-task")
        in_flight: dict[Any, int] = {}
        try:
            while True:
                for index, item in itertools.islice(numbered, max(0, window - len(in_flight))):
                    in_flight[pool.submit(run, item)] = index
                if not in_flight:
                    return
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield in_flight.pop(future), future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def call(self, function, item, *, on_error=None):
        return _guarded(function, on_error)(item)

    @contextlib.contextmanager
    def pacer(self, min_gap: float, max_gap: float) -> Iterator[Pacer]:
        yield Pacer(min_gap, max_gap)

    @contextlib.contextmanager
    def stop_flag(self) -> Iterator[threading.Event]:
        yield threading.Event()
