"""The one place that opens DuckDB files.

Every module that reads or writes a DuckDB database (the model reader, the export state, the sample-data
generator) gets its connection from :func:`connect`, so lock conflicts and unreadable files produce one
clear message instead of a DuckDB traceback.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from exporter.errors import (
    DiskFullError,
    ExportError,
    OutOfMemoryError,
    ReadOnlyError,
    WarehouseBusyError,
    WarehouseError,
)
from exporter.settings import ExportSettings

log = logging.getLogger(__name__)


def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    must_exist: bool = True,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
    threads: int | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file at ``path``.

    ``memory_limit`` (e.g. ``"256MB"``) bounds DuckDB's buffer pool; beyond it DuckDB spills to
    ``temp_directory`` (default: DuckDB's own, the file's path + ``.tmp``). With a limit the connection also
    drops insertion-order preservation, which lets large joins and aggregates spill instead of failing:
    every query of the export that needs an order says so with ``order by``.
    """
    path = Path(path)
    if must_exist and not path.exists():
        raise WarehouseError(
            f"DuckDB file {path} does not exist: set MO_DUCKDB_PATH (or --duckdb-path) to the file "
            "that `dbt build` wrote, or create sample data with `python -m mo_export_dev.sample_data`."
        )
    if not read_only and path.exists():
        _check_writable(path)
    if not must_exist and not read_only and str(path) != ":memory:":
        # a file the caller may create (the export state of a Spark build): its folder too
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReadOnlyError(f"cannot create the folder {path.parent} of DuckDB file {path}: {exc}") from None
    config: dict[str, str | int] = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
        config["preserve_insertion_order"] = "false"
    if temp_directory is not None:
        config["temp_directory"] = str(temp_directory)
    if threads:
        config["threads"] = threads
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        text = str(exc)
        fault = environment_fault(exc, path)
        if fault is not None and not isinstance(fault, WarehouseBusyError):
            raise fault from None
        if "lock" in text.lower():
            raise WarehouseBusyError(
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


@contextmanager
def mapped_faults(path: Path) -> Iterator[None]:
    """Run a block against the DuckDB file at ``path``; a DuckDB or OS error that is a fault of the machine
    (disk full, read-only, locked, out of memory) leaves it as that exporter error. Other errors pass
    unchanged: they are bugs, and the CLI reports them as such (exit 70)."""
    try:
        yield
    except (duckdb.Error, OSError) as exc:
        fault = environment_fault(exc, path)
        if fault is None:
            raise
        raise fault from None


@contextmanager
def connect_for(settings: ExportSettings, *, writes: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """The DuckDB file an export command works in, with the export's memory limit and spill directory:
    the warehouse itself, or for a Spark build the local ledger file (which even a read-only command may
    create, to hold the views over the Parquet files). Closed at the end; a failing close is logged."""
    con = connect(
        settings.database_path,
        read_only=not writes and not settings.on_spark,
        must_exist=not settings.on_spark,
        memory_limit=settings.memory_limit,
        temp_directory=settings.temp_directory,
    )
    try:
        yield con
    finally:
        try:
            con.close()
        except duckdb.Error as exc:  # e.g. the closing checkpoint on a full disk: the run's error says it
            log.warning("closing DuckDB file %s failed: %s", settings.database_path, _first_line(str(exc)))


def wal_path(path: Path) -> Path:
    """DuckDB's write-ahead log beside the database file."""
    return path.with_name(path.name + ".wal")


def _check_writable(path: Path) -> None:
    """Refuse a DuckDB file the export could not write, before it opens it.

    ``os.access`` is the kernel's own answer for this process: it honours a read-only mount and an
    immutable file (``chattr +i``) also for root, which file modes do not stop.
    """
    wal = wal_path(path)
    for candidate, what in ((path, "DuckDB file"), (wal, "DuckDB write-ahead log")):
        if candidate.exists() and not os.access(candidate, os.W_OK):
            raise ReadOnlyError(
                f"the {what} {candidate} is read-only: the export records what the API acknowledged in it. "
                "Make it writable (check its mode, `lsattr` for the immutable flag, a read-only mount) or "
                "use --dry-run, which writes nothing"
            )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ReadOnlyError(
            f"the folder {path.parent} of the DuckDB file is read-only: DuckDB writes its write-ahead log "
            f"{wal.name} there while the export records acknowledgements. Make the folder writable or use --dry-run"
        )


_QUOTED_PATH = re.compile(r'"(/[^"]+)"')
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}


def environment_fault(exc: BaseException, path: Path) -> ExportError | None:
    """The fault of the machine behind a DuckDB or OS error, as an exporter error; None for anything else.

    DuckDB reports I/O failures as text (``Could not write file "x.wal": No space left on device``), so
    the text is read too. A file-size limit (``File too large``, RLIMIT_FSIZE) counts as a full disk: the
    effect, and the remedy, are the same.
    """
    text = str(exc)
    lower = text.lower()
    if isinstance(exc, duckdb.OutOfMemoryException) or lower.startswith("out of memory error"):
        return OutOfMemoryError(
            f"DuckDB ran out of memory working on {path} ({_first_line(text)}): raise the export's memory limit "
            "(--memory-limit / MO_EXPORT_MEMORY_LIMIT) or give its temp directory "
            "(MO_DUCKDB_TEMP_DIR) more free disk, then re-run"
        )
    code = getattr(exc, "errno", None)
    match = _QUOTED_PATH.search(text)
    # an OSError names its own file (the results file, a plan, a spill file); DuckDB quotes it in its text
    where = getattr(exc, "filename", None) or (match.group(1) if match else str(path))
    if code in _DISK_FULL_ERRNOS or "no space left" in lower or "file too large" in lower or "quota" in lower:
        return DiskFullError(f"no space left on device writing {where} ({_first_line(text)})")
    if code in _READ_ONLY_ERRNOS or any(
        marker in lower for marker in ("read-only file system", "permission denied", "operation not permitted")
    ):
        return ReadOnlyError(
            f"{where} is read-only ({_first_line(text)}): make it and its folder writable, or use --dry-run"
        )
    if "conflicting lock" in lower or "could not set lock" in lower:
        return WarehouseBusyError(
            f"DuckDB file {path} is in use by another process ({_first_line(text)}): wait for it to finish, "
            "then re-run"
        )
    return None


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


def create_parquet_view(con: duckdb.DuckDBPyConnection, schema: str, name: str, folder: Path) -> None:
    """(Re)create the view ``schema.name`` over every Parquet file in ``folder`` (read with read_parquet).

    The view is stored in the open file, so later commands on it (the state's ``delivered`` view,
    `mo-export status`) read the same files without knowing where they came from.
    """
    location = str(folder.resolve())
    if "'" in location:
        raise WarehouseError(f"Parquet folder {location}: a path with a single quote cannot be read")
    con.execute(f'create schema if not exists "{schema}"')
    con.execute(
        f"""create or replace view "{schema}"."{name}" as select * from read_parquet('{location}/*.parquet')"""
    )
