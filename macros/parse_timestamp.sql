{#
    parse_timestamp(expr) -> timestamp (UTC, whole seconds; on Spark in its UTC session time zone)

    docs/behaviour.md#parsing timestamp text, parsed by grammar + calendar check, never by DuckDB's own permissive
    varchar -> timestamp cast (which accepts forms the spec rejects, e.g. `2025-1-5`, mishandles
    offsets and rounds fractional seconds). Takes the raw text and trims it itself (clean_text).

    Grammar (after trimming, anchored, ASCII digits only):
        YYYY-MM-DD
        YYYY-MM-DD(T| )HH:MM:SS[.F+][Z|+HH:MM|-HH:MM|+HHMM|-HHMM]
    - exactly one separator: upper-case `T` or one space; seconds are required;
    - hour 00-23, minute 00-59, second 00-59 (no hour 24, no leap second 60): in the regex;
    - fractional seconds: one or more digits, truncated (never rounded), however many;
    - zone written directly after the time (no space), upper-case `Z`; zone hours 00-23 and
      minutes 00-59 (in the regex); a date alone takes no zone and means midnight UTC;
    - the date must exist (Gregorian leap years; no 2025-02-30): checked by casting the
      regex-validated `YYYY-MM-DD` to DATE, which is strict for that fixed form;
    - with a zone the value is converted to UTC (local time minus the offset).
    Choices where docs/behaviour.md#parsing is silent:
    - years 0001-9999 only: year 0000 is invalid (it does not exist in the ISO/Gregorian year
      numbering most consumers use, e.g. Python's datetime), and a zone conversion that leaves
      0001-9999 (e.g. `0001-01-01T00:30:00+01:00`) is invalid too, because the output format has
      four year digits;
    - unicode digits are not digits, unicode whitespace is not trimmed.
    Returns null when the text is missing OR invalid; callers tell the two apart by checking the
    trimmed text.

    Performance: the trimmed text is computed once and bound to a name (bind_value), because the
    engine could otherwise re-evaluate the trim for each of the ~20 references below; then one
    anchored regex match without nested quantifiers (linear time in RE2), then fixed-position
    substr() arithmetic. The zone is found by position: with a zone, the sign sits 6 characters
    from the end (`+HH:MM`) or 5 (`+HHMM`); the length guard keeps a date's own hyphens out.
#}
{% macro parse_timestamp(expr) -%}
    {#- the trimmed text is bound once to a lambda parameter, so it is computed once per row -#}
    {%- set text = "ts_text" -%}
    {%- set local_date = "try_cast(substr(" ~ text ~ ", 1, 10) as date)" -%}
    {%- set local_seconds -%}
        coalesce(
            try_cast(substr({{ text }}, 12, 2) as integer) * 3600
            + try_cast(substr({{ text }}, 15, 2) as integer) * 60
            + try_cast(substr({{ text }}, 18, 2) as integer),
            0
        )
    {%- endset -%}
    {%- set offset_seconds -%}
        (
            case
                when length({{ text }}) <= 19 then 0
                when substr({{ text }}, -6, 1) = '+'
                    then cast(substr({{ text }}, -5, 2) as integer) * 3600 + cast(right({{ text }}, 2) as integer) * 60
                when substr({{ text }}, -6, 1) = '-'
                    then -(cast(substr({{ text }}, -5, 2) as integer) * 3600 + cast(right({{ text }}, 2) as integer) * 60)
                when substr({{ text }}, -5, 1) = '+'
                    then cast(substr({{ text }}, -4, 2) as integer) * 3600 + cast(right({{ text }}, 2) as integer) * 60
                when substr({{ text }}, -5, 1) = '-'
                    then -(cast(substr({{ text }}, -4, 2) as integer) * 3600 + cast(right({{ text }}, 2) as integer) * 60)
                else 0
            end
        )
    {%- endset -%}
    {%- set utc_value = add_seconds("cast(" ~ local_date ~ " as timestamp)", local_seconds ~ " - " ~ offset_seconds) -%}
    {%- set grammar -%}
        [0-9]{4}-[0-9]{2}-[0-9]{2}([T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?)?
    {%- endset -%}
    {%- set body -%}
        case
            when {{ regex_full_match(text, grammar) }}
                and substr({{ text }}, 1, 4) <> '0000'
                and {{ local_date }} is not null
                {#- only the first and last day of the range can leave it through a zone offset #}
                and (
                    (substr({{ text }}, 1, 10) <> '0001-01-01' and substr({{ text }}, 1, 10) <> '9999-12-31')
                    or {{ utc_value }} between timestamp '0001-01-01 00:00:00' and timestamp '9999-12-31 23:59:59'
                )
                then {{ utc_value }}
        end
    {%- endset -%}
    {{ bind_value(clean_text(expr), text, body) }}
{%- endmacro %}
