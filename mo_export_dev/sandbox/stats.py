"""What the sandbox counts, for tests, the chaos run and the benchmark (``GET /_sandbox/stats``)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: The key under which dropped connections are counted in ``requests_by_status``.
DROPPED = "dropped"


@dataclass
class SandboxStats:
    requests_by_status: Counter[str] = field(default_factory=Counter)
    rows_accepted: int = 0
    rows_failed: int = 0
    throttled: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    #: answers to the schema endpoints, by status (kept apart: they are not ingestion requests)
    schema_reads: Counter[str] = field(default_factory=Counter)
    #: wall-clock times (time.time()) of the first ingestion request's arrival and of the last answer: the
    #: window in which a client sent, whatever its own start-up took (the benchmark's sending time)
    first_request_at: float | None = None
    last_response_at: float | None = None
    #: seconds from an ingestion handler's start (its body still arriving) to its answer, summed (injected
    #: latency included), and the most requests held at once
    handler_seconds: float = 0.0
    #: of which waiting for the request bodies to arrive (a slow sender shows here, not in the CPU)
    body_seconds: float = 0.0
    #: CPU seconds of the worker processes judging bodies (``SandboxConfig.workers``), not in this process's
    worker_cpu_seconds: float = 0.0
    in_flight: int = 0
    most_in_flight: int = 0
    #: per object named in an ingestion path the sandbox serves: ``requests``, ``rows_accepted``, ``rows_failed``
    by_object: dict[str, Counter[str]] = field(default_factory=dict)

    def count_object(self, object_name: str, **counts: int) -> None:
        """Add ``counts`` (requests, rows_accepted, rows_failed) to ``object_name``'s."""
        self.by_object.setdefault(object_name, Counter()).update(counts)

    def request_arrived(self) -> float:
        """Count a request in; returns the monotonic time to give ``count_response``."""
        if self.first_request_at is None:
            self.first_request_at = time.time()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return time.monotonic()

    def count_response(self, status: int | None, arrived: float | None = None) -> None:
        """Count one answer to an ingestion request; ``None`` for a dropped connection."""
        self.requests_by_status[DROPPED if status is None else str(status)] += 1
        self.last_response_at = time.time()
        if arrived is not None:
            self.in_flight = max(0, self.in_flight - 1)  # (a reset may have come in between)
            self.handler_seconds += time.monotonic() - arrived

    def snapshot(self, rows_stored: int, stored_by_object: dict[str, int] | None = None,
                 object_names: tuple[str, ...] = ()) -> dict[str, Any]:
        """Every counter; the keys other than ``objects`` count every object together (as when the sandbox
        served one), ``objects`` has ``{"requests", "rows_accepted", "rows_failed", "rows_stored"}`` per object
        (each of ``object_names``, and any other that has counts or rows)."""
        stored = stored_by_object or {}
        names = sorted({*object_names, *self.by_object, *stored})
        objects = {
            name: {
                "requests": self.by_object.get(name, Counter())["requests"],
                "rows_accepted": self.by_object.get(name, Counter())["rows_accepted"],
                "rows_failed": self.by_object.get(name, Counter())["rows_failed"],
                "rows_stored": stored.get(name, 0),
            }
            for name in names
        }
        return {
            "requests": sum(self.requests_by_status.values()),
            "requests_by_status": dict(sorted(self.requests_by_status.items())),
            "rows_accepted": self.rows_accepted,
            "rows_failed": self.rows_failed,
            "rows_stored": rows_stored,
            "throttled": self.throttled,
            "faults": dict(sorted(self.faults.items())),
            "schema_reads": dict(sorted(self.schema_reads.items())),
            "first_request_at": self.first_request_at,
            "last_response_at": self.last_response_at,
            "handler_seconds": self.handler_seconds,
            "body_seconds": self.body_seconds,
            "most_in_flight": self.most_in_flight,
            "process_cpu_seconds": time.process_time(),
            "worker_cpu_seconds": self.worker_cpu_seconds,
            "objects": objects,
        }
