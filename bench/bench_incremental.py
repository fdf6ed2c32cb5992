"""Full `dbt build` against an incremental one after an extraction that changes 1 % of the orders.

    .venv/bin/python bench/bench_incremental.py [--orders 1000000] [--changed-share 0.01]

Generates N orders of sample data (``mo_export_dev.sample_data.generate``), runs ``dbt build`` (the first
build, which builds everything), appends one later extraction moving ``changed-share`` of the orders one
status forward (``simulate_next_extraction``), then runs ``dbt build`` again (incremental). Each build
runs in its own process so its peak RSS is its own (``os.wait4``). Prints wall time, CPU and peak RSS of
each and the ratios against the targets (incremental <= 25 % of the full build's wall time and <= 50 % of
its peak RSS). Both builds skip dbt's unit tests (``--exclude-resource-type unit_test``), as dbt advises
for production runs; data tests run. Not run by the test suite: figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mo_export_dev.sample_data import generate, simulate_next_extraction

PROJECT_DIR = Path(__file__).resolve().parents[1]
WALL_TARGET = 0.25
RSS_TARGET = 0.50

log = logging.getLogger("bench_incremental")


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


def run_build(workdir: Path, duckdb_path: Path, name: str, extra_args: list[str]) -> Measured:
    """`dbt build` in a child process; raises with dbt's output tail when it fails."""
    env = {**os.environ, "MO_DUCKDB_PATH": str(duckdb_path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    target = workdir / f"target_{name}"
    command = [
        str(Path(sys.executable).with_name("dbt")), "build", "--exclude-resource-type", "unit_test",
        "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(target / "logs"), *extra_args,
    ]
    output = workdir / f"{name}.log"
    started = time.perf_counter()
    with output.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_DIR)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        tail = output.read_text()[-3000:]
        raise RuntimeError(f"dbt build ({name}) failed, see {output}:\n{tail}")
    # ru_maxrss is in kilobytes on Linux
    return Measured(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, peak_rss_mb=usage.ru_maxrss / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--changed-share", type=float, default=0.01, help="share of orders the extraction changes")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary directory, removed after")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_incremental_"))
    workdir.mkdir(parents=True, exist_ok=True)
    duckdb_path = workdir / "bench.duckdb"
    try:
        started = time.perf_counter()
        generate(duckdb_path, orders=args.orders, seed=args.seed)
        log.info("sample data: %s orders in %.1f s", f"{args.orders:,}", time.perf_counter() - started)

        full = run_build(workdir, duckdb_path, "full", [])
        changed = simulate_next_extraction(
            duckdb_path, changed_orders=round(args.orders * args.changed_share), seed=args.seed
        )
        incremental = run_build(workdir, duckdb_path, "incremental", [])

        log.info("%-34s %9s %9s %12s", "step", "wall s", "CPU s", "peak RSS MB")
        for name, m in (("dbt build (first, full)", full),
                        (f"dbt build after {len(changed):,} changed orders", incremental)):
            log.info("%-34s %9.1f %9.1f %12.0f", name, m.wall_s, m.cpu_s, m.peak_rss_mb)
        wall_ratio = incremental.wall_s / full.wall_s
        rss_ratio = incremental.peak_rss_mb / full.peak_rss_mb
        log.info("incremental / full: wall %.0f %% (target <= %.0f %%), peak RSS %.0f %% (target <= %.0f %%)",
                 100 * wall_ratio, 100 * WALL_TARGET, 100 * rss_ratio, 100 * RSS_TARGET)
        return 0 if wall_ratio <= WALL_TARGET and rss_ratio <= RSS_TARGET else 1
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
