"""One export run, one way through: read -> decide -> deliver -> record -> report, once per object.

:func:`run_exports` runs :func:`run_export` for every object the dbt project exports (``meta.peak``, read
by :mod:`exporter.object_contracts`), parents before the objects that reference them: Locations, then
Manufacturing Orders, so an order's location is acknowledged before the order is considered. A parent whose
run failed (exit 2 or worse) stops the run there: its children would only be held or fail the same way.

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
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime

import orjson

from exporter import errors
from exporter.contract import ObjectContract
from exporter.decide import Plan, decide, parent_checks
from exporter.deliver import deliver
from exporter.ledger import Ledger
from exporter.model import ContractModel
from exporter.object_contracts import Parents, chosen_objects, load_contracts, parents_of
from exporter.outcomes import RequestIds
from exporter.output_paths import write_output
from exporter.plan_file import read_plan
from exporter.report import RunSummary, run_mode, write_results
from exporter.settings import ExportSettings
from exporter.signals import StopSignals
from exporter.warehouse import connect_for, mapped_faults

log = logging.getLogger(__name__)


def objects_to_export(settings: ExportSettings, contracts: tuple[ObjectContract, ...]) -> tuple[ObjectContract, ...]:
    """The objects a run sends, parents first: every exported object of the project, or the one of
    ``--object``; a pinned plan (``--plan``) is one object's: the main object's unless ``--object`` says.
    The main object (``--model-name``) must be one of them: it owns the unsuffixed ledger schema."""
    if settings.model_name not in {c.model_name for c in contracts}:
        known = ", ".join(c.model_name for c in contracts) or "none"
        raise errors.ConfigError(
            f"--model-name {settings.model_name!r} is not an exported object of the dbt project (the models with "
            f"meta.peak: {known}); it names the object whose ledger is {settings.state_schema}. To send one "
            "object, use --object")
    if settings.plan_path is not None and settings.only_object is None:
        return chosen_objects(replace(settings, only_object=settings.model_name), contracts)
    return chosen_objects(settings, contracts)


def run_exports(settings: ExportSettings,
                on_summary: Callable[[RunSummary], None] | None = None) -> tuple[RunSummary, ...]:
    """Export every object (:func:`objects_to_export`) in turn, parents first; one summary per object run,
    each also handed to ``on_summary`` as soon as its object is done (so it is shown even when a later
    object is refused with an exception).

    SIGTERM/SIGINT stop the whole run: the object being sent stops as :func:`run_export` says, the rest are
    not started. An object whose run failed (exit 2 or worse) leaves the objects after it unstarted."""
    contracts = load_contracts(settings.target_path)
    chosen = objects_to_export(settings, contracts)
    summaries: list[RunSummary] = []
    with StopSignals() as stop:
        for i, contract in enumerate(chosen):
            try:
                summary = run_export(settings.for_object(contract), contract,
                                     parents=parents_of(contract, contracts, settings), stop=stop)
            except BaseException as refused:  # refused before sending, or a bug: the objects after it wait too
                code = refused.exit_code if isinstance(refused, errors.ExportError) else errors.EXIT_INTERNAL_ERROR
                _write_not_started(settings, chosen[i + 1:], contract, code)
                raise
            summaries.append(summary)
            left = chosen[len(summaries):]
            stops = bool(left) and (stop.name is not None or summary.exit_code >= errors.EXIT_DELIVERY_FAILED)
            if stops:
                log.error("%s did not finish (exit %d): %s not started; re-run to send them",
                          contract.model_name, summary.exit_code, ", ".join(c.model_name for c in left),
                          extra={"event": "objects_not_started"})
                _write_not_started(settings, left, contract, summary.exit_code)
            if on_summary is not None:  # after the note above, so the run's own error is the last word
                on_summary(summary)
            if stops:
                break
    return tuple(summaries)


def _write_not_started(settings: ExportSettings, skipped: Sequence[ObjectContract], failed: ObjectContract,
                       exit_code: int) -> None:
    """Each object left unstarted still gets its results file, saying so, so a scheduler that reads it never
    takes the last run's file for this one's."""
    if settings.dry_run or str(settings.results_path) == "-":
        return
    for obj in skipped:
        write_output(settings.for_object(obj).results_path, orjson.dumps({
            "status": "not_started", "exit_code": exit_code, "model": obj.model_name,
            "error": f"not started: {failed.model_name}, which it references or which runs before it, ended "
                     f"with exit code {exit_code}; re-run to send it",
        }, option=orjson.OPT_INDENT_2))


def worst_exit_code(summaries: Sequence[RunSummary]) -> int:
    """The exit code of a run of several objects: the worst of theirs (0 < 1 rejected < 2 failed < 3 < 70)."""
    return max((s.exit_code for s in summaries), default=errors.EXIT_OK)


def run_export(
    settings: ExportSettings, contract: ObjectContract, *,
    parents: Parents = (), stop: StopSignals | None = None,
) -> RunSummary:
    """Run one object's export and return its summary (whose ``exit_code`` the CLI exits with).

    ``settings``: already the object's (:meth:`ExportSettings.for_object`); ``parents``: the contract and
    settings of each object ``contract`` references, whose ledgers decide which rows are held; ``stop``: the
    signals of a run of several objects (None: this call installs its own).

    Raises an :class:`~exporter.errors.ExportError` only before anything is sent (the build, the model,
    the ledger, a plan file, the change guard) or when the summary cannot be written.
    """
    began = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    writes = not settings.dry_run  # a dry run writes nothing; an API dry run records its run, no deliveries
    pinned = read_plan(settings.plan_path, contract) if settings.plan_path is not None else None
    signals = StopSignals() if stop is None else nullcontext(stop)
    with signals as stop, connect_for(settings, writes=writes) as con, mapped_faults(settings.database_path):
        model = ContractModel.open(con, settings, contract)
        ledger = Ledger.open(con, settings, model, writes=writes)
        plan = decide(model, ledger, settings, pinned=pinned, parents=parent_checks(
            con, contract, parents, settings,
            # a pinned plan is decided as it was made: against what is acknowledged, never rehearsed
            rehearsal=(settings.dry_run or settings.api_dry_run) and pinned is None))
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
