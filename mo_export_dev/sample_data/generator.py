"""Write the four raw MES tables of docs/behaviour.md#raw-tables with DuckDB SQL over ``range()``.

Every draw is a hash of (seed, row id, purpose), never ``random()``, so the rows do not depend on the
thread count or the order DuckDB evaluates them in. See the package docstring for what is generated.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb

from exporter.warehouse import connect
from mo_export_dev.sample_data import mix
from mo_export_dev.sample_data.summary import SampleDataSummary
from mo_export_dev.sample_data.text_forms import register_text_macros, sql_text, sql_text_list

log = logging.getLogger(__name__)

#: Where the generator records the bad orders it planted (one row per bad order, per raw schema).
PLANTED_SCHEMA = "sample_data"
PLANTED_TABLE = "planted_bad_orders"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WHITESPACE = "' ' || chr(9) || chr(10) || chr(13)"


def check_schema_name(raw_schema: str) -> str:
    if not _IDENTIFIER.match(raw_schema):
        raise ValueError(
            f"raw schema {raw_schema!r} is not a plain SQL identifier (letters, digits, underscore)"
        )
    return raw_schema


@dataclass(frozen=True)
class _Plan:
    """The sizes and the flattened bad-variant list one generation works with."""

    orders: int
    seed: int
    bad_orders: int
    materials: int
    orphans: int
    variants: tuple[mix.BadVariant, ...]
    variant_offsets: tuple[int, ...]
    variant_counts: tuple[int, ...]

    @classmethod
    def make(cls, orders: int, seed: int) -> _Plan:
        codes = list(mix.BAD_VARIANTS)
        bad = round(orders * mix.BAD_ORDER_SHARE)
        if orders >= mix.MIN_ORDERS_FOR_EVERY_CODE:
            bad = max(bad, len(codes))
        variants: list[mix.BadVariant] = []
        offsets: list[int] = []
        for code in codes:
            offsets.append(len(variants))
            variants.extend(mix.BAD_VARIANTS[code])
        orphans = max(3, round(orders * mix.ORPHAN_CONFIRMATION_SHARE)) if orders >= 1000 else (
            1 if orders >= 100 else 0
        )
        return cls(
            orders=orders,
            seed=seed,
            bad_orders=min(bad, orders),
            materials=min(mix.MAX_MATERIALS, max(mix.MIN_MATERIALS, orders // mix.ORDERS_PER_MATERIAL)),
            orphans=orphans,
            variants=tuple(variants),
            variant_offsets=tuple(offsets),
            variant_counts=tuple(len(mix.BAD_VARIANTS[c]) for c in codes),
        )

    def variant_of_slot(self, slot: int) -> int:
        n_codes = len(self.variant_counts)
        code_index = slot % n_codes
        return self.variant_offsets[code_index] + (slot // n_codes) % self.variant_counts[code_index]


def generate(path: str | Path, *, orders: int, seed: int, raw_schema: str = "raw") -> SampleDataSummary:
    """(Re)write ``raw_schema``'s four raw MES tables in the DuckDB file at ``path`` (created if missing).

    Same ``orders`` and ``seed``, same table contents. Also records the planted bad orders in
    ``sample_data.planted_bad_orders`` (what :func:`simulate_next_extraction` must leave alone).
    """
    if orders < 1:
        raise ValueError(f"orders must be at least 1, got {orders}")
    schema = check_schema_name(raw_schema)
    plan = _Plan.make(orders, seed)
    con = connect(path, must_exist=False)
    try:
        register_text_macros(con)
        con.execute("begin transaction")
        con.execute(f'create schema if not exists "{schema}"')
        con.execute(_order_plan_sql(plan))
        con.execute(f'create or replace table "{schema}".mes_production_orders as {_order_rows_sql(plan)}')
        con.execute(f'create or replace table "{schema}".mes_confirmations as {_confirmation_rows_sql(plan)}')
        con.execute(f'create or replace table "{schema}".mes_materials as {_material_rows_sql(plan)}')
        _write_plants(con, schema)
        _record_planted(con, schema, plan)
        con.execute("commit")
        summary = _summarise(con, Path(path), schema, plan)
    finally:
        con.close()
    log.info("sample data written", extra={"event": "sample_data_written", "orders": orders, "seed": seed})
    return summary


# --- the order plan: one row per order, every clean value the raw rows are written from --------------------


def _int_list(values: tuple[int, ...] | list[int]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def _status_case(plan: _Plan) -> str:
    cases: list[str] = []
    cumulative = 0.0
    for status, share in mix.STATUS_MIX.items():
        cumulative += share
        cases.append(f"when u_status < {cumulative!r} then '{status}'")
    last = list(mix.STATUS_MIX)[-1]
    return "case " + " ".join(cases) + f" else '{last}' end"


def _per_status(mapping_sql: dict[str, str], default: str = "null") -> str:
    whens = " ".join(f"when '{s}' then {v}" for s, v in mapping_sql.items())
    return f"case final_status {whens} else {default} end"


def _order_plan_sql(plan: _Plan) -> str:
    seed = plan.seed
    n_codes = len(plan.variant_counts)
    forced_status = sql_text_list(tuple(v.status for v in plan.variants))
    factories = [p for p in mix.PLANTS if p.lines > 0 and p.weight > 0]
    factory_codes = tuple(p.code for p in factories for _ in range(p.weight))
    factory_lines = tuple(p.lines for p in factories for _ in range(p.weight))
    conf_min = _per_status({s: str(lo) for s, (lo, _) in mix.CONFIRMATIONS_PER_ORDER.items()}, "0")
    conf_span = _per_status({s: str(hi - lo + 1) for s, (lo, hi) in mix.CONFIRMATIONS_PER_ORDER.items()}, "1")
    path_status = _per_status({s: sql_text_list(p) for s, p in mix.STATUS_PATHS.items()})
    change_times = {
        "CRTD": "created_at", "REL": "released_at", "PCNF": "first_confirmed_at",
        "CNF": "last_confirmed_at", "TECO": "technically_completed_at", "DLT": "deleted_at",
    }
    path_times = _per_status(
        {s: "[" + ", ".join(change_times[x] for x in p) + "]" for s, p in mix.STATUS_PATHS.items()}
    )
    period_seconds = mix.ORDER_PERIOD_DAYS * 86_400
    max_qty = mix.MAX_PLANNED_QTY

    def h(purpose: str) -> str:
        return f"hash({seed}, order_index, '{purpose}')"

    def text(value_sql: str, ws_purpose: str) -> str:
        return f"sd_ws({value_sql}, {h(ws_purpose)})"
    return f"""
create or replace temp table sd_orders as
with

order_ids as (
    select range as order_index from range({plan.orders})
),

bad_slots as (
    -- bad order j sits in the j-th of `bad_orders` equal strata of the order range
    select
        least(
            {plan.orders} - 1,
            floor((slot + sd_unit(hash({seed}, slot, 'bad-slot'))) * {plan.orders} / {max(plan.bad_orders, 1)})
        )::bigint as order_index,
        {_int_list(plan.variant_offsets)}[(slot % {n_codes})::integer + 1]
            + (slot // {n_codes}) % {_int_list(plan.variant_counts)}[(slot % {n_codes})::integer + 1]
            as bad_variant
    from range({plan.bad_orders}) as slots(slot)
),

drawn as (
    select
        order_ids.order_index,
        bad_slots.bad_variant,
        lpad((1000000 + order_ids.order_index)::varchar, 12, '0') as order_no,
        sd_unit(hash({seed}, order_ids.order_index, 'status')) as u_status,
        'MAT-' || lpad(
            (floor({plan.materials} * pow(sd_unit(hash({seed}, order_ids.order_index, 'material')), 2))
                + 1)::bigint::varchar,
            6, '0'
        ) as material_code,
        (hash({seed}, order_ids.order_index, 'plant') % {len(factory_codes)})::integer + 1 as plant_pick,
        hash({seed}, order_ids.order_index, 'line') as line_hash,
        {sql_text(mix.ORDER_PERIOD_START.isoformat(sep=' '))}::timestamp
            + to_seconds(
                floor(sd_unit(hash({seed}, order_ids.order_index, 'created')) * {period_seconds})::bigint
            ) as created_at,
        sd_unit(hash({seed}, order_ids.order_index, 'qty')) as u_qty,
        sd_unit(hash({seed}, order_ids.order_index, 'qty-size')) as u_qty_size,
        sd_unit(hash({seed}, order_ids.order_index, 'confirmations')) as u_confirmations
    from order_ids
    left join bad_slots using (order_index)
),

scheduled as (
    select
        drawn.*,
        coalesce({forced_status}[bad_variant + 1], {_status_case(plan)}) as final_status,
        {sql_text_list(factory_codes)}[plant_pick] as plant_code,
        {sql_text_list(factory_codes)}[plant_pick] || '-L'
            || lpad(((line_hash % {_int_list(factory_lines)}[plant_pick]) + 1)::varchar, 2, '0') as line_code,
        case
            when u_qty < {mix.ROUND_QTY_SHARE!r}
                then 10 * (1 + floor(u_qty_size * {max_qty // 10 - 1}))::bigint
            else 10 + floor(u_qty_size * {max_qty - 9})::bigint
        end as planned_qty,
        created_at + to_seconds(
            (3600 + floor(sd_unit(hash({seed}, order_index, 'released')) * 44 * 3600))::bigint
        ) as released_at,
        date_trunc('hour', created_at) + to_hours(
            (48 + floor(sd_unit(hash({seed}, order_index, 'start')) * 288))::bigint
        ) as planned_start_at
    from drawn
),

sized as (
    select
        scheduled.*,
        planned_start_at + to_hours(
            (24 + floor(sd_unit(hash({seed}, order_index, 'duration')) * 216))::bigint
        ) as planned_end_at,
        ({conf_min} + floor(u_confirmations * {conf_span}))::integer as n_confirmations
    from scheduled
),

timed as (
    -- confirmation k is posted at start + (k - 1) * step + jitter (< step / 2): strictly increasing,
    -- at least 4 hours apart, so every status change is extracted after the previous one
    select
        sized.*,
        greatest(
            28800,
            epoch(planned_end_at - planned_start_at) // greatest(n_confirmations, 1)
        )::bigint as step_seconds
    from sized
),

confirmation_times as (
    select
        timed.*,
        planned_start_at + to_seconds(
            floor(sd_unit(hash({seed}, order_index, 1, 'confirmed')) * step_seconds * 0.5)::bigint
        ) as first_confirmed_at,
        planned_start_at + to_seconds(
            ((n_confirmations - 1) * step_seconds
             + floor(sd_unit(hash({seed}, order_index, n_confirmations, 'confirmed')) * step_seconds * 0.5)
            )::bigint
        ) as last_confirmed_at
    from timed
),

final as (
    select
        confirmation_times.*,
        last_confirmed_at + to_hours(
            (24 + floor(sd_unit(hash({seed}, order_index, 'teco')) * 96))::bigint
        ) as technically_completed_at,
        released_at + to_hours(
            (2 + floor(sd_unit(hash({seed}, order_index, 'deleted')) * 70))::bigint
        ) as deleted_at,
        case
            when final_status <> 'CRTD'
                and sd_unit(hash({seed}, order_index, 'skip-created')) < {mix.SKIP_CREATED_VERSION_SHARE!r}
                then 2
            else 1
        end as first_version,
        bad_variant is null
            and sd_unit(hash({seed}, order_index, 'missing-status')) < {mix.MISSING_STATUS_SHARE!r}
            as has_blank_status
    from confirmation_times
)

select
    final.*,
    {path_status} as version_statuses,
    {path_times} as version_changed_ats,
    -- the header fields no status change touches are written once per order, the same in every version
    {text("order_no", "order-ws")} as order_no_text,
    {text("material_code", "material-ws")} as material_code_text,
    {text("plant_code", "plant-ws")} as plant_code_text,
    {text("line_code", "line-ws")} as line_code_text,
    {text("sd_ts_text(created_at, " + h("created") + ", true)", "created-ws")} as created_ts_text,
    {text("sd_qty_text(planned_qty, " + h("qty") + ")", "qty-ws")} as planned_qty_text,
    {text("sd_ts_text(planned_start_at, " + h("start") + ", true)", "start-ws")} as planned_start_ts_text,
    {text("sd_ts_text(planned_end_at, " + h("end") + ", true)", "end-ws")} as planned_end_ts_text
from final
"""


# --- raw order rows ---------------------------------------------------------------------------------------


def _overrides(plan: _Plan, column: str, *, confirmations: bool) -> list[tuple[int, str | None, str]]:
    """(variant id, SQL expression or None, confirmation target) of the bad variants that replace ``column``."""
    out: list[tuple[int, str | None, str]] = []
    for variant_id, variant in enumerate(plan.variants):
        columns = variant.confirmation_columns if confirmations else variant.order_columns
        if column in columns:
            out.append((variant_id, columns[column], variant.confirmation))
    return out


def _order_column(plan: _Plan, column: str, normal: str) -> str:
    whens = [
        f"when is_latest and bad_variant = {vid} then {expr if expr is not None else 'null'}"
        for vid, expr, _ in _overrides(plan, column, confirmations=False)
    ]
    if not whens:
        return f"{normal} as {column}"
    return "case " + " ".join(whens) + f" else {normal} end as {column}"


def _order_rows_sql(plan: _Plan) -> str:
    seed = plan.seed

    def h(purpose: str) -> str:
        return f"hash({seed}, order_index, version, '{purpose}')"

    columns = [
        _order_column(plan, "order_no", "order_no_text"),
        _order_column(plan, "material_code", "material_code_text"),
        _order_column(plan, "plant_code", "plant_code_text"),
        _order_column(plan, "line_code", "line_code_text"),
        _order_column(plan, "created_ts", "created_ts_text"),
        _order_column(plan, "planned_qty", "planned_qty_text"),
        _order_column(plan, "planned_start_ts", "planned_start_ts_text"),
        _order_column(plan, "planned_end_ts", "planned_end_ts_text"),
        _order_column(
            plan, "status_code",
            f"case when is_latest and has_blank_status then (case when version % 2 = 0 then '' else ' ' end) "
            f"else sd_ws(sd_status_text(status, {h('status')}), {h('status-ws')}) end",
        ),
        _order_column(
            plan, "changed_ts", f"sd_ws(sd_ts_text(changed_at, {h('changed')}, true), {h('changed-ws')})"
        ),
    ]
    select_list = ",\n    ".join(columns)
    return f"""
with

versions as (
    select
        order_index, bad_variant, has_blank_status, version_statuses, version_changed_ats,
        order_no, material_code, plant_code, created_at, planned_start_at, planned_end_at, planned_qty,
        order_no_text, material_code_text, plant_code_text, line_code_text, created_ts_text,
        planned_qty_text, planned_start_ts_text, planned_end_ts_text,
        unnest(range(first_version, len(version_statuses) + 1)) as version
    from sd_orders
),

final as (
    select
        versions.*,
        version_statuses[version] as status,
        version_changed_ats[version] as changed_at,
        version = len(version_statuses) as is_latest,
        version_changed_ats[version] + to_seconds(
            (60 + floor(sd_unit(hash({seed}, order_index, version, 'extracted')) * 2940))::bigint
        ) as extracted_at
    from versions
)

select
    {select_list},
    extracted_at as _extracted_at
from final
"""


# --- raw confirmation rows --------------------------------------------------------------------------------


def _confirmation_column(plan: _Plan, column: str, normal: str) -> str:
    whens = []
    for vid, expr, target in _overrides(plan, column, confirmations=True):
        seq = "1" if target == "first" else "n_confirmations"
        value = expr if expr is not None else "null"
        whens.append(f"when kind = 'posting' and bad_variant = {vid} and seq = {seq} then {value}")
    if not whens:
        return f"{normal} as {column}"
    return "case " + " ".join(whens) + f" else {normal} end as {column}"


def _confirmation_rows_sql(plan: _Plan) -> str:
    seed = plan.seed

    def h(purpose: str) -> str:
        return f"hash({seed}, order_index, seq, '{purpose}')"

    period_seconds = mix.ORDER_PERIOD_DAYS * 86_400
    columns = [
        f"sd_ws(confirmation_id, {h('id-ws')}) as confirmation_id",
        f"sd_ws(order_no, {h('order-ws')}) as order_no",
        # a date alone only on an order's first posting: truncating it can only move actual_start earlier
        _confirmation_column(
            plan, "confirmed_ts",
            f"sd_ws(sd_ts_text(confirmed_at, {h('confirmed')}, seq = 1 and kind = 'posting'), {h('confirmed-ws')})",
        ),
        _confirmation_column(plan, "yield_qty", f"sd_ws(sd_qty_text(yield_units, {h('yield')}), {h('yield-ws')})"),
        _confirmation_column(
            plan, "scrap_qty",
            f"case when scrap_units = 0 and sd_unit({h('scrap-blank')}) < {mix.BLANK_ZERO_SCRAP_SHARE!r} "
            f"then (case when seq % 2 = 0 then null else '' end) "
            f"else sd_ws(sd_qty_text(scrap_units, {h('scrap')}), {h('scrap-ws')}) end",
        ),
        _confirmation_column(plan, "is_final", f"sd_ws(sd_bool_text(is_final, {h('final')}), {h('final-ws')})"),
    ]
    select_list = ",\n        ".join(columns)
    same = mix.DUPLICATE_SAME_EXTRACTION_SHARE
    later = same + mix.DUPLICATE_LATER_EXTRACTION_SHARE
    return f"""
with

orders as (
    select * from sd_orders where n_confirmations > 0
),

postings as (
    select
        orders.*,
        unnest(range(1, n_confirmations + 1)) as seq
    from orders
),

drawn as (
    select
        postings.*,
        planned_start_at + to_seconds(
            ((seq - 1) * step_seconds
             + floor(sd_unit(hash({seed}, order_index, seq, 'confirmed')) * step_seconds * 0.5))::bigint
        ) as confirmed_at,
        seq = n_confirmations
            and final_status in ('CNF', 'TECO')
            and not (
                final_status = 'TECO'
                and bad_variant is null
                and sd_unit(hash({seed}, order_index, 'teco-without-final')) < {mix.TECO_WITHOUT_FINAL_SHARE!r}
            ) as is_final,
        bad_variant is null and seq < n_confirmations
            and sd_unit(hash({seed}, order_index, seq, 'scrap-only')) < {mix.SCRAP_ONLY_SHARE!r} as is_scrap_only,
        sd_unit(hash({seed}, order_index, seq, 'reversed')) < {mix.REVERSAL_SHARE!r} as is_drawn_for_reversal
    from postings
),

quantified as (
    select
        drawn.*,
        case
            when is_scrap_only then 0
            else greatest(
                1,
                floor(planned_qty / n_confirmations
                      * (0.8 + 0.4 * sd_unit(hash({seed}, order_index, seq, 'yield'))))
            )::bigint
        end as yield_units,
        case
            when is_scrap_only then (1 + floor(sd_unit(hash({seed}, order_index, seq, 'scrap')) * 20))::bigint
            when sd_unit(hash({seed}, order_index, seq, 'has-scrap')) < 0.3
                then floor(planned_qty / n_confirmations * 0.05
                           * sd_unit(hash({seed}, order_index, seq, 'scrap')))::bigint
            else 0
        end as scrap_units,
        'posting' as kind
    from drawn
),

reversals as (
    -- a later posting cancelling an earlier non-final one of a good order, under its own id
    select
        order_index, bad_variant, order_no, planned_qty, n_confirmations, first_confirmed_at,
        seq + 8 as seq,
        confirmed_at + to_seconds(
            (3600 + floor(sd_unit(hash({seed}, order_index, seq, 'reversal-time')) * 4 * 3600))::bigint
        ) as confirmed_at,
        false as is_final,
        -yield_units as yield_units,
        0::bigint as scrap_units,
        'reversal' as kind
    from quantified
    where is_drawn_for_reversal and bad_variant is null and seq < n_confirmations and not is_scrap_only
),

orphans as (
    -- confirmations of order numbers that were never extracted
    select
        -1 - orphan as order_index,
        null::integer as bad_variant,
        lpad((9000000 + orphan)::varchar, 12, '0') as order_no,
        null::bigint as planned_qty,
        1 as n_confirmations,
        null::timestamp as first_confirmed_at,
        1 as seq,
        {sql_text(mix.ORDER_PERIOD_START.isoformat(sep=' '))}::timestamp + to_seconds(
            floor(sd_unit(hash({seed}, orphan, 'orphan-time')) * {period_seconds})::bigint
        ) as confirmed_at,
        false as is_final,
        (1 + floor(sd_unit(hash({seed}, orphan, 'orphan-yield')) * 100))::bigint as yield_units,
        0::bigint as scrap_units,
        'orphan' as kind
    from range({plan.orphans}) as orphans(orphan)
),

all_postings as (
    select
        order_index, bad_variant, order_no, planned_qty, n_confirmations, first_confirmed_at, seq,
        confirmed_at, is_final, yield_units, scrap_units, kind
    from quantified
    union all
    select * from reversals
    union all
    select * from orphans
),

texted as (
    select
        order_index,
        seq,
        case
            when kind = 'orphan' then 'CF9' || lpad((-1 - order_index)::varchar, 10, '0')
            else 'CF' || lpad((order_index * 16 + seq)::varchar, 11, '0')
        end as confirmation_id,
        *
    from all_postings
),

final as (
    select
        {select_list},
        confirmed_at + to_seconds(
            (60 + floor(sd_unit(hash({seed}, order_index, seq, 'extracted')) * 2940))::bigint
        ) as first_extracted_at,
        case
            when sd_unit(hash({seed}, order_index, seq, 'redelivered')) < {same!r} then [0, 0]
            when sd_unit(hash({seed}, order_index, seq, 'redelivered')) < {later!r} then [0, 1]
            else [0]
        end as deliveries,
        (24 + floor(sd_unit(hash({seed}, order_index, seq, 'redelivery-delay')) * 48))::bigint as delay_hours,
        order_index,
        seq
    from texted
),

delivered as (
    -- at-least-once delivery: a redelivered confirmation repeats its text exactly
    select final.*, unnest(deliveries) as redelivery from final
)

select
    confirmation_id,
    order_no,
    confirmed_ts,
    yield_qty,
    scrap_qty,
    is_final,
    first_extracted_at + to_hours(redelivery * delay_hours) as _extracted_at
from delivered
"""


# --- master data ------------------------------------------------------------------------------------------


def _material_rows_sql(plan: _Plan) -> str:
    seed = plan.seed
    nouns = sql_text_list(mix.MATERIAL_NOUNS)
    without_code = " union all ".join(
        f"select {sql_text(code)}::varchar, {sql_text(description)}::varchar, "
        f"timestamp '2023-06-01 00:00:00' + to_hours({i})"
        for i, (code, description) in enumerate(mix.MATERIAL_ROWS_WITHOUT_CODE)
    )
    return f"""
with

material_ids as (
    select range as material_index from range({plan.materials})
),

versions as (
    select
        material_index,
        unnest(range((hash({seed}, material_index, 'material-versions') % 3)::integer + 1)) as version
    from material_ids
),

final as (
    select
        sd_ws(
            'MAT-' || lpad((material_index + 1)::varchar, 6, '0'),
            hash({seed}, material_index, version, 'material-code-ws')
        ) as material_code,
        {nouns}[(hash({seed}, material_index, 'noun') % {len(mix.MATERIAL_NOUNS)})::integer + 1]
            || ' ' || (10 + 5 * (hash({seed}, material_index, 'size') % 60))::varchar || ' mm'
            || case when version > 0 then ' rev ' || chr(65 + version::integer) else '' end as description,
        timestamp '2023-06-01 00:00:00'
            + to_days(version * 120)
            + to_seconds((hash({seed}, material_index, version, 'material-extracted') % (30 * 86400))::bigint)
            as _extracted_at
    from versions
    order by material_index, version
)

select * from final
union all
{without_code}
"""


def _write_plants(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Plants are a fixed list (see ``mix.PLANTS``): the same for every seed."""
    rows: list[tuple[str | None, str, str | None, str]] = []
    for index, plant in enumerate(mix.PLANTS):
        for version, is_factory in enumerate(plant.is_factory_versions):
            code = f" {plant.code}" if version % 2 == 1 else plant.code
            extracted = f"2023-{1 + version * 6:02d}-02 {index:02d}:00:00"
            rows.append((code, plant.name, is_factory, extracted))
    for index, (code, name, is_factory) in enumerate(mix.PLANT_ROWS_WITHOUT_CODE):
        rows.append((code, name, is_factory, f"2023-03-01 {index:02d}:00:00"))
    con.execute(
        f'create or replace table "{schema}".mes_plants '
        "(plant_code varchar, plant_name varchar, is_factory varchar, _extracted_at timestamp)"
    )
    con.executemany(f'insert into "{schema}".mes_plants values (?, ?, ?, ?::timestamp)', rows)


# --- bookkeeping ------------------------------------------------------------------------------------------


def _record_planted(con: duckdb.DuckDBPyConnection, schema: str, plan: _Plan) -> None:
    con.execute(f"create schema if not exists {PLANTED_SCHEMA}")
    con.execute(
        f"create table if not exists {PLANTED_SCHEMA}.{PLANTED_TABLE} ("
        "raw_schema varchar not null, order_no varchar not null, order_no_in_raw boolean not null, "
        "rejection_code varchar not null, variant varchar not null)"
    )
    con.execute(f"delete from {PLANTED_SCHEMA}.{PLANTED_TABLE} where raw_schema = ?", [schema])
    rows = con.execute("select order_no, bad_variant from sd_orders where bad_variant is not null").fetchall()
    records = []
    for order_no, variant_id in rows:
        variant = plan.variants[variant_id]
        in_raw = "order_no" not in variant.order_columns
        records.append((schema, order_no, in_raw, variant.code, variant.label))
    if records:
        con.executemany(f"insert into {PLANTED_SCHEMA}.{PLANTED_TABLE} values (?, ?, ?, ?, ?)", records)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def _summarise(con: duckdb.DuckDBPyConnection, path: Path, schema: str, plan: _Plan) -> SampleDataSummary:
    def trimmed(column: str) -> str:
        return f"nullif(trim({column}, {_WHITESPACE}), '')"

    planted = [
        plan.variants[v]
        for (v,) in con.execute("select bad_variant from sd_orders where bad_variant is not null").fetchall()
    ]
    by_code = Counter(v.code for v in planted)
    unkeyed = sum(1 for v in planted if "order_no" in v.order_columns)
    factories = [p for p in mix.PLANTS if p.lines > 0]
    return SampleDataSummary(
        path=path,
        raw_schema=schema,
        seed=plan.seed,
        order_rows=_count(con, f'select count(*) from "{schema}".mes_production_orders'),
        orders=plan.orders - unkeyed,
        confirmation_rows=_count(con, f'select count(*) from "{schema}".mes_confirmations'),
        confirmations=_count(
            con, f'select count(distinct {trimmed("confirmation_id")}) from "{schema}".mes_confirmations'
        ),
        orphan_confirmations=plan.orphans,
        material_rows=_count(con, f'select count(*) from "{schema}".mes_materials'),
        materials=plan.materials,
        plant_rows=_count(con, f'select count(*) from "{schema}".mes_plants'),
        plants=len(mix.PLANTS),
        factories=len(factories),
        production_lines=sum(p.lines for p in factories),
        bad_orders=plan.bad_orders,
        bad_orders_by_code=tuple((code, by_code[code]) for code in mix.BAD_VARIANTS if by_code[code]),
    )

