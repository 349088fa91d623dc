"""Killing a busy Dask worker mid-run, for the tests of the ``--scheduler`` steps (nothing lost, exact counts).

Use a :class:`BusyWorkerKiller` as (or from) a step's progress callback: at the first call where a worker of the
client is running or holding a task, that worker's process gets SIGKILL (the worker cannot clean up, as when a
machine dies); the scheduler reruns its tasks elsewhere, and the nanny starts a new worker process.
"""

from __future__ import annotations

import os
import signal
from typing import Any


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
