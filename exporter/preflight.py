"""What `mo-export check` verifies before a run, in order, without writing anything anywhere (but, with
``--target spark``, the views over the Spark build's Parquet files in the local state file, as `run` does).

1. settings: the same validation as `run`;
2. DuckDB file: opens read-only (``--target spark``: the local state file, as `run --target spark` opens it);
3. dbt build: the model is in dbt's manifest and its last build (and the data tests on it) passed;
4. model table: the built table matches the contract (columns, types, whole seconds, unique keys);
5. destination, token, object, sample row: one request with ``"dryRun": true`` carrying one real row of
   the model (the API validates and answers, stores nothing), sent over the run's own transport and
   judged by the run's own classification (:func:`exporter.classify.classify`), so the check never calls
   "ok" an answer a run would not count as an acknowledgement, and exits as a run of that row would
   (:func:`exporter.outcomes.exit_code_of`);
6. schema: where the destination offers its schema endpoint (:mod:`exporter.schema_compare`), the
   contract's columns, types, requiredness and key compared with the destination's table; skipped if not.

A check that cannot run because an earlier one failed is skipped. Each failure carries what to do and the
exit code `run` would end with for the same answer (:func:`outcome_exit_code`): 1 the API acknowledged the
request but failed the sample row, or refused the one-row request (a run records such a row as rejected);
2 unconfirmed: no answer, 429/5xx, or a 2xx that is not the API's acknowledgement (a run retries it and
leaves the rows pending); 3 fatal: a redirect (never followed; the message names the ``Location``),
401/403/404 or another 4xx for the whole request, an untrusted TLS certificate, and every local problem
(settings, DuckDB file, build, model table) or a schema difference. The report's exit code is the highest
of its failures (0 when none failed; skips do not count).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import ExitStack, closing
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import duckdb
import orjson

from exporter import errors
from exporter.batching import Envelope
from exporter.build_verdict import check_build_verdict
from exporter.client import DestinationProbe, DryRunAnswer, SchemaAnswer
from exporter.contract import ObjectContract
from exporter.dbt_artifacts import ModelRelation, resolve_model
from exporter.logging_setup import mask_in_logs
from exporter.model import ContractModel, Selection
from exporter.object_contracts import one_object
from exporter.outcomes import Acknowledged, Fatal, Outcome, Refused, Unconfirmed, exit_code_of
from exporter.schema_compare import (
    SchemaShapeError,
    compare_with_contract,
    find_table,
    schema_paths,
    solution_names,
)
from exporter.settings import ExportSettings, load_settings
from exporter.spark_build import expose_spark_build
from exporter.warehouse import connect_for

log = logging.getLogger(__name__)

Status = Literal["ok", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    action: str = ""
    exit_code: int = errors.EXIT_OK


@dataclass
class CheckReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return max((c.exit_code for c in self.checks if c.status == "fail"), default=errors.EXIT_OK)

    def add(self, name: str, status: Status, detail: str, action: str = "",
            exit_code: int = errors.EXIT_OK) -> Check:
        check = Check(name, status, detail, action, exit_code if status == "fail" else errors.EXIT_OK)
        self.checks.append(check)
        log.info("check %s: %s (%s)", name, status, detail, extra={"event": "check", "check": name})
        return check

    def skip(self, names: tuple[str, ...], because: str) -> None:
        for name in names:
            self.add(name, "skip", because)

    def to_json(self) -> str:
        return orjson.dumps(
            {"exit_code": self.exit_code, "ok": self.exit_code == errors.EXIT_OK,
             "checks": [asdict(c) for c in self.checks]},
            option=orjson.OPT_INDENT_2,
        ).decode()

    def render_text(self) -> str:
        width = max(len(c.name) for c in self.checks)
        lines = []
        for c in self.checks:
            lines.append(f"{c.status.upper() if c.status == 'fail' else c.status:<5} {c.name:<{width}}  {c.detail}")
            if c.status == "fail" and c.action:
                lines.append(f"{'':<5} {'':<{width}}  -> {c.action}")
        counts = {s: sum(c.status == s for c in self.checks) for s in ("ok", "fail", "skip")}
        lines.append(
            f"{counts['ok']} ok, {counts['fail']} failed, {counts['skip']} skipped: exit code {self.exit_code}"
        )
        return "\n".join(lines)


DESTINATION_CHECKS = ("destination", "token", "object", "sample row", "schema")
LOCAL_CHECKS = ("duckdb file", "dbt build", "model table")


def run_checks(flags: Mapping[str, Any]) -> CheckReport:
    """Every check, in order; never raises for a problem it checks (that becomes a failed line)."""
    report = CheckReport()
    try:
        settings = load_settings({**flags, "dry_run": False, "api_dry_run": False})
    except errors.ConfigError as exc:
        report.add("settings", "fail", str(exc), "fix the flag or environment variable named above",
                   errors.EXIT_CONFIG_ERROR)
        report.skip(LOCAL_CHECKS + DESTINATION_CHECKS, "the settings are not valid")
        return report
    if settings.api_key is not None:
        mask_in_logs(settings.api_key.reveal())
    contract: ObjectContract | errors.ExportError
    try:  # the object of --object (default the orders), read from dbt's manifest
        contract, settings, _ = one_object(settings)
    except (errors.BuildError, errors.ConfigError) as exc:
        contract = exc  # reported by the dbt build check, in its place
    report.add("settings", "ok", f"{settings.endpoint} (solution {settings.solution_name}), batch size "
               f"{settings.batch_size}, at most {settings.max_bytes:,} bytes per request")
    body = _local_checks(settings, contract, report)
    if isinstance(contract, errors.ExportError):
        report.skip(DESTINATION_CHECKS, "the object's contract is not known")
        return report
    _destination_checks(settings, contract, body, report)
    return report


def _local_checks(settings: ExportSettings, contract: ObjectContract | errors.ExportError,
                  report: CheckReport) -> bytes | None:
    """Checks 2-4; returns the body of the dry-run request (one real model row), or None.

    The file is opened as `run` opens it (:func:`exporter.warehouse.connect_for`): the DuckDB file dbt built,
    read-only, or with ``--target spark`` the local state file, in which the Spark build's Parquet files are
    exposed as the model's and the verdict's views (the only thing a check writes, as `run --dry-run` does)."""
    with ExitStack() as opened:
        try:
            con = opened.enter_context(connect_for(settings, writes=False))
        except errors.WarehouseError as exc:
            action = ("point MO_STATE_PATH (--state-path) at a DuckDB file the export may create" if settings.on_spark
                      else "point MO_DUCKDB_PATH (--duckdb-path) at the file dbt built")
            report.add("duckdb file", "fail", str(exc), action, errors.EXIT_CONFIG_ERROR)
            report.skip(LOCAL_CHECKS[1:], "the DuckDB file cannot be opened")
            return None
        opened_as = (f"{settings.database_path} (the export state; the Spark build's tables under "
                     f"{settings.spark_warehouse})" if settings.on_spark
                     else f"{settings.duckdb_path} (opened read-only)")
        report.add("duckdb file", "ok", opened_as)
        try:
            relation = resolve_model(settings.target_path, settings.model_name)
            if settings.on_spark:
                expose_spark_build(con, settings.spark_warehouse, relation)
            check_build_verdict(con, relation)
            if isinstance(contract, errors.ExportError):
                raise contract
        except (errors.BuildError, errors.ConfigError) as exc:
            report.add("dbt build", "fail", str(exc), "run `dbt build` and fix what it reports",
                       errors.EXIT_CONFIG_ERROR)
            report.skip(LOCAL_CHECKS[2:], "no passing dbt build of the model")
            return None
        report.add("dbt build", "ok", f"{relation.unique_id} and the data tests on it passed the latest build "
                   "recorded in this DuckDB file")
        assert not isinstance(contract, errors.ExportError)  # raised above
        return _model_table(con, settings, relation, contract, report)


def _model_table(con: duckdb.DuckDBPyConnection, settings: ExportSettings, relation: ModelRelation,
                 contract: ObjectContract, report: CheckReport) -> bytes | None:
    model = ContractModel(con, relation, contract)
    try:
        model.check_contract()
        model.check_values()
    except errors.BuildError as exc:
        report.add("model table", "fail", str(exc), "fix the model and run `dbt build`", errors.EXIT_CONFIG_ERROR)
        return None
    rows = model.count()
    report.add("model table", "ok", f"{relation.schema}.{relation.identifier} matches the contract ({rows:,} rows)")
    if rows == 0:
        return None
    with closing(model.stream(Selection(), chunk_rows=1)) as stream:
        first = next(stream, None)
    if first is None or first.num_rows == 0:
        return None
    row_json = str(first.column("row_json")[0].as_py())
    return Envelope(settings.solution_name, "UPSERT", dry_run=True).body([row_json])


def _destination_checks(settings: ExportSettings, contract: ObjectContract, body: bytes | None,
                        report: CheckReport) -> None:
    with DestinationProbe(settings) as probe:
        if body is None:  # no row to send: the schema read is the only request, and tests what it can
            _destination_by_schema_read(settings, contract, probe.read_schema(schema_paths(settings.solution_name)),
                                        report)
            return
        if dry_run_checks(settings, probe.dry_run(body), report):
            _schema_check(settings, contract, probe.read_schema(schema_paths(settings.solution_name)), report)


def outcome_exit_code(outcome: Outcome) -> int:
    """The exit code a run ends with when a one-row batch has this outcome (:func:`exit_code_of`)."""
    return exit_code_of(outcome)


def dry_run_checks(settings: ExportSettings, answer: DryRunAnswer, report: CheckReport) -> bool:
    """Destination, token, object and sample row from the dryRun answer, judged as a run judges a batch;
    True when the request was answered by the API itself (acknowledged, or the row refused)."""
    outcome, status, code = answer.outcome, answer.status, outcome_exit_code(answer.outcome)
    if isinstance(outcome, Unconfirmed):
        what = f"no answer from {answer.url}" if status is None else f"POST {answer.url} was not acknowledged"
        report.add("destination", "fail", f"{what}: {outcome.reason}",
                   "check the base URL (PEAK_BASE_URL): a run would retry this answer and leave the rows "
                   "pending; if the API is down or busy, check again later", code)
        report.skip(DESTINATION_CHECKS[1:], "the destination did not acknowledge the dryRun request")
        return False
    if isinstance(outcome, Fatal) and (status is None or 300 <= status < 400):
        report.add("destination", "fail", str(outcome.error),
                   "set PEAK_BASE_URL / --path-template / --ca-bundle as the message says", code)
        report.skip(DESTINATION_CHECKS[1:], "a run would stop on this answer")
        return False
    if isinstance(outcome, Refused) and not outcome.from_api:
        report.add("destination", "fail", f"POST {answer.url} was answered {outcome.came_back}, which is not the "
                   "ingestion API's error object: a proxy or another host stands in front of the API",
                   "check the base URL (PEAK_BASE_URL) and the proxy between: a run would stop on this answer "
                   "(exit 3) and leave every row pending", code)
        report.skip(DESTINATION_CHECKS[1:], "a run would stop on this answer")
        return False
    report.add("destination", "ok", f"POST {answer.url} answered {status} in {answer.elapsed_ms:.0f} ms")
    if isinstance(outcome, Fatal) and status in (401, 403):
        report.add("token", "fail", str(outcome.error), "fix PEAK_API_KEY (or the solution name) as the line "
                   "above says, then check again", code)
        report.skip(("object", "sample row", "schema"), "the token was refused")
        return False
    report.add("token", "ok", "accepted")
    if isinstance(outcome, Fatal):
        hint = ("check the object name (PEAK_OBJECT_NAME), the solution name (PEAK_SOLUTION_NAME) and the path "
                "template" if status == 404 else "check the settings above against the API's documentation")
        report.add("object", "fail", str(outcome.error), hint, code)
        report.skip(("sample row", "schema"), "the object is not known")
        return False
    report.add("object", "ok", f"{settings.object_name} in solution {settings.solution_name}: a one-row dryRun "
               "request was answered by the API (nothing stored)")
    if isinstance(outcome, Refused):
        report.add("sample row", "fail", f"the API refused the one-row request with the model's first row as a "
                   f"whole (HTTP {outcome.status}: {outcome.detail})", "check the solution, the object and the "
                   "envelope: `run` stops on a request nothing of which the API takes (exit 3, rows pending); "
                   "if the row itself is wrong, fix the model or its source data", code)
    elif outcome.rejections:
        report.add("sample row", "fail", f"the API refused the model's first row: {_row_errors(outcome)}",
                   "fix the model or its source data: `run` would record such rows as rejected", code)
    else:
        lean = "" if outcome.request_id else (
            " (the answer carries no requestId, as MO_ACK_FIELDS allows: an answer a proxy replays for another "
            "request cannot be told apart)")
        report.add("sample row", "ok", f"the model's first row passed the API's validation and was acknowledged{lean}")
    return True


def _destination_by_schema_read(settings: ExportSettings, contract: ObjectContract, gets: list[SchemaAnswer],
                                report: CheckReport) -> None:
    """Destination and token from the first schema read, when there is no model row to send."""
    first = gets[0]
    if first.fatal is not None:
        report.add("destination", "fail", str(first.fatal),
                   "set PEAK_BASE_URL / --ca-bundle as the message says", first.fatal.exit_code)
        report.skip(DESTINATION_CHECKS[1:], "a run would stop on this answer")
        return
    if first.status is None or first.status == 429 or first.status >= 500:
        why = f"no answer from {first.url}: {first.error}" if first.status is None else (
            f"{first.url} answered {first.status} ({_detail(first)})")
        report.add("destination", "fail", why, "check the base URL (PEAK_BASE_URL), the network and that the "
                   "API is up, then check again", errors.EXIT_DELIVERY_FAILED)
        report.skip(DESTINATION_CHECKS[1:], "the destination did not answer normally")
        return
    report.add("destination", "ok", f"GET {first.url} answered {first.status} in {first.elapsed_ms:.0f} ms")
    if first.status in (401, 403):
        report.add("token", "fail", f"HTTP {first.status} ({_detail(first)}) for {first.url}: the token in "
                   "PEAK_API_KEY was refused", "set PEAK_API_KEY to a personal access token for this tenant, sent "
                   "bare (no 'Bearer ' prefix)", errors.EXIT_CONFIG_ERROR)
        report.skip(("object", "sample row", "schema"), "the token was refused")
        return
    report.skip(("token", "object", "sample row"), "no model row to send in a dryRun request (see above)")
    _schema_check(settings, contract, gets, report)


def _schema_check(settings: ExportSettings, contract: ObjectContract, gets: list[SchemaAnswer],
                  report: CheckReport) -> None:
    last = gets[-1] if gets else None
    if last is not None and last.fatal is not None:  # a redirect is never followed, whichever request got it
        report.add("schema", "fail", f"reading the schema at {last.url}: {last.fatal}",
                   "set PEAK_BASE_URL (--base-url) to the address the API answers at", last.fatal.exit_code)
        return
    if last is not None and last.error is not None and last.status is not None:
        report.add("schema", "skip", f"{last.url} gave no usable answer ({last.error})")
        return
    solutions = gets[0] if gets else None
    if solutions is None or solutions.status != 200:
        status = "no answer" if solutions is None or solutions.status is None else f"HTTP {solutions.status}"
        url = solutions.url if solutions is not None else "the schema endpoint"
        if solutions is not None and solutions.status in (401, 403):
            report.add("schema", "skip", f"the schema endpoint refused the token ({url}: {status})")
        else:
            report.add("schema", "skip", f"the destination offers no schema endpoint ({url}: {status})")
        return
    try:
        names = solution_names(solutions.body)
    except SchemaShapeError as exc:
        report.add("schema", "skip", f"{solutions.url} answered in a shape this version cannot read ({exc})")
        return
    if settings.solution_name not in names:
        report.add("schema", "fail", f"solution {settings.solution_name} is not among the destination's "
                   f"({', '.join(names) or 'none'})", "check the solution name (PEAK_SOLUTION_NAME)",
                   errors.EXIT_CONFIG_ERROR)
        return
    tables = gets[1] if len(gets) > 1 else None
    if tables is None or tables.status != 200:
        status = "no answer" if tables is None or tables.status is None else f"HTTP {tables.status}"
        report.add("schema", "skip", f"solution {settings.solution_name} is listed, but its tables are not "
                   f"described ({status})")
        return
    try:
        table = find_table(tables.body, settings.object_name)
    except SchemaShapeError as exc:
        report.add("schema", "skip", f"{tables.url} answered in a shape this version cannot read ({exc})")
        return
    if table is None:
        report.add("schema", "fail", f"{settings.object_name} is not a table of solution {settings.solution_name}",
                   "check the object name (PEAK_OBJECT_NAME)", errors.EXIT_CONFIG_ERROR)
        return
    comparison = compare_with_contract(table, contract)
    if comparison.problems:
        report.add("schema", "fail", f"{table.name} differs from the contract: {'; '.join(comparison.problems)}",
                   "align the model's contract with the destination's table (or ask Peak which is right) before "
                   "running: rows would be refused or land differently", errors.EXIT_CONFIG_ERROR)
        return
    notes = f"; {'; '.join(comparison.notes)}" if comparison.notes else ""
    report.add("schema", "ok", f"{table.name}: {len(table.columns)} columns, their types and the primary key "
               f"as the contract{notes}")


def _detail(answer: SchemaAnswer) -> str:
    if isinstance(answer.body, dict) and "detail" in answer.body:
        return str(answer.body["detail"])[:300]
    return _short(answer.body)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode() if value is not None else "no body"
    return text if len(text) <= 120 else text[:117] + "..."


def _row_errors(outcome: Acknowledged) -> str:
    parts = []
    for rejection in outcome.rejections:
        column = f" ({rejection.column_name})" if rejection.column_name else ""
        parts.append(f"{rejection.error_code}{column}: {rejection.message}")
    return "; ".join(parts)
