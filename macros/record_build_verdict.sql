{#-
    on-run-end: record how each node of a `dbt build`, `dbt run` or `dbt test` ended, in the warehouse
    itself (schema mo_export_build), so the exporter checks the build of the very file it exports,
    whatever dbt command ran after it. A `dbt run` is recorded too: it rebuilds models without their tests.
-#}
{% macro record_build_verdict(results) %}
    {%- if not _records_build_verdicts() or not results -%}
        {{ return('') }}
    {%- endif -%}
    {%- set relation = _build_verdict_relation() -%}
    {%- do create_build_verdict_table() -%}
    {%- for chunk in results | batch(200) -%}
        {%- call statement('insert_build_verdicts') -%}
            insert into {{ relation }}
            (invocation_id, command, selection, unique_id, resource_type, status, message, started_at, recorded_at)
            values
            {%- for result in chunk %}
            {{ _build_verdict_values(result.node.unique_id, result.node.resource_type, result.status,
                                     ((result.message or '') | string)[:500]) }}{{ ',' if not loop.last }}
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


{#-
    on-run-start: create mo_export_build.node_results before any node runs, so the models' post-hooks
    (record_model_built), running in parallel threads, only append to it.
-#}
{% macro create_build_verdict_table() %}
    {%- if not _records_build_verdicts() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set relation = _build_verdict_relation() -%}
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
    {%- if target.type == 'duckdb' -%}
        {%- do adapter.commit() -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}


{#-
    post-hook: in the model's own transaction, record that this invocation rebuilt it, with status
    'built'. dbt records results only at the end of a run (record_build_verdict): a run stopped in between
    (a cancel, Ctrl-C, a killed process) leaves a rebuilt table whose tests never ran. This row then stays
    the model's latest, and the exporter refuses the table until a build finishes.
-#}
{% macro record_model_built() %}
    {%- if not _records_build_verdicts() -%}
        {{ return('') }}
    {%- endif -%}
    insert into {{ _build_verdict_relation() }}
    (invocation_id, command, selection, unique_id, resource_type, status, message, started_at, recorded_at)
    values {{ _build_verdict_values(model.unique_id, model.resource_type, 'built',
                                    'rebuilt; the invocation has not recorded how it ended') }}
{% endmacro %}


{% macro _records_build_verdicts() %}
    {{ return(execute and flags.WHICH in ('build', 'run', 'test')) }}
{% endmacro %}


{% macro _build_verdict_relation() %}
    {{ return(api.Relation.create(
        database=target.get('database'), schema='mo_export_build', identifier='node_results')) }}
{% endmacro %}


{% macro _build_verdict_values(unique_id, resource_type, status, message) %}
    {%- set selection = (invocation_args_dict.get('select') or []) | join(' ') -%}
    ('{{ invocation_id }}', '{{ flags.WHICH }}', '{{ dbt.escape_single_quotes(selection) }}',
     '{{ unique_id }}', '{{ resource_type }}', '{{ status }}', '{{ dbt.escape_single_quotes(message) }}',
     '{{ run_started_at.isoformat() }}', {{ dbt.current_timestamp() }})
{% endmacro %}


{#- Spark has no database level above the schema: its target has no `database` at all (hence target.get). -#}

{#- How the verdict table is stored: on Spark as plain Parquet files, which the exporter reads with
    DuckDB's read_parquet (mo-export run --target spark); other engines keep their own table format. -#}
{% macro verdict_table_storage() %}
    {{- return(adapter.dispatch('verdict_table_storage', 'mo_export')()) -}}
{% endmacro %}

{% macro default__verdict_table_storage() %}{{ return('') }}{% endmacro %}

{% macro spark__verdict_table_storage() %}{{ return('using parquet') }}{% endmacro %}
