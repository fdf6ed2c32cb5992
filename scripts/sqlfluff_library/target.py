"""Stand-in for dbt's `target` when sqlfluff renders the SQL: the DuckDB target is linted."""

type = "duckdb"
name = "duckdb"
schema = "main"
database = "mo_export"
