"""The sandbox's schema endpoints: the solutions it knows and, per table, columns, types, validations and
primary keys, all derived from the sandbox's own :mod:`mo_export_dev.sandbox.contract`.

The public guide names ``GET /api/v2/schema/solutions`` (solution name, prefix, suffix, target schema,
table count) and a per-table description, without the exact path or shape; the sandbox serves the paths
and the shape :mod:`exporter.schema_compare` assumes (each module spells the paths itself, so they are
compared by the tests, not shared):

* ``GET /api/v2/schema/solutions`` ->
  ``{"solutions": [{"solutionName", "prefix", "suffix", "targetSchema", "tableCount"}]}``
* ``GET /api/v2/schema/solutions/{solution_name}/tables`` ->
  ``{"solutionName", "tables": [{"name", "columns": [{"name", "type", "validations"}], "primaryKeys"}]}``

Every object the sandbox serves is a table, with its own contract's columns and keys (the manufacturing
orders' tables first, then Locations). ``SandboxConfig.schema_types`` serves another type for chosen columns
of the manufacturing orders' tables (a destination whose table drifted from the contract);
``schema_endpoint=False`` leaves both paths unrouted (404), like a tenant without them.
"""

from __future__ import annotations

from typing import Any

from mo_export_dev.sandbox import contract
from mo_export_dev.sandbox.config import SandboxConfig

REQUIRED = "required"
TIMESTAMP_FORMAT_VALIDATION = f"format:{contract.TIMESTAMP_SHAPE}"


def served_solution(config: SandboxConfig) -> str:
    """The solution the sandbox describes: the one it requires, or the default when it accepts any."""
    return config.solution_name or contract.SOLUTION


def solutions_document(config: SandboxConfig) -> dict[str, Any]:
    name = served_solution(config)
    prefix, _, suffix = contract.OBJECT.partition(contract.OBJECT_STEM)
    return {
        "solutions": [
            {
                "solutionName": name,
                "prefix": prefix,
                "suffix": suffix,
                "targetSchema": name.lower(),
                "tableCount": len(config.objects),
            }
        ]
    }


def tables_document(config: SandboxConfig) -> dict[str, Any]:
    overrides = dict(config.schema_types)
    tables = [
        _table(name, contract.object_contract(name), overrides if contract.is_order_object(name) else {})
        for name in sorted(config.objects, key=lambda name: (not contract.is_order_object(name), name))
    ]
    return {"solutionName": served_solution(config), "tables": tables}


def _table(name: str, obj: contract.ObjectContract, overrides: dict[str, str]) -> dict[str, Any]:
    columns = []
    for column in obj.columns:
        validations = [REQUIRED] if column.required else []
        if column.type == "timestamp":
            validations.append(TIMESTAMP_FORMAT_VALIDATION)
        columns.append(
            {"name": column.name, "type": overrides.get(column.name, column.type),
             "validations": validations}
        )
    return {"name": name, "columns": columns, "primaryKeys": list(obj.primary_key)}
