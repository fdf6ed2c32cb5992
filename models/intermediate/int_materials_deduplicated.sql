with

materials as (

    select * from {{ ref('stg_mes__materials') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by product_id
            order by
                extracted_at desc,
                -- a choice of this project: deterministic tie-break on the raw text
                description desc nulls last
        ) as version_rank

    from materials
    where product_id is not null

),

final as (

    select {{ star_except(['version_rank']) }}
    from ranked
    where version_rank = 1

)

select * from final
