"""The export's durable state: its own schema in the DuckDB file, queryable with SQL.

Tables (schema ``mo_export_state`` by default):

* ``deliveries``: an append-only log, one row each time the API acknowledged a row (``outcome =
  'acknowledged'``) or rejected it (``'rejected'``), with the fingerprints of its key and of the content
  sent (:mod:`exporter.fingerprints`). The latest event per key decides what the next run sends; each
  successful run compacts the log to that latest event per key so it stays as large as the model. It holds
  fixed-size values only: writing the key's text for every acknowledged row cost more CPU than the rest of
  the log together.
* ``rejections``: every rejected row with the payload sent, the API's error code, category, message and
  column, and the run that sent it.
* ``runs``: one row per export run, with its counts and outcome.

Views: ``delivered`` (the contract model's rows whose key the API acknowledged, with the key's columns, when,
by which run, and whether the content acknowledged is still the model's), ``outstanding_rejections`` (keys
whose latest event is a rejection). ``delivered`` joins the log to the model by key fingerprint, so a key
that has left the model no longer shows there.

Durability: a batch's rows are written here only after the API acknowledged the batch, in one transaction
that commits before the batch is counted. A kill at any moment loses at most acknowledgements that were
not yet committed; those rows are simply sent again (UPSERT of identical content is idempotent).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from exporter.errors import StateError
from exporter.fingerprints import CONTENT_HASH_SQL, KEY_HASH_SQL
from exporter.warehouse import scalar

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

#: table -> column -> DuckDB type; checked on every start so a damaged schema is caught before sending.
TABLES: dict[str, dict[str, str]] = {
    "deliveries": {
        "event_id": "BIGINT",
        "key_hash": "UBIGINT",
        "content_hash": "UBIGINT",
        "outcome": "VARCHAR",
        "run_id": "VARCHAR",
        "recorded_at": "TIMESTAMP WITH TIME ZONE",
    },
    "rejections": {
        "event_id": "BIGINT",
        "run_id": "VARCHAR",
        "key_hash": "UBIGINT",
        "order_number": "VARCHAR",
        "product_id": "VARCHAR",
        "location_id": "VARCHAR",
        "updated_at": "TIMESTAMP",
        "content_hash": "UBIGINT",
        "payload": "VARCHAR",
        "http_status": "INTEGER",
        "error_code": "VARCHAR",
        "category": "VARCHAR",
        "message": "VARCHAR",
        "column_name": "VARCHAR",
        "rejected_at": "TIMESTAMP WITH TIME ZONE",
    },
    "runs": {
        "run_id": "VARCHAR",
        "started_at": "TIMESTAMP WITH TIME ZONE",
        "finished_at": "TIMESTAMP WITH TIME ZONE",
        "status": "VARCHAR",
        "exit_code": "INTEGER",
        "mode": "VARCHAR",
        "rows_considered": "BIGINT",
        "rows_unchanged": "BIGINT",
        "rows_sent": "BIGINT",
        "rows_acknowledged": "BIGINT",
        "rows_rejected": "BIGINT",
        "requests": "BIGINT",
        "retries": "BIGINT",
        "throttled_waits": "BIGINT",
        "duration_seconds": "DOUBLE",
        "summary": "VARCHAR",
    },
    "schema_version": {"version": "INTEGER"},
}


@dataclass(frozen=True)
class RowRejection:
    """One row the API (or the exporter, before sending) refused, with the reason."""

    row_index: int
    error_code: str
    message: str
    category: str | None = None
    column_name: str | None = None
    http_status: int | None = None


@dataclass
class BatchRecord:
    """What to record for one delivered batch: its key/hash/payload table and which rows were refused."""

    rows: pa.Table  # batching.RECORD_COLUMNS: key columns, key_hash, content_hash, row_json
    rejections: Sequence[RowRejection]


class ExportState:
    def __init__(self, con: duckdb.DuckDBPyConnection, schema: str, model_relation: str) -> None:
        """``model_relation``: the contract model's quoted name, which the ``delivered`` view reads."""
        self._con = con
        self.schema = schema
        self._model = model_relation

    # -- set-up -------------------------------------------------------------------------------------------
    def exists(self) -> bool:
        sql = "select count(*) from information_schema.schemata where schema_name = ?"
        return bool(self._scalar(sql, [self.schema]))

    def has_deliveries(self) -> bool:
        """Whether any row was ever acknowledged or rejected (the log is not empty)."""
        return self._scalar(f'select exists (select 1 from "{self.schema}".deliveries)') is True

    def ensure(self) -> None:
        """Create the schema on first use; on later runs check it has the shape this version expects."""
        if not self.exists():
            self._create()
            return
        self._check_shape()

    def _create(self) -> None:
        s = self.schema
        con = self._con
        con.execute("begin")
        con.execute(f'create schema "{s}"')
        con.execute(f'create sequence "{s}".event_seq')
        for table, columns in TABLES.items():
            cols = []
            for name, type_ in columns.items():
                default = f" default nextval('\"{s}\".event_seq')" if name == "event_id" else ""
                cols.append(f'"{name}" {type_}{default}')
            con.execute(f'create table "{s}"."{table}" ({", ".join(cols)})')
        con.execute(f'insert into "{s}".schema_version values ({SCHEMA_VERSION})')
        self._create_views()
        con.execute("commit")
        log.info("created export state schema %s", s)

    def _create_views(self) -> None:
        s = self.schema
        self._con.execute(
            f"""create or replace view "{s}".latest_delivery_events as
            select * from "{s}".deliveries
            qualify row_number() over (partition by key_hash order by event_id desc) = 1"""
        )
        self._con.execute(
            f"""create or replace view "{s}".delivered as
            select model.order_number, model.product_id, model.location_id, model.updated_at,
                   event.content_hash = model.content_hash as is_current,
                   event.run_id, event.recorded_at as acknowledged_at, event.key_hash, event.content_hash
            from "{s}".latest_delivery_events as event
            join (select *, {KEY_HASH_SQL} as key_hash, {CONTENT_HASH_SQL} as content_hash
                  from {self._model}) as model using (key_hash)
            where event.outcome = 'acknowledged'"""
        )
        self._con.execute(
            f"""create or replace view "{s}".outstanding_rejections as
            select r.* from "{s}".latest_delivery_events e
            join "{s}".rejections r
              on r.key_hash = e.key_hash and r.content_hash = e.content_hash and r.run_id = e.run_id
            where e.outcome = 'rejected'"""
        )

    def _check_shape(self) -> None:
        s = self.schema
        rows = self._con.execute(
            "select table_name, column_name, data_type from information_schema.columns where table_schema = ?", [s]
        ).fetchall()
        found: dict[str, dict[str, str]] = {}
        for table, column, type_ in rows:
            found.setdefault(table, {})[column] = type_
        problems = []
        for table, columns in TABLES.items():
            if table not in found:
                problems.append(f"table {s}.{table} is missing")
                continue
            for name, type_ in columns.items():
                if found[table].get(name) != type_:
                    problems.append(f"{s}.{table}.{name} should be {type_}, is {found[table].get(name) or 'missing'}")
        if not problems:
            version = self._scalar(f'select max(version) from "{s}".schema_version')
            if version != SCHEMA_VERSION:
                problems.append(f"schema version is {version}, this exporter needs {SCHEMA_VERSION}")
        if problems:
            raise StateError(
                f"the export state schema {s!r} is damaged or from another version: {'; '.join(problems[:5])}. "
                f"Inspect it, then move it aside (`alter schema {s} rename to {s}_broken`) or drop it "
                f"(`drop schema {s} cascade`): the next run then starts afresh and re-sends every row "
                "(UPSERT makes that safe)."
            )
        try:
            self._scalar(f"select nextval('\"{s}\".event_seq')")
        except duckdb.Error as exc:
            raise StateError(f"the export state schema {s!r} lost its event sequence: {exc}") from None
        self._create_views()

    # -- runs ---------------------------------------------------------------------------------------------
    def begin_run(self, mode: str) -> str:
        """Register a run; runs still marked 'running' were killed (we hold the file lock now)."""
        s = self.schema
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self._con.execute("begin")
        self._con.execute(f"""update "{s}".runs set status = 'interrupted' where status = 'running'""")
        self._con.execute(
            f"""insert into "{s}".runs (run_id, started_at, status, mode) values (?, now(), 'running', ?)""",
            [run_id, mode],
        )
        self._con.execute("commit")
        return run_id

    def finish_run(self, run_id: str, *, status: str, exit_code: int, summary: dict[str, Any]) -> None:
        s = self.schema
        counts = summary.get("rows", {})
        http = summary.get("http", {})
        self._con.execute(
            f"""update "{s}".runs set finished_at = now(), status = ?, exit_code = ?,
                rows_considered = ?, rows_unchanged = ?, rows_sent = ?, rows_acknowledged = ?, rows_rejected = ?,
                requests = ?, retries = ?, throttled_waits = ?, duration_seconds = ?, summary = ?
            where run_id = ?""",
            [
                status, exit_code,
                counts.get("considered"), counts.get("unchanged"), counts.get("sent"),
                counts.get("acknowledged"), counts.get("rejected"),
                http.get("requests"), http.get("retries"), http.get("throttled_waits"),
                summary.get("duration_seconds"), orjson.dumps(summary).decode(), run_id,
            ],
        )

    # -- deliveries ---------------------------------------------------------------------------------------
    def record_batches(self, run_id: str, records: Sequence[BatchRecord]) -> None:
        """Durably record acknowledged and rejected rows of one or more batches in ONE transaction.

        The caller counts the rows only after this returns (the commit is done).
        """
        acked_parts: list[pa.Table] = []
        rejected_parts: list[pa.Table] = []
        for record in records:
            fingerprints = record.rows.select(["key_hash", "content_hash"])
            if not record.rejections:
                acked_parts.append(fingerprints)
                continue
            refused = {r.row_index for r in record.rejections}
            mask = pa.array([i not in refused for i in range(record.rows.num_rows)])
            acked_parts.append(fingerprints.filter(mask))
            rejected_parts.append(_rejection_table(record))
        acked = pa.concat_tables(acked_parts) if acked_parts else None
        rejected = pa.concat_tables(rejected_parts) if rejected_parts else None
        s = self.schema
        con = self._con
        con.execute("begin")
        try:
            if acked is not None and acked.num_rows:
                con.register("_acked_rows", acked)
                con.execute(
                    f"""insert into "{s}".deliveries (key_hash, content_hash, outcome, run_id, recorded_at)
                    select key_hash, content_hash, 'acknowledged', ?, now() from _acked_rows""",
                    [run_id],
                )
                con.unregister("_acked_rows")
            if rejected is not None and rejected.num_rows:
                con.register("_rejected_rows", rejected)
                con.execute(
                    f"""insert into "{s}".deliveries (key_hash, content_hash, outcome, run_id, recorded_at)
                    select distinct key_hash, content_hash, 'rejected', ?, now() from _rejected_rows""",
                    [run_id],
                )
                con.execute(
                    f"""insert into "{s}".rejections
                        (run_id, key_hash, order_number, product_id, location_id, updated_at, content_hash, payload,
                         http_status, error_code, category, message, column_name, rejected_at)
                    select ?, key_hash, order_number, product_id, location_id, updated_at, content_hash, row_json,
                           http_status, error_code, category, message, column_name, now()
                    from _rejected_rows""",
                    [run_id],
                )
                con.unregister("_rejected_rows")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise

    def compact(self) -> int:
        """Keep only the latest event per key in the delivery log; returns the number of events removed."""
        s = self.schema
        before = self._scalar(f'select count(*) from "{s}".deliveries')
        self._con.execute("begin")
        self._con.execute(
            f"""delete from "{s}".deliveries where event_id not in (
                select event_id from "{s}".latest_delivery_events)"""
        )
        self._con.execute("commit")
        after = self._scalar(f'select count(*) from "{s}".deliveries')
        return int(before) - int(after)

    # -- reporting ----------------------------------------------------------------------------------------
    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        cur = self._con.execute(
            f"""select run_id, started_at, finished_at, status, exit_code, mode, rows_considered, rows_sent,
                       rows_acknowledged, rows_rejected, requests, retries, throttled_waits, duration_seconds
                from "{self.schema}".runs order by started_at desc limit ?""",
            [limit],
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def rejection_counts(self) -> list[tuple[str, int]]:
        """Outstanding rejections (latest event per key is a rejection) by error code."""
        return [
            (str(code), int(n))
            for code, n in self._con.execute(
                f"""select error_code, count(*) from "{self.schema}".outstanding_rejections
                    group by error_code order by count(*) desc, error_code"""
            ).fetchall()
        ]

    def _scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        return scalar(self._con, sql, params)


def _rejection_table(record: BatchRecord) -> pa.Table:
    """One row per (row, error) with the row's key, hash and payload beside the API's reason."""
    indices = [r.row_index for r in record.rejections]
    rows = record.rows.take(pa.array(indices, type=pa.int64()))
    table = rows.select(
        ["key_hash", "order_number", "product_id", "location_id", "updated_at", "content_hash", "row_json"]
    )
    extra = {
        "http_status": pa.array([r.http_status for r in record.rejections], type=pa.int32()),
        "error_code": pa.array([r.error_code for r in record.rejections], type=pa.string()),
        "category": pa.array([r.category for r in record.rejections], type=pa.string()),
        "message": pa.array([r.message for r in record.rejections], type=pa.string()),
        "column_name": pa.array([r.column_name for r in record.rejections], type=pa.string()),
    }
    for name, column in extra.items():
        table = table.append_column(name, column)
    return table
