{#
    docs/locations.md: every plant (trimmed plant_code) lands in exactly one of the two location marts, and
    every raw plant row without a plant_code is rejected once with a null location_id. Reads staging (the
    raw rows, trimmed) independently of the intermediate models, so a join or filter bug there is caught.
    On an incremental build it checks the plants the build recomputed (int_locations_to_rebuild) and the
    unkeyed rows; on the first build, --full-refresh and the scheduled whole-history run
    (`--vars '{test_whole_history: true}'`), every plant.
    Returns one row per location_id (null = the unkeyed rows) whose count is off.
#}
{%- set scoped = not whole_history_tests() %}

with

raw_plants as (

    select location_id from {{ ref('stg_mes__plants') }}

),

rebuilt_locations as (

    select location_id from {{ ref('int_locations_to_rebuild') }}

),

expected as (

    select distinct
        location_id,
        1 as expected_count
    from raw_plants
    where
        location_id is not null
        and {% if scoped %}location_id in (select location_id from rebuilt_locations){% else %}true{% endif %}

    union all

    select
        null as location_id,
        count(*) as expected_count
    from raw_plants
    where location_id is null

),

landed as (

    select location_id from {{ ref('peak_locations') }}
    union all
    select location_id from {{ ref('peak_locations_rejected') }}

),

landed_counts as (

    select
        location_id,
        count(*) as landed_count
    from landed
    {%- if scoped %}
    where location_id is null or location_id in (select location_id from rebuilt_locations)
    {%- endif %}
    group by location_id

),

final as (

    select
        coalesce(expected.location_id, landed_counts.location_id) as location_id,
        coalesce(expected.expected_count, 0) as expected_count,
        coalesce(landed_counts.landed_count, 0) as landed_count
    from expected
    full outer join landed_counts
        on expected.location_id is not distinct from landed_counts.location_id
    where coalesce(expected.expected_count, 0) <> coalesce(landed_counts.landed_count, 0)

)

select * from final
