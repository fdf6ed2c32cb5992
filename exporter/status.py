"""What `mo-export status` reports, read from the state schema and the contract model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from exporter.decide import Plan, decide, parent_checks
from exporter.ledger import Ledger
from exporter.model import ContractModel
from exporter.object_contracts import one_object
from exporter.settings import ExportSettings
from exporter.warehouse import connect_for, mapped_faults


@dataclass(frozen=True)
class ExportStatus:
    runs: list[dict[str, Any]]
    plan: Plan | None
    outstanding_rejections: list[tuple[str, int]]
    state_exists: bool
    #: the destination the settings point at, which `pending` and the rejections are about
    destination: str = ""

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "state_exists": self.state_exists,
                "destination": self.destination,
                "runs": self.runs,
                "pending": None if self.plan is None else {
                    "considered": self.plan.considered,
                    "to_send": self.plan.to_send,
                    "unchanged": self.plan.unchanged,
                    "rejected_before": self.plan.skipped_rejected,
                    "held": self.plan.held,
                    "held_by": dict(self.plan.held_by),
                },
                "outstanding_rejections": dict(self.outstanding_rejections),
            },
            default=str,
            option=orjson.OPT_INDENT_2,
        ).decode()


def collect_status(settings: ExportSettings, *, limit: int) -> ExportStatus:
    """The ledger's last runs and what the next run would send, read-only (the build verdict not required:
    a status is asked for most when a build failed). One object: ``--object``, default the orders."""
    contract, settings, parents = one_object(settings)
    with connect_for(settings, writes=False) as con, mapped_faults(settings.database_path):
        model = ContractModel.open(con, settings, contract, check_build=False)
        ledger = Ledger.open(con, settings, model, writes=False)
        plan = decide(model, ledger, settings, parents=parent_checks(con, contract, parents, settings))
        if not ledger.exists():
            return ExportStatus([], plan, [], False, plan.destination.label)
        return ExportStatus(ledger.recent_runs(limit), plan, ledger.rejection_counts(), True, plan.destination.label)


def render_status(status: ExportStatus) -> str:
    lines: list[str] = []
    if not status.state_exists:
        lines.append("no export has run yet against this DuckDB file")
    else:
        lines.append("last runs:")
        for r in status.runs:
            lines.append(
                f"  {r['run_id']}  to {r['destination']}\n"
                f"    {r['mode']:<12} {r['status']:<24} exit {r['exit_code']!s:<4} "
                f"sent {r['rows_sent'] or 0:>9,}  acked {r['rows_acknowledged'] or 0:>9,}  "
                f"rejected {r['rows_rejected'] or 0:>7,}  {float(r['duration_seconds'] or 0):.1f} s"
            )
    if status.plan is not None:
        p = status.plan
        lines.append(f"destination: {status.destination}")
        lines.append(
            f"contract model: {p.considered:,} rows; pending (new or changed) {p.to_send:,}; "
            f"unchanged {p.unchanged:,}; rejected and unchanged since {p.skipped_rejected:,}"
        )
        for reason, n in p.held_by:
            lines.append(f"  held (pending) {n:,}: {reason}")
    if status.outstanding_rejections:
        lines.append("outstanding rejections by error code:")
        lines += [f"  {code:<16} {n:>9,}" for code, n in status.outstanding_rejections]
    return "\n".join(lines)
