"""What a run reports: the summary a person reads, `target/export_results.json`, and the runs table."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from exporter import errors
from exporter.client import HttpStats
from exporter.dbt_artifacts import ModelRelation
from exporter.model_reader import Plan
from exporter.settings import ExportSettings, redacted_url
from exporter.state import RowRejection

STATUS_BY_EXIT_CODE = {
    errors.EXIT_OK: "success",
    errors.EXIT_REJECTED_ROWS: "success_with_rejections",
    errors.EXIT_DELIVERY_FAILED: "delivery_failed",
    errors.EXIT_CONFIG_ERROR: "configuration_error",
}


@dataclass
class Counters:
    sent: int = 0
    acknowledged: int = 0
    rejected: int = 0
    would_send: int = 0
    refused_before_sending: int = 0
    batches: int = 0
    rejected_by_code: dict[str, int] = field(default_factory=dict)

    def add_rejections(self, rejections: Sequence[RowRejection]) -> int:
        """Count each refused row once, under its first error code; returns how many rows were refused."""
        seen: set[int] = set()
        for r in rejections:
            if r.row_index not in seen:
                seen.add(r.row_index)
                self.rejected_by_code[r.error_code] = self.rejected_by_code.get(r.error_code, 0) + 1
        self.rejected += len(seen)
        return len(seen)


@dataclass
class RunSummary:
    run_id: str
    mode: str
    endpoint: str
    model: str
    plan: Plan
    started_at: str
    settings: dict[str, Any]
    counters: Counters = field(default_factory=Counters)
    http: HttpStats = field(default_factory=HttpStats)
    duration_seconds: float = 0.0
    exit_code: int = errors.EXIT_INTERNAL_ERROR
    status: str = "running"
    error: str | None = None
    interrupted_by: str | None = None
    compacted_events: int = 0
    #: the destination whose ledger this run compared with and recorded into (exporter.destination)
    destination: str = ""

    @classmethod
    def start(
        cls, *, run_id: str, mode: str, settings: ExportSettings, plan: Plan, relation: ModelRelation
    ) -> RunSummary:
        return cls(
            run_id=run_id,
            mode=mode,
            endpoint=redacted_url(settings.endpoint),
            model=f"{relation.unique_id} ({relation.schema}.{relation.identifier})",
            plan=plan,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            settings=settings.public_dict(),
        )

    def finish(self, exit_code: int) -> None:
        self.exit_code = exit_code
        self.status = STATUS_BY_EXIT_CODE.get(exit_code, "failed")

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
                "pending": max(self.plan.to_send - c.sent - c.would_send - c.refused_before_sending, 0),
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
            f"  requests         {http['requests']:>12,}  retries {http['retries']:,}, "
            f"throttled waits {http['throttled_waits']:,} ({http['throttled_seconds']:.1f} s)",
            f"  duration         {self.duration_seconds:>12.2f} s  ({rows['rows_per_second']:,.0f} rows/s)",
        ]
        if self.error:
            lines.append(f"  error            {self.error}")
        return "\n".join(lines)

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
        if would_send == 0 and rows["considered"] > 0 and not self.settings.get("full_refresh"):
            lines.append(
                "  nothing changed since the last run, so there is nothing to send"
                + (" or write" if payload_dir else "")
                + ": add --full-refresh to build (and write) the payload of every row"
            )
        lines.append(f"  duration              {self.duration_seconds:>12.2f} s")
        if self.error:
            lines.append(f"  error                 {self.error}")
        return "\n".join(lines)


def write_results(path: Path, summary: RunSummary) -> None:
    """Write the summary as JSON atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(orjson.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)
