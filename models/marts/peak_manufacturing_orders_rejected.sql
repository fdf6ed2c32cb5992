with

validated_orders as (

    select * from {{ ref('int_manufacturing_orders_current') }}

),

final as (

    select
        -- ids
        order_number,
        rejection_reasons,

        -- trimmed source values (null = missing in the source)
        product_id as material_code,
        location_id as plant_code,
        source_id as line_code,
        created_ts,
        planned_qty,
        planned_start_ts,
        planned_end_ts,
        status_code,
        changed_ts,

        -- confirmation figures
        confirmation_count,
        yield_units_sum as produced_units_sum,

        -- load metadata
        extracted_at

    from validated_orders
    where rejection_reasons is not null

)

select * from final
