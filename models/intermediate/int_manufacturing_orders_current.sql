{{ config(materialized="view") }}

with

order_results as (

    select * from {{ ref('int_order_results') }}

),

ranked as (

    select
        *,
        -- raw order rows without an order_no share the null partition: every build recomputes all
        -- of them, so the latest build's rows are exactly the current ones
        max(build_sequence) over (partition by order_number) as latest_build_sequence
    from order_results

),

final as (

    select * from ranked
    where build_sequence = latest_build_sequence

)

select * from final
