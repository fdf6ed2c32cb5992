"""`make bench`: every figure of the performance section, one part after the other (never in parallel).

    .venv/bin/python bench/bench.py [--only export incremental build spark freshness] [--skip PART ...]
                                    [--freshness-orders 1000000]

Parts (each its own script and process, so their peak RSS and CPU are their own):

* ``export``: 1,000,000 orders, dbt build, exports against the sandbox (bench/bench_export.py);
* ``incremental``: full build of 1,000,000 orders, a 1 % extraction, the incremental build, side by
  side (bench/bench_incremental.py);
* ``build``: full build of 5,000,000 orders under the DuckDB memory limit (bench/bench_build.py);
* ``spark``: the demo sample data built on DuckDB, Spark local[2] and local-cluster (bench/bench_spark.py;
  skipped with a note when the spark extra is not installed);
* ``freshness``: a history of N orders built and exported, then an extraction changing 1 % lands: landed ->
  acknowledged (incremental `dbt build` + `mo-export run` against the sandbox at 50 ms), each part's wall,
  CPU and peak RSS, and a build in which nothing changed (bench/bench_freshness.py; N = 1,000,000 unless
  ``--freshness-orders`` says 5000000 or 10000000).

Exits non-zero if a part fails or misses its target; runs the remaining parts anyway.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = {
    "export": ["bench_export.py"],
    "incremental": ["bench_incremental.py", "--workdir", str(HERE.parent / ".bench" / "incremental")],
    "build": ["bench_build.py"],
    "spark": ["bench_spark.py"],
    "freshness": ["bench_freshness.py"],
}

log = logging.getLogger("bench")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS), help="run only these parts")
    parser.add_argument("--skip", nargs="+", choices=PARTS, default=[], help="leave these parts out")
    parser.add_argument("--freshness-orders", type=int, default=1_000_000,
                        help="orders of history in the freshness part (1 M default; 5 M and 10 M on request)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    failed: list[str] = []
    for part in (p for p in PARTS if p in args.only and p not in args.skip):
        log.info("#### %s", part)
        began = time.monotonic()
        script, *extra = PARTS[part]
        if part == "freshness":
            extra = [*extra, "--orders", str(args.freshness_orders)]
        code = subprocess.call([sys.executable, str(HERE / script), *extra], cwd=HERE.parent)
        log.info("#### %s: exit code %d after %.0f s", part, code, time.monotonic() - began)
        if code != 0:
            failed.append(part)
    if failed:
        log.info("parts that failed or missed a target: %s", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
