{#
    versions_store(staging_model) -> the select of an append-only store of parsed raw rows

    The body of int_production_order_versions and int_confirmation_versions, which differ only in the
    staging model they store (the model keeps its own config: materialized incremental, strategy
    append). The first build (and --full-refresh) stores every staging row; later builds append only the
    rows whose extracted_at is at or after the latest one already stored (the watermark), each build's
    rows with the next load_sequence, so each raw row is parsed once. See the versions_store docs.
#}
{% macro versions_store(staging_model) %}
with

staged as (

    select * from {{ ref(staging_model) }}

),

{% if is_incremental() %}
stored as (

    select * from {{ this }}

),
{% endif %}

new_versions as (

    select
        staged.*,
        {% if is_incremental() -%}
        (select coalesce(max(load_sequence), 0) + 1 from stored)
        {%- else -%}
        1
        {%- endif %} as load_sequence

    from staged
    {% if is_incremental() %}
    -- at or after the watermark: a row extracted at the watermark but delivered after the last build
    -- is stored again together with its siblings (consumers take one load per extracted_at). A row
    -- without an extracted_at is stored by every build; an empty store takes every row. One comparison
    -- with constant bounds (no OR), so the engine filters the raw rows before staging parses them.
    where
        coalesce(staged.extracted_at, timestamp '9999-12-31 23:59:59')
        >= coalesce((select max(extracted_at) from stored), timestamp '0001-01-01 00:00:00')
    {% endif %}

)

select * from new_versions
{% endmacro %}
