{#
    docs/behaviour.md: every current order lands in exactly one of the two marts, and every raw order row
    without an order_no is rejected once with a null order number. Reads staging (the raw rows,
    trimmed) independently of the intermediate models, so a join or filter bug there is caught.
    Returns one row per order number (null = the unkeyed rows) whose count is off.
#}
with

raw_orders as (

    select order_number from {{ ref('stg_mes__production_orders') }}

),

expected as (

    select distinct
        order_number,
        1 as expected_count
    from raw_orders
    where order_number is not null

    union all

    select
        null as order_number,
        count(*) as expected_count
    from raw_orders
    where order_number is null

),

landed as (

    select order_number from {{ ref('peak_manufacturing_orders') }}
    union all
    select order_number from {{ ref('peak_manufacturing_orders_rejected') }}

),

landed_counts as (

    select
        order_number,
        count(*) as landed_count
    from landed
    group by order_number

),

final as (

    select
        coalesce(expected.order_number, landed_counts.order_number) as order_number,
        coalesce(expected.expected_count, 0) as expected_count,
        coalesce(landed_counts.landed_count, 0) as landed_count
    from expected
    full outer join landed_counts
        on expected.order_number is not distinct from landed_counts.order_number
    where coalesce(expected.expected_count, 0) <> coalesce(landed_counts.landed_count, 0)

)

select * from final
