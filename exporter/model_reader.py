"""Read the contract model: check its columns, plan what to send, stream the rows to send.

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
KEY_COLUMNS = contract.PRIMARY_KEY


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

    def plan(self, *, full_refresh: bool, retry_rejected: bool) -> Plan:
        sql = f"""
            with decided as ({self._decision_sql(full_refresh=full_refresh, retry_rejected=retry_rejected)})
            select count(*),
                   count(*) filter (where decision = 'send'),
                   count(*) filter (where decision = 'unchanged'),
                   count(*) filter (where decision = 'rejected_before')
            from decided"""
        considered, to_send, unchanged, skipped = first_row(self._con, sql) or (0, 0, 0, 0)
        return Plan(int(considered), int(to_send), int(unchanged), int(skipped))

    def stream_rows_to_send(
        self, *, full_refresh: bool, retry_rejected: bool, chunk_rows: int = 10_000
    ) -> Iterator[pa.RecordBatch]:
        """Record batches of (key columns, key_hash, content_hash, row_json, row_bytes) for every row to send."""
        fields = ", ".join(
            f"'{a.name}': " + (_TIMESTAMP_TEXT.format(column=a.name) if a.api_type == "timestamp" else a.name)
            for a in contract.ATTRIBUTES
        )
        sql = f"""
            with decided as ({self._decision_sql(full_refresh=full_refresh, retry_rejected=retry_rejected)}),
            to_send as (select * from decided where decision = 'send'),
            rendered as (
                select order_number, product_id, location_id, updated_at, key_hash, content_hash,
                       to_json({{{fields}}})::varchar as row_json
                from to_send
            )
            select *, strlen(row_json) as row_bytes from rendered"""
        cursor = self._con.cursor()
        try:
            yield from cursor.sql(sql).to_arrow_reader(chunk_rows)
        finally:
            cursor.close()  # an unfinished stream must not keep the database open after the run

    def _decision_sql(self, *, full_refresh: bool, retry_rejected: bool) -> str:
        names = ", ".join(contract.ATTRIBUTE_NAMES)
        fingerprinted = f"""
            select {names},
                   {KEY_HASH_SQL} as key_hash,
                   {CONTENT_HASH_SQL} as content_hash
            from {self._relation.qualified_name}"""
        if full_refresh:
            return f"select *, 'send' as decision from ({fingerprinted})"
        rejected_rule = "'send'" if retry_rejected else "'rejected_before'"
        return f"""
            select model.*,
                   case
                       when last.content_hash is null or last.content_hash <> model.content_hash then 'send'
                       when last.outcome = 'rejected' then {rejected_rule}
                       else 'unchanged'
                   end as decision
            from ({fingerprinted}) as model
            left join (
                select key_hash,
                       arg_max(content_hash, event_id) as content_hash,
                       arg_max(outcome, event_id) as outcome
                from "{self._state}".deliveries
                group by key_hash
            ) as last using (key_hash)"""

    def _count(self, sql: str) -> int:
        return int(scalar(self._con, sql) or 0)
