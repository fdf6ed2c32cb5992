"""An independent Python reading of SPEC.md sections 3-6, used to check the dbt models row by row.

`parsers` holds the SPEC 3 parsing rules, `marts` turns raw rows into the two marts (SPEC 4-6),
`warehouse_io` moves raw tables and marts between DuckDB and plain Python rows.
"""
