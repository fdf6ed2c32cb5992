with

validated_orders as (

    select * from {{ ref('int_manufacturing_orders_current') }}

),

final as (

    select
        -- ids
        cast(order_number as string) as order_number,
        cast(product_id as string) as product_id,
        cast(location_id as string) as location_id,
        cast(source_id as string) as source_id,

        -- ordered
        cast(ordered_at as timestamp) as ordered_at,
        cast(ordered_units as bigint) as ordered_units,

        -- schedule and progress
        cast(expected_start_date as timestamp) as expected_start_date,
        cast(actual_start_date as timestamp) as actual_start_date,
        cast(expected_end_date as timestamp) as expected_end_date,
        cast(actual_end_date as timestamp) as actual_end_date,
        cast(produced_units as bigint) as produced_units,
        cast(status as string) as status,

        -- change tracking
        cast(updated_at as timestamp) as updated_at

    from validated_orders
    where rejection_reasons is null

)

select * from final
