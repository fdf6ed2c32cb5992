"""Move raw tables and marts between DuckDB and the plain rows the reference works on."""

from __future__ import annotations

from typing import Any

import duckdb

from tests.reference.marts import CONTRACT_COLUMNS, RawTables

#: docs/behaviour.md#raw-tables: raw table -> its columns (all VARCHAR but `_extracted_at`, a TIMESTAMP).
RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    "mes_production_orders": (
        "order_no", "material_code", "plant_code", "line_code", "created_ts", "planned_qty",
        "planned_start_ts", "planned_end_ts", "status_code", "changed_ts", "_extracted_at",
    ),
    "mes_confirmations": (
        "confirmation_id", "order_no", "confirmed_ts", "yield_qty", "scrap_qty", "is_final", "_extracted_at",
    ),
    "mes_materials": ("material_code", "description", "_extracted_at"),
    "mes_plants": ("plant_code", "plant_name", "is_factory", "_extracted_at"),
}
_FIELD_BY_TABLE = {
    "mes_production_orders": "orders",
    "mes_confirmations": "confirmations",
    "mes_materials": "materials",
    "mes_plants": "plants",
}

CONTRACT_MODEL = "peak_manufacturing_orders"
REJECTED_MODEL = "peak_manufacturing_orders_rejected"


def write_raw_tables(con: duckdb.DuckDBPyConnection, raw: RawTables, schema: str = "raw") -> None:
    """(Re)create the four raw tables of docs/behaviour.md#raw-tables in ``schema`` holding exactly ``raw``'s rows."""
    con.execute(f'create schema if not exists "{schema}"')
    for table, columns in RAW_COLUMNS.items():
        ddl = ", ".join(
            f'"{c}" {"timestamp" if c == "_extracted_at" else "varchar"}' for c in columns
        )
        con.execute(f'create or replace table "{schema}"."{table}" ({ddl})')
        rows = [tuple(row.get(c) for c in columns) for row in getattr(raw, _FIELD_BY_TABLE[table])]
        if rows:
            placeholders = ", ".join("?" for _ in columns)
            con.executemany(f'insert into "{schema}"."{table}" values ({placeholders})', rows)


def read_raw_tables(con: duckdb.DuckDBPyConnection, schema: str = "raw") -> RawTables:
    """The four raw tables as lists of dicts, as the loader (or the sample-data generator) wrote them."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for table, columns in RAW_COLUMNS.items():
        select = ", ".join(f'"{c}"' for c in columns)
        fetched = con.execute(f'select {select} from "{schema}"."{table}"').fetchall()
        tables[_FIELD_BY_TABLE[table]] = [dict(zip(columns, row, strict=True)) for row in fetched]
    return RawTables(**tables)


def _relation(con: duckdb.DuckDBPyConnection, model: str) -> str:
    schemas = [
        r[0]
        for r in con.execute(
            "select table_schema from information_schema.tables where table_name = ?", [model]
        ).fetchall()
    ]
    if len(schemas) != 1:
        raise LookupError(f"expected exactly one relation named {model}, found it in schemas {schemas}")
    return f'"{schemas[0]}"."{model}"'


def read_contract(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """`peak_manufacturing_orders` rows, columns in CONTRACT_COLUMNS order."""
    select = ", ".join(f'"{c}"' for c in CONTRACT_COLUMNS)
    return [tuple(r) for r in con.execute(f"select {select} from {_relation(con, CONTRACT_MODEL)}").fetchall()]


def read_rejected(con: duckdb.DuckDBPyConnection) -> list[tuple[str | None, str]]:
    """`peak_manufacturing_orders_rejected` rows as (order_number, rejection_reasons)."""
    query = f"select order_number, rejection_reasons from {_relation(con, REJECTED_MODEL)}"
    return [(r[0], r[1]) for r in con.execute(query).fetchall()]
