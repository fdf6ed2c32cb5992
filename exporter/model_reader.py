"""Read the contract model: check its columns and values, decide what to send, stream the rows to send.

The export path is one-way: :meth:`ContractModelReader.plan` decides once per run what to send (it owns
that decision), and :meth:`ContractModelReader.stream_rows_to_send` streams exactly those rows.
The diff is computed in SQL, not Python. Each model row gets its fingerprints inside DuckDB
(:mod:`exporter.fingerprints`), compared with the latest delivery event of its key in the state schema
and with the last content the destination acknowledged for its order (new, changed, unchanged: what
`mo-export plan` shows and the change guard judges, from the same decisions the run streams).
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
from exporter.errors import BuildError, ConfigError
from exporter.fingerprints import CONTENT_HASH_SQL, KEY_HASH_SQL, ORDER_HASH_SQL
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
_SEND, _UNCHANGED, _REJECTED_BEFORE, _NOT_PINNED = 1, 2, 3, 4
#: how a row compares with what the destination last acknowledged of its order (the key without updated_at)
_NEW, _CHANGED, _CHANGED_UNKNOWN, _SAME = 1, 2, 3, 4
#: exporter.state.CONTENT_TABLE: the destination's last acknowledged content per order
_CONTENT_TABLE = "acknowledged_content"
_ORDER_COLUMNS = ("product_id", "location_id", "order_number")
#: a pinned plan's rows, registered as _pinned_plan_rows, with the model's key types
_PINNED_ROWS_SQL = (
    "select product_id, location_id, order_number, updated_at::timestamp as updated_at, content_hash "
    "from _pinned_plan_rows"
)


@dataclass(frozen=True)
class Plan:
    """What a run sends, decided by :meth:`ContractModelReader.plan`, and how it compares with the past."""

    considered: int
    to_send: int
    unchanged: int
    skipped_rejected: int
    #: of ``to_send``: orders the destination never acknowledged
    new: int = 0
    #: of ``to_send``: orders whose acknowledged content differs (a new ``updated_at`` or the same key)
    changed: int = 0
    #: of ``to_send``: keys acknowledged with other content before the ledger kept content (an upgraded state)
    changed_unknown: int = 0
    #: of ``to_send``: rows whose content the destination acknowledged already (a full refresh resends them)
    resent_unchanged: int = 0
    #: orders whose last acknowledged content the destination's ledger holds
    acknowledged_orders: int = 0
    #: of those, orders the model no longer holds at all
    lost_orders: int = 0
    #: with a pinned plan: model rows outside it (not sent)
    not_in_plan: int = 0


@dataclass(frozen=True)
class PinnedRows:
    """The rows a reviewed plan file pins: key columns and content fingerprint (``source`` names the file)."""

    source: str
    rows: pa.Table  # product_id, location_id, order_number, updated_at (timestamp), content_hash (uint64)


@dataclass(frozen=True)
class AttributeChange:
    """One attribute among the changed orders: how many rows change it, and a few (key, before, now)."""

    attribute: str
    rows: int
    examples: list[dict[str, object]]


class ContractModelReader:
    def __init__(self, con: duckdb.DuckDBPyConnection, relation: ModelRelation, state_schema: str) -> None:
        self._con = con
        self._relation = relation
        self._state = state_schema
        self._plan: Plan | None = None
        self._diffed = False
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self._destination_id: int | None = None

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

    def plan(
        self,
        *,
        destination_id: int | None,
        full_refresh: bool,
        retry_rejected: bool,
        pinned: PinnedRows | None = None,
    ) -> Plan:
        """Decide, once per run, which rows to send; :meth:`stream_rows_to_send` then streams exactly those.

        With nothing acknowledged at the destination (``destination_id`` None) every row is new and no diff is
        needed. Otherwise the model is compared with the destination's latest event per key and its last
        acknowledged content per order, one join per statement so each can spill to disk; the verdicts (key and
        order fingerprints, a decision and a comparison per row, about 20 MB per million rows) are kept in a
        temporary table for the stream and for :meth:`attribute_changes`. A full refresh sends every row but is
        still compared, so the change guard sees what it changes. A ``pinned`` plan sends exactly its rows,
        except those the destination acknowledged with the same content since; it is refused (nothing sent) if
        the model no longer holds one of them with the same content.
        """
        self._destination_id = destination_id
        self._diffed = destination_id is not None or pinned is not None
        if not self._diffed:
            considered = self._count(f"select count(*) from {self._relation.qualified_name}")
            self._plan = Plan(considered, considered, 0, 0, new=considered)
            return self._plan
        destination = -1 if destination_id is None else int(destination_id)
        rejected_rule = _SEND if retry_rejected else _REJECTED_BEFORE
        if pinned is not None:
            decision = f"""case when not pinned then {_NOT_PINNED}
                                when outcome = 'acknowledged' and same_as_last_event then {_UNCHANGED}
                                else {_SEND} end"""
        elif full_refresh:
            decision = str(_SEND)
        else:
            decision = f"""case when not same_as_last_event then {_SEND}
                                when outcome = 'rejected' then {rejected_rule}
                                else {_UNCHANGED} end"""
        content = (
            f"""select order_hash, {CONTENT_HASH_SQL} as content_hash from "{self._state}".{_CONTENT_TABLE}
                where destination_id = {destination}"""
            if self._has_content() else "select 0::ubigint as order_hash, 0::ubigint as content_hash where false"
        )
        # a temporary table belongs to one connection: the stream's own cursor makes and later reads it
        self._cursor = self._con.cursor()
        pinned_join = ""
        if pinned is not None:
            self._cursor.register("_pinned_plan_rows", pinned.rows)
            self._cursor.execute(
                f"""create or replace temp table _pinned_plan as
                with p as ({_PINNED_ROWS_SQL})
                select distinct {KEY_HASH_SQL} as key_hash, content_hash from p"""
            )
            pinned_join = (
                "left join _pinned_plan as pin on pin.key_hash = model.key_hash "
                "and pin.content_hash = model.content_hash"
            )
        pinned_flag = "pin.key_hash is not null" if pinned is not None else "false"
        # One statement per join, each into a temporary table: a join or aggregate alone spills to disk
        # beyond the memory limit, while one query holding the model's, the log's and the content's hash
        # tables at once ran out of memory at 5 M orders of history (the limit bounds the process, not the
        # history it can decide).
        steps = {
            "_decide_model": f"""
                select {KEY_HASH_SQL} as key_hash, {CONTENT_HASH_SQL} as content_hash, {ORDER_HASH_SQL} as order_hash
                from {self._relation.qualified_name}""",
            "_decide_last_event": f"""
                select key_hash,
                       arg_max(content_hash, event_id) as content_hash,
                       arg_max(outcome, event_id) as outcome
                from "{self._state}".deliveries
                where destination_id = {destination}
                group by key_hash""",
            "_decide_with_event": f"""
                select model.key_hash, model.order_hash, model.content_hash, last_event.outcome,
                       coalesce(last_event.content_hash = model.content_hash, false) as same_as_last_event,
                       {pinned_flag} as pinned
                from _decide_model as model
                left join _decide_last_event as last_event using (key_hash)
                {pinned_join}""",
            "_decide_last_content": content,
            _DECISIONS: f"""
                with compared as (
                    select model.key_hash, model.order_hash, model.outcome, model.same_as_last_event, model.pinned,
                           case
                               when model.outcome = 'acknowledged' and model.same_as_last_event then {_SAME}
                               when last_content.order_hash is not null then
                                   case when last_content.content_hash = model.content_hash then {_SAME}
                                        else {_CHANGED} end
                               when model.outcome = 'acknowledged' then {_CHANGED_UNKNOWN}
                               else {_NEW}
                           end as change
                    from _decide_with_event as model
                    left join _decide_last_content as last_content using (order_hash)
                )
                select key_hash, order_hash, change::utinyint as change, ({decision})::utinyint as decision
                from compared""",
        }
        for table, sql in steps.items():
            self._cursor.execute(f"create or replace temp table {table} as {sql}")
        for table in ("_decide_model", "_decide_last_event", "_decide_with_event"):
            self._cursor.execute(f"drop table {table}")
        if pinned is not None:
            self._refuse_unheld_pinned_rows(pinned)
        counts = first_row(
            self._cursor,
            f"""select count(*),
                       count(*) filter (where decision = {_SEND}),
                       count(*) filter (where decision = {_UNCHANGED}),
                       count(*) filter (where decision = {_REJECTED_BEFORE}),
                       count(*) filter (where decision = {_SEND} and change = {_NEW}),
                       count(*) filter (where decision = {_SEND} and change = {_CHANGED}),
                       count(*) filter (where decision = {_SEND} and change = {_CHANGED_UNKNOWN}),
                       count(*) filter (where decision = {_SEND} and change = {_SAME}),
                       count(*) filter (where decision = {_NOT_PINNED})
                from {_DECISIONS}""",
        ) or (0,) * 9
        acknowledged, lost = first_row(
            self._cursor,
            f"""select count(*), count(*) filter (where not exists (
                    select 1 from {_DECISIONS} as d where d.order_hash = last_content.order_hash))
                from _decide_last_content as last_content""",
        ) or (0, 0)
        self._cursor.execute("drop table _decide_last_content")
        n = [int(v) for v in counts]
        self._plan = Plan(
            n[0], n[1], n[2], n[3], new=n[4], changed=n[5], changed_unknown=n[6], resent_unchanged=n[7],
            acknowledged_orders=int(acknowledged), lost_orders=int(lost), not_in_plan=n[8],
        )
        return self._plan

    def _refuse_unheld_pinned_rows(self, pinned: PinnedRows) -> None:
        """A pinned row the model no longer holds with the same content: refuse the whole plan."""
        assert self._cursor is not None
        missing = self._cursor.execute(
            f"""with p as ({_PINNED_ROWS_SQL}),
                model as (select {KEY_HASH_SQL} as key_hash, {CONTENT_HASH_SQL} as content_hash
                          from {self._relation.qualified_name}),
                unheld as (
                    select * from p
                    where not exists (select 1 from model
                                      where model.key_hash = {KEY_HASH_SQL} and model.content_hash = p.content_hash)
                )
                select count(*) over (), product_id, location_id, order_number, updated_at::varchar from unheld
                order by product_id, location_id, order_number limit 3"""
        ).fetchall()
        if missing:
            examples = "; ".join(f"{r[1]}/{r[2]}/{r[3]} updated_at {r[4]}" for r in missing)
            raise ConfigError(
                f"plan file {pinned.source}: the model no longer holds {int(missing[0][0]):,} of its "
                f"{pinned.rows.num_rows:,} rows with the content reviewed (changed or gone since the plan, "
                f"e.g. {examples}); nothing was sent. Make a new plan (`mo-export plan --out ...`) and review it."
            )

    def attribute_changes(self, *, examples: int = 3) -> list[AttributeChange]:
        """For the changed orders this run sends: per attribute, how many rows change it, with examples
        (the order's key, the value the destination acknowledged last, the value now), from the decisions
        :meth:`plan` made. Attributes no row changes are left out."""
        if self._plan is None or not self._diffed or not self._has_content():
            return []
        cursor = self._cursor or self._con
        order_key = ", ".join(f"'{c}': now.{c}" for c in _ORDER_COLUMNS)
        picks = []
        for name in contract.ATTRIBUTE_NAMES:
            differs = f"now.{name} is distinct from before.{name}"
            picks.append(f"count(*) filter (where {differs})")
            picks.append(
                f"""list({{{order_key}, 'before': before.{name}::varchar, 'now': now.{name}::varchar}}
                         order by now.product_id, now.location_id, now.order_number) filter (where {differs})"""
            )
        destination = -1 if self._destination_id is None else int(self._destination_id)
        row = first_row(
            cursor,
            f"""with changed as (select key_hash from {_DECISIONS} where decision = {_SEND} and change = {_CHANGED}),
                model as (select *, {KEY_HASH_SQL} as key_hash, {ORDER_HASH_SQL} as order_hash
                          from {self._relation.qualified_name}),
                now as (select * from model where key_hash in (select key_hash from changed)),
                before as (select * from "{self._state}".{_CONTENT_TABLE} where destination_id = {destination})
                select {", ".join(picks)} from now join before using (order_hash)""",
        ) or ()
        out = []
        for i, name in enumerate(contract.ATTRIBUTE_NAMES):
            rows, listed = int(row[2 * i] or 0), row[2 * i + 1] or []
            if rows:
                out.append(AttributeChange(name, rows, [dict(e) for e in listed[:examples]]))
        return out

    def rows_to_send(self) -> pa.Table:
        """The key columns (``updated_at`` as its API text) and content fingerprint of every row :meth:`plan`
        decided to send: what a plan file pins."""
        if self._plan is None:
            raise RuntimeError("plan() decides what to send; call it before rows_to_send()")
        cursor = self._cursor or self._con
        chosen = (
            f"where key_hash in (select key_hash from {_DECISIONS} where decision = {_SEND})" if self._diffed else ""
        )
        return cursor.sql(
            f"""with model as (select product_id, location_id, order_number, updated_at,
                                      {KEY_HASH_SQL} as key_hash, {CONTENT_HASH_SQL} as content_hash
                               from {self._relation.qualified_name})
                select product_id, location_id, order_number,
                       {_TIMESTAMP_TEXT.format(column="updated_at")} as updated_at, content_hash
                from model {chosen}
                order by product_id, location_id, order_number, updated_at"""
        ).to_arrow_table()

    def _has_content(self) -> bool:
        return bool(self._count(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [self._state, _CONTENT_TABLE],
        ))

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

    def _count(self, sql: str, params: list[object] | None = None) -> int:
        return int(scalar(self._con, sql, params) or 0)
