"""The build guard: the contract model's latest build, and every test on it since, must have passed.

The verdict comes from the DuckDB file itself, not from ``target/run_results.json``. The project's
on-run-end hook (``macros/record_build_verdict.sql``) appends how each node of every `dbt build`, `dbt run`
and `dbt test` ended to ``mo_export_build.node_results``. That file travels with the data, so the check
holds whatever dbt command ran afterwards (`docs generate`, `compile`, `parse` and `ls` record nothing)
and is about the file being exported, even when another file was built into the same target folder.

The rule: take the latest invocation that built the model. It must have built it successfully, and each
data test on the model (from dbt's manifest) must have a result at or after that invocation, the latest
of which passed (``pass`` or ``warn``). A `dbt run -s peak_manufacturing_orders` after a good build
rebuilds the table without its tests: the export then refuses until `dbt test` (or `dbt build`) passes.

dbt reports results only when an invocation ends, so the marts' post-hook also records each rebuild, in the
model's own transaction, with status ``built``. An invocation stopped after the rebuild (a cancel, Ctrl-C, a
killed process) leaves that row as the model's latest: a rebuilt table with no test results since, which
is refused like any untested build.
"""

from __future__ import annotations

import logging

import duckdb

from exporter.dbt_artifacts import ModelRelation
from exporter.errors import BuildError

log = logging.getLogger(__name__)

VERDICT_SCHEMA = "mo_export_build"
VERDICT_TABLE = f"{VERDICT_SCHEMA}.node_results"
PASSING_TEST_STATUSES = frozenset({"pass", "warn", "success"})
#: the status the post-hook records for a rebuilt model until its invocation records how it ended
BUILT_STATUS = "built"


def check_build_verdict(con: duckdb.DuckDBPyConnection, relation: ModelRelation) -> None:
    """Raise :class:`BuildError` (exit 3) unless the file's latest build of the model and its tests passed."""
    model = relation.unique_id
    rerun = f"`dbt build -s {relation.identifier}+` (or `dbt build`) against this DuckDB file"
    try:
        rows = con.execute(
            f"""select invocation_id, command, selection, unique_id, status, message, recorded_at
                from {VERDICT_TABLE} order by recorded_at, invocation_id"""
        ).fetchall()
    except duckdb.CatalogException:
        raise BuildError(
            f"this DuckDB file records no dbt build ({VERDICT_TABLE} is missing), so nothing says its "
            f"{relation.schema}.{relation.identifier} was built and tested: run {rerun}, then export"
        ) from None
    builds = [r for r in rows if r[3] == model]
    if not builds:
        raise BuildError(
            f"no dbt build of {model} is recorded in this DuckDB file: run {rerun}, then export"
        )
    invocation, command, selection, _, status, message, built_at = builds[-1]
    where = f"`dbt {command}{' -s ' + selection if selection else ''}` (invocation {invocation}, {built_at})"
    if status not in ("success", BUILT_STATUS):
        raise BuildError(
            f"the latest build of {model} in this DuckDB file, {where}, ended {status!r}"
            f"{': ' + message.strip()[:200] if message and message.strip() else ''}. Fix it and run {rerun}"
        )
    latest: dict[str, tuple[str, str, str]] = {}
    started = False
    for r in rows:
        started = started or r[0] == invocation
        if started and r[3] in relation.tests:
            latest[r[3]] = (r[4], r[1], r[0])
    untested = sorted(relation.tests - latest.keys())
    if untested:
        unfinished = (
            " (dbt rebuilt the model, but the invocation did not finish: it was stopped before it recorded "
            "its results)" if status == BUILT_STATUS else ""
        )
        raise BuildError(
            f"the latest build of {model} in this DuckDB file, {where}{unfinished}, was not tested: "
            f"{len(untested)} data tests on it have not run since ({', '.join(untested[:3])}). "
            f"Run {rerun} (or `dbt test -s {relation.identifier}`), then export"
        )
    failing = sorted(test for test, (status, _, _) in latest.items() if status not in PASSING_TEST_STATUSES)
    if failing:
        statuses = ", ".join(f"{t} {latest[t][0]}" for t in failing[:3])
        raise BuildError(
            f"data tests on {model} did not pass since its latest build {where} ({statuses}): the contract "
            f"model may hold bad rows. Fix the data and run {rerun}, then export"
        )
    log.info("build verdict: %s built by %s, %d tests passed since", model, where, len(latest))
