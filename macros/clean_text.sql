{#
    clean_text(expr) -> string

    docs/behaviour.md#parsing: every text value is first trimmed of surrounding whitespace, and text that is empty after
    trimming is missing. Trims exactly the ASCII whitespace characters space, \t, \n, \v, \f, \r
    (chr 32, 9, 10, 11, 12, 13) from both ends and returns null for null or empty results.
    Unicode whitespace (no-break space U+00A0, U+2028, ideographic space, ...) is deliberately NOT
    trimmed: the spec names ASCII whitespace only, and a value carrying such characters is kept as
    written, so an id keeps them and a timestamp/number containing them does not parse.

    Portable SQL: `string` and `trim(both ... from ...)` mean the same on DuckDB and Spark.

    Performance: DuckDB's trim() with a character list costs several times a plain read, so it runs
    only when the first or last character is ASCII whitespace (ascii() of the first character and
    of right(x, 1)); already-clean text, the usual case, is returned as is. The code points are
    compared with between/= rather than an IN list, which DuckDB turns into a (slow) mark join. Returns an expression,
    so it composes inside the parse_* macros without a subquery.
#}
{% macro clean_text(expr) -%}
    {%- set text = "cast(" ~ expr ~ " as string)" -%}
    (
        case
            when ascii({{ text }}) between 9 and 13
                or ascii({{ text }}) = 32
                or ascii(right({{ text }}, 1)) between 9 and 13
                or ascii(right({{ text }}, 1)) = 32
                then nullif(trim(both ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) from {{ text }}), '')
            else nullif({{ text }}, '')
        end
    )
{%- endmacro %}
