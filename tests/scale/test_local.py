"""scale: the local executor (threads of this process) and executor_for, against the interface the steps rely on."""

from __future__ import annotations

import threading
import time

import pytest

from reelset.scale import Executor, LocalExecutor, executor_for
from reelset.scale.pacing import Pacer


def slow_square(item: tuple[int, float]) -> int:
    number, seconds = item
    time.sleep(seconds)
    return number * number


def fails_on_three(number: int) -> int:
    if number == 3:
        raise ValueError("three is bad")
    return number


@pytest.mark.parametrize("workers", [1, 3])
def test_ordered_results_come_in_input_order(workers):
    items = [(number, 0.06 - number * 0.01) for number in range(6)]
    assert list(LocalExecutor(workers).map_ordered(slow_square, items)) == [n * n for n in range(6)]


def test_unordered_results_come_as_they_finish_each_exactly_once():
    pairs = list(LocalExecutor(3).map_unordered(slow_square, [(0, 0.5), (1, 0.0), (2, 0.0), (3, 0.0)]))
    assert sorted(index for index, _ in pairs) == [0, 1, 2, 3]
    assert pairs[-1][0] == 0  # the slow one holds nothing back
    assert all(square == index * index for index, square in pairs)


@pytest.mark.parametrize("kind", ["ordered", "unordered"])
def test_the_window_bounds_what_is_read_ahead(kind):
    taken = []

    def items():
        for number in range(20):
            taken.append(number)
            yield number, 0.01

    executor = LocalExecutor(2)
    results = getattr(executor, f"map_{kind}")(slow_square, items(), window=3)
    next(results)
    assert len(taken) <= 4  # the window, plus at most the one item being handed over
    assert len(list(results)) == 19


def test_default_window_is_four_per_worker():
    taken = []

    def items():
        for number in range(40):
            taken.append(number)
            yield number, 0.0

    results = LocalExecutor(2).map_ordered(slow_square, items())
    next(results)
    assert len(taken) == 8
    results.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_errors_raise_at_their_turn_or_go_to_on_error(workers):
    executor = LocalExecutor(workers)
    results = executor.map_ordered(fails_on_three, range(6))
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="three is bad"):
        next(results)
    handled = list(executor.map_ordered(fails_on_three, range(6), on_error=lambda item, error: f"{item}: {error}"))
    assert handled == [0, 1, 2, "3: three is bad", 4, 5]
    unordered = dict(executor.map_unordered(fails_on_three, range(6), on_error=lambda item, error: -item))
    assert unordered == {0: 0, 1: 1, 2: 2, 3: -3, 4: 4, 5: 5}
    assert executor.call(fails_on_three, 3, on_error=lambda item, error: "handled") == "handled"
    with pytest.raises(ValueError):
        executor.call(fails_on_three, 3)


def test_keyboard_interrupt_is_never_handled_as_a_task_error():
    def interrupted(item):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        LocalExecutor(1).call(interrupted, 0, on_error=lambda item, error: "swallowed")


def test_closing_early_cancels_what_has_not_started():
    started = []

    def record(item):
        started.append(item)
        time.sleep(0.05)
        return item

    results = LocalExecutor(2).map_unordered(record, range(100), window=4)
    next(results)
    results.close()
    assert len(started) <= 6


def test_the_call_runs_in_the_calling_thread_and_the_local_answers():
    executor = LocalExecutor(4)
    assert executor.call(lambda item: threading.current_thread(), None) is threading.current_thread()
    assert executor.in_process(print) is print
    assert executor.shared_path("relative/file") == executor.shared_path("relative/file").__class__("relative/file")
    assert executor.where() is None and executor.workers == 4
    with executor.pacer(0.2, 0.2) as pacer, executor.stop_flag() as stop:
        assert isinstance(pacer, Pacer) and pacer.reserve() == pytest.approx(0, abs=0.01)
        assert pacer.reserve() == pytest.approx(0.2, abs=0.02)  # the schedule is shared by every task
        assert not stop.is_set()
        stop.set()
        assert pacer.wait(stop) is False  # a stopped run starts nothing more


def test_executor_for_builds_or_passes_through():
    with executor_for(None, workers=3) as made:
        assert isinstance(made, LocalExecutor) and made.workers == 3
    given = LocalExecutor(2)
    with executor_for(given) as passed:
        assert passed is given
    assert isinstance(given, Executor)
