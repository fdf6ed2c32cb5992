with

source as (

    select * from {{ source('mes', 'mes_confirmations') }}

),

cleaned as (

    select
        -- ids
        {{ clean_text('confirmation_id') }} as confirmation_id,
        {{ clean_text('order_no') }} as order_number,

        -- trimmed source text (null when missing)
        {{ clean_text('confirmed_ts') }} as confirmed_ts,
        {{ clean_text('yield_qty') }} as yield_qty,
        {{ clean_text('scrap_qty') }} as scrap_qty,
        {{ clean_text('is_final') }} as is_final_text,

        -- parsed values (null when missing or invalid; is_final never null)
        {{ parse_timestamp('confirmed_ts') }} as confirmed_at,
        {{ parse_whole_number('yield_qty') }} as yield_units,
        {{ parse_whole_number('scrap_qty') }} as scrap_units,
        {{ parse_boolean('is_final') }} as is_final,

        -- load metadata
        _extracted_at as extracted_at

    from source

)

select * from cleaned
