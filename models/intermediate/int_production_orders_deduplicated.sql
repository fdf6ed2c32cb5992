{%- set everything = rebuilds_everything() %}

with

production_orders as (

    select * from {{ ref('int_production_order_versions') }}

),

orders_to_rebuild as (

    select order_number from {{ ref('int_orders_to_rebuild') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_number
            order by
                extracted_at desc,
                -- docs/behaviour.md#current-state: on a tie the greater parsed changed_ts wins; missing/invalid loses
                changed_at desc nulls last,
                -- a choice of this project: a full tie is broken on the raw text so rebuilds are deterministic
                changed_ts desc nulls last,
                product_id desc nulls last,
                location_id desc nulls last,
                source_id desc nulls last,
                created_ts desc nulls last,
                planned_qty desc nulls last,
                planned_start_ts desc nulls last,
                planned_end_ts desc nulls last,
                status_code desc nulls last
        ) as version_rank

    from production_orders
    -- only the orders this build recomputes (all of them on a full build), from all their versions
    where
        {% if everything %}order_number is not null{% else %}order_number in (
            select order_number from orders_to_rebuild
        ){% endif %}

),

final as (

    select {{ star_except(['version_rank']) }}
    from ranked
    where version_rank = 1

)

select * from final
