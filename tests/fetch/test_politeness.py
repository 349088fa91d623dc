"""Pacing, back-off and the circuit breaker, with a fake clock (no sleeping)."""

from __future__ import annotations

import random
import threading

import pytest

from reelset.fetch.classify import BLOCKED, FAILED, OK, RATE_LIMITED, UNAVAILABLE
from reelset.fetch.politeness import CircuitBreaker, Pacer, backoff_delay


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pacer_spaces_consecutive_starts_within_the_range() -> None:
    clock = FakeClock()
    pacer = Pacer(10, 20, rng=random.Random(1), clock=clock)
    waits = [pacer.reserve() for _ in range(50)]
    assert waits[0] == 0
    gaps = [later - earlier for earlier, later in zip(waits, waits[1:])]
    assert all(10 <= gap <= 20 for gap in gaps)
    assert max(gaps) - min(gaps) > 1  # jitter, not a constant


def test_pacer_slot_is_free_again_after_time_passes() -> None:
    clock = FakeClock()
    pacer = Pacer(5, 5, clock=clock)
    assert pacer.reserve() == 0
    clock.now += 60
    assert pacer.reserve() == 0


def test_pacer_is_shared_across_threads() -> None:
    clock = FakeClock()
    pacer = Pacer(1, 1, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        delay = pacer.reserve()
        with lock:
            waits.append(delay)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == [float(i) for i in range(8)]


def test_pacer_rejects_a_reversed_range() -> None:
    with pytest.raises(ValueError):
        Pacer(5, 1)


def test_pacer_wait_returns_false_when_stopped() -> None:
    pacer = Pacer(30, 30)
    pacer.reserve()
    stop = threading.Event()
    stop.set()
    assert pacer.wait(stop) is False


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(0)
    delays = [backoff_delay(attempt, FAILED, base=10, cap=100, rng=rng) for attempt in range(1, 8)]
    assert 7.5 <= delays[0] <= 12.5
    assert 15 <= delays[1] <= 25
    assert all(delay <= 125 for delay in delays)
    assert backoff_delay(1, RATE_LIMITED, base=10, rate_limit_base=60, rng=rng) >= 45
    assert backoff_delay(3, FAILED, base=0) == 0


def test_breaker_pauses_then_stops() -> None:
    clock = FakeClock()
    pacer = Pacer(0, 0, clock=clock)
    breaker = CircuitBreaker(pacer, threshold=3, pause=100)
    assert [breaker.record(BLOCKED) for _ in range(2)] == ["continue", "continue"]
    assert breaker.record(RATE_LIMITED) == "pause"
    assert pacer.reserve() == pytest.approx(100)  # no start during the pause
    assert [breaker.record(BLOCKED) for _ in range(2)] == ["continue", "continue"]
    assert breaker.record(BLOCKED) == "stop"


def test_breaker_resets_on_other_results() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(Pacer(0, 0, clock=clock), threshold=3, pause=10)
    for status in (BLOCKED, BLOCKED, UNAVAILABLE, BLOCKED, BLOCKED, FAILED, BLOCKED, BLOCKED):
        assert breaker.record(status) == "continue"
    assert breaker.record(BLOCKED) == "pause"
    breaker.record(OK)
    assert [breaker.record(BLOCKED) for _ in range(3)][-1] == "pause"  # a success re-arms the pause


def test_breaker_threshold_zero_disables_it() -> None:
    breaker = CircuitBreaker(Pacer(0, 0), threshold=0)
    assert {breaker.record(BLOCKED) for _ in range(20)} == {"continue"}
