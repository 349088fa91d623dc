"""Where a step's per-item work runs: this machine (the default) or a Dask cluster, behind one interface.

Every parallel step of reelset has the shape of img2dataset's distributor: a *task* is a plain module-level function
of one picklable argument, defined in a leaf module, that reads its inputs from paths and returns plain data, its
expected failures returned as values (so nothing retries them); the *orchestrator* of the step makes the tasks, hands
them to an :class:`Executor` and alone writes every output and status file from the results (the single writer:
results that arrive out of order or twice cannot corrupt anything). The executor decides where the tasks run:

- :class:`LocalExecutor`: ``workers`` threads of this process, or the calling thread itself when ``workers`` is 1;
- :class:`~reelset.scale.cluster.DaskExecutor`: the workers of a Dask cluster (``--scheduler ADDRESS``); a worker that
  dies has its tasks rerun elsewhere by the scheduler.

What really differs between the two is answered by the executor, so the steps never branch on where they run: the
path a task opens (:meth:`Executor.shared_path`), what only lives in this process (:meth:`Executor.in_process`: a
progress callback, an already loaded model), the state every task shares (a schedule of start times:
:meth:`Executor.pacer`; a stop flag: :meth:`Executor.stop_flag`), and a line for the user saying where the work runs
(:meth:`Executor.where`).

:func:`executor_for` turns what a user gives (None, a scheduler address, a ``distributed.Client`` or an Executor) into
an executor. Dask is imported only by :mod:`reelset.scale.cluster`, and only when a scheduler is given. The executors
are imported on first use, so that the command line's ``--scheduler`` option (:data:`SCHEDULER_ENV`) costs nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from reelset.core.lazy import lazy_exports
from reelset.scale.constants import SCHEDULER_ENV

if TYPE_CHECKING:
    from reelset.scale.executor import Executor

_EXPORTS = {"Executor": ".executor", "LocalExecutor": ".executor", "StopFlag": ".executor"}
__all__ = ["SCHEDULER_ENV", *_EXPORTS, "executor_for"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


@contextlib.contextmanager
def executor_for(where: Any = None, *, workers: int = 1) -> Iterator[Executor]:
    """The executor of ``where``, for the duration of a ``with`` block.

    Args:
        where: None for a :class:`LocalExecutor` of ``workers`` threads; an :class:`Executor`, used as it is and left
            open; a Dask scheduler's address (``tcp://host:8786``, ``host:8786``, or a scheduler file ending in
            ``.json``), connected here at once and closed at the end; or a connected ``distributed.Client``, left
            open.
        workers: threads of the local executor (not used for the others).

    Raises:
        ReelsetError: Dask is not installed, or the scheduler cannot be reached (before the block runs: a step that
            cannot reach its cluster writes nothing).
    """
    from reelset.scale.executor import Executor, LocalExecutor

    if isinstance(where, Executor):
        yield where
        return
    if where is None:
        with LocalExecutor(workers) as local:
            yield local
        return
    from reelset.scale.cluster import DaskExecutor, connect

    if isinstance(where, str):
        with connect(where) as client, DaskExecutor(client) as executor:
            yield executor
        return
    with DaskExecutor(where) as executor:
        yield executor
