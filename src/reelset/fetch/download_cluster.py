"""``action100m download --scheduler``: each attempt at a video runs on a Dask worker, politeness stays global.

The calling process keeps everything a local run keeps: the folder lock, the status file (its single writer), the
retries and their back-off, the circuit breaker (it sees every attempt's result, whichever worker made it). Each
attempt is one task (:func:`attempt_task`): on its worker it waits for its start slot, then resolves and clips the
video exactly as a local attempt does (:func:`reelset.fetch.download.run_attempt`), writing ``<out>/<id>.mp4`` (the
task for that id is its only writer, through the same atomic rename) and ``<out>/logs/<id>.log``.

Politeness across all workers: the start slots come from one :class:`ClusterPacer` whose state lives on the Dask
scheduler (a ``distributed.Variable`` holding the next free start time, read and moved under a
``distributed.Lock``), so consecutive video starts anywhere on the cluster are ``--sleep``..``--max-sleep`` seconds
apart, a task rerun after its worker died included, and the circuit breaker's pause holds every worker. The times
are wall-clock times of the machines involved: keep their clocks synchronised (NTP); a skew of d seconds between two
machines moves their starts by at most d. A stop (circuit breaker, environment errors, Ctrl-C) is a
``distributed.Event``: tasks waiting for a slot end without starting, ffmpeg runs in flight are cancelled.

What the workers need: ffmpeg and ffprobe, the reelset environment, a JavaScript runtime for YouTube (each worker
finds its own), network access to the video site, and the output folder at the same absolute path (a shared file
system). Cookies are loaded once by the calling process and travel inside the tasks (use TLS between the Dask
processes on a network you do not trust); they are never written to the workers' disks or logs.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reelset.core.cluster import import_distributed
from reelset.fetch.clip import ClipSettings, Outcome
from reelset.fetch.ytdlp import YtdlpSession

if TYPE_CHECKING:
    import distributed

STOP_POLL_SECONDS = 1.0


class ClusterPacer:
    """The :class:`~reelset.fetch.politeness.Pacer` of a whole cluster: the same ``reserve``/``wait``/``hold_for``,
    with the next free start time kept on the Dask scheduler under ``name``.

    Made in the calling process with its ``client`` (:meth:`open` it before the first task); a copy pickled into a
    task uses its worker's client.
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
        """Allow no start anywhere on the cluster in the next ``seconds``: the circuit breaker's pause."""
        lock, next_free = self._primitives()
        with lock:
            next_free.set(max(float(next_free.get()), time.time() + seconds))

    def wait(self, stop) -> bool:
        """Wait for a start slot; False if ``stop`` (an Event) was set meanwhile."""
        delay = self.reserve()
        return not stop.wait(delay) if delay > 0 else not stop.is_set()


class RemoteStop:
    """The run's stop flag as a task sees it: a ``distributed.Event``, asked at most once a second while polled
    (ffmpeg's cancel check runs four times a second)."""

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

    def wait(self, timeout: float) -> bool:
        self._set = self._set or self.event.wait(timeout)
        return self._set

    def is_set(self) -> bool:
        now = time.monotonic()
        if not self._set and now - self._asked >= STOP_POLL_SECONDS:
            self._asked = now
            self._set = self.event.is_set()
        return self._set


@dataclass(frozen=True)
class AttemptTask:
    """One attempt at one video, for a worker (the output folder in ``clip`` is absolute)."""

    video_id: str
    attempt: int
    tries: int
    clip: ClipSettings
    session: YtdlpSession
    pacer: ClusterPacer
    stop: str  # the name of the run's stop Event


def attempt_task(task: AttemptTask) -> Outcome | None:
    """Runs on a worker: the paced attempt, its failures returned as an outcome (None: stopped before it began)."""
    from reelset.fetch.download import run_attempt

    return run_attempt(task.video_id, task.attempt, task.tries, task.clip, task.session, task.pacer,
                       RemoteStop(task.stop))


class ClusterAttempts:
    """The calling process's side: submits attempts, holds the shared pacer and stop flag, cleans up at the end."""

    def __init__(self, client: distributed.Client, clip: ClipSettings, session: YtdlpSession, tries: int,
                 min_gap: float, max_gap: float):
        self.client = client
        self.token = f"reelset-download-{uuid.uuid4().hex[:12]}"
        self.clip = replace(clip, out_dir=Path(clip.out_dir).absolute())
        self.session = session
        self.tries = tries
        self.pacer = ClusterPacer(f"{self.token}-pacer", min_gap, max_gap, self.client)
        self.pacer.open()
        self._stop = import_distributed().Event(f"{self.token}-stop", client=self.client)

    def attempt(self, video_id: str, attempt: int, progress=None) -> Outcome | None:
        """One attempt on the cluster, waited for here (``progress`` is not reported back from workers)."""
        task = AttemptTask(video_id, attempt, self.tries, self.clip, self.session, self.pacer, self._stop.name)
        future = self.client.submit(attempt_task, task, key=f"{self.token}-{video_id}-{attempt}", pure=False)
        try:
            return future.result()
        except Exception as error:  # KilledWorker (the task killed `allowed-failures` workers), a lost scheduler
            return Outcome(video_id, "failed", f"the Dask task failed: {type(error).__name__}: "
                                               f"{' '.join(str(error).split())}")

    def request_stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Remove the run's pacer and stop flag from the scheduler."""
        self.pacer.close()
        self._stop.clear()
