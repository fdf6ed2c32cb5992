"""Locations before the orders that reference them, end to end: real `dbt build`, the real CLI, real HTTP to
the sandbox, which reports (like the platform's ``_failed_rows``) every order it holds at a location it does
not hold as a factory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from mo_export_dev.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from tests.dbt_support import run_dbt
from tests.export_support import TOKEN, CliResult, Project, build_sample_project, run_cli, sandbox_rows

pytestmark = pytest.mark.slow

ORDERS = 1500
LOCATIONS = "INV_LOCATIONS_OOTB"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return build_sample_project(tmp_path_factory.mktemp("built"), orders=ORDERS, seed=23)


@pytest.fixture
def project(built: Project, tmp_path: Path) -> Project:
    return built.copy_to(tmp_path / "project")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(token=TOKEN, store_path=tmp_path / "sandbox.sqlite", rate_limit_rps=0)) as h:
        yield h


def export(project: Project, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    return run_cli(["run", *args], project.env(sandbox.base_url), monkeypatch, capsys)


def results(project: Project, model: str | None = None) -> dict[str, Any]:
    name = "export_results.json" if model is None else f"export_results.{model}.json"
    summary: dict[str, Any] = orjson.loads((project.target_path / name).read_bytes())
    return summary


def locations_in_model(project: Project) -> dict[str, dict[str, Any]]:
    rows = project.query("select location_id, location_name, is_factory, strftime(updated_at, '%Y-%m-%d %H:%M:%S') "
                         "from main.peak_locations")
    return {r[0]: {"location_name": r[1], "is_factory": r[2], "updated_at": r[3]} for r in rows}


def sandbox_locations(sandbox: SandboxHandle) -> dict[str, dict[str, Any]]:
    return {r["row"]["location_id"]: r["row"] for r in sandbox.rows(LOCATIONS)}


def test_a_run_sends_every_plant_then_every_order_and_leaves_no_failed_rows(
    project: Project, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    result = export(project, sandbox, monkeypatch, capsys)
    assert result.exit_code == 0, result.stdout + result.stderr

    expected = locations_in_model(project)
    held = sandbox_locations(sandbox)
    # every plant of the MES is a location sent, or a plant dbt rejected with its reasons
    plants = {r[0] for r in project.query("select distinct trim(plant_code) from raw.mes_plants "
                                          "where nullif(trim(plant_code), '') is not null")}
    rejected = {r[0] for r in project.query("select location_id from main.peak_locations_rejected "
                                            "where location_id is not null")}
    assert set(expected) | rejected == plants and not set(expected) & rejected and len(expected) > 1
    assert {k: {c: v[c] for c in ("location_name", "is_factory", "updated_at")} for k, v in held.items()} == expected
    assert sandbox_rows(sandbox) == project.contract_rows()
    assert sandbox.failed_rows() == []
    # the locations' run ended before the orders' run began, each in its own ledger
    (locations_run,) = project.query("select started_at, finished_at, rows_acknowledged "
                                     "from mo_export_state__peak_locations.runs")
    (orders_run,) = project.query("select started_at, finished_at, rows_acknowledged from mo_export_state.runs")
    assert locations_run[1] <= orders_run[0]
    assert (locations_run[2], orders_run[2]) == (len(expected), len(project.contract_rows()))
    assert results(project, "peak_locations")["rows"]["acknowledged"] == len(expected)
    assert results(project)["rows"]["held"] == 0
    assert result.stdout.index("main.peak_locations") < result.stdout.index("main.peak_manufacturing_orders")


def test_an_order_whose_location_is_not_acknowledged_is_held_then_sent_on_the_next_run(
    project: Project, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    orders = project.contract_rows()
    first = export(project, sandbox, monkeypatch, capsys, "--object", "peak_manufacturing_orders")
    assert first.exit_code == 0, first.stdout + first.stderr
    summary = results(project)
    assert (summary["rows"]["sent"], summary["rows"]["held"], summary["rows"]["pending"]) == (0, len(orders),
                                                                                             len(orders))
    (reason,) = summary["rows"]["held_by"]
    assert reason == ("its location_id (peak_locations.location_id, with is_factory = true) is not acknowledged "
                      "by the destination yet")
    assert f"held             {len(orders):>12,}" in first.stdout
    assert sandbox.rows("*") == []  # nothing went out: no location, no order

    # plan and status --key say the same, with the reason
    plan = run_cli(["plan", "--json"], project.env(sandbox.base_url), monkeypatch, capsys)
    assert orjson.loads(plan.stdout)["counts"]["held"] == len(orders)
    product_id, location_id, order_number, _ = next(iter(orders))
    status = run_cli(["status", "--key", order_number, "--product-id", product_id, "--json"],
                     project.env(sandbox.base_url), monkeypatch, capsys)
    assert status.exit_code == 0, status.stderr
    rows = [r for d in orjson.loads(status.stdout)["destinations"] if d["settings_destination"] for r in d["rows"]]
    assert [(r["state"], r["held_by"]) for r in rows] == [("held", [reason])]

    second = export(project, sandbox, monkeypatch, capsys)
    assert second.exit_code == 0, second.stdout + second.stderr
    assert results(project)["rows"]["sent"] == len(orders)
    assert results(project)["rows"]["held"] == 0
    assert sandbox_rows(sandbox) == orders
    assert location_id in sandbox_locations(sandbox)
    assert sandbox.failed_rows() == []


def test_a_plant_that_stops_being_a_factory_is_sent_as_one_before_the_orders_are_considered(
    project: Project, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    delivered = project.contract_rows()
    by_plant: dict[str, list[str]] = {}
    for _product_id, location_id, order_number, _ in delivered:
        by_plant.setdefault(location_id, []).append(order_number)
    plant = min(by_plant, key=lambda p: len(by_plant[p]))  # the fewest orders: under the change guard's limits
    with duckdb.connect(str(project.duckdb_path)) as con:
        # the next extraction delivers the plant's row again, now not a factory
        con.execute("""insert into raw.mes_plants
                       select plant_code, plant_name, 'false',
                              (select max(_extracted_at) from raw.mes_plants) + interval 1 day
                       from raw.mes_plants where trim(plant_code) = ?
                       qualify row_number() over (order by _extracted_at desc) = 1""", [plant])
    # a whole plant's orders rejected at once is over the default 5 % alarm: this user expects it
    rebuilt = run_dbt(["build"], duckdb_path=project.duckdb_path, target_path=project.target_path,
                      vars_="{max_rejected_share: 0.5}")
    assert rebuilt.success, rebuilt.failures()

    result = export(project, sandbox, monkeypatch, capsys)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert results(project, "peak_locations")["rows"]["sent"] == 1  # that plant's row only
    assert sandbox_locations(sandbox)[plant]["is_factory"] is False
    # its orders left the contract model (rejected by dbt: location_not_factory) and nothing else was sent
    assert results(project)["rows"]["lost"] == len(by_plant[plant])
    assert results(project)["rows"]["sent"] == 0
    rejected = project.query("select order_number from main.peak_manufacturing_orders_rejected "
                             "where rejection_reasons like '%location_not_factory%' and plant_code = ?", [plant])
    assert set(by_plant[plant]) <= {r[0] for r in rejected}
    assert project.query("select count(*) from main.peak_manufacturing_orders where location_id = ?",
                         [plant]) == [(0,)]
    # the job cannot delete at the API: the orders Peak took while the plant was a factory now fail there
    failed = sandbox.failed_rows()
    assert sorted(f["order_number"] for f in failed) == sorted(by_plant[plant])
    assert {(f["location_id"], f["reason"]) for f in failed} == {(plant, "LOCATION_NOT_FACTORY")}


def test_a_ledger_from_before_locations_sends_no_order_again(
    project: Project, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    # what the exporter of schema version 6 left before objects: mo_export_state alone (the orders' ledger,
    # unchanged in layout), no Locations ledger
    with duckdb.connect(str(project.duckdb_path)) as con:
        con.execute("drop schema mo_export_state__peak_locations cascade")
        before = {t: con.execute(f"select count(*) from mo_export_state.{t}").fetchone()
                  for t in ("deliveries", "acknowledged_content", "acknowledgements", "destinations")}
        (version,) = con.execute("select max(version) from mo_export_state.schema_version").fetchone() or (None,)
    assert version == 6
    requests_before = sandbox.stats()["objects"]["INV_MANUFACTURING_ORDERS_OOTB"]["requests"]

    result = export(project, sandbox, monkeypatch, capsys)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert results(project, "peak_locations")["rows"]["sent"] == len(locations_in_model(project))
    orders = results(project)["rows"]
    assert (orders["sent"], orders["held"], orders["unchanged"]) == (0, 0, len(project.contract_rows()))
    assert sandbox.stats()["objects"]["INV_MANUFACTURING_ORDERS_OOTB"]["requests"] == requests_before
    with duckdb.connect(str(project.duckdb_path)) as con:
        after = {t: con.execute(f"select count(*) from mo_export_state.{t}").fetchone() for t in before}
    assert after == before


def test_results_on_stdout_are_one_json_line_per_object(
    project: Project, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    result = export(project, sandbox, monkeypatch, capsys, "--results-path", "-")
    assert result.exit_code == 0, result.stderr
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [(d["model"], d["exit_code"]) for d in lines] == [
        ("main.peak_locations", 0), ("main.peak_manufacturing_orders", 0)]


def test_the_locations_pointed_at_the_orders_ledger_are_refused_and_it_is_left_alone(
    project: Project, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    before = project.query("select count(*) from mo_export_state.deliveries")
    wrong = export(project, sandbox, monkeypatch, capsys, "--model-name", "peak_locations")
    assert wrong.exit_code == 3
    assert "holds the ledger of another object (INV_MANUFACTURING_ORDERS_OOTB)" in wrong.stderr
    assert "do not drop it" in wrong.stderr
    assert project.query("select count(*) from mo_export_state.deliveries") == before
    unknown = export(project, sandbox, monkeypatch, capsys, "--model-name", "peak_manufacturing_orders_rejected")
    assert unknown.exit_code == 3 and "is not an exported object" in unknown.stderr
