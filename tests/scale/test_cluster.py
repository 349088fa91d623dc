"""scale.cluster: a real Dask LocalCluster on 127.0.0.1 (2 worker processes, no dashboard), never Ray."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time

import click
import pytest
from click.testing import CliRunner

from reelset.cli.options import scheduler_option
from reelset.scale import cluster
from reelset.scale.cluster import DaskExecutor
from reelset.core.errors import ReelsetError

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")
# The workers cannot import this test module by name (importlib import mode): send its task functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def client(local_cluster):
    with cluster.connect(local_cluster.scheduler_address) as connected:
        yield connected


def slow_square(item: tuple[int, float]) -> tuple[int, int]:
    number, seconds = item
    time.sleep(seconds)
    return number * number, os.getpid()


def fails_on_three(number: int) -> int:
    if number == 3:
        raise ValueError("three is bad")
    return number


def fails_first_time(item: tuple[int, str]) -> int:
    number, marker_dir = item
    marker = os.path.join(marker_dir, f"{number}.tried")
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("first attempt fails")
    return number


def test_ordered_results_come_in_input_order_when_tasks_finish_out_of_order(client):
    # Earlier items sleep longer: they finish last, and still come first.
    items = [(number, 0.3 - number * 0.05) for number in range(6)]
    results = [square for square, _ in DaskExecutor(client).map_ordered(slow_square, items)]
    assert results == [number * number for number in range(6)]


def test_unordered_results_come_as_they_finish_each_exactly_once(client):
    items = [(0, 1.0), (1, 0.0), (2, 0.0), (3, 0.0)]
    pairs = list(DaskExecutor(client).map_unordered(slow_square, items, window=4))
    assert sorted(index for index, _ in pairs) == [0, 1, 2, 3]
    assert pairs[0][0] != 0  # the slow one does not hold the others back
    assert all(square == index * index for index, (square, _) in pairs)


def test_window_bounds_the_tasks_in_flight(client):
    taken = []

    def items():
        for number in range(20):
            taken.append(number)
            yield number, 0.0

    results = DaskExecutor(client).map_ordered(slow_square, items(), window=3)
    next(results)
    assert len(taken) == 3  # nothing is read ahead of the window
    assert [square for square, _ in results] == [number * number for number in range(1, 20)]


def test_failed_task_raises_at_its_turn_or_is_handed_to_on_error(client):
    results = DaskExecutor(client, retries=0).map_ordered(fails_on_three, range(6))
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="three is bad"):
        next(results)
    handled = list(DaskExecutor(client, retries=0).map_ordered(fails_on_three, range(6),
                                                               on_error=lambda item, error: f"{item}: {error}"))
    assert handled == [0, 1, 2, "3: three is bad", 4, 5]
    unordered = dict(DaskExecutor(client, retries=0).map_unordered(fails_on_three, range(6),
                                                                   on_error=lambda item, error: -item))
    assert unordered == {0: 0, 1: 1, 2: 2, 3: -3, 4: 4, 5: 5}


def test_retries_rerun_a_task_whose_function_raised(client, tmp_path):
    items = [(number, str(tmp_path)) for number in range(4)]
    assert list(DaskExecutor(client, retries=1).map_ordered(fails_first_time, items)) == [0, 1, 2, 3]


def test_same_item_twice_runs_twice(client):
    assert list(DaskExecutor(client).map_ordered(fails_on_three, [5, 5, 5])) == [5, 5, 5]


def test_a_worker_killed_mid_run_loses_nothing(client):
    pids = client.run(os.getpid)
    items = [(number, 0.4) for number in range(10)]
    results = DaskExecutor(client).map_ordered(slow_square, items, window=10)
    killed = {}

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            busy = [address for address, keys in client.processing().items() if keys and address in pids]
            if busy:
                killed["address"], killed["pid"] = busy[0], pids[busy[0]]
                os.kill(killed["pid"], signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker)
    first = next(results)  # tasks are running on both workers now
    killer.start()
    rest = list(results)
    killer.join()
    assert killed, "no busy worker to kill"
    squares = [first[0]] + [square for square, _ in rest]
    assert squares == [number * number for number in range(10)]  # each exactly once, in order
    ran_on = {pid for _, pid in [first] + rest}
    assert ran_on - {killed["pid"]}  # the survivors (and the restarted worker) did the rest
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker for the next tests


def test_connect_names_what_is_wrong_in_one_line(tmp_path, monkeypatch):
    started = time.monotonic()
    with pytest.raises(ReelsetError, match=r"cannot reach the Dask scheduler") as raised:
        cluster.connect(f"tcp://127.0.0.1:{free_port()}", timeout=2)
    assert time.monotonic() - started < 5
    assert "\n" not in str(raised.value)
    with pytest.raises(ReelsetError, match="expected tcp://host:port"):
        cluster.connect("localhost")
    with pytest.raises(ReelsetError, match="no such scheduler file"):
        cluster.connect(str(tmp_path / "scheduler.json"))
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask were not installed
    with pytest.raises(ReelsetError, match=r"reelset\[dask\]"):
        cluster.connect("tcp://127.0.0.1:8786")


def test_connect_by_address_forms_and_scheduler_file(local_cluster, tmp_path):
    address = local_cluster.scheduler_address
    with cluster.connect(address.removeprefix("tcp://")) as bare:
        assert bare.submit(sum, [1, 2]).result() == 3
    scheduler_file = tmp_path / "scheduler.json"
    # What `dask scheduler --scheduler-file` writes (the scheduler's identity; the client reads "address").
    scheduler_file.write_text(json.dumps({"type": "Scheduler", "address": address}))
    with cluster.connect(str(scheduler_file)) as by_file:
        assert cluster.worker_threads(by_file) == 2


def test_scheduler_option_reads_the_environment(monkeypatch):
    @click.command()
    @scheduler_option
    def show(scheduler):
        click.echo(repr(scheduler))

    runner = CliRunner()
    assert runner.invoke(show, []).output.strip() == "None"
    assert runner.invoke(show, [], env={"REELSET_SCHEDULER": "tcp://10.0.0.1:8786"}).output.strip() == \
        "'tcp://10.0.0.1:8786'"
    assert runner.invoke(show, ["--scheduler", "h:1"], env={"REELSET_SCHEDULER": "x:2"}).output.strip() == "'h:1'"
    assert "same absolute path" in " ".join(runner.invoke(show, ["--help"]).output.split())


def test_executor_for_an_address_connects_and_closes_a_client_given_stays_open(local_cluster, client, tmp_path):
    from reelset.scale import executor_for

    with executor_for(local_cluster.scheduler_address) as executor:
        assert isinstance(executor, DaskExecutor) and executor.workers == 2
        assert executor.call(fails_on_three, 4) == 4
        assert executor.where() == f"the cluster at {local_cluster.scheduler_address} (2 worker threads now)"
        opened = executor.client
    assert opened.status == "closed"
    with executor_for(client) as executor:
        assert executor.shared_path("relative/file.mp4") == (tmp_path.cwd() / "relative/file.mp4")
        assert executor.in_process(print) is None  # a worker cannot call back into this process
        assert executor.call(fails_on_three, 3, on_error=lambda item, error: f"failed: {error}") == \
            "failed: three is bad"
    assert client.status == "running"
    with pytest.raises(ReelsetError, match="cannot reach the Dask scheduler"), \
            executor_for(f"127.0.0.1:{free_port()}"):
        pass


def wait_for_stop(stop) -> bool:
    """A task's view of the run's stop flag (on a worker: the flag named on the scheduler)."""
    return stop.wait(10)


def test_the_stop_flag_reaches_the_tasks_and_is_removed(client):
    executor = DaskExecutor(client)
    with executor.stop_flag() as stop:
        waiting = client.submit(wait_for_stop, stop, pure=False)
        time.sleep(0.5)
        assert not waiting.done() and not stop.is_set()
        stop.set()
        assert stop.is_set() and waiting.result(timeout=10) is True
    assert not distributed.Event(stop.name, client=client).is_set()  # cleared: nothing of the run stays set


def free_port() -> int:
    """A port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
