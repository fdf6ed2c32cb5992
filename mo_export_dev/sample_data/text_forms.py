"""DuckDB macros that write clean generated values as the messy text a source system lands.

Each macro takes the clean value and a 64-bit hash of (seed, row id, column); bits of the hash pick the
form, so the text of every value is a pure function of the seed and the row, whatever the thread count.
The forms and shares come from :mod:`mo_export_dev.sample_data.mix`.
"""

from __future__ import annotations

import duckdb

from mo_export_dev.sample_data import mix


def sql_text(value: str | None) -> str:
    """``value`` as a SQL string literal (NULL for None)."""
    if value is None:
        return "null"
    return "'" + value.replace("'", "''") + "'"


def sql_text_list(values: tuple[str | None, ...]) -> str:
    return "([" + ", ".join(sql_text(v) for v in values) + "]::varchar[])"


def _permyriad(share: float) -> int:
    return round(share * 10_000)


def _zone_choices() -> tuple[list[str], list[int]]:
    """Every (zone form, offset) pair: its suffix text and its offset in minutes (local = UTC + offset)."""
    texts: list[str] = []
    minutes: list[int] = []
    for form in mix.ZONE_FORMS:
        for offset in mix.ZONE_OFFSETS_MINUTES:
            if form in ("", "Z"):
                texts.append(form)
                minutes.append(0)
                continue
            sign = 1 if form.startswith("+") else -1
            hh, mm = divmod(offset, 60)
            separator = ":" if ":" in form else ""
            texts.append(f"{form[0]}{hh:02d}{separator}{mm:02d}")
            minutes.append(sign * offset)
    return texts, minutes


def _fraction_choices() -> list[str]:
    """Fractional-second suffixes: for each length of FRACTION_DIGITS, several fixed digit strings."""
    digits = "7395832041"
    out: list[str] = []
    for length in mix.FRACTION_DIGITS:
        for start in range(0, 10, 3):
            out.append("" if length == 0 else "." + (digits[start:] + digits)[:length])
    return out


def _whitespace_choices() -> tuple[list[str], list[str]]:
    """(prefix, suffix) pairs wrapped around a value."""
    tab, newline = "\t", "\n"
    pairs = [(" ", ""), ("", "   "), (tab, ""), ("", newline), (newline + " ", tab + " ")]
    return [p for p, _ in pairs], [s for _, s in pairs]


def _int_list(values: list[int]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def _macros() -> dict[str, str]:
    ws = _permyriad(mix.WHITESPACE_SHARE)
    lower = _permyriad(mix.STATUS_LOWER_SHARE)
    capitalised = lower + _permyriad(mix.STATUS_CAPITALISED_SHARE)
    zone_texts, zone_minutes = _zone_choices()
    fractions = _fraction_choices()
    prefixes, suffixes = _whitespace_choices()
    zone_index = f"((h >> 29) % {len(zone_texts)})::integer + 1"
    fraction_index = f"((h >> 40) % {len(fractions)})::integer + 1"
    return {
        # a uniform draw in [0, 1) from a hash
        "sd_unit": "(h) as ((h >> 11)::double / 9007199254740992.0)",
        # surrounding whitespace (spaces, tabs, newlines) on a share of values; `v` appears once so an
        # expensive argument is evaluated once
        "sd_ws": f"""(v, h) as (
            case when h % 10000 < {ws} then {sql_text_list(tuple(prefixes))}[(h % 5)::integer + 1] else '' end
            || v
            || case when h % 10000 < {ws} then {sql_text_list(tuple(suffixes))}[(h % 5)::integer + 1] else '' end
        )""",
        # a UTC timestamp (whole seconds) written in one of the forms of docs/behaviour.md#parsing; the instant
        # is kept (local time and its zone), except by a date alone (midnight), only used where `date_ok`
        "sd_ts_text": f"""(ts, h, date_ok) as (
            case
                when date_ok and h % 10000 < {_permyriad(mix.DATE_ONLY_SHARE)} then ts::date::varchar
                when (h >> 14) % 10000 < {_permyriad(mix.PLAIN_TIMESTAMP_SHARE)} then ts::varchar
                else
                    (case
                        when (h >> 28) % 2 = 0
                            then replace((ts + to_minutes({_int_list(zone_minutes)}[{zone_index}]))::varchar, ' ', 'T')
                        else (ts + to_minutes({_int_list(zone_minutes)}[{zone_index}]))::varchar
                    end)
                    || {sql_text_list(tuple(fractions))}[{fraction_index}]
                    || {sql_text_list(tuple(zone_texts))}[{zone_index}]
            end
        )""",
        # a whole number written as decimal text: 500, 500.0, +500, 500.00, +500.000
        "sd_qty_text": """(n, h) as (
            case
                when h % 100 < 70 then n::varchar
                when h % 100 < 80 then n::varchar || '.0'
                when h % 100 < 87 then (case when n >= 0 then '+' else '' end) || n::varchar
                when h % 100 < 94 then n::varchar || '.00'
                else (case when n >= 0 then '+' else '' end) || n::varchar || '.000'
            end
        )""",
        # a status code in upper, lower or capitalised case
        "sd_status_text": f"""(s, h) as (
            case
                when h % 10000 < {lower} then lower(s)
                when h % 10000 < {capitalised} then s[1] || lower(s[2:])
                else s
            end
        )""",
        "sd_bool_text": f"""(b, h) as (
            case
                when b then {sql_text_list(mix.TRUE_SPELLINGS)}[(h % {len(mix.TRUE_SPELLINGS)})::integer + 1]
                else {sql_text_list(mix.FALSE_SPELLINGS)}[(h % {len(mix.FALSE_SPELLINGS)})::integer + 1]
            end
        )""",
    }


def register_text_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``sd_*`` temporary macros on ``con`` (they vanish with the connection)."""
    for name, body in _macros().items():
        con.execute(f"create or replace temp macro {name}{body}")
