"""One export run, one way through: read -> decide -> deliver -> record -> report.

=========  ==========================  ===========================================================  ==================
stage      module                      hands on                                                     to
=========  ==========================  ===========================================================  ==================
read       :mod:`exporter.model`       a verified :class:`~exporter.model.ContractModel`            decide, deliver
decide     :mod:`exporter.decide`      a :class:`~exporter.decide.Plan` (counts, guard, selection)   deliver, report
deliver    :mod:`exporter.deliver`     a :class:`~exporter.deliver.DeliveryResult`                  report
record     :mod:`exporter.ledger`      each batch's records, committed before they are counted      (the ledger)
report     :mod:`exporter.report`      one :class:`~exporter.report.RunSummary`                     CLI, results, runs
=========  ==========================  ===========================================================  ==================

The stages take the object's contract as a value (:class:`~exporter.contract.ObjectContract`). Only the
decision joins the model with the ledger; only the delivery talks to the API (through
:mod:`exporter.client`); only the ledger writes the export's tables. A DuckDB or OS fault of the machine
becomes its exporter error in one place (:func:`exporter.warehouse.mapped_faults`); an answer of the API
never raises: it is part of the delivery result. Signals (SIGTERM/SIGINT, any number) are handled for the
whole run (:mod:`exporter.signals`): they stop the scheduling of batches, the requests in flight finish and
are recorded, and the run exits 2.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime

from exporter import errors
from exporter.contract import MANUFACTURING_ORDERS, ObjectContract
from exporter.decide import Plan, decide
from exporter.deliver import deliver
from exporter.ledger import Ledger
from exporter.model import ContractModel
from exporter.outcomes import RequestIds
from exporter.plan_file import read_plan
from exporter.report import RunSummary, run_mode, write_results
from exporter.settings import ExportSettings
from exporter.signals import StopSignals
from exporter.warehouse import connect_for, mapped_faults

log = logging.getLogger(__name__)


def run_export(settings: ExportSettings, contract: ObjectContract = MANUFACTURING_ORDERS) -> RunSummary:
    """Run one export and return its summary (whose ``exit_code`` the CLI exits with).

    Raises an :class:`~exporter.errors.ExportError` only before anything is sent (the build, the model,
    the ledger, a plan file, the change guard) or when the summary cannot be written.
    """
    began = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    writes = not settings.dry_run  # a dry run writes nothing; an API dry run records its run, no deliveries
    pinned = read_plan(settings.plan_path) if settings.plan_path is not None else None
    with StopSignals() as stop, connect_for(settings, writes=writes) as con, mapped_faults(settings.database_path):
        model = ContractModel.open(con, settings, contract)
        ledger = Ledger.open(con, settings, model, writes=writes)
        plan = decide(model, ledger, settings, pinned=pinned)
        _judge(plan, settings)
        if writes:  # only a run the guard let through registers a destination (or moves one to a new token)
            ledger.register_destination(plan.destination, token_rotated=settings.token_rotated)
        run_id = ledger.begin_run(run_mode(settings)) if writes else "dry-run"
        record = ledger.recorder(run_id) if writes and not settings.api_dry_run else None
        try:
            result = deliver(model.stream(plan.selection), plan.to_send, settings, record=record,
                             request_ids=RequestIds(ledger.known_request_ids()), stop=stop.event)
        except BaseException as exc:  # a bug: the run is recorded as failed, not left running
            if writes:
                ledger.abandon_run(run_id, f"internal error ({type(exc).__name__}): {exc}")
            raise
        summary = RunSummary.build(
            run_id=run_id, plan=plan, result=result, settings=settings, started_at=started_at,
            duration_seconds=time.monotonic() - began, interrupted_by=stop.name,
        )
        if writes:
            summary = _close(ledger, summary, compact=plan.compared and not settings.api_dry_run)
        write_results(settings.results_path, summary)  # a full disk here: the run's rows are recorded already
    return summary


def _judge(plan: Plan, settings: ExportSettings) -> None:
    """The change guard: a real run is refused here, before it is registered; a rehearsal only says so."""
    if settings.dry_run or settings.api_dry_run:
        if plan.guard.reasons:
            log.warning("the change guard would refuse a real run: %s", "; ".join(plan.guard.reasons))
        return
    plan.guard.check()


def _close(ledger: Ledger, summary: RunSummary, *, compact: bool) -> RunSummary:
    """Compact the log after a good run and record the run's outcome; a fault here is reported, not hidden."""
    c = summary.counters
    if compact and summary.exit_code in (errors.EXIT_OK, errors.EXIT_REJECTED_ROWS) and (c.sent or c.rejected):
        try:  # best effort: an uncompacted log only costs the next run some reading
            summary = replace(summary, compacted_events=ledger.compact())
        except errors.ExportError as fault:
            log.warning("could not compact the ledger's log (the next run compacts it): %s", fault)
    try:
        ledger.finish_run(summary.run_id, status=summary.status, exit_code=summary.exit_code,
                          summary=summary.as_dict())
    except errors.ExportError as fault:
        if summary.failure is not None:  # the run failed already (often for the same reason): keep that error
            log.warning("could not record the run's outcome in the ledger: %s", fault)
            return summary
        summary = summary.with_failure(fault)
        log.error("%s", summary.error, extra={"event": "environment_fault"})
    return summary
