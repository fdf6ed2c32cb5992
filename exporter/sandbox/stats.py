"""What the sandbox counts, for tests, the chaos run and the benchmark (``GET /_sandbox/stats``)."""

from __future__ import annotations

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

    def count_response(self, status: int | None) -> None:
        """Count one answer to an ingestion request; ``None`` for a dropped connection."""
        self.requests_by_status[DROPPED if status is None else str(status)] += 1

    def snapshot(self, rows_stored: int) -> dict[str, Any]:
        return {
            "requests": sum(self.requests_by_status.values()),
            "requests_by_status": dict(sorted(self.requests_by_status.items())),
            "rows_accepted": self.rows_accepted,
            "rows_failed": self.rows_failed,
            "rows_stored": rows_stored,
            "throttled": self.throttled,
            "faults": dict(sorted(self.faults.items())),
            "schema_reads": dict(sorted(self.schema_reads.items())),
        }
