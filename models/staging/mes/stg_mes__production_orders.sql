with

source as (

    select * from {{ source('mes', 'mes_production_orders') }}

),

cleaned as (

    select
        -- ids
        {{ clean_text('order_no') }} as order_number,
        {{ clean_text('material_code') }} as product_id,
        {{ clean_text('plant_code') }} as location_id,
        {{ clean_text('line_code') }} as source_id,

        -- trimmed source text (null when missing)
        {{ clean_text('created_ts') }} as created_ts,
        {{ clean_text('planned_qty') }} as planned_qty,
        {{ clean_text('planned_start_ts') }} as planned_start_ts,
        {{ clean_text('planned_end_ts') }} as planned_end_ts,
        {{ clean_text('status_code') }} as status_code,
        {{ clean_text('changed_ts') }} as changed_ts,

        -- parsed values (null when missing or invalid)
        {{ parse_timestamp('created_ts') }} as ordered_at,
        {{ parse_whole_number('planned_qty') }} as ordered_units,
        {{ parse_timestamp('planned_start_ts') }} as expected_start_date,
        {{ parse_timestamp('planned_end_ts') }} as expected_end_date,
        {{ map_status('status_code') }} as status,
        {{ parse_timestamp('changed_ts') }} as changed_at,

        -- load metadata
        _extracted_at as extracted_at

    from source

)

select * from cleaned
