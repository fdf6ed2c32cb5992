{#
    star_except(columns) -> `*` without the named columns, for a select list

    The deduplication models rank versions with a helper column and drop it from their output.
    DuckDB spells that `* exclude (...)`, Spark `* except (...)`.
#}
{% macro star_except(columns) -%}
    {{ return(adapter.dispatch('star_except')(columns)) }}
{%- endmacro %}

{% macro default__star_except(columns) -%}
    * exclude ({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__star_except(columns) -%}
    * except ({{ columns | join(', ') }})
{%- endmacro %}
