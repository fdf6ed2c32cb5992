"""The decision stage: the only code that joins the contract model with the ledger.

:func:`decide` compares the model with what the destination acknowledged and returns a :class:`Plan`: what
a run sends (as a :class:`~exporter.model.Selection` the model stage streams), how that compares with the
past (new, changed, unchanged, rejected before, lost), the change guard's verdict, and for `mo-export plan`
the changed attributes with examples. `run`, `plan`, `status` and `check` all use it; nothing else
assembles the model and the ledger.

The comparison runs in DuckDB, one join per statement into temporary tables so each step can spill past
the memory limit: each model row's fingerprints (:mod:`exporter.fingerprints`) against the latest event of
its key in the destination's log, and against the last content acknowledged for its record (the key
without its version column). A destination with nothing delivered yet needs no comparison: every row is new.

A row that references a parent object (``meta.peak.references``: an order's location) is *held* while the
parent's ledger does not hold that parent record acknowledged with the values the reference requires (a
location with ``is_factory = true``): the platform would accept the row and fail it later, out of sight. A held
row is pending, never sent; it goes out once its parent is acknowledged (:class:`ParentCheck`).

A pinned plan (`run --plan FILE`) sends exactly its rows, and only while they are still what the decision
would send for this build in the plan's own mode: a plan that is a subset of that decision (a refused plan
split into parts) or holds rows the decision no longer sends (acknowledged or changed since) is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from exporter.change_guard import GuardVerdict
from exporter.contract import ObjectContract, Reference
from exporter.dbt_artifacts import resolve_model
from exporter.destination import Destination
from exporter.errors import PlanFileError
from exporter.ledger import CONTENT_TABLE, Ledger
from exporter.model import ContractModel, Selection
from exporter.plan_file import PlanFile
from exporter.settings import ExportSettings
from exporter.spark_build import expose_spark_build
from exporter.warehouse import first_row

log = logging.getLogger(__name__)

#: the decision per row (a temporary table on the decision's own cursor: never stored)
_DECISIONS = "_decide_decisions"
_SEND, _UNCHANGED, _REJECTED_BEFORE, _HELD = 1, 2, 3, 4
#: how a row compares with what the destination last acknowledged of its record
_NEW, _CHANGED, _CHANGED_UNKNOWN, _SAME = 1, 2, 3, 4


@dataclass(frozen=True)
class ParentCheck:
    """What a row needs of one parent before it is sent: the parent record acknowledged, at the parent
    object's destination, with the reference's required values (its last acknowledged content)."""

    reference: Reference
    #: the parent object's ledger schema
    schema: str
    #: the parent's destination in that ledger; None: the parent object was never delivered there
    destination_id: int | None
    #: whether that ledger holds acknowledged content at all (no ledger, or an older one: every row is held)
    has_content: bool
    #: a rehearsal (--dry-run, --api-dry-run) acknowledges nothing: it takes the parent records its own run
    #: would send (the parent's model, this table) as acknowledged, so it shows the rows a real run sends;
    #: for a ``check: present`` reference, the table the parent record must be in, always
    rehearsed_with: str | None = None

    def parent_holds(self, child: str) -> str:
        """SQL: the parent record the row ``child`` names is acknowledged with the required values."""
        r = self.reference
        required = "".join(f" and parent.{name} = {_literal(value)}" for name, value in r.require)
        match = f"parent.{r.parent_column} = {child}.{r.column}{required}"
        holds = []
        if self.destination_id is not None and self.has_content:
            holds.append(f"""exists (select 1 from "{self.schema}".{CONTENT_TABLE} as parent
                                     where parent.destination_id = {int(self.destination_id)} and {match})""")
        if self.rehearsed_with is not None:
            holds.append(f"exists (select 1 from {self.rehearsed_with} as parent where {match})")
        return " or ".join(holds) or "false"

    @property
    def reason(self) -> str:
        if self.reference.check == "present":
            return f"its {self.reference.describe()} is not in {self.reference.model}"
        return f"its {self.reference.describe()} is not acknowledged by the destination yet"


def parent_checks(
    con: duckdb.DuckDBPyConnection, obj: ObjectContract, parents: Sequence[tuple[ObjectContract, ExportSettings]],
    settings: ExportSettings, *, rehearsal: bool = False,
) -> tuple[ParentCheck, ...]:
    """The checks of ``obj``'s references, each against its parent's ledger (``parents``: each parent's
    contract with its settings, :meth:`ExportSettings.for_object`), or for a ``check: present`` reference
    against the parent model's table (found with ``settings``, the object's). Reads only. ``rehearsal``: a
    dry run, which takes the parents' own models as acknowledged (:attr:`ParentCheck.rehearsed_with`)."""
    checks = []
    by_model = {contract.model_name: (contract, parent_settings) for contract, parent_settings in parents}
    for reference in obj.references:
        if reference.check == "present":
            checks.append(ParentCheck(reference, "", None, False, _model_table(con, settings, reference.model)))
            continue
        parent, parent_settings = by_model[reference.model]
        ledger = Ledger(con, parent_settings.state_schema, "", parent, parent_settings.database_path)
        match = ledger.use_destination(Destination.from_settings(parent_settings),
                                       token_rotated=settings.token_rotated)
        rehearsed_with = _model_table(con, parent_settings, parent.model_name) if rehearsal else None
        checks.append(ParentCheck(reference, parent_settings.state_schema, match.destination_id,
                                  ledger.has_content(), rehearsed_with))
    return tuple(checks)


def _model_table(con: duckdb.DuckDBPyConnection, settings: ExportSettings, model_name: str) -> str:
    """The quoted table dbt built for ``model_name`` (a Spark build's Parquet files exposed as a view first)."""
    relation = resolve_model(settings.target_path, model_name)
    if settings.on_spark:
        expose_spark_build(con, settings.spark_warehouse, relation)
    return relation.qualified_name


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class AttributeChange:
    """One attribute among the changed records: how many rows change it, and a few (key, before, now)."""

    attribute: str
    rows: int
    examples: list[dict[str, object]]


@dataclass(frozen=True)
class Plan:
    """What a run sends and how it compares with the destination's past: the hand-off of the decision."""

    model: str
    destination: Destination
    #: the destination's id in the ledger; None when it is not registered (a read-only caller, nothing sent)
    destination_id: int | None
    full_refresh: bool
    retry_rejected: bool
    considered: int
    to_send: int
    unchanged: int
    skipped_rejected: int
    #: of ``to_send``: records the destination never acknowledged
    new: int
    #: of ``to_send``: records whose acknowledged content differs (a new version or the same key)
    changed: int
    #: of ``to_send``: keys acknowledged with other content before the ledger kept content (an upgraded ledger)
    changed_unknown: int
    #: of ``to_send``: rows whose content the destination acknowledged already (a full refresh resends them)
    resent_unchanged: int
    #: records whose last acknowledged content the ledger holds, and of those the model no longer holds
    acknowledged_orders: int
    lost_orders: int
    guard: GuardVerdict
    selection: Selection = field(repr=False)
    #: whether the ledger holds acknowledged content (an older, not yet upgraded ledger does not)
    content_known: bool = True
    changes: tuple[AttributeChange, ...] = ()
    #: the plan file a pinned run sends (None otherwise)
    pinned_from: str | None = None
    #: the model was compared with deliveries the destination had before (False: everything was new)
    compared: bool = False
    #: rows not sent because a parent record is not acknowledged yet (pending), and why, with how many
    held: int = 0
    held_by: tuple[tuple[str, int], ...] = ()

    def counts(self) -> dict[str, int]:
        return {
            "in_model": self.considered,
            "to_send": self.to_send,
            "new": self.new,
            "changed": self.changed,
            "changed_previous_content_unknown": self.changed_unknown,
            "resent_unchanged": self.resent_unchanged,
            "unchanged": self.unchanged,
            "rejected_before": self.skipped_rejected,
            "held": self.held,
            "acknowledged_orders": self.acknowledged_orders,
            "lost_orders": self.lost_orders,
        }


def decide(
    model: ContractModel,
    ledger: Ledger,
    settings: ExportSettings,
    *,
    pinned: PlanFile | None = None,
    examples: int = 0,
    parents: Sequence[ParentCheck] = (),
) -> Plan:
    """Decide what a run sends, writing nothing (a run registers a new destination once the guard let it
    through). ``examples``: with changed records, list that many per changed attribute. ``parents``: the
    checks of the object's references (:func:`parent_checks`); a row that fails one is held.

    Raises :class:`~exporter.errors.PlanFileError` for a pinned plan that is not this decision; the guard's
    verdict is judged here and checked by the caller (a dry run only reports it).
    """
    destination = Destination.from_settings(settings)
    match = ledger.use_destination(destination, token_rotated=settings.token_rotated)
    full_refresh = pinned.full_refresh if pinned is not None else settings.full_refresh
    retry_rejected = pinned.retry_rejected if pinned is not None else settings.retry_rejected
    if pinned is not None:
        _check_pinned_target(pinned, model, destination)
    compared = ledger.has_deliveries()
    cursor = model.cursor()  # temporary tables belong to one connection: the decision's own
    try:
        held_by: tuple[tuple[str, int], ...] = ()
        if not compared and not parents:
            counts = _everything_new(model)
            selection = Selection()
            changes: tuple[AttributeChange, ...] = ()
        else:
            _compare(cursor, model, ledger, int(ledger.destination_id or -1), full_refresh=full_refresh,
                     retry_rejected=retry_rejected, parents=parents)
            counts = _counts(cursor)
            held_by = _held_by(cursor, parents)
            everything = (full_refresh or not compared) and not counts["held"]
            selection = Selection() if everything else Selection(cursor.sql(
                f"select key_hash from {_DECISIONS} where decision = {_SEND}").to_arrow_table())
            changes = _attribute_changes(cursor, model, ledger, examples) if examples and counts["changed"] else ()
        if pinned is not None:
            _match_pinned(cursor, model, pinned, selection)
    finally:
        cursor.close()
    # a first load that was interrupted is resumed, not judged: its new rows count once a run has finished;
    # changed and lost records count always
    new_rows = counts["new"] if ledger.has_completed_run() else 0
    guard = GuardVerdict(
        acknowledged_orders=counts["acknowledged_orders"],
        leaving_rows=new_rows + counts["changed"] + counts["changed_unknown"],
        new_rows=new_rows,
        lost_orders=counts["lost_orders"],
        max_change_share=settings.max_change_share,
        max_loss_share=settings.max_loss_share,
        allowed=settings.allow_large_change,
        siblings=match.siblings if not compared else (),
        new_tenant=settings.new_tenant,
    )
    plan = Plan(
        model=model.label,
        destination=destination,
        destination_id=match.destination_id,
        full_refresh=full_refresh,
        retry_rejected=retry_rejected,
        guard=guard,
        selection=selection,
        content_known=ledger.has_content(),
        changes=changes,
        pinned_from=str(pinned.path) if pinned is not None else None,
        compared=compared,
        held_by=held_by,
        **counts,
    )
    log.info(
        "plan for %s: %d rows in the model, %d to send (%d new, %d changed), %d unchanged, %d rejected before, "
        "%d held", destination.label, plan.considered, plan.to_send, plan.new, plan.changed, plan.unchanged,
        plan.skipped_rejected, plan.held, extra={"event": "planned"},
    )
    return plan


#: how a row compares with the destination's last acknowledged content of its order, by name (as in counts())
CHANGE_NAMES = {_NEW: "new", _CHANGED: "changed", _CHANGED_UNKNOWN: "changed_previous_content_unknown",
                _SAME: "unchanged"}


@dataclass(frozen=True)
class RowDecision:
    """The decision for one model row at one destination, as an incremental run would take it."""

    key_hash: int
    order_hash: int
    #: the next incremental run sends the row (the change guard permitting)
    sends: bool
    #: a value of CHANGE_NAMES: new, changed, changed_previous_content_unknown or unchanged
    change: str
    #: the latest event of the key is the API's rejection of this very content: the run skips it
    rejected_before: bool
    #: why the row waits for a parent record (ParentCheck.reason); None when it is not held
    held: str | None = None


def decide_rows(
    model: ContractModel, ledger: Ledger, destination_id: int | None, where: str, params: list[Any], *,
    retry_rejected: bool = False, parents: Sequence[ParentCheck] = (),
) -> list[RowDecision]:
    """The decision for the model rows ``where`` (a predicate over the model's columns, with ``params``)
    selects, at ``destination_id`` (None: a destination not registered yet, where every row is new): the
    same comparison as :func:`decide`, restricted to those rows. Writes nothing."""
    cursor = model.cursor()
    try:
        _compare(cursor, model, ledger, -1 if destination_id is None else destination_id, full_refresh=False,
                 retry_rejected=retry_rejected, only=(where, params), parents=parents)
        rows = cursor.execute(f"select key_hash, order_hash, change, decision, held_by from {_DECISIONS}").fetchall()
        cursor.execute(f"drop table {_DECISIONS}")
    finally:
        cursor.close()
    return [RowDecision(int(key), int(order), decision == _SEND, CHANGE_NAMES[int(change)],
                        decision == _REJECTED_BEFORE, parents[held - 1].reason if decision == _HELD else None)
            for key, order, change, decision, held in rows]


def _everything_new(model: ContractModel) -> dict[str, int]:
    considered = model.count()
    return {
        "considered": considered, "to_send": considered, "unchanged": 0, "skipped_rejected": 0,
        "new": considered, "changed": 0, "changed_unknown": 0, "resent_unchanged": 0, "held": 0,
        "acknowledged_orders": 0, "lost_orders": 0,
    }


def _compare(
    cursor: duckdb.DuckDBPyConnection, model: ContractModel, ledger: Ledger, destination: int, *,
    full_refresh: bool, retry_rejected: bool, only: tuple[str, list[Any]] | None = None,
    parents: Sequence[ParentCheck] = (),
) -> None:
    """The decision per model row at ``destination``, into the temporary table ``_DECISIONS`` (and the
    content per record into ``_decide_last_content``), one join per statement. ``only``: a predicate over the
    model's columns and its parameters, to decide a few rows (a lookup) instead of the whole model. A row to
    send that fails one of ``parents`` is held instead (``held_by``: the check's 1-based position, else 0)."""
    s = ledger.schema
    where, params = only if only is not None else ("", [])
    # restricted to a few rows, the log and the content are read for their keys only
    of_model_keys = " and key_hash in (select key_hash from _decide_model)" if where else ""
    of_model_orders = " and order_hash in (select order_hash from _decide_model)" if where else ""
    if full_refresh:
        decision = str(_SEND)
    else:
        rejected = _SEND if retry_rejected else _REJECTED_BEFORE
        decision = f"""case when not same_as_last_event then {_SEND}
                            when outcome = 'rejected' then {rejected}
                            else {_UNCHANGED} end"""
    content = (
        f"""select order_hash, {model.content_hash} as content_hash from "{s}".{CONTENT_TABLE}
            where destination_id = {destination}{of_model_orders}"""
        if ledger.has_content() else "select 0::ubigint as order_hash, 0::ubigint as content_hash where false"
    )
    # 1-based position of the first parent check the row fails, else 0
    held_by = "case " + "".join(f"when not ({check.parent_holds('model_row')}) then {i} "
                                for i, check in enumerate(parents, start=1)) + "else 0 end" if parents else "0"
    last_event = (
        f"""select key_hash, arg_max(content_hash, event_id) as content_hash, arg_max(outcome, event_id) as outcome
            from "{s}".deliveries where destination_id = {destination}{of_model_keys} group by key_hash"""
        if ledger.exists() else
        "select 0::ubigint as key_hash, 0::ubigint as content_hash, ''::varchar as outcome where false"
    )
    steps = {
        "_decide_model": f"""
            select {model.key_hash} as key_hash, {model.content_hash} as content_hash,
                   {model.identity_hash} as order_hash, ({held_by})::utinyint as held_by
            from {model.table} as model_row {f"where {where}" if where else ""}""",
        "_decide_last_event": last_event,
        "_decide_with_event": """
            select model.key_hash, model.order_hash, model.content_hash, model.held_by, last_event.outcome,
                   coalesce(last_event.content_hash = model.content_hash, false) as same_as_last_event
            from _decide_model as model left join _decide_last_event as last_event using (key_hash)""",
        "_decide_last_content": content,
        _DECISIONS: f"""
            with compared as (
                select model.key_hash, model.order_hash, model.held_by, model.outcome, model.same_as_last_event,
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
            select key_hash, order_hash, change::utinyint as change, held_by,
                   (case when held_by > 0 and ({decision}) = {_SEND} then {_HELD} else {decision} end)::utinyint
                       as decision
            from compared""",
    }
    for table, sql in steps.items():
        cursor.execute(f"create or replace temp table {table} as {sql}", params if table == "_decide_model" else [])
    for table in ("_decide_model", "_decide_last_event", "_decide_with_event"):
        cursor.execute(f"drop table {table}")


def _counts(cursor: duckdb.DuckDBPyConnection) -> dict[str, int]:
    row = first_row(
        cursor,
        f"""select count(*),
                   count(*) filter (where decision = {_SEND}),
                   count(*) filter (where decision = {_UNCHANGED}),
                   count(*) filter (where decision = {_REJECTED_BEFORE}),
                   count(*) filter (where decision = {_SEND} and change = {_NEW}),
                   count(*) filter (where decision = {_SEND} and change = {_CHANGED}),
                   count(*) filter (where decision = {_SEND} and change = {_CHANGED_UNKNOWN}),
                   count(*) filter (where decision = {_SEND} and change = {_SAME}),
                   count(*) filter (where decision = {_HELD})
            from {_DECISIONS}""",
    ) or (0,) * 9
    acknowledged, lost = first_row(
        cursor,
        f"""select count(*), count(*) filter (where not exists (
                select 1 from {_DECISIONS} as d where d.order_hash = last_content.order_hash))
            from _decide_last_content as last_content""",
    ) or (0, 0)
    names = ("considered", "to_send", "unchanged", "skipped_rejected", "new", "changed", "changed_unknown",
             "resent_unchanged", "held")
    return {**{n: int(v or 0) for n, v in zip(names, row, strict=True)},
            "acknowledged_orders": int(acknowledged or 0), "lost_orders": int(lost or 0)}


def _held_by(cursor: duckdb.DuckDBPyConnection, parents: Sequence[ParentCheck]) -> tuple[tuple[str, int], ...]:
    """The held rows by the reason they wait, most first."""
    if not parents:
        return ()
    rows = cursor.execute(
        f"select held_by, count(*) from {_DECISIONS} where decision = {_HELD} group by held_by order by 2 desc, 1"
    ).fetchall()
    return tuple((parents[int(i) - 1].reason, int(n)) for i, n in rows)


def _attribute_changes(
    cursor: duckdb.DuckDBPyConnection, model: ContractModel, ledger: Ledger, examples: int
) -> tuple[AttributeChange, ...]:
    """For the changed records the run sends: per attribute, how many rows change it, with examples (the
    record's identity, the value acknowledged last, the value now). Attributes no row changes are left out."""
    identity = model.contract.identity
    order_key = ", ".join(f"'{c}': now.{c}" for c in identity)
    picks = []
    for name in model.contract.attribute_names:
        differs = f"now.{name} is distinct from before.{name}"
        picks.append(f"count(*) filter (where {differs})")
        picks.append(
            f"""list({{{order_key}, 'before': before.{name}::varchar, 'now': now.{name}::varchar}}
                     order by {", ".join(f"now.{c}" for c in identity)}) filter (where {differs})"""
        )
    row = first_row(
        cursor,
        f"""with changed as (select key_hash from {_DECISIONS} where decision = {_SEND} and change = {_CHANGED}),
            model as (select *, {model.key_hash} as key_hash, {model.identity_hash} as order_hash from {model.table}),
            now as (select * from model where key_hash in (select key_hash from changed)),
            before as (select * from "{ledger.schema}".{CONTENT_TABLE} where destination_id = ?)
            select {", ".join(picks)} from now join before using (order_hash)""",
        [int(ledger.destination_id or -1)],
    ) or ()
    out = []
    for i, name in enumerate(model.contract.attribute_names):
        rows, listed = int(row[2 * i] or 0), row[2 * i + 1] or []
        if rows:
            out.append(AttributeChange(name, rows, [dict(e) for e in listed[:examples]]))
    return tuple(out)


def _check_pinned_target(pinned: PlanFile, model: ContractModel, destination: Destination) -> None:
    """A plan made for another model or destination is refused before anything is compared."""
    if pinned.model_relation != model.label:
        raise PlanFileError(
            f"plan file {pinned.path} was made for the model {pinned.model_relation}, this run exports "
            f"{model.label}; nothing was sent"
        )
    if pinned.destination != destination:
        other = "another API token (tenant)" if pinned.destination.label == destination.label else "the destination"
        raise PlanFileError(
            f"plan file {pinned.path} was made for {other} {pinned.destination.label}, this run sends to "
            f"{destination.label}; nothing was sent. Make a plan for this destination."
        )


def _match_pinned(
    cursor: duckdb.DuckDBPyConnection, model: ContractModel, pinned: PlanFile, selection: Selection
) -> None:
    """Refuse (nothing sent) unless the plan's rows are exactly the rows this decision sends."""
    cursor.register("_pinned_rows", pinned.rows)
    chosen: pa.Table | None = selection.key_hashes
    keys = model.contract.primary_key
    typed = ", ".join(
        f"{c}::timestamp as {c}" if c in model.contract.timestamps else c for c in keys
    )
    decided = (
        f"select {model.key_hash} as key_hash, {model.content_hash} as content_hash from {model.table}"
        if chosen is None else
        f"""select key_hash, content_hash from (
                select {model.key_hash} as key_hash, {model.content_hash} as content_hash from {model.table})
            where key_hash in (select key_hash from _pinned_decision)"""
    )
    if chosen is not None:
        cursor.register("_pinned_decision", chosen)
    only_in_plan, only_in_decision = first_row(
        cursor,
        f"""with plan as (select {model.key_hash} as key_hash, content_hash
                          from (select {typed}, content_hash from _pinned_rows)),
                 decided as ({decided})
            select (select count(*) from (select * from plan except select * from decided)),
                   (select count(*) from (select * from decided except select * from plan))""",
    ) or (0, 0)
    if only_in_plan or only_in_decision:
        problems = []
        if only_in_plan:
            problems.append(f"{int(only_in_plan):,} of its rows are no longer what this build would send "
                            "(acknowledged, changed or gone since the plan)")
        if only_in_decision:
            problems.append(f"this build would also send {int(only_in_decision):,} rows the plan does not hold "
                            "(a plan is sent whole, never a part of a decision)")
        raise PlanFileError(
            f"plan file {pinned.path} ({pinned.rows.num_rows:,} rows, "
            f"{'full refresh' if pinned.full_refresh else 'incremental'}): {'; '.join(problems)}. Nothing was "
            "sent. Make a new plan (`mo-export plan --out ...`) and review it."
        )


def plan_summary(plan: Plan) -> dict[str, Any]:
    """The plan as `mo-export plan --json` prints it and a plan file records it."""
    return {
        "model_relation": plan.model,
        "destination_label": plan.destination.label,
        "full_refresh": plan.full_refresh,
        "retry_rejected": plan.retry_rejected,
        "counts": plan.counts(),
        "acknowledged_content_known": plan.content_known,
        "changed_attributes": [{"attribute": c.attribute, "rows": c.rows, "examples": c.examples}
                               for c in plan.changes],
        "guard": plan.guard.as_dict(),
    }
