{#
    versions_store(staging_model) -> the select of an append-only store of parsed raw rows

    The body of int_production_order_versions and int_confirmation_versions, which differ only in the
    staging model they store (the model keeps its own config: materialized incremental, strategy
    append). The first build (and --full-refresh) stores every staging row; later builds append only the
    rows whose extracted_at is after the latest one already stored (the watermark), and all rows at the
    watermark when more of them arrived since, each build's rows with the next load_sequence, so each
    raw row is parsed once and a build in which nothing arrived stores nothing. See the versions_store docs.
#}
{% macro versions_store(staging_model) %}
with

staged as (

    select * from {{ ref(staging_model) }}

),

{% if is_incremental() %}
watermark as (

    -- one row. The store and staging are read directly in each of these small aggregates, never
    -- through a CTE referenced twice, which the engine may materialise (the whole parsed staging)
    select
        max(extracted_at) as extracted_at,
        coalesce(max(load_sequence), 0) as load_sequence
    from {{ this }}

),

stored_at_watermark as (

    -- the rows of the watermark's extraction the store knows: the latest load that stored it has all
    select count(*) as row_count
    from {{ this }}
    where
        extracted_at = (select extracted_at from watermark)
        and load_sequence = (
            select max(load_sequence) from {{ this }}
            where extracted_at = (select extracted_at from watermark)
        )

),

staged_at_watermark as (

    select count(*) as row_count
    from {{ ref(staging_model) }}
    where extracted_at = (select extracted_at from watermark)

),
{% endif %}

new_versions as (

    select
        staged.*,
        {% if is_incremental() -%}
        (select load_sequence + 1 from watermark)
        {%- else -%}
        1
        {%- endif %} as load_sequence

    from staged
    {% if is_incremental() %}
    -- after the watermark, or at it when rows extracted then were delivered after the last build (the
    -- row count at the watermark grew): then every row of that extraction is stored again together
    -- (consumers take one load per extracted_at). A row without an extracted_at is stored by every
    -- build; an empty store takes every row. The first comparison has constant bounds, so the engine
    -- filters the raw rows before staging parses them; nothing at all is stored when nothing arrived.
    where
        coalesce(staged.extracted_at, timestamp '9999-12-31 23:59:59')
        >= coalesce((select extracted_at from watermark), timestamp '0001-01-01 00:00:00')
        and (
            coalesce(staged.extracted_at, timestamp '9999-12-31 23:59:59')
            > coalesce((select extracted_at from watermark), timestamp '0001-01-01 00:00:00')
            or (select row_count from staged_at_watermark) <> (select row_count from stored_at_watermark)
        )
    {% endif %}

)

select * from new_versions
{% endmacro %}
