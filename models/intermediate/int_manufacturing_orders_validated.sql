{#- the order columns this model reads, selected by name from both kinds of order rows -#}
{%- set order_columns = [
    'order_number', 'product_id', 'location_id', 'source_id',
    'created_ts', 'planned_qty', 'planned_start_ts', 'planned_end_ts', 'status_code', 'changed_ts',
    'ordered_at', 'ordered_units', 'expected_start_date', 'expected_end_date', 'status', 'changed_at',
    'extracted_at',
] -%}

with

current_orders as (

    select * from {{ ref('int_production_orders_deduplicated') }}

),

unkeyed_order_versions as (

    select * from {{ ref('int_production_order_versions') }}
    where order_number is null

),

confirmations_per_order as (

    select * from {{ ref('int_confirmations_aggregated_to_orders') }}

),

materials as (

    select * from {{ ref('int_materials_deduplicated') }}

),

plants as (

    select * from {{ ref('int_plants_deduplicated') }}

),

unkeyed_order_loads as (

    -- the versions store may hold the rows of one extracted_at from more than one build (the
    -- incremental watermark is inclusive); the latest build that stored that extracted_at has all of them
    select
        *,
        max(load_sequence) over (partition by extracted_at) as latest_load_sequence
    from unkeyed_order_versions

),

unkeyed_order_rows as (

    -- raw order rows without an order_no cannot be keyed; every such row is kept (one row each) so
    -- it is rejected with a null order number
    select * from unkeyed_order_loads
    where load_sequence = latest_load_sequence

),

orders as (

    -- both branches by name, so a column added to either model cannot shift the other's
    select {{ order_columns | join(', ') }} from current_orders
    union all
    select {{ order_columns | join(', ') }} from unkeyed_order_rows

),

joined as (

    select
        orders.*,
        confirmations_per_order.confirmation_count,
        confirmations_per_order.has_invalid_yield,
        confirmations_per_order.has_invalid_timestamp as has_invalid_confirmation_timestamp,
        confirmations_per_order.yield_units_sum,
        confirmations_per_order.first_non_reversal_confirmed_at,
        confirmations_per_order.completion_confirmed_at,
        confirmations_per_order.last_confirmed_at,
        materials.product_id is not null as is_known_product,
        plants.location_id is not null as is_known_location,
        plants.is_factory as is_factory_location

    from orders
    left join confirmations_per_order
        on orders.order_number = confirmations_per_order.order_number
    left join materials
        on orders.product_id = materials.product_id
    left join plants
        on orders.location_id = plants.location_id

),

attributes as (

    select
        *,

        -- docs/behaviour.md#contract: earliest confirmed_ts among confirmations with yield_qty >= 0
        first_non_reversal_confirmed_at as actual_start_date,

        -- docs/behaviour.md#contract: only for completed orders (see int_confirmations_aggregated_to_orders)
        case when status = 'completed' then completion_confirmed_at end as actual_end_date,

        -- docs/behaviour.md#contract: null when the order has no confirmation; a sum beyond 64 bits stays null
        -- (the order is rejected as invalid_confirmation)
        case
            when yield_units_sum between -9223372036854775808 and 9223372036854775807
                then cast(yield_units_sum as bigint)
        end as produced_units,

        -- docs/behaviour.md#contract: later of changed_ts and the latest confirmed_ts (greatest() skips nulls)
        greatest(changed_at, last_confirmed_at) as updated_at

    from joined

),

rules as (

    select
        *,

        coalesce(actual_end_date < actual_start_date, false) as is_actual_end_before_start,

        coalesce(expected_end_date < expected_start_date, false) as is_expected_end_before_start,

        (
            coalesce(has_invalid_yield, false)
            or coalesce(yield_units_sum not between -9223372036854775808 and 9223372036854775807, false)
        ) as is_invalid_confirmation,

        planned_qty is not null and coalesce(ordered_units <= 0, true) as is_invalid_ordered_units,

        (
            (created_ts is not null and ordered_at is null)
            or (planned_start_ts is not null and expected_start_date is null)
            or (planned_end_ts is not null and expected_end_date is null)
            or (changed_ts is not null and changed_at is null)
            or coalesce(has_invalid_confirmation_timestamp, false)
        ) as is_invalid_timestamp,

        location_id is not null and is_known_location and not is_factory_location as is_location_not_factory,

        (
            order_number is null
            or product_id is null
            or location_id is null
            or source_id is null
            or created_ts is null
            or planned_qty is null
            or planned_start_ts is null
            or planned_end_ts is null
            or changed_ts is null
        ) as is_missing_required,

        coalesce(yield_units_sum < 0, false) as is_negative_produced_units,

        location_id is not null and not is_known_location as is_unknown_location,

        product_id is not null and not is_known_product as is_unknown_product,

        status_code is not null and status is null as is_unknown_status

    from attributes

),

final as (

    select
        -- ids
        order_number,
        product_id,
        location_id,
        source_id,

        -- contract attributes
        ordered_at,
        ordered_units,
        expected_start_date,
        actual_start_date,
        expected_end_date,
        actual_end_date,
        produced_units,
        status,
        updated_at,

        -- docs/behaviour.md#rejection-codes: every code that applies, alphabetical, comma-separated; null when valid
        nullif(
            concat_ws(
                ',',
                case when is_actual_end_before_start then 'actual_end_before_start' end,
                case when is_expected_end_before_start then 'expected_end_before_start' end,
                case when is_invalid_confirmation then 'invalid_confirmation' end,
                case when is_invalid_ordered_units then 'invalid_ordered_units' end,
                case when is_invalid_timestamp then 'invalid_timestamp' end,
                case when is_location_not_factory then 'location_not_factory' end,
                case when is_missing_required then 'missing_required' end,
                case when is_negative_produced_units then 'negative_produced_units' end,
                case when is_unknown_location then 'unknown_location' end,
                case when is_unknown_product then 'unknown_product' end,
                case when is_unknown_status then 'unknown_status' end
            ),
            ''
        ) as rejection_reasons,

        -- trimmed source text, to help whoever fixes the source
        created_ts,
        planned_qty,
        planned_start_ts,
        planned_end_ts,
        status_code,
        changed_ts,

        -- confirmation figures
        coalesce(confirmation_count, 0) as confirmation_count,
        yield_units_sum,

        -- load metadata
        extracted_at

    from rules

)

select * from final
