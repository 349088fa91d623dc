"""Spaced starts shared by every thread of this process: :class:`Pacer`.

A step that must not start its tasks too close together (reelset's downloads: YouTube counts the videos a session
starts) asks its executor for a pacer (:meth:`reelset.scale.Executor.pacer`): this one for tasks in this process, the
cluster-wide one of :mod:`reelset.scale.cluster` (the same three methods) for tasks on a Dask cluster.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable


class Pacer:
    """Spaces starts across all threads: consecutive starts are at least a random ``[min_gap, max_gap]`` apart.

    Args:
        rng: the source of the random gaps, injectable for tests.
        clock: a monotonic clock, injectable for tests.
    """

    def __init__(
        self,
        min_gap: float,
        max_gap: float,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if min_gap < 0 or max_gap < min_gap:
            raise ValueError(f"sleep range must satisfy 0 <= min <= max, got {min_gap}..{max_gap}")
        self.min_gap = min_gap
        self.max_gap = max_gap
        self._rng = rng or random.Random()
        self._clock = clock
        self._lock = threading.Lock()
        self._next_free: float | None = None

    def _gap(self) -> float:
        return self._rng.uniform(self.min_gap, self.max_gap)

    def reserve(self) -> float:
        """Claim the next start slot; return how many seconds to wait for it."""
        with self._lock:
            now = self._clock()
            slot = now if self._next_free is None else max(now, self._next_free)
            self._next_free = slot + self._gap()
            return slot - now

    def hold_for(self, seconds: float) -> None:
        """Allow no start in the next ``seconds`` (a circuit breaker's pause)."""
        with self._lock:
            when = self._clock() + seconds
            self._next_free = max(self._next_free or when, when)

    def wait(self, stop: threading.Event | None = None) -> bool:
        """Wait for a start slot; False if ``stop`` was set meanwhile."""
        delay = self.reserve()
        if stop is None:
            time.sleep(delay)
            return True
        return not stop.wait(delay)
