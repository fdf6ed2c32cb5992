"""The same dbt project built on Spark (target `spark`) gives the same marts as on DuckDB.

One sample data set is written to a DuckDB file and, as Parquet, to a raw folder; DuckDB builds it
in-process, Spark in its own `dbt build --target spark` process on `local-cluster[2,1,1024]` (a
master and two executors in separate JVMs, so the models really run distributed). The Spark build
runs the unit tests and data tests too. Spark's Parquet output is then read with DuckDB's
read_parquet and compared with the DuckDB marts row for row (multisets, both directions).

About 2-8 minutes, nearly all of it JVM start-up and Spark planning: the one Spark build is shared by
the module. Selected with `-m spark` (`make test-spark`); skipped when the `spark` extra or Java is
missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson
import pytest

from exporter.sample_data import generate
from exporter.sample_data.parquet import RAW_TABLES, write_raw_parquet
from tests.dbt_support import PROJECT_DIR, run_dbt_subprocess

pytest.importorskip("pyspark", reason="needs the spark extra: uv sync --extra spark (make test-spark)")
pytest.importorskip("dbt.adapters.spark", reason="needs the spark extra: uv sync --extra spark (make test-spark)")
if shutil.which("java") is None:
    pytest.skip("needs Java 17 for Spark", allow_module_level=True)

pytestmark = [pytest.mark.spark, pytest.mark.slow]

MARTS = ("peak_manufacturing_orders", "peak_manufacturing_orders_rejected")
SPARK_MASTER = "local-cluster[2,1,1024]"


@dataclass(frozen=True)
class Builds:
    duckdb_path: Path
    spark_warehouse: Path
    duckdb_target: Path
    spark_process: subprocess.CompletedProcess[str]
    spark_target: Path


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    folder = tmp_path_factory.mktemp("spark_parity")
    duckdb_path = folder / "parity.duckdb"
    generate(duckdb_path, orders=1000, seed=11)
    write_raw_parquet(duckdb_path, folder / "raw")

    # in its own process, like the Spark build: dbt-duckdb would keep the file open in this one
    duck = run_dbt_subprocess(["build"], duckdb_path=duckdb_path, target_path=folder / "target_duckdb")
    assert duck.returncode == 0, duck.stdout[-4000:]

    spark_target = folder / "target_spark"
    env = {
        **os.environ,
        "MO_RAW_PARQUET_DIR": str(folder / "raw"),
        "MO_SPARK_WAREHOUSE": str(folder / "spark-warehouse"),
        "MO_SPARK_MASTER": SPARK_MASTER,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [
        str(Path(sys.executable).with_name("dbt")), "build", "--target", "spark",
        "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(spark_target), "--log-path", str(spark_target / "logs"),
    ]
    process = subprocess.run(command, env=env, cwd=folder, capture_output=True, text=True, timeout=900,
                             check=False)
    yield Builds(duckdb_path, folder / "spark-warehouse", folder / "target_duckdb", process, spark_target)


def _spark_mart(warehouse: Path, model: str) -> str:
    files = warehouse / "mo_export.db" / model
    assert any(files.glob("*.parquet")), f"no Parquet files under {files}"
    return f"read_parquet('{files}/*.parquet')"


def test_spark_build_passes_every_model_unit_test_and_data_test(builds: Builds) -> None:
    assert builds.spark_process.returncode == 0, builds.spark_process.stdout[-4000:]
    statuses = _statuses(builds.spark_target)
    duckdb_nodes = set(_statuses(builds.duckdb_target))
    unit_tests = [uid for uid in statuses if uid.startswith("unit_test.")]
    assert len(unit_tests) >= 10
    # every model, unit test and data test of the DuckDB build ran on Spark too, plus the not-null
    # check that stands in for the constraints Spark does not enforce
    assert set(statuses) - duckdb_nodes == {"test.mo_export.assert_contract_required_columns_not_null"}
    assert duckdb_nodes - set(statuses) == set()
    not_passed = {uid: s for uid, s in statuses.items() if s not in ("success", "pass", "no-op")}
    # the orphan confirmations the sample data plants are a warning by design
    assert not_passed == {"test.mo_export.assert_confirmations_have_an_order": "warn"}


def _statuses(target: Path) -> dict[str, str]:
    results = orjson.loads((target / "run_results.json").read_bytes())["results"]
    return {r["unique_id"]: r["status"] for r in results}


@pytest.mark.parametrize("model", MARTS)
def test_spark_mart_equals_duckdb_mart_row_for_row(builds: Builds, model: str) -> None:
    assert builds.spark_process.returncode == 0, builds.spark_process.stdout[-4000:]
    con = duckdb.connect(str(builds.duckdb_path), read_only=True)
    try:
        spark = _spark_mart(builds.spark_warehouse, model)
        duck_count = con.execute(f"select count(*) from main.{model}").fetchall()[0][0]
        spark_count = con.execute(f"select count(*) from {spark}").fetchall()[0][0]
        only_duckdb = con.execute(f"select * from main.{model} except all select * from {spark}").fetchall()
        only_spark = con.execute(f"select * from {spark} except all select * from main.{model}").fetchall()
        spark_columns = [r[0] for r in con.execute(f"describe select * from {spark}").fetchall()]
        duck_columns = [r[0] for r in con.execute(f"describe main.{model}").fetchall()]
    finally:
        con.close()
    assert spark_columns == duck_columns
    assert duck_count > 0
    assert spark_count == duck_count
    assert only_duckdb == []
    assert only_spark == []


def test_contract_mart_keeps_its_types_on_spark(builds: Builds) -> None:
    con = duckdb.connect()
    try:
        spark = _spark_mart(builds.spark_warehouse, "peak_manufacturing_orders")
        types = dict(con.execute(f"select column_name, column_type from (describe select * from {spark})").fetchall())
    finally:
        con.close()
    assert types["order_number"] == "VARCHAR"
    assert types["ordered_units"] == "BIGINT"
    # a plain timestamp (UTC wall-clock), as on DuckDB: not TIMESTAMP WITH TIME ZONE, not INT96
    assert types["updated_at"] == "TIMESTAMP"


def test_raw_parquet_has_the_raw_layout(builds: Builds) -> None:
    con = duckdb.connect(str(builds.duckdb_path), read_only=True)
    try:
        raw_dir = builds.duckdb_path.parent / "raw"
        for table in RAW_TABLES:
            in_parquet = con.execute(f"describe select * from read_parquet('{raw_dir}/{table}/*.parquet')").fetchall()
            in_duckdb = con.execute(f"describe raw.{table}").fetchall()
            assert [(r[0], r[1]) for r in in_parquet] == [(r[0], r[1]) for r in in_duckdb], table
    finally:
        con.close()
