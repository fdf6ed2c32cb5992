"""The Locations models (docs/locations.md) built by a real `dbt build` on a DuckDB file of the test's own.

Sample data supplies the MES plants, orders and the rest; a few plants are added to raw.mes_plants to
cover each rule: a factory, a plant that is not one, an is_factory word that is not a true word (false by
docs/behaviour.md#parsing, never invalid), a raw row without a plant_code (rejected), the vars that fill
country, is_store and is_dc, and an incremental build after one plant changed, which must rewrite that
plant's row only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from mo_export_dev.sample_data import generate
from tests.dbt_support import DbtRun, run_dbt

pytestmark = pytest.mark.slow

BUILD = ["build", "--exclude-resource-type", "unit_test"]
VARS = "{max_rejected_share: 1}"
LOCATION_COLUMNS = ["location_id", "location_name", "country", "is_store", "is_dc", "is_factory", "updated_at"]


def _rows(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [tuple(r) for r in con.execute(sql, params or []).fetchall()]


def _location(path: Path, location_id: str) -> dict[str, Any]:
    rows = _rows(path, f"select {', '.join(LOCATION_COLUMNS)} from main.peak_locations where location_id = ?",
                 [location_id])
    assert len(rows) == 1, f"{location_id}: {rows}"
    return dict(zip(LOCATION_COLUMNS, rows[0], strict=True))


def _build(path: Path, target: Path, vars_: str = VARS) -> DbtRun:
    run = run_dbt(BUILD, duckdb_path=path, target_path=target, vars_=vars_)
    assert run.success, "\n".join(run.failures())
    return run


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, datetime]:
    """Sample data plus the test's own plants, built once."""
    folder = tmp_path_factory.mktemp("locations")
    path = folder / "locations.duckdb"
    generate(path, orders=200, seed=11)
    with duckdb.connect(str(path)) as con:
        latest = con.execute("select max(_extracted_at) from raw.mes_plants").fetchall()[0][0]
        at = latest + timedelta(days=1)
        con.executemany("insert into raw.mes_plants values (?, ?, ?, ?)", [
            (" LOC-F\t", " Test factory ", " Yes ", at + timedelta(microseconds=750_000)),
            ("LOC-W", "Test warehouse", "no", at),
            ("LOC-M", "Maybe plant", "maybe", at),
            ("   ", "Plant without a code", "Y", at),
        ])
    _build(path, folder / "target")
    return path, folder, at


def test_a_factory_plant_is_a_factory_location(built) -> None:
    path, _, at = built
    assert _location(path, "LOC-F") == {
        "location_id": "LOC-F", "location_name": "Test factory", "country": None, "is_store": False,
        "is_dc": False, "is_factory": True, "updated_at": at,  # the 0.75 s fraction cut off
    }
    # the sample data's factories too, and every exported order is at a factory location
    assert _location(path, "P1000")["is_factory"] is True
    assert _rows(path, """
        select count(*) from main.peak_manufacturing_orders as orders
        left join main.peak_locations as locations on orders.location_id = locations.location_id
        where locations.location_id is null or not locations.is_factory""") == [(0,)]


def test_a_plant_that_is_not_a_factory_is_a_location_that_is_not_one(built) -> None:
    path, _, at = built
    assert _location(path, "LOC-W") == {
        "location_id": "LOC-W", "location_name": "Test warehouse", "country": None, "is_store": False,
        "is_dc": False, "is_factory": False, "updated_at": at,
    }
    # P4000 stopped being a factory ("Y" then "0"): a location, not a factory; its orders are rejected
    assert _location(path, "P4000")["is_factory"] is False
    assert _rows(path, "select count(*) from main.peak_manufacturing_orders where location_id = 'P4000'") == [(0,)]


def test_is_factory_text_that_is_no_true_word_is_false_not_rejected(built) -> None:
    """docs/behaviour.md#parsing: anything but true t yes y 1 is false, so boolean text is never invalid."""
    path, _, _ = built
    assert _location(path, "LOC-M")["is_factory"] is False
    assert _rows(path, "select count(*) from main.peak_locations_rejected where location_id = 'LOC-M'") == [(0,)]


def test_a_plant_row_without_a_plant_code_is_rejected_with_its_reason(built) -> None:
    path, _, at = built
    rejected = _rows(path, """
        select location_id, rejection_reasons, rejection_message, plant_name, is_factory_text, extracted_at
        from main.peak_locations_rejected where plant_name = 'Plant without a code'""")
    assert rejected == [(None, "missing_required", "plant_code is missing", "Plant without a code", "Y", at)]
    # the sample data's two rows without a code as well; nothing else is rejected
    assert _rows(path, "select count(*), count(location_id) from main.peak_locations_rejected") == [(3, 0)]


def test_every_plant_is_in_exactly_one_location_mart(built) -> None:
    path, _, _ = built
    codes = {(code or "").strip(" \t\n\v\f\r") for (code,) in _rows(path, "select plant_code from raw.mes_plants")}
    plants = sorted((code,) for code in codes if code)
    landed = _rows(path, "select location_id from main.peak_locations"
                         " union all select location_id from main.peak_locations_rejected where location_id is not null"
                         " order by 1")
    assert landed == plants
    assert len(plants) == 14  # the 11 sample plants and LOC-F, LOC-W, LOC-M


def test_both_marts_carry_the_owner_and_the_peak_meta_for_the_exporter(built) -> None:
    _, folder, _ = built
    nodes = orjson.loads((folder / "target" / "manifest.json").read_bytes())["nodes"]
    locations = nodes["model.mo_export.peak_locations"]["config"]
    orders = nodes["model.mo_export.peak_manufacturing_orders"]["config"]
    assert locations["contract"]["enforced"] is True
    assert locations["meta"] == {
        "owner": "mo-export-owners@example.com",
        "peak": {"object_name": "INV_LOCATIONS_OOTB", "primary_key": ["location_id", "updated_at"],
                 "version_column": "updated_at"},
    }
    assert orders["contract"]["enforced"] is True
    assert orders["meta"]["owner"] == "mo-export-owners@example.com"
    assert orders["meta"]["peak"] == {
        "object_name": "INV_MANUFACTURING_ORDERS_OOTB",
        "primary_key": ["product_id", "location_id", "order_number", "updated_at"],
        "version_column": "updated_at",
        "references": [{"column": "location_id", "model": "peak_locations", "parent_column": "location_id",
                        "require": {"is_factory": True}},
                       {"column": "product_id", "model": "int_product_master", "parent_column": "product_id",
                        "check": "present", "optional": True}],
    }


def test_a_changed_plant_rewrites_its_own_row_only(built) -> None:
    path, folder, at = built
    before = {r[0]: r for r in _rows(path, "select * from main.peak_locations")}
    with duckdb.connect(str(path)) as con:
        # a mark on a row no plant change touches: an incremental build must leave it as it is
        con.execute("update main.peak_locations set location_name = 'not rewritten' where location_id = 'P1100'")
        con.execute("insert into raw.mes_plants values ('LOC-W', 'Test warehouse, now a factory', 'Y', ?)",
                    [at + timedelta(days=1)])
    _build(path, folder / "target_changed")
    assert _rows(path, "select location_id from main.int_locations_to_rebuild") == [("LOC-W",)]
    assert _location(path, "LOC-W") == {
        "location_id": "LOC-W", "location_name": "Test warehouse, now a factory", "country": None,
        "is_store": False, "is_dc": False, "is_factory": True, "updated_at": at + timedelta(days=1),
    }
    after = {r[0]: r for r in _rows(path, "select * from main.peak_locations")}
    assert after["P1100"][1] == "not rewritten"
    assert {k: v for k, v in after.items() if k not in ("LOC-W", "P1100")} == {
        k: v for k, v in before.items() if k not in ("LOC-W", "P1100")}
    # the build verdict records each location mart of that build (the exporter refuses an untested one)
    statuses = _rows(path, """
        select unique_id, status from mo_export_build.node_results
        where invocation_id = (select invocation_id from main.int_build_state)
          and unique_id in ('model.mo_export.peak_locations', 'model.mo_export.peak_locations_rejected')
        order by unique_id, status""")
    assert statuses == [
        ("model.mo_export.peak_locations", "built"), ("model.mo_export.peak_locations", "success"),
        ("model.mo_export.peak_locations_rejected", "built"), ("model.mo_export.peak_locations_rejected", "success"),
    ]
    # a full rebuild repairs the mark, and agrees with the incremental build everywhere else
    _build_full = run_dbt(["run", "--full-refresh"], duckdb_path=path, target_path=folder / "target_full",
                          vars_=VARS)
    assert _build_full.success, "\n".join(_build_full.failures())
    refreshed = {r[0]: r for r in _rows(path, "select * from main.peak_locations")}
    assert refreshed["P1100"][1] == "Lyon machining"
    assert {k: v for k, v in refreshed.items() if k != "P1100"} == {
        k: v for k, v in after.items() if k != "P1100"}


def test_the_vars_fill_country_store_and_dc_of_every_location(built) -> None:
    path, folder, _ = built
    _build(path, folder / "target_vars",
           vars_="{max_rejected_share: 1, location_country: DE, location_is_store: true, location_is_dc: true}")
    # no plant changed, yet every row takes the new values at once
    assert _rows(path, "select count(*) from main.int_locations_to_rebuild") == [(0,)]
    assert _rows(path, "select country, is_store, is_dc, count(*) from main.peak_locations group by all") == [
        ("DE", True, True, 14)]
    assert _location(path, "LOC-F")["is_factory"] is True
    # and back to the documented defaults (null, false, false) without the vars
    _build(path, folder / "target_defaults")
    assert _rows(path, "select country, is_store, is_dc, count(*) from main.peak_locations group by all") == [
        (None, False, False, 14)]


def test_a_location_var_of_the_wrong_kind_fails_the_build(built) -> None:
    path, folder, _ = built
    run = run_dbt(["compile", "-s", "int_locations_validated"], duckdb_path=path,
                  target_path=folder / "target_bad_var", vars_="{location_is_dc: 'yes'}")
    assert not run.success
    assert "location_is_dc must be true or false" in "\n".join(run.failures())
