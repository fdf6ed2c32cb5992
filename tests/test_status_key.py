"""`mo-export status --key`: why an order is or is not in Peak, against a real build, a real export to the
sandbox and the real CLI; and `status`/`check` with `--target spark`.

One scenario per module (a build, an export in which the sandbox refuses one order, a later extraction and a
rebuild), then each test asks about one order:

* acknowledged: the last acknowledged content, when and by which run;
* rejected by the API: held, with the error code, message and column;
* in the rejected mart: dbt's rejection reasons;
* changed after its acknowledgement: pending, naming the attributes that differ (and held when the change
  guard would refuse the next run);
* unknown: said plainly, exit 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import orjson
import pytest

from exporter.pipeline import run_exports
from exporter.settings import load_settings
from mo_export_dev.sandbox import SandboxConfig, running_sandbox
from tests.dbt_support import run_dbt_subprocess
from tests.export_support import TOKEN, CliResult, Project, run_cli

pytestmark = pytest.mark.slow

MODEL = "main.peak_manufacturing_orders"
MART = "main.peak_manufacturing_orders_rejected"
UNKNOWN = "NO-SUCH-ORDER-4711"


@dataclass(frozen=True)
class Scenario:
    project: Project
    base_url: str
    run_id: str
    acknowledged: str
    refused: str
    changed: str
    in_mart: str
    #: the changed order's contract row before the later extraction, and after it
    changed_before: dict[str, Any]
    changed_after: dict[str, Any]


def contract_row(project: Project, order_number: str) -> dict[str, Any]:
    rows = [r for k, r in project.contract_rows().items() if k[2] == order_number]
    assert len(rows) == 1
    return rows[0]


@pytest.fixture(scope="module")
def scenario(sample_build: Callable[..., Project], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    folder = tmp_path_factory.mktemp("status_key")
    project = sample_build(orders=400, seed=23).copy_to(folder / "project")
    # cancelled orders never move on in a later extraction: these two stay as they are
    cancelled = [r[0] for r in project.query(
        f"select order_number from {MODEL} where status = 'cancelled' order by order_number limit 2")]
    acknowledged, refused = cancelled
    in_mart = project.query(
        f"select order_number from {MART} where order_number is not null order by order_number limit 1")[0][0]
    config = SandboxConfig(token=TOKEN, store_path=folder / "store.sqlite", rate_limit_rps=0,
                           refused_order_numbers=frozenset({refused}))
    with running_sandbox(config) as sandbox:
        env = project.env(sandbox.base_url)
        settings = load_settings({"duckdb_path": project.duckdb_path, "target_path": project.target_path},
                                 environ=env)
        # every object, parents first: the Locations (all acknowledged), then the orders (one refused)
        locations, summary = run_exports(settings)
        assert (locations.exit_code, locations.as_dict()["rows"]["pending"]) == (0, 0)
        assert summary.exit_code == 1 and summary.counters.rejected == 1
        assert (summary.as_dict()["rows"]["held"], summary.as_dict()["rows"]["pending"]) == (0, 0)

        from mo_export_dev.sample_data import simulate_next_extraction

        before = {k[2]: r for k, r in project.contract_rows().items()}
        changed = simulate_next_extraction(project.duckdb_path, changed_orders=5, seed=5)
        assert not {acknowledged, refused} & set(changed)
        rebuild = run_dbt_subprocess(["build"], duckdb_path=project.duckdb_path, target_path=project.target_path)
        assert rebuild.returncode == 0, rebuild.stdout[-3000:]
        yield Scenario(project, sandbox.base_url, summary.run_id, acknowledged, refused, changed[0], in_mart,
                       before[changed[0]], contract_row(project, changed[0]))


def status(scenario: Scenario, monkeypatch, capsys, *args: str, env: dict[str, str] | None = None) -> CliResult:
    return run_cli(["status", *args], {**scenario.project.env(scenario.base_url), **(env or {})}, monkeypatch, capsys)


def status_json(scenario: Scenario, monkeypatch, capsys, *args: str, **kwargs: Any) -> dict[str, Any]:
    result = status(scenario, monkeypatch, capsys, "--json", *args, **kwargs)
    assert result.exit_code == 0, result.stderr
    return orjson.loads(result.stdout)


def the_destination(answer: dict[str, Any]) -> dict[str, Any]:
    """The one destination of the scenario: the sandbox, which the settings name."""
    assert len(answer["destinations"]) == 1
    destination = answer["destinations"][0]
    assert destination["settings_destination"] is True and destination["destination_id"] == 1
    return destination


# -- acknowledged ---------------------------------------------------------------------------------------------
def test_an_acknowledged_order_shows_its_acknowledged_content_when_and_by_which_run(
    scenario, monkeypatch, capsys
) -> None:
    answer = status_json(scenario, monkeypatch, capsys, "--key", scenario.acknowledged)
    row = contract_row(scenario.project, scenario.acknowledged)

    assert answer["known"] is True and answer["found_in"] == ["contract_model"]
    assert answer["contract_model"] == [row]
    destination = the_destination(answer)
    [acknowledged] = destination["acknowledged"]
    assert acknowledged["content"] == row and acknowledged["run_id"] == scenario.run_id
    assert acknowledged["order"] == {k: row[k] for k in ("product_id", "location_id", "order_number")}
    assert datetime.fromisoformat(acknowledged["acknowledged_at"]).tzinfo is not None
    [state] = destination["rows"]
    assert (state["state"], state["change"], state["changed_attributes"], state["held_by"]) == (
        "acknowledged", "unchanged", [], [])
    assert state["key"] == {k: row[k] for k in ("product_id", "location_id", "order_number", "updated_at")}
    assert destination["api_rejections"] == []
    assert destination["last_run"]["run_id"] == scenario.run_id
    assert destination["last_run"]["status"] == "success_with_rejections"

    text = status(scenario, monkeypatch, capsys, "--key", scenario.acknowledged)
    assert text.exit_code == 0
    assert f"order {scenario.acknowledged}:" in text.stdout
    assert f"in the contract model {MODEL}: updated_at {row['updated_at']}, status cancelled" in text.stdout
    assert f"last acknowledged: updated_at {row['updated_at']}, status cancelled, at " in text.stdout
    assert f"by run {scenario.run_id}" in text.stdout
    assert f"row updated_at {row['updated_at']}: acknowledged" in text.stdout
    assert "[the settings' destination: the next run goes here]" in text.stdout


# -- rejected by the API --------------------------------------------------------------------------------------
def test_an_order_the_api_rejected_is_held_with_the_error_code_message_and_column(
    scenario, monkeypatch, capsys
) -> None:
    answer = status_json(scenario, monkeypatch, capsys, "--key", scenario.refused)
    row = contract_row(scenario.project, scenario.refused)

    destination = the_destination(answer)
    assert destination["acknowledged"] == []
    [rejection] = destination["api_rejections"]
    assert (rejection["error_code"], rejection["category"], rejection["column"]) == (
        "DI_E_00012", "BUSINESS", "order_number")
    assert rejection["message"] == "the sandbox was configured to refuse this order number"
    assert rejection["outstanding"] is True and rejection["run_id"] == scenario.run_id
    assert rejection["key"]["updated_at"] == row["updated_at"]
    [state] = destination["rows"]
    assert (state["state"], state["change"]) == ("held", "new")
    assert "the API rejected this content (DI_E_00012: " in state["held_by"][0]
    assert "--retry-rejected" in state["held_by"][0]

    text = status(scenario, monkeypatch, capsys, "--key", scenario.refused).stdout
    assert "never acknowledged here" in text
    assert f"row updated_at {row['updated_at']}: held (new:" in text
    assert f"API rejection (outstanding) of updated_at {row['updated_at']} in run {scenario.run_id}" in text
    assert "DI_E_00012 BUSINESS, column order_number: " in text


# -- in the rejected mart -------------------------------------------------------------------------------------
def test_an_order_in_the_rejected_mart_shows_dbts_rejection_reasons(scenario, monkeypatch, capsys) -> None:
    reasons, material, plant = scenario.project.query(
        f"select rejection_reasons, material_code, plant_code from {MART} where order_number = ?",
        [scenario.in_mart])[0]
    answer = status_json(scenario, monkeypatch, capsys, "--key", scenario.in_mart)

    assert answer["known"] is True and answer["found_in"] == ["rejected_mart"]
    assert answer["contract_model"] == []
    [mart] = answer["rejected_mart"]
    assert mart["rejection_reasons"] == reasons.split(",")
    assert mart["order"] == {"order_number": scenario.in_mart, "product_id": material, "location_id": plant}
    assert mart["row"]["rejection_reasons"] == reasons
    destination = the_destination(answer)
    assert (destination["rows"], destination["acknowledged"], destination["api_rejections"]) == ([], [], [])

    text = status(scenario, monkeypatch, capsys, "--key", scenario.in_mart).stdout
    assert f"not in the contract model {MODEL}" in text
    assert f"in the rejected mart: {reasons.replace(',', ', ')} (product {material}, location {plant})" in text
    assert "nothing of this order here" in text


# -- pending --------------------------------------------------------------------------------------------------
def test_an_order_changed_after_its_acknowledgement_is_pending_and_names_the_attributes_that_differ(
    scenario, monkeypatch, capsys
) -> None:
    before, after = scenario.changed_before, scenario.changed_after
    differ = {name for name in after if after[name] != before[name]}
    assert "updated_at" in differ and "order_number" not in differ

    answer = status_json(scenario, monkeypatch, capsys, "--key", scenario.changed)
    destination = the_destination(answer)
    [acknowledged] = destination["acknowledged"]
    assert acknowledged["content"] == before and acknowledged["run_id"] == scenario.run_id
    [state] = destination["rows"]
    assert (state["state"], state["change"], state["held_by"]) == ("pending", "changed", [])
    assert state["key"]["updated_at"] == after["updated_at"]
    assert {(c["attribute"], c["acknowledged"], c["now"]) for c in state["changed_attributes"]} == {
        (name, before[name], after[name]) for name in differ}

    text = status(scenario, monkeypatch, capsys, "--key", scenario.changed).stdout
    assert f"row updated_at {after['updated_at']}: pending (changed since the acknowledged content)" in text
    assert f"    updated_at: {before['updated_at']} -> {after['updated_at']}" in text
    assert f"    status: {before['status']} -> {after['status']}" in text  # a later extraction moves it on
    assert f"last acknowledged: updated_at {before['updated_at']}, status {before['status']}" in text


def test_a_pending_order_is_held_when_the_change_guard_would_refuse_the_next_run(
    scenario, monkeypatch, capsys
) -> None:
    answer = status_json(scenario, monkeypatch, capsys, "--key", scenario.changed,
                         env={"MO_MAX_CHANGE_SHARE": "0.001"})
    [state] = the_destination(answer)["rows"]

    assert (state["state"], state["change"]) == ("held", "changed")
    assert state["held_by"][0].startswith("the change guard refuses the next run to this destination: ")
    assert "more than --max-change-share 0.001" in state["held_by"][0]


def test_an_older_version_is_not_in_the_model_but_its_order_shows_what_was_acknowledged(
    scenario, monkeypatch, capsys
) -> None:
    before = scenario.changed_before
    answer = status_json(scenario, monkeypatch, capsys, "--key", scenario.changed, "--product-id",
                         before["product_id"], "--location-id", before["location_id"], "--updated-at",
                         before["updated_at"])

    assert answer["query"] == {k: before[k] for k in ("order_number", "product_id", "location_id", "updated_at")}
    assert answer["found_in"] == [] and answer["known"] is True
    destination = the_destination(answer)
    assert destination["rows"] == [] and destination["acknowledged"][0]["content"] == before


# -- unknown and bad options ----------------------------------------------------------------------------------
def test_an_unknown_order_is_an_answer_not_an_error(scenario, monkeypatch, capsys) -> None:
    answer = status_json(scenario, monkeypatch, capsys, "--key", UNKNOWN)

    assert (answer["known"], answer["found_in"], answer["contract_model"], answer["rejected_mart"]) == (
        False, [], [], [])
    destination = the_destination(answer)
    assert (destination["rows"], destination["acknowledged"], destination["api_rejections"]) == ([], [], [])

    text = status(scenario, monkeypatch, capsys, "--key", UNKNOWN)
    assert text.exit_code == 0
    assert f"order {UNKNOWN}:\n  unknown: not in the contract model {MODEL}, not in the rejected mart" in text.stdout


def test_another_product_narrows_a_known_order_number_to_unknown(scenario, monkeypatch, capsys) -> None:
    answer = status_json(scenario, monkeypatch, capsys, "--key", scenario.acknowledged, "--product-id", "NOT-IT")

    assert answer["known"] is False and answer["query"]["product_id"] == "NOT-IT"


@pytest.mark.parametrize(("args", "message"), [
    (["--product-id", "P-1"], "--product-id narrow(s) an order number: add --key ORDER_NUMBER"),
    (["--key", "4711", "--updated-at", "yesterday"], "--updated-at 'yesterday' must be a UTC timestamp"),
    (["--key", "  "], "--key is empty"),
])
def test_malformed_key_options_are_configuration_errors(scenario, monkeypatch, capsys, args, message) -> None:
    result = status(scenario, monkeypatch, capsys, *args)

    assert result.exit_code == 3 and message in result.stderr and result.stdout == ""


# -- --target spark -------------------------------------------------------------------------------------------
def fake_spark_warehouse(project: Project, folder: Path) -> Path:
    """The folders `dbt build --target spark` writes (<schema>.db/<table>/*.parquet), from the DuckDB build's
    tables: the exporter reads only those files, so this stands in for a Spark build (which takes minutes)."""
    tables = [("main", "peak_manufacturing_orders"), ("main", "peak_manufacturing_orders_rejected"),
              ("mo_export_build", "node_results")]
    with duckdb.connect(str(project.duckdb_path), read_only=True) as con:
        for schema, table in tables:
            target = folder / f"{schema}.db" / table
            target.mkdir(parents=True)
            con.execute(f"copy {schema}.{table} to '{target / 'part-00000.parquet'}' (format parquet)")
    return folder


def test_status_key_reads_a_spark_build_with_its_own_state_file(scenario, monkeypatch, capsys, tmp_path) -> None:
    warehouse = fake_spark_warehouse(scenario.project, tmp_path / "spark-warehouse")
    state = tmp_path / "state" / "mo_export_state.duckdb"
    args = ["--target", "spark", "--spark-warehouse", str(warehouse), "--state-path", str(state)]

    answer = status_json(scenario, monkeypatch, capsys, "--key", scenario.acknowledged, *args)
    assert answer["contract_model"] == [contract_row(scenario.project, scenario.acknowledged)]
    assert answer["state_exists"] is False  # the Spark build's state is its own file, not the DuckDB one's
    [destination] = answer["destinations"]
    assert destination["destination_id"] is None and destination["settings_destination"] is True
    # nothing was exported from this state file, so neither is the order's location: the order is held for it
    [row] = destination["rows"]
    assert (row["state"], row["change"]) == ("held", "new")
    assert row["held_by"] == ["its location_id (peak_locations.location_id, with is_factory = true) is not "
                              "acknowledged by the destination yet"]
    mart = status_json(scenario, monkeypatch, capsys, "--key", scenario.in_mart, *args)
    assert mart["found_in"] == ["rejected_mart"]

    plain = status(scenario, monkeypatch, capsys, *args)  # the status without --key reads the same files
    assert plain.exit_code == 0 and "no export has run yet" in plain.stdout
    assert f"contract model: {len(scenario.project.contract_rows()):,} rows" in plain.stdout


def test_status_and_check_with_target_spark_name_a_missing_spark_warehouse(
    scenario, monkeypatch, capsys, tmp_path
) -> None:
    args = ["--target", "spark", "--spark-warehouse", str(tmp_path / "none"), "--state-path",
            str(tmp_path / "state.duckdb")]
    result = status(scenario, monkeypatch, capsys, "--key", scenario.acknowledged, *args)
    assert result.exit_code == 3 and f"Spark warehouse {tmp_path / 'none'}" in result.stderr

    check = run_cli(["check", "--json", *args], scenario.project.env(scenario.base_url), monkeypatch, capsys)
    checks = {c["name"]: c for c in orjson.loads(check.stdout)["checks"]}
    assert check.exit_code == 3
    assert checks["duckdb file"]["status"] == "ok" and str(tmp_path / "state.duckdb") in checks["duckdb file"]["detail"]
    assert checks["dbt build"]["status"] == "fail" and "Spark warehouse" in checks["dbt build"]["detail"]


def test_check_with_target_spark_verifies_the_spark_builds_model(scenario, monkeypatch, capsys, tmp_path) -> None:
    warehouse = fake_spark_warehouse(scenario.project, tmp_path / "spark-warehouse")
    args = ["--target", "spark", "--spark-warehouse", str(warehouse), "--state-path", str(tmp_path / "s.duckdb")]
    with running_sandbox(SandboxConfig(token=TOKEN, store_path=tmp_path / "store.sqlite", rate_limit_rps=0)) as api:
        check = run_cli(["check", "--json", *args], scenario.project.env(api.base_url), monkeypatch, capsys)
        stored = api.rows()

    checks = {c["name"]: c for c in orjson.loads(check.stdout)["checks"]}
    assert check.exit_code == 0, check.stdout
    assert {checks[n]["status"] for n in ("duckdb file", "dbt build", "model table", "sample row")} == {"ok"}
    rows = len(scenario.project.contract_rows())
    assert checks["model table"]["detail"] == f"{MODEL} matches the contract ({rows:,} rows)"
    assert stored == []  # a dryRun request: nothing stored



def test_a_pending_order_names_the_failed_last_run_at_each_destination(scenario, monkeypatch, capsys, tmp_path) -> None:
    import socket

    project = scenario.project.copy_to(tmp_path / "copy")
    # the orders go only where their locations were acknowledged (else they are held, not sent): deliver the
    # Locations to an API that then goes away, so the orders' run at that URL cannot deliver
    config = SandboxConfig(token=TOKEN, store_path=tmp_path / "gone.sqlite", rate_limit_rps=0)
    with running_sandbox(config) as gone:
        dead = gone.base_url
        sent = run_cli(["run", "--no-progress", "--object", "peak_locations"], project.env(dead), monkeypatch,
                       capsys)
        assert sent.exit_code == 0, sent.stderr
    with socket.socket() as probe:  # nothing listens there any more: the run cannot deliver
        probe.settimeout(1)
        assert probe.connect_ex(("127.0.0.1", urlsplit(dead).port)) != 0
    failed = run_cli(["run", "--no-progress", "--max-attempts", "1", "--retry-budget", "0"], project.env(dead),
                     monkeypatch, capsys)
    assert failed.exit_code == 2, failed.stderr
    assert orjson.loads((project.target_path / "export_results.json").read_bytes())["exit_code"] == 2

    result = run_cli(["status", "--json", "--key", scenario.changed], project.env(dead), monkeypatch, capsys)
    answer = orjson.loads(result.stdout)
    first, second = answer["destinations"]
    assert (first["destination_id"], first["settings_destination"]) == (1, False)
    assert [r["state"] for r in first["rows"]] == ["pending"] and first["last_run"]["run_id"] == scenario.run_id
    assert (second["destination_id"], second["settings_destination"]) == (2, True)
    assert second["destination"].startswith(dead)
    assert [(r["state"], r["change"]) for r in second["rows"]] == [("pending", "new")]
    assert (second["last_run"]["status"], second["last_run"]["exit_code"]) == ("delivery_failed", 2)
    assert second["last_run"]["error"]

    text = run_cli(["status", "--key", scenario.changed], project.env(dead), monkeypatch, capsys).stdout
    assert f"the last run here, {second['last_run']['run_id']}, ended delivery_failed (exit 2): " in text


def test_a_ledger_older_than_a_lookup_reads_is_a_configuration_error_naming_the_fix(
    scenario, monkeypatch, capsys, tmp_path
) -> None:
    older = scenario.project.copy_to(tmp_path / "older")
    with duckdb.connect(str(older.duckdb_path)) as con:  # a version-3 ledger keeps no acknowledged content
        con.execute("update mo_export_state.schema_version set version = 3")
    result = run_cli(["status", "--key", scenario.acknowledged], older.env(scenario.base_url), monkeypatch, capsys)
    assert result.exit_code == 3
    assert "layout version 3" in result.stderr and "`mo-export run` migrates it" in result.stderr
