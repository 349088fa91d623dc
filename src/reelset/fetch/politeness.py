"""Being polite to YouTube: spaced starts, capped back-off, and a circuit breaker.

Defaults follow yt-dlp's own guidance for YouTube. Its ``-t sleep`` preset is ``--sleep-requests 0.75
--sleep-interval 10 --max-sleep-interval 20`` (yt_dlp/options.py), and its wiki puts the limit of a guest session at
about 300 videos an hour. reelset spaces the *start* of every video (and every retry) by a random 10-20 s across all
workers together, so the session makes about 240 starts an hour whatever ``JOBS`` is; parallel jobs still overlap the
slow part (downloading and encoding). Set ``--sleep 0 --max-sleep 0`` for servers of your own.
"""

from __future__ import annotations

import random
import threading

from reelset.fetch.classify import BREAKER_STATUSES, RATE_LIMITED
from reelset.scale.pacing import Pacer

DEFAULT_SLEEP = 10.0
DEFAULT_MAX_SLEEP = 20.0
DEFAULT_SLEEP_REQUESTS = 0.75
DEFAULT_RETRY_BASE = 15.0
DEFAULT_RATE_LIMIT_BASE = 120.0
DEFAULT_RETRY_CAP = 600.0
DEFAULT_BREAKER_THRESHOLD = 5
DEFAULT_BREAKER_PAUSE = 900.0
DEFAULT_SESSION_LIMIT_PAUSE = 3600.0  # YouTube: "rate-limited by YouTube for up to an hour"


def backoff_delay(
    attempt: int,
    status: str,
    *,
    base: float = DEFAULT_RETRY_BASE,
    rate_limit_base: float = DEFAULT_RATE_LIMIT_BASE,
    cap: float = DEFAULT_RETRY_CAP,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry): exponential, capped, with jitter.

    Rate limits start from a longer base than other transient failures.
    """
    start = rate_limit_base if status == RATE_LIMITED else base
    delay = min(cap, start * 2 ** max(0, attempt - 1))
    return delay * (rng or random).uniform(0.75, 1.25) if delay else 0.0


class CircuitBreaker:
    """Stops burning through the list when YouTube refuses the session.

    After ``threshold`` consecutive blocked/rate-limited results it pauses all starts for ``pause`` seconds; if the
    next ``threshold`` results are refused too, it tells the run to stop. A success resets it.
    """

    CONTINUE = "continue"
    PAUSE = "pause"
    STOP = "stop"

    def __init__(
        self,
        pacer: Pacer,
        *,
        threshold: int = DEFAULT_BREAKER_THRESHOLD,
        pause: float = DEFAULT_BREAKER_PAUSE,
    ):
        self.pacer = pacer
        self.threshold = threshold
        self.pause = pause
        self._lock = threading.Lock()
        self.consecutive = 0
        self.paused_once = False

    def record(self, status: str) -> str:
        """Feed one final result; return CONTINUE, PAUSE (starts are now held) or STOP."""
        with self._lock:
            if status not in BREAKER_STATUSES:
                if status == "ok":
                    self.paused_once = False
                self.consecutive = 0
                return self.CONTINUE
            self.consecutive += 1
            if self.threshold <= 0 or self.consecutive < self.threshold:
                return self.CONTINUE
            self.consecutive = 0
            if self.paused_once:
                return self.STOP
            self.paused_once = True
            self.pacer.hold_for(self.pause)
            return self.PAUSE
