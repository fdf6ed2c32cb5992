{#
    Incremental on DuckDB: the pre-hook deletes the rows of the orders this build recomputes (and every
    row without an order number) and the model appends their current rows that fail a rule; a table
    rebuilt from the current state elsewhere (Spark). See the incremental_orders docs.
#}
{{ config(
    materialized=mart_materialization(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_rebuilt_orders() }}"
) }}

with

{{ current_orders_ctes() }}

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

    from current_orders
    where rejection_reasons is not null

)

select * from final
