{#
    clean_text(expr) -> varchar

    SPEC 3: every text value is first trimmed of surrounding whitespace, and text that is empty after
    trimming is missing. Trims exactly the ASCII whitespace characters space, \t, \n, \v, \f, \r
    (chr 32, 9, 10, 11, 12, 13) from both ends and returns null for null or empty results.
    Unicode whitespace (no-break space U+00A0, U+2028, ideographic space, ...) is deliberately NOT
    trimmed: the spec names ASCII whitespace only, and a value carrying such characters is kept as
    written, so an id keeps them and a timestamp/number containing them does not parse.
    Returns an expression, so it composes inside other macros without a subquery.
#}
{% macro clean_text(expr) -%}
    nullif(trim(cast({{ expr }} as varchar), ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)), '')
{%- endmacro %}
