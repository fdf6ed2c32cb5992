{#
    The plants (location_ids) this build recomputes in the location marts: every plant when int_build_state
    says so (the first build, --full-refresh, or after a full build that did not finish), otherwise the
    plants with a version that arrived since the last applied build (the plants watermark, the same rule
    int_orders_to_rebuild applies to the orders of a changed plant). See the incremental_locations docs.
#}

with

build_state as (

    -- the latest row (DuckDB keeps only that one; Spark appends one per build)
    select * from {{ ref('int_build_state') }}
    where build_sequence = (select max(build_sequence) from {{ ref('int_build_state') }})

),

plants as (

    select
        location_id,
        extracted_at
    from {{ ref('stg_mes__plants') }}

),

plants_at_watermark as (

    select count(*) as row_count
    from plants
    where extracted_at = (select since_plants_extracted_through from build_state)

),

changed_plants as (

    -- every plant on a full build; else later than the watermark, or at it when rows were re-delivered
    -- there since
    select plants.location_id
    from plants
    cross join build_state
    cross join plants_at_watermark
    where
        build_state.rebuild_everything
        or plants.extracted_at > build_state.since_plants_extracted_through
        or plants.extracted_at is null
        or build_state.since_plants_extracted_through is null
        or (
            plants.extracted_at = build_state.since_plants_extracted_through
            and plants_at_watermark.row_count <> build_state.since_plants_rows_at_watermark
        )

),

final as (

    select distinct location_id
    from changed_plants
    where location_id is not null

)

select * from final
