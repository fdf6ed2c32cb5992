{#
    map_status(expr) -> varchar

    docs/behaviour.md#contract status mapping of an MES status code, case-insensitive after trimming:
    CRTD, REL -> scheduled; PCNF -> in_progress; CNF, TECO -> completed; DLT -> cancelled.
    Null for a missing code AND for an unknown one; callers tell the two apart by checking
    whether the trimmed code is present (a present code that maps to null is `unknown_status`).
    upper() is used for case folding; no non-ASCII letter upper-cases onto the letters of these
    codes, so this equals an ASCII case-insensitive match.
#}
{% macro map_status(expr) -%}
    case upper({{ clean_text(expr) }})
        when 'CRTD' then 'scheduled'
        when 'REL' then 'scheduled'
        when 'PCNF' then 'in_progress'
        when 'CNF' then 'completed'
        when 'TECO' then 'completed'
        when 'DLT' then 'cancelled'
    end
{%- endmacro %}
