{#-
    on-run-end: record how each node of a `dbt build`, `dbt run` or `dbt test` ended, in the warehouse
    itself (schema mo_export_build), so the exporter checks the build of the very file it exports,
    whatever dbt command ran after it. A `dbt run` is recorded too: it rebuilds models without their tests.
-#}
{% macro record_build_verdict(results) %}
    {%- if not execute or flags.WHICH not in ('build', 'run', 'test') or not results -%}
        {{ return('') }}
    {%- endif -%}
    {#- Spark has no database level above the schema: its target has no `database` at all -#}
    {%- set relation = api.Relation.create(
        database=target.get('database'), schema='mo_export_build', identifier='node_results') -%}
    {%- set selection = (invocation_args_dict.get('select') or []) | join(' ') -%}
    {%- do adapter.create_schema(relation) -%}
    {%- call statement('create_build_verdicts') -%}
        create table if not exists {{ relation }} (
            invocation_id {{ dbt.type_string() }},
            command {{ dbt.type_string() }},
            selection {{ dbt.type_string() }},
            unique_id {{ dbt.type_string() }},
            resource_type {{ dbt.type_string() }},
            status {{ dbt.type_string() }},
            message {{ dbt.type_string() }},
            started_at {{ dbt.type_string() }},
            recorded_at {{ dbt.type_timestamp() }}
        ) {{ verdict_table_storage() }}
    {%- endcall -%}
    {%- for chunk in results | batch(200) -%}
        {%- call statement('insert_build_verdicts') -%}
            insert into {{ relation }}
            (invocation_id, command, selection, unique_id, resource_type, status, message, started_at, recorded_at)
            values
            {%- for result in chunk %}
            ('{{ invocation_id }}', '{{ flags.WHICH }}', '{{ dbt.escape_single_quotes(selection) }}',
             '{{ result.node.unique_id }}', '{{ result.node.resource_type }}', '{{ result.status }}',
             '{{ dbt.escape_single_quotes(((result.message or '') | string)[:500]) }}',
             '{{ run_started_at.isoformat() }}', {{ dbt.current_timestamp() }}){{ ',' if not loop.last }}
            {%- endfor %}
        {%- endcall -%}
    {%- endfor -%}
    {#- dbt-duckdb leaves a hook's statements in an open transaction: make the verdict durable now
        (adapters without transactions, such as Spark, write each statement at once) -#}
    {%- if target.type == 'duckdb' -%}
        {%- do adapter.commit() -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}

{#- How the verdict table is stored: on Spark as plain Parquet files, which the exporter reads with
    DuckDB's read_parquet (mo-export run --target spark); other engines keep their own table format. -#}
{% macro verdict_table_storage() %}
    {{- return(adapter.dispatch('verdict_table_storage', 'mo_export')()) -}}
{% endmacro %}

{% macro default__verdict_table_storage() %}{{ return('') }}{% endmacro %}

{% macro spark__verdict_table_storage() %}{{ return('using parquet') }}{% endmacro %}
