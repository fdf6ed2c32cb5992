"""What `mo-export plan` shows: what the next run would send, decided by the run's own code, sending nothing.

The decision comes from :func:`exporter.runner.decide` (the same call `run` makes), on a read-only
connection: nothing is sent and nothing is written, not even an upgrade of an older state. The view adds,
for changed orders, which attributes change and a few examples (the order, the value the destination
acknowledged last, the value now), and the change guard's verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from exporter.change_guard import GuardVerdict
from exporter.dbt_artifacts import resolve_model
from exporter.model_reader import AttributeChange, Plan
from exporter.plan_file import write_plan
from exporter.runner import decide, relation_label
from exporter.settings import ExportSettings
from exporter.warehouse import connect, environment_fault


@dataclass(frozen=True)
class PlanView:
    model_relation: str
    destination: str
    created_at: str
    plan: Plan
    changes: list[AttributeChange]
    guard: GuardVerdict
    #: whether the ledger holds acknowledged content (a state not yet upgraded does not)
    content_known: bool
    full_refresh: bool

    def summary(self) -> dict[str, Any]:
        p = self.plan
        return {
            "created_at": self.created_at,
            "model_relation": self.model_relation,
            "destination_label": self.destination,
            "full_refresh": self.full_refresh,
            "counts": {
                "in_model": p.considered,
                "to_send": p.to_send,
                "new": p.new,
                "changed": p.changed,
                "changed_previous_content_unknown": p.changed_unknown,
                "resent_unchanged": p.resent_unchanged,
                "unchanged": p.unchanged,
                "rejected_before": p.skipped_rejected,
                "acknowledged_orders": p.acknowledged_orders,
                "lost_orders": p.lost_orders,
            },
            "acknowledged_content_known": self.content_known,
            "changed_attributes": [
                {"attribute": c.attribute, "rows": c.rows, "examples": c.examples} for c in self.changes
            ],
            "guard": self.guard.as_dict(),
        }

    def to_json(self) -> str:
        return orjson.dumps(self.summary(), default=str, option=orjson.OPT_INDENT_2).decode()


def make_plan(settings: ExportSettings, *, examples: int, out: Path | None) -> PlanView:
    """Decide what the next run would send (read-only); with ``out``, also write the plan file."""
    relation = resolve_model(settings.target_path, settings.model_name)
    # a Spark build is read through views in the local state file, which plan (re)creates there
    con = connect(settings.database_path, read_only=not settings.on_spark, must_exist=not settings.on_spark,
                  memory_limit=settings.memory_limit, temp_directory=settings.temp_directory)
    try:
        try:
            decision = decide(con, settings, relation, read_only=True)
            view = PlanView(
                model_relation=relation_label(relation),
                destination=decision.destination.label,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                plan=decision.plan,
                changes=decision.reader.attribute_changes(examples=examples),
                guard=decision.guard,
                content_known=decision.state.has_content(),
                full_refresh=settings.full_refresh,
            )
            if out is not None:
                write_plan(
                    out,
                    model_relation=relation_label(relation),
                    destination=decision.destination,
                    summary={k: v for k, v in view.summary().items() if k not in ("created_at", "model_relation")},
                    rows=decision.reader.rows_to_send(),
                )
        except OSError as exc:
            raise environment_fault(exc, settings.duckdb_path) or exc from None
        return view
    finally:
        con.close()


def render_plan(view: PlanView) -> str:
    """The plan as a person reads it: counts, the changed attributes as a table, the guard's verdict."""
    p = view.plan
    lines = [
        f"plan for {view.model_relation} -> {view.destination}" + (" (full refresh)" if view.full_refresh else ""),
        "",
    ]
    counts = [
        ("rows in the model", p.considered, ""),
        ("to send", p.to_send, ""),
        ("  new", p.new, "orders never acknowledged here"),
        ("  changed", p.changed, "orders acknowledged before with other content"),
    ]
    if p.changed_unknown:
        counts.append(("  changed, previous unknown", p.changed_unknown, "acknowledged before the ledger kept content"))
    if p.resent_unchanged:
        counts.append(("  resent unchanged", p.resent_unchanged, "content acknowledged already"))
    counts += [
        ("unchanged", p.unchanged, ""),
        ("rejected before", p.skipped_rejected, "not re-sent; --retry-rejected"),
        ("acknowledged before", p.acknowledged_orders, "orders whose last content the ledger holds"),
        ("  no longer in the model", p.lost_orders, ""),
    ]
    lines += table(["", "", ""], [[label, f"{n:,}", note] for label, n, note in counts], right=frozenset({1}))
    if not view.content_known:
        lines += ["", "the ledger keeps no acknowledged content yet (the next run upgrades it): attributes unknown"]
    if view.changes:
        lines += ["", f"changed attributes (of {p.changed:,} changed orders)"]
        rows = []
        for change in view.changes:
            for i, example in enumerate(change.examples or [{}]):
                key = "/".join(str(example.get(c, "")) for c in ("product_id", "location_id", "order_number"))
                rows.append([
                    change.attribute if i == 0 else "",
                    f"{change.rows:,}" if i == 0 else "",
                    key,
                    _shown(example.get("before")),
                    _shown(example.get("now")),
                ])
        lines += table(["attribute", "rows", "example order", "acknowledged", "now"], rows, right=frozenset({1}))
    lines.append("")
    lines.append(_guard_line(view.guard))
    return "\n".join(lines)


def _guard_line(guard: GuardVerdict) -> str:
    if not guard.limited:
        return "guard: not limited (nothing acknowledged at this destination yet)"
    figures = (
        f"{guard.changed_orders:,} of {guard.acknowledged_orders:,} acknowledged orders change "
        f"({guard.change_share:.2%}, limit {guard.max_change_share:.0%}), {guard.lost_orders:,} left the model "
        f"({guard.loss_share:.2%}, limit {guard.max_loss_share:.0%})"
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
