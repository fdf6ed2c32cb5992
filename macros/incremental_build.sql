{#
    The incremental build's plumbing (see the incremental_orders docs).

    keyed_state_strategy() -> the strategy of a model that keeps one row per key (int_build_state,
    int_manufacturing_orders_current): `delete+insert` on DuckDB, which replaces the rebuilt keys'
    rows in place; `append` on engines whose plain Parquet tables cannot delete rows (Spark), where
    readers keep each key's rows of the latest build (latest_build_rows).
#}
{% macro keyed_state_strategy() -%}
    {{ return(adapter.dispatch('keyed_state_strategy', 'mo_export')()) }}
{%- endmacro %}

{% macro default__keyed_state_strategy() -%}
    {{ return('append') }}
{%- endmacro %}

{% macro duckdb__keyed_state_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}


{#
    replaces_rows_in_place() -> true where keyed_state_strategy() replaces a key's rows (DuckDB), false
    where it appends them (Spark).
#}
{% macro replaces_rows_in_place() -%}
    {{ return(keyed_state_strategy() == 'delete+insert') }}
{%- endmacro %}


{#
    mart_materialization() -> `incremental` where rows can be deleted (DuckDB: a build deletes the rows of
    the orders it recomputed, then appends their new rows), else `table` (Spark: rebuilt from the current
    state on every build).
#}
{% macro mart_materialization() -%}
    {{ return('incremental' if replaces_rows_in_place() else 'table') }}
{%- endmacro %}


{#
    incremental_consumer_ids() -> the unique ids of the models that apply a build's plan: the orders' current
    state, the order marts and the location marts (which share the plants watermark). int_build_state
    counts the plan of a build as applied only when every one of them succeeded in that invocation.
#}
{% macro incremental_consumer_ids() -%}
    {{ return([
        'model.mo_export.int_manufacturing_orders_current',
        'model.mo_export.peak_manufacturing_orders',
        'model.mo_export.peak_manufacturing_orders_rejected',
        'model.mo_export.peak_locations',
        'model.mo_export.peak_locations_rejected',
    ]) }}
{%- endmacro %}


{#- build_invocation_id() -> dbt's invocation id of this command (what the build verdict records). -#}
{% macro build_invocation_id() -%}
    {{ return(invocation_id if invocation_id is defined else 'not-in-dbt') }}
{%- endmacro %}


{#
    delete_rebuilt_orders() -> pre-hook of an incremental mart: delete the rows of every order this build
    recomputes, and every row without an order number (each build recomputes all of them), so the
    append that follows leaves exactly one row per current order in the one mart it belongs to. Runs in
    the model's transaction, with the insert and the post-hook. Empty on a full build.
#}
{% macro delete_rebuilt_orders() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where
            order_number is null
            or order_number in (select order_number from {{ ref('int_orders_to_rebuild') }})
    {%- endif -%}
{%- endmacro %}


{#
    whole_history_tests() -> true when the data tests check the whole history: on `--full-refresh`, on
    the first build, and when the scheduled run sets `--vars '{test_whole_history: true}'`. Otherwise
    the tests of the incremental models check the rows the build changed (against the whole table for
    uniqueness).
#}
{% macro whole_history_tests() -%}
    {{ return(flags.FULL_REFRESH or var('test_whole_history', false)) }}
{%- endmacro %}


{#
    current_orders_ctes() -> the import CTEs of a mart, ending in `current_orders`: the current state's
    rows this build must write. An incremental mart (DuckDB) takes the rows of this build (the orders it
    recomputed; the pre-hook deleted their old rows); a mart rebuilt as a table takes every current row,
    and where the current state is append-only (Spark) each key's rows of the latest build that wrote it.
#}
{% macro current_orders_ctes() -%}
-- the pre-hook (delete_rebuilt_orders) reads {{ ref('int_orders_to_rebuild') }}
current_state as (

    select * from {{ ref('int_manufacturing_orders_current') }}

),

build_state as (

    -- the latest row (DuckDB keeps only that one; Spark appends one per build)
    select max(build_sequence) as build_sequence from {{ ref('int_build_state') }}

),
{% if is_incremental() %}
current_orders as (

    select * from current_state
    where build_sequence = (select build_sequence from build_state)

),
{% elif replaces_rows_in_place() %}
current_orders as (

    select * from current_state

),
{% else %}
ranked as (

    select
        *,
        max(build_sequence) over (partition by order_key) as latest_build_sequence
    from current_state

),

current_orders as (

    select * from ranked
    where build_sequence = latest_build_sequence

),
{% endif %}
{%- endmacro %}


{#
    rebuilds_everything() -> true when this build recomputes every order (int_build_state says so: the
    first build, --full-refresh, or after an unfinished full build). The deduplication models then rank
    every stored version without semi-joining a list of every order number, which on a full build costs
    as much as the ranking. Asked of the warehouse when the model runs (int_build_state is built
    before); false in unit tests, which give int_orders_to_rebuild as a fixture.
#}
{% macro rebuilds_everything() -%}
    {%- set build_state = ref('int_build_state') -%}
    {%- if flags.FULL_REFRESH -%}
        {{- return(true) -}}
    {%- endif -%}
    {%- if execute and model is defined and model.resource_type == 'model' -%}
        {%- set found = run_query(
            'select rebuild_everything from ' ~ build_state
            ~ ' where build_sequence = (select max(build_sequence) from ' ~ build_state ~ ')'
        ) -%}
        {{- return(found.rows | length == 0 or found.rows[0][0]) -}}
    {%- endif -%}
    {{- return(false) -}}
{%- endmacro %}
