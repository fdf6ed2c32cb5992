"""Append a later extraction to raw tables written by :func:`mo_export_dev.sample_data.generate`."""

from __future__ import annotations

import logging
from pathlib import Path

from exporter.warehouse import connect
from mo_export_dev.sample_data.generator import PLANTED_SCHEMA, PLANTED_TABLE, check_schema_name
from mo_export_dev.sample_data.text_forms import register_text_macros

log = logging.getLogger(__name__)

_TRIM = "' ' || chr(9) || chr(10) || chr(13)"

#: Current status -> the status the next extraction moves it to, and what confirmation that posts.
PROGRESSIONS: dict[str, tuple[str, str | None]] = {
    "CRTD": ("REL", None),
    "REL": ("PCNF", "partial"),
    "PCNF": ("CNF", "final"),
    "CNF": ("TECO", None),
}


def simulate_next_extraction(path: str | Path, *, changed_orders: int, seed: int, raw_schema: str = "raw") -> list[str]:
    """Append one later extraction in which ``changed_orders`` valid orders move one status forward.

    Picks, by a hash of (seed, order number), good orders (not among the planted bad ones) whose current
    status can still progress (CRTD, REL, PCNF, CNF). Each gets a new order version (next status, a
    ``changed_ts`` later than anything already extracted, the other columns as before); REL -> PCNF also
    posts a partial confirmation and PCNF -> CNF a final one. Every new row carries the same
    ``_extracted_at``, one day after the latest one in the raw tables, so the orders' contract rows change
    (status and/or updated_at) and stay valid. Returns the trimmed order numbers, sorted.
    """
    if changed_orders < 0:
        raise ValueError(f"changed_orders must be 0 or more, got {changed_orders}")
    schema = check_schema_name(raw_schema)
    con = connect(path)
    try:
        register_text_macros(con)
        planted = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [PLANTED_SCHEMA, PLANTED_TABLE],
        ).fetchone()
        if not planted or planted[0] == 0:
            raise ValueError(
                f"{path} has no {PLANTED_SCHEMA}.{PLANTED_TABLE}: write the raw tables with "
                "`python -m mo_export_dev.sample_data` (mo_export_dev.sample_data.generate) before simulating a later "
                "extraction"
            )
        con.execute("begin transaction")
        con.execute(_pick_sql(schema), [schema, seed, changed_orders])
        picked = con.execute("select count(*) from sd_next").fetchone()
        available = int(picked[0]) if picked else 0
        if available < changed_orders:
            raise ValueError(
                f"only {available} orders of {schema}.mes_production_orders can still progress "
                f"(current status CRTD, REL, PCNF or CNF, not planted bad); asked to change {changed_orders}"
            )
        con.execute(_order_insert_sql(schema))
        con.execute(_confirmation_insert_sql(schema), [seed])
        changed = [r[0] for r in con.execute("select order_key from sd_next order by order_key").fetchall()]
        con.execute("drop table sd_next")
        con.execute("commit")
    finally:
        con.close()
    log.info("simulated a later extraction", extra={"event": "sample_data_next_extraction",
                                                    "changed_orders": len(changed)})
    return changed


def _pick_sql(schema: str) -> str:
    progressions = " ".join(f"when '{s}' then '{n}'" for s, (n, _) in PROGRESSIONS.items())
    postings = " ".join(
        f"when '{s}' then {'null' if p is None else repr(p)}" for s, (_, p) in PROGRESSIONS.items()
    )
    return f"""
create or replace temp table sd_next as
with

orders as (
    select * from "{schema}".mes_production_orders
),

confirmations as (
    select * from "{schema}".mes_confirmations
),

planted as (
    select order_no from {PLANTED_SCHEMA}.{PLANTED_TABLE} where raw_schema = $1
),

extraction as (
    -- one day after the latest extraction of either table, on the hour
    select date_trunc('hour', max(_extracted_at)) + interval 1 day as extracted_at
    from (
        select _extracted_at from orders
        union all
        select _extracted_at from confirmations
    )
),

keyed as (
    select
        orders.*,
        nullif(trim(order_no, {_TRIM}), '') as order_key,
        upper(trim(status_code, {_TRIM})) as current_status
    from orders
),

current as (
    select *
    from keyed
    where order_key is not null
    qualify row_number() over (partition by order_key order by _extracted_at desc) = 1
),

candidates as (
    select current.*
    from current
    where current_status in ({", ".join(f"'{s}'" for s in PROGRESSIONS)})
        and order_key not in (select order_no from planted)
    order by hash($2, order_key), order_key
    limit $3
),

final as (
    select
        candidates.*,
        case current_status {progressions} end as next_status,
        case current_status {postings} end as posting,
        extraction.extracted_at,
        extraction.extracted_at - to_seconds(
            (60 + hash($2, order_key, 'next-changed') % 3000)::bigint
        ) as changed_at,
        row_number() over (order by order_key) as change_number
    from candidates
    cross join extraction
)

select * from final
"""


def _order_insert_sql(schema: str) -> str:
    return f"""
insert into "{schema}".mes_production_orders
select
    order_no,
    material_code,
    plant_code,
    line_code,
    created_ts,
    planned_qty,
    planned_start_ts,
    planned_end_ts,
    next_status as status_code,
    strftime(changed_at, '%Y-%m-%d %H:%M:%S') as changed_ts,
    extracted_at as _extracted_at
from sd_next
"""


def _confirmation_insert_sql(schema: str) -> str:
    return f"""
insert into "{schema}".mes_confirmations
select
    'CF-' || strftime(extracted_at, '%Y%m%d%H') || '-' || lpad(change_number::varchar, 7, '0')
        as confirmation_id,
    order_key as order_no,
    strftime(changed_at - interval 5 minute, '%Y-%m-%d %H:%M:%S') as confirmed_ts,
    (1 + hash($1, order_key, 'next-yield') % 50)::varchar as yield_qty,
    '0' as scrap_qty,
    case posting when 'final' then 'Y' else 'N' end as is_final,
    extracted_at as _extracted_at
from sd_next
where posting is not null
"""
