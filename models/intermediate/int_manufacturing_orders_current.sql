{#
    The current state: one row per order (and per raw order row without an order_no), replaced in place
    for the orders a build recomputes (DuckDB: delete+insert on order_key). On Spark, whose Parquet
    tables cannot delete rows, each build appends its rows and the marts keep each key's rows of the
    latest build. See the incremental_orders docs.
#}
{{ config(
    materialized='incremental',
    incremental_strategy=keyed_state_strategy(),
    unique_key='order_key',
    on_schema_change='fail'
) }}

with

validated_orders as (

    select * from {{ ref('int_manufacturing_orders_validated') }}

),

build_state as (

    -- the latest row (DuckDB keeps only that one; Spark appends one per build)
    select max(build_sequence) as build_sequence from {{ ref('int_build_state') }}

),

final as (

    select
        validated_orders.*,
        -- raw order rows without an order_no share one key: every build recomputes all of them, so
        -- replacing that key's rows keeps exactly the latest build's (no order_no is ever empty text)
        coalesce(validated_orders.order_number, '') as order_key,
        build_state.build_sequence
    from validated_orders
    cross join build_state

)

select * from final
