{#
    parse_whole_number(expr) -> bigint

    docs/behaviour.md#parsing quantities. After trimming (see clean_text) the text must be decimal text: an optional
    sign, ASCII digits, optionally `.` and at least one digit (`500`, `500.0`, `-12`, `+3.00`).
    No exponent, no separators (`1_000`, `1,000`), no `.5`, no `5.`, no inner whitespace.
    It must be whole: every fractional digit is 0 (`500.5` is not whole; note that a plain
    `'500.5'::integer` cast would round it to 501, so it is never used on unchecked text).
    The integer part (leading zeros allowed, `-0` is 0) must fit a signed 64-bit integer.
    Returns null when missing, not decimal text, not whole, or out of range; callers tell
    "missing" from "invalid" by checking the trimmed text.
    The regex is anchored and has no nested quantifiers, so it runs in linear time (RE2). The
    trimmed text is bound once (bind_value) so the trim is not evaluated twice.
#}
{% macro parse_whole_number(expr) -%}
    {%- set body -%}
        case
            when {{ regex_full_match('number_text', '[+-]?[0-9]+(\\.0+)?') }}
                then try_cast(split_part(number_text, '.', 1) as bigint)
        end
    {%- endset -%}
    {{ bind_value(clean_text(expr), 'number_text', body) }}
{%- endmacro %}
