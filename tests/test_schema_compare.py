"""Reading a destination's schema document tolerantly, and comparing its table with the contract."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.schema_compare import (
    SchemaShapeError,
    compare_with_contract,
    find_table,
    schema_paths,
    solution_names,
)
from tests.reference_contract import ATTRIBUTES, DEFAULT_OBJECT_NAME, MANUFACTURING_ORDERS, PRIMARY_KEY


def contract_columns(**types: str) -> list[dict[str, Any]]:
    return [{"name": a.name, "type": types.get(a.name, a.api_type), "validations": ["required"] if a.required else []}
            for a in ATTRIBUTES]


def tables(columns: list[dict[str, Any]], key: list[str] | None = None) -> dict[str, Any]:
    return {"tables": [{"name": DEFAULT_OBJECT_NAME, "columns": columns,
                        "primaryKeys": list(PRIMARY_KEY) if key is None else key}]}


def test_paths_quote_the_solution_name() -> None:
    assert schema_paths("INV OOTB") == ("/api/v2/schema/solutions", "/api/v2/schema/solutions/INV%20OOTB/tables")


def test_solution_names_accept_the_wrapped_and_the_bare_list() -> None:
    assert solution_names({"solutions": [{"solutionName": "INV_OOTB"}, {"solutionName": "X"}]}) == ["INV_OOTB", "X"]
    assert solution_names([{"name": "INV_OOTB", "tableCount": 3}]) == ["INV_OOTB"]
    with pytest.raises(SchemaShapeError, match="list of solutions"):
        solution_names({"items": []})


def test_the_contract_itself_compares_equal() -> None:
    table = find_table(tables(contract_columns()), DEFAULT_OBJECT_NAME)
    assert table is not None
    assert compare_with_contract(table, MANUFACTURING_ORDERS).problems == ()


def test_type_aliases_and_other_spellings_are_understood() -> None:
    columns = [{"name": c["name"], "dataType": {"string": "VARCHAR", "integer": "bigint", "timestamp": "datetime"}
                [c["type"]], "validations": [{"type": "NOT_NULL"}] if c["validations"] else []}
               for c in contract_columns()]
    table = find_table([{"name": DEFAULT_OBJECT_NAME, "columns": columns, "primaryKey": list(PRIMARY_KEY)}],
                       DEFAULT_OBJECT_NAME)
    assert table is not None and compare_with_contract(table, MANUFACTURING_ORDERS).problems == ()


def test_differences_are_named_column_by_column() -> None:
    columns = [c for c in contract_columns(ordered_units="string") if c["name"] != "source_id"]
    columns[-2]["validations"] = ["required"]  # status: optional in the contract
    columns.append({"name": "priority", "type": "integer", "validations": ["required"]})
    columns.append({"name": "note", "type": "string", "validations": []})
    table = find_table(tables(columns, key=["product_id", "location_id", "order_number"]), DEFAULT_OBJECT_NAME)
    assert table is not None
    result = compare_with_contract(table, MANUFACTURING_ORDERS)
    assert result.problems == (
        "source_id is not a column of the destination",
        "ordered_units is string there, the contract sends integer",
        "status is required there, the contract may send null",
        "priority is required there and the contract does not send it",
        "the primary key there is (product_id, location_id, order_number), the contract's is "
        "(product_id, location_id, order_number, updated_at)",
    )
    assert result.notes == ("note is an optional column there that the contract does not send",)


def test_an_absent_table_is_none_and_an_unreadable_one_an_error() -> None:
    assert find_table(tables(contract_columns()), "INV_OTHER") is None
    with pytest.raises(SchemaShapeError, match="no columns"):
        find_table({"tables": [{"name": DEFAULT_OBJECT_NAME}]}, DEFAULT_OBJECT_NAME)
    with pytest.raises(SchemaShapeError, match="has no type"):
        find_table(tables([{"name": "order_number"}]), DEFAULT_OBJECT_NAME)
