"""Fault injection: the failures a real ingestion API shows, on demand and reproducibly.

Every request to an ingestion path draws the same sequence of random numbers from one seeded RNG,
whichever faults are switched on, so a given seed and request order always fault the same requests.
The kinds, in the order they are tried:

* ``latency``: wait ``latency_ms`` before anything else;
* ``burst_429``: with probability ``burst_429_rate`` a throttling window of ``burst_429_seconds`` opens;
  while it is open every request gets 429 with a ``Retry-After`` for the rest of the window;
* ``stall``: with probability ``stall_rate`` wait ``stall_seconds`` (meant to be longer than the
  client's timeout), then answer 504; nothing is stored;
* ``error``: with probability ``error_rate`` answer 500, 502 or 503; nothing is stored;
* ``drop``: with probability ``drop_rate`` start the response and then close the connection, so the
  client sees a protocol error rather than a status; nothing is stored;
* ``fail_after_store``: with probability ``fail_after_store_rate`` store the rows, then answer 5xx or
  drop the connection (even odds): the client cannot tell that its rows arrived, and must re-send.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Literal

from mo_export_dev.sandbox.config import SandboxConfigError

if TYPE_CHECKING:
    from mo_export_dev.sandbox.config import SandboxConfig

_RATES = ("error_rate", "drop_rate", "stall_rate", "fail_after_store_rate", "burst_429_rate")
_DURATIONS = ("latency_ms", "stall_seconds", "burst_429_seconds")
ERROR_STATUSES = (500, 502, 503)
STALL_STATUS = 504


@dataclass(frozen=True)
class FaultSettings:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    stall_rate: float = 0.0
    stall_seconds: float = 30.0
    fail_after_store_rate: float = 0.0
    burst_429_rate: float = 0.0
    burst_429_seconds: float = 5.0

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise SandboxConfigError(f"sandbox fault setting {name} must be a probability in 0..1, got {value!r}")
        for name in _DURATIONS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise SandboxConfigError(f"sandbox fault setting {name} must be a number >= 0, got {value!r}")

    @classmethod
    def from_config(cls, config: SandboxConfig) -> FaultSettings:
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})

    def updated(self, changes: dict[str, Any]) -> FaultSettings:
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise SandboxConfigError(f"sandbox: unknown fault setting(s) {', '.join(unknown)}")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class FaultPlan:
    """What the faults do to one request."""

    latency_s: float = 0.0
    throttle_retry_after: int | None = None
    stall_s: float | None = None
    error_status: int | None = None
    drop: bool = False
    after_store: Literal["error", "drop"] | None = None
    after_store_status: int = 503


class FaultInjector:
    def __init__(self, settings: FaultSettings, seed: int) -> None:
        self.settings = settings
        self.reseed(seed)
        self._burst_until = 0.0

    def reseed(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def end_burst(self) -> None:
        self._burst_until = 0.0

    def plan(self, now: float) -> FaultPlan:
        s = self.settings
        # always draw the same numbers, so the seed alone decides which requests are faulted
        burst_draw, stall_draw, error_draw, drop_draw, after_draw = (self._rng.random() for _ in range(5))
        error_status = ERROR_STATUSES[self._rng.randrange(len(ERROR_STATUSES))]
        after_kind_draw = self._rng.random()
        after_status = ERROR_STATUSES[self._rng.randrange(len(ERROR_STATUSES))]

        throttle: int | None = None
        if now < self._burst_until:
            throttle = max(1, math.ceil(self._burst_until - now))
        elif burst_draw < s.burst_429_rate:
            self._burst_until = now + s.burst_429_seconds
            throttle = max(1, math.ceil(s.burst_429_seconds))
        after_kind: Literal["error", "drop"] = "error" if after_kind_draw < 0.5 else "drop"
        return FaultPlan(
            latency_s=s.latency_ms / 1000.0,
            throttle_retry_after=throttle,
            stall_s=s.stall_seconds if stall_draw < s.stall_rate else None,
            error_status=error_status if error_draw < s.error_rate else None,
            drop=drop_draw < s.drop_rate,
            after_store=after_kind if after_draw < s.fail_after_store_rate else None,
            after_store_status=after_status,
        )
