{#
    regex_full_match(expr, pattern) -> boolean: does the whole text of `expr` match `pattern`?

    `pattern` is the regex itself (not a SQL literal), written without anchors; each variant quotes
    and anchors it. DuckDB has a whole-string match (RE2). Spark has only `rlike` (Java regex,
    matches anywhere), so the pattern is anchored with `^` and `\z`: Java's `$` also matches before
    a final line break, which would let `2025-01-05\n` through. The literal is a raw string (r'...')
    because Spark's plain string literals drop the backslash of `\.`.
#}
{% macro regex_full_match(expr, pattern) -%}
    {{ return(adapter.dispatch('regex_full_match')(expr, pattern)) }}
{%- endmacro %}

{% macro default__regex_full_match(expr, pattern) -%}
    regexp_full_match({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__regex_full_match(expr, pattern) -%}
    ({{ expr }} rlike r'^(?:{{ pattern }})\z')
{%- endmacro %}
