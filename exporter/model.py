"""The model stage: the contract model as the export reads it, and nothing of the ledger.

:meth:`ContractModel.open` finds the model's table in dbt's manifest, exposes a Spark build's Parquet files
as DuckDB views, checks the build verdict recorded in the file, and verifies the table against the object's
contract (columns, types, whole seconds, unique keys) and its values (required attributes, timestamp range).
After that it only reads: :meth:`ContractModel.stream` yields the rows a selection names (the key hashes the
decision stage chose, or every row), rendered to their JSON payload inside DuckDB (`to_json` of a struct in
the contract's attribute order, timestamps as `YYYY-MM-DD HH:MM:SS`), as Arrow record batches, so memory
stays flat and a run with nothing to send renders nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from exporter.build_verdict import check_build_verdict
from exporter.contract import TIMESTAMP_FORMAT, ObjectContract
from exporter.dbt_artifacts import ModelRelation, resolve_model
from exporter.errors import BuildError
from exporter.fingerprints import content_hash_sql, identity_hash_sql, key_hash_sql
from exporter.settings import ExportSettings
from exporter.spark_build import expose_spark_build
from exporter.warehouse import first_row, mapped_faults, scalar

#: A whole-second TIMESTAMP as `YYYY-MM-DD HH:MM:SS` (contract.TIMESTAMP_FORMAT): a cast to TIMESTAMP_S prints
#: exactly that, a quarter cheaper than strftime. check_contract refuses fractional seconds first, so the
#: cast never drops anything.
_TIMESTAMP_TEXT = "{column}::timestamp_s::varchar"
_FIRST_TIMESTAMP = "timestamp '0001-01-01 00:00:00'"
_PAST_LAST_TIMESTAMP = "timestamp '10000-01-01 00:00:00'"
#: the selection a decision hands the stream, registered under this name on the stream's own cursor
_SELECTION = "_mo_export_selection"


@dataclass(frozen=True)
class Selection:
    """The rows to read: the key hashes the decision chose (a one-column ``key_hash`` table), or every row."""

    key_hashes: pa.Table | None = None

    @property
    def everything(self) -> bool:
        return self.key_hashes is None


class ContractModel:
    """The built contract model of one object, verified; reads rows by selection."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, relation: ModelRelation, contract: ObjectContract,
        path: Path | None = None,
    ) -> None:
        self._con = con
        self._path = path or Path("the DuckDB file")
        self.relation = relation
        self.contract = contract
        self.key_hash = key_hash_sql(contract)
        self.content_hash = content_hash_sql(contract)
        self.identity_hash = identity_hash_sql(contract)

    @classmethod
    def open(
        cls, con: duckdb.DuckDBPyConnection, settings: ExportSettings, contract: ObjectContract, *,
        check_build: bool = True,
    ) -> ContractModel:
        """The model dbt built for ``settings.model_name``, its build verdict passed and its table verified.

        ``check_build=False`` (`mo-export status`, which reports rather than sends): only the table's columns
        are checked, so a failed build can still be looked at."""
        relation = resolve_model(settings.target_path, settings.model_name)
        if settings.on_spark:
            expose_spark_build(con, settings.spark_warehouse, relation)
        model = cls(con, relation, contract, settings.database_path)
        if check_build:
            check_build_verdict(con, relation)  # about this file: the verdict travels with the data
        model.check_contract()  # first: nothing, not even the ledger, is touched for a model that is off
        if check_build:
            model.check_values()
        return model

    @property
    def label(self) -> str:
        """How a plan names the model's table: ``schema.identifier``."""
        return f"{self.relation.schema}.{self.relation.identifier}"

    @property
    def table(self) -> str:
        return self.relation.qualified_name

    def check_contract(self) -> None:
        """Refuse before sending anything if the built table does not match the API contract."""
        rel = self.relation
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
        expected = self.contract.duckdb_types
        problems = [f"column {c} is missing" for c in expected if c not in actual]
        problems += [f"unexpected column {c}" for c in actual if c not in expected]
        problems += [
            f"column {c} is {actual[c]}, the contract needs {t}"
            for c, t in expected.items()
            if c in actual and actual[c] != t
        ]
        if problems:
            raise BuildError(
                f"table {rel.schema}.{rel.identifier} no longer matches the {self.contract.object_name} "
                f"contract ({'; '.join(problems)}); nothing was sent. Fix the model and run `dbt build`."
            )
        fractional = self._count(
            f"select count(*) from {rel.qualified_name} where "
            + " or ".join(f"epoch_us({c}) % 1000000 <> 0" for c in self.contract.timestamps)
        )
        if fractional:
            raise BuildError(
                f"table {rel.schema}.{rel.identifier} holds {fractional} rows with fractional seconds in a "
                f"timestamp; the API takes whole seconds ({TIMESTAMP_FORMAT}) and nothing was sent. "
                "Run `dbt build`: its whole_second_timestamp tests name them."
            )
        # exact, but cheap: group by the 64-bit key hash, and compare real keys only where hashes repeat
        duplicates = self._count(
            f"""with candidates as (
                    select {self.key_hash} as key_hash from {rel.qualified_name}
                    group by all having count(*) > 1)
                select count(*) - count(distinct ({', '.join(self.contract.primary_key)}))
                from {rel.qualified_name}
                where {self.key_hash} in (select key_hash from candidates)"""
        )
        if duplicates:
            raise BuildError(
                f"table {rel.schema}.{rel.identifier} holds {duplicates} rows whose primary key "
                f"({', '.join(self.contract.primary_key)}) repeats another row's; nothing was sent. Run "
                "`dbt build`: its primary-key test names them."
            )

    def check_values(self) -> None:
        """Refuse (nothing sent) if a value breaks the contract, in one SQL pass over the model.

        The dbt tests check this at build time; the table may have been edited since, or the model may
        have become a view. Checked: the contract's required attributes are not null, and timestamps are
        finite and within 0001-01-01 00:00:00 .. 9999-12-31 23:59:59 (the API's ``YYYY-MM-DD HH:MM:SS``
        has four-digit years and no BC).
        """
        rel = self.relation
        problems: list[tuple[str, str]] = [
            (f"{name} is null (a required attribute)", f"{name} is null") for name in self.contract.required
        ]
        for name in self.contract.timestamps:
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

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own on the model's connection (temporary tables belong to one cursor)."""
        return self._con.cursor()

    def count(self) -> int:
        return self._count(f"select count(*) from {self.table}")

    def stream(self, selection: Selection, *, chunk_rows: int = 8192) -> Iterator[pa.RecordBatch]:
        """Record batches of (the typed attributes, key_hash, content_hash, order_hash, row_json, row_bytes)
        for every selected row: the JSON is what is sent, the typed values what the ledger keeps once
        acknowledged. Every fingerprint and the byte count are computed here, in the one pass that renders
        the row, so nothing downstream encodes, hashes or measures a row again."""
        fields = ", ".join(
            f"'{a.name}': " + (_TIMESTAMP_TEXT.format(column=a.name) if a.api_type == "timestamp" else a.name)
            for a in self.contract.attributes
        )
        columns = ", ".join(self.contract.attribute_names)
        sql = f"""
            with model as (
                select *, {self.key_hash} as key_hash, {self.content_hash} as content_hash from {self.table}
            ),
            chosen as (select * from model {self._where(selection)}),
            rendered as (
                select {columns}, key_hash, content_hash, {self.identity_hash} as order_hash,
                       to_json({{{fields}}})::varchar as row_json
                from chosen
            )
            select *, strlen(row_json) as row_bytes from rendered"""
        # its own cursor, so the ledger can be written on the main connection while the rows stream
        cursor = self._cursor_for(selection)
        try:
            with mapped_faults(self._path):  # a full disk or memory mid-stream is an exporter error, not a bug
                yield from cursor.sql(sql).to_arrow_reader(chunk_rows)
        finally:
            cursor.close()  # an unfinished stream must not keep the database open after the run

    def selected_keys(self, selection: Selection) -> pa.Table:
        """The key columns (the version column as its API text) and content fingerprint of every selected row,
        in key order: what a plan file pins."""
        cursor = self._cursor_for(selection)
        try:
            keys = [
                _TIMESTAMP_TEXT.format(column=c) + f" as {c}" if c in self.contract.timestamps else c
                for c in self.contract.primary_key
            ]
            return cursor.sql(
                f"""with model as (select *, {self.key_hash} as key_hash, {self.content_hash} as content_hash
                                   from {self.table})
                    select {", ".join(keys)}, content_hash from model {self._where(selection)}
                    order by {", ".join(self.contract.primary_key)}"""
            ).to_arrow_table()
        finally:
            cursor.close()

    def _cursor_for(self, selection: Selection) -> duckdb.DuckDBPyConnection:
        cursor = self.cursor()
        if not selection.everything:
            cursor.register(_SELECTION, selection.key_hashes)
        return cursor

    @staticmethod
    def _where(selection: Selection) -> str:
        return "" if selection.everything else f"where key_hash in (select key_hash from {_SELECTION})"

    def _count(self, sql: str, params: list[object] | None = None) -> int:
        return int(scalar(self._con, sql, params) or 0)
