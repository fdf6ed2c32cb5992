"""The sandbox's schema endpoints: the solutions it knows and, per table, columns, types, validations and
primary keys, all derived from :mod:`exporter.contract`.

The public guide names ``GET /api/v2/schema/solutions`` (solution name, prefix, suffix, target schema,
table count) and a per-table description, without the exact path or shape; the sandbox serves the paths
and the shape :mod:`exporter.schema_compare` assumes (it takes the paths from there), so that module and
this one change together if Peak's differ:

* ``GET /api/v2/schema/solutions`` ->
  ``{"solutions": [{"solutionName", "prefix", "suffix", "targetSchema", "tableCount"}]}``
* ``GET /api/v2/schema/solutions/{solution_name}/tables`` ->
  ``{"solutionName", "tables": [{"name", "columns": [{"name", "type", "validations"}], "primaryKeys"}]}``

``SandboxConfig.schema_types`` serves another type for chosen columns (a destination whose table drifted
from the contract); ``schema_endpoint=False`` leaves both paths unrouted (404), like a tenant without them.
"""

from __future__ import annotations

from typing import Any

from exporter import contract
from exporter.contract import DEFAULT_SOLUTION_NAME
from exporter.sandbox.config import SandboxConfig

REQUIRED = "required"
TIMESTAMP_FORMAT_VALIDATION = "format:YYYY-MM-DD HH:MM:SS"


def served_solution(config: SandboxConfig) -> str:
    """The solution the sandbox describes: the one it requires, or the default when it accepts any."""
    return config.solution_name or DEFAULT_SOLUTION_NAME


def solutions_document(config: SandboxConfig) -> dict[str, Any]:
    name = served_solution(config)
    prefix, _, suffix = contract.DEFAULT_OBJECT_NAME.partition("MANUFACTURING_ORDERS")
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
    columns = []
    for attribute in contract.ATTRIBUTES:
        validations = [REQUIRED] if attribute.required else []
        if attribute.api_type == "timestamp":
            validations.append(TIMESTAMP_FORMAT_VALIDATION)
        columns.append(
            {"name": attribute.name, "type": overrides.get(attribute.name, attribute.api_type),
             "validations": validations}
        )
    tables = [
        {"name": name, "columns": columns, "primaryKeys": list(contract.PRIMARY_KEY)}
        for name in sorted(config.objects)
    ]
    return {"solutionName": served_solution(config), "tables": tables}
