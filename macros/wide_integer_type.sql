{#
    wide_integer_type() -> an integer type wider than 64 bits

    The sum of an order's yields is taken in a wider type so that a sum beyond 64 bits is seen (and
    the order rejected) instead of overflowing. DuckDB has hugeint (128 bits); Spark's widest exact
    integer is decimal(38, 0).
#}
{% macro wide_integer_type() -%}
    {{ return(adapter.dispatch('wide_integer_type')()) }}
{%- endmacro %}

{% macro default__wide_integer_type() -%}
    hugeint
{%- endmacro %}

{% macro spark__wide_integer_type() -%}
    decimal(38, 0)
{%- endmacro %}
