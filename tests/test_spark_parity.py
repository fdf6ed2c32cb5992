"""The dbt project on Spark (target `spark`): the same marts as on DuckDB, incrementally too, and exported.

One sample data set is written to a DuckDB file and, as Parquet, to a raw folder. Three rounds share one
module fixture, so the whole module costs three Spark builds:

1. DuckDB builds the data; Spark builds it in its own `dbt build --target spark` process on
   `local-cluster[2,1,1024]` (a master and two executors in separate JVMs, so the models really run
   distributed), unit tests and data tests included. `mo-export run --target spark` exports the
   contract model from Spark's Parquet files to the sandbox, its state in a DuckDB file of its own.
2. A later extraction is appended to the raw data. DuckDB rebuilds it with `--full-refresh`; Spark
   builds it incrementally on `local[2]` (no unit tests: they ran in round 1). The export runs again
   and sends only the rows that changed.
3. A random extraction (tests/freshness_extractions.py: new orders, header changes, late, duplicated,
   moved and reversed confirmations, master-data changes) is appended; DuckDB rebuilds it with
   `--full-refresh`, Spark builds it incrementally again (`dbt run`: the models only), on top of its
   append-only current state.

Spark's marts (copied after each round) are read with DuckDB's read_parquet and compared with the
DuckDB marts row for row (multisets, both directions). Small data and one shuffle partition keep the
module to a few minutes, nearly all of it JVM start-up and Spark planning. Selected with `-m spark`
(`make test-spark`); skipped when the `spark` extra or Java is missing.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from mo_export_dev.sample_data import generate, simulate_next_extraction
from mo_export_dev.sample_data.parquet import RAW_TABLES, write_raw_parquet
from mo_export_dev.sandbox import SandboxConfig, running_sandbox
from tests.dbt_support import PROJECT_DIR, run_dbt_subprocess
from tests.export_support import TOKEN, Project, sandbox_rows
from tests.freshness_extractions import append_random_extraction

pytest.importorskip("pyspark", reason="needs the spark extra: uv sync --extra spark (make test-spark)")
pytest.importorskip("dbt.adapters.spark", reason="needs the spark extra: uv sync --extra spark (make test-spark)")
if shutil.which("java") is None:
    pytest.skip("needs Java 17 for Spark", allow_module_level=True)

# the first test pays for both rounds (two Spark builds) in its set-up
pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1500)]

MARTS = ("peak_manufacturing_orders", "peak_manufacturing_orders_rejected", "peak_locations", "peak_locations_rejected")
ORDERS = 400
CHANGED_ORDERS = 12


@dataclass(frozen=True)
class Round:
    """One build of the same raw data on both engines, and the export after it."""

    duckdb: Project  # a copy of the DuckDB build, kept as it was after this round
    spark_marts: Path  # a copy of Spark's mart folders, <spark_marts>/<model>/*.parquet
    spark_process: subprocess.CompletedProcess[str]
    spark_target: Path
    export_process: subprocess.CompletedProcess[str]
    export_summary: dict[str, Any]
    sandbox_rows: dict[tuple[str, str, str, str], dict[str, Any]]


@dataclass(frozen=True)
class SparkRounds:
    folder: Path
    first: Round
    second: Round
    third: Round
    changed_orders: set[str]
    state_path: Path
    spark_warehouse: Path
    #: the state's ``delivered`` view read after round 2's export: it joins the ledger with the model, and
    #: round 3 (built, not exported) changes the model under it
    delivered_after_second: int


def _spark_build(folder: Path, target: Path, master: str, *args: str,
                 command: str = "build") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MO_RAW_PARQUET_DIR": str(folder / "raw"),
        "MO_SPARK_WAREHOUSE": str(folder / "spark-warehouse"),
        "MO_SPARK_MASTER": master,
        "MO_SPARK_SHUFFLE_PARTITIONS": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [
        str(Path(sys.executable).with_name("dbt")), command, "--target", "spark", *args,
        "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(target / "logs"),
    ]
    return subprocess.run(command, env=env, cwd=folder, capture_output=True, text=True, timeout=900, check=False)


def export_env(folder: Path, spark_target: Path, base_url: str) -> dict[str, str]:
    """`mo-export run --target spark`: no MO_DUCKDB_PATH at all, the state in MO_STATE_PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MO_", "PEAK_"))}
    return {
        **env,
        "PEAK_API_KEY": TOKEN,
        "PEAK_BASE_URL": base_url,
        "MO_DBT_TARGET_PATH": str(spark_target),
        "MO_SPARK_WAREHOUSE": str(folder / "spark-warehouse"),
        "MO_STATE_PATH": str(folder / "state" / "export_state.duckdb"),
    }


def _export(folder: Path, spark_target: Path, base_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", "run", "--target", "spark", "--no-progress", *args],
        env=export_env(folder, spark_target, base_url), cwd=folder, capture_output=True, text=True,
        timeout=300, check=False,
    )


def _round(folder: Path, name: str, duckdb_path: Path, duckdb_target: Path, spark_target: Path,
           spark_process: subprocess.CompletedProcess[str], sandbox: Any) -> Round:
    kept = Project(duckdb_path, duckdb_target).copy_to(folder / f"{name}_duckdb")
    marts = folder / f"{name}_spark_marts"
    for model in MARTS:
        source = folder / "spark-warehouse" / "mo_export.db" / model
        if source.is_dir():
            shutil.copytree(source, marts / model)
    export = _export(folder, spark_target, sandbox.base_url) if spark_process.returncode == 0 else None
    results = spark_target / "export_results.json"
    return Round(
        duckdb=kept,
        spark_marts=marts,
        spark_process=spark_process,
        spark_target=spark_target,
        export_process=export or subprocess.CompletedProcess([], -1, "", "the Spark build failed: not exported"),
        export_summary=orjson.loads(results.read_bytes()) if export and results.exists() else {},
        sandbox_rows=sandbox_rows(sandbox),
    )


def _current_deliveries(state_path: Path) -> int:
    """Rows of the model whose current content the destination acknowledged, as the state reports them."""
    con = duckdb.connect(str(state_path), read_only=True)
    try:
        return con.execute("select count(*) from mo_export_state.delivered where is_current").fetchall()[0][0]
    finally:
        con.close()


def _marts_round(folder: Path, name: str, duckdb_path: Path, duckdb_target: Path, spark_target: Path,
                 spark_process: subprocess.CompletedProcess[str]) -> Round:
    """A round compared for its marts only: not exported."""
    kept = Project(duckdb_path, duckdb_target).copy_to(folder / f"{name}_duckdb")
    marts = folder / f"{name}_spark_marts"
    for model in MARTS:
        source = folder / "spark-warehouse" / "mo_export.db" / model
        if source.is_dir():
            shutil.copytree(source, marts / model)
    return Round(duckdb=kept, spark_marts=marts, spark_process=spark_process, spark_target=spark_target,
                 export_process=subprocess.CompletedProcess([], 0, "", ""), export_summary={}, sandbox_rows={})


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkRounds]:
    folder = tmp_path_factory.mktemp("spark")
    duckdb_path = folder / "warehouse.duckdb"
    generate(duckdb_path, orders=ORDERS, seed=11)
    with running_sandbox(SandboxConfig(token=TOKEN, store_path=folder / "sandbox.sqlite", rate_limit_rps=0)) as sandbox:
        # round 1: a full build on both engines, Spark with real executor processes
        write_raw_parquet(duckdb_path, folder / "raw")
        duck = run_dbt_subprocess(["build"], duckdb_path=duckdb_path, target_path=folder / "duckdb_1")
        assert duck.returncode == 0, duck.stdout[-4000:]
        spark = _spark_build(folder, folder / "spark_1", "local-cluster[2,1,1024]")
        first = _round(folder, "round_1", duckdb_path, folder / "duckdb_1", folder / "spark_1", spark, sandbox)

        # round 2: a later extraction; DuckDB rebuilds everything, Spark builds incrementally
        changed = set(simulate_next_extraction(duckdb_path, changed_orders=CHANGED_ORDERS, seed=5))
        write_raw_parquet(duckdb_path, folder / "raw")
        duck = run_dbt_subprocess(["build", "--full-refresh", "--exclude-resource-type", "unit_test"],
                                  duckdb_path=duckdb_path, target_path=folder / "duckdb_2")
        assert duck.returncode == 0, duck.stdout[-4000:]
        spark = _spark_build(folder, folder / "spark_2", "local[2]", "--exclude-resource-type", "unit_test")
        second = _round(folder, "round_2", duckdb_path, folder / "duckdb_2", folder / "spark_2", spark, sandbox)
        delivered = _current_deliveries(folder / "state" / "export_state.duckdb")

        # round 3: a random extraction; DuckDB rebuilds everything, Spark runs its models incrementally
        with duckdb.connect(str(duckdb_path)) as con:
            append_random_extraction(con, random.Random(17))
        write_raw_parquet(duckdb_path, folder / "raw")
        duck = run_dbt_subprocess(["run", "--full-refresh"], duckdb_path=duckdb_path, target_path=folder / "duckdb_3")
        assert duck.returncode == 0, duck.stdout[-4000:]
        spark = _spark_build(folder, folder / "spark_3", "local[2]", command="run")
        third = _marts_round(folder, "round_3", duckdb_path, folder / "duckdb_3", folder / "spark_3", spark)
    yield SparkRounds(folder, first, second, third, changed, folder / "state" / "export_state.duckdb",
                      folder / "spark-warehouse", delivered)


def _statuses(target: Path) -> dict[str, str]:
    results = orjson.loads((target / "run_results.json").read_bytes())["results"]
    return {r["unique_id"]: r["status"] for r in results}


def _spark_mart(marts: Path, model: str) -> str:
    files = marts / model
    assert any(files.glob("*.parquet")), f"no Parquet files under {files}"
    return f"read_parquet('{files}/*.parquet')"


def test_spark_build_passes_every_model_unit_test_and_data_test(rounds: SparkRounds) -> None:
    first = rounds.first
    assert first.spark_process.returncode == 0, first.spark_process.stdout[-4000:]
    statuses = _statuses(first.spark_target)
    duckdb_nodes = set(_statuses(first.duckdb.target_path))
    unit_tests = [uid for uid in statuses if uid.startswith("unit_test.")]
    assert len(unit_tests) >= 10
    # every model, unit test and data test of the DuckDB build ran on Spark too, plus the not-null
    # check that stands in for the constraints Spark does not enforce
    assert set(statuses) - duckdb_nodes == {"test.mo_export.assert_contract_required_columns_not_null"}
    assert duckdb_nodes - set(statuses) == set()
    not_passed = {uid: s for uid, s in statuses.items() if s not in ("success", "pass", "no-op")}
    # the orphan confirmations the sample data plants are a warning by design
    assert not_passed == {"test.mo_export.assert_confirmations_have_an_order": "warn"}


def test_incremental_spark_build_after_an_extraction_passes_its_data_tests(rounds: SparkRounds) -> None:
    second = rounds.second
    assert second.spark_process.returncode == 0, second.spark_process.stdout[-4000:]
    statuses = _statuses(second.spark_target)
    assert not [uid for uid in statuses if uid.startswith("unit_test.")]
    not_passed = {uid: s for uid, s in statuses.items() if s not in ("success", "pass", "no-op")}
    # an incremental build counts the unattached confirmations among the new ones only: none here
    assert not_passed == {}


@pytest.mark.parametrize("which", ["first", "second", "third"])
@pytest.mark.parametrize("model", MARTS)
def test_spark_mart_equals_duckdb_full_build_row_for_row(rounds: SparkRounds, which: str, model: str) -> None:
    """Round 1: both full builds. Rounds 2 and 3: Spark's incremental builds against DuckDB's full rebuilds."""
    done: Round = getattr(rounds, which)
    assert done.spark_process.returncode == 0, done.spark_process.stdout[-4000:]
    con = duckdb.connect(str(done.duckdb.duckdb_path), read_only=True)
    try:
        spark = _spark_mart(done.spark_marts, model)
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


def test_extraction_round_changes_the_contract_mart(rounds: SparkRounds) -> None:
    """The second round is a real change: the changed orders' contract rows differ between the rounds."""
    before, after = rounds.first.duckdb.contract_rows(), rounds.second.duckdb.contract_rows()
    changed_keys = {k for k, row in after.items() if before.get(k) != row}
    assert {k[2] for k in changed_keys} == rounds.changed_orders
    assert len(rounds.changed_orders) == CHANGED_ORDERS


def test_contract_mart_keeps_its_types_on_spark(rounds: SparkRounds) -> None:
    con = duckdb.connect()
    try:
        spark = _spark_mart(rounds.first.spark_marts, "peak_manufacturing_orders")
        types = dict(con.execute(f"select column_name, column_type from (describe select * from {spark})").fetchall())
    finally:
        con.close()
    assert types["order_number"] == "VARCHAR"
    assert types["ordered_units"] == "BIGINT"
    # a plain timestamp (UTC wall-clock), as on DuckDB: not TIMESTAMP WITH TIME ZONE, not INT96
    assert types["updated_at"] == "TIMESTAMP"


def test_raw_parquet_has_the_raw_layout(rounds: SparkRounds) -> None:
    con = duckdb.connect(str(rounds.second.duckdb.duckdb_path), read_only=True)
    try:
        raw_dir = rounds.folder / "raw"
        for table in RAW_TABLES:
            in_parquet = con.execute(f"describe select * from read_parquet('{raw_dir}/{table}/*.parquet')").fetchall()
            in_duckdb = con.execute(f"describe raw.{table}").fetchall()
            assert [(r[0], r[1]) for r in in_parquet] == [(r[0], r[1]) for r in in_duckdb], table
    finally:
        con.close()


def test_export_of_the_spark_build_delivers_the_contract_mart(rounds: SparkRounds) -> None:
    first = rounds.first
    assert first.export_process.returncode == 0, first.export_process.stderr[-4000:]
    expected = first.duckdb.contract_rows()  # equal to Spark's mart (the parity test)
    assert first.export_summary["rows"]["sent"] == len(expected) > 0
    assert first.export_summary["rows"]["acknowledged"] == len(expected)
    assert first.sandbox_rows == expected


def test_second_export_of_the_spark_build_sends_only_the_changed_rows(rounds: SparkRounds) -> None:
    before, after = rounds.first.duckdb.contract_rows(), rounds.second.duckdb.contract_rows()
    new_or_changed = {k for k, row in after.items() if before.get(k) != row}
    second = rounds.second
    assert second.export_process.returncode == 0, second.export_process.stderr[-4000:]
    assert second.export_summary["mode"] == "incremental"
    assert second.export_summary["rows"]["sent"] == len(new_or_changed) > 0
    assert second.export_summary["rows"]["unchanged"] == len(after) - len(new_or_changed)
    assert all(second.sandbox_rows[k] == row for k, row in after.items())


def test_export_state_of_the_spark_build_lives_in_the_state_file(rounds: SparkRounds) -> None:
    con = duckdb.connect(str(rounds.state_path), read_only=True)
    try:
        runs = con.execute("select status from mo_export_state.runs order by started_at").fetchall()
    finally:
        con.close()
    assert [r[0] for r in runs] == ["success", "success"]
    assert rounds.delivered_after_second == len(rounds.second.duckdb.contract_rows())
    # nothing of the export's state went into the Spark warehouse
    assert not list(rounds.spark_warehouse.glob("mo_export_state*"))


def test_export_refuses_a_spark_model_rebuilt_without_its_tests(rounds: SparkRounds, tmp_path: Path) -> None:
    """The build guard reads Spark's own verdict table: a later `dbt run` of the model, untested, stops it."""
    warehouse = tmp_path / "spark-warehouse"
    for table in ("mo_export.db/peak_manufacturing_orders", "mo_export_build.db/node_results"):
        shutil.copytree(rounds.spark_warehouse / table, warehouse / table)
    verdicts = warehouse / "mo_export_build.db" / "node_results"
    con = duckdb.connect()
    try:
        con.execute(
            f"""copy (select 'a-later-run' as invocation_id, 'run' as command,
                        'peak_manufacturing_orders' as selection,
                        'model.mo_export.peak_manufacturing_orders' as unique_id, 'model' as resource_type,
                        'success' as status, '' as message, '' as started_at,
                        timestamp '2999-01-01 00:00:00' as recorded_at)
                to '{verdicts}/part-later-run.parquet' (format parquet)"""
        )
    finally:
        con.close()
    env = {
        **export_env(tmp_path, rounds.second.spark_target, "http://127.0.0.1:9"),
        "MO_STATE_PATH": str(tmp_path / "state.duckdb"),
    }
    refused = subprocess.run(
        [sys.executable, "-m", "exporter", "run", "--target", "spark", "--dry-run", "--no-progress",
         "--object", "peak_manufacturing_orders", "--results-path", str(tmp_path / "results.json")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert refused.returncode == 3, refused.stderr[-3000:]
    assert "was not tested" in refused.stderr
    assert "a-later-run" in refused.stderr
