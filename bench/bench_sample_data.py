"""Benchmark the sample-data generator: wall time and rows per second for ``--orders N``.

    .venv/bin/python bench/bench_sample_data.py --orders 1000000
    /usr/bin/time -v .venv/bin/python bench/bench_sample_data.py --orders 1000000   # peak RSS

Not part of the test suite: timings on a shared machine are noisy, so this prints figures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mo_export_dev.sample_data import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--duckdb-path", type=Path, default=None,
                        help="file to write (default: a fresh file in a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_sample_data_") as scratch:
        path = args.duckdb_path or Path(scratch) / "bench.duckdb"
        started = time.perf_counter()
        summary = generate(path, orders=args.orders, seed=args.seed)
        wall = time.perf_counter() - started
        rows = summary.order_rows + summary.confirmation_rows + summary.material_rows + summary.plant_rows
        print(summary.describe())
        print(f"orders {args.orders:,}  raw rows {rows:,}  wall {wall:.2f} s  "
              f"{rows / wall:,.0f} rows/s  {args.orders / wall:,.0f} orders/s  "
              f"file {path.stat().st_size / 1e6:,.0f} MB")


if __name__ == "__main__":
    main()
