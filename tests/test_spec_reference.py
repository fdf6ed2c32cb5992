"""The Python reading of docs/behaviour.md (tests/reference) on hand-written examples.

The dbt models are checked against this reference, so the reference itself must be right: every case
here quotes or follows a sentence of docs/behaviour.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.reference.marts import CONTRACT_COLUMNS, RawTables, build_marts
from tests.reference.parsers import (
    clean_text,
    map_status,
    parse_boolean,
    parse_timestamp,
    parse_whole_number,
)

# --- docs/behaviour.md#parsing: parsers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  PO-1 \t\n", "PO-1"),
        ("\r\v\fA b\f", "A b"),
        ("", None),
        (" \t\n ", None),
        (None, None),
        ("\u00a0PO-1\u00a0", "\u00a0PO-1\u00a0"),  # unicode whitespace is not trimmed
        ("\u3000", "\u3000"),
        ("po-1", "po-1"),  # case kept
    ],
)
def test_clean_text_trims_ascii_whitespace_only(raw: str | None, expected: str | None) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-03-04", datetime(2025, 3, 4)),
        ("2025-03-04T05:06:07", datetime(2025, 3, 4, 5, 6, 7)),
        ("2025-03-04 05:06:07", datetime(2025, 3, 4, 5, 6, 7)),
        ("  2025-03-04 05:06:07\n", datetime(2025, 3, 4, 5, 6, 7)),
        ("2025-03-04T05:06:07.999999999", datetime(2025, 3, 4, 5, 6, 7)),  # truncated, never rounded
        ("2025-03-04T05:06:07.5Z", datetime(2025, 3, 4, 5, 6, 7)),
        ("2025-03-04T05:06:07Z", datetime(2025, 3, 4, 5, 6, 7)),
        ("2025-03-04T05:06:07+02:00", datetime(2025, 3, 4, 3, 6, 7)),
        ("2025-03-04T05:06:07+0200", datetime(2025, 3, 4, 3, 6, 7)),
        ("2025-03-04T23:30:00-01:30", datetime(2025, 3, 5, 1, 0, 0)),
        ("2025-01-01T00:30:00+01:00", datetime(2024, 12, 31, 23, 30, 0)),  # crosses the year
        ("2025-03-04T05:06:07+23:59", datetime(2025, 3, 3, 5, 7, 7)),
        ("2024-02-29T00:00:00", datetime(2024, 2, 29)),  # leap day exists in 2024
        ("0001-01-01", datetime(1, 1, 1)),
        ("9999-12-31T23:59:59", datetime(9999, 12, 31, 23, 59, 59)),
    ],
)
def test_parse_timestamp_accepts_spec_forms_and_returns_utc(raw: str, expected: datetime) -> None:
    assert parse_timestamp(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "2025-02-30",  # not on the calendar
        "2025-02-29T00:00:00",  # 2025 is not a leap year
        "2025-13-01",
        "2025-03-04T24:00:00",
        "2025-03-04T23:60:00",
        "2025-03-04T23:59:60",
        "2025-03-04T05:06",  # seconds are required
        "2025-03-04t05:06:07",  # T is upper-case
        "2025-03-04T05:06:07z",  # Z is upper-case
        "2025-03-04  05:06:07",  # one space only
        "2025-03-04T05:06:07 Z",  # zone directly after
        "2025-03-04Z",  # a date alone takes no zone
        "2025-03-04+01:00",
        "2025-03-04T05:06:07+24:00",  # zone hours 00-23
        "2025-03-04T05:06:07+01:60",  # zone minutes 00-59
        "2025-03-04T05:06:07+1",
        "2025-03-04T05:06:07+01",
        "2025-03-04T05:06:07+01:0",
        "2025-03-04T05:06:07.",  # `.` needs digits
        "2025-03-04T05:06:07,5",
        "2025-3-04",
        "25-03-04",
        "2025/03/04",
        "12025-03-04",
        "0000-01-01",
        "2025-03-04T",
        "2025-03-04T05:06:07\u00a0",  # unicode space is not trimmed
        "\u0662\u0660\u0662\u0665-03-04",  # Arabic-Indic digits are not digits here
        "0001-01-01T00:30:00+01:00",  # UTC value before year 1
        "9999-12-31T23:30:00-01:00",  # UTC value after year 9999
    ],
)
def test_parse_timestamp_rejects_everything_else(raw: str | None) -> None:
    assert parse_timestamp(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("500", 500),
        ("500.0", 500),
        ("-12", -12),
        ("+3.00", 3),
        (" 007 ", 7),
        ("-0", 0),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
        ("0009223372036854775807.000", 2**63 - 1),
    ],
)
def test_parse_whole_number_accepts_whole_decimal_text(raw: str, expected: int) -> None:
    assert parse_whole_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None, "", "500.5", "1e3", "1,000", "1_000", ".5", "5.", "+", "-", "--1", "+-1", "1 000", "0x10",
        "9223372036854775808", "-9223372036854775809",
        "-99999999999999999999", "-00000000000000000000009223372036854775809",
        "1" * 5000, "\u0661", "5\u00a0", "NaN", "inf",
    ],
)
def test_parse_whole_number_rejects_anything_else(raw: str | None) -> None:
    assert parse_whole_number(raw) is None


@pytest.mark.parametrize("raw", ["true", "TRUE", " t ", "Yes", "Y", "1"])
def test_parse_boolean_true_words(raw: str) -> None:
    assert parse_boolean(raw) is True


@pytest.mark.parametrize("raw", [None, "", "false", "0", "no", "on", "1.0", "tru", "yes!", "\u00a0y"])
def test_parse_boolean_anything_else_is_false(raw: str | None) -> None:
    assert parse_boolean(raw) is False


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CRTD", "scheduled"), ("rel", "scheduled"), (" pcnf ", "in_progress"), ("Cnf", "completed"),
        ("TECO", "completed"), ("dlt", "cancelled"), ("", None), (None, None), ("DONE", None),
        ("C N F", None),
    ],
)
def test_map_status_is_case_insensitive(raw: str | None, expected: str | None) -> None:
    assert map_status(raw) == expected


# --- docs/behaviour.md#current-state to #rejection-codes: marts --------------------------------------------

T0 = datetime(2025, 1, 1)


def order(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_no": "PO-1",
        "material_code": "MAT-1",
        "plant_code": "P1",
        "line_code": "L1",
        "created_ts": "2025-01-01T08:00:00",
        "planned_qty": "100",
        "planned_start_ts": "2025-01-02T08:00:00",
        "planned_end_ts": "2025-01-03T08:00:00",
        "status_code": "REL",
        "changed_ts": "2025-01-01T09:00:00",
        "_extracted_at": T0,
    }
    row.update(overrides)
    return row


def confirmation(cid: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "confirmation_id": cid,
        "order_no": "PO-1",
        "confirmed_ts": "2025-01-02T10:00:00",
        "yield_qty": "10",
        "scrap_qty": "0",
        "is_final": "false",
        "_extracted_at": T0,
    }
    row.update(overrides)
    return row


MATERIALS = [{"material_code": "MAT-1", "description": "widget", "_extracted_at": T0}]
PLANTS = [{"plant_code": "P1", "plant_name": "Plant 1", "is_factory": "true", "_extracted_at": T0}]


def marts_for(orders: list[dict[str, Any]], confirmations: list[dict[str, Any]] | None = None,
              materials: list[dict[str, Any]] | None = None, plants: list[dict[str, Any]] | None = None):
    return build_marts(RawTables(
        orders=orders,
        confirmations=confirmations or [],
        materials=MATERIALS if materials is None else materials,
        plants=PLANTS if plants is None else plants,
    ))


def contract_row(marts) -> dict[str, Any]:
    assert marts.rejected == []
    assert len(marts.contract) == 1
    return dict(zip(CONTRACT_COLUMNS, marts.contract[0], strict=True))


def reasons(marts) -> dict[str | None, str]:
    assert marts.contract == []
    return dict(marts.rejected)


def test_clean_order_without_confirmations_is_exported_with_trimmed_values() -> None:
    row = contract_row(marts_for([order(order_no=" PO-1 ", material_code="MAT-1\t", planned_qty="+100.00")]))
    assert row == {
        "order_number": "PO-1",
        "product_id": "MAT-1",
        "location_id": "P1",
        "source_id": "L1",
        "ordered_at": datetime(2025, 1, 1, 8),
        "ordered_units": 100,
        "expected_start_date": datetime(2025, 1, 2, 8),
        "actual_start_date": None,
        "expected_end_date": datetime(2025, 1, 3, 8),
        "actual_end_date": None,
        "produced_units": None,
        "status": "scheduled",
        "updated_at": datetime(2025, 1, 1, 9),
    }


def test_latest_extraction_wins_then_greater_changed_ts() -> None:
    later = datetime(2025, 1, 2)
    marts = marts_for([
        order(planned_qty="1", _extracted_at=T0),
        order(planned_qty="2", _extracted_at=later, changed_ts="2025-01-01T09:00:00"),
        order(planned_qty="3", _extracted_at=later, changed_ts="2025-01-01T10:00:00+02:00"),  # 08:00 UTC
        order(planned_qty="4", _extracted_at=later, changed_ts="garbage"),  # invalid loses the tie
    ])
    assert contract_row(marts)["ordered_units"] == 2
    assert marts.ambiguous == []


def test_full_tie_between_different_versions_is_reported_ambiguous() -> None:
    marts = marts_for([order(planned_qty="1"), order(planned_qty="2")])
    assert marts.ambiguous == ["orders:PO-1"]


def test_order_numbers_are_case_sensitive() -> None:
    marts = marts_for([order(order_no="po-1"), order(order_no="PO-1")])
    assert sorted(r[0] for r in marts.contract) == ["PO-1", "po-1"]


def test_confirmations_give_actual_dates_produced_units_and_updated_at() -> None:
    marts = marts_for(
        [order(status_code="cnf")],
        [
            confirmation("C1", confirmed_ts="2025-01-02T10:00:00", yield_qty="30"),
            confirmation("C1", confirmed_ts="2025-01-02T10:00:00", yield_qty="30"),  # delivered twice
            confirmation("C2", confirmed_ts="2025-01-02T09:00:00", yield_qty="-5"),  # reversal: not a start
            confirmation("C3", confirmed_ts="2025-01-03T11:00:00", yield_qty="50", is_final="Y"),
            confirmation("C4", confirmed_ts="2025-01-04T12:00:00", yield_qty="0"),  # scrap-only, not final
            confirmation("C5", confirmed_ts=" ", yield_qty="7"),  # counts for units, not dates
            confirmation("C6", order_no="PO-404", confirmed_ts="2030-01-01"),  # unknown order: ignored
        ],
    )
    row = contract_row(marts)
    assert row["actual_start_date"] == datetime(2025, 1, 2, 10)
    assert row["actual_end_date"] == datetime(2025, 1, 3, 11)  # latest final one, not C4
    assert row["produced_units"] == 30 - 5 + 50 + 0 + 7
    assert row["status"] == "completed"
    assert row["updated_at"] == datetime(2025, 1, 4, 12)


def test_latest_confirmation_version_wins() -> None:
    marts = marts_for(
        [order()],
        [confirmation("C1", yield_qty="10"), confirmation("C1", yield_qty="12", _extracted_at=datetime(2025, 2, 1))],
    )
    assert contract_row(marts)["produced_units"] == 12


def test_completed_without_final_confirmation_ends_at_latest_confirmation() -> None:
    marts = marts_for(
        [order(status_code="TECO")],
        [confirmation("C1", confirmed_ts="2025-01-02T10:00:00"), confirmation("C2", confirmed_ts="2025-01-05")],
    )
    assert contract_row(marts)["actual_end_date"] == datetime(2025, 1, 5)


def test_actual_end_is_null_unless_completed() -> None:
    marts = marts_for([order(status_code="PCNF")], [confirmation("C1", is_final="true")])
    row = contract_row(marts)
    assert row["actual_end_date"] is None
    assert row["actual_start_date"] == datetime(2025, 1, 2, 10)
    assert row["status"] == "in_progress"


def test_final_reversal_counts_for_actual_end() -> None:
    marts = marts_for(
        [order(status_code="CNF")],
        [
            confirmation("C1", confirmed_ts="2025-01-02T10:00:00", yield_qty="10"),
            confirmation("C2", confirmed_ts="2025-01-06T10:00:00", yield_qty="-1", is_final="1"),
        ],
    )
    assert contract_row(marts)["actual_end_date"] == datetime(2025, 1, 6, 10)


def test_updated_at_keeps_changed_ts_when_later_than_confirmations() -> None:
    marts = marts_for([order(changed_ts="2025-02-01T00:00:00Z")], [confirmation("C1")])
    assert contract_row(marts)["updated_at"] == datetime(2025, 2, 1)


def test_missing_status_is_exported_with_null_status() -> None:
    assert contract_row(marts_for([order(status_code="  ")]))["status"] is None


@pytest.mark.parametrize(
    "column",
    ["material_code", "plant_code", "line_code", "created_ts", "planned_qty", "planned_start_ts",
     "planned_end_ts", "changed_ts"],
)
def test_missing_required_column_rejects(column: str) -> None:
    assert reasons(marts_for([order(**{column: " \t"})])) == {"PO-1": "missing_required"}


def test_rows_without_order_number_are_rejected_with_null_number_each() -> None:
    marts = marts_for([order(order_no=None), order(order_no=" "), order()])
    assert sorted(marts.rejected, key=str) == [(None, "missing_required"), (None, "missing_required")]
    assert marts.current_order_numbers == {"PO-1"}


def test_all_applicable_reasons_sorted_and_comma_separated() -> None:
    marts = marts_for(
        [order(
            material_code="MAT-X", plant_code="P-X", created_ts="yesterday", planned_qty="0",
            planned_start_ts="2025-01-03", planned_end_ts="2025-01-02", status_code="BOGUS", line_code="",
        )],
        [confirmation("C1", yield_qty="-20"), confirmation("C2", yield_qty="1.5", confirmed_ts="2025-13-01")],
    )
    assert reasons(marts) == {"PO-1": ",".join([
        "expected_end_before_start",
        "invalid_confirmation",
        "invalid_ordered_units",
        "invalid_timestamp",
        "missing_required",
        "negative_produced_units",
        "unknown_location",
        "unknown_product",
        "unknown_status",
    ])}


@pytest.mark.parametrize("planned_qty", ["0", "-3", "2.5", "ten", "9223372036854775808"])
def test_planned_qty_not_whole_positive_is_invalid_ordered_units(planned_qty: str) -> None:
    assert reasons(marts_for([order(planned_qty=planned_qty)])) == {"PO-1": "invalid_ordered_units"}


@pytest.mark.parametrize("yield_qty", [None, "", "1.5", "1e2"])
def test_yield_missing_or_not_whole_is_invalid_confirmation(yield_qty: str | None) -> None:
    marts = marts_for([order()], [confirmation("C1", yield_qty=yield_qty)])
    assert reasons(marts) == {"PO-1": "invalid_confirmation"}


def test_negative_sum_of_yields_rejects() -> None:
    marts = marts_for([order()], [confirmation("C1", yield_qty="5"), confirmation("C2", yield_qty="-6")])
    assert reasons(marts) == {"PO-1": "negative_produced_units"}


def test_invalid_confirmed_ts_is_invalid_timestamp_of_its_order() -> None:
    marts = marts_for([order()], [confirmation("C1", confirmed_ts="2025-01-02 25:00:00")])
    assert reasons(marts) == {"PO-1": "invalid_timestamp"}


def test_actual_end_before_start_rejects() -> None:
    marts = marts_for(
        [order(status_code="CNF")],
        [
            confirmation("C1", confirmed_ts="2025-01-05", yield_qty="10"),
            confirmation("C2", confirmed_ts="2025-01-04", yield_qty="-1", is_final="yes"),
        ],
    )
    assert reasons(marts) == {"PO-1": "actual_end_before_start"}


def test_plant_that_is_no_longer_a_factory_rejects() -> None:
    later = datetime(2025, 3, 1)
    plants = [*PLANTS, {"plant_code": "P1", "plant_name": "P", "is_factory": "no", "_extracted_at": later}]
    assert reasons(marts_for([order()], plants=plants)) == {"PO-1": "location_not_factory"}


def test_material_and_plant_codes_match_case_sensitively_after_trimming() -> None:
    materials = [{"material_code": " MAT-1 ", "description": None, "_extracted_at": T0}]
    assert contract_row(marts_for([order()], materials=materials))["product_id"] == "MAT-1"
    assert reasons(marts_for([order(material_code="mat-1")])) == {"PO-1": "unknown_product"}


def test_confirmation_of_rejected_order_still_belongs_to_it() -> None:
    marts = marts_for([order(material_code="MAT-X")], [confirmation("C1", yield_qty="x")])
    assert reasons(marts) == {"PO-1": "invalid_confirmation,unknown_product"}
