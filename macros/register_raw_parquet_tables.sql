{#
    register_raw_parquet_tables() -> runs on every dbt invocation (on-run-start)

    On Spark the raw MES tables are Parquet files under MO_RAW_PARQUET_DIR/<table>/, one folder per
    table of the `mes` source (mes_production_orders, mes_confirmations, mes_materials, mes_plants),
    with the raw layout's columns. This registers each folder as an external table of the raw schema
    (var raw_schema), dropped and created anew on every run so a changed directory or new files are
    picked up; dropping an external table never deletes its files. The schema is read from the files.
    On DuckDB the raw tables already live in the warehouse file, so the default variant does nothing.
#}
{% macro register_raw_parquet_tables() -%}
    {{ return(adapter.dispatch('register_raw_parquet_tables')()) }}
{%- endmacro %}

{% macro default__register_raw_parquet_tables() -%}
{%- endmacro %}

{% macro spark__register_raw_parquet_tables() -%}
    {%- if execute -%}
        {%- set parquet_dir = env_var('MO_RAW_PARQUET_DIR', '') | trim -%}
        {%- if not parquet_dir -%}
            {{ exceptions.raise_compiler_error(
                "MO_RAW_PARQUET_DIR is not set: the spark target reads the raw MES tables from Parquet files "
                ~ "under MO_RAW_PARQUET_DIR/<table>/ (write them with `python -m mo_export_dev.sample_data --parquet-dir DIR`)"
            ) }}
        {%- endif -%}
        {%- set raw_schema = var('raw_schema', 'raw') -%}
        {%- set tables = [] -%}
        {%- for source in graph.sources.values() if source.source_name == 'mes' -%}
            {%- do tables.append(source.identifier) -%}
        {%- endfor -%}
        {%- do run_query('create schema if not exists ' ~ raw_schema) -%}
        {%- for table in tables | sort -%}
            {%- set location = parquet_dir.rstrip('/') ~ '/' ~ table -%}
            {%- do run_query('drop table if exists ' ~ raw_schema ~ '.' ~ table) -%}
            {%- do run_query(
                'create table ' ~ raw_schema ~ '.' ~ table ~ " using parquet location '"
                ~ escape_single_quotes(location) ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
