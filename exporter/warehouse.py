"""The one place that opens DuckDB files.

Every module that reads or writes a DuckDB database (the model reader, the export state, the sample-data
generator) gets its connection from :func:`connect`, so lock conflicts and unreadable files produce one
clear message instead of a DuckDB traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import duckdb

from exporter.errors import WarehouseError

log = logging.getLogger(__name__)


def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    must_exist: bool = True,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file at ``path``.

    ``memory_limit`` (e.g. ``"256MB"``) bounds DuckDB's buffer pool so a streaming export keeps a flat
    footprint; DuckDB spills to disk beyond it.
    """
    path = Path(path)
    if must_exist and not path.exists():
        raise WarehouseError(
            f"DuckDB file {path} does not exist: set MO_DUCKDB_PATH (or --duckdb-path) to the file "
            "that `dbt build` wrote, or create sample data with `mo-export sample-data`."
        )
    config: dict[str, str | int] = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise WarehouseError(
                f"DuckDB file {path} is in use by another process ({_first_line(text)}). "
                "Only one process may write it at a time: wait for `dbt build` or the other export "
                "to finish, then re-run."
            ) from None
        raise WarehouseError(
            f"cannot open DuckDB file {path}: {_first_line(text)}. Point MO_DUCKDB_PATH (or --duckdb-path) at "
            "the DuckDB database `dbt build` wrote; if that file is damaged, restore it or rebuild it"
        ) from None
    except duckdb.ConnectionException as exc:
        raise WarehouseError(
            f"cannot open DuckDB file {path}: this process already holds it with other settings "
            f"({_first_line(str(exc))}); open it once, or from a separate process"
        ) from None
    except duckdb.Error as exc:
        raise WarehouseError(
            f"cannot open DuckDB file {path}: {_first_line(str(exc))}. Is it a DuckDB 2.x database?"
        ) from None
    log.debug("opened DuckDB file %s (read_only=%s)", path, read_only)
    return con


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def first_row(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
    """The first row of a query, with the result finished before the next statement (DuckDB 2 needs it)."""
    cursor = con.execute(sql, params or [])
    row = cursor.fetchone()
    cursor.fetchall()
    return row


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The first column of the first row, or None."""
    row = first_row(con, sql, params)
    return row[0] if row else None
