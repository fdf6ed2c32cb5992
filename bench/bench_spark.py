"""Build time of the demo sample data on DuckDB, Spark `local[2]` and Spark `local-cluster[2,1,1024]`.

    .venv/bin/python bench/bench_spark.py [--orders 20000]

Writes the sample data once (DuckDB file and the same raw tables as Parquet), then runs the same
`dbt build` (models, unit tests, data tests) on each engine in its own process, one after the other,
and prints wall time, CPU and peak RSS of each beside DuckDB's. Needs the spark extra and Java 17
(`make install-spark`); Spark's figures are mostly JVM start-up and query planning at this size.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
from pathlib import Path

from bench_export import BIN, ROOT, measure

from mo_export_dev.sample_data import generate
from mo_export_dev.sample_data.parquet import write_raw_parquet

MASTERS = ("local[2]", "local-cluster[2,1,1024]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench" / "spark")
    args = parser.parse_args()
    if importlib.util.find_spec("dbt.adapters.spark") is None:
        print("== Spark: skipped, the spark extra is not installed (`make install-spark`, needs Java 17)")
        return 0

    workdir: Path = args.workdir
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    duckdb_path = workdir / "sample.duckdb"
    summary = generate(duckdb_path, orders=args.orders, seed=args.seed)
    write_raw_parquet(duckdb_path, workdir / "raw-parquet")
    print(f"== dbt build of {args.orders:,} orders ({summary.describe().splitlines()[2].strip()}) on each engine "
          f"({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    env = {**os.environ, "MO_DUCKDB_PATH": str(duckdb_path), "MO_RAW_PARQUET_DIR": str(workdir / "raw-parquet"),
           "DBT_PROFILES_DIR": str(ROOT), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    runs = [("DuckDB", "dev", {})] + [
        (f"Spark {master}", "spark", {"MO_SPARK_MASTER": master, "MO_SPARK_WAREHOUSE": str(workdir / f"wh{i}")})
        for i, master in enumerate(MASTERS)
    ]
    for number, (label, target, extra) in enumerate(runs):
        target_path = workdir / f"target_{number}"
        result = measure(label, [str(BIN / "dbt"), "build", "--quiet", "--target", target,
                                 "--target-path", str(target_path), "--log-path", str(target_path / "logs")],
                         {**env, **extra})
        print(f"{result.line()}  (load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
