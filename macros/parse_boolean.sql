{#
    parse_boolean(expr) -> boolean, never null

    SPEC 3 boolean text: after trimming (see clean_text), case-insensitive `true`, `t`, `yes`, `y`
    or `1` is true; anything else, missing included, is false. Case folding is ASCII lower();
    none of the accepted words has a non-ASCII case variant, so the result matches a plain
    ASCII-lowercase comparison.
#}
{% macro parse_boolean(expr) -%}
    coalesce(lower({{ clean_text(expr) }}) in ('true', 't', 'yes', 'y', '1'), false)
{%- endmacro %}
