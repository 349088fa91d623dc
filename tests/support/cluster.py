"""A Dask cluster on 127.0.0.1 for the tests and benchmarks of the ``--scheduler`` steps, and killing a busy worker
mid-run (nothing lost, exact counts).

:func:`local_cluster` listens on 127.0.0.1 only, on free ports (the scheduler's HTTP routes too: by default they take
port 8787, and a second cluster on the machine warns and moves), with no dashboard. Use a :class:`BusyWorkerKiller` as (or from) a step's progress callback: at the first call where a worker of the
client is running or holding a task, that worker's process gets SIGKILL (the worker cannot clean up, as when a
machine dies); the scheduler reruns its tasks elsewhere, and the nanny starts a new worker process.
"""

from __future__ import annotations

import os
import signal
from typing import Any


def local_cluster(workers: int = 2):
    """A ``distributed.LocalCluster`` of ``workers`` single-threaded worker processes on 127.0.0.1 (a context
    manager; its ``scheduler_address`` is what ``--scheduler`` takes)."""
    import distributed

    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})


class BusyWorkerKiller:
    """A callable (any arguments) that kills one busy worker process of ``client``, once.

    Attributes:
        killed: the process id killed (empty until then).
    """

    def __init__(self, client: Any):
        self.client = client
        self.pids: dict[str, int] = client.run(os.getpid)
        self.killed: list[int] = []

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if self.killed:
            return
        busy = [address for address, keys in self.client.processing().items() if keys and address in self.pids]
        if busy:
            os.kill(self.pids[busy[0]], signal.SIGKILL)
            self.killed.append(self.pids[busy[0]])

    def replaced(self, timeout: float = 60) -> bool:
        """Wait until the cluster has as many workers as before; whether the killed process is gone from them."""
        self.client.wait_for_workers(len(self.pids), timeout=timeout)
        return bool(self.killed) and self.killed[0] not in self.client.run(os.getpid).values()
