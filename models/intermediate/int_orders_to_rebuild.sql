{#
    The order numbers this build recomputes (every order on the first build and on --full-refresh).
    What the previous build already processed is read from int_order_results, the append-only model of
    per-order results at the end of the chain. It is looked up by name, not by ref(): a ref would make a
    cycle, since int_order_results is built from this model's output. See the model docs.
#}
{%- set previous_results = adapter.get_relation(
    database=this.database, schema=this.schema, identifier='int_order_results'
) if execute else none -%}
{%- set rebuild_everything = previous_results is none or flags.FULL_REFRESH -%}

with

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

{% if rebuild_everything %}

to_rebuild as (

    select order_number from order_versions

),

{% else %}

previous_results as (

    select * from {{ previous_results }}

),

previous_build as (

    -- what the latest build consumed: the versions stores' load sequences and the master-data
    -- watermarks (the greatest extracted_at, and how many rows carried it)
    select
        coalesce(max(order_load_sequence), 0) as order_load_sequence,
        coalesce(max(confirmation_load_sequence), 0) as confirmation_load_sequence,
        max(materials_extracted_through) as materials_extracted_through,
        max(materials_rows_at_watermark) as materials_rows_at_watermark,
        max(plants_extracted_through) as plants_extracted_through,
        max(plants_rows_at_watermark) as plants_rows_at_watermark
    from previous_results
    where build_sequence = (select max(build_sequence) from previous_results)

),

materials_at_watermark as (

    select count(*) as row_count
    from materials
    where extracted_at = (select materials_extracted_through from previous_build)

),

plants_at_watermark as (

    select count(*) as row_count
    from plants
    where extracted_at = (select plants_extracted_through from previous_build)

),

changed_materials as (

    -- later than the watermark, or at it when rows were re-delivered there since
    select materials.product_id
    from materials
    cross join previous_build
    cross join materials_at_watermark
    where
        materials.extracted_at > previous_build.materials_extracted_through
        or materials.extracted_at is null
        or previous_build.materials_extracted_through is null
        or (
            materials.extracted_at = previous_build.materials_extracted_through
            and materials_at_watermark.row_count <> previous_build.materials_rows_at_watermark
        )

),

changed_plants as (

    select plants.location_id
    from plants
    cross join previous_build
    cross join plants_at_watermark
    where
        plants.extracted_at > previous_build.plants_extracted_through
        or plants.extracted_at is null
        or previous_build.plants_extracted_through is null
        or (
            plants.extracted_at = previous_build.plants_extracted_through
            and plants_at_watermark.row_count <> previous_build.plants_rows_at_watermark
        )

),

orders_with_new_versions as (

    select order_number
    from order_versions
    where load_sequence > (select order_load_sequence from previous_build)

),

changed_confirmation_ids as (

    select confirmation_id
    from confirmation_versions
    where load_sequence > (select confirmation_load_sequence from previous_build)

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

    select order_number from orders_with_new_versions
    union all
    select order_number from orders_of_changed_confirmations
    union all
    select order_number from orders_of_changed_master_data

),

{% endif %}

final as (

    select distinct order_number
    from to_rebuild
    where order_number is not null

)

select * from final
