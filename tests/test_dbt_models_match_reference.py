"""`dbt build` on a few thousand sample-data orders gives exactly the marts the Python reference computes.

The raw tables come from the project's own generator (`mo_export_dev.sample_data.generate`), read back into
Python and fed to the reference.

The raw tables are built once per module, the project is built once, and each test compares one aspect
with the reference row by row (the assertion message lists the first differing rows).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import orjson
import pytest

from mo_export_dev.sample_data import generate
from tests.dbt_support import DbtRun, run_dbt
from tests.reference.checks import contract_differences, placement_problems, rejected_differences
from tests.reference.marts import Marts, build_marts
from tests.reference.warehouse_io import read_raw_tables

pytestmark = pytest.mark.slow

ORDERS = 3000
SEED = 20250101
REJECTION_CODES = {
    "missing_required", "invalid_timestamp", "invalid_ordered_units", "invalid_confirmation",
    "negative_produced_units", "expected_end_before_start", "actual_end_before_start", "unknown_product",
    "unknown_location", "location_not_factory", "unknown_status",
}


@dataclass(frozen=True)
class Built:
    run: DbtRun
    con: duckdb.DuckDBPyConnection
    expected: Marts


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    workdir = tmp_path_factory.mktemp("models_match_reference")
    duckdb_path = workdir / "warehouse.duckdb"
    generate(duckdb_path, orders=ORDERS, seed=SEED)
    with duckdb.connect(str(duckdb_path)) as con:
        raw = read_raw_tables(con)
    # Default vars: the sample data must also pass the production rejected-share threshold.
    run = run_dbt(["build"], duckdb_path=duckdb_path, target_path=workdir / "target")
    # Same configuration as dbt-duckdb's connection, which the in-process adapter may still hold.
    con = duckdb.connect(str(duckdb_path))
    yield Built(run=run, con=con, expected=build_marts(raw))
    con.close()


def test_dbt_build_succeeds_on_generated_data(built: Built) -> None:
    assert built.run.success, "\n".join(built.run.failures())


def test_this_build_runs_every_unit_test_of_the_project(built: Built) -> None:
    # the one DuckDB build of the suite that runs them all (sample builds elsewhere leave them out)
    results = built.run.result.result.results
    unit = [r for r in results if r.node.resource_type == "unit_test"]
    declared = orjson.loads((built.run.target_path / "manifest.json").read_bytes())["unit_tests"]
    assert {r.node.unique_id for r in unit} == set(declared) and len(declared) > 20
    assert all(str(r.status) == "pass" for r in unit), [(r.node.name, str(r.status)) for r in unit]


def test_generated_data_exercises_every_rejection_code(built: Built) -> None:
    codes = Counter(code for _, reasons in built.expected.rejected for code in reasons.split(","))
    assert set(codes) == REJECTION_CODES, f"codes never hit: {REJECTION_CODES - set(codes)}"
    assert built.expected.ambiguous == []
    assert any(number is None for number, _ in built.expected.rejected), "no raw order row without order_no"
    assert len(built.expected.contract) > ORDERS // 2
    assert len(built.expected.rejected) > 10


def test_contract_mart_matches_reference_row_by_row(built: Built) -> None:
    differences = contract_differences(built.con, built.expected)
    assert differences == "", differences


def test_rejected_mart_matches_reference_row_by_row(built: Built) -> None:
    differences = rejected_differences(built.con, built.expected)
    assert differences == "", differences


def test_every_current_order_is_in_exactly_one_mart(built: Built) -> None:
    assert len(built.expected.current_order_numbers) > ORDERS * 0.9
    problems = placement_problems(built.con, built.expected)
    assert problems == "", problems

