"""One export run: check the build, plan, stream, send concurrently, record, report.

Concurrency: the main thread is the only one that touches DuckDB. It reads the rows to send, cuts them
into batches and hands each to a pool of ``concurrency`` sender threads, which share one rate limiter and
one HTTP connection pool. Finished batches come back to the main thread, which records them in the state
(one transaction per group of batches) and only then counts them. SIGTERM and SIGINT stop the scheduling
of new batches; the batches in flight finish or give up, what was acknowledged is recorded, and the run
exits with code 2.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import duckdb

from exporter import errors
from exporter.batching import Batch, Envelope, make_batches
from exporter.build_verdict import check_build_verdict
from exporter.change_guard import GuardVerdict, judge
from exporter.client import IngestionClient, RateLimiter, build_http_client
from exporter.dbt_artifacts import ModelRelation, resolve_model
from exporter.destination import Destination
from exporter.model_reader import ContractModelReader, PinnedRows, Plan
from exporter.outcomes import Acknowledged, Fatal, GaveUp, Refused, RequestIds
from exporter.plan_file import PlanFile, read_plan
from exporter.progress import Progress
from exporter.report import RunSummary, write_results
from exporter.settings import ExportSettings
from exporter.spark_build import expose_spark_build
from exporter.state import BatchRecord, ExportState, RowRejection
from exporter.warehouse import connect, environment_fault

log = logging.getLogger(__name__)

STREAM_CHUNK_ROWS = 8192
#: acknowledged batches are committed to the state in groups of at most this many ...
ACK_GROUP_MAX_BATCHES = 16
#: ... or after at most this long
ACK_GROUP_MAX_DELAY_SECONDS = 0.25


@dataclass
class _Outcome:
    """The result of delivering one batch, possibly split into pieces by bisection."""

    batch: Batch
    records: list[BatchRecord]
    #: refused by the exporter itself (too large for any request): recorded as rejected, never sent
    not_sent: bool = False


@dataclass
class Decision:
    """What a run (or `mo-export plan`) decided: the rows to send and how they compare with the past."""

    reader: ContractModelReader
    state: ExportState
    destination: Destination
    plan: Plan
    had_deliveries: bool
    guard: GuardVerdict


def decide(
    con: duckdb.DuckDBPyConnection,
    settings: ExportSettings,
    relation: ModelRelation,
    *,
    read_only: bool,
    pinned: PinnedRows | None = None,
) -> Decision:
    """Check the build and the model, then decide what to send: the one path `run` and `plan` share.

    Read-only (``--dry-run``, `plan`), nothing is written, not even an upgrade of an older state.
    """
    if settings.on_spark:
        expose_spark_build(con, settings.spark_warehouse, relation)
    check_build_verdict(con, relation)  # about this file: the verdict travels with the data
    reader = ContractModelReader(con, relation, settings.state_schema)
    reader.check_contract()  # first: nothing, not even the state, is touched for a model that is off
    reader.check_values()
    state = ExportState(con, settings.state_schema, relation.qualified_name)
    if not read_only:
        state.ensure()
    destination = Destination.from_settings(settings)
    state.use_destination(destination, register=not read_only)
    # with nothing delivered to this destination yet every row is new: comparing a million rows
    # with an empty log is skipped (a dry run with no state yet counts every row as new too)
    had_deliveries = state.has_deliveries()
    plan = reader.plan(
        destination_id=state.destination_id if had_deliveries else None,
        full_refresh=settings.full_refresh,
        retry_rejected=settings.retry_rejected,
        pinned=pinned,
    )
    guard = judge(
        plan,
        max_change_share=settings.max_change_share,
        max_loss_share=settings.max_loss_share,
        allowed=settings.allow_large_change,
    )
    return Decision(reader, state, destination, plan, had_deliveries, guard)


def relation_label(relation: ModelRelation) -> str:
    """How a plan names the model's table: ``schema.identifier``."""
    return f"{relation.schema}.{relation.identifier}"


def _pinned_plan(settings: ExportSettings, relation: ModelRelation) -> PlanFile | None:
    """The reviewed plan `run --plan` sends, refused (exit 3) if it was made for another model or destination."""
    if settings.plan_path is None:
        return None
    pinned = read_plan(settings.plan_path)
    if pinned.model_relation != relation_label(relation):
        raise errors.ConfigError(
            f"plan file {pinned.path} was made for the model {pinned.model_relation}, this run exports "
            f"{relation_label(relation)}; nothing was sent"
        )
    destination = Destination.from_settings(settings)
    if pinned.destination != destination:
        other = "another API token (tenant)" if pinned.destination.label == destination.label else "the destination"
        raise errors.ConfigError(
            f"plan file {pinned.path} was made for {other} {pinned.destination.label}, this run "
            f"sends to {destination.label}; nothing was sent. Make a plan for this destination."
        )
    return pinned


def run_export(settings: ExportSettings) -> RunSummary:
    """Run one export and return its summary (whose ``exit_code`` the CLI exits with).

    One way through: check the build and the model -> decide what to send (once) -> batch -> send ->
    record what the API acknowledged -> report. A fault of the machine (disk full, read-only file, lock)
    becomes its own exporter error, with the results file's ``error`` saying what was kept.
    """
    started = time.monotonic()
    relation = resolve_model(settings.target_path, settings.model_name)
    read_only = settings.dry_run
    pinned = _pinned_plan(settings, relation)
    # a Spark build is read through views in the local state file, which even a dry run (re)creates there
    con = connect(
        settings.database_path,
        read_only=read_only and not settings.on_spark,
        must_exist=not settings.on_spark,
        memory_limit=settings.memory_limit,
        temp_directory=settings.temp_directory,
    )
    try:
        try:
            decision = decide(
                con, settings, relation, read_only=read_only, pinned=None if pinned is None else pinned.pinned
            )
            reader, state, destination, plan = decision.reader, decision.state, decision.destination, decision.plan
            had_deliveries = decision.had_deliveries
            if settings.dry_run or settings.api_dry_run:  # nothing would change at the destination
                if decision.guard.reasons:
                    log.warning("the change guard would refuse a real run: %s", "; ".join(decision.guard.reasons))
            else:
                decision.guard.check()  # before the run is registered: a refused run sends and records nothing
            mode = _mode(settings)
            run_id = state.begin_run(mode) if not read_only else "dry-run"
        except (duckdb.Error, OSError) as exc:
            raise environment_fault(exc, settings.database_path) or exc from None
        log.info(
            "run %s to %s: %d rows in the model, %d to send, %d unchanged, %d rejected before",
            run_id, destination.label, plan.considered, plan.to_send, plan.unchanged, plan.skipped_rejected,
            extra={"event": "run_planned", "run_id": run_id},
        )
        summary = RunSummary.start(run_id=run_id, mode=mode, settings=settings, plan=plan, relation=relation)
        summary.destination = destination.label
        failure: BaseException | None = None
        try:
            _deliver(settings, state, reader, plan, run_id, summary)
        except (duckdb.Error, OSError) as exc:
            failure = _fault_outcome(exc, settings, summary)
        except errors.ExportError as exc:
            failure = exc
            summary.error = summary.error or str(exc)
            if summary.status == "running":
                summary.finish(exc.exit_code)
        except BaseException as exc:
            failure = exc
            if summary.status == "running":  # an unexpected error escaped: record the run as failed, not running
                summary.error = f"internal error ({type(exc).__name__}): {exc}"
                summary.finish(errors.EXIT_INTERNAL_ERROR)
        summary.duration_seconds = time.monotonic() - started
        if not read_only:
            failure = _close_run(state, settings, summary, run_id, had_deliveries=had_deliveries) or failure
        try:
            write_results(settings.results_path, summary)
        except OSError as exc:  # the summary could not be written (a full disk): say so, keep the run's error
            log.error("could not write the run summary %s: %s", settings.results_path, exc)
            failure = failure or environment_fault(exc, settings.results_path) or exc
        if failure is not None:
            raise failure
        return summary
    finally:
        try:
            con.close()
        except duckdb.Error as exc:  # e.g. the closing checkpoint on a full disk: the run's error says it
            log.warning("closing DuckDB file %s failed: %s", settings.database_path, _first_line(exc))


def _fault_outcome(exc: BaseException, settings: ExportSettings, summary: RunSummary) -> BaseException:
    """Turn a DuckDB/OS error during delivery into the run's outcome, saying what was kept."""
    fault = environment_fault(exc, settings.database_path)
    if fault is None:
        summary.error = f"internal error ({type(exc).__name__}): {exc}"
        summary.finish(errors.EXIT_INTERNAL_ERROR)
        return exc
    c = summary.counters
    again = max(summary.plan.to_send - c.acknowledged - c.rejected, 0)
    message = (
        f"{fault}. {c.acknowledged:,} acknowledged rows were recorded in the state; the other {again:,} rows "
        "of this run will be sent again by the next run (UPSERT makes that harmless)"
    )
    if isinstance(fault, errors.DiskFullError):
        message += ". Free space there, then re-run"
    fault = type(fault)(message)
    summary.error = message
    summary.finish(fault.exit_code)
    log.error("%s", message, extra={"event": "environment_fault"})
    return fault


def _close_run(
    state: ExportState, settings: ExportSettings, summary: RunSummary, run_id: str, *, had_deliveries: bool
) -> errors.ExportError | None:
    """Compact the log after a good run and record the run's outcome; a fault here is reported, not hidden."""
    try:
        delivered = summary.exit_code in (errors.EXIT_OK, errors.EXIT_REJECTED_ROWS)
        # a log that was empty before this run holds one event per key already: nothing to compact
        recorded = had_deliveries and (summary.counters.sent > 0 or summary.counters.rejected > 0)
        if delivered and recorded and not settings.api_dry_run:
            summary.compacted_events = state.compact()
        state.finish_run(run_id, status=summary.status, exit_code=summary.exit_code, summary=summary.as_dict())
    except (duckdb.Error, OSError) as exc:
        if summary.exit_code not in (errors.EXIT_OK, errors.EXIT_REJECTED_ROWS):
            # the run failed already (often for the same reason): keep that error, say this one
            log.warning("could not record the run's outcome in the state: %s", _first_line(exc))
            return None
        fault = _fault_outcome(exc, settings, summary)
        return fault if isinstance(fault, errors.ExportError) else None
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _mode(settings: ExportSettings) -> str:
    if settings.dry_run:
        return "dry-run"
    if settings.api_dry_run:
        return "api-dry-run"
    if settings.plan_path is not None:
        return "pinned-plan"
    return "full-refresh" if settings.full_refresh else "incremental"


def _deliver(
    settings: ExportSettings,
    state: ExportState,
    reader: ContractModelReader,
    plan: Plan,
    run_id: str,
    summary: RunSummary,
) -> None:
    stop = threading.Event()
    envelope = Envelope(settings.solution_name, "UPSERT", dry_run=settings.api_dry_run)
    stream = reader.stream_rows_to_send(chunk_rows=STREAM_CHUNK_ROWS)
    batches: Iterator[Batch] = make_batches(
        stream,
        envelope=envelope,
        batch_size=settings.batch_size,
        max_bytes=settings.max_bytes,
    )
    counters = summary.counters
    progress = Progress(total=plan.to_send, enabled=settings.show_progress)
    records_enabled = not settings.dry_run and not settings.api_dry_run

    def account(outcomes: list[_Outcome]) -> None:
        """Record finished batches durably (one transaction), then count them."""
        records = [r for o in outcomes for r in o.records]
        if records_enabled and records:
            state.record_batches(run_id, records)
        for o in outcomes:
            counters.batches += 1
            for record in o.records:
                refused = counters.add_rejections(record.rejections)
                if o.not_sent:
                    counters.refused_before_sending += refused
                elif settings.dry_run:
                    counters.would_send += record.rows.num_rows - refused
                else:
                    counters.sent += record.rows.num_rows
                    counters.acknowledged += record.rows.num_rows - refused
            progress.update(o.batch.size)

    previous_handlers = _install_stop_handlers(stop, summary)
    try:
        if plan.to_send == 0:
            summary.finish(errors.EXIT_OK)
            return
        if settings.dry_run:
            _dry_run(batches, settings, envelope, account, stop)
            summary.finish(errors.EXIT_OK)
            return
        with build_http_client(settings) as http, ThreadPoolExecutor(
            max_workers=settings.concurrency, thread_name_prefix="sender"
        ) as pool:
            limiter = RateLimiter(settings.max_rps, stop)
            client = IngestionClient(http, settings, limiter, summary.http, RequestIds(), stop=stop)
            failure = _send_all(batches, client, envelope, pool, settings.concurrency, account, stop)
        if stop.is_set():
            summary.error = "stopped by a signal before every row was sent; the rest stays pending"
            summary.finish(errors.EXIT_DELIVERY_FAILED)
        elif failure is not None:
            summary.error = str(failure)
            summary.finish(failure.exit_code)
            if isinstance(failure, errors.ConfigError):
                raise failure
        else:
            summary.finish(errors.EXIT_REJECTED_ROWS if counters.rejected else errors.EXIT_OK)
    finally:
        _restore_handlers(previous_handlers)
        progress.close()
        stream.close()


def _install_stop_handlers(stop: threading.Event, summary: RunSummary) -> dict[int, Any]:
    """SIGTERM/SIGINT ask the run to stop gracefully (only possible from the main thread)."""

    def request_stop(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        log.warning("received %s: finishing the batches in flight, then stopping", name, extra={"event": "stop"})
        summary.interrupted_by = name
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, request_stop)
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


class _AckRecorder:
    """Groups finished batches into one state transaction: at most ``max_batches`` or ``max_delay`` seconds.

    A DuckDB write transaction costs about 5 ms whatever its size, so one per batch would cap a run near
    100 batches/s. Grouping keeps the window in which an acknowledged batch is not yet recorded to a
    quarter of a second: a kill inside it only makes the next run send those rows again (UPSERT of the
    same content), never lose them. Rows are counted only after their commit.
    """

    def __init__(
        self,
        account: Callable[[list[_Outcome]], None],
        *,
        max_batches: int = ACK_GROUP_MAX_BATCHES,
        max_delay: float = ACK_GROUP_MAX_DELAY_SECONDS,
    ) -> None:
        self._account = account
        self._max_batches = max_batches
        self._max_delay = max_delay
        self._waiting: list[_Outcome] = []
        self._oldest = 0.0

    def add(self, outcome: _Outcome) -> None:
        if not self._waiting:
            self._oldest = time.monotonic()
        self._waiting.append(outcome)

    def seconds_until_due(self) -> float | None:
        """How long the caller may wait before it must call :meth:`flush_if_due` (None: nothing waits)."""
        if not self._waiting:
            return None
        return max(0.0, self._oldest + self._max_delay - time.monotonic())

    def flush_if_due(self) -> None:
        if len(self._waiting) >= self._max_batches or self.seconds_until_due() == 0.0:
            self.flush()

    def flush(self) -> None:
        if self._waiting:
            waiting, self._waiting = self._waiting, []
            self._account(waiting)


def _send_all(
    batches: Iterator[Batch],
    client: IngestionClient,
    envelope: Envelope,
    pool: ThreadPoolExecutor,
    concurrency: int,
    account: Callable[[list[_Outcome]], None],
    stop: threading.Event,
) -> errors.ExportError | None:
    """Keep up to ``concurrency`` batches in flight; on a fatal error stop scheduling and drain the rest.

    The main thread reads the next batch from DuckDB while the sender threads have the others on the wire.
    """
    in_flight: set[Future[_Outcome]] = set()
    failure: errors.ExportError | None = None
    recorder = _AckRecorder(account)

    def wait_for_some() -> None:
        nonlocal failure, in_flight
        due = recorder.seconds_until_due()
        done, not_done = wait(in_flight, timeout=0.5 if due is None else due, return_when=FIRST_COMPLETED)
        in_flight = set(not_done)
        for future in done:
            exc = future.exception()
            if exc is None:
                recorder.add(future.result())
            elif isinstance(exc, errors.ExportError):
                failure = failure or exc
            else:
                raise exc
        recorder.flush_if_due()

    try:
        for batch in batches:
            if batch.oversized:
                recorder.add(_oversized_outcome(batch, envelope))
                continue
            in_flight.add(pool.submit(_deliver_batch, client, envelope, batch))
            while len(in_flight) >= concurrency and failure is None and not stop.is_set():
                wait_for_some()
            if failure is not None or stop.is_set():
                break
        while in_flight:
            wait_for_some()
    finally:
        recorder.flush()  # whatever was acknowledged is recorded, also when a batch raised
    if isinstance(failure, errors.StoppedError) and stop.is_set():
        return None  # a stop, not a failure: the caller reports it
    return failure


def _deliver_batch(client: IngestionClient, envelope: Envelope, batch: Batch) -> _Outcome:
    """Send a batch; if the API refuses it whole (400/413), bisect until the refused rows are isolated."""
    records: list[BatchRecord] = []
    queue = [batch]
    while queue:
        piece = queue.pop(0)
        outcome = client.send(envelope.body(piece.rows_json), piece.size)
        if isinstance(outcome, Acknowledged):
            records.append(BatchRecord(piece.rows, list(outcome.rejections)))
        elif isinstance(outcome, Refused):
            if piece.size > 1:
                log.info(
                    "batch %d (%d rows) refused with HTTP %d; splitting it to isolate the bad rows",
                    piece.seq, piece.size, outcome.status, extra={"event": "bisect"},
                )
                queue[:0] = list(piece.split())
                continue
            if not outcome.from_api:
                raise errors.ConfigError(
                    f"a request of a single row was answered {outcome.came_back}, which is not the ingestion "
                    "API's error object: a proxy or another host stands in front of the API, so this says "
                    "nothing about the row. Nothing was recorded as rejected and every row not acknowledged "
                    "stays pending. Check PEAK_BASE_URL (--base-url) and the proxy between, then re-run"
                )
            records.append(BatchRecord(
                piece.rows,
                [RowRejection(0, f"HTTP_{outcome.status}", outcome.detail, "request", None, outcome.status)],
            ))
        elif isinstance(outcome, Fatal):
            raise outcome.error
        elif isinstance(outcome, GaveUp):
            raise errors.DeliveryError(outcome.reason)
        elif records:  # stopped after some pieces were acknowledged: record those, the rest stays pending
            return _Outcome(batch, records)
        else:
            raise errors.StoppedError(outcome.reason)
    return _Outcome(batch, records)


def _oversized_outcome(batch: Batch, envelope: Envelope) -> _Outcome:
    message = f"the row's JSON ({batch.body_bytes} bytes with the envelope) exceeds --max-bytes; not sent"
    return _Outcome(
        batch, [BatchRecord(batch.rows, [RowRejection(0, "ROW_TOO_LARGE", message, "client")])], not_sent=True
    )


def _dry_run(
    batches: Iterator[Batch],
    settings: ExportSettings,
    envelope: Envelope,
    account: Callable[[list[_Outcome]], None],
    stop: threading.Event,
) -> None:
    """Build every request exactly as it would be sent, optionally write it to a folder, send nothing."""
    folder: Path | None = settings.payload_dir
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    for batch in batches:
        if stop.is_set():
            return
        if batch.oversized:
            account([_oversized_outcome(batch, envelope)])
            continue
        body = envelope.body(batch.rows_json)
        if folder is not None:
            (folder / f"batch-{batch.seq:06d}.json").write_bytes(body)
        account([_Outcome(batch, [BatchRecord(batch.rows, [])])])
