"""The build guard: the contract model's latest build, and every test on it since, must have passed.

The verdict comes from the DuckDB file itself, not from ``target/run_results.json``. The project's
on-run-end hook (``macros/record_build_verdict.sql``) appends how each node of every `dbt build`, `dbt run`
and `dbt test` ended to ``mo_export_build.node_results``. That file travels with the data, so the check
holds whatever dbt command ran afterwards (`docs generate`, `compile`, `parse` and `ls` record nothing)
and is about the file being exported, even when another file was built into the same target folder.

The rule: take the latest invocation that built the model. It must have built it successfully, and each
data test on the model (from dbt's manifest) must have a result in that invocation or a later one, the
latest of which passed (``pass`` or ``warn``). A `dbt run -s peak_manufacturing_orders` after a good build
rebuilds the table without its tests: the export then refuses until `dbt test` (or `dbt build`) passes.

"Latest" follows the invocations, never a clock reading. Each row carries its invocation's id and
``started_at``, dbt's ``run_started_at.isoformat()``: the UTC instant the invocation started, with its
offset (``2026-12-03T07:41:51.123456+00:00``; dbt drops the fraction when it is zero, so the text is
parsed, not compared). Invocations are ordered by that instant; a text without an offset is read as UTC.
``recorded_at`` is DuckDB's local wall-clock time of the process that ran dbt (``now()::timestamp``): two
builds under different time zones, or either side of a DST fall-back, compare wrongly by it, so it only
breaks exact ties of the start instant (then the invocation id). An invocation whose start cannot be read
(no such row is written by dbt; only a hand-made one) counts as the latest: a failure in it cannot hide.

Within one invocation the final result of a node beats its ``built`` row, whatever their clock readings.
dbt reports results only when an invocation ends, so the marts' post-hook also records each rebuild, in
the model's own transaction, with status ``built``. An invocation stopped after the rebuild (a cancel,
Ctrl-C, a killed process) leaves only that row: a rebuilt table with no test results since, which is
refused like any untested build.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from exporter.dbt_artifacts import ModelRelation
from exporter.errors import BuildError

log = logging.getLogger(__name__)

VERDICT_SCHEMA = "mo_export_build"
VERDICT_TABLE = f"{VERDICT_SCHEMA}.node_results"
PASSING_TEST_STATUSES = frozenset({"pass", "warn", "success"})
#: the status the post-hook records for a rebuilt model until its invocation records how it ended
BUILT_STATUS = "built"
#: where an invocation whose start cannot be read sorts: after every readable one
_UNKNOWN_START = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class NodeResult:
    """One row of ``mo_export_build.node_results``."""

    invocation_id: str
    command: str
    selection: str
    unique_id: str
    status: str
    message: str
    started_at: str
    recorded_at: Any


@dataclass(frozen=True)
class Invocation:
    """One dbt invocation's rows, with the key that places it among the others."""

    invocation_id: str
    started: datetime  # UTC; _UNKNOWN_START when the recorded text cannot be read
    started_text: str
    command: str
    selection: str
    rows: tuple[NodeResult, ...]

    def result(self, unique_id: str) -> NodeResult | None:
        """The node's outcome in this invocation: its final result row, else its ``built`` row."""
        mine = [r for r in self.rows if r.unique_id == unique_id]
        final = [r for r in mine if r.status != BUILT_STATUS]
        return (final or mine)[-1] if mine else None

    def describe(self) -> str:
        start = (f"started {self.started_text}" if self.started != _UNKNOWN_START
                 else f"start unreadable: {self.started_text!r}")
        return (f"`dbt {self.command}{' -s ' + self.selection if self.selection else ''}` "
                f"(invocation {self.invocation_id}, {start})")


def started_instant(value: Any) -> datetime:
    """``started_at`` as an aware UTC instant: dbt's ISO text with offset; without one, UTC is assumed."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value or "").strip()
        if not text:
            return _UNKNOWN_START
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return _UNKNOWN_START
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def order_invocations(rows: Iterable[NodeResult]) -> list[Invocation]:
    """Group rows by invocation, oldest first: by UTC start, then (ties only) latest clock reading, then id."""
    grouped: dict[str, list[NodeResult]] = {}
    for row in rows:
        grouped.setdefault(row.invocation_id, []).append(row)

    def clock(row: NodeResult) -> Any:
        return (row.recorded_at is not None, row.recorded_at or 0)

    invocations = []
    for invocation_id, members in grouped.items():
        members.sort(key=clock)  # within one process the clock is one clock
        starts = sorted({started_instant(r.started_at) for r in members})
        first = members[0]
        invocations.append((
            (starts[-1], clock(members[-1]), invocation_id),
            Invocation(invocation_id, starts[-1], str(first.started_at or ""), first.command,
                       first.selection or "", tuple(members)),
        ))
    invocations.sort(key=lambda pair: pair[0])
    return [invocation for _, invocation in invocations]


def read_node_results(con: duckdb.DuckDBPyConnection) -> list[NodeResult]:
    rows: Sequence[tuple[Any, ...]] = con.execute(
        f"""select invocation_id, command, selection, unique_id, status, message, started_at, recorded_at
            from {VERDICT_TABLE}"""
    ).fetchall()
    return [NodeResult(*(("" if v is None else v) if i < 7 else v for i, v in enumerate(r))) for r in rows]


def check_build_verdict(con: duckdb.DuckDBPyConnection, relation: ModelRelation) -> None:
    """Raise :class:`BuildError` (exit 3) unless the file's latest build of the model and its tests passed."""
    model = relation.unique_id
    rerun = f"`dbt build -s {relation.identifier}+` (or `dbt build`) against this DuckDB file"
    try:
        rows = read_node_results(con)
    except duckdb.CatalogException:
        raise BuildError(
            f"this DuckDB file records no dbt build ({VERDICT_TABLE} is missing), so nothing says its "
            f"{relation.schema}.{relation.identifier} was built and tested: run {rerun}, then export"
        ) from None
    invocations = order_invocations(rows)
    builds = [i for i, invocation in enumerate(invocations) if invocation.result(model) is not None]
    if not builds:
        raise BuildError(
            f"no dbt build of {model} is recorded in this DuckDB file: run {rerun}, then export"
        )
    since = invocations[builds[-1]:]
    build = since[0]
    built = build.result(model)
    assert built is not None
    where = build.describe()
    if built.status not in ("success", BUILT_STATUS):
        raise BuildError(
            f"the latest build of {model} in this DuckDB file, {where}, ended {built.status!r}"
            f"{': ' + built.message.strip()[:200] if built.message.strip() else ''}. Fix it and run {rerun}"
        )
    latest: dict[str, tuple[str, Invocation]] = {}
    for invocation in since:
        for test in relation.tests:
            result = invocation.result(test)
            if result is not None:
                latest[test] = (result.status, invocation)
    untested = sorted(relation.tests - latest.keys())
    if untested:
        unfinished = (
            " (dbt rebuilt the model, but the invocation did not finish: it was stopped before it recorded "
            "its results)" if built.status == BUILT_STATUS else ""
        )
        raise BuildError(
            f"the latest build of {model} in this DuckDB file, {where}{unfinished}, was not tested: "
            f"{len(untested)} data tests on it have not run since ({', '.join(untested[:3])}). "
            f"Run {rerun} (or `dbt test -s {relation.identifier}`), then export"
        )
    failing = sorted(test for test, (status, _) in latest.items() if status not in PASSING_TEST_STATUSES)
    if failing:
        statuses = ", ".join(f"{t} {latest[t][0]} in invocation {latest[t][1].invocation_id}" for t in failing[:3])
        raise BuildError(
            f"data tests on {model} did not pass since its latest build {where} ({statuses}): the contract "
            f"model may hold bad rows. Fix the data and run {rerun}, then export"
        )
    log.info("build verdict: %s built by %s, %d tests passed since", model, where, len(latest))
