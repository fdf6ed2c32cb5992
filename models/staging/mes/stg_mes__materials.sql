with

source as (

    select * from {{ source('mes', 'mes_materials') }}

),

cleaned as (

    select
        -- ids
        {{ clean_text('material_code') }} as product_id,

        -- attributes
        {{ clean_text('description') }} as description,

        -- load metadata
        _extracted_at as extracted_at

    from source

)

select * from cleaned
