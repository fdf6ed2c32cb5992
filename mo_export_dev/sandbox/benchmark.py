"""Throughput of the sandbox: ``python -m mo_export_dev.sandbox.benchmark [--requests N] [--concurrency C] [--rows R]``.

Starts a sandbox process (no rate limit, no faults), sends N UPSERT requests of R (500) valid rows each from
concurrent httpx connections, and prints wall-clock requests per second and the sandbox process's own
CPU seconds per request (from /proc, Linux only), which is the figure that matters when the client
shares the machine. The target is at least 200 requests of 500 rows per CPU-second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from mo_export_dev.sandbox.config import SandboxConfig
from mo_export_dev.sandbox.contract import OBJECT
from mo_export_dev.sandbox.process import SandboxProcess, start_sandbox_process

ROWS_PER_REQUEST = 500
_TOKEN = "benchmark-token"


def benchmark_row(n: int) -> dict[str, Any]:
    """A valid row with distinct keys and timestamps spread over the calendar (days 29-31 included)."""
    month = 1 + n % 12
    return {
        "order_number": f"MO{n:08d}",
        "product_id": f"P{n % 997:05d}",
        "location_id": f"PLANT-{n % 7}",
        "source_id": "MES",
        "ordered_at": f"2024-{month:02d}-{1 + n % 28:02d} {n % 24:02d}:{n % 60:02d}:{n * 7 % 60:02d}",
        "ordered_units": n % 5000,
        "expected_start_date": f"2024-{month:02d}-{1 + (n + 3) % 28:02d} 06:00:00",
        "actual_start_date": None if n % 3 else f"2024-{month:02d}-{1 + (n + 4) % 28:02d} 06:30:00",
        "expected_end_date": f"2024-01-{1 + (n + 5) % 31:02d} 18:00:00",
        "actual_end_date": None,
        "produced_units": None if n % 3 else n % 4000,
        "status": "in_progress",
        "updated_at": f"2024-10-{1 + n % 31:02d} {n % 24:02d}:{n * 13 % 60:02d}:{n * 7 % 60:02d}",
    }


def _process_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _send_all(base_url: str, bodies: list[bytes], concurrency: int, rows: int) -> None:
    url = f"{base_url}/api/v2/ingest/object/{OBJECT}"
    pending = list(reversed(range(len(bodies))))
    headers = {"Authorization": _TOKEN, "Content-Type": "application/json"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:

        async def worker() -> None:
            while pending:
                response = await client.post(url, content=bodies[pending.pop()])
                accepted = response.json().get("accepted") if response.status_code == 200 else None
                if accepted != rows:
                    raise RuntimeError(f"unexpected answer {response.status_code}: {response.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def run(requests: int, concurrency: int, workdir: Path, rows: int = ROWS_PER_REQUEST, *, latency_ms: float = 0,
        rate_limit_rps: float = 0, workers: int = 0) -> dict[str, float]:
    bodies = [
        orjson.dumps({"solutionName": "INV_OOTB", "operationType": "UPSERT",
                      "data": [benchmark_row(b * rows + i) for i in range(rows)]})
        for b in range(requests)
    ]
    config = SandboxConfig(token=_TOKEN, rate_limit_rps=rate_limit_rps, latency_ms=latency_ms, workers=workers,
                           store_path=workdir / "benchmark.sqlite")
    sandbox: SandboxProcess = start_sandbox_process(config, workdir / "sandbox.log")
    try:
        cpu_before = _process_cpu_seconds(sandbox.pid)
        started = time.perf_counter()
        asyncio.run(_send_all(sandbox.base_url, bodies, concurrency, rows))
        wall = time.perf_counter() - started
        stats = sandbox.stats()
        cpu_after = _process_cpu_seconds(sandbox.pid)
        stored = stats["rows_stored"]
    finally:
        sandbox.stop()
    figures = {"requests": requests, "wall_seconds": wall, "requests_per_second": requests / wall,
               "rows_stored": stored, "body_bytes": len(bodies[0])}
    figures["handler_ms_per_request"] = stats.get("handler_seconds", 0.0) / requests * 1000
    figures["body_wait_ms_per_request"] = stats.get("body_seconds", 0.0) / requests * 1000
    if rate_limit_rps:
        figures["share_of_rate_limit"] = requests / wall / rate_limit_rps
    if cpu_before is not None and cpu_after is not None:
        cpu = cpu_after - cpu_before + stats.get("worker_cpu_seconds", 0.0)
        figures |= {"sandbox_cpu_seconds": cpu, "requests_per_cpu_second": requests / cpu,
                    "cpu_ms_per_request": cpu / requests * 1000}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rows", type=int, default=ROWS_PER_REQUEST, help="rows per request (at most 2000)")
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--rate-limit", type=float, default=0, help="requests/s (0: none)")
    parser.add_argument("--workers", type=int, default=0, help="SandboxConfig.workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mo-sandbox-bench-") as workdir:
        figures = run(args.requests, args.concurrency, Path(workdir), args.rows, latency_ms=args.latency_ms,
                          rate_limit_rps=args.rate_limit, workers=args.workers)
    for name, value in figures.items():
        print(f"{name:>24}: {value:,.2f}" if isinstance(value, float) else f"{name:>24}: {value:,}")


if __name__ == "__main__":
    main()
