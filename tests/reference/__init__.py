"""An independent Python reading of docs/behaviour.md (parsing, current state, contract, rejection codes),
used to check the dbt models row by row.

`parsers` holds the parsing rules (docs/behaviour.md#parsing), `marts` turns raw rows into the two marts,
`warehouse_io` moves raw tables and marts between DuckDB and plain Python rows.
"""
