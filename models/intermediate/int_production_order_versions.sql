{#
    Incremental store of the parsed raw order rows, so each raw row is parsed once: the first build
    (and --full-refresh) stores every staging row; later builds append only the rows of staging whose
    extracted_at is at or after the latest one already stored (the watermark). See the model docs.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail'
) }}

with

production_orders as (

    select * from {{ ref('stg_mes__production_orders') }}

),

{% if is_incremental() %}
stored as (

    select * from {{ this }}

),
{% endif %}

new_versions as (

    select
        production_orders.*,
        {% if is_incremental() -%}
        (select coalesce(max(load_sequence), 0) + 1 from stored)
        {%- else -%}
        1
        {%- endif %} as load_sequence

    from production_orders
    {% if is_incremental() %}
    -- at or after the watermark: a row extracted at the watermark but delivered after the last build
    -- is stored again together with its siblings (consumers take one load per extracted_at)
    where production_orders.extracted_at >= (select max(extracted_at) from stored)
        or (select max(extracted_at) from stored) is null
        or production_orders.extracted_at is null
    {% endif %}

)

select * from new_versions
