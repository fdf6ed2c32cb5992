{#
    Incremental on DuckDB: the pre-hook deletes the rows of the plants this build recomputes (and every
    row without a location_id), and the model appends every rejected plant the mart no longer holds; a
    table rebuilt from int_locations_validated elsewhere (Spark). See the incremental_locations docs.
#}
{{ config(
    materialized=mart_materialization(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_rebuilt_locations() }}"
) }}

with

-- the pre-hook (delete_rebuilt_locations) reads {{ ref('int_locations_to_rebuild') }}
validated_locations as (

    select * from {{ ref('int_locations_validated') }}

),

{% if is_incremental() %}
stored_locations as (

    -- what the mart still holds after the pre-hook's delete (never a row without a location_id)
    select location_id from {{ this }}
    where location_id is not null

),
{% endif %}

rejected_locations as (

    select * from validated_locations
    where
        rejection_reasons is not null
        {%- if is_incremental() %}
        and (location_id is null or location_id not in (select location_id from stored_locations))
        {%- endif %}

),

final as (

    select
        -- ids
        location_id,
        rejection_reasons,
        rejection_message,

        -- trimmed source values (null = missing in the source)
        location_name as plant_name,
        is_factory_text,

        -- load metadata
        extracted_at

    from rejected_locations

)

select * from final
