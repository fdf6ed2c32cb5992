{#
    Append-only log of per-order results: each build appends the rows of int_manufacturing_orders_validated
    (the orders it recomputed, and every raw order row without an order_no) with a build sequence and
    what it consumed, so the next build knows what is new. The marts read the latest result per order
    through int_manufacturing_orders_current. See the model docs.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail'
) }}

with

validated_orders as (

    select * from {{ ref('int_manufacturing_orders_validated') }}

),

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

{% if is_incremental() %}
previous_results as (

    select build_sequence from {{ this }}

),
{% endif %}

consumed as (

    select
        {% if is_incremental() -%}
        (select coalesce(max(build_sequence), 0) + 1 from previous_results)
        {%- else -%}
        1
        {%- endif %} as build_sequence,
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

final as (

    select
        validated_orders.*,
        consumed.build_sequence,
        consumed.order_load_sequence,
        consumed.confirmation_load_sequence,
        consumed.materials_extracted_through,
        consumed.materials_rows_at_watermark,
        consumed.plants_extracted_through,
        consumed.plants_rows_at_watermark
    from validated_orders
    cross join consumed

)

select * from final
