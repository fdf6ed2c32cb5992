"""The report stage: one run summary, built once, that every output reads.

:meth:`RunSummary.build` takes the plan (what was decided), the delivery result (what came of it, with the
HTTP counters) and the settings; the text a person reads, `target/export_results.json`, the ledger's
``runs`` row and the Dagster metadata are all views of that one value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from exporter import errors
from exporter.client import HttpStats
from exporter.decide import Plan
from exporter.deliver import Counters, DeliveryResult
from exporter.output_paths import write_output
from exporter.settings import ExportSettings, redacted_url

STATUS_BY_EXIT_CODE = {
    errors.EXIT_OK: "success",
    errors.EXIT_REJECTED_ROWS: "success_with_rejections",
    errors.EXIT_DELIVERY_FAILED: "delivery_failed",
    errors.EXIT_CONFIG_ERROR: "configuration_error",
}


def run_mode(settings: ExportSettings) -> str:
    if settings.dry_run:
        return "dry-run"
    if settings.api_dry_run:
        return "api-dry-run"
    if settings.plan_path is not None:
        return "pinned-plan"
    return "full-refresh" if settings.full_refresh else "incremental"


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    mode: str
    endpoint: str
    model: str
    plan: Plan
    started_at: str
    settings: dict[str, Any]
    counters: Counters
    http: HttpStats
    duration_seconds: float
    exit_code: int
    status: str
    #: what ended the run early, typed (TransientError: retry later; TerminalError: a person fixes something)
    failure: errors.ExportError | None = None
    error: str | None = None
    interrupted_by: str | None = None
    compacted_events: int = 0
    destination: str = ""

    @classmethod
    def build(
        cls, *, run_id: str, plan: Plan, result: DeliveryResult, settings: ExportSettings, started_at: str,
        duration_seconds: float, interrupted_by: str | None = None, compacted_events: int = 0,
    ) -> RunSummary:
        failure = result.failure
        c = result.counters
        if failure is not None:
            exit_code = failure.exit_code
        else:
            exit_code = errors.EXIT_REJECTED_ROWS if c.rejected and not settings.dry_run else errors.EXIT_OK
        return cls(
            run_id=run_id,
            mode=run_mode(settings),
            endpoint=redacted_url(settings.endpoint),
            model=plan.model,
            plan=plan,
            started_at=started_at,
            settings=settings.public_dict(),
            counters=c,
            http=result.http,
            duration_seconds=duration_seconds,
            exit_code=exit_code,
            status=STATUS_BY_EXIT_CODE.get(exit_code, "failed"),
            failure=failure,
            error=_explained(failure, plan, c),
            interrupted_by=interrupted_by,
            compacted_events=compacted_events,
            destination=plan.destination.label,
        )

    def with_failure(self, failure: errors.ExportError) -> RunSummary:
        """The same summary for a run that failed after delivery (recording its outcome, writing the results)."""
        exit_code = failure.exit_code if self.failure is None else self.exit_code
        error = self.error if self.failure is not None else _explained(failure, self.plan, self.counters)
        return replace(self, failure=self.failure or failure, exit_code=exit_code,
                        status=STATUS_BY_EXIT_CODE.get(exit_code, "failed"), error=error)

    @property
    def rows_per_second(self) -> float:
        return self.counters.sent / self.duration_seconds if self.duration_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        c = self.counters
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "status": self.status,
            "exit_code": self.exit_code,
            "error": self.error,
            "interrupted_by": self.interrupted_by,
            "started_at": self.started_at,
            "duration_seconds": round(self.duration_seconds, 3),
            "endpoint": self.endpoint,
            "destination": self.destination,
            "model": self.model,
            "rows": {
                "considered": self.plan.considered,
                "unchanged": self.plan.unchanged,
                "skipped_rejected_before": self.plan.skipped_rejected,
                "to_send": self.plan.to_send,
                "new": self.plan.new,
                "changed": self.plan.changed,
                "changed_previous_content_unknown": self.plan.changed_unknown,
                "resent_unchanged": self.plan.resent_unchanged,
                "sent": c.sent,
                "acknowledged": c.acknowledged,
                "rejected": c.rejected,
                "rejected_by_code": dict(sorted(c.rejected_by_code.items())),
                "would_send": c.would_send,
                "refused_before_sending": c.refused_before_sending,
                # held rows are pending too: they go out once their parent record is acknowledged
                "held": self.plan.held,
                "held_by": dict(self.plan.held_by),
                "pending": max(self.plan.to_send - c.sent - c.would_send - c.refused_before_sending, 0)
                + self.plan.held,
                "lost": self.plan.lost_orders,
                "rows_per_second": round(self.rows_per_second, 1),
            },
            "http": {
                "requests": self.http.requests,
                "retries": self.http.retries,
                "throttled_waits": self.http.throttled_waits,
                "throttled_seconds": round(self.http.throttled_seconds, 3),
                "responses": dict(sorted(self.http.by_status.items())),
            },
            "batches": c.batches,
            "state_events_compacted": self.compacted_events,
            "settings": self.settings,
        }

    def render_text(self) -> str:
        if self.mode == "dry-run":
            return self._render_dry_run()
        d = self.as_dict()
        rows, http = d["rows"], d["http"]
        lines = [
            f"run {self.run_id} ({self.mode}): {self.status}, exit code {self.exit_code}",
            f"  model            {self.model}",
            f"  destination      {self.destination or self.endpoint}",
            f"  rows considered  {rows['considered']:>12,}",
            f"  unchanged        {rows['unchanged']:>12,}",
            f"  rejected before  {rows['skipped_rejected_before']:>12,}  (not re-sent; --retry-rejected)",
            f"  sent             {rows['sent']:>12,}",
            f"  acknowledged     {rows['acknowledged']:>12,}",
            f"  rejected         {rows['rejected']:>12,}",
        ]
        for code, n in rows["rejected_by_code"].items():
            lines.append(f"    {code:<14} {n:>12,}")
        lines += [
            f"  still pending    {rows['pending']:>12,}",
            *self._held_lines(),
            f"  requests         {http['requests']:>12,}  retries {http['retries']:,}, "
            f"throttled waits {http['throttled_waits']:,} ({http['throttled_seconds']:.1f} s)",
            f"  duration         {self.duration_seconds:>12.2f} s  ({rows['rows_per_second']:,.0f} rows/s)",
        ]
        if self.error:
            lines.append(f"  error            {self.error}")
        return "\n".join(lines)

    def _held_lines(self) -> list[str]:
        """Held rows (waiting for a parent record the destination has not acknowledged), by reason."""
        if not self.plan.held:
            return []
        return [f"  held             {self.plan.held:>12,}  (pending: sent once the parent is acknowledged)",
                *(f"    {n:>12,}  {reason}" for reason, n in self.plan.held_by)]

    def _render_dry_run(self) -> str:
        """A dry run sends nothing and records nothing: say what a real run would send, and why not more."""
        d = self.as_dict()
        rows = d["rows"]
        payload_dir = self.settings.get("payload_dir")
        would_send = rows["would_send"]
        lines = [
            f"dry run: nothing was sent and the export state was not changed (exit code {self.exit_code})",
            f"  model                 {self.model}",
            f"  endpoint              {self.endpoint}  (not contacted)",
            f"  rows in the model     {rows['considered']:>12,}",
            f"  unchanged since last  {rows['unchanged']:>12,}",
            f"  rejected before       {rows['skipped_rejected_before']:>12,}  (re-sent with --retry-rejected)",
            f"  rows a run would send {would_send:>12,}  in {d['batches']:,} batches",
        ]
        if rows["refused_before_sending"]:
            lines.append(f"  too large to send     {rows['refused_before_sending']:>12,}  (exceed --max-bytes)")
        if payload_dir:
            lines.append(f"  request bodies        {d['batches']:>12,}  written to {payload_dir}")
        if would_send == 0 and rows["considered"] > 0 and not self.settings.get("full_refresh") and not rows["held"]:
            lines.append(
                "  nothing changed since the last run, so there is nothing to send"
                + (" or write" if payload_dir else "")
                + ": add --full-refresh to build (and write) the payload of every row"
            )
        lines += self._held_lines()
        lines.append(f"  duration              {self.duration_seconds:>12.2f} s")
        if self.error:
            lines.append(f"  error                 {self.error}")
        return "\n".join(lines)


def _explained(failure: errors.ExportError | None, plan: Plan, c: Counters) -> str | None:
    """The failure's message, and for a fault of the machine what was kept and what will be sent again."""
    if failure is None:
        return None
    if isinstance(failure, errors.DiskFullError | errors.ReadOnlyError | errors.WarehouseBusyError
                  | errors.OutOfMemoryError):
        again = max(plan.to_send - c.acknowledged - c.rejected, 0)
        text = (f"{failure}. {c.acknowledged:,} acknowledged rows were recorded in the ledger; the other "
                f"{again:,} rows of this run will be sent again by the next run (UPSERT makes that harmless)")
        return text + (". Free space there, then re-run" if isinstance(failure, errors.DiskFullError) else "")
    return str(failure)


def write_results(path: Path, summary: RunSummary) -> None:
    """Write the summary as JSON atomically (a reader never sees half a file; ``-`` is stdout, and a path
    that is not a regular file is refused, never replaced)."""
    if str(path) == "-":  # several objects write to stdout in turn: one JSON document a line (JSON Lines)
        write_output(path, orjson.dumps(summary.as_dict()) + b"\n")
        return
    write_output(path, orjson.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2))
