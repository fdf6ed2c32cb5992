{#
    parse_timestamp(expr) -> timestamp (UTC, whole seconds)

    SPEC 3 timestamp text, parsed by grammar + calendar check, never by DuckDB's own permissive
    varchar -> timestamp cast (which accepts forms the spec rejects, e.g. `2025-1-5`, and rounds
    fractional seconds). Takes the raw text and trims it itself (see clean_text).

    Grammar (after trimming, anchored, ASCII digits only):
        YYYY-MM-DD
        YYYY-MM-DD(T| )HH:MM:SS[.F+][Z|+HH:MM|-HH:MM|+HHMM|-HHMM]
    - exactly one separator: upper-case `T` or one space; seconds are required;
    - fractional seconds: one or more digits, truncated (never rounded), however many;
    - zone written directly after the time (no space), upper-case `Z`; zone hours 00-23 and
      minutes 00-59; a date alone takes no zone and means midnight UTC;
    - the date must exist (leap years per the Gregorian calendar; no 2025-02-30), hour 00-23,
      minute 00-59, second 00-59 (no leap second 60, no hour 24);
    - with a zone the value is converted to UTC (local time minus the offset).
    Choices where SPEC 3 is silent:
    - years 0001-9999 only: year 0000 is invalid (it does not exist in ISO/Gregorian year
      numbering used by most consumers), and a zone conversion that leaves 0001-9999 (e.g.
      `0001-01-01T00:30:00+01:00`) is invalid too, because the output format has four year digits;
    - unicode digits and unicode whitespace are not accepted / not trimmed.
    Returns null when the text is missing OR invalid; callers tell the two apart by checking the
    trimmed text. The regex has no nested quantifiers (linear time in RE2); everything after it
    is fixed-position substr() arithmetic, evaluated only for rows the regex accepted.
#}
{% macro parse_timestamp(expr) -%}
    {%- set text = clean_text(expr) -%}
    {%- set hour = "coalesce(try_cast(substr(" ~ text ~ ", 12, 2) as integer), 0)" -%}
    {%- set minute = "coalesce(try_cast(substr(" ~ text ~ ", 15, 2) as integer), 0)" -%}
    {%- set second = "coalesce(try_cast(substr(" ~ text ~ ", 18, 2) as integer), 0)" -%}
    {#- zone: the part from the last + or - after the seconds (position 20 on) -#}
    {%- set zone = "regexp_extract(substr(" ~ text ~ ", 20), '[+-][0-9]{2}:?[0-9]{2}$')" -%}
    {%- set zone_hour = "coalesce(try_cast(substr(" ~ zone ~ ", 2, 2) as integer), 0)" -%}
    {%- set zone_minute = "coalesce(try_cast(right(" ~ zone ~ ", 2) as integer), 0)" -%}
    {%- set zone_sign = "(case when starts_with(" ~ zone ~ ", '-') then -1 else 1 end)" -%}
    {%- set local_seconds = "(" ~ hour ~ " * 3600 + " ~ minute ~ " * 60 + " ~ second ~ ")" -%}
    {%- set offset_seconds = "(" ~ zone_sign ~ " * (" ~ zone_hour ~ " * 3600 + " ~ zone_minute ~ " * 60))" -%}
    {%- set local_date = "try_cast(substr(" ~ text ~ ", 1, 10) as date)" -%}
    (
        case
            when regexp_full_match(
                    {{ text }},
                    '[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?'
                )
                and substr({{ text }}, 1, 4) <> '0000'
                and {{ local_date }} is not null
                and {{ hour }} <= 23
                and {{ minute }} <= 59
                and {{ second }} <= 59
                and {{ zone_hour }} <= 23
                and {{ zone_minute }} <= 59
                then (
                    case
                        when cast({{ local_date }} as timestamp)
                            + to_seconds({{ local_seconds }} - {{ offset_seconds }})
                            between timestamp '0001-01-01 00:00:00' and timestamp '9999-12-31 23:59:59'
                            then cast({{ local_date }} as timestamp)
                                + to_seconds({{ local_seconds }} - {{ offset_seconds }})
                    end
                )
        end
    )
{%- endmacro %}
