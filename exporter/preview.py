"""What `mo-export plan` shows: what the next run would send, decided by the run's own code, sending nothing.

The decision is :func:`exporter.decide.decide`, the call `run` makes, on a read-only connection: nothing
is sent and nothing is written, not even an upgrade of an older ledger. The view adds, for changed records,
which attributes change with a few examples, and the change guard's verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from exporter.change_guard import GuardVerdict
from exporter.contract import ObjectContract
from exporter.decide import Plan, decide, parent_checks, plan_summary
from exporter.ledger import Ledger
from exporter.model import ContractModel
from exporter.object_contracts import one_object
from exporter.plan_file import write_plan
from exporter.settings import ExportSettings
from exporter.warehouse import connect_for, mapped_faults


@dataclass(frozen=True)
class PlanView:
    plan: Plan
    created_at: str
    contract: ObjectContract

    def summary(self) -> dict[str, Any]:
        return {"created_at": self.created_at, **plan_summary(self.plan)}

    def to_json(self) -> str:
        return orjson.dumps(self.summary(), default=str, option=orjson.OPT_INDENT_2).decode()


def make_plan(settings: ExportSettings, *, examples: int, out: Path | None) -> PlanView:
    """Decide what the next run of one object (``--object``, default the orders) would send, read-only; with
    ``out``, also write the plan file."""
    contract, settings, parents = one_object(settings)
    with connect_for(settings, writes=False) as con, mapped_faults(settings.database_path):
        model = ContractModel.open(con, settings, contract)
        plan = decide(model, Ledger.open(con, settings, model, writes=False), settings, examples=examples,
                      parents=parent_checks(con, contract, parents, settings))
        view = PlanView(plan, datetime.now(UTC).isoformat(timespec="seconds"), contract)
        if out is not None:
            write_plan(out, model_relation=plan.model, destination=plan.destination,
                       summary={k: v for k, v in plan_summary(plan).items() if k != "model_relation"},
                       rows=model.selected_keys(plan.selection), contract=contract)
    return view


def render_plan(view: PlanView) -> str:
    """The plan as a person reads it: counts, the changed attributes as a table, the guard's verdict."""
    p = view.plan
    lines = [
        f"plan for {p.model} -> {p.destination.label}" + (" (full refresh)" if p.full_refresh else ""),
        "",
    ]
    counts = [
        ("rows in the model", p.considered, ""),
        ("to send", p.to_send, ""),
        ("  new", p.new, "records never acknowledged here"),
        ("  changed", p.changed, "records acknowledged before with other content"),
    ]
    if p.changed_unknown:
        counts.append(("  changed, previous unknown", p.changed_unknown, "acknowledged before the ledger kept content"))
    if p.resent_unchanged:
        counts.append(("  resent unchanged", p.resent_unchanged, "content acknowledged already"))
    counts += [
        ("unchanged", p.unchanged, ""),
        ("rejected before", p.skipped_rejected, "not re-sent; --retry-rejected"),
        *(("held", p.held, "pending: a parent record is not acknowledged yet"),) * bool(p.held),
        *((f"  {n:,}", n, reason) for reason, n in p.held_by),
        ("acknowledged before", p.acknowledged_orders, "records whose last content the ledger holds"),
        ("  no longer in the model", p.lost_orders, ""),
    ]
    lines += table(["", "", ""], [[label, f"{n:,}", note] for label, n, note in counts], right=frozenset({1}))
    if not p.content_known:
        lines += ["", "the ledger keeps no acknowledged content yet (the next run upgrades it): attributes unknown"]
    if p.changes:
        lines += ["", f"changed attributes (of {p.changed:,} changed records)"]
        rows = []
        for change in p.changes:
            for i, example in enumerate(change.examples or [{}]):
                key = "/".join(str(example.get(c, "")) for c in view.contract.identity)
                rows.append([
                    change.attribute if i == 0 else "",
                    f"{change.rows:,}" if i == 0 else "",
                    key,
                    _shown(example.get("before")),
                    _shown(example.get("now")),
                ])
        lines += table(["attribute", "rows", "example order", "acknowledged", "now"], rows, right=frozenset({1}))
    lines.append("")
    lines.append(_guard_line(p.guard))
    return "\n".join(lines)


def _guard_line(guard: GuardVerdict) -> str:
    if guard.unresolved_sibling:
        return "guard: `run` would REFUSE: " + "; ".join(guard.reasons)
    if not guard.limited:
        return "guard: not limited (nothing acknowledged at this destination yet)"
    figures = (
        f"{guard.leaving_rows:,} rows would go out against {guard.acknowledged_orders:,} acknowledged orders "
        f"({guard.new_rows:,} new; {guard.change_share:.2%}, limit {guard.max_change_share:.0%}), "
        f"{guard.lost_orders:,} left the model ({guard.loss_share:.2%}, limit {guard.max_loss_share:.0%})"
    )
    if guard.refuses:
        return f"guard: `run` would REFUSE: {figures}; --allow-large-change allows it once"
    if guard.reasons:
        return f"guard: over the limit but allowed once (--allow-large-change): {figures}"
    return f"guard: ok: {figures}"


def _shown(value: object) -> str:
    return "null" if value is None else str(value)


def table(headers: list[str], rows: list[list[str]], *, right: frozenset[int] = frozenset()) -> list[str]:
    """Plain aligned columns (``right``: the indices of right-aligned columns), two spaces apart."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        parts = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths,
                 strict=True))]
        return "  " + "  ".join(parts).rstrip()

    out = [line(headers)] if any(headers) else []
    return out + [line(r) for r in rows]
