with

production_orders as (

    select * from {{ ref('stg_mes__production_orders') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_number
            order by
                extracted_at desc,
                -- SPEC 4: on a tie the greater parsed changed_ts wins; missing/invalid loses
                changed_at desc nulls last,
                -- not in SPEC: a full tie is broken on the raw text so rebuilds are deterministic
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
    where order_number is not null

),

final as (

    select {{ star_except(['version_rank']) }}
    from ranked
    where version_rank = 1

)

select * from final
