"""The parsing rules of docs/behaviour.md#parsing in plain Python: the yardstick the dbt macros are measured
against.

Written from the rules alone, independently of the dbt macros. Every parser first trims the value (every text
value loses its surrounding whitespace first), so ``parse_x(s) == parse_x(clean_text(s))``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

#: Only ASCII whitespace is trimmed; unicode spaces (NBSP, U+2003, ...) are part of the value.
ASCII_WHITESPACE = " \t\n\r\v\f"

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# [0-9] rather than \d: \d also matches non-ASCII digits such as '٣'.
_TIMESTAMP = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.[0-9]+)?"
    r"(?:(?P<utc>Z)|(?P<sign>[+-])(?P<zh>[0-9]{2}):?(?P<zm>[0-9]{2}))?)?"
)
_NUMBER = re.compile(r"(?P<sign>[+-]?)(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")

BOOLEAN_TRUE = frozenset({"true", "t", "yes", "y", "1"})

STATUS_BY_CODE: dict[str, str] = {
    "CRTD": "scheduled",
    "REL": "scheduled",
    "PCNF": "in_progress",
    "CNF": "completed",
    "TECO": "completed",
    "DLT": "cancelled",
}


def clean_text(value: str | None) -> str | None:
    """Trim surrounding ASCII whitespace; text that is then empty is missing (None)."""
    if value is None:
        return None
    trimmed = value.strip(ASCII_WHITESPACE)
    return trimmed or None


def parse_timestamp(value: str | None) -> datetime | None:
    """Timestamp text -> naive UTC datetime truncated to the second, or None when missing or invalid.

    A value whose UTC conversion leaves years 0001-9999 is invalid: it cannot be written as
    ``YYYY-MM-DD HH:MM:SS`` (docs/behaviour.md#parsing, output timestamps).
    """
    text = clean_text(value)
    if text is None:
        return None
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    time = match["time"] or "00:00:00"
    try:
        # strptime with these fixed-width fields rejects 2025-02-30, hour 24, second 60, year 0000.
        local = datetime.strptime(f"{match['date']} {time}", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    if match["sign"] is None:
        return local
    zone_hours, zone_minutes = int(match["zh"]), int(match["zm"])
    if zone_hours > 23 or zone_minutes > 59:
        return None
    offset = timedelta(hours=zone_hours, minutes=zone_minutes)
    try:
        return local - offset if match["sign"] == "+" else local + offset
    except OverflowError:
        return None


def parse_decimal_parts(value: str | None) -> tuple[int, bool] | None:
    """Decimal text -> (integer part with sign, whether the fraction is zero), or None if not a number."""
    text = clean_text(value)
    if text is None:
        return None
    match = _NUMBER.fullmatch(text)
    if match is None:
        return None
    whole_digits = match["whole"].lstrip("0") or "0"
    # More than 19 digits is beyond 64 bits whatever the sign; the sentinel keeps int() off huge strings.
    whole = INT64_MAX + 2 if len(whole_digits) > 19 else int(whole_digits)
    if match["sign"] == "-":
        whole = -whole
    fraction_is_zero = (match["fraction"] or "0").strip("0") == ""
    return whole, fraction_is_zero


def parse_whole_number(value: str | None) -> int | None:
    """Decimal text that is a whole number within signed 64 bits -> int; anything else -> None."""
    parts = parse_decimal_parts(value)
    if parts is None:
        return None
    whole, fraction_is_zero = parts
    if not fraction_is_zero:
        return None
    if not INT64_MIN <= whole <= INT64_MAX:
        return None
    return whole


def parse_boolean(value: str | None) -> bool:
    """`true t yes y 1`, any case, are true; anything else (missing included) is false."""
    text = clean_text(value)
    return text is not None and text.lower() in BOOLEAN_TRUE


def map_status(value: str | None) -> str | None:
    """MES status code (any case) -> contract status; missing or unknown -> None."""
    text = clean_text(value)
    if text is None:
        return None
    return STATUS_BY_CODE.get(text.upper())


def is_unknown_status(value: str | None) -> bool:
    """A present status code that is not one of the status codes of docs/behaviour.md#contract."""
    return clean_text(value) is not None and map_status(value) is None
