"""The ledger: the export's durable record of what each destination acknowledged, in its own schema.

It records outcomes and answers what the decision stage (:mod:`exporter.decide`) asks of it: the
destination's id, its log and content tables, the ``requestId`` values seen. It never reads the contract
model except to upgrade an old ledger in place. Every write goes through :meth:`Ledger.transaction`, the one
place where a DuckDB or OS fault becomes an exporter error (:func:`exporter.warehouse.environment_fault`).

Tables (schema ``mo_export_state`` by default):

* ``destinations``: one row per API the export has delivered to (base URL without userinfo, path, object,
  solution and a fingerprint of the token, which tells tenants at one URL apart; :mod:`exporter.destination`),
  with a small integer ``destination_id`` that every other table
  carries. Id 0 is "unknown": acknowledgements recorded by an exporter that did not record destinations and
  whose run did not say where it sent them. No run ever matches it, so those rows are sent again. A small
  integer rather than a hash, so any per-destination table (such as the last acknowledged content of each
  key, in columns) is keyed by ``(destination_id, key)`` cheaply.
* ``deliveries``: an append-only log, one row each time the API acknowledged a row (``outcome =
  'acknowledged'``) or rejected it (``'rejected'``), with the fingerprints of its key and of the content
  sent (:mod:`exporter.fingerprints`). The latest event per key decides what the next run sends; each
  successful run compacts the log to that latest event per key so it stays as large as the model. It holds
  fixed-size values only: writing the key's text for every acknowledged row cost more CPU than the rest of
  the log together.
* ``rejections``: every rejected row with the payload sent, the API's error code, category, message and
  column, and the run that sent it.
* ``runs``: one row per export run, with its destination, counts and outcome.
* ``acknowledgements``: one row per acknowledged request, with the API's ``requestId`` (schema version 6).
  A success body whose ``requestId`` the destination already gave another batch is a replayed answer (a
  caching proxy), not an acknowledgement of the request it came back for.
* ``acknowledged_content``: per destination, the last acknowledged content of each order (product,
  location, order number: the key without ``updated_at``), in the contract's typed columns, written in the
  same transaction as the acknowledgement. A changed order arrives with a new ``updated_at`` (a new key),
  so this is what `mo-export plan` and the change guard compare it with, attribute by attribute. About
  60 MB on disk per million orders (measured; docs/guarantees.md).

Everything is per destination: the latest event of a key is the latest for (destination, key), and a
run against a destination with no acknowledgements sends every row. Views: ``delivered`` (per destination,
the contract model's rows whose key the API acknowledged, with the key's columns, when, by which run, and
whether the content acknowledged is still the model's), ``outstanding_rejections`` (per destination, keys
whose latest event is a rejection). ``delivered`` joins the log to the model by key fingerprint, so a key
that has left the model no longer shows there.

Upgrades: a version-3 state (before the acknowledged content) is migrated in place on the first run that
writes: the content table is created and filled, for every acknowledged key whose content is still the
model's (its content fingerprint matches), from the model itself, which then *is* the content acknowledged.
Keys acknowledged with content the model no longer holds have no known content: a changed version under
the same key counts as "changed, previous content unknown"; a new version under a new ``updated_at``
cannot be matched to them and counts as new. A version-2 state (before destinations) is migrated in place
on the first run, then on to version 4. Each of its
events is given the destination its run recorded in its summary (the settings every finished run stores);
events of runs that recorded none (killed runs) get destination 0 and are sent again once (UPSERT makes
that harmless). A version-3 state (destinations without a token fingerprint) gains the column. A destination
recorded without a fingerprint (by either upgrade) is taken by the first token that sends to its URL, with
a warning: the runs before did not record which tenant they reached.

Version 5 -> 6 adds the acknowledgements table, empty: requests acknowledged before kept no ids.

Destinations that share the base URL and the object with a known one but are not it (another token, the
alternate path template) are its *siblings*: the decision refuses a first run to a sibling unless the user
says it is a new tenant (``--new-tenant``) or that the token was rotated (``--token-rotated``), which moves
the known destination, its whole ledger, to the new token's fingerprint.

Durability: a batch's rows are written here only after the API acknowledged the batch, in one transaction
that commits before the batch is counted. A kill at any moment loses at most acknowledgements that were
not yet committed; those rows are simply sent again (UPSERT of identical content is idempotent).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from exporter.model import ContractModel

from exporter.contract import ObjectContract
from exporter.destination import Destination, normalise_path, split_base_url
from exporter.errors import ConfigError, StateError
from exporter.fingerprints import content_hash_sql, identity_hash_sql, key_hash_sql
from exporter.outcomes import RowRejection
from exporter.settings import ExportSettings
from exporter.warehouse import mapped_faults, scalar

log = logging.getLogger(__name__)

SCHEMA_VERSION = 6
#: the last acknowledged content of each order per destination (schema version 4)
CONTENT_TABLE = "acknowledged_content"
#: the requestId of every acknowledged request per destination (schema version 6)
ACKNOWLEDGEMENTS_TABLE = "acknowledgements"
#: the destination of events recorded before the state knew destinations, and whose run did not say
UNKNOWN_DESTINATION_ID = 0


def ledger_tables(obj: ObjectContract) -> dict[str, dict[str, str]]:
    """table -> column -> DuckDB type of an object's ledger; checked on every start so a damaged schema is
    caught before sending. The rejections carry the object's key columns, the content its attributes."""
    key_types = {c: obj.duckdb_types[c] for c in obj.primary_key}
    return {
        "destinations": {
            "destination_id": "INTEGER",
            "base_url": "VARCHAR",
            "path": "VARCHAR",
            "object_name": "VARCHAR",
            "solution_name": "VARCHAR",
            "first_used_at": "TIMESTAMP WITH TIME ZONE",
            "token_fingerprint": "VARCHAR",
        },
        "deliveries": {
            "event_id": "BIGINT",
            "destination_id": "INTEGER",
            "key_hash": "UBIGINT",
            "content_hash": "UBIGINT",
            "outcome": "VARCHAR",
            "run_id": "VARCHAR",
            "recorded_at": "TIMESTAMP WITH TIME ZONE",
        },
        "rejections": {
            "event_id": "BIGINT",
            "destination_id": "INTEGER",
            "run_id": "VARCHAR",
            "key_hash": "UBIGINT",
            **key_types,
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
            "destination_id": "INTEGER",
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
        CONTENT_TABLE: {
            "destination_id": "INTEGER",
            "order_hash": "UBIGINT",
            **obj.duckdb_types,
        },
        ACKNOWLEDGEMENTS_TABLE: {
            "destination_id": "INTEGER",
            "request_id": "VARCHAR",
            "request_key": "VARCHAR",
            "run_id": "VARCHAR",
            "rows": "INTEGER",
            "recorded_at": "TIMESTAMP WITH TIME ZONE",
        },
    }



@dataclass
class BatchRecord:
    """What to record for one answered request: its rows, which of them were refused, and the API's
    ``requestId`` (None for rows refused without an acknowledgement: a single row the API refused alone, or
    one too large to send)."""

    #: the batch's rows: attributes, key_hash, content_hash, order_hash, and row_json when rows are rejected
    rows: pa.Table
    rejections: Sequence[RowRejection]
    request_id: str | None = None
    #: exporter.outcomes.request_key of the raw id: what replay detection compares
    request_key: str | None = None


@dataclass(frozen=True)
class DestinationMatch:
    """The ledger's answer for the destination a run's settings name."""

    #: None when the destination is not registered yet (a first run registers it once the guard let it through)
    destination_id: int | None
    #: labels of known destinations with the same base URL and object but another path or token
    siblings: tuple[str, ...] = field(default_factory=tuple)


def older_layouts(tables: dict[str, dict[str, str]]) -> dict[int, dict[str, dict[str, str]]]:
    """The tables of the ledger's earlier versions (2 to 5), checked before each is migrated."""
    v5 = {t: c for t, c in tables.items() if t != ACKNOWLEDGEMENTS_TABLE}  # before the acknowledgements
    v4 = {t: {n: ty for n, ty in c.items() if n != "token_fingerprint"} for t, c in v5.items()}  # before tokens
    v3 = {t: c for t, c in v4.items() if t != CONTENT_TABLE}  # before the acknowledged content
    v2 = {t: {n: ty for n, ty in c.items() if n != "destination_id"}  # before destinations
          for t, c in v3.items() if t != "destinations"}
    return {2: v2, 3: v3, 4: v4, 5: v5}


_DESTINATION_COLUMNS = "destination_id, base_url, path, object_name, solution_name, first_used_at, token_fingerprint"


class Ledger:
    def __init__(
        self, con: duckdb.DuckDBPyConnection, schema: str, model_relation: str, contract: ObjectContract,
        path: Path | None = None,
    ) -> None:
        """One object's ledger. ``model_relation``: the contract model's quoted name, which the ``delivered``
        view reads; ``path``: the DuckDB file, named in fault messages."""
        self._con = con
        self.path = path or Path("the DuckDB file")
        self.schema = schema
        self._model = model_relation
        self.contract = contract
        self.tables = ledger_tables(contract)
        self._layouts = older_layouts(self.tables)
        self._key_hash = key_hash_sql(contract)
        self._content_hash = content_hash_sql(contract)
        self._identity_hash = identity_hash_sql(contract)
        self._content_columns = ", ".join(contract.attribute_names)
        self._key_columns = ", ".join(contract.primary_key)
        #: what is written of an acknowledged row: its fingerprints and typed attributes
        self._acked_columns = ["key_hash", "content_hash", "order_hash", *contract.attribute_names]
        #: set by :meth:`use_destination`; every event this object records belongs to it
        self.destination_id: int | None = None

    @classmethod
    def open(cls, con: duckdb.DuckDBPyConnection, settings: ExportSettings, model: ContractModel, *,
             writes: bool) -> Ledger:
        """The ledger of ``settings.state_schema`` beside ``model``; a run that writes creates or upgrades it
        first (a read-only caller reads an older ledger as it is)."""
        ledger = cls(con, settings.state_schema, model.table, model.contract, settings.database_path)
        if writes:
            ledger.ensure()
        return ledger

    def recorder(self, run_id: str) -> Callable[[Sequence[BatchRecord]], None]:
        """What the delivery stage calls with each group of finished batches (one transaction a call)."""
        return lambda records: self.record_batches(run_id, records)

    def abandon_run(self, run_id: str, error: str) -> None:
        """Mark a run that an unexpected error ended as failed (exit 70), keeping that error first."""
        try:
            self.finish_run(run_id, status="failed", exit_code=70, summary={"error": error})
        except Exception as exc:  # the run's own error is the one to report
            log.warning("could not record the failed run %s: %s", run_id, exc)

    # -- set-up -------------------------------------------------------------------------------------------
    def exists(self) -> bool:
        sql = "select count(*) from information_schema.schemata where schema_name = ?"
        return bool(self._scalar(sql, [self.schema]))

    def has_deliveries(self) -> bool:
        """Whether the current destination ever acknowledged or rejected a row (its log is not empty)."""
        if self.destination_id is None:
            return False
        return self._scalar(
            f'select exists (select 1 from "{self.schema}".deliveries where destination_id = ?)',
            [self.destination_id],
        ) is True

    def has_completed_run(self) -> bool:
        """Whether a run to the current destination ever finished with every row answered (exit 0 or 1): until
        then the destination is still in its first load, which a killed run leaves to be resumed."""
        if self.destination_id is None or not self.exists():
            return False
        return self._scalar(
            f"""select exists (select 1 from "{self.schema}".runs where destination_id = ?
                and status in ('success', 'success_with_rejections') and mode not in ('dry-run', 'api-dry-run'))""",
            [self.destination_id],
        ) is True

    def ensure(self) -> None:
        """Create the schema on first use; on later runs migrate an older version and check the shape."""
        if not self.exists():
            self._create()
            return
        layouts = self._layouts
        if self._version() == 2 and not self._shape_problems(layouts[2]) and not self._has_table("destinations"):
            self._migrate_from_v2()
        if self._version() == 3 and not self._shape_problems(layouts[3]) and not self._has_table(CONTENT_TABLE):
            self._migrate_from_v3()
        if self._version() == 4 and not self._shape_problems(layouts[4]):
            self._migrate_from_v4()
        if self._version() == 5 and not self._shape_problems(layouts[5]):
            self._migrate_from_v5()
        self._check_shape()

    def has_content(self) -> bool:
        """Whether the state holds acknowledged content (version 4; a read-only caller may meet version 3)."""
        return self.exists() and self._has_table(CONTENT_TABLE)

    def use_destination(self, destination: Destination, *, token_rotated: bool = False) -> DestinationMatch:
        """Find the destination a run's settings name, writing nothing: its id (None when it is new), and the
        known destinations beside it. ``token_rotated``: the one destination with the same URL, object and
        solution whose ledger another token's runs filled is taken to be this token's (moved to it by
        :meth:`register_destination`); more than one such is refused, naming them.
        """
        s = self.schema
        values = _destination_values(destination)
        if not self.exists() or self._version() not in (3, 4, 5, SCHEMA_VERSION):
            self.destination_id = None
            return DestinationMatch(None)
        if self._version() != SCHEMA_VERSION:  # an older ledger, read as it is (ensure() migrates it)
            found = self._scalar(
                f"""select destination_id from "{s}".destinations
                    where base_url = ? and path = ? and object_name = ? and solution_name = ?""",
                values,
            )
            self.destination_id = None if found is None else int(found)
            return DestinationMatch(self.destination_id)
        # the same token's destination first; else one recorded before destinations knew tokens
        row = self._con.execute(
            f"""select destination_id, token_fingerprint from "{s}".destinations
                where base_url = ? and path = ? and object_name = ? and solution_name = ?
                  and (token_fingerprint is not distinct from ? or token_fingerprint is null)
                order by token_fingerprint is null, destination_id limit 1""",
            [*values, destination.token_fingerprint],
        ).fetchall()
        found = int(row[0][0]) if row else None
        if token_rotated and (found is None or not self._delivered_to(found)):
            found = self._rotation_candidate(destination) or found
        self.destination_id = found
        return DestinationMatch(found, siblings=self._siblings(destination, found))

    def register_destination(self, destination: Destination, *, token_rotated: bool = False) -> int:
        """Make the destination :meth:`use_destination` found this run's: register it if it is new, or move a
        known one (recorded without a token, or ``token_rotated``) to this token's fingerprint."""
        s = self.schema
        if self.destination_id is None:
            found = int(self._scalar(f'select coalesce(max(destination_id), 0) + 1 from "{s}".destinations'))
            with self.transaction():
                self._con.execute(
                    f"""insert into "{s}".destinations ({_DESTINATION_COLUMNS}) values (?, ?, ?, ?, ?, now(), ?)""",
                    [found, *_destination_values(destination), destination.token_fingerprint],
                )
            log.info("new destination %d: %s", found, destination.label)
            self.destination_id = found
            return found
        recorded = self._scalar(
            f'select token_fingerprint from "{s}".destinations where destination_id = ?', [self.destination_id])
        if recorded != destination.token_fingerprint and destination.token_fingerprint is not None:
            self._claim(self.destination_id, destination)
            if recorded is None:
                log.warning(
                    "destination %d (%s) was recorded before the state knew tokens: its acknowledgements are taken "
                    "to be this token's tenant. If they were another tenant's, run with --full-refresh once",
                    self.destination_id, destination.label, extra={"event": "destination_claimed"},
                )
            elif token_rotated:
                log.warning("token rotated: destination %d (%s) and its ledger now belong to the new token",
                            self.destination_id, destination.label, extra={"event": "token_rotated"})
        return self.destination_id

    def _delivered_to(self, destination_id: int) -> bool:
        return self._scalar(
            f'select exists (select 1 from "{self.schema}".deliveries where destination_id = ?)', [destination_id]
        ) is True

    def _rotation_candidate(self, destination: Destination) -> int | None:
        """The one destination at the same URL, object and solution that another token filled."""
        rows = self._con.execute(
            f"""select destination_id from "{self.schema}".destinations as d
                where base_url = ? and path = ? and object_name = ? and solution_name = ?
                  and token_fingerprint is distinct from ?
                  and exists (select 1 from "{self.schema}".deliveries as e where e.destination_id = d.destination_id)
                order by destination_id""",
            [*_destination_values(destination), destination.token_fingerprint],
        ).fetchall()
        if len(rows) > 1:
            listed = ", ".join(str(r[0]) for r in rows)
            raise ConfigError(
                f"--token-rotated: the ledger holds {len(rows)} destinations at {destination.label} filled by other "
                f"tokens (ids {listed}), so which tenant the new token belongs to is not clear; nothing was sent. "
                "Move the right one by hand (`update mo_export_state.destinations set token_fingerprint = ...`) "
                "or run with --new-tenant"
            )
        return int(rows[0][0]) if rows else None

    def _claim(self, destination_id: int, destination: Destination) -> None:
        with self.transaction():
            self._con.execute(
                f'update "{self.schema}".destinations set token_fingerprint = ? where destination_id = ?',
                [destination.token_fingerprint, destination_id],
            )

    def _siblings(self, destination: Destination, found: int | None) -> tuple[str, ...]:
        """Known destinations at the same base URL and object that are not this one (another path or token),
        and hold deliveries (one that never acknowledged a row, a mistyped setting's, resends nothing)."""
        rows = self._con.execute(
            f"""select destination_id, base_url, path, solution_name,
                       token_fingerprint is distinct from ? as other_token
                from "{self.schema}".destinations as d
                where base_url = ? and object_name = ? and destination_id is distinct from ?
                  and exists (select 1 from "{self.schema}".deliveries as e where e.destination_id = d.destination_id)
                order by destination_id""",
            [destination.token_fingerprint, destination.base_url, destination.object_name, found],
        ).fetchall()
        out = []
        for destination_id, base_url, path, solution, other_token in rows:
            why = "another token" if path == destination.path and other_token else f"path {path}"
            out.append(f"destination {destination_id} ({base_url}{path}, solution {solution}; {why})")
        return tuple(out)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, committed whole or rolled back; a DuckDB or OS fault (a full disk, a lock)
        leaves it as its exporter error (:func:`exporter.warehouse.mapped_faults`)."""
        con = self._con
        with mapped_faults(self.path):
            con.execute("begin")
            try:
                yield
                con.execute("commit")
            except BaseException:
                _rollback(con)
                raise

    def known_request_ids(self) -> list[str]:
        """The request keys (:func:`exporter.outcomes.request_key`) of every request any destination
        acknowledged (schema version 6)."""
        if not self.exists() or not self._has_table(ACKNOWLEDGEMENTS_TABLE):
            return []
        # every destination's: a requestId names one request at the API, whichever tenant's token sent it (a
        # cache that ignores the token would otherwise acknowledge a second tenant with the first one's answers)
        return [str(r[0]) for r in self._con.execute(
            f'select request_key from "{self.schema}".{ACKNOWLEDGEMENTS_TABLE}').fetchall()]

    def _create(self) -> None:
        s = self.schema
        con = self._con
        con.execute("begin")
        con.execute(f'create schema "{s}"')
        con.execute(f'create sequence "{s}".event_seq')
        for table, columns in self.tables.items():
            cols = []
            for name, type_ in columns.items():
                default = f" default nextval('\"{s}\".event_seq')" if name == "event_id" else ""
                cols.append(f'"{name}" {type_}{default}')
            con.execute(f'create table "{s}"."{table}" ({", ".join(cols)})')
        con.execute(f'insert into "{s}".schema_version values ({SCHEMA_VERSION})')
        self._create_views()
        con.execute("commit")
        log.info("created export state schema %s", s)

    def _migrate_from_v2(self) -> None:
        """Version 2 -> 3 in place: add destinations, and give each event its run's recorded destination."""
        s = self.schema
        con = self._con
        recorded = con.execute(f'select run_id, summary from "{s}".runs where summary is not null').fetchall()
        con.execute("begin")
        try:
            for view in ("outstanding_rejections", "delivered", "latest_delivery_events"):
                con.execute(f'drop view if exists "{s}"."{view}"')
            columns = ", ".join(f'"{n}" {t}' for n, t in self.tables["destinations"].items())
            con.execute(f'create table "{s}".destinations ({columns})')
            for table in ("deliveries", "rejections", "runs"):
                con.execute(f'alter table "{s}"."{table}" add column destination_id INTEGER')
            ids: dict[Destination, int] = {}
            run_destination: list[tuple[int, str]] = []
            for run_id, summary in recorded:
                destination = _recorded_destination(summary)
                if destination is None:
                    continue
                if destination not in ids:
                    ids[destination] = len(ids) + 1
                    con.execute(
                        f"""insert into "{s}".destinations ({_DESTINATION_COLUMNS})
                            values (?, ?, ?, ?, ?, now(), null)""",
                        [ids[destination], *_destination_values(destination)],
                    )
                run_destination.append((ids[destination], run_id))
            if run_destination:
                con.executemany(f'update "{s}".runs set destination_id = ? where run_id = ?', run_destination)
            for table in ("deliveries", "rejections"):
                con.execute(
                    f"""update "{s}"."{table}" as t set destination_id = coalesce(
                        (select r.destination_id from "{s}".runs as r where r.run_id = t.run_id), ?)""",
                    [UNKNOWN_DESTINATION_ID],
                )
            con.execute(f'update "{s}".runs set destination_id = ? where destination_id is null',
                        [UNKNOWN_DESTINATION_ID])
            con.execute(f'delete from "{s}".schema_version')
            con.execute(f'insert into "{s}".schema_version values (3)')
            self._create_views()
            con.execute("commit")
        except BaseException:
            _rollback(con)
            raise
        log.warning(
            "migrated the export state schema %s from version 2 to 3: %d destination(s) taken from the "
            "recorded runs; events of runs that recorded none will be sent again once",
            s, len(ids), extra={"event": "state_migrated"},
        )

    def _migrate_from_v3(self) -> None:
        """Version 3 -> 4 in place: add the acknowledged content, filled from the model where it is known.

        A key whose latest event is an acknowledgement of the content the model holds now was acknowledged
        with exactly the model's row, so that row is its content. Others stay unknown (see the module doc).
        """
        s = self.schema
        con = self._con
        columns = ", ".join(f'"{n}" {t}' for n, t in self.tables[CONTENT_TABLE].items())
        con.execute("begin")
        try:
            con.execute(f'create table "{s}".{CONTENT_TABLE} ({columns})')
            con.execute(
                f"""insert into "{s}".{CONTENT_TABLE}
                select event.destination_id, model.order_hash, {self._content_columns}
                from "{s}".latest_delivery_events as event
                join (select *, {self._key_hash} as key_hash, {self._content_hash} as content_hash,
                             {self._identity_hash} as order_hash
                      from {self._model}) as model
                  on model.key_hash = event.key_hash and model.content_hash = event.content_hash
                where event.outcome = 'acknowledged' and event.destination_id <> {UNKNOWN_DESTINATION_ID}
                qualify row_number() over (
                    partition by event.destination_id, model.order_hash order by {self._latest_first}) = 1"""
            )
            known = self._scalar(f'select count(*) from "{s}".{CONTENT_TABLE}')
            con.execute(f'delete from "{s}".schema_version')
            con.execute(f'insert into "{s}".schema_version values (4)')
            con.execute("commit")
        except BaseException:
            _rollback(con)
            raise
        log.warning(
            "migrated the export state schema %s from version 3 to 4: the acknowledged content of %d orders "
            "taken from the model; orders acknowledged with content the model no longer holds have no known "
            "previous content", s, int(known or 0), extra={"event": "state_migrated"},
        )

    def _migrate_from_v4(self) -> None:
        """Version 4 -> 5 in place: destinations gain the token fingerprint (unknown for those recorded)."""
        self._migrate(5, f'alter table "{self.schema}".destinations add column if not exists token_fingerprint VARCHAR')
        log.warning("migrated the export state schema %s from version 4 to 5: destinations now know the token's "
                    "tenant", self.schema, extra={"event": "state_migrated"})

    def _migrate_from_v5(self) -> None:
        """Version 5 -> 6 in place: the acknowledgements table (requestIds), empty; destinations named by
        origin and whole path (a base URL's path moves into ``path``)."""
        s = self.schema
        columns = ", ".join(f'"{n}" {t}' for n, t in self.tables[ACKNOWLEDGEMENTS_TABLE].items())
        moved = [
            (origin, normalise_path(base_path + "/" + path), destination_id)
            for destination_id, base_url, path in self._con.execute(
                f'select destination_id, base_url, path from "{s}".destinations').fetchall()
            for origin, base_path in [split_base_url(base_url)]
        ]
        statements = [f'create table "{s}".{ACKNOWLEDGEMENTS_TABLE} ({columns})']
        self._migrate(6, *statements, updates=(f'update "{s}".destinations set base_url = ?, path = ? '
                                               "where destination_id = ?", moved))
        log.info("migrated the export state schema %s from version 5 to 6: requestIds are kept from now on",
                 self.schema, extra={"event": "state_migrated"})

    def _migrate(self, version: int, *statements: str,
                 updates: tuple[str, list[tuple[Any, ...]]] | None = None) -> None:
        """Run ``statements`` (and ``updates``: one statement, many rows) and set the schema version to
        ``version``, in one transaction."""
        with self.transaction():
            for statement in statements:
                self._con.execute(statement)
            if updates is not None and updates[1]:
                self._con.executemany(*updates)
            self._con.execute(f'delete from "{self.schema}".schema_version')
            self._con.execute(f'insert into "{self.schema}".schema_version values ({version})')

    def _create_views(self) -> None:
        s = self.schema
        self._con.execute(
            f"""create or replace view "{s}".latest_delivery_events as
            select * from "{s}".deliveries
            qualify row_number() over (partition by destination_id, key_hash order by event_id desc) = 1"""
        )
        self._con.execute(
            f"""create or replace view "{s}".delivered as
            select event.destination_id,
                   {", ".join(f"model.{c}" for c in self._key_in_attribute_order)},
                   event.content_hash = model.content_hash as is_current,
                   event.run_id, event.recorded_at as acknowledged_at, event.key_hash, event.content_hash
            from "{s}".latest_delivery_events as event
            join (select *, {self._key_hash} as key_hash, {self._content_hash} as content_hash
                  from {self._model}) as model using (key_hash)
            where event.outcome = 'acknowledged'"""
        )
        self._con.execute(
            f"""create or replace view "{s}".outstanding_rejections as
            select r.* from "{s}".latest_delivery_events e
            join "{s}".rejections r
              on r.destination_id = e.destination_id and r.key_hash = e.key_hash
             and r.content_hash = e.content_hash and r.run_id = e.run_id
            where e.outcome = 'rejected'"""
        )

    def _has_table(self, table: str) -> bool:
        return bool(self._scalar(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [self.schema, table],
        ))

    def _other_objects(self) -> list[str]:
        """Object names this schema's destinations record, when none is this object's (another's ledger)."""
        if not self._has_table("destinations"):
            return []
        names = [str(r[0]) for r in self._con.execute(
            f'select distinct object_name from "{self.schema}".destinations order by 1').fetchall()]
        return [] if not names or self.contract.object_name in names else names

    def layout_version(self) -> int | None:
        """The version of the ledger's layout as written (None without a ledger); older ones are migrated
        by the next run that writes, and read as they are until then."""
        version = self._version()
        return None if version is None else int(version)

    def _version(self) -> Any:
        try:
            return self._scalar(f'select max(version) from "{self.schema}".schema_version')
        except duckdb.CatalogException:
            return None

    def _shape_problems(self, tables: dict[str, dict[str, str]]) -> list[str]:
        s = self.schema
        rows = self._con.execute(
            "select table_name, column_name, data_type from information_schema.columns where table_schema = ?", [s]
        ).fetchall()
        found: dict[str, dict[str, str]] = {}
        for table, column, type_ in rows:
            found.setdefault(table, {})[column] = type_
        problems = []
        for table, columns in tables.items():
            if table not in found:
                problems.append(f"table {s}.{table} is missing")
                continue
            for name, type_ in columns.items():
                if found[table].get(name) != type_:
                    problems.append(f"{s}.{table}.{name} should be {type_}, is {found[table].get(name) or 'missing'}")
        return problems

    def _check_shape(self) -> None:
        s = self.schema
        problems = self._shape_problems(self.tables)
        if not problems:
            version = self._version()
            if version != SCHEMA_VERSION:
                problems.append(f"schema version is {version}, this exporter needs {SCHEMA_VERSION}")
        others = self._other_objects() if problems else []
        if others:
            raise StateError(
                f"the export state schema {s!r} holds the ledger of another object ({', '.join(others)}), not of "
                f"{self.contract.object_name} ({self.contract.model_name}): --model-name or --state-schema point "
                "this object at it. Nothing was changed; do not drop it. Run with the object's own names "
                "(--object MODEL sends one object; see docs/locations.md#the-export)"
            )
        if problems:
            raise StateError(
                f"the export state schema {s!r} is damaged or from another version: {'; '.join(problems[:5])}. "
                f"Inspect it, then move it aside (`alter schema {s} rename to {s}_broken`) or drop it "
                f"(`drop schema {s} cascade`): the next run then starts afresh and re-sends every row "
                "(UPSERT makes that safe)."
            )
        try:
            self._scalar(f"select nextval('\"{s}\".event_seq')")
        except duckdb.CatalogException as exc:
            raise StateError(f"the export state schema {s!r} lost its event sequence: {exc}") from None
        self._create_views()

    # -- runs ---------------------------------------------------------------------------------------------
    def begin_run(self, mode: str) -> str:
        """Register a run; runs still marked 'running' were killed (we hold the file lock now)."""
        s = self.schema
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        with self.transaction():
            self._con.execute(f"""update "{s}".runs set status = 'interrupted' where status = 'running'""")
            self._con.execute(
                f"""insert into "{s}".runs (run_id, destination_id, started_at, status, mode)
                    values (?, ?, now(), 'running', ?)""",
                [run_id, self.destination_id, mode],
            )
        return run_id

    def finish_run(self, run_id: str, *, status: str, exit_code: int, summary: dict[str, Any]) -> None:
        counts = summary.get("rows", {})
        http = summary.get("http", {})
        with self.transaction():
            self._finish_run(run_id, status, exit_code, summary, counts, http)

    def _finish_run(self, run_id: str, status: str, exit_code: int, summary: dict[str, Any],
                    counts: dict[str, Any], http: dict[str, Any]) -> None:
        s = self.schema
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

        The caller counts the rows only after this returns (the commit is done). Every table is written with
        one statement per group, reading Arrow tables registered for the statement (no statement per row or
        per request, no temporary table): a group's cost is its commit and a few vectorised scans.
        """
        if self.destination_id is None:
            raise StateError("internal: no destination selected before recording deliveries")
        acked_parts: list[pa.Table] = []
        rejected_parts: list[pa.Table] = []
        for record in records:
            # the columns every record carries (the JSON only comes with rows to record as rejected)
            acked_rows = record.rows.select(self._acked_columns)
            if not record.rejections:
                acked_parts.append(acked_rows)
                continue
            refused = {r.row_index for r in record.rejections}
            mask = pa.array([i not in refused for i in range(record.rows.num_rows)])
            acked_parts.append(acked_rows.filter(mask))
            rejected_parts.append(_rejection_table(record, self.contract.primary_key))
        acked = pa.concat_tables(acked_parts) if acked_parts else None
        rejected = pa.concat_tables(rejected_parts) if rejected_parts else None
        requests = [r for r in records if r.request_key]
        s = self.schema
        con = self._con
        params = [self.destination_id, run_id]
        with self.transaction():
            if acked is not None and acked.num_rows:
                con.register("_acked_rows", acked)
                try:
                    con.execute(
                        f"""insert into "{s}".deliveries
                            (destination_id, key_hash, content_hash, outcome, run_id, recorded_at)
                        select ?, key_hash, content_hash, 'acknowledged', ?, now() from _acked_rows""",
                        params,
                    )
                    self._record_content(acked)
                finally:
                    con.unregister("_acked_rows")
            if rejected is not None and rejected.num_rows:
                con.register("_rejected_rows", rejected)
                try:
                    con.execute(
                        f"""insert into "{s}".deliveries
                            (destination_id, key_hash, content_hash, outcome, run_id, recorded_at)
                        select distinct ?, key_hash, content_hash, 'rejected', ?, now() from _rejected_rows""",
                        params,
                    )
                    con.execute(
                        f"""insert into "{s}".rejections
                            (destination_id, run_id, key_hash, {self._key_columns}, content_hash, payload, http_status,
                             error_code, category, message, column_name, rejected_at)
                        select ?, ?, key_hash, {self._key_columns}, content_hash, row_json, http_status, error_code,
                               category, message, column_name, now()
                        from _rejected_rows""",
                        params,
                    )
                finally:
                    con.unregister("_rejected_rows")
            if requests:
                con.register("_acked_requests", pa.table({
                    "request_id": pa.array([r.request_id for r in requests], type=pa.string()),
                    "request_key": pa.array([r.request_key for r in requests], type=pa.string()),
                    "rows": pa.array([r.rows.num_rows for r in requests], type=pa.int32()),
                }))
                try:
                    con.execute(
                        f"""insert into "{s}".{ACKNOWLEDGEMENTS_TABLE}
                            (destination_id, request_id, request_key, run_id, rows, recorded_at)
                        select ?, request_id, request_key, ?, rows, now() from _acked_requests""",
                        params,
                    )
                finally:
                    con.unregister("_acked_requests")

    def _record_content(self, acked: pa.Table) -> None:
        """Replace the destination's last acknowledged content of the orders in ``_acked_rows`` (inside the
        caller's transaction): one delete and one insert. The typed values and the order's fingerprint travel
        with each row from the model's stream beside the JSON rendered from them, so nothing is parsed back or
        hashed again. Of two versions of one order in the same group (rare: checked on the Arrow column
        first), the later ``updated_at`` wins."""
        s = self.schema
        latest = ""
        if pc.count_distinct(acked.column("order_hash")).as_py() != acked.num_rows:
            latest = f"qualify row_number() over (partition by order_hash order by {self._latest_first}) = 1"
        self._con.execute(
            f"""delete from "{s}".{CONTENT_TABLE} where destination_id = ?
                and order_hash in (select order_hash from _acked_rows)""",
            [self.destination_id],
        )
        self._con.execute(
            f"""insert into "{s}".{CONTENT_TABLE}
                select ?, order_hash, {self._content_columns} from _acked_rows {latest}""",
            [self.destination_id],
        )

    def compact(self) -> int:
        """Keep only the latest event per (destination, key) in the log; returns the number of events removed."""
        s = self.schema
        before = self._scalar(f'select count(*) from "{s}".deliveries')
        with self.transaction():
            self._con.execute(
                f"""delete from "{s}".deliveries where event_id not in (
                    select event_id from "{s}".latest_delivery_events)"""
            )
        after = self._scalar(f'select count(*) from "{s}".deliveries')
        return int(before) - int(after)

    # -- reporting ----------------------------------------------------------------------------------------
    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        """The last runs against any destination, each with its destination's label."""
        cur = self._con.execute(
            f"""select r.run_id, r.destination_id,
                       case when d.base_url is null then 'unknown (recorded before destinations)'
                            else d.base_url || d.path || ' (solution ' || d.solution_name || ')' end as destination,
                       r.started_at, r.finished_at, r.status, r.exit_code, r.mode, r.rows_considered, r.rows_sent,
                       r.rows_acknowledged, r.rows_rejected, r.requests, r.retries, r.throttled_waits,
                       r.duration_seconds
                from "{self.schema}".runs as r
                left join "{self.schema}".destinations as d using (destination_id)
                order by r.started_at desc limit ?""",
            [limit],
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def rejection_counts(self) -> list[tuple[str, int]]:
        """Outstanding rejections at the current destination (latest event per key is a rejection), by code."""
        if self.destination_id is None:
            return []
        return [
            (str(code), int(n))
            for code, n in self._con.execute(
                f"""select error_code, count(*) from "{self.schema}".outstanding_rejections
                    where destination_id = ? group by error_code order by count(*) desc, error_code""",
                [self.destination_id],
            ).fetchall()
        ]

    @property
    def _key_in_attribute_order(self) -> list[str]:
        """The key columns as the object lists its attributes (the orders' view: order_number first)."""
        return [c for c in self.contract.attribute_names if c in self.contract.primary_key]

    @property
    def _latest_first(self) -> str:
        """Of two versions of one record, the later first (by the version column; else either)."""
        version = self.contract.version_column
        return f"{version} desc" if version else "key_hash"

    def _scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        return scalar(self._con, sql, params)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back if a transaction is still open: after some failures (a full disk) DuckDB has already
    ended it, and a second error from the rollback must not hide the first."""
    try:
        con.execute("rollback")
    except duckdb.Error as exc:
        log.debug("rollback after a failed write: %s", exc)


def _destination_values(destination: Destination) -> list[str]:
    return [destination.base_url, destination.path, destination.object_name, destination.solution_name]


def _recorded_destination(summary: str) -> Destination | None:
    """The destination a version-2 run recorded in its summary's settings, if it did."""
    try:
        settings = orjson.loads(summary).get("settings") or {}
        if settings.get("dry_run") or settings.get("api_dry_run"):
            return None  # such runs recorded no deliveries
        return Destination.from_settings(settings)
    except (orjson.JSONDecodeError, AttributeError, KeyError, ValueError, TypeError):
        return None


def _rejection_table(record: BatchRecord, key: Sequence[str]) -> pa.Table:
    """One row per (row, error) with the row's key, hash and payload beside the API's reason."""
    indices = [r.row_index for r in record.rejections]
    rows = record.rows.take(pa.array(indices, type=pa.int64()))
    table = rows.select(["key_hash", *key, "content_hash", "row_json"])
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
