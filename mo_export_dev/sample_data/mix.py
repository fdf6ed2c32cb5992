"""Every share, spelling and bad-row variant of the sample data, in one place.

Change the data here, not in the SQL: the generator (``generator.py``) builds its SQL from these constants.
Shares are fractions of 1. Hash-based draws make every choice a pure function of (seed, row id), so the
same constants and seed give the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

# --- orders ----------------------------------------------------------------------------------------------

#: Share of orders deliberately made bad (each breaks exactly one rule of docs/behaviour.md#rejection-codes).
#: At least one bad order per rejection code is planted whenever orders >= MIN_ORDERS_FOR_EVERY_CODE.
BAD_ORDER_SHARE = 0.015
MIN_ORDERS_FOR_EVERY_CODE = 1000

#: Final status of a good order -> share. Orders reach it through the versions of STATUS_PATHS.
STATUS_MIX: Mapping[str, float] = {
    "CRTD": 0.08,
    "REL": 0.17,
    "PCNF": 0.25,
    "CNF": 0.30,
    "TECO": 0.15,
    "DLT": 0.05,
}
#: The status of each extracted version, oldest first, for an order whose final status is the key.
STATUS_PATHS: Mapping[str, tuple[str, ...]] = {
    "CRTD": ("CRTD",),
    "REL": ("CRTD", "REL"),
    "PCNF": ("CRTD", "REL", "PCNF"),
    "CNF": ("CRTD", "REL", "PCNF", "CNF"),
    "TECO": ("CRTD", "REL", "PCNF", "CNF", "TECO"),
    "DLT": ("CRTD", "REL", "DLT"),
}
#: Share of orders whose CRTD version was never extracted (created and released between two extractions).
SKIP_CREATED_VERSION_SHARE = 0.5
#: Share of good orders whose latest version has a blank status_code (valid: status becomes null).
MISSING_STATUS_SHARE = 0.002
#: Orders are created uniformly over this many days from ORDER_PERIOD_START.
ORDER_PERIOD_START = datetime(2024, 1, 1)
ORDER_PERIOD_DAYS = 540
#: planned_qty: from 10 up to this many units; a share of orders plan round tens.
MAX_PLANNED_QTY = 5000
ROUND_QTY_SHARE = 0.6

# --- confirmations ---------------------------------------------------------------------------------------

#: Final status -> (min, max) confirmations per order. CNF/TECO orders end with a final confirmation.
CONFIRMATIONS_PER_ORDER: Mapping[str, tuple[int, int]] = {
    "CRTD": (0, 0),
    "REL": (0, 0),
    "PCNF": (1, 4),
    "CNF": (3, 7),
    "TECO": (3, 7),
    "DLT": (0, 0),
}
#: Share of TECO orders whose last confirmation is not flagged final (actual_end falls back to the latest).
TECO_WITHOUT_FINAL_SHARE = 0.2
#: Shares of non-final confirmations of good orders: scrap-only postings, reversed later (the reversal is
#: an extra confirmation with the negative yield).
SCRAP_ONLY_SHARE = 0.04
REVERSAL_SHARE = 0.03
#: Share of confirmations delivered twice with the same `_extracted_at`, and twice with a later one.
DUPLICATE_SAME_EXTRACTION_SHARE = 0.04
DUPLICATE_LATER_EXTRACTION_SHARE = 0.04
#: Share of confirmations of good orders whose scrap_qty is blank when nothing was scrapped.
BLANK_ZERO_SCRAP_SHARE = 0.2
#: Confirmations posted against order numbers that do not exist (per order; at least 3 from 1000 orders).
ORPHAN_CONFIRMATION_SHARE = 0.001

# --- master data -----------------------------------------------------------------------------------------

#: Materials: orders // ORDERS_PER_MATERIAL, clamped to [MIN_MATERIALS, MAX_MATERIALS]; 1-3 versions each.
ORDERS_PER_MATERIAL = 100
MIN_MATERIALS = 200
MAX_MATERIALS = 5000
MATERIAL_NOUNS: tuple[str, ...] = (
    "Gear housing", "Pump shaft", "Valve body", "Bearing cap", "Drive flange", "Motor bracket",
    "Impeller", "Coupling sleeve", "Control board", "Sensor cable", "Hydraulic hose", "Seal kit",
    "Brake disc", "Axle stub", "Fan blade", "Heat sink", "Terminal block", "Spring pack",
)


@dataclass(frozen=True)
class Plant:
    code: str
    name: str
    #: is_factory as written in each extracted version, oldest first; the latest decides.
    is_factory_versions: tuple[str | None, ...]
    #: Production lines of a factory; orders of good rows go to plants with lines.
    lines: int = 0
    #: Relative share of good orders placed at this plant.
    weight: int = 0


PLANTS: tuple[Plant, ...] = (
    Plant("P1000", "Hamburg assembly", ("Y", "true"), lines=14, weight=5),
    Plant("P1100", "Lyon machining", (" yes ",), lines=8, weight=3),
    Plant("P1200", "Brno castings", ("1", "TRUE"), lines=6, weight=2),
    Plant("P2000", "Monterrey plant", ("t", "Y"), lines=12, weight=4),
    Plant("P2100", "Pune components", ("yes\n",), lines=9, weight=2),
    Plant("P3000", "Shenzhen electronics", ("N", "\tY"), lines=20, weight=4),  # became a factory
    Plant("P4000", "Porto plant (closed)", ("Y", "0")),  # stopped being a factory
    Plant("DC01", "Rotterdam distribution centre", ("N", "false")),
    Plant("DC02", "Chicago distribution centre", ("0",)),
    Plant("WH10", "Spare parts warehouse", (" no ", "f")),
    Plant("HQ", "Head office", ("", None)),
)
#: Plant rows without a code (ignored by docs/behaviour.md#current-state): (plant_code, plant_name, is_factory).
PLANT_ROWS_WITHOUT_CODE: tuple[tuple[str | None, str, str], ...] = (
    (None, "Unassigned plant", "Y"),
    ("  ", "Test plant", "N"),
)
#: Material rows without a code: (material_code, description).
MATERIAL_ROWS_WITHOUT_CODE: tuple[tuple[str | None, str], ...] = (
    (None, "Material without code"),
    ("", "Empty code placeholder"),
    ("\t", "Whitespace code placeholder"),
)

# --- text forms ------------------------------------------------------------------------------------------

#: Boolean spellings (docs/behaviour.md#parsing): true ones, and false ones (anything else, missing included).
TRUE_SPELLINGS: tuple[str, ...] = ("Y", "true", "TRUE", " yes ", "1", "t", "y", "Yes")
FALSE_SPELLINGS: tuple[str | None, ...] = ("N", "false", "0", "no", "F", "", " n ", None)
#: Share of text values wrapped in whitespace (spaces, tabs, newlines).
WHITESPACE_SHARE = 0.04
#: Share of timestamps written as 'YYYY-MM-DD HH:MM:SS' exactly; the rest mix T/space separators,
#: fractional seconds of FRACTION_DIGITS lengths and the zones of ZONE_FORMS.
PLAIN_TIMESTAMP_SHARE = 0.4
#: Share of timestamps written as a date alone (only where truncating to midnight cannot break a rule).
DATE_ONLY_SHARE = 0.03
FRACTION_DIGITS: tuple[int, ...] = (0, 1, 2, 3, 6, 9)
ZONE_FORMS: tuple[str, ...] = ("", "Z", "+HH:MM", "-HH:MM", "+HHMM", "-HHMM")
#: Zone offsets in minutes (the sign comes from the zone form); 23:59 is the largest valid one.
ZONE_OFFSETS_MINUTES: tuple[int, ...] = (0, 60, 120, 180, 330, 345, 480, 600, 1439)
#: Status codes: share written lower-case, and share capitalised ('Rel'); the rest upper-case.
STATUS_LOWER_SHARE = 0.1
STATUS_CAPITALISED_SHARE = 0.08

# --- bad orders ------------------------------------------------------------------------------------------

ConfirmationTarget = Literal["first", "final"]


@dataclass(frozen=True)
class BadVariant:
    """One way of breaking one docs/behaviour.md#rejection-codes rule.

    ``order_columns`` replace raw columns of the order's latest version and ``confirmation_columns`` those
    of its first or final confirmation (``None`` writes NULL). Values are SQL expressions over the clean
    generated values: ``order_no``, ``material_code``, ``plant_code``, ``created_at``, ``planned_start_at``,
    ``planned_end_at``, ``changed_at``, ``planned_qty`` (orders) and ``confirmed_at``, ``first_confirmed_at``,
    ``yield_units`` (confirmations). ``status`` forces the order's final status (e.g. one with confirmations).
    """

    code: str
    label: str
    order_columns: Mapping[str, str | None] = field(default_factory=dict)
    confirmation_columns: Mapping[str, str | None] = field(default_factory=dict)
    confirmation: ConfirmationTarget = "first"
    status: str | None = None


def _ts(column: str, fmt: str, suffix: str = "") -> str:
    """SQL writing ``column`` with strftime format ``fmt`` and a literal suffix (a near-miss timestamp)."""
    return f"strftime({column}, '{fmt}'){f' || {_sql(suffix)}' if suffix else ''}"


def _sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_PLAIN = "%Y-%m-%d %H:%M:%S"

#: Per rejection code, its variants; bad order j hits code j % len(codes) with variant
#: (j // len(codes)) % len(variants), so every code is hit before any code gets its second variant.
BAD_VARIANTS: Mapping[str, tuple[BadVariant, ...]] = {
    "missing_required": (
        BadVariant("missing_required", "order_no null", {"order_no": None}, status="CRTD"),
        BadVariant("missing_required", "material_code null", {"material_code": None}),
        BadVariant("missing_required", "plant_code empty", {"plant_code": "''"}),
        BadVariant("missing_required", "line_code blank", {"line_code": "'   '"}),
        BadVariant("missing_required", "created_ts null", {"created_ts": None}),
        BadVariant("missing_required", "planned_qty empty", {"planned_qty": "''"}),
        BadVariant("missing_required", "planned_start_ts null", {"planned_start_ts": None}),
        BadVariant("missing_required", "planned_end_ts tab-newline", {"planned_end_ts": "chr(9) || chr(10)"}),
        BadVariant("missing_required", "changed_ts null", {"changed_ts": None}),
        BadVariant("missing_required", "order_no empty", {"order_no": "''"}, status="CRTD"),
        BadVariant("missing_required", "order_no blank", {"order_no": "' ' || chr(9) || ' '"}, status="CRTD"),
    ),
    "invalid_timestamp": (
        BadVariant("invalid_timestamp", "planned_end_ts Feb 30",
                   {"planned_end_ts": _ts("planned_end_at", "%Y-02-30 %H:%M:%S")}),
        BadVariant("invalid_timestamp", "created_ts hour 25", {"created_ts": _ts("created_at", "%Y-%m-%d 25:00:00")}),
        BadVariant("invalid_timestamp", "planned_start_ts without seconds",
                   {"planned_start_ts": _ts("planned_start_at", "%Y-%m-%dT%H:%M")}),
        BadVariant("invalid_timestamp", "confirmed_ts lower-case z",
                   confirmation_columns={"confirmed_ts": _ts("confirmed_at", _PLAIN, "z")}, status="PCNF"),
        BadVariant("invalid_timestamp", "changed_ts lower-case t",
                   {"changed_ts": _ts("changed_at", "%Y-%m-%dt%H:%M:%S")}),
        BadVariant("invalid_timestamp", "created_ts zone +2400", {"created_ts": _ts("created_at", _PLAIN, "+2400")}),
        BadVariant("invalid_timestamp", "planned_end_ts two spaces",
                   {"planned_end_ts": _ts("planned_end_at", "%Y-%m-%d  %H:%M:%S")}),
        BadVariant("invalid_timestamp", "confirmed_ts German date",
                   confirmation_columns={"confirmed_ts": _ts("confirmed_at", "%d.%m.%Y %H:%M:%S")}, status="PCNF"),
        BadVariant("invalid_timestamp", "changed_ts zone minute 60",
                   {"changed_ts": _ts("changed_at", _PLAIN, "+05:60")}),
        BadVariant("invalid_timestamp", "planned_start_ts slashes",
                   {"planned_start_ts": _ts("planned_start_at", "%Y/%m/%d %H:%M:%S")}),
        BadVariant("invalid_timestamp", "created_ts dot without digits",
                   {"created_ts": _ts("created_at", _PLAIN, ".")}),
        BadVariant("invalid_timestamp", "confirmed_ts date with zone",
                   confirmation_columns={"confirmed_ts": _ts("confirmed_at", "%Y-%m-%d", "Z")}, status="PCNF"),
        BadVariant("invalid_timestamp", "changed_ts month 13", {"changed_ts": _ts("changed_at", "%Y-13-%d %H:%M:%S")}),
        BadVariant("invalid_timestamp", "planned_end_ts space before zone",
                   {"planned_end_ts": _ts("planned_end_at", _PLAIN, " +01:00")}),
    ),
    "invalid_ordered_units": (
        BadVariant("invalid_ordered_units", "fraction", {"planned_qty": "planned_qty::varchar || '.5'"}),
        BadVariant("invalid_ordered_units", "zero", {"planned_qty": "'0'"}),
        BadVariant("invalid_ordered_units", "negative", {"planned_qty": "'-' || planned_qty::varchar"}),
        BadVariant("invalid_ordered_units", "letters", {"planned_qty": "'abc'"}),
        BadVariant("invalid_ordered_units", "exponent", {"planned_qty": "'1e3'"}),
        BadVariant("invalid_ordered_units", "thousands separator", {"planned_qty": "'1,000'"}),
        BadVariant("invalid_ordered_units", "zero with decimals", {"planned_qty": "'+0.00'"}),
        BadVariant("invalid_ordered_units", "unit suffix", {"planned_qty": "planned_qty::varchar || ' pcs'"}),
    ),
    "invalid_confirmation": (
        BadVariant("invalid_confirmation", "yield_qty null", confirmation_columns={"yield_qty": None}, status="PCNF"),
        BadVariant("invalid_confirmation", "yield_qty fraction",
                   confirmation_columns={"yield_qty": "yield_units::varchar || '.5'"}, status="PCNF"),
        BadVariant("invalid_confirmation", "yield_qty blank", confirmation_columns={"yield_qty": "'  '"}, status="CNF"),
        BadVariant("invalid_confirmation", "yield_qty letters", confirmation_columns={"yield_qty": "'n/a'"},
                   status="PCNF"),
        BadVariant("invalid_confirmation", "yield_qty exponent", confirmation_columns={"yield_qty": "'1e2'"},
                   status="PCNF"),
    ),
    "negative_produced_units": (
        BadVariant("negative_produced_units", "reversal larger than the yield",
                   confirmation_columns={"yield_qty": "'-' || (planned_qty * 3)::varchar"}, status="PCNF"),
        BadVariant("negative_produced_units", "reversal with decimals",
                   confirmation_columns={"yield_qty": "'-' || (planned_qty * 3)::varchar || '.0'"}, status="CNF"),
    ),
    "expected_end_before_start": (
        BadVariant("expected_end_before_start", "start and end swapped", {
            "planned_start_ts": _ts("planned_end_at", _PLAIN),
            "planned_end_ts": _ts("planned_start_at", _PLAIN),
        }),
        BadVariant("expected_end_before_start", "end an hour early, written in +05:00 so its text looks later", {
            "planned_start_ts": _ts("planned_start_at", _PLAIN),
            "planned_end_ts": _ts("planned_start_at + interval 4 hour", "%Y-%m-%dT%H:%M:%S", "+05:00"),
        }),
    ),
    "actual_end_before_start": (
        BadVariant("actual_end_before_start", "final reversal back-dated before the first confirmation",
                   confirmation_columns={
                       "yield_qty": "'-1'",
                       "confirmed_ts": _ts("first_confirmed_at - interval 2 day", _PLAIN),
                   }, confirmation="final", status="CNF"),
        BadVariant("actual_end_before_start", "final reversal back-dated, order TECO",
                   confirmation_columns={
                       "yield_qty": "'-1.000'",
                       "confirmed_ts": _ts("first_confirmed_at - interval 3 day", "%Y-%m-%dT%H:%M:%SZ"),
                       "is_final": "'Y'",
                   }, confirmation="final", status="TECO"),
    ),
    "unknown_product": (
        BadVariant("unknown_product", "material not in master data", {"material_code": "'MAT-UNKNOWN'"}),
        BadVariant("unknown_product", "material code in lower case", {"material_code": "lower(material_code)"}),
        BadVariant("unknown_product", "superseded material code", {"material_code": "material_code || '-OLD'"}),
    ),
    "unknown_location": (
        BadVariant("unknown_location", "plant not in master data", {"plant_code": "'P9999'"}),
        BadVariant("unknown_location", "plant code in lower case", {"plant_code": "lower(plant_code)"}),
        BadVariant("unknown_location", "plant code with inner space", {"plant_code": "'P 1000'"}),
    ),
    "location_not_factory": (
        BadVariant("location_not_factory", "distribution centre", {"plant_code": "'DC01'"}),
        BadVariant("location_not_factory", "plant that stopped being a factory", {"plant_code": "'P4000'"}),
        BadVariant("location_not_factory", "warehouse", {"plant_code": "' WH10'"}),
        BadVariant("location_not_factory", "plant with missing is_factory", {"plant_code": "'HQ'"}),
        BadVariant("location_not_factory", "distribution centre flagged '0'", {"plant_code": "'DC02'"}),
    ),
    "unknown_status": (
        BadVariant("unknown_status", "closed (not an MES code here)", {"status_code": "'CLSD'"}),
        BadVariant("unknown_status", "trailing dot", {"status_code": "'REL.'"}),
        BadVariant("unknown_status", "inner spaces", {"status_code": "'C N F'"}),
        BadVariant("unknown_status", "typo", {"status_code": "'tech'"}),
    ),
}
