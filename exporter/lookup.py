"""`mo-export status --key`: everything the export knows about one order, per destination, read-only.

"Why is order 4711 not in Peak?" is answered from four places, and nothing here decides anything itself:

* the contract model (the order's rows, as the API would receive them) and the rejected mart (its rows there,
  with dbt's rejection reasons), found by dbt's manifest as the export finds them;
* per destination in the ledger (:mod:`exporter.ledger`), the last acknowledged content of the order, with
  when and by which run it was acknowledged;
* per destination, whether each model row is acknowledged as it is, pending (new, or changed since the
  acknowledged content: the attributes that differ are named) or held (the API rejected this very content
  and it has not changed since; or the change guard refuses the next run to the settings' destination):
  the decision stage's own comparison (:func:`exporter.decide.decide_rows`), restricted to the order's rows;
* per destination, the API's rejections of the order (error code, category, message, column), and whether
  each is outstanding (the latest event of its key);
* per destination, the last run, so a pending row can be explained by a run that failed or was refused.

An order in none of them is unknown: that is an answer, not an error. The JSON form (:meth:`KeyAnswer.as_dict`)
has stable keys, documented in `mo-export status --help` (:mod:`exporter.cli.status`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import duckdb
import orjson

from exporter.contract import TIMESTAMP_FORMAT, ObjectContract
from exporter.dbt_artifacts import ModelRelation, resolve_model
from exporter.decide import ParentCheck, RowDecision, decide, decide_rows, parent_checks
from exporter.destination import Destination
from exporter.errors import BuildError, ConfigError
from exporter.fingerprints import key_hash_sql
from exporter.ledger import CONTENT_TABLE, Ledger
from exporter.model import ContractModel
from exporter.object_contracts import one_object
from exporter.settings import ExportSettings
from exporter.spark_build import table_folder
from exporter.warehouse import connect_for, create_parquet_view, mapped_faults, scalar

log = logging.getLogger(__name__)

#: the rejected mart is the contract model's name with this suffix (dbt's manifest says where it is)
REJECTED_MART_SUFFIX = "_rejected"
#: the rejected mart's columns that hold the contract's identity (trimmed source values)
_MART_IDENTITY = {"order_number": "order_number", "product_id": "material_code", "location_id": "plant_code"}
#: the columns a key lookup names (KeyQuery): it answers for the manufacturing orders
_ORDER_COLUMNS = ("order_number", "product_id", "location_id", "updated_at")
#: API rejections listed per destination, newest first
REJECTIONS_LISTED = 20
_ACCEPTED_TIMESTAMP_FORMATS = (TIMESTAMP_FORMAT, "%Y-%m-%dT%H:%M:%S")

RowState = Literal["acknowledged", "pending", "held"]

@dataclass(frozen=True)
class KeyQuery:
    """The order asked about: its order number, optionally narrowed by the other key parts."""

    order_number: str
    product_id: str | None = None
    location_id: str | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_options(cls, order_number: str | None, *, product_id: str | None = None,
                     location_id: str | None = None, updated_at: str | None = None) -> KeyQuery | None:
        """The query `status --key` options name, or None without ``--key``; the other key parts only narrow
        an order number, so they need it."""
        if order_number is None:
            given = [flag for flag, value in (("--product-id", product_id), ("--location-id", location_id),
                                              ("--updated-at", updated_at)) if value is not None]
            if given:
                raise ConfigError(f"{', '.join(given)} narrow(s) an order number: add --key ORDER_NUMBER")
            return None
        return cls.parse(order_number, product_id=product_id, location_id=location_id, updated_at=updated_at)

    @classmethod
    def parse(cls, order_number: str, *, product_id: str | None = None, location_id: str | None = None,
              updated_at: str | None = None) -> KeyQuery:
        """From the command line's text (trimmed, as the models trim codes); a malformed part is a ConfigError."""
        parts = {"--key": order_number, "--product-id": product_id, "--location-id": location_id}
        trimmed = {flag: None if value is None else value.strip() for flag, value in parts.items()}
        for flag, value in trimmed.items():
            if value == "":
                raise ConfigError(f"{flag} is empty: give the value as the contract model holds it")
        return cls(
            order_number=str(trimmed["--key"]),
            product_id=trimmed["--product-id"],
            location_id=trimmed["--location-id"],
            updated_at=None if updated_at is None else _timestamp(updated_at),
        )

    def identity_predicate(self, columns: dict[str, str] | None = None) -> tuple[str, list[Any]]:
        """``column = ?`` for every identity part given (``columns`` renames them, e.g. in the rejected mart)."""
        names = columns or {}
        given = [(name, value) for name, value in (("order_number", self.order_number),
                                                  ("product_id", self.product_id),
                                                  ("location_id", self.location_id)) if value is not None]
        return " and ".join(f'"{names.get(n, n)}" = ?' for n, _ in given), [v for _, v in given]

    def key_predicate(self) -> tuple[str, list[Any]]:
        """The identity parts and ``updated_at`` when given: the rows of this order (version) in the model."""
        where, params = self.identity_predicate()
        if self.updated_at is not None:
            return f"{where} and updated_at = ?", [*params, self.updated_at]
        return where, params

    def as_dict(self) -> dict[str, str | None]:
        return {"order_number": self.order_number, "product_id": self.product_id, "location_id": self.location_id,
                "updated_at": None if self.updated_at is None else self.updated_at.strftime(TIMESTAMP_FORMAT)}

    @property
    def label(self) -> str:
        extra = [f"{name} {value}" for name, value in self.as_dict().items() if name != "order_number" and value]
        return f"order {self.order_number}" + (f" ({', '.join(extra)})" if extra else "")


@dataclass(frozen=True)
class AttributeDiff:
    """One attribute of a changed order: the value the destination acknowledged last, and the model's now."""

    attribute: str
    acknowledged: Any
    now: Any


@dataclass(frozen=True)
class Acknowledgement:
    """The last content of an order the destination acknowledged, and when and by which run (None when the
    log no longer holds the event: a later rejection of the same key replaced it)."""

    order: dict[str, str]
    content: dict[str, Any]
    acknowledged_at: datetime | None
    run_id: str | None


@dataclass(frozen=True)
class RowStatus:
    """One model row at one destination."""

    key: dict[str, Any]
    #: acknowledged: the destination holds it as it is; pending: the next run sends it; held: it does not
    state: RowState
    #: how it compares with the destination's last acknowledged content of the order (decide.CHANGE_NAMES)
    change: str
    changed_attributes: tuple[AttributeDiff, ...] = ()
    #: what keeps the next run from sending it (a rejection unchanged since, the change guard)
    held_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiRejection:
    key: dict[str, Any]
    run_id: str
    rejected_at: datetime | None
    http_status: int | None
    error_code: str | None
    category: str | None
    message: str | None
    column: str | None
    #: the latest event of its key is this rejection (an outstanding rejection)
    outstanding: bool


@dataclass(frozen=True)
class LastRun:
    run_id: str
    mode: str
    status: str
    exit_code: int | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None

    @property
    def failed(self) -> bool:
        return self.status not in ("success", "success_with_rejections")


@dataclass(frozen=True)
class DestinationAnswer:
    #: None: the destination the settings name, not registered yet (nothing was ever sent there)
    destination_id: int | None
    label: str
    #: the destination the settings (PEAK_BASE_URL, the token, ...) point at: where the next run goes
    settings_destination: bool
    acknowledged: tuple[Acknowledgement, ...] = ()
    rows: tuple[RowStatus, ...] = ()
    rejections: tuple[ApiRejection, ...] = ()
    last_run: LastRun | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "destination_id": self.destination_id,
            "destination": self.label,
            "settings_destination": self.settings_destination,
            "acknowledged": [{"order": a.order, "content": a.content, "acknowledged_at": a.acknowledged_at,
                              "run_id": a.run_id} for a in self.acknowledged],
            "rows": [{"key": r.key, "state": r.state, "change": r.change,
                      "changed_attributes": [{"attribute": c.attribute, "acknowledged": c.acknowledged, "now": c.now}
                                             for c in r.changed_attributes],
                      "held_by": list(r.held_by)} for r in self.rows],
            "api_rejections": [{"key": r.key, "run_id": r.run_id, "rejected_at": r.rejected_at,
                                "http_status": r.http_status, "error_code": r.error_code, "category": r.category,
                                "message": r.message, "column": r.column, "outstanding": r.outstanding}
                               for r in self.rejections],
            "last_run": None if self.last_run is None else {
                "run_id": self.last_run.run_id, "mode": self.last_run.mode, "status": self.last_run.status,
                "exit_code": self.last_run.exit_code, "started_at": self.last_run.started_at,
                "finished_at": self.last_run.finished_at, "error": self.last_run.error},
        }


@dataclass(frozen=True)
class RejectedMartRow:
    order: dict[str, str | None]
    reasons: tuple[str, ...]
    row: dict[str, Any]


@dataclass(frozen=True)
class KeyAnswer:
    query: KeyQuery
    state_exists: bool
    in_model: tuple[dict[str, Any], ...]
    in_rejected_mart: tuple[RejectedMartRow, ...]
    destinations: tuple[DestinationAnswer, ...]
    #: why the rejected mart was not read (not in the manifest or the file), else None
    rejected_mart_note: str | None = None
    model: str = field(default="")

    @property
    def found_in(self) -> tuple[str, ...]:
        return tuple(name for name, rows in (("contract_model", self.in_model),
                                             ("rejected_mart", self.in_rejected_mart)) if rows)

    @property
    def known(self) -> bool:
        """Anywhere at all: in a mart, or acknowledged or rejected at a destination once."""
        return bool(self.found_in) or any(d.acknowledged or d.rejections for d in self.destinations)

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query.as_dict(),
            "known": self.known,
            "found_in": list(self.found_in),
            "model": self.model,
            "contract_model": list(self.in_model),
            "rejected_mart": [{"order": r.order, "rejection_reasons": list(r.reasons), "row": r.row}
                              for r in self.in_rejected_mart],
            "rejected_mart_note": self.rejected_mart_note,
            "state_exists": self.state_exists,
            "destinations": [d.as_dict() for d in self.destinations],
        }

    def to_json(self) -> str:
        return orjson.dumps(self.as_dict(), default=_json_default, option=orjson.OPT_INDENT_2).decode()


def look_up(settings: ExportSettings, query: KeyQuery) -> KeyAnswer:
    """Everything the export knows of the order ``query`` names, read-only (the build verdict not required)."""
    contract, settings, parents = one_object(settings)
    missing = [c for c in _ORDER_COLUMNS if c not in contract.attribute_names]
    if missing:
        raise ConfigError(f"status --key looks up manufacturing orders; the object {contract.model_name} has no "
                          f"{', '.join(missing)}")
    with connect_for(settings, writes=False) as con, mapped_faults(settings.database_path):
        model = ContractModel.open(con, settings, contract, check_build=False)
        checks = parent_checks(con, contract, parents, settings)
        ledger = Ledger.open(con, settings, model, writes=False)
        in_model = _model_rows(con, model, query)
        mart_rows, mart_note = _rejected_mart_rows(con, settings, query)
        state_exists = ledger.exists()
        _check_readable(ledger, state_exists)
        settings_destination = Destination.from_settings(settings)
        current = ledger.use_destination(settings_destination).destination_id if state_exists else None
        known = _destinations(con, ledger) if state_exists else []
        if current is None:  # where the next run goes, though nothing was sent there yet
            known.append((None, settings_destination))
        answers = [
            _at_destination(con, model, ledger, settings, query, in_model, destination_id, destination,
                            is_current=destination_id == current, checks=checks)
            for destination_id, destination in known
        ]
        answer = KeyAnswer(query, state_exists, tuple(_api_row(r, contract) for r in in_model), tuple(mart_rows),
                           tuple(answers), mart_note, model.label)
    log.info("looked up %s: found in %s, %d destination(s)", query.label, ", ".join(answer.found_in) or "no mart",
             len(answer.destinations), extra={"event": "key_looked_up"})
    return answer


# -- the marts ------------------------------------------------------------------------------------------------
def _model_rows(con: duckdb.DuckDBPyConnection, model: ContractModel, query: KeyQuery) -> list[dict[str, Any]]:
    where, params = query.key_predicate()
    columns = ", ".join(model.contract.attribute_names)
    return _dicts(con, f"""select {columns}, {model.key_hash} as key_hash from {model.table} where {where}
                           order by updated_at desc, product_id, location_id""", params)


def _rejected_mart_rows(con: duckdb.DuckDBPyConnection, settings: ExportSettings,
                        query: KeyQuery) -> tuple[list[RejectedMartRow], str | None]:
    name = settings.model_name + REJECTED_MART_SUFFIX
    try:
        relation = resolve_model(settings.target_path, name)
    except BuildError:
        return [], f"the rejected mart {name} is not in dbt's manifest: not looked up"
    if settings.on_spark and not _expose_spark_table(con, settings, relation):
        return [], f"the Spark build wrote no Parquet files of the rejected mart {relation.identifier}: not looked up"
    if not _has_relation(con, relation):
        return [], f"the rejected mart {relation.schema}.{relation.identifier} is not in this DuckDB file"
    where, params = query.identity_predicate(_MART_IDENTITY)
    rows = _dicts(con, f"select * from {relation.qualified_name} where {where} order by all", params)
    return [
        RejectedMartRow(
            order={key: row.get(column) for key, column in _MART_IDENTITY.items()},
            reasons=tuple(str(row.get("rejection_reasons") or "").split(",")) if row.get("rejection_reasons") else (),
            row={k: _api_value(v) for k, v in row.items()},
        )
        for row in rows
    ], None


def _expose_spark_table(con: duckdb.DuckDBPyConnection, settings: ExportSettings, relation: ModelRelation) -> bool:
    folder = table_folder(settings.spark_warehouse, relation.schema, relation.identifier)
    if not any(folder.glob("*.parquet")):
        return False
    create_parquet_view(con, relation.schema, relation.identifier, folder)
    return True


def _has_relation(con: duckdb.DuckDBPyConnection, relation: ModelRelation) -> bool:
    return bool(scalar(con, "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                       [relation.schema, relation.identifier]))


#: the oldest ledger layout a lookup reads: destinations and the acknowledged content (version 4)
OLDEST_READABLE_LAYOUT = 4


def _check_readable(ledger: Ledger, state_exists: bool) -> None:
    version = ledger.layout_version() if state_exists else None
    if version is not None and version < OLDEST_READABLE_LAYOUT:
        raise ConfigError(
            f'the export state "{ledger.schema}" has layout version {version}, older than a lookup reads '
            f"({OLDEST_READABLE_LAYOUT}): the next `mo-export run` migrates it in place, then look the key up again"
        )


# -- per destination ------------------------------------------------------------------------------------------
def _destinations(con: duckdb.DuckDBPyConnection, ledger: Ledger) -> list[tuple[int | None, Destination]]:
    rows = con.execute(
        f"""select destination_id, base_url, path, object_name, solution_name
            from "{ledger.schema}".destinations order by destination_id""").fetchall()
    return [(int(i), Destination(base_url, path, object_name, solution)) for i, base_url, path, object_name, solution
            in rows]


def _at_destination(
    con: duckdb.DuckDBPyConnection, model: ContractModel, ledger: Ledger, settings: ExportSettings,
    query: KeyQuery, in_model: list[dict[str, Any]], destination_id: int | None, destination: Destination, *,
    is_current: bool, checks: tuple[ParentCheck, ...],
) -> DestinationAnswer:
    label = destination.label + ("" if destination_id is not None else " (not registered: nothing sent there yet)")
    acknowledged = _acknowledged(con, ledger, query, destination_id) if destination_id is not None else []
    rejections = _rejections(con, ledger, query, destination_id) if destination_id is not None else []
    decisions = {d.key_hash: d for d in _decisions(model, ledger, query, in_model, destination_id, checks)}
    guard = (_guard_reasons(model, ledger, settings, checks)
             if is_current and any(d.sends for d in decisions.values()) else ())
    identity = model.contract.identity
    content_by_order = {tuple(a.order[c] for c in identity): a for a in acknowledged}
    rows = [
        _row_status(row, decisions[row["key_hash"]], content_by_order.get(tuple(row[c] for c in identity)),
                    rejections, guard, model.contract)
        for row in in_model if row["key_hash"] in decisions
    ]
    return DestinationAnswer(destination_id, label, is_current, tuple(acknowledged), tuple(rows), tuple(rejections),
                             _last_run(con, ledger, destination_id) if destination_id is not None else None)


def _decisions(model: ContractModel, ledger: Ledger, query: KeyQuery, in_model: list[dict[str, Any]],
               destination_id: int | None, checks: tuple[ParentCheck, ...]) -> list[RowDecision]:
    """The decision stage's answer for the order's model rows (before any export: every row is new, or held)."""
    if not in_model:
        return []
    where, params = query.key_predicate()
    return decide_rows(model, ledger, destination_id, where, params, parents=checks)


def _row_status(row: dict[str, Any], decided: RowDecision, acknowledged: Acknowledgement | None,
                rejections: list[ApiRejection], guard: tuple[str, ...], obj: ObjectContract) -> RowStatus:
    key = {c: _api_value(row[c]) for c in obj.primary_key}
    diffs: tuple[AttributeDiff, ...] = ()
    if decided.change == "changed" and acknowledged is not None:
        now = _api_row(row, obj)
        diffs = tuple(AttributeDiff(name, acknowledged.content.get(name), now[name])
                      for name in obj.attribute_names if acknowledged.content.get(name) != now[name])
    if decided.held is not None:  # waits for its location: sent once the destination acknowledged it
        return RowStatus(key, "held", decided.change, diffs, (decided.held,))
    if decided.rejected_before:
        latest = next((r for r in rejections if r.key == key and r.outstanding), None)
        reason = (f"{latest.error_code}: {latest.message}" + (f" (column {latest.column})" if latest.column else "")
                  if latest is not None else "see its rejections")
        held = (f"the API rejected this content ({reason}) and it has not changed since: the next run skips it; "
                "fix the source data and rebuild, or run with --retry-rejected",)
        return RowStatus(key, "held", decided.change, diffs, held)
    if not decided.sends:
        return RowStatus(key, "acknowledged", decided.change, diffs)
    if guard:
        held = ("the change guard refuses the next run to this destination: " + "; ".join(guard)
                + " (review it with `mo-export plan`; `run --allow-large-change` allows one run)",)
        return RowStatus(key, "held", decided.change, diffs, held)
    return RowStatus(key, "pending", decided.change, diffs)


def _guard_reasons(model: ContractModel, ledger: Ledger, settings: ExportSettings,
                   checks: tuple[ParentCheck, ...]) -> tuple[str, ...]:
    """Why the change guard would refuse the next run to the settings' destination (empty: it would not).
    The guard judges the whole run, so this is the whole decision (what plain `status` costs), asked only
    when the order is pending there."""
    plan = decide(model, ledger, settings, parents=checks)
    return tuple(plan.guard.reasons) if plan.guard.refuses else ()


def _acknowledged(con: duckdb.DuckDBPyConnection, ledger: Ledger, query: KeyQuery,
                  destination_id: int) -> list[Acknowledgement]:
    if not ledger.has_content():
        return []
    s = ledger.schema
    where, params = query.identity_predicate()
    rows = _dicts(
        con,
        f"""with content as (
                select * exclude (destination_id, order_hash), {key_hash_sql(ledger.contract)} as key_hash
                from "{s}".{CONTENT_TABLE} where destination_id = ? and {where}),
            acknowledged as (
                select key_hash, max_by(recorded_at, event_id) as acknowledged_at,
                       max_by(run_id, event_id) as acknowledged_by
                from "{s}".deliveries
                where destination_id = ? and outcome = 'acknowledged'
                  and key_hash in (select key_hash from content)
                group by key_hash)
            select content.* exclude (key_hash), acknowledged.acknowledged_at, acknowledged.acknowledged_by
            from content left join acknowledged using (key_hash)
            order by product_id, location_id, order_number""",
        [destination_id, *params, destination_id],
    )
    return [
        Acknowledgement(
            order={c: row[c] for c in ledger.contract.identity},
            content=_api_row(row, ledger.contract),
            acknowledged_at=row["acknowledged_at"],
            run_id=row["acknowledged_by"],
        )
        for row in rows
    ]


def _rejections(con: duckdb.DuckDBPyConnection, ledger: Ledger, query: KeyQuery,
                destination_id: int) -> list[ApiRejection]:
    s = ledger.schema
    where, params = query.key_predicate()
    rows = _dicts(
        con,
        f"""with rejected as (
                select * from "{s}".rejections where destination_id = ? and {where}),
            latest as (
                select key_hash, max_by(outcome, event_id) as outcome, max_by(content_hash, event_id) as content_hash,
                       max_by(run_id, event_id) as run_id
                from "{s}".deliveries
                where destination_id = ? and key_hash in (select key_hash from rejected)
                group by key_hash)
            select rejected.*, coalesce(latest.outcome = 'rejected' and latest.content_hash = rejected.content_hash
                                        and latest.run_id = rejected.run_id, false) as outstanding
            from rejected left join latest using (key_hash)
            order by rejected.rejected_at desc, rejected.event_id desc
            limit {REJECTIONS_LISTED}""",
        [destination_id, *params, destination_id],
    )
    return [
        ApiRejection(
            key={c: _api_value(row[c]) for c in ledger.contract.primary_key},
            run_id=row["run_id"], rejected_at=row["rejected_at"], http_status=row["http_status"],
            error_code=row["error_code"], category=row["category"], message=row["message"],
            column=row["column_name"], outstanding=bool(row["outstanding"]),
        )
        for row in rows
    ]


def _last_run(con: duckdb.DuckDBPyConnection, ledger: Ledger, destination_id: int) -> LastRun | None:
    """The latest run that could send to the destination (dry runs left out)."""
    rows = _dicts(
        con,
        f"""select run_id, mode, status, exit_code, started_at, finished_at, summary from "{ledger.schema}".runs
            where destination_id = ? and mode not in ('dry-run', 'api-dry-run')
            order by started_at desc limit 1""",
        [destination_id],
    )
    if not rows:
        return None
    row = rows[0]
    try:
        error = (orjson.loads(row["summary"]) or {}).get("error") if row["summary"] else None
    except (orjson.JSONDecodeError, AttributeError):
        error = None
    return LastRun(row["run_id"], row["mode"], row["status"], row["exit_code"], row["started_at"],
                   row["finished_at"], error)


# -- values ---------------------------------------------------------------------------------------------------
def _dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _api_value(value: Any) -> Any:
    """A value as the API receives it: timestamps as ``YYYY-MM-DD HH:MM:SS``."""
    return value.strftime(TIMESTAMP_FORMAT) if isinstance(value, datetime) else value


def _api_row(row: dict[str, Any], obj: ObjectContract) -> dict[str, Any]:
    return {a.name: _api_value(row.get(a.name)) for a in obj.attributes}


def _timestamp(text: str) -> datetime:
    for pattern in _ACCEPTED_TIMESTAMP_FORMATS:
        try:
            return datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
    raise ConfigError(f"--updated-at {text!r} must be a UTC timestamp as the API takes it: YYYY-MM-DD HH:MM:SS")


def _json_default(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


# -- text -----------------------------------------------------------------------------------------------------
_CHANGE_TEXT = {
    "new": "new: the destination never acknowledged this order",
    "changed": "changed since the acknowledged content",
    "changed_previous_content_unknown": "changed: acknowledged with other content before the ledger kept content",
    "unchanged": "its content is what the destination acknowledged",
}


def render_key_answer(answer: KeyAnswer) -> str:
    q = answer.query
    lines = [f"{q.label}:"]
    if not answer.known:
        lines.append(f"  unknown: not in the contract model {answer.model}, not in the rejected mart, and no "
                     "destination ever acknowledged or rejected it. Check the order number (codes are compared "
                     "exactly, letter case included) and whether the last extraction and `dbt build` included it.")
    if answer.in_model:
        for row in answer.in_model:
            lines.append(f"  in the contract model {answer.model}: updated_at {row['updated_at']}, status "
                         f"{row['status']}, product {row['product_id']}, location {row['location_id']}")
    elif answer.known:
        lines.append(f"  not in the contract model {answer.model}")
    if answer.in_rejected_mart:
        for r in answer.in_rejected_mart:
            lines.append(f"  in the rejected mart: {', '.join(r.reasons)} (product {r.order['product_id']}, "
                         f"location {r.order['location_id']}): it is not exported until the source is fixed")
    elif answer.rejected_mart_note:
        lines.append(f"  {answer.rejected_mart_note}")
    elif answer.known:
        lines.append("  not in the rejected mart")
    if not answer.state_exists:
        lines.append("  no export has run yet against this DuckDB file")
    for d in answer.destinations:
        lines += _render_destination(d, answer)
    return "\n".join(lines)


def _text(value: Any) -> str:
    """A value for a person: null as null, an instant in UTC."""
    if value is None:
        return "null"
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT) + " UTC"
    return str(_api_value(value))


def _render_destination(d: DestinationAnswer, answer: KeyAnswer) -> list[str]:
    ident = "new destination" if d.destination_id is None else f"destination {d.destination_id}"
    head = f"{ident}: {d.label}" + ("  [the settings' destination: the next run goes here]"
                                    if d.settings_destination else "")
    lines = [head]
    if not (d.acknowledged or d.rows or d.rejections):
        lines.append("  nothing of this order here")
        return lines
    for a in d.acknowledged:
        when = "at an unrecorded time" if a.acknowledged_at is None else f"at {_text(a.acknowledged_at)}"
        run = "" if a.run_id is None else f" by run {a.run_id}"
        lines.append(f"  last acknowledged: updated_at {a.content['updated_at']}, status {a.content['status']}, "
                     f"{when}{run}")
    if not d.acknowledged and d.destination_id is not None:
        lines.append("  never acknowledged here")
    for r in d.rows:
        lines.append(f"  row updated_at {r.key['updated_at']}: {r.state} ({_CHANGE_TEXT.get(r.change, r.change)})")
        for c in r.changed_attributes:
            lines.append(f"    {c.attribute}: {_text(c.acknowledged)} -> {_text(c.now)}")
        lines += [f"    held: {h}" for h in r.held_by]
    pending = any(r.state != "acknowledged" for r in d.rows)
    if pending and d.last_run is not None and d.last_run.failed:
        run = d.last_run
        lines.append(f"  the last run here, {run.run_id}, ended {run.status} (exit {run.exit_code})"
                     + (f": {run.error}" if run.error else ""))
    for r in d.rejections:
        status = "outstanding" if r.outstanding else "superseded by a later event"
        column = f", column {r.column}" if r.column else ""
        lines.append(f"  API rejection ({status}) of updated_at {r.key['updated_at']} in run {r.run_id} at "
                     f"{_text(r.rejected_at)}: {r.error_code} {r.category or ''}{column}: {r.message}")
    if not d.rejections and d.destination_id is not None:
        lines.append("  no API rejection here")
    return lines
