"""A token bucket: the sandbox's stand-in for Peak's 50 requests per second per tenant."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; one request takes one token. ``rate=0`` never throttles."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.configure(rate, burst)

    def configure(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = self._clock()

    def take(self) -> int | None:
        """Take a token; ``None`` when one was available, else the whole seconds to wait (at least 1)."""
        if self.rate <= 0:
            return None
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - self._tokens) / self.rate))
