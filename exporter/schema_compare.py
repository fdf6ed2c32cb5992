"""The destination's schema endpoint, read tolerantly, and compared with the contract.

The public guide describes ``GET /api/v2/schema/solutions`` (solutions: name, prefix, suffix, target schema,
table count) and, per table, columns, types, validations and primary keys, but not the exact path or JSON
shape. This module is the one place that assumes them (the sandbox serves the same, see
:mod:`mo_export_dev.sandbox.schema`): the paths below, and documents like

* solutions: ``{"solutions": [{"solutionName": "INV_OOTB", "prefix": ..., "suffix": ..., ...}]}``
* tables of a solution: ``{"tables": [{"name": ..., "columns": [{"name", "type", "validations"}],
  "primaryKeys": [...]}]}``

Readers accept a bare list instead of the wrapping object, ``name`` for ``solutionName``, ``dataType``
for ``type``, ``primaryKey`` for ``primaryKeys``, and validations as strings or ``{"type": ...}`` objects;
anything else that does not fit is :class:`SchemaShapeError`, which the check reports as a skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from exporter.contract import ObjectContract

SOLUTIONS_PATH = "/api/v2/schema/solutions"
TABLES_PATH_TEMPLATE = "/api/v2/schema/solutions/{solution_name}/tables"

#: Type names a destination may use for the contract's three API types.
_TYPE_ALIASES = {
    "string": "string", "varchar": "string", "text": "string", "str": "string",
    "integer": "integer", "int": "integer", "bigint": "integer", "long": "integer",
    "timestamp": "timestamp", "datetime": "timestamp", "timestamp_ntz": "timestamp",
    "boolean": "boolean", "bool": "boolean",
}
_REQUIRED_VALIDATIONS = {"required", "not_null", "notnull", "not null", "non_null"}


class SchemaShapeError(ValueError):
    """A schema document this module cannot read."""


@dataclass(frozen=True)
class DestinationColumn:
    name: str
    api_type: str
    required: bool


@dataclass(frozen=True)
class DestinationTable:
    name: str
    columns: tuple[DestinationColumn, ...]
    primary_key: tuple[str, ...]


@dataclass(frozen=True)
class SchemaComparison:
    #: differences that make rows fail or land differently: the check fails on any
    problems: tuple[str, ...]
    #: differences that do no harm (an optional destination column the contract does not send)
    notes: tuple[str, ...]


def schema_paths(solution_name: str) -> tuple[str, ...]:
    """The GETs to make, in order: the solutions, then the tables of ``solution_name``."""
    return SOLUTIONS_PATH, TABLES_PATH_TEMPLATE.format(solution_name=quote(solution_name, safe=""))


def solution_names(document: Any) -> list[str]:
    """The solution names a solutions document lists."""
    entries = _entries(document, "solutions")
    names = [entry.get("solutionName", entry.get("name")) for entry in entries]
    if not all(isinstance(name, str) for name in names):
        raise SchemaShapeError("a solution entry has no solutionName")
    return names


def find_table(document: Any, table_name: str) -> DestinationTable | None:
    """``table_name``'s description in a tables document, or None when the solution has no such table."""
    for entry in _entries(document, "tables"):
        if entry.get("name", entry.get("tableName")) != table_name:
            continue
        raw_columns = entry.get("columns")
        if not isinstance(raw_columns, list) or not raw_columns:
            raise SchemaShapeError(f"table {table_name} has no columns list")
        columns = tuple(_column(c, table_name) for c in raw_columns)
        key = entry.get("primaryKeys", entry.get("primaryKey")) or []
        if isinstance(key, str):
            key = [key]
        if not isinstance(key, list) or not all(isinstance(k, str) for k in key):
            raise SchemaShapeError(f"table {table_name} has primary keys that are not a list of column names")
        return DestinationTable(table_name, columns, tuple(key))
    return None


def compare_with_contract(table: DestinationTable, contract: ObjectContract) -> SchemaComparison:
    """What differs between ``table`` and the contract's attributes, types, requiredness and key."""
    problems: list[str] = []
    notes: list[str] = []
    theirs = {c.name: c for c in table.columns}
    for attribute in contract.attributes:
        column = theirs.get(attribute.name)
        if column is None:
            problems.append(f"{attribute.name} is not a column of the destination")
            continue
        if _TYPE_ALIASES.get(column.api_type.lower(), column.api_type) != attribute.api_type:
            problems.append(f"{attribute.name} is {column.api_type} there, the contract sends {attribute.api_type}")
        if column.required and not attribute.required:
            problems.append(f"{attribute.name} is required there, the contract may send null")
    for column in table.columns:
        if column.name in contract.attribute_names:
            continue
        if column.required:
            problems.append(f"{column.name} is required there and the contract does not send it")
        else:
            notes.append(f"{column.name} is an optional column there that the contract does not send")
    if set(table.primary_key) != set(contract.primary_key) and table.primary_key:
        problems.append(
            f"the primary key there is ({', '.join(table.primary_key)}), the contract's is "
            f"({', '.join(contract.primary_key)})"
        )
    return SchemaComparison(tuple(problems), tuple(notes))


def _entries(document: Any, key: str) -> list[dict[str, Any]]:
    entries = document.get(key) if isinstance(document, dict) else document
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise SchemaShapeError(f"expected a list of {key} (or an object with {key!r}), got {_kind(document)}")
    return entries


def _column(raw: Any, table_name: str) -> DestinationColumn:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise SchemaShapeError(f"a column of table {table_name} has no name")
    api_type = raw.get("type", raw.get("dataType"))
    if not isinstance(api_type, str):
        raise SchemaShapeError(f"column {raw['name']} of table {table_name} has no type")
    validations = raw.get("validations") or []
    names = {
        str(v.get("type", v.get("name", "")) if isinstance(v, dict) else v).strip().lower()
        for v in (validations if isinstance(validations, list) else [validations])
    }
    required = bool(names & _REQUIRED_VALIDATIONS) or raw.get("nullable") is False
    return DestinationColumn(raw["name"], api_type, required)


def _kind(value: Any) -> str:
    return type(value).__name__ if value is not None else "nothing"
