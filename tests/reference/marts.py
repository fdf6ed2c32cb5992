"""docs/behaviour.md in plain Python: raw MES rows in, the two marts out.

``build_marts(raw)`` takes the four raw tables as lists of dicts (column name -> value, exactly as the
loader wrote them) and returns the rows `peak_manufacturing_orders` and
`peak_manufacturing_orders_rejected` must hold. Written from the rules alone, independently of the models.

Where docs/behaviour.md leaves the outcome open (two versions of one record extracted at the same instant and
not told apart by the tie-break of docs/behaviour.md#current-state), the result is not determined by it;
``build_marts`` lists such keys in ``Marts.ambiguous`` so tests can avoid or skip them rather than guess.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.reference.parsers import (
    clean_text,
    is_unknown_status,
    map_status,
    parse_boolean,
    parse_timestamp,
    parse_whole_number,
)

RawRow = Mapping[str, Any]

#: docs/behaviour.md#rejection-codes `missing_required`: the order columns that must be present.
REQUIRED_ORDER_COLUMNS: tuple[str, ...] = (
    "order_no",
    "material_code",
    "plant_code",
    "line_code",
    "created_ts",
    "planned_qty",
    "planned_start_ts",
    "planned_end_ts",
    "changed_ts",
)
ORDER_TIMESTAMP_COLUMNS: tuple[str, ...] = ("created_ts", "planned_start_ts", "planned_end_ts", "changed_ts")

#: Contract attribute order (exporter/contract.py, the resource page's order).
CONTRACT_COLUMNS: tuple[str, ...] = (
    "order_number",
    "product_id",
    "location_id",
    "source_id",
    "ordered_at",
    "ordered_units",
    "expected_start_date",
    "actual_start_date",
    "expected_end_date",
    "actual_end_date",
    "produced_units",
    "status",
    "updated_at",
)


@dataclass(frozen=True)
class RawTables:
    orders: Sequence[RawRow] = ()
    confirmations: Sequence[RawRow] = ()
    materials: Sequence[RawRow] = ()
    plants: Sequence[RawRow] = ()


@dataclass(frozen=True)
class Confirmation:
    confirmation_id: str
    order_number: str | None
    confirmed_ts_text: str | None
    confirmed_at: datetime | None
    yield_text: str | None
    yield_units: int | None
    is_final: bool


@dataclass
class Marts:
    #: one tuple per contract row, values in CONTRACT_COLUMNS order
    contract: list[tuple[Any, ...]] = field(default_factory=list)
    #: (order_number, rejection_reasons)
    rejected: list[tuple[str | None, str]] = field(default_factory=list)
    #: trimmed order numbers of every current (keyed) order
    current_order_numbers: set[str] = field(default_factory=set)
    #: "table:key" for records whose current version docs/behaviour.md does not determine
    ambiguous: list[str] = field(default_factory=list)


def _latest(rows: Iterable[RawRow], key_column: str, table: str, ambiguous: list[str],
            same_version: Any = None) -> dict[str, RawRow]:
    """Latest version (greatest `_extracted_at`) per trimmed key; rows with a missing key are dropped.

    ``same_version(a, b)`` says whether two rows tied on `_extracted_at` are interchangeable; if not, the
    key is reported as ambiguous.
    """
    groups: dict[str, list[RawRow]] = defaultdict(list)
    for row in rows:
        key = clean_text(row[key_column])
        if key is not None:
            groups[key].append(row)
    latest: dict[str, RawRow] = {}
    for key, versions in groups.items():
        newest = max(r["_extracted_at"] for r in versions)
        tied = [r for r in versions if r["_extracted_at"] == newest]
        if same_version is not None and any(not same_version(tied[0], r) for r in tied[1:]):
            ambiguous.append(f"{table}:{key}")
        latest[key] = tied[0]
    return latest


def _current_orders(rows: Iterable[RawRow], ambiguous: list[str]) -> dict[str, RawRow]:
    """docs/behaviour.md#current-state: greatest `_extracted_at`, then greatest parsed `changed_ts` (missing or
    invalid loses)."""
    groups: dict[str, list[RawRow]] = defaultdict(list)
    for row in rows:
        key = clean_text(row["order_no"])
        if key is not None:
            groups[key].append(row)

    def rank(row: RawRow) -> tuple[Any, bool, datetime]:
        changed = parse_timestamp(row["changed_ts"])
        return (row["_extracted_at"], changed is not None, changed or datetime.min)

    current: dict[str, RawRow] = {}
    for key, versions in groups.items():
        best = max(rank(r) for r in versions)
        winners = [r for r in versions if rank(r) == best]
        if any(_order_fingerprint(winners[0]) != _order_fingerprint(r) for r in winners[1:]):
            ambiguous.append(f"orders:{key}")
        current[key] = winners[0]
    return current


def _order_fingerprint(row: RawRow) -> tuple[Any, ...]:
    """What the marts can observe of an order version (its trimmed text)."""
    return tuple(clean_text(row[c]) for c in (*REQUIRED_ORDER_COLUMNS, "status_code"))


def _confirmation_fingerprint(row: RawRow) -> tuple[Any, ...]:
    return tuple(clean_text(row[c]) for c in ("order_no", "confirmed_ts", "yield_qty", "is_final"))


def _current_confirmations(rows: Iterable[RawRow], ambiguous: list[str]) -> list[Confirmation]:
    latest = _latest(
        rows, "confirmation_id", "confirmations", ambiguous,
        same_version=lambda a, b: _confirmation_fingerprint(a) == _confirmation_fingerprint(b),
    )
    return [
        Confirmation(
            confirmation_id=key,
            order_number=clean_text(row["order_no"]),
            confirmed_ts_text=clean_text(row["confirmed_ts"]),
            confirmed_at=parse_timestamp(row["confirmed_ts"]),
            yield_text=clean_text(row["yield_qty"]),
            yield_units=parse_whole_number(row["yield_qty"]),
            is_final=parse_boolean(row["is_final"]),
        )
        for key, row in latest.items()
    ]


def _max(values: Iterable[datetime | None]) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _min(values: Iterable[datetime | None]) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def order_rows(
    order: RawRow,
    confirmations: Sequence[Confirmation],
    material_codes: set[str],
    plant_is_factory: Mapping[str, bool],
) -> tuple[tuple[Any, ...], list[str]]:
    """One current order -> (its contract row, its sorted rejection reasons; empty when exported)."""
    text = {c: clean_text(order[c]) for c in (*REQUIRED_ORDER_COLUMNS, "status_code")}
    timestamps = {c: parse_timestamp(order[c]) for c in ORDER_TIMESTAMP_COLUMNS}
    ordered_units = parse_whole_number(order["planned_qty"])
    status = map_status(order["status_code"])

    actual_start = _min(c.confirmed_at for c in confirmations if c.yield_units is not None and c.yield_units >= 0)
    actual_end: datetime | None = None
    if status == "completed":
        finals = [c for c in confirmations if c.is_final]
        actual_end = _max(c.confirmed_at for c in (finals or confirmations))
    produced = sum(c.yield_units for c in confirmations if c.yield_units is not None) if confirmations else None
    updated_at = _max([timestamps["changed_ts"], *(c.confirmed_at for c in confirmations)])

    reasons: set[str] = set()
    if any(text[c] is None for c in REQUIRED_ORDER_COLUMNS):
        reasons.add("missing_required")
    if any(text[c] is not None and timestamps[c] is None for c in ORDER_TIMESTAMP_COLUMNS) or any(
        c.confirmed_ts_text is not None and c.confirmed_at is None for c in confirmations
    ):
        reasons.add("invalid_timestamp")
    if text["planned_qty"] is not None and (ordered_units is None or ordered_units <= 0):
        reasons.add("invalid_ordered_units")
    if any(c.yield_units is None for c in confirmations):
        reasons.add("invalid_confirmation")
    if produced is not None and produced < 0:
        reasons.add("negative_produced_units")
    start, end = timestamps["planned_start_ts"], timestamps["planned_end_ts"]
    if start is not None and end is not None and end < start:
        reasons.add("expected_end_before_start")
    if actual_start is not None and actual_end is not None and actual_end < actual_start:
        reasons.add("actual_end_before_start")
    if text["material_code"] is not None and text["material_code"] not in material_codes:
        reasons.add("unknown_product")
    if text["plant_code"] is not None:
        if text["plant_code"] not in plant_is_factory:
            reasons.add("unknown_location")
        elif not plant_is_factory[text["plant_code"]]:
            reasons.add("location_not_factory")
    if is_unknown_status(order["status_code"]):
        reasons.add("unknown_status")

    row = (
        text["order_no"],
        text["material_code"],
        text["plant_code"],
        text["line_code"],
        timestamps["created_ts"],
        ordered_units,
        start,
        actual_start,
        end,
        actual_end,
        produced,
        status,
        updated_at,
    )
    return row, sorted(reasons)


def build_marts(raw: RawTables) -> Marts:
    """The rows both marts must hold for these raw tables (docs/behaviour.md)."""
    marts = Marts()
    orders = _current_orders(raw.orders, marts.ambiguous)
    marts.current_order_numbers = set(orders)
    material_codes = set(_latest(raw.materials, "material_code", "materials", marts.ambiguous))
    plants = _latest(
        raw.plants, "plant_code", "plants", marts.ambiguous,
        same_version=lambda a, b: parse_boolean(a["is_factory"]) == parse_boolean(b["is_factory"]),
    )
    plant_is_factory = {code: parse_boolean(row["is_factory"]) for code, row in plants.items()}

    by_order: dict[str, list[Confirmation]] = defaultdict(list)
    for confirmation in _current_confirmations(raw.confirmations, marts.ambiguous):
        if confirmation.order_number in orders:
            by_order[confirmation.order_number].append(confirmation)

    for order_number, order in orders.items():
        row, reasons = order_rows(order, by_order.get(order_number, []), material_codes, plant_is_factory)
        if reasons:
            marts.rejected.append((order_number, ",".join(reasons)))
        else:
            marts.contract.append(row)

    # docs/behaviour.md#current-state: raw order rows without an order_no cannot be keyed; each is rejected with a
    # null number.
    for order in raw.orders:
        if clean_text(order["order_no"]) is None:
            _, reasons = order_rows(order, [], material_codes, plant_is_factory)
            marts.rejected.append((None, ",".join(reasons)))
    return marts
