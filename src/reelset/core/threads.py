"""Background threads for pipelines: read ahead in one thread, or map over items in several, results in order.

Both keep memory flat (a bounded queue, a bounded window) and both stop their threads when the consumer stops early
or an exception is raised, so a failing or interrupted run leaves nothing running.
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")
BATCH_WEIGHT = 1 << 20
DEPTH = 4

_DONE = object()


def prefetched(items: Generator[T, None, None], *, weigh: Callable[[T], int], batch_weight: int = BATCH_WEIGHT,
               depth: int = DEPTH, name: str = "prefetch") -> Iterator[T]:
    """Yield what ``items`` yields, computed ahead in a background thread.

    Items travel in batches of about ``batch_weight`` (as ``weigh`` counts them: bytes, say) so that the hand-over
    costs little per item, and at most ``depth`` batches wait, so memory stays flat. An exception in the thread is
    raised here; closing this generator stops the thread (and closes ``items``).
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(batch) -> bool:
        while not stop.is_set():
            try:
                handoff.put(batch, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            batch, weight = [], 0
            for item in items:
                batch.append(item)
                weight += weigh(item)
                if weight >= batch_weight:
                    if not put(batch):
                        return
                    batch, weight = [], 0
            if (batch and not put(batch)) or not put(_DONE):
                return
        except BaseException as error:  # handed to the consumer, which raises it
            put(error)
        finally:
            items.close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while (batch := handoff.get()) is not _DONE:
            if isinstance(batch, BaseException):
                raise batch
            yield from batch
    finally:
        stop.set()
        worker.join()


def parallel_map(function: Callable[[T], U], items: Generator[T, None, None], *, workers: int,
                 window: int) -> Iterator[U]:
    """``map(function, items)`` in ``workers`` threads, results in order, at most ``window`` items in flight.

    Worth it when ``function`` spends most of its time in code that releases the GIL (numpy); an exception in
    ``function`` is raised here at its item's turn. Closing this generator waits for the items in flight.
    """
    pending: collections.deque = collections.deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parallel-map") as pool:
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            items.close()
            for future in pending:
                future.cancel()
