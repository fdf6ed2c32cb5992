{#
    What this build consumes and from where it starts (see the incremental_orders docs): one row on
    DuckDB (delete+insert on state_key), one row per build on Spark (append; the latest counts).
    The previous row is read through {{ this }}; whether the previous build applied its plan to every
    incremental consumer is read from the build verdict (stg_mo_export_build__node_results).
#}
{{ config(
    materialized='incremental',
    incremental_strategy=keyed_state_strategy(),
    unique_key='state_key',
    on_schema_change='fail'
) }}

{%- set consumers = incremental_consumer_ids() %}

with

order_versions as (

    select load_sequence from {{ ref('int_production_order_versions') }}

),

confirmation_versions as (

    select load_sequence from {{ ref('int_confirmation_versions') }}

),

materials as (

    select extracted_at from {{ ref('stg_mes__materials') }}

),

plants as (

    select extracted_at from {{ ref('stg_mes__plants') }}

),

verdicts as (

    -- the build verdict: did the previous build's plan reach every incremental model?
    select * from {{ ref('stg_mo_export_build__node_results') }}

),

{% if is_incremental() %}

stored_states as (

    select * from {{ this }}

),

previous_state as (

    select * from stored_states
    where build_sequence = (select max(build_sequence) from stored_states)

),

previous_applied as (

    -- the previous build's plan reached the current state and the order and location marts
    select count(distinct verdicts.unique_id) = {{ consumers | length }} as is_applied
    from verdicts
    inner join previous_state
        on verdicts.invocation_id = previous_state.invocation_id
    where
        verdicts.status = 'success'
        and verdicts.unique_id in (
            '{{ consumers | join("', '") }}'
        )

),

{% endif %}

consumed as (

    -- what this build reads up to: the versions stores' load sequences and the master-data watermarks
    select
        (select max(load_sequence) from order_versions) as order_load_sequence,
        (select max(load_sequence) from confirmation_versions) as confirmation_load_sequence,
        (select max(extracted_at) from materials) as materials_extracted_through,
        (
            select count(*) from materials
            where extracted_at = (select max(extracted_at) from materials)
        ) as materials_rows_at_watermark,
        (select max(extracted_at) from plants) as plants_extracted_through,
        (
            select count(*) from plants
            where extracted_at = (select max(extracted_at) from plants)
        ) as plants_rows_at_watermark

),

{% if is_incremental() %}

baseline as (

    -- where this build starts: what the last applied build consumed. When the previous build did not
    -- apply its plan (a failure, a kill, a partial selection), its own starting point is kept.
    select
        previous_state.build_sequence,
        case
            when previous_applied.is_applied then false
            else previous_state.rebuild_everything
        end as rebuild_everything,
        case
            when previous_applied.is_applied then previous_state.order_load_sequence
            else previous_state.since_order_load_sequence
        end as since_order_load_sequence,
        case
            when previous_applied.is_applied then previous_state.confirmation_load_sequence
            else previous_state.since_confirmation_load_sequence
        end as since_confirmation_load_sequence,
        case
            when previous_applied.is_applied then previous_state.materials_extracted_through
            else previous_state.since_materials_extracted_through
        end as since_materials_extracted_through,
        case
            when previous_applied.is_applied then previous_state.materials_rows_at_watermark
            else previous_state.since_materials_rows_at_watermark
        end as since_materials_rows_at_watermark,
        case
            when previous_applied.is_applied then previous_state.plants_extracted_through
            else previous_state.since_plants_extracted_through
        end as since_plants_extracted_through,
        case
            when previous_applied.is_applied then previous_state.plants_rows_at_watermark
            else previous_state.since_plants_rows_at_watermark
        end as since_plants_rows_at_watermark
    from previous_state
    cross join previous_applied

),

{% else %}

baseline as (

    -- the first build (or --full-refresh): no previous build, everything is recomputed
    select
        cast(0 as bigint) as build_sequence,
        true as rebuild_everything,
        cast(null as bigint) as since_order_load_sequence,
        cast(null as bigint) as since_confirmation_load_sequence,
        cast(null as timestamp) as since_materials_extracted_through,
        cast(null as bigint) as since_materials_rows_at_watermark,
        cast(null as timestamp) as since_plants_extracted_through,
        cast(null as bigint) as since_plants_rows_at_watermark

),

{% endif %}

final as (

    select
        -- ids
        'latest' as state_key,
        coalesce(baseline.build_sequence, 0) + 1 as build_sequence,
        '{{ build_invocation_id() }}' as invocation_id,

        -- where this build starts (null on a full build)
        coalesce(baseline.rebuild_everything, true) as rebuild_everything,
        cast(baseline.since_order_load_sequence as bigint) as since_order_load_sequence,
        cast(baseline.since_confirmation_load_sequence as bigint) as since_confirmation_load_sequence,
        cast(baseline.since_materials_extracted_through as timestamp) as since_materials_extracted_through,
        cast(baseline.since_materials_rows_at_watermark as bigint) as since_materials_rows_at_watermark,
        cast(baseline.since_plants_extracted_through as timestamp) as since_plants_extracted_through,
        cast(baseline.since_plants_rows_at_watermark as bigint) as since_plants_rows_at_watermark,

        -- what this build consumes
        cast(consumed.order_load_sequence as bigint) as order_load_sequence,
        cast(consumed.confirmation_load_sequence as bigint) as confirmation_load_sequence,
        cast(consumed.materials_extracted_through as timestamp) as materials_extracted_through,
        cast(consumed.materials_rows_at_watermark as bigint) as materials_rows_at_watermark,
        cast(consumed.plants_extracted_through as timestamp) as plants_extracted_through,
        cast(consumed.plants_rows_at_watermark as bigint) as plants_rows_at_watermark

    from consumed
    -- no previous row (an empty store): baseline is empty and everything is recomputed
    left join baseline on true

)

select * from final
