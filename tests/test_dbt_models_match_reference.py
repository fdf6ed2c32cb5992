"""`dbt build` on a few thousand generated orders gives exactly the marts the Python reference computes.

The raw tables are built once per module, the project is built once, and each test compares one aspect
with the reference row by row (the assertion message lists the first differing rows).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import pytest

from tests.dbt_support import DbtRun, run_dbt
from tests.reference.checks import contract_differences, placement_problems, rejected_differences
from tests.reference.marts import Marts, build_marts
from tests.reference.raw_generator import random_raw_tables
from tests.reference.warehouse_io import write_raw_tables

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
    raw = random_raw_tables(random.Random(SEED), orders=ORDERS)
    with duckdb.connect(str(duckdb_path)) as con:
        write_raw_tables(con, raw)
    # The generated data rejects far more than the 5% production threshold on purpose.
    run = run_dbt(["build"], duckdb_path=duckdb_path, target_path=workdir / "target",
                  vars_="{max_rejected_share: 1}")
    # Same configuration as dbt-duckdb's connection, which the in-process adapter may still hold.
    con = duckdb.connect(str(duckdb_path))
    yield Built(run=run, con=con, expected=build_marts(raw))
    con.close()


def test_dbt_build_succeeds_on_generated_data(built: Built) -> None:
    assert built.run.success, "\n".join(built.run.failures())


def test_generated_data_exercises_every_rejection_code(built: Built) -> None:
    codes = Counter(code for _, reasons in built.expected.rejected for code in reasons.split(","))
    assert set(codes) == REJECTION_CODES, f"codes never hit: {REJECTION_CODES - set(codes)}"
    assert built.expected.ambiguous == []
    assert any(number is None for number, _ in built.expected.rejected), "no raw order row without order_no"
    assert len(built.expected.contract) > ORDERS // 2


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

