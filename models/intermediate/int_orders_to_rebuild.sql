{#
    The order numbers this build recomputes: every order when int_build_state says so (the first build,
    --full-refresh, or after a full build that did not finish), otherwise the orders that what arrived
    since the last applied build can change. See the incremental_orders docs.
#}

with

build_state as (

    -- the latest row (DuckDB keeps only that one; Spark appends one per build)
    select * from {{ ref('int_build_state') }}
    where build_sequence = (select max(build_sequence) from {{ ref('int_build_state') }})

),

order_versions as (

    select
        order_number,
        product_id,
        location_id,
        load_sequence
    from {{ ref('int_production_order_versions') }}

),

confirmation_versions as (

    select
        confirmation_id,
        order_number,
        load_sequence
    from {{ ref('int_confirmation_versions') }}

),

materials as (

    select
        product_id,
        extracted_at
    from {{ ref('stg_mes__materials') }}

),

plants as (

    select
        location_id,
        extracted_at
    from {{ ref('stg_mes__plants') }}

),

every_order as (

    select order_versions.order_number
    from order_versions
    where (select rebuild_everything from build_state)

),

materials_at_watermark as (

    select count(*) as row_count
    from materials
    where extracted_at = (select since_materials_extracted_through from build_state)

),

plants_at_watermark as (

    select count(*) as row_count
    from plants
    where extracted_at = (select since_plants_extracted_through from build_state)

),

changed_materials as (

    -- later than the watermark, or at it when rows were re-delivered there since
    select materials.product_id
    from materials
    cross join build_state
    cross join materials_at_watermark
    where
        not build_state.rebuild_everything
        and (
            materials.extracted_at > build_state.since_materials_extracted_through
            or materials.extracted_at is null
            or build_state.since_materials_extracted_through is null
            or (
                materials.extracted_at = build_state.since_materials_extracted_through
                and materials_at_watermark.row_count <> build_state.since_materials_rows_at_watermark
            )
        )

),

changed_plants as (

    select plants.location_id
    from plants
    cross join build_state
    cross join plants_at_watermark
    where
        not build_state.rebuild_everything
        and (
            plants.extracted_at > build_state.since_plants_extracted_through
            or plants.extracted_at is null
            or build_state.since_plants_extracted_through is null
            or (
                plants.extracted_at = build_state.since_plants_extracted_through
                and plants_at_watermark.row_count <> build_state.since_plants_rows_at_watermark
            )
        )

),

orders_with_new_versions as (

    select order_versions.order_number
    from order_versions
    cross join build_state
    where
        not build_state.rebuild_everything
        and order_versions.load_sequence > coalesce(build_state.since_order_load_sequence, 0)

),

changed_confirmation_ids as (

    select confirmation_versions.confirmation_id
    from confirmation_versions
    cross join build_state
    where
        not build_state.rebuild_everything
        and confirmation_versions.load_sequence > coalesce(build_state.since_confirmation_load_sequence, 0)

),

orders_of_changed_confirmations as (

    -- every order any version of a changed confirmation was posted against: a confirmation can move
    -- from one order to another
    select order_number
    from confirmation_versions
    where confirmation_id in (select confirmation_id from changed_confirmation_ids)

),

orders_of_changed_master_data as (

    -- any version's material or plant: a superset of the current ones, found without ranking versions
    select order_number
    from order_versions
    where
        product_id in (select product_id from changed_materials)
        or location_id in (select location_id from changed_plants)

),

to_rebuild as (

    select order_number from every_order
    union all
    select order_number from orders_with_new_versions
    union all
    select order_number from orders_of_changed_confirmations
    union all
    select order_number from orders_of_changed_master_data

),

final as (

    select distinct order_number
    from to_rebuild
    where order_number is not null

)

select * from final
