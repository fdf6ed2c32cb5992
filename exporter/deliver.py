"""The delivery stage: batches in, one verdict per batch out, recorded before anything is counted.

:func:`deliver` cuts the selected rows into requests (:mod:`exporter.batching`), keeps up to
``--concurrency`` of them in flight on sender threads that share one rate limiter and one connection pool,
and turns each batch's :data:`~exporter.outcomes.BatchOutcome` into what the ledger records: acknowledged
rows, rows the API rejected (its ``failed`` entries, a single row it refused alone, a row too large to send)
and the ``requestId`` of every acknowledged request. Every row rejection is built here.

A request refused whole (400/413) is split in halves to isolate the rows the API refuses alone. When both
halves repeat the refusal with the same message, the API is refusing the request, not rows (an unknown
solution, a broken envelope): the run stops with exit 3, nothing is recorded as rejected, the rows stay
pending. A single row refused by something other than the API (a proxy's page) stops the run the same way.

Recording is off the path that keeps requests in flight: the main thread reads rows from DuckDB, submits
batches and hands each finished batch to the recorder (:class:`_GroupCommit`), a thread of its own and the
only one that touches the ledger during delivery. It records them in groups (one transaction per at most
32 batches or a quarter of a second after the oldest arrived; a group is one statement per table, and a
DuckDB commit costs several ms whatever its size), and only after the commit counts them. While it writes,
the main thread keeps the senders busy; DuckDB releases the GIL while it works. A batch's failure
(attempts spent, a fatal answer, a request-level refusal, a fault writing the ledger) or a stop signal
ends the scheduling of new batches; the batches in flight finish and are recorded (drain, then the last
group), and :class:`DeliveryResult` says what ended it. Nothing here raises for an answer the API can give.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from exporter import errors
from exporter.batching import Batch, Envelope, make_batches
from exporter.client import HttpStats, IngestionClient, RateLimiter, build_http_client
from exporter.ledger import BatchRecord
from exporter.outcomes import Acknowledged, Fatal, GaveUp, Refused, RequestIds, RowRejection, Stopped
from exporter.progress import Progress
from exporter.settings import ExportSettings

log = logging.getLogger(__name__)

#: runs of digits or of hex (trace ids, counters) in a refusal's text, ignored when two refusals are compared
_NUMBERS_AND_IDS = re.compile(r"[0-9a-f]{8,}|\d+")

#: acknowledged batches are committed to the ledger in groups of at most this many (groups of 32 cost a
#: 197,000-row export about 0.2 s less CPU than groups of 16: fewer commits; 64 saved little more) ...
ACK_GROUP_MAX_BATCHES = 32
#: ... or at most this long after the oldest of them was answered (a kill loses at most that much of the
#: ledger's work: those rows are sent again, the same content)
ACK_GROUP_MAX_DELAY_SECONDS = 0.25
#: finished batches waiting for the recorder while it writes a group, at most (then the main thread waits,
#: so memory stays bounded: two groups of rows). Never fewer than a group: a group that cannot fill would
#: only be written when its delay ran out, with the main thread waiting all along.
ACK_MAX_WAITING_BATCHES = ACK_GROUP_MAX_BATCHES
STREAM_CHUNK_ROWS = 8192

#: what the ledger is told: records of one or more batches, in one transaction (None: record nothing)
Recorder = Callable[[Sequence[BatchRecord]], None]


@dataclass
class Counters:
    sent: int = 0
    acknowledged: int = 0
    rejected: int = 0
    would_send: int = 0
    refused_before_sending: int = 0
    batches: int = 0
    rejected_by_code: dict[str, int] = field(default_factory=dict)

    def count_rejections(self, rejections: Sequence[RowRejection]) -> int:
        """Count each refused row once, under its first error code; returns how many rows were refused."""
        seen: set[int] = set()
        for r in rejections:
            if r.row_index not in seen:
                seen.add(r.row_index)
                self.rejected_by_code[r.error_code] = self.rejected_by_code.get(r.error_code, 0) + 1
        self.rejected += len(seen)
        return len(seen)


@dataclass
class DeliveryResult:
    """What delivery came to: the counts of recorded rows, and what ended it early, if anything."""

    counters: Counters = field(default_factory=Counters)
    http: HttpStats = field(default_factory=HttpStats)
    #: a TransientError (attempts spent, stopped, a fault writing the ledger) or a TerminalError (a fatal
    #: answer, a request-level refusal); None when every batch has its verdict
    failure: errors.ExportError | None = None


@dataclass
class _Verdict:
    """One batch's verdict: what to record, and what stopped it (its remaining pieces stay pending). It holds
    no reference to the batch, whose JSON is kept only in the records of rows to record as rejected."""

    records: list[BatchRecord]
    failure: errors.ExportError | None = None
    #: refused by the exporter itself (too large for any request): recorded as rejected, never sent
    not_sent: bool = False


def deliver(
    rows: Iterable[pa.RecordBatch],
    to_send: int,
    settings: ExportSettings,
    *,
    record: Recorder | None,
    request_ids: RequestIds,
    stop: threading.Event,
) -> DeliveryResult:
    """Send ``rows`` (``to_send`` of them) and record each batch's verdict with ``record``; see the module doc.

    A dry run (``settings.dry_run``) builds every request as it would be sent, writes it to
    ``--payload-dir`` if asked, and sends and records nothing.
    """
    result = DeliveryResult()
    if to_send == 0:
        return result
    envelope = Envelope(settings.solution_name, "UPSERT", dry_run=settings.api_dry_run)
    batches = make_batches(rows, envelope=envelope, batch_size=settings.batch_size, max_bytes=settings.max_bytes)
    progress = Progress(total=to_send, enabled=settings.show_progress)
    try:
        if settings.dry_run:
            _rehearse(batches, envelope, settings.payload_dir, result, stop)
        else:
            with ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="sender") as pool:
                http = build_http_client(settings)
                try:
                    client = IngestionClient(http, settings, RateLimiter(settings.max_rps, stop), result.http,
                                             request_ids, stop=stop)
                    _send_all(batches, client, envelope, pool, settings.concurrency,
                              _Accountant(result, record, progress), stop)
                finally:
                    http.close()
    finally:
        progress.close()
    if result.failure is None and stop.is_set():
        c = result.counters
        pending = max(to_send - c.sent - c.would_send - c.refused_before_sending, 0)
        result.failure = errors.StoppedError(
            f"stopped by a signal; the requests in flight were finished and recorded, {pending:,} rows stay pending")
    return result


class _Accountant:
    """Records finished batches (one ledger transaction per group), then counts them; a fault recording
    them ends the delivery (the group's rows were not recorded, so the next run sends them again).

    Called on the recorder's thread; :meth:`fail` also on the main thread (a fault reading the rows)."""

    def __init__(self, result: DeliveryResult, record: Recorder | None, progress: Progress) -> None:
        self._result = result
        self._record = record
        self._progress = progress
        self._lock = threading.Lock()

    @property
    def failed(self) -> bool:
        return self._result.failure is not None

    def fail(self, failure: errors.ExportError) -> None:
        with self._lock:  # the first failure is what ended the delivery
            if self._result.failure is None:
                self._result.failure = failure

    def __call__(self, verdicts: list[_Verdict]) -> None:
        records = [r for v in verdicts for r in v.records]
        if self._record is not None and records:
            try:
                self._record(records)
            except errors.ExportError as exc:  # the ledger mapped its fault (a full disk, a lock)
                self.fail(exc)
                return
        counters = self._result.counters
        for v in verdicts:
            counters.batches += 1
            for r in v.records:
                refused = counters.count_rejections(r.rejections)
                if v.not_sent:
                    counters.refused_before_sending += refused
                else:
                    counters.sent += r.rows.num_rows
                    counters.acknowledged += r.rows.num_rows - refused
            if v.failure is not None:
                self.fail(v.failure)
            self._progress.update(sum(r.rows.num_rows for r in v.records))


class _GroupCommit:
    """The recorder: a thread that records finished batches in groups, off the main thread's path.

    A group is due when ``max_batches`` wait, when a batch that failed arrives (it ends the delivery, so it
    is recorded at once), or ``max_delay`` seconds after the oldest waiting batch arrived; while a group is
    being written, the next one gathers, so groups grow when answers come faster than commits. A kill inside
    the window only makes the next run send those rows again (UPSERT of the same content). :meth:`add`
    waits while ``max_waiting`` batches wait (the recorder is behind), so memory stays bounded. Use it as
    a context manager: leaving it records everything handed over, then the thread ends; an unexpected
    error on the thread (a bug) is raised there.
    """

    def __init__(self, account: _Accountant, *, max_batches: int = ACK_GROUP_MAX_BATCHES,
                 max_delay: float = ACK_GROUP_MAX_DELAY_SECONDS, max_waiting: int = ACK_MAX_WAITING_BATCHES) -> None:
        self._account = account
        self._max_batches = max_batches
        self._max_delay = max_delay
        self._max_waiting = max(max_waiting, max_batches)  # see ACK_MAX_WAITING_BATCHES
        self._waiting: list[_Verdict] = []
        #: when each waiting batch was handed over (the oldest decides when a group is due)
        self._arrived: list[float] = []
        self._urgent = False
        self._closing = False
        self._stopping = False
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)

    def __enter__(self) -> _GroupCommit:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()
        if self._error is not None and exc_info[0] is None:
            raise self._error

    @property
    def stopping(self) -> bool:
        """Whether scheduling must end: a batch handed over failed, or recording did (the accountant's
        verdict on which failure ended the delivery follows once the group is recorded)."""
        return self._stopping or self._account.failed or self._error is not None

    def add(self, verdict: _Verdict) -> None:
        with self._changed:
            while len(self._waiting) >= self._max_waiting and self._error is None:
                self._changed.wait()
            if self._error is not None:  # the recorder is gone: nothing more can be recorded
                return
            self._waiting.append(verdict)
            self._arrived.append(time.monotonic())
            if verdict.failure is not None:
                self._urgent = self._stopping = True
            self._changed.notify_all()

    def _next_group(self) -> list[_Verdict] | None:
        """Wait for the next group that is due; None once closing and nothing waits."""
        with self._changed:
            while True:
                if self._waiting and (self._closing or self._urgent or len(self._waiting) >= self._max_batches):
                    break
                if not self._waiting:
                    if self._closing:
                        return None
                    self._changed.wait()
                    continue
                left = self._arrived[0] + self._max_delay - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            n = self._max_batches
            group, self._waiting, self._arrived = self._waiting[:n], self._waiting[n:], self._arrived[n:]
            self._urgent = any(v.failure is not None for v in self._waiting)
            self._changed.notify_all()  # room for add()
            return group

    def _run(self) -> None:
        try:
            while (group := self._next_group()) is not None:
                self._account(group)
        except BaseException as exc:  # a bug: handed to the thread that leaves the context
            log.error("the recorder stopped: %s", exc, exc_info=True)
            with self._changed:
                self._error = exc
                self._waiting.clear()
                self._arrived.clear()
                self._changed.notify_all()


def _send_all(
    batches: Iterator[Batch],
    client: IngestionClient,
    envelope: Envelope,
    pool: ThreadPoolExecutor,
    concurrency: int,
    account: _Accountant,
    stop: threading.Event,
) -> None:
    """Keep up to ``concurrency`` batches in flight while the main thread reads the next one from DuckDB and
    the recorder writes the ledger; after a failure or a stop, schedule nothing more and drain what is in
    flight, every answered batch recorded."""
    in_flight: set[Future[_Verdict]] = set()

    with _GroupCommit(account) as group:

        def collect(timeout: float | None) -> None:
            nonlocal in_flight
            done, not_done = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
            in_flight = set(not_done)
            for future in done:
                group.add(future.result())  # _deliver_batch raises only for a bug

        try:
            for batch in batches:
                if batch.oversized:
                    group.add(_oversized(batch, envelope))
                    continue
                in_flight.add(pool.submit(_deliver_batch, client, envelope, batch))
                while len(in_flight) >= concurrency and not group.stopping and not stop.is_set():
                    collect(0.5)
                if group.stopping or stop.is_set():
                    break
        except errors.ExportError as exc:  # reading the rows failed (a fault the model stage mapped): stop here
            account.fail(exc)
        finally:
            while in_flight:  # whatever was answered is recorded, also when reading the rows failed
                collect(None)


def _deliver_batch(client: IngestionClient, envelope: Envelope, batch: Batch) -> _Verdict:
    """Send a batch; bisect a whole-request refusal down to the rows the API refuses alone.

    A row is refused *alone* when its one-row request is refused while another part of the same batch was
    acknowledged: only then is the refusal a verdict on that row. If no part of the batch is acknowledged,
    or both halves of a 400 repeat the refusal, the API is refusing the request: the batch's rows stay
    pending and the run stops (exit 3). A 413 is about size, so it is halved as long as it repeats.
    """
    records: list[BatchRecord] = []
    refused_alone: list[tuple[Batch, Refused]] = []
    acknowledged = False
    pieces: list[tuple[Batch, object]] = [(batch, client.send(envelope.body_of(batch), batch.size))]
    while pieces:
        piece, outcome = pieces.pop()
        if isinstance(outcome, Acknowledged):
            acknowledged = True
            # the JSON sent is kept only for rows to record as rejected: what waits for the recorder is smaller
            rows = piece.rows if outcome.rejections else piece.rows.drop_columns(["row_json"])
            records.append(BatchRecord(rows, outcome.rejections, outcome.request_id, outcome.request_key))
            continue
        if isinstance(outcome, GaveUp):
            return _Verdict(records, errors.DeliveryError(outcome.reason))
        if isinstance(outcome, Stopped):
            return _Verdict(records, errors.StoppedError(outcome.reason))
        if isinstance(outcome, Fatal):
            return _Verdict(records, outcome.error)
        assert isinstance(outcome, Refused)
        if piece.size == 1:
            refused_alone.append((piece, outcome))
            continue
        halves = piece.split()
        log.info("batch %d (%d rows) refused with HTTP %d; splitting it to isolate the rows refused",
                 piece.seq, piece.size, outcome.status, extra={"event": "bisect"})
        answers = [client.send(envelope.body_of(h), h.size) for h in halves]
        if outcome.status != 413 and all(_same_refusal(a, outcome) for a in answers):
            return _Verdict(records, errors.RequestRefusedError(_request_refused(outcome, piece.size)))
        pieces.extend(zip(halves, answers, strict=True))
    if refused_alone and not acknowledged:  # nothing of the batch passed: the request is refused, not rows
        piece, outcome = refused_alone[0]
        return _Verdict(records, errors.RequestRefusedError(_request_refused(outcome, batch.size)))
    for piece, outcome in refused_alone:
        if not outcome.from_api:
            return _Verdict(records, errors.RequestRefusedError(_not_a_row_verdict(outcome)))
        rejection = RowRejection(0, f"HTTP_{outcome.status}", outcome.detail, "request", None, outcome.status)
        records.append(BatchRecord(piece.rows, (rejection,)))
    return _Verdict(records)


def _same_refusal(answer: object, refusal: Refused) -> bool:
    """The same refusal, ignoring numbers and ids in its text (a trace id per request changes nothing)."""
    return (isinstance(answer, Refused) and answer.status == refusal.status
            and _comparable(answer.detail) == _comparable(refusal.detail))


def _comparable(detail: str) -> str:
    return _NUMBERS_AND_IDS.sub("#", detail.lower())


def _request_refused(refusal: Refused, rows: int) -> str:
    if not refusal.from_api:
        return (
            f"a request of {rows} rows and the parts it was split into were answered {refusal.came_back}, which "
            "is not the ingestion API's error object: a proxy or another host stands in front of the API. "
            "Nothing was recorded as rejected and every row not acknowledged stays pending. Check PEAK_BASE_URL "
            "(--base-url) and the proxy between, then re-run"
        )
    return (
        f"the ingestion API refused the request as a whole: HTTP {refusal.status} ({refusal.detail}) for a "
        f"request of {rows} rows and for the parts it was split into, none of which it took, so it is not about "
        "rows. Nothing was recorded as rejected and every row not acknowledged stays pending. Check the "
        "solution name (PEAK_SOLUTION_NAME), the object and the request settings (--batch-size, --max-bytes), "
        "then re-run"
    )


def _not_a_row_verdict(refusal: Refused) -> str:
    return (
        f"a request of a single row was answered {refusal.came_back or f'HTTP {refusal.status}'}, which is not "
        "the ingestion API's error object: a proxy or another host stands in front of the API, so this says "
        "nothing about the row. Nothing was recorded as rejected and every row not acknowledged stays pending. "
        "Check PEAK_BASE_URL (--base-url) and the proxy between, then re-run"
    )


def _oversized(batch: Batch, envelope: Envelope) -> _Verdict:
    message = f"the row's JSON ({batch.body_bytes} bytes with the envelope) exceeds --max-bytes; not sent"
    rejection = RowRejection(0, "ROW_TOO_LARGE", message, "client")
    return _Verdict([BatchRecord(batch.rows, (rejection,))], not_sent=True)


def _rehearse(batches: Iterator[Batch], envelope: Envelope, folder: Path | None, result: DeliveryResult,
              stop: threading.Event) -> None:
    """A dry run: build every request exactly as it would be sent, optionally write it, send nothing."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    counters = result.counters
    for batch in batches:
        if stop.is_set():
            return
        counters.batches += 1
        if batch.oversized:
            (record,) = _oversized(batch, envelope).records
            counters.refused_before_sending += counters.count_rejections(record.rejections)
            continue
        body = envelope.body_of(batch)
        if folder is not None:
            (folder / f"batch-{batch.seq:06d}.json").write_bytes(body)
        counters.would_send += batch.size
