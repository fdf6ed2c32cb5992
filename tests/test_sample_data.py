"""The sample-data generator: deterministic, shaped as docs/behaviour.md#raw-tables, realistic, and planting
every rejection code."""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from exporter.warehouse import connect
from mo_export_dev.sample_data import generate, generator, mix, simulate_next_extraction
from mo_export_dev.sample_data.command import sample_data_command
from tests.reference.marts import build_marts
from tests.reference.warehouse_io import RAW_COLUMNS, read_raw_tables

TRIM = "' ' || chr(9) || chr(10) || chr(13)"
TIMESTAMP_COLUMNS = {
    "mes_production_orders": ("created_ts", "planned_start_ts", "planned_end_ts", "changed_ts"),
    "mes_confirmations": ("confirmed_ts",),
}
#: Each docs/behaviour.md#parsing timestamp form -> a regular expression matching the trimmed text.
TIMESTAMP_FORMS = {
    "date only": r"^\d{4}-\d{2}-\d{2}$",
    "T separator": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}",
    "space separator": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    "1-digit fraction": r":\d{2}\.\d(Z|[+-]|$)",
    "3-digit fraction": r":\d{2}\.\d{3}(Z|[+-]|$)",
    "6-digit fraction": r":\d{2}\.\d{6}(Z|[+-]|$)",
    "9-digit fraction": r":\d{2}\.\d{9}(Z|[+-]|$)",
    "Z": r"\d{2}:\d{2}:\d{2}(\.\d+)?Z$",
    "+HH:MM": r"\d{2}:\d{2}:\d{2}(\.\d+)?\+\d{2}:\d{2}$",
    "-HH:MM": r"\d{2}:\d{2}:\d{2}(\.\d+)?-\d{2}:\d{2}$",
    "+HHMM": r"\d{2}:\d{2}:\d{2}(\.\d+)?\+\d{4}$",
    "-HHMM": r"\d{2}:\d{2}:\d{2}(\.\d+)?-\d{4}$",
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """10,000 orders (seed 7): enough for every bad-row variant; about 2 s to write."""
    path = tmp_path_factory.mktemp("sample_data") / "sample.duckdb"
    summary = generate(path, orders=10_000, seed=7)
    yield path, summary


@pytest.fixture
def con(sample: tuple[Path, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(sample[0]), read_only=True)
    yield connection
    connection.close()


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = con.execute(sql, params or []).fetchone()
    assert row is not None
    return row[0]


def sorted_rows(path: Path, schema: str = "raw") -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(path), read_only=True) as c:
        return {table: sorted(c.execute(f'select * from "{schema}".{table}').fetchall(), key=repr)
                for table in RAW_COLUMNS}


# --- determinism ------------------------------------------------------------------------------------------


def test_same_orders_and_seed_give_identical_tables(tmp_path: Path) -> None:
    generate(tmp_path / "a.duckdb", orders=1500, seed=3)
    generate(tmp_path / "b.duckdb", orders=1500, seed=3)
    a, b = sorted_rows(tmp_path / "a.duckdb"), sorted_rows(tmp_path / "b.duckdb")
    assert all(len(a[t]) > 0 for t in RAW_COLUMNS)
    assert a == b


def test_thread_count_does_not_change_the_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large enough (several DuckDB row groups) that the default threads really split the work."""
    generate(tmp_path / "parallel.duckdb", orders=45_000, seed=4)
    monkeypatch.setattr(generator, "connect", functools.partial(connect, threads=1))
    generate(tmp_path / "serial.duckdb", orders=45_000, seed=4)
    assert sorted_rows(tmp_path / "parallel.duckdb") == sorted_rows(tmp_path / "serial.duckdb")


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    generate(tmp_path / "a.duckdb", orders=1500, seed=3)
    generate(tmp_path / "b.duckdb", orders=1500, seed=4)
    a, b = sorted_rows(tmp_path / "a.duckdb"), sorted_rows(tmp_path / "b.duckdb")
    for table in ("mes_production_orders", "mes_confirmations", "mes_materials"):
        assert a[table] != b[table], table


def test_generating_again_replaces_the_tables_and_keeps_other_schemas(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    generate(path, orders=1200, seed=1)
    generate(path, orders=300, seed=1, raw_schema="other_raw")
    second = generate(path, orders=500, seed=1)
    with duckdb.connect(str(path), read_only=True) as c:
        assert scalar(c, "select count(*) from raw.mes_production_orders") == second.order_rows
        assert scalar(c, f"select count(distinct nullif(trim(order_no, {TRIM}), '')) from raw.mes_production_orders") \
            == second.orders
        assert scalar(c, "select count(*) from other_raw.mes_production_orders") > 0
        planted = dict(c.execute(
            "select raw_schema, count(*) from sample_data.planted_bad_orders group by all").fetchall())
    assert planted["raw"] == second.bad_orders


def test_rejects_a_raw_schema_that_is_not_an_identifier(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="raw schema 'raw; drop'"):
        generate(tmp_path / "x.duckdb", orders=10, seed=1, raw_schema="raw; drop")


# --- shape ------------------------------------------------------------------------------------------------


def test_tables_have_exactly_the_spec_columns_and_types(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in RAW_COLUMNS.items():
        found = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'raw' and table_name = ? order by ordinal_position", [table]
        ).fetchall()
        expected = [(c, "TIMESTAMP" if c == "_extracted_at" else "VARCHAR") for c in columns]
        assert found == expected, table


def test_summary_counts_match_the_tables(sample: tuple[Path, Any], con: duckdb.DuckDBPyConnection) -> None:
    summary = sample[1]

    def distinct(table: str, column: str) -> int:
        return int(scalar(con, f"select count(distinct nullif(trim({column}, {TRIM}), '')) from raw.{table}"))

    assert summary.order_rows == scalar(con, "select count(*) from raw.mes_production_orders")
    assert summary.orders == distinct("mes_production_orders", "order_no")
    assert summary.confirmation_rows == scalar(con, "select count(*) from raw.mes_confirmations")
    assert summary.confirmations == distinct("mes_confirmations", "confirmation_id")
    assert summary.material_rows == scalar(con, "select count(*) from raw.mes_materials")
    assert summary.materials == distinct("mes_materials", "material_code")
    assert summary.plant_rows == scalar(con, "select count(*) from raw.mes_plants")
    assert summary.plants == distinct("mes_plants", "plant_code")
    assert summary.bad_orders == scalar(con, "select count(*) from sample_data.planted_bad_orders")
    assert summary.bad_orders == round(10_000 * mix.BAD_ORDER_SHARE)
    assert sum(n for _, n in summary.bad_orders_by_code) == summary.bad_orders
    assert "mes_confirmations" in summary.describe()


def test_sizes_are_realistic(sample: tuple[Path, Any], con: duckdb.DuckDBPyConnection) -> None:
    summary = sample[1]
    assert 2.4 <= summary.order_rows / summary.orders <= 3.5  # several versions per order
    assert 2.5 <= summary.confirmations / summary.orders <= 3.5  # about 3 confirmations per order
    assert summary.confirmation_rows > summary.confirmations  # redeliveries
    assert summary.materials >= 100
    lines = scalar(con, f"select count(distinct trim(line_code, {TRIM})) from raw.mes_production_orders")
    assert lines >= 50


# --- realism ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "column"), [(t, c) for t, cs in TIMESTAMP_COLUMNS.items() for c in cs])
def test_every_timestamp_form_appears_in_every_timestamp_column(
    con: duckdb.DuckDBPyConnection, table: str, column: str
) -> None:
    missing = [
        form for form, pattern in TIMESTAMP_FORMS.items()
        if not scalar(con, f"select count(*) from raw.{table} "
                           f"where regexp_matches(trim({column}, {TRIM}), '{pattern}')")
    ]
    assert missing == []


def test_values_carry_spaces_tabs_and_newlines(con: duckdb.DuckDBPyConnection) -> None:
    for character in ("' '", "chr(9)", "chr(10)"):
        for table, column in [("mes_production_orders", "material_code"), ("mes_production_orders", "changed_ts"),
                              ("mes_confirmations", "yield_qty"), ("mes_confirmations", "order_no")]:
            count = scalar(con, f"select count(*) from raw.{table} where starts_with({column}, {character}) "
                                f"or ends_with({column}, {character})")
            assert count > 0, (table, column, character)


def test_orders_progress_through_statuses_in_mixed_case(con: duckdb.DuckDBPyConnection) -> None:
    codes = {r[0] for r in con.execute(
        f"select distinct trim(status_code, {TRIM}) from raw.mes_production_orders").fetchall()}
    assert {"CRTD", "REL", "PCNF", "CNF", "TECO", "DLT", "rel", "Cnf"} <= codes
    # every good order's versions have strictly increasing _extracted_at, and the status moves forward
    backwards = scalar(con, f"""
        select count(*) from (
            select
                upper(trim(status_code, {TRIM})) as status,
                lag(upper(trim(status_code, {TRIM}))) over (partition by order_no order by _extracted_at) as previous
            from raw.mes_production_orders
            where trim(order_no, {TRIM}) not in (select order_no from sample_data.planted_bad_orders)
        )
        where (previous, status) not in (('CRTD', 'REL'), ('CRTD', 'DLT'), ('REL', 'PCNF'), ('REL', 'DLT'),
                                         ('PCNF', 'CNF'), ('CNF', 'TECO'), ('CRTD', ''), ('REL', ''),
                                         ('PCNF', ''), ('CNF', ''))
            and previous is not null""")
    assert backwards == 0
    assert scalar(con, "select max(c) from (select count(*) c from raw.mes_production_orders group by order_no)") == 5


def test_decimal_and_boolean_texts_vary(con: duckdb.DuckDBPyConnection) -> None:
    qty = {r[0] for r in con.execute(
        f"select distinct regexp_replace(trim(planned_qty, {TRIM}), '[0-9]+', 'N', 'g') "
        "from raw.mes_production_orders").fetchall()}
    assert {"N", "N.N", "+N", "+N.N"} <= qty
    finals = {r[0] for r in con.execute("select distinct is_final from raw.mes_confirmations").fetchall()}
    assert {"Y", "true", " yes ", "1", "N", "false", "0", "", None} <= finals
    factories = {r[0] for r in con.execute("select distinct is_factory from raw.mes_plants").fetchall()}
    assert {"Y", "true", " yes ", "0", "N", "false"} <= factories


def test_confirmations_are_redelivered_reversed_and_scrap_only(con: duckdb.DuckDBPyConnection) -> None:
    same = scalar(con, "select count(*) from (select confirmation_id from raw.mes_confirmations "
                       "group by confirmation_id, _extracted_at having count(*) > 1)")
    later = scalar(con, "select count(*) from (select confirmation_id from raw.mes_confirmations "
                        "group by confirmation_id having count(distinct _extracted_at) > 1)")
    reversals = scalar(con, f"select count(*) from raw.mes_confirmations where trim(yield_qty, {TRIM}) like '-%'")
    scrap_only = scalar(con, f"""select count(*) from raw.mes_confirmations
        where try_cast(trim(yield_qty, {TRIM}) as double) = 0 and try_cast(trim(scrap_qty, {TRIM}) as double) > 0""")
    assert min(same, later, reversals, scrap_only) > 0, (same, later, reversals, scrap_only)


def test_confirmations_of_orders_that_do_not_exist(con: duckdb.DuckDBPyConnection) -> None:
    orphans = scalar(con, f"""
        select count(distinct trim(confirmation_id, {TRIM})) from raw.mes_confirmations
        where trim(order_no, {TRIM}) not in (
            select trim(order_no, {TRIM}) from raw.mes_production_orders where order_no is not null)""")
    assert orphans == round(10_000 * mix.ORPHAN_CONFIRMATION_SHARE)


def test_master_data_has_versions_non_factories_and_rows_without_code(con: duckdb.DuckDBPyConnection) -> None:
    for table, code in [("mes_plants", "plant_code"), ("mes_materials", "material_code")]:
        assert scalar(con, f"select count(*) from raw.{table} where nullif(trim({code}, {TRIM}), '') is null") > 0
        most_versions = f"select max(c) from (select count(*) as c from raw.{table} group by trim({code}, {TRIM}))"
        assert scalar(con, most_versions) >= 2
    latest_flags = dict(con.execute(f"""
        select trim(plant_code, {TRIM}),
            coalesce(lower(trim(is_factory, {TRIM})) in ('true', 't', 'yes', 'y', '1'), false)
        from raw.mes_plants where nullif(trim(plant_code, {TRIM}), '') is not null
        qualify row_number() over (partition by trim(plant_code, {TRIM}) order by _extracted_at desc) = 1
    """).fetchall())
    assert latest_flags == {p.code: p.lines > 0 for p in mix.PLANTS}
    assert not all(latest_flags.values())


# --- bad rows ---------------------------------------------------------------------------------------------


def test_every_rejection_code_is_planted_from_1000_orders(tmp_path: Path) -> None:
    summary = generate(tmp_path / "k.duckdb", orders=1000, seed=12)
    assert {code for code, _ in summary.bad_orders_by_code} == set(mix.BAD_VARIANTS)
    assert summary.bad_orders / summary.orders < 0.02


@pytest.mark.parametrize("column", [
    "order_no", "material_code", "plant_code", "line_code", "created_ts", "planned_qty",
    "planned_start_ts", "planned_end_ts", "changed_ts",
])
def test_each_required_column_is_missing_somewhere(con: duckdb.DuckDBPyConnection, column: str) -> None:
    forms = {r[0] for r in con.execute(
        f"select distinct {column} from raw.mes_production_orders where nullif(trim({column}, {TRIM}), '') is null"
    ).fetchall()}
    assert forms, column
    if column == "order_no":
        assert {None, ""} <= forms and any(f and not f.strip() for f in forms)


@pytest.mark.parametrize(("table", "column", "like"), [
    ("mes_production_orders", "planned_end_ts", "%-02-30 %"),
    ("mes_production_orders", "created_ts", "% 25:00:00"),
    ("mes_production_orders", "planned_start_ts", "____-__-__T__:__"),
    ("mes_production_orders", "changed_ts", "____-__-__t__:__:__"),
    ("mes_production_orders", "created_ts", "%+2400"),
    ("mes_production_orders", "planned_end_ts", "____-__-__  __:__:__"),
    ("mes_production_orders", "changed_ts", "%+05:60"),
    ("mes_production_orders", "changed_ts", "____-13-%"),
    ("mes_confirmations", "confirmed_ts", "%z"),
    ("mes_confirmations", "confirmed_ts", "__.__.____ %"),
    ("mes_confirmations", "confirmed_ts", "____-__-__Z"),
    ("mes_production_orders", "planned_qty", "%.5"),
    ("mes_production_orders", "planned_qty", "0"),
    ("mes_production_orders", "planned_qty", "-%"),
    ("mes_production_orders", "planned_qty", "abc"),
    ("mes_production_orders", "planned_qty", "1e3"),
    ("mes_production_orders", "planned_qty", "1,000"),
    ("mes_confirmations", "yield_qty", "%.5"),
    ("mes_confirmations", "yield_qty", "n/a"),
    ("mes_production_orders", "material_code", "MAT-UNKNOWN"),
    ("mes_production_orders", "material_code", "mat-%"),
    ("mes_production_orders", "plant_code", "P9999"),
    ("mes_production_orders", "plant_code", "p%"),
    ("mes_production_orders", "plant_code", "P 1000"),
    ("mes_production_orders", "plant_code", "DC01"),
    ("mes_production_orders", "plant_code", "P4000"),
    ("mes_production_orders", "status_code", "CLSD"),
])
def test_near_miss_values_are_planted(con: duckdb.DuckDBPyConnection, table: str, column: str, like: str) -> None:
    assert scalar(con, f"select count(*) from raw.{table} where {column} like ?", [like]) > 0


def test_missing_yield_and_negative_sums_are_planted(con: duckdb.DuckDBPyConnection) -> None:
    assert scalar(con, "select count(*) from raw.mes_confirmations where yield_qty is null") > 0
    negative_orders = scalar(con, f"""
        select count(*) from (
            select trim(order_no, {TRIM}) from (
                select distinct on (trim(confirmation_id, {TRIM})) order_no, yield_qty from raw.mes_confirmations)
            group by 1
            having sum(try_cast(trim(yield_qty, {TRIM}) as decimal(18, 3))) < 0)""")
    assert negative_orders > 0


def test_the_reference_rejects_exactly_the_planted_orders_with_their_codes(tmp_path: Path) -> None:
    """The independent Python reference of docs/behaviour.md agrees with what the generator says it planted."""
    path = tmp_path / "r.duckdb"
    summary = generate(path, orders=3000, seed=21)
    with duckdb.connect(str(path), read_only=True) as c:
        marts = build_marts(read_raw_tables(c))
        planted = c.execute("select order_no, order_no_in_raw, rejection_code from sample_data.planted_bad_orders") \
            .fetchall()
    assert marts.ambiguous == []
    expected = sorted((o, code) for o, in_raw, code in planted if in_raw)
    expected_unkeyed = sorted(code for _, in_raw, code in planted if not in_raw)
    assert sorted(r for r in marts.rejected if r[0] is not None) == expected
    assert sorted(r[1] for r in marts.rejected if r[0] is None) == expected_unkeyed
    assert len(marts.contract) == summary.orders - len(expected)
    assert len(marts.rejected) / (len(marts.rejected) + len(marts.contract)) < 0.05


# --- a later extraction -----------------------------------------------------------------------------------


def test_next_extraction_appends_later_rows_for_exactly_the_returned_orders(tmp_path: Path) -> None:
    path = tmp_path / "n.duckdb"
    summary = generate(path, orders=2000, seed=5)
    with duckdb.connect(str(path), read_only=True) as c:
        before = scalar(c, "select max(_extracted_at) from (select _extracted_at from raw.mes_production_orders "
                           "union all select _extracted_at from raw.mes_confirmations)")
    changed = simulate_next_extraction(path, changed_orders=150, seed=8)
    assert len(changed) == len(set(changed)) == 150
    with duckdb.connect(str(path), read_only=True) as c:
        new_orders = [r[0] for r in c.execute(
            f"select trim(order_no, {TRIM}) from raw.mes_production_orders where _extracted_at > ?", [before]
        ).fetchall()]
        new_confirmation_orders = {r[0] for r in c.execute(
            "select order_no from raw.mes_confirmations where _extracted_at > ?", [before]).fetchall()}
        total = scalar(c, "select count(*) from raw.mes_production_orders")
    assert sorted(new_orders) == changed
    assert new_confirmation_orders and new_confirmation_orders <= set(changed)
    assert total == summary.order_rows + 150


def test_next_extraction_changes_exactly_those_contract_rows_and_keeps_them_valid(tmp_path: Path) -> None:
    path = tmp_path / "m.duckdb"
    generate(path, orders=2000, seed=6)
    with duckdb.connect(str(path), read_only=True) as c:
        before = build_marts(read_raw_tables(c))
    changed = simulate_next_extraction(path, changed_orders=100, seed=1)
    changed += simulate_next_extraction(path, changed_orders=50, seed=2)
    with duckdb.connect(str(path), read_only=True) as c:
        after = build_marts(read_raw_tables(c))
    old = {r[0]: r for r in before.contract}
    new = {r[0]: r for r in after.contract}
    assert set(new) == set(old)
    assert sorted(k for k in new if new[k] != old[k]) == sorted(set(changed))
    assert after.rejected == before.rejected


def test_next_extraction_refuses_more_orders_than_can_progress(tmp_path: Path) -> None:
    path = tmp_path / "few.duckdb"
    generate(path, orders=20, seed=1)
    with pytest.raises(ValueError, match="can still progress"):
        simulate_next_extraction(path, changed_orders=1000, seed=1)


# --- command line -----------------------------------------------------------------------------------------


def test_cli_writes_the_file_and_prints_the_summary(tmp_path: Path) -> None:
    path = tmp_path / "cli.duckdb"
    result = CliRunner().invoke(sample_data_command, ["--orders", "300", "--seed", "2", "--duckdb-path", str(path)])
    assert result.exit_code == 0, result.output
    assert "mes_production_orders" in result.output and "bad orders planted" in result.output
    with duckdb.connect(str(path), read_only=True) as c:
        assert scalar(c, f"select count(distinct trim(order_no, {TRIM})) from raw.mes_production_orders") >= 290


def test_python_m_entry_point_writes_the_file_and_exits_3_on_a_bad_schema_name(tmp_path: Path) -> None:
    path = tmp_path / "module.duckdb"
    command = [sys.executable, "-m", "mo_export_dev.sample_data", "--orders", "60", "--duckdb-path", str(path)]

    written = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    refused = subprocess.run([*command, "--raw-schema", "raw; drop"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120, check=False)

    assert written.returncode == 0, written.stderr
    assert "bad orders planted" in written.stdout
    with duckdb.connect(str(path), read_only=True) as c:
        assert scalar(c, f"select count(distinct trim(order_no, {TRIM})) from raw.mes_production_orders") >= 55
    assert refused.returncode == 3
    assert "error: raw schema 'raw; drop' is not a plain SQL identifier" in refused.stderr
    assert "Traceback" not in refused.stderr
