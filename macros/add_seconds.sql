{#
    add_seconds(timestamp_expr, seconds_expr) -> timestamp `seconds_expr` whole seconds later

    Used by parse_timestamp to turn a local date, time of day and zone offset into one UTC value.
    DuckDB adds an interval made by to_seconds(); Spark has timestampadd() (its timestamps are read
    in the session time zone, which the spark target sets to UTC).
#}
{% macro add_seconds(timestamp_expr, seconds_expr) -%}
    {{ return(adapter.dispatch('add_seconds')(timestamp_expr, seconds_expr)) }}
{%- endmacro %}

{% macro default__add_seconds(timestamp_expr, seconds_expr) -%}
    ({{ timestamp_expr }} + to_seconds({{ seconds_expr }}))
{%- endmacro %}

{% macro spark__add_seconds(timestamp_expr, seconds_expr) -%}
    timestampadd(second, {{ seconds_expr }}, {{ timestamp_expr }})
{%- endmacro %}
