{#
    Every plant, validated against the Locations object (docs/locations.md): all plants on every build,
    since the plant master is small; the incremental location marts then rewrite only the rows of the
    plants int_locations_to_rebuild lists. See the incremental_locations docs.
#}

with

current_plants as (

    select * from {{ ref('int_plants_deduplicated') }}

),

raw_plants as (

    select * from {{ ref('stg_mes__plants') }}

),

unkeyed_plant_rows as (

    -- raw plant rows without a plant_code are no version of any plant (docs/behaviour.md#current-state);
    -- each is listed as rejected, one row each, so the loss is visible
    select * from raw_plants
    where location_id is null

),

plants as (

    select
        location_id,
        plant_name,
        is_factory_text,
        is_factory,
        extracted_at
    from current_plants

    union all

    select
        location_id,
        plant_name,
        is_factory_text,
        is_factory,
        extracted_at
    from unkeyed_plant_rows

),

rules as (

    select
        *,
        location_id is null as is_missing_plant_code,
        extracted_at is null as is_missing_extracted_at
    from plants

),

final as (

    select
        -- ids
        location_id,

        -- attributes (country, is_store, is_dc: dbt vars, the MES has none)
        plant_name as location_name,
        {{ location_country() }} as country,
        {{ location_flag('location_is_store') }} as is_store,
        {{ location_flag('location_is_dc') }} as is_dc,
        is_factory,

        -- change tracking: when the plant's current version was extracted, in whole seconds
        cast(date_trunc('second', extracted_at) as timestamp) as updated_at,

        -- docs/locations.md#rejected-plants: every code that applies, alphabetical; null when valid
        case
            when is_missing_plant_code or is_missing_extracted_at then 'missing_required'
        end as rejection_reasons,
        nullif(
            concat_ws(
                '; ',
                case when is_missing_plant_code then 'plant_code is missing' end,
                case when is_missing_extracted_at then '_extracted_at is missing' end
            ),
            ''
        ) as rejection_message,

        -- trimmed source text, to help whoever fixes the source
        is_factory_text,

        -- load metadata
        extracted_at

    from rules

)

select * from final
