"""Arbitrary text in every raw column never breaks `dbt build`, and the marts still equal the reference.

Each hypothesis example is a small set of plausible raw tables (so joins between orders, confirmations,
materials and plants happen) in which any text cell may be replaced by arbitrary text or null. Every
example builds the real project, so there are only a few of them.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dbt_support import run_dbt
from tests.reference.checks import (
    ambiguous_order_numbers,
    contract_differences,
    placement_problems,
    rejected_differences,
)
from tests.reference.marts import build_marts
from tests.reference.raw_generator import random_raw_tables
from tests.reference.warehouse_io import write_raw_tables

pytestmark = pytest.mark.slow

JUNK = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.text(alphabet=st.characters(categories=["Cc", "Zs", "Nd", "Po"]), max_size=10),
        st.sampled_from(["CNF", " teco ", "PO-000001", "MAT-000", "P01", "2025-01-01", "-1", "1.0"]),
    ),
    min_size=1,
    max_size=15,
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad_raw_data")


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    orders=st.integers(5, 40),
    chaos=st.floats(0.02, 0.6),
    junk=JUNK,
)
def test_arbitrary_raw_text_builds_and_matches_reference(
    workdir: Path, seed: int, orders: int, chaos: float, junk: list[str]
) -> None:
    raw = random_raw_tables(random.Random(seed), orders=orders, chaos=chaos, junk=junk)
    expected = build_marts(raw)
    assert all(key.startswith("orders:") for key in expected.ambiguous), expected.ambiguous

    run_dir = workdir / uuid.uuid4().hex
    run_dir.mkdir()
    duckdb_path = run_dir / "warehouse.duckdb"
    with duckdb.connect(str(duckdb_path)) as con:
        write_raw_tables(con, raw)
    # Random data rejects any share of orders; the production threshold test must not trip here.
    run = run_dbt(["build"], duckdb_path=duckdb_path, target_path=run_dir / "target",
                  vars_="{max_rejected_share: 1}")
    assert run.success, "dbt build failed:\n" + "\n".join(run.failures())

    con = duckdb.connect(str(duckdb_path))
    try:
        skip = ambiguous_order_numbers(expected)
        problems = "\n".join(
            text
            for text in (
                placement_problems(con, expected),
                contract_differences(con, expected, skip),
                rejected_differences(con, expected, skip),
            )
            if text
        )
    finally:
        con.close()
    assert problems == "", problems
