"""Stand-in for dbt's `adapter` when sqlfluff renders the SQL with its jinja templater.

sqlfluff lints the SQL of the DuckDB target: `adapter.dispatch(name)` resolves, like dbt does
there, to `duckdb__<name>` or else `default__<name>` among the project's macros (which sqlfluff
loads from macros/). sqlfluff's own `is_incremental()` is always true, so an incremental build's SQL is
the one linted.
"""

from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context


@pass_context
def dispatch(context: Context, macro_name: str, macro_namespace: str | None = None) -> Any:
    """Return the DuckDB variant of a dispatched macro, or its default variant."""
    for prefix in ("duckdb__", "default__"):
        macro = context.resolve_or_missing(f"{prefix}{macro_name}")
        if macro is not None and not isinstance(macro, type) and callable(macro):
            return macro
    raise LookupError(f"sqlfluff: no duckdb__ or default__ variant of the dispatched macro {macro_name!r}")

