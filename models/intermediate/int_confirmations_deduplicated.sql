with

confirmations as (

    select * from {{ ref('stg_mes__confirmations') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by confirmation_id
            order by
                extracted_at desc,
                -- not in SPEC: a full tie is broken on the raw text so rebuilds are deterministic
                order_number desc nulls last,
                confirmed_ts desc nulls last,
                yield_qty desc nulls last,
                scrap_qty desc nulls last,
                is_final_text desc nulls last
        ) as version_rank

    from confirmations
    where confirmation_id is not null

),

final as (

    select {{ star_except(['version_rank']) }}
    from ranked
    where version_rank = 1

)

select * from final
