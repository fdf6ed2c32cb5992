with

source as (

    select * from {{ source('mes', 'mes_plants') }}

),

cleaned as (

    select
        -- ids
        {{ clean_text('plant_code') }} as location_id,

        -- attributes
        {{ clean_text('plant_name') }} as plant_name,
        {{ clean_text('is_factory') }} as is_factory_text,
        {{ parse_boolean('is_factory') }} as is_factory,

        -- load metadata
        _extracted_at as extracted_at

    from source

)

select * from cleaned
