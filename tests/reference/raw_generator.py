"""Random raw MES tables for the model-vs-reference tests: plausible rows, a share of bad ones, and chaos.

``random_raw_tables(rng, orders=..., chaos=...)`` writes orders with several versions, confirmations
delivered more than once, reversals, final flags, unknown materials and plants, bad timestamps and
numbers in every form of docs/behaviour.md#parsing. With ``chaos`` > 0 any text cell may be replaced by
arbitrary text (from ``junk`` or a built-in list of nasty values), yet codes repeat often enough that joins
still happen.

Every row gets its own `_extracted_at` (a counter), except two kinds of deliberate ties: exact duplicate
confirmation deliveries, and order versions tied on `_extracted_at` that differ in `changed_ts` (the
docs/behaviour.md#current-state tie-break). Chaos can make such a tie undecidable; the reference reports it in
``Marts.ambiguous``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tests.reference.marts import RawTables

EPOCH = datetime(2025, 1, 1)

NASTY: tuple[str, ...] = (
    "", " ", "\t\n", "\u00a0", "NULL", "null", "None", "-", "0", "-1", "1e3", "1,000", "9223372036854775808",
    "2025-02-30", "2025-13-01T00:00:00", "2025-01-01T24:00:00", "2025-01-01T10:00", "2025-01-01Z",
    "2025-01-01T10:00:00+24:00", "yes", "TRUE", "cnf", "xyz", "'; drop table raw.x; --", "\x00", "é\u0301",
    "\U0001f600", "PO-000001", "MAT-001", "P01", "L1",
)


def _timestamp_text(rng: random.Random, moment: datetime) -> str:
    """``moment`` (UTC) written in one of the docs/behaviour.md#parsing forms, possibly with a zone and padding."""
    form = rng.randrange(8)
    if form == 0:
        return moment.strftime("%Y-%m-%d")
    if form == 1:
        return moment.strftime("%Y-%m-%dT%H:%M:%S")
    if form == 2:
        return moment.strftime("%Y-%m-%d %H:%M:%S") + f".{rng.randrange(10**6):06d}"
    if form == 3:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == 4:
        offset = rng.choice([60, -300, 330, -90, 0])
        local = moment + timedelta(minutes=offset)
        sign = "+" if offset >= 0 else "-"
        hours, minutes = divmod(abs(offset), 60)
        colon = rng.choice([":", ""])
        return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{hours:02d}{colon}{minutes:02d}"
    if form == 5:
        return f"  {moment.strftime('%Y-%m-%d %H:%M:%S')}\t"
    if form == 6:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "9" * rng.randint(1, 12)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _bad_timestamp(rng: random.Random) -> str:
    return rng.choice(["2025-02-30", "2025-01-01T25:00:00", "01/02/2025", "2025-01-01T10:00", "soon",
                       "2025-01-01 10:00:00 Z", "2025-01-01T10:00:00+0160"])


def _padded(rng: random.Random, text: str) -> str:
    return rng.choice(["", " ", "\t", "\n "]) + text + rng.choice(["", " ", "\r\n"])


def _cased(rng: random.Random, text: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)


@dataclass(frozen=True)
class _OrderPlan:
    order_no: str
    created: datetime
    start: datetime
    end: datetime
    material_count: int
    #: a plausible-looking order carrying one planted defect (a docs/behaviour.md#rejection-codes rejection)
    bad: bool


def _order_version(rng: random.Random, plan: _OrderPlan, changed: datetime, extracted_at: datetime,
                   status: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_no": _padded(rng, plan.order_no),
        "material_code": _padded(rng, f"MAT-{rng.randrange(plan.material_count):03d}"),
        "plant_code": _padded(rng, f"P{rng.randrange(6 if plan.bad else 5):02d}"),
        "line_code": _padded(rng, f"L{rng.randrange(1, 4)}"),
        "created_ts": _timestamp_text(rng, plan.created),
        "planned_qty": rng.choice(["100", "250.0", "+40", "1000.00", " 75 "]),
        "planned_start_ts": _timestamp_text(rng, plan.start),
        "planned_end_ts": _timestamp_text(rng, plan.end),
        "status_code": _padded(rng, _cased(rng, status)),
        "changed_ts": _timestamp_text(rng, changed),
        "_extracted_at": extracted_at,
    }
    if plan.bad:
        column, value = rng.choice([
            ("material_code", "MAT-999"), ("material_code", "mat-000"), ("plant_code", "P99"),
            ("line_code", "  "), ("created_ts", _bad_timestamp(rng)), ("planned_qty", "0"),
            ("planned_qty", "12.5"), ("planned_qty", "-4"), ("planned_qty", "ten"),
            ("planned_start_ts", _timestamp_text(rng, plan.end + timedelta(hours=1))),
            ("planned_end_ts", _bad_timestamp(rng)), ("status_code", "DONE"), ("status_code", ""),
            ("changed_ts", None), ("order_no", " "), ("planned_qty", "99999999999999999999"),
        ])
        row[column] = value
    return row


class _Clock:
    """Hands out distinct `_extracted_at` values."""

    def __init__(self) -> None:
        self.ticks = 0

    def next(self) -> datetime:
        self.ticks += 1
        return EPOCH + timedelta(days=30, seconds=self.ticks)


def random_raw_tables(
    rng: random.Random,
    *,
    orders: int,
    chaos: float = 0.0,
    junk: Sequence[str] = (),
) -> RawTables:
    clock = _Clock()
    junk_pool = tuple(junk) + NASTY

    def maybe_chaos(row: dict[str, Any]) -> dict[str, Any]:
        if chaos:
            for column in row:
                if column != "_extracted_at" and rng.random() < chaos:
                    row[column] = rng.choice(junk_pool) if rng.random() < 0.8 else None
        return row

    material_count = max(3, orders // 20)
    materials: list[dict[str, Any]] = []
    for m in range(material_count):
        for _ in range(rng.choice([1, 1, 2])):
            materials.append(maybe_chaos({
                "material_code": _padded(rng, f"MAT-{m:03d}"),
                "description": f"material {m}",
                "_extracted_at": clock.next(),
            }))
    plants: list[dict[str, Any]] = []
    for p in range(6):
        for _ in range(rng.choice([1, 2])):
            is_factory = rng.choice(["true", "Y", "1", " yes ", "t"]) if p != 5 else rng.choice(["false", "no", ""])
            plants.append(maybe_chaos({
                "plant_code": _padded(rng, f"P{p:02d}"),
                "plant_name": f"plant {p}",
                "is_factory": _cased(rng, is_factory),
                "_extracted_at": clock.next(),
            }))

    order_rows: list[dict[str, Any]] = []
    confirmation_rows: list[dict[str, Any]] = []
    statuses = ["CRTD", "REL", "PCNF", "CNF", "TECO", "DLT"]
    for n in range(orders):
        order_no = f"PO-{n:06d}"
        created = EPOCH + timedelta(minutes=rng.randrange(60 * 24 * 20))
        start = created + timedelta(hours=rng.randrange(1, 72))
        end = start + timedelta(hours=rng.randrange(1, 96))
        plan = _OrderPlan(order_no, created, start, end, material_count, bad=rng.random() < 0.15)

        status = rng.choice(statuses)
        changed = created + timedelta(minutes=rng.randrange(1, 600))
        for _ in range(rng.choice([1, 1, 2, 3])):
            extracted_at = clock.next()
            order_rows.append(maybe_chaos(_order_version(rng, plan, changed, extracted_at, status)))
            if rng.random() < 0.1:  # tie-break (docs/behaviour.md#current-state): same instant, later changed_ts wins
                order_rows.append(maybe_chaos(
                    _order_version(rng, plan, changed + timedelta(days=1), extracted_at, rng.choice(statuses))
                ))
            changed += timedelta(hours=rng.randrange(1, 24))
            status = rng.choice(statuses)

        for k in range(rng.choice([0, 1, 2, 3, 4])):
            confirmed = start + timedelta(hours=rng.randrange(-2, 120))
            row = {
                "confirmation_id": _padded(rng, f"C-{n:06d}-{k}"),
                "order_no": _padded(rng, order_no if rng.random() > 0.02 else f"PO-X{n}"),
                "confirmed_ts": _timestamp_text(rng, confirmed) if rng.random() > 0.05 else rng.choice(["", None]),
                "yield_qty": rng.choice(["10", "25.0", "0", "+7", "3", "40", "12"] if rng.random() > 0.1 else ["-5"]),
                "scrap_qty": rng.choice(["0", "1", "", "2.5"]),
                "is_final": _cased(rng, rng.choice(["true", "false", "y", "n", "", "1", "0"])),
                "_extracted_at": clock.next(),
            }
            if plan.bad and rng.random() < 0.3:
                column, value = rng.choice([
                    ("yield_qty", "1.5"), ("yield_qty", ""), ("yield_qty", "-500"),
                    ("confirmed_ts", _bad_timestamp(rng)),
                ])
                row[column] = value
            row = maybe_chaos(row)
            confirmation_rows.append(row)
            if rng.random() < 0.2:  # delivered at least once: an exact copy
                confirmation_rows.append(dict(row))
            if rng.random() < 0.15:  # a later version of the same confirmation
                confirmation_rows.append(
                    maybe_chaos({**row, "yield_qty": rng.choice(["12", "-3"]), "_extracted_at": clock.next()})
                )
    rng.shuffle(order_rows)
    rng.shuffle(confirmation_rows)
    return RawTables(orders=order_rows, confirmations=confirmation_rows, materials=materials, plants=plants)
