{%- set everything = rebuilds_everything() %}

with

confirmations as (

    select * from {{ ref('int_confirmation_versions') }}

),

orders_to_rebuild as (

    select order_number from {{ ref('int_orders_to_rebuild') }}

),

confirmations_of_rebuilt_orders as (

    -- every confirmation any version of which was posted against an order this build recomputes;
    -- its current version decides which order it belongs to now
    select distinct confirmation_id
    from confirmations
    where order_number in (select order_number from orders_to_rebuild)

),

ranked as (

    select
        *,
        row_number() over (
            partition by confirmation_id
            order by
                extracted_at desc,
                -- a choice of this project: a full tie is broken on the raw text so rebuilds are deterministic
                order_number desc nulls last,
                confirmed_ts desc nulls last,
                yield_qty desc nulls last,
                scrap_qty desc nulls last,
                is_final_text desc nulls last
        ) as version_rank

    from confirmations
    -- on a full build every confirmation (those of no order are dropped by the order join downstream)
    where
        {% if everything %}confirmation_id is not null{% else %}confirmation_id in (
            select confirmation_id from confirmations_of_rebuilt_orders
        ){% endif %}

),

final as (

    select {{ star_except(['version_rank']) }}
    from ranked
    where version_rank = 1

)

select * from final
