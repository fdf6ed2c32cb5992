{#
    Incremental store of the parsed raw confirmation rows, so each raw row is parsed once (macros/versions_store.sql):
    the first build (and --full-refresh) stores every staging row; later builds append only the rows of
    staging whose extracted_at is after the latest one already stored (the watermark), or at it when more
    rows of that extraction arrived since. See the model docs.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail'
) }}

{{ versions_store('stg_mes__confirmations') }}
