"""Stand-in for dbt's `flags` when sqlfluff renders the SQL: a plain (not full-refresh) build."""

FULL_REFRESH = False
WHICH = "build"
