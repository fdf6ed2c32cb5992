"""Read the contract model: check its columns and values, decide what to send, stream the rows to send.

The export path is one-way: :meth:`ContractModelReader.plan` decides once per run what to send (it owns
that decision), and :meth:`ContractModelReader.stream_rows_to_send` streams exactly those rows.
The diff is computed in SQL, not Python. Each model row gets two fingerprints inside DuckDB
(:mod:`exporter.fingerprints`), compared with the latest delivery event of its key in the state schema.
Only rows to send are rendered to their JSON payload (`to_json` of a struct in the contract's attribute
order, timestamps as `YYYY-MM-DD HH:MM:SS`) and come back, as Arrow record batches, so memory stays flat
and the no-change path never renders or moves a row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from exporter import contract
from exporter.dbt_artifacts import ModelRelation
from exporter.errors import BuildError
from exporter.fingerprints import CONTENT_HASH_SQL, KEY_HASH_SQL
from exporter.warehouse import first_row, scalar

#: A whole-second TIMESTAMP as `YYYY-MM-DD HH:MM:SS` (contract.TIMESTAMP_FORMAT): a cast to TIMESTAMP_S prints
#: exactly that, a quarter cheaper than strftime. check_contract refuses fractional seconds first, so the
#: cast never drops anything.
_TIMESTAMP_TEXT = "{column}::timestamp_s::varchar"
_TIMESTAMPS = tuple(a.name for a in contract.ATTRIBUTES if a.api_type == "timestamp")
_FIRST_TIMESTAMP = "timestamp '0001-01-01 00:00:00'"
_PAST_LAST_TIMESTAMP = "timestamp '10000-01-01 00:00:00'"
KEY_COLUMNS = contract.PRIMARY_KEY
#: the run's decision per row, computed once by ContractModelReader.plan (a temporary table: never stored)
_DECISIONS = "mo_export_run_decisions"
_SEND, _UNCHANGED, _REJECTED_BEFORE = 1, 2, 3


@dataclass(frozen=True)
class Plan:
    considered: int
    to_send: int
    unchanged: int
    skipped_rejected: int


class ContractModelReader:
    def __init__(self, con: duckdb.DuckDBPyConnection, relation: ModelRelation, state_schema: str) -> None:
        self._con = con
        self._relation = relation
        self._state = state_schema
        self._plan: Plan | None = None
        self._diffed = False
        self._cursor: duckdb.DuckDBPyConnection | None = None

    def check_contract(self) -> None:
        """Refuse before sending anything if the built table does not match the API contract."""
        rel = self._relation
        rows = self._con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [rel.schema, rel.identifier],
        ).fetchall()
        if not rows:
            raise BuildError(
                f"the model {rel.unique_id} is in dbt's manifest but table {rel.schema}.{rel.identifier} does not "
                "exist in this DuckDB file: run `dbt build` against the same MO_DUCKDB_PATH first"
            )
        actual = dict(rows)
        expected = contract.DUCKDB_TYPES
        problems = [f"column {c} is missing" for c in expected if c not in actual]
        problems += [f"unexpected column {c}" for c in actual if c not in expected]
        problems += [
            f"column {c} is {actual[c]}, the contract needs {t}"
            for c, t in expected.items()
            if c in actual and actual[c] != t
        ]
        if problems:
            raise BuildError(
                f"table {rel.schema}.{rel.identifier} no longer matches the {contract.DEFAULT_OBJECT_NAME} "
                f"contract ({'; '.join(problems)}); nothing was sent. Fix the model and run `dbt build`."
            )
        fractional = self._count(
            f"select count(*) from {rel.qualified_name} where "
            + " or ".join(f"epoch_us({c}) % 1000000 <> 0" for c in _TIMESTAMPS)
        )
        if fractional:
            raise BuildError(
                f"table {rel.schema}.{rel.identifier} holds {fractional} rows with fractional seconds in a "
                f"timestamp; the API takes whole seconds ({contract.TIMESTAMP_FORMAT}) and nothing was sent. "
                "Run `dbt build`: its whole_second_timestamp tests name them."
            )
        # exact, but cheap: group by the 64-bit key hash, and compare real keys only where hashes repeat
        duplicates = self._count(
            f"""with candidates as (
                    select {KEY_HASH_SQL} as key_hash from {rel.qualified_name}
                    group by all having count(*) > 1)
                select count(*) - count(distinct ({', '.join(KEY_COLUMNS)}))
                from {rel.qualified_name}
                where {KEY_HASH_SQL} in (select key_hash from candidates)"""
        )
        if duplicates:
            raise BuildError(
                f"table {rel.schema}.{rel.identifier} holds {duplicates} rows whose primary key "
                f"({', '.join(KEY_COLUMNS)}) repeats another row's; nothing was sent. Run `dbt build`: its "
                "primary-key test names them."
            )

    def check_values(self) -> None:
        """Refuse (nothing sent) if a value breaks the contract, in one SQL pass over the model.

        The dbt tests check this at build time; the table may have been edited since, or the model may
        have become a view. Checked: the contract's required attributes are not null, and timestamps are
        finite and within 0001-01-01 00:00:00 .. 9999-12-31 23:59:59 (the API's ``YYYY-MM-DD HH:MM:SS``
        has four-digit years and no BC).
        """
        rel = self._relation
        problems: list[tuple[str, str]] = [
            (f"{a.name} is null (a required attribute)", f"{a.name} is null") for a in contract.ATTRIBUTES if a.required
        ]
        for name in _TIMESTAMPS:
            problems.append((f"{name} is infinite", f"not isfinite({name})"))
            problems.append(
                (f"{name} is outside 0001-01-01..9999-12-31 (a BC date or a year past 9999)",
                 f"isfinite({name}) and ({name} < {_FIRST_TIMESTAMP} or {name} >= {_PAST_LAST_TIMESTAMP})")
            )
        counts = first_row(
            self._con,
            "select " + ", ".join(f"count(*) filter (where {condition})" for _, condition in problems)
            + f" from {rel.qualified_name}",
        ) or ()
        found = [(label, int(n)) for (label, _), n in zip(problems, counts, strict=True) if n]
        if found:
            listed = "; ".join(f"{n:,} rows where {label}" for label, n in found)
            raise BuildError(
                f"table {rel.schema}.{rel.identifier} holds values the API cannot take: {listed}. Nothing was "
                "sent. Was the table edited after `dbt build`? Run `dbt build` again: its tests name the rows."
            )

    def plan(self, *, destination_id: int | None, full_refresh: bool, retry_rejected: bool) -> Plan:
        """Decide, once per run, which rows to send; :meth:`stream_rows_to_send` then streams exactly those.

        With nothing acknowledged at the destination (``destination_id`` None) or a full refresh, every row
        is sent and no diff is needed. Otherwise the model is compared with the destination's latest event
        per key in ONE pass, whose verdicts (a key fingerprint and a one-byte decision per row, about 10 MB
        per million rows) are kept in a temporary table for the stream.
        """
        self._diffed = not full_refresh and destination_id is not None
        if not self._diffed:
            considered = self._count(f"select count(*) from {self._relation.qualified_name}")
            self._plan = Plan(considered, considered, 0, 0)
            return self._plan
        rejected_rule = _SEND if retry_rejected else _REJECTED_BEFORE
        # a temporary table belongs to one connection: the stream's own cursor makes and later reads it
        self._cursor = self._con.cursor()
        self._cursor.execute(
            f"""create or replace temp table {_DECISIONS} as
            with model as (
                select {KEY_HASH_SQL} as key_hash, {CONTENT_HASH_SQL} as content_hash
                from {self._relation.qualified_name}
            ),
            last_event as (
                select key_hash,
                       arg_max(content_hash, event_id) as content_hash,
                       arg_max(outcome, event_id) as outcome
                from "{self._state}".deliveries
                where destination_id = {int(destination_id)}
                group by key_hash
            )
            select model.key_hash,
                   (case
                       when last_event.content_hash is null or last_event.content_hash <> model.content_hash
                           then {_SEND}
                       when last_event.outcome = 'rejected' then {rejected_rule}
                       else {_UNCHANGED}
                   end)::utinyint as decision
            from model
            left join last_event using (key_hash)"""
        )
        considered, to_send, unchanged, skipped = first_row(
            self._cursor,
            f"""select count(*),
                       count(*) filter (where decision = {_SEND}),
                       count(*) filter (where decision = {_UNCHANGED}),
                       count(*) filter (where decision = {_REJECTED_BEFORE})
                from {_DECISIONS}""",
        ) or (0, 0, 0, 0)
        self._plan = Plan(int(considered), int(to_send), int(unchanged), int(skipped))
        return self._plan

    def stream_rows_to_send(self, *, chunk_rows: int = 10_000) -> Iterator[pa.RecordBatch]:
        """Record batches of (key columns, key_hash, content_hash, row_json, row_bytes) for every row the
        :meth:`plan` of this run decided to send."""
        if self._plan is None:
            raise RuntimeError("plan() decides what to send; call it before stream_rows_to_send()")
        fields = ", ".join(
            f"'{a.name}': " + (_TIMESTAMP_TEXT.format(column=a.name) if a.api_type == "timestamp" else a.name)
            for a in contract.ATTRIBUTES
        )
        names = ", ".join(contract.ATTRIBUTE_NAMES)
        chosen = (
            f"where key_hash in (select key_hash from {_DECISIONS} where decision = {_SEND})" if self._diffed else ""
        )
        sql = f"""
            with model as (
                select {names}, {KEY_HASH_SQL} as key_hash, {CONTENT_HASH_SQL} as content_hash
                from {self._relation.qualified_name}
            ),
            to_send as (select * from model {chosen}),
            rendered as (
                select order_number, product_id, location_id, updated_at, key_hash, content_hash,
                       to_json({{{fields}}})::varchar as row_json
                from to_send
            )
            select *, strlen(row_json) as row_bytes from rendered"""
        # its own cursor, so the state can be written on the main connection while the rows stream
        cursor, self._cursor = self._cursor or self._con.cursor(), None
        try:
            yield from cursor.sql(sql).to_arrow_reader(chunk_rows)
        finally:
            cursor.close()  # an unfinished stream must not keep the database open after the run

    def _count(self, sql: str) -> int:
        return int(scalar(self._con, sql) or 0)
