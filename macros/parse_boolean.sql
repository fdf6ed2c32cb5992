{#
    parse_boolean(expr) -> boolean, never null

    docs/behaviour.md#parsing boolean text: after trimming (see clean_text), case-insensitive `true`, `t`, `yes`, `y`
    or `1` is true; anything else, missing included, is false. Case folding is ASCII lower();
    none of the accepted words has a non-ASCII case variant, so the result matches a plain
    ASCII-lowercase comparison. A CASE rather than an IN list: DuckDB plans IN lists as a mark
    join, which costs seconds per million rows.
#}
{% macro parse_boolean(expr) -%}
    (
        case lower({{ clean_text(expr) }})
            when 'true' then true
            when 't' then true
            when 'yes' then true
            when 'y' then true
            when '1' then true
            else false
        end
    )
{%- endmacro %}
