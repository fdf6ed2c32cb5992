{#
    bind_value(value, name, body) -> the value of `body`, where `name` stands for `value`

    Evaluates `value` once per row and lets `body` refer to it as `name` as often as it needs (the
    parse_* macros refer to the trimmed text ~20 times). Without it the engine could evaluate the
    whole trim expression once per reference. Both engines do it with a one-element array and a
    lambda; they differ in the lambda syntax and in where arrays start (DuckDB 1, Spark 0).
#}
{% macro bind_value(value, name, body) -%}
    {{ return(adapter.dispatch('bind_value')(value, name, body)) }}
{%- endmacro %}

{% macro default__bind_value(value, name, body) -%}
    list_transform([{{ value }}], lambda {{ name }}: {{ body }})[1]
{%- endmacro %}

{% macro spark__bind_value(value, name, body) -%}
    transform(array({{ value }}), {{ name }} -> {{ body }})[0]
{%- endmacro %}
