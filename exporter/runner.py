"""One export run: check the build, plan, stream, send concurrently, record, report.

Concurrency: one asyncio loop sends up to ``concurrency`` batches at a time through a shared rate limiter.
DuckDB work (reading the stream, recording acknowledgements) runs on one dedicated thread, so the loop
keeps answering responses while DuckDB works, and DuckDB is never used from two threads at once.
Completed batches are recorded in one transaction per group; a batch is counted only after its commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from exporter import errors
from exporter.batching import Batch, Envelope, make_batches
from exporter.client import BatchRefused, Delivered, IngestionClient, RateLimiter, build_http_client
from exporter.dbt_artifacts import resolve_model
from exporter.model_reader import ContractModelReader, Plan
from exporter.progress import Progress
from exporter.report import RunSummary, write_results
from exporter.settings import ExportSettings
from exporter.state import BatchRecord, ExportState, RowRejection
from exporter.warehouse import connect

log = logging.getLogger(__name__)
T = TypeVar("T")

#: DuckDB's buffer pool for the export; it spills beyond this, keeping the process small and flat.
DUCKDB_MEMORY_LIMIT = "100MB"
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


def run_export(settings: ExportSettings) -> RunSummary:
    """Run one export and return its summary (whose ``exit_code`` the CLI exits with)."""
    started = time.monotonic()
    relation = resolve_model(settings.target_path, settings.model_name)
    read_only = settings.dry_run
    con = connect(settings.duckdb_path, read_only=read_only, memory_limit=DUCKDB_MEMORY_LIMIT)
    try:
        state = ExportState(con, settings.state_schema)
        if read_only:
            # a dry run writes nothing; with no state yet, every row counts as new
            compare_with_state = state.exists() and not settings.full_refresh
        else:
            state.ensure()
            compare_with_state = not settings.full_refresh
        reader = ContractModelReader(con, relation, settings.state_schema)
        reader.check_contract()
        plan = reader.plan(full_refresh=not compare_with_state, retry_rejected=settings.retry_rejected)
        mode = _mode(settings)
        run_id = state.begin_run(mode) if not read_only else "dry-run"
        log.info(
            "run %s: %d rows in the model, %d to send, %d unchanged, %d rejected before",
            run_id, plan.considered, plan.to_send, plan.unchanged, plan.skipped_rejected,
            extra={"event": "run_planned", "run_id": run_id},
        )
        summary = RunSummary.start(run_id=run_id, mode=mode, settings=settings, plan=plan, relation=relation)
        try:
            asyncio.run(_deliver(settings, state, reader, plan, run_id, summary, full_refresh=not compare_with_state))
        finally:
            summary.duration_seconds = time.monotonic() - started
            delivered = summary.exit_code in (errors.EXIT_OK, errors.EXIT_REJECTED_ROWS)
            recorded = summary.counters.sent > 0 or summary.counters.rejected > 0
            if delivered and recorded and not read_only and not settings.api_dry_run:
                summary.compacted_events = state.compact()
            if not read_only:
                state.finish_run(run_id, status=summary.status, exit_code=summary.exit_code, summary=summary.as_dict())
            write_results(settings.results_path, summary)
        return summary
    finally:
        con.close()


def _mode(settings: ExportSettings) -> str:
    if settings.dry_run:
        return "dry-run"
    if settings.api_dry_run:
        return "api-dry-run"
    return "full-refresh" if settings.full_refresh else "incremental"


async def _deliver(
    settings: ExportSettings,
    state: ExportState,
    reader: ContractModelReader,
    plan: Plan,
    run_id: str,
    summary: RunSummary,
    *,
    full_refresh: bool,
) -> None:
    loop = asyncio.get_running_loop()
    db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread, or no signals
            loop.add_signal_handler(sig, _request_stop, stop, summary, sig)

    async def in_db(fn: Callable[..., T], *args: Any) -> T:
        return await loop.run_in_executor(db, fn, *args)

    envelope = Envelope(settings.solution_name, "UPSERT", dry_run=settings.api_dry_run)
    stream = reader.stream_rows_to_send(
        full_refresh=full_refresh, retry_rejected=settings.retry_rejected, chunk_rows=STREAM_CHUNK_ROWS
    )
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
                refused = {r.row_index for r in record.rejections}
                counters.rejected += len(refused)
                counters.add_rejections(list(record.rejections))
                if settings.dry_run:
                    counters.would_send += record.rows.num_rows - len(refused)
                else:
                    counters.sent += record.rows.num_rows
                    counters.acknowledged += record.rows.num_rows - len(refused)
            progress.update(o.batch.size)

    try:
        if plan.to_send == 0:
            summary.finish(errors.EXIT_OK)
            return
        if settings.dry_run:
            await _dry_run(batches, settings, envelope, account, in_db, stop)
            summary.finish(errors.EXIT_OK)
            return
        async with build_http_client(settings) as http:
            client = IngestionClient(http, settings, RateLimiter(settings.max_rps), summary.http)
            failure = await _send_all(batches, client, envelope, settings.concurrency, account, in_db, stop)
        if failure is not None:
            summary.error = str(failure)
            summary.finish(failure.exit_code)
            if isinstance(failure, errors.ConfigError):
                raise failure
        elif stop.is_set():
            summary.error = "stopped by a signal before every row was sent; the rest stays pending"
            summary.finish(errors.EXIT_DELIVERY_FAILED)
        else:
            summary.finish(errors.EXIT_REJECTED_ROWS if counters.rejected else errors.EXIT_OK)
    finally:
        progress.close()
        await in_db(stream.close)
        db.shutdown(wait=True)


def _request_stop(stop: asyncio.Event, summary: RunSummary, sig: signal.Signals) -> None:
    log.warning("received %s: finishing the batches in flight, then stopping", sig.name, extra={"event": "stop"})
    summary.interrupted_by = sig.name
    stop.set()


class _AckRecorder:
    """Groups finished batches into one state transaction: at most ``max_batches`` or ``max_delay`` seconds.

    A DuckDB write transaction costs about 5 ms whatever its size, so one per batch would cap a run near
    100 batches/s. Grouping keeps the window in which an acknowledged batch is not yet recorded to a
    quarter of a second: a kill inside it only makes the next run send those rows again (UPSERT of the
    same content), never lose them. Rows are counted only after their commit.
    """

    def __init__(self, account: Callable[[list[_Outcome]], None], in_db: Callable[..., Any],
                 *, max_batches: int = ACK_GROUP_MAX_BATCHES, max_delay: float = ACK_GROUP_MAX_DELAY_SECONDS) -> None:
        self._account = account
        self._in_db = in_db
        self._max_batches = max_batches
        self._max_delay = max_delay
        self._waiting: list[_Outcome] = []
        self._oldest = 0.0

    def add(self, outcomes: list[_Outcome]) -> None:
        if outcomes and not self._waiting:
            self._oldest = time.monotonic()
        self._waiting.extend(outcomes)

    def seconds_until_due(self) -> float | None:
        """How long the caller may wait before it must call :meth:`flush_if_due` (None: nothing waits)."""
        if not self._waiting:
            return None
        return max(0.0, self._oldest + self._max_delay - time.monotonic())

    async def flush_if_due(self) -> None:
        if len(self._waiting) >= self._max_batches or self.seconds_until_due() == 0.0:
            await self.flush()

    async def flush(self) -> None:
        if self._waiting:
            waiting, self._waiting = self._waiting, []
            await self._in_db(self._account, waiting)


async def _send_all(
    batches: Iterator[Batch],
    client: IngestionClient,
    envelope: Envelope,
    concurrency: int,
    account: Callable[[list[_Outcome]], None],
    in_db: Callable[..., Any],
    stop: asyncio.Event,
) -> errors.ExportError | None:
    """Keep up to ``concurrency`` batches in flight; on a fatal error stop scheduling and drain the rest.

    The next batch is read from DuckDB while the current ones are on the wire.
    """
    in_flight: set[asyncio.Task[_Outcome]] = set()
    failure: errors.ExportError | None = None
    recorder = _AckRecorder(account, in_db)

    async def wait_for_some() -> None:
        nonlocal failure, in_flight
        done, in_flight = await asyncio.wait(
            in_flight, timeout=recorder.seconds_until_due(), return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            exc = task.exception()
            if exc is None:
                recorder.add([task.result()])
            elif isinstance(exc, errors.ExportError):
                failure = failure or exc
            else:
                raise exc
        await recorder.flush_if_due()

    next_read: asyncio.Future[Batch | None] = asyncio.ensure_future(in_db(next, batches, None))
    try:
        while failure is None and not stop.is_set():
            batch = await next_read
            if batch is None:
                break
            next_read = asyncio.ensure_future(in_db(next, batches, None))
            if batch.oversized:
                recorder.add([_oversized_outcome(batch, envelope)])
                continue
            in_flight.add(asyncio.create_task(_deliver_batch(client, envelope, batch)))
            while len(in_flight) >= concurrency and failure is None:
                await wait_for_some()
        while in_flight:
            await wait_for_some()
    finally:
        # a read already under way finishes (its rows stay pending); then what was acknowledged is recorded
        with contextlib.suppress(Exception):
            await next_read
        await recorder.flush()
    return failure


async def _deliver_batch(client: IngestionClient, envelope: Envelope, batch: Batch) -> _Outcome:
    """Send a batch; if the API refuses it whole (400/413), bisect until the refused rows are isolated."""
    records: list[BatchRecord] = []
    queue = [batch]
    while queue:
        piece = queue.pop(0)
        try:
            delivered: Delivered = await client.send(envelope.body(piece.rows_json), piece.size)
        except BatchRefused as refused:
            if piece.size > 1:
                log.info(
                    "batch %d (%d rows) refused with HTTP %d; splitting it to isolate the bad rows",
                    piece.seq, piece.size, refused.status, extra={"event": "bisect"},
                )
                queue[:0] = list(piece.split())
                continue
            records.append(
                BatchRecord(
                    piece.rows,
                    [RowRejection(0, f"HTTP_{refused.status}", refused.detail, "request", None, refused.status)],
                )
            )
            continue
        records.append(BatchRecord(piece.rows, delivered.rejections))
    return _Outcome(batch, records)


def _oversized_outcome(batch: Batch, envelope: Envelope) -> _Outcome:
    message = f"the row's JSON ({batch.body_bytes} bytes with the envelope) exceeds --max-bytes; not sent"
    return _Outcome(batch, [BatchRecord(batch.rows, [RowRejection(0, "ROW_TOO_LARGE", message, "client")])])


async def _dry_run(
    batches: Iterator[Batch],
    settings: ExportSettings,
    envelope: Envelope,
    account: Callable[[list[_Outcome]], None],
    in_db: Callable[..., Any],
    stop: asyncio.Event,
) -> None:
    """Build every request exactly as it would be sent, optionally write it to a folder, send nothing."""
    folder: Path | None = settings.payload_dir
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    while not stop.is_set():
        batch = await in_db(next, batches, None)
        if batch is None:
            return
        if batch.oversized:
            account([_oversized_outcome(batch, envelope)])
            continue
        body = envelope.body(batch.rows_json)
        if folder is not None:
            (folder / f"batch-{batch.seq:06d}.json").write_bytes(body)
        account([_Outcome(batch, [BatchRecord(batch.rows, [])])])
