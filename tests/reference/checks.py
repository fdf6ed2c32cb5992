"""Assertions shared by the tests that hold a built DuckDB file to the reference."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import duckdb

from tests.reference.compare import describe_differences
from tests.reference.marts import CONTRACT_COLUMNS, Marts
from tests.reference.warehouse_io import read_contract, read_rejected

REJECTED_COLUMNS = ("order_number", "rejection_reasons")


def _without(rows: Iterable[tuple], order_numbers: set[str]) -> list[tuple]:
    return [row for row in rows if row[0] not in order_numbers]


def contract_differences(con: duckdb.DuckDBPyConnection, expected: Marts, skip: set[str] = frozenset()) -> str:
    """Row-by-row differences between `peak_manufacturing_orders` and the reference ('' when equal)."""
    return describe_differences(
        _without(expected.contract, skip), _without(read_contract(con), skip), columns=CONTRACT_COLUMNS
    )


def rejected_differences(con: duckdb.DuckDBPyConnection, expected: Marts, skip: set[str] = frozenset()) -> str:
    """Row-by-row differences between `peak_manufacturing_orders_rejected` and the reference."""
    return describe_differences(
        _without(expected.rejected, skip), _without(read_rejected(con), skip), columns=REJECTED_COLUMNS
    )


def placement_problems(con: duckdb.DuckDBPyConnection, expected: Marts) -> str:
    """'' when every current order is in exactly one of the two marts and nothing else is in them."""
    placed = Counter(row[0] for row in read_contract(con))
    placed.update(number for number, _ in read_rejected(con) if number is not None)
    twice = sorted(number for number, count in placed.items() if count > 1)
    missing = sorted(expected.current_order_numbers - set(placed))
    unknown = sorted(set(placed) - expected.current_order_numbers)
    problems = []
    if twice:
        problems.append(f"{len(twice)} order(s) in more than one row: {twice[:5]}")
    if missing:
        problems.append(f"{len(missing)} current order(s) in neither mart: {missing[:5]}")
    if unknown:
        problems.append(f"{len(unknown)} mart row(s) for no current order: {unknown[:5]}")
    return "; ".join(problems)


def ambiguous_order_numbers(expected: Marts) -> set[str]:
    """Order numbers whose current version docs/behaviour.md leaves open (excluded from row comparisons)."""
    return {key.split(":", 1)[1] for key in expected.ambiguous if key.startswith("orders:")}
