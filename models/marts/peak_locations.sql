{#
    Incremental on DuckDB: the pre-hook deletes the rows of the plants this build recomputes (and the rows
    whose var-filled columns differ from this build's vars), and the model appends every valid location
    the mart no longer holds; a table rebuilt from int_locations_validated elsewhere (Spark). See the
    incremental_locations docs.
#}
{{ config(
    materialized=mart_materialization(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_rebuilt_locations(compare_defaults=true) }}"
) }}

with

-- the pre-hook (delete_rebuilt_locations) reads {{ ref('int_locations_to_rebuild') }}
validated_locations as (

    select * from {{ ref('int_locations_validated') }}

),

{% if is_incremental() %}
stored_locations as (

    -- what the mart still holds after the pre-hook's delete
    select location_id from {{ this }}

),
{% endif %}

valid_locations as (

    select * from validated_locations
    where
        rejection_reasons is null
        {%- if is_incremental() %}
        and location_id not in (select location_id from stored_locations)
        {%- endif %}

),

final as (

    select
        -- ids
        cast(location_id as string) as location_id,

        -- attributes
        cast(location_name as string) as location_name,
        cast(country as string) as country,
        cast(is_store as boolean) as is_store,
        cast(is_dc as boolean) as is_dc,
        cast(is_factory as boolean) as is_factory,

        -- change tracking
        cast(updated_at as timestamp) as updated_at

    from valid_locations

)

select * from final
