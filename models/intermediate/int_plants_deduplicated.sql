with

plants as (

    select * from {{ ref('stg_mes__plants') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by location_id
            order by
                extracted_at desc,
                -- a choice of this project: deterministic tie-break on the raw text
                is_factory_text desc nulls last,
                plant_name desc nulls last
        ) as version_rank

    from plants
    where location_id is not null

),

final as (

    select {{ star_except(['version_rank']) }}
    from ranked
    where version_rank = 1

)

select * from final
