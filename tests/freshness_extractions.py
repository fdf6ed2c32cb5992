"""Random later extractions appended to the raw tables of a built DuckDB file, as a loader delivers them.

`append_random_extraction` draws a few kinds of change and appends their raw rows, all with one
`_extracted_at` one day after the latest (re-deliveries at the watermark excepted), and never two
different versions of one record at one `_extracted_at` (which docs/behaviour.md would leave open).
The rows are written as raw text, with the whitespace and letter case the MES sends.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import duckdb

ORDER_COLUMNS = (
    "order_no", "material_code", "plant_code", "line_code", "created_ts", "planned_qty", "planned_start_ts",
    "planned_end_ts", "status_code", "changed_ts", "_extracted_at",
)
CONFIRMATION_COLUMNS = (
    "confirmation_id", "order_no", "confirmed_ts", "yield_qty", "scrap_qty", "is_final", "_extracted_at",
)
NEXT_STATUS = {"CRTD": "REL", "REL": "PCNF", "PCNF": "CNF", "CNF": "TECO", "TECO": "TECO", "DLT": "DLT"}
KINDS = (
    "new_orders", "header_changes", "rejected_and_back", "late_confirmations", "duplicated_confirmations",
    "reversed_confirmations", "moved_confirmations", "plant_change", "material_change",
    "redelivery_at_watermark", "unkeyed_rows",
)


def _fmt(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    if rows:
        con.executemany(
            f"insert into raw.{table} ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
            [[row.get(c) for c in columns] for row in rows],
        )


def _latest_orders(con: duckdb.DuckDBPyConnection, sample: int, rng: random.Random) -> list[dict[str, Any]]:
    """Up to ``sample`` random keyed orders, each as its latest raw row (by _extracted_at, then changed_ts)."""
    rows = con.execute(
        f"""
        select {', '.join(ORDER_COLUMNS)}
        from raw.mes_production_orders
        where nullif(trim(order_no), '') is not null
        qualify row_number() over (
            partition by trim(order_no) order by _extracted_at desc, changed_ts desc nulls last) = 1
        order by hash(order_no, ?) limit ?
        """,
        [rng.randrange(1 << 30), sample],
    ).fetchall()
    return [dict(zip(ORDER_COLUMNS, r, strict=True)) for r in rows]


def _confirmations(con: duckdb.DuckDBPyConnection, sample: int, rng: random.Random,
                   where: str = "true") -> list[dict[str, Any]]:
    rows = con.execute(
        f"""
        select {', '.join(CONFIRMATION_COLUMNS)} from raw.mes_confirmations
        where nullif(trim(confirmation_id), '') is not null and {where}
        qualify row_number() over (partition by trim(confirmation_id) order by _extracted_at desc) = 1
        order by hash(confirmation_id, ?) limit ?
        """,
        [rng.randrange(1 << 30), sample],
    ).fetchall()
    return [dict(zip(CONFIRMATION_COLUMNS, r, strict=True)) for r in rows]


def append_random_extraction(con: duckdb.DuckDBPyConnection, rng: random.Random) -> list[str]:
    """Append one random extraction; returns the kinds of change it holds (empty: nothing new)."""
    if rng.random() < 0.1:
        return []
    latest = con.execute(
        "select max(m) from (select max(_extracted_at) as m from raw.mes_production_orders union all"
        " select max(_extracted_at) from raw.mes_confirmations union all"
        " select max(_extracted_at) from raw.mes_materials union all select max(_extracted_at) from raw.mes_plants)"
    ).fetchall()[0][0]
    at = latest + timedelta(days=1)
    kinds = sorted(rng.sample(KINDS, rng.randint(1, 4)))
    # one new version per order per extraction: the orders are drawn once and shared out
    orders = _latest_orders(con, 40, rng)
    order_rows: list[dict[str, Any]] = []
    confirmation_rows: list[dict[str, Any]] = []
    serial = rng.randrange(10**6)

    def take_order() -> dict[str, Any] | None:
        return orders.pop() if orders else None

    for kind in kinds:
        if kind == "new_orders":
            for n in range(rng.randint(1, 5)):
                template = take_order()
                if template:
                    number = f"FR-{serial}-{n}"
                    order_rows.append({**template, "order_no": rng.choice([number, f" {number}\t"]),
                                       "status_code": "crtd", "changed_ts": _fmt(at - timedelta(hours=1)),
                                       "_extracted_at": at})
                    confirmation_rows.append({
                        "confirmation_id": f"FRC-{serial}-{n}", "order_no": number,
                        "confirmed_ts": _fmt(at - timedelta(minutes=30)), "yield_qty": str(rng.randint(1, 9)),
                        "scrap_qty": "0", "is_final": "N", "_extracted_at": at})
        elif kind == "header_changes":
            for _ in range(rng.randint(1, 6)):
                order = take_order()
                if order:
                    status = (order["status_code"] or "CRTD").strip().upper()
                    order_rows.append({**order, "status_code": NEXT_STATUS.get(status, "REL"),
                                       "changed_ts": _fmt(at - timedelta(minutes=rng.randint(1, 600))),
                                       "_extracted_at": at})
        elif kind == "rejected_and_back":
            # one order gets an invalid quantity; another, rejected for that earlier, a valid one again
            order = take_order()
            if order:
                order_rows.append({**order, "planned_qty": rng.choice(["0", "-5", "12.5", "abc"]),
                                   "_extracted_at": at})
            back = con.execute(
                "select trim(order_no) from raw.mes_production_orders where planned_qty in ('0', '-5', '12.5', 'abc')"
                " and order_no like 'MO-%' order by hash(order_no, ?) limit 1", [serial]
            ).fetchall()
            fixed = [o for o in _latest_orders(con, 400, rng) if back and o["order_no"].strip() == back[0][0]]
            if fixed and all(r["order_no"] != fixed[0]["order_no"] for r in order_rows):
                order_rows.append({**fixed[0], "planned_qty": "25", "_extracted_at": at})
        elif kind == "late_confirmations":
            for n, order in enumerate(_latest_orders(con, rng.randint(1, 4), rng)):
                confirmation_rows.append({
                    "confirmation_id": f"LATE-{serial}-{n}", "order_no": order["order_no"],
                    "confirmed_ts": _fmt(at - timedelta(days=rng.randint(2, 30))),
                    "yield_qty": str(rng.randint(1, 20)), "scrap_qty": str(rng.randint(0, 2)),
                    "is_final": rng.choice(["N", "n", "Y"]), "_extracted_at": at})
        elif kind == "duplicated_confirmations":
            confirmation_rows += [{**c, "_extracted_at": at} for c in _confirmations(con, rng.randint(1, 5), rng)]
        elif kind == "reversed_confirmations":
            for n, c in enumerate(_confirmations(con, rng.randint(1, 3), rng, "yield_qty ~ '^ *[0-9]+ *$'")):
                confirmation_rows.append({**c, "confirmation_id": f"REV-{serial}-{n}",
                                          "yield_qty": f"-{rng.randint(1, 3)}", "is_final": "N",
                                          "confirmed_ts": _fmt(at - timedelta(hours=2)), "_extracted_at": at})
        elif kind == "moved_confirmations":
            targets = _latest_orders(con, 3, rng)
            for c, target in zip(_confirmations(con, 3, rng), targets, strict=False):
                confirmation_rows.append({**c, "order_no": target["order_no"], "_extracted_at": at})
        elif kind == "plant_change":
            plant = con.execute(
                "select plant_code, plant_name, is_factory from raw.mes_plants where plant_code is not null"
                " qualify row_number() over (partition by trim(plant_code) order by _extracted_at desc) = 1"
                " order by hash(plant_code, ?) limit 1", [serial]
            ).fetchall()[0]
            flipped = "N" if str(plant[2]).strip().lower() in ("true", "t", "yes", "y", "1") else "yes"
            # now and then a factory stops being one; mostly only its name changes
            con.execute("insert into raw.mes_plants values (?, ?, ?, ?)",
                        [plant[0], f"{plant[1]} (renamed)", flipped if rng.random() < 0.3 else plant[2], at])
        elif kind == "material_change":
            unknown = con.execute(
                "select distinct trim(material_code) from raw.mes_production_orders where trim(material_code) not in"
                " (select trim(material_code) from raw.mes_materials where material_code is not null)"
                " and nullif(trim(material_code), '') is not null order by 1 limit 1"
            ).fetchall()
            if unknown and rng.random() < 0.5:
                con.execute("insert into raw.mes_materials values (?, 'Now in the master', ?)", [unknown[0][0], at])
            con.execute(
                "insert into raw.mes_materials select material_code, 'Revised ' || coalesce(description, ''), ?"
                " from raw.mes_materials where material_code is not null order by hash(material_code, ?) limit 2",
                [at, serial],
            )
        elif kind == "redelivery_at_watermark":
            # identical copies of rows extracted at the latest extraction, delivered only now
            con.execute(
                "insert into raw.mes_production_orders select * from raw.mes_production_orders where _extracted_at ="
                " (select max(_extracted_at) from raw.mes_production_orders) order by hash(order_no, ?) limit 2",
                [serial],
            )
            con.execute(
                "insert into raw.mes_confirmations select * from raw.mes_confirmations where _extracted_at ="
                " (select max(_extracted_at) from raw.mes_confirmations) order by hash(confirmation_id, ?) limit 2",
                [serial],
            )
        elif kind == "unkeyed_rows":
            order = take_order()
            if order:
                order_rows.append({**order, "order_no": rng.choice([None, "  "]), "_extracted_at": at})
    _insert(con, "mes_production_orders", ORDER_COLUMNS, order_rows)
    _insert(con, "mes_confirmations", CONFIRMATION_COLUMNS, confirmation_rows)
    return kinds
