"""Full `dbt build` of 5,000,000 orders under the DuckDB memory limit: peak RSS and wall time.

    .venv/bin/python bench/bench_build.py [--orders 5000000] [--memory-limit 2GB]

Generates the sample data, then runs one `dbt build` (unit tests excluded, as in production; data tests
run) in its own process with ``MO_DUCKDB_MEMORY_LIMIT`` set, and prints its wall time, CPU and peak RSS
against the targets: peak RSS <= 2.5 GB and wall time within 1.3x of the 104 s that the same build took
without a limit on a quiet machine (when it peaked at 7.4 GB). Takes a few minutes; not run by the tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from bench_export import BIN, ROOT, measure

from mo_export_dev.sample_data import generate

RSS_TARGET_MB = 2500
WALL_BEFORE_S = 104.0
WALL_FACTOR = 1.3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory-limit", default=os.environ.get("MO_DUCKDB_MEMORY_LIMIT", "2GB"))
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench" / "build")
    args = parser.parse_args()

    workdir: Path = args.workdir
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    duckdb_path = workdir / "bench.duckdb"
    print(f"== full dbt build of {args.orders:,} orders, memory limit {args.memory_limit} "
          f"({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    began = time.monotonic()
    summary = generate(duckdb_path, orders=args.orders, seed=args.seed)
    print(f"  {'sample data':<44} {time.monotonic() - began:8.1f} s  ({summary.describe().splitlines()[2].strip()})")
    env = {**os.environ, "MO_DUCKDB_PATH": str(duckdb_path), "MO_DUCKDB_MEMORY_LIMIT": args.memory_limit,
           "DBT_PROFILES_DIR": str(ROOT), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    target = workdir / "target"
    build = measure("dbt build (unit tests excluded)",
                    [str(BIN / "dbt"), "build", "--quiet", "--exclude-resource-type", "unit_test",
                     "--target-path", str(target), "--log-path", str(target / "logs")], env)
    print(build.line())
    size_gb = duckdb_path.stat().st_size / 1e9
    wall_target = WALL_BEFORE_S * WALL_FACTOR
    print(f"  DuckDB file {size_gb:.1f} GB; load average after {os.getloadavg()[0]:.1f}")
    print(f"  peak RSS {build.peak_rss_mb:,.0f} MB (target <= {RSS_TARGET_MB:,} MB); wall {build.wall:.0f} s "
          f"= {build.wall / WALL_BEFORE_S:.2f}x the {WALL_BEFORE_S:.0f} s without a limit (target <= {WALL_FACTOR}x)")
    return 0 if build.peak_rss_mb <= RSS_TARGET_MB and build.wall <= wall_target else 1


if __name__ == "__main__":
    sys.exit(main())
