{#
    docs/behaviour.md: every current order lands in exactly one of the two marts, and every raw order row
    without an order_no is rejected once with a null order number. Reads staging (the raw rows,
    trimmed) independently of the intermediate models, so a join or filter bug there is caught.
    On an incremental build it checks the orders the build recomputed (int_orders_to_rebuild) and the
    unkeyed rows; on the first build, --full-refresh and the scheduled whole-history run
    (`--vars '{test_whole_history: true}'`), every order.
    Returns one row per order number (null = the unkeyed rows) whose count is off.
#}
{%- set scoped = not whole_history_tests() %}

with

raw_orders as (

    select order_number from {{ ref('stg_mes__production_orders') }}

),

rebuilt_orders as (

    select order_number from {{ ref('int_orders_to_rebuild') }}

),

expected as (

    select distinct
        order_number,
        1 as expected_count
    from raw_orders
    where
        order_number is not null
        and {% if scoped %}order_number in (select order_number from rebuilt_orders){% else %}true{% endif %}

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
    {%- if scoped %}
    where order_number is null or order_number in (select order_number from rebuilt_orders)
    {%- endif %}
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
