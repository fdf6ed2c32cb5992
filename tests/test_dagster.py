"""The Dagster code location (orchestration/dagster/definitions.py) materialized in-process.

Each scenario runs the whole asset graph on a DuckDB file of its own: the real `dbt build` (dagster-dbt
runs dbt as a subprocess), then the export over real HTTP to the sandbox on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest

dagster = pytest.importorskip(
    "dagster", reason="the dagster extra is not installed (make install syncs it: uv sync --extra dagster)"
)
pytest.importorskip("dagster_dbt", reason="the dagster extra is not installed (uv sync --extra dagster)")

from exporter import errors  # noqa: E402
from exporter.report import RunSummary  # noqa: E402
from mo_export_dev.sample_data import generate  # noqa: E402
from mo_export_dev.sandbox import SandboxConfig, running_sandbox  # noqa: E402
from tests.dbt_support import PROJECT_DIR  # noqa: E402
from tests.export_support import a_plan, a_summary  # noqa: E402
from tests.reference_contract import LOCATIONS, MANUFACTURING_ORDERS  # noqa: E402

pytestmark = pytest.mark.slow

TOKEN = "pat-dagster-SECRET-41c7"
ORDERS = 600
#: the export steps, parents first: the Locations' export, then the orders' (the asset it always had)
LOCATIONS_EXPORT = "peak_locations_export"
ORDERS_EXPORT = "peak_ingestion_api_export"


@pytest.fixture(scope="module")
def definitions() -> ModuleType:
    """The code location, loaded from its file the way `dagster -f` loads it (parses the dbt project)."""
    path = PROJECT_DIR / "orchestration" / "dagster" / "definitions.py"
    spec = importlib.util.spec_from_file_location("mo_export_dagster_definitions", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Any]:
    with running_sandbox(SandboxConfig(token=TOKEN, store_path=tmp_path / "sandbox.sqlite", rate_limit_rps=0)) as h:
        yield h


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> Path:
    """Sample raw tables in a DuckDB file of the test's own; the environment the CLI would read."""
    path = tmp_path / "warehouse.duckdb"
    generate(path, orders=ORDERS, seed=5)
    monkeypatch.setenv("MO_DUCKDB_PATH", str(path))
    monkeypatch.setenv("PEAK_API_KEY", TOKEN)
    monkeypatch.setenv("PEAK_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt-target"))  # each invocation gets a folder below
    for name in ("MO_DBT_TARGET_PATH", "MO_DBT_PROJECT_DIR", "PEAK_PATH_TEMPLATE", "PEAK_OBJECT_NAME"):
        monkeypatch.delenv(name, raising=False)
    return path


def materialize_all(definitions: ModuleType) -> Any:
    return dagster.materialize(
        [definitions.mo_export_dbt_assets, *definitions.EXPORT_ASSETS.values()],
        resources={"dbt": definitions.dbt_resource},
        instance=dagster.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def step_events(result: Any, step: str, kind: str) -> list[Any]:
    return [e for e in result.all_events if e.step_key == step and e.event_type_value == kind]


def test_the_orders_export_depends_on_the_locations_export(definitions) -> None:
    assets = definitions.EXPORT_ASSETS
    assert list(assets) == ["peak_locations", "peak_manufacturing_orders"]  # parents first
    locations, orders = assets["peak_locations"], assets["peak_manufacturing_orders"]
    assert locations.key == dagster.AssetKey(LOCATIONS_EXPORT) == definitions.export_key(LOCATIONS)
    assert orders.key == dagster.AssetKey(ORDERS_EXPORT) == definitions.export_key(MANUFACTURING_ORDERS)
    assert orders is definitions.peak_ingestion_api_export
    assert set(orders.asset_deps[orders.key]) == {dagster.AssetKey("peak_manufacturing_orders"), locations.key}
    assert set(locations.asset_deps[locations.key]) == {dagster.AssetKey("peak_locations")}


# the code location itself must not call deprecated Dagster API (AssetExecutionContext.op warned 3 times a run)
@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_whole_graph_builds_then_delivers_every_contract_row(definitions, warehouse, sandbox) -> None:
    result = materialize_all(definitions)

    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        contract_rows = con.sql("select count(*) from main.peak_manufacturing_orders").fetchall()[0][0]
        location_rows = con.sql("select count(*) from main.peak_locations").fetchall()[0][0]
        runs = con.sql("select exit_code, rows_acknowledged from mo_export_state.runs").fetchall()
        location_runs = con.sql("select exit_code, rows_acknowledged "
                                "from mo_export_state__peak_locations.runs").fetchall()
    assert contract_rows > 0.9 * ORDERS
    assert location_rows > 0
    stored = sandbox.stats()["objects"]
    assert stored[MANUFACTURING_ORDERS.object_name]["rows_stored"] == contract_rows
    assert stored[LOCATIONS.object_name]["rows_stored"] == location_rows
    assert sandbox.stats()["rows_stored"] == contract_rows + location_rows
    assert runs == [(0, contract_rows)]
    assert location_runs == [(0, location_rows)]
    export = result.asset_materializations_for_node(ORDERS_EXPORT)[0].metadata
    assert export["exit_code"].value == 0
    assert export["rows_acknowledged"].value == contract_rows
    assert export["rows_pending"].value == 0
    assert export["rows_held"].value == 0
    locations_export = result.asset_materializations_for_node(LOCATIONS_EXPORT)[0].metadata
    assert locations_export["exit_code"].value == 0
    assert locations_export["rows_acknowledged"].value == location_rows
    # the locations were delivered before the orders: the orders' step started after the locations' ended,
    # the sandbox stored every location before the first order, and it holds no order at a non-factory
    steps = [(e.step_key, e.event_type_value) for e in result.all_events
             if e.step_key in (LOCATIONS_EXPORT, ORDERS_EXPORT)
             and e.event_type_value in ("STEP_START", "STEP_SUCCESS")]
    assert steps == [(LOCATIONS_EXPORT, "STEP_START"), (LOCATIONS_EXPORT, "STEP_SUCCESS"),
                     (ORDERS_EXPORT, "STEP_START"), (ORDERS_EXPORT, "STEP_SUCCESS")]
    locations_stored = sandbox.rows(LOCATIONS.object_name)
    orders_stored = sandbox.rows(MANUFACTURING_ORDERS.object_name)
    assert len(locations_stored) == location_rows and len(orders_stored) == contract_rows
    assert max(r["last_written_at"] for r in locations_stored) <= min(r["first_written_at"] for r in orders_stored)
    assert sandbox.failed_rows() == []
    checks = {e.check_name: e.passed
              for e in result.get_asset_check_evaluations()}
    assert checks["api_accepted_every_row"] is True
    # the dbt tests are asset checks of their models, and the export used that invocation's artifacts
    assert checks["unique_peak_manufacturing_orders_order_number"] is True
    contract = result.asset_materializations_for_node("mo_export_dbt_assets")
    target = next(m.metadata["dbt_target_path"].value for m in contract if "dbt_target_path" in m.metadata)
    assert Path(target).parent == Path(str(warehouse.parent / "dbt-target"))
    assert (Path(target) / "run_results.json").exists()


def test_a_failing_dbt_test_stops_the_export(definitions, warehouse, sandbox) -> None:
    # a fifth of the orders get an unreadable quantity: the rejected-share data test fails
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update raw.mes_production_orders set planned_qty = 'lots' where hash(order_no) % 5 = 0")

    result = materialize_all(definitions)

    assert not result.success
    assert step_events(result, "mo_export_dbt_assets", "STEP_FAILURE")
    for step in (LOCATIONS_EXPORT, ORDERS_EXPORT):
        export_events = {e.event_type_value for e in result.all_events if e.step_key == step}
        assert not export_events & {"STEP_START", "STEP_SUCCESS", "ASSET_MATERIALIZATION"}, (step, export_events)
    assert sandbox.stats()["requests"] == 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.sql("select count(*) from information_schema.schemata "
                       "where schema_name in ('mo_export_state', 'mo_export_state__peak_locations')"
                       ).fetchall()[0][0] == 0


def test_a_wrong_token_fails_the_export_with_exit_code_3_and_is_not_retried(
    definitions, warehouse, sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEAK_API_KEY", "pat-not-the-sandbox-token")

    result = materialize_all(definitions)

    assert not result.success
    assert step_events(result, "mo_export_dbt_assets", "STEP_SUCCESS")
    # the first export, the Locations', meets the 401; the orders' export, downstream of it, never starts
    [failure] = step_events(result, LOCATIONS_EXPORT, "STEP_FAILURE")
    assert failure.step_failure_data.user_failure_data.metadata["exit_code"].value == errors.EXIT_CONFIG_ERROR
    assert "401" in failure.step_failure_data.user_failure_data.description
    assert step_events(result, LOCATIONS_EXPORT, "STEP_UP_FOR_RETRY") == []
    assert step_events(result, ORDERS_EXPORT, "STEP_START") == []
    assert step_events(result, ORDERS_EXPORT, "STEP_SUCCESS") == []
    assert sandbox.stats()["rows_stored"] == 0


FAILURES = {errors.EXIT_DELIVERY_FAILED: errors.DeliveryError("the API did not answer"),
            errors.EXIT_CONFIG_ERROR: errors.RequestRefusedError("the API refused the request as a whole")}


def summary_with(definitions: ModuleType, exit_code: int, rejected_by_code: dict[str, int]) -> RunSummary:
    plan = a_plan(considered=10, to_send=10)
    return a_summary(plan, sent=10, rejected_by_code=rejected_by_code, failure=FAILURES.get(exit_code))


def test_exit_code_1_is_a_materialization_with_a_failing_check_that_lists_the_codes(definitions) -> None:
    result = definitions._outcome(summary_with(definitions, 1, {"INVALID_VALUE": 2, "MISSING_FIELD": 1}))

    [check] = result.check_results
    assert check.passed is False
    assert check.metadata["rejection_codes"].value == {"INVALID_VALUE": 2, "MISSING_FIELD": 1}
    assert "INVALID_VALUE, MISSING_FIELD" in check.description
    assert result.metadata["rows_rejected"] == 3


@pytest.mark.parametrize(("exit_code", "retried"), [(2, True), (3, False)])
def test_a_summary_failing_with_2_or_3_is_a_failure_and_only_2_is_retried(
    definitions, exit_code: int, retried: bool
) -> None:
    with pytest.raises(dagster.Failure) as raised:
        definitions._outcome(summary_with(definitions, exit_code, {}))

    assert raised.value.allow_retries is retried
    assert raised.value.metadata["exit_code"].value == exit_code
    assert definitions.peak_ingestion_api_export.op.retry_policy.max_retries == 3


class ExitTwoButTerminal(errors.TerminalError):
    """A terminal error whose number says 2: the code location must follow the type, not the number."""

    exit_code = errors.EXIT_DELIVERY_FAILED


@pytest.mark.parametrize(
    ("raised", "retried", "exit_code"),
    [
        (errors.DeliveryError("the API did not answer"), True, errors.EXIT_DELIVERY_FAILED),
        (errors.StoppedError("stopped by SIGTERM"), True, errors.EXIT_DELIVERY_FAILED),
        (errors.AuthError("401: invalid token"), False, errors.EXIT_CONFIG_ERROR),
        (errors.BuildError("the latest build failed"), False, errors.EXIT_CONFIG_ERROR),
        (ExitTwoButTerminal("a person must act"), False, errors.EXIT_DELIVERY_FAILED),
        (errors.ExportError("a bug"), False, errors.EXIT_INTERNAL_ERROR),
        (RuntimeError("a bug"), False, errors.EXIT_INTERNAL_ERROR),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_an_export_error_is_retried_by_its_type(definitions, monkeypatch, raised, retried, exit_code) -> None:
    def run_export(settings: object, contract: object, *, parents: object = ()) -> RunSummary:
        raise raised

    monkeypatch.setattr(definitions, "run_export", run_export)
    with pytest.raises(dagster.Failure) as failure:
        definitions._run_in_worker_thread(object(), MANUFACTURING_ORDERS)

    assert failure.value.allow_retries is retried
    assert failure.value.metadata["retryable"].value is retried
    assert failure.value.metadata["exit_code"].value == exit_code
    expected_type = type(raised).__name__ if isinstance(raised, errors.ExportError) else "ExportError"
    assert failure.value.metadata["error_type"].value == expected_type
    assert str(raised) in failure.value.description


@pytest.mark.parametrize(("exit_code", "error_type"), [(0, None), (1, None), (2, errors.TransientError),
                                                       (3, errors.TerminalError)])
def test_a_summary_carries_its_failure_typed(definitions, exit_code: int, error_type) -> None:
    summary = summary_with(definitions, exit_code, {"X": 1} if exit_code == 1 else {})

    assert summary.exit_code == exit_code
    assert (summary.failure is None) if error_type is None else isinstance(summary.failure, error_type)


def test_the_run_config_carries_the_clis_one_off_decisions(definitions, warehouse, tmp_path: Path) -> None:
    """A schedule's run decides nothing; a person's run may say the destination beside a known one is meant."""
    scheduled = definitions._export_settings(tmp_path, definitions.ExportRunConfig())
    rotated = definitions._export_settings(tmp_path, definitions.ExportRunConfig(token_rotated=True))
    tenant = definitions._export_settings(tmp_path, definitions.ExportRunConfig(new_tenant=True))
    assert (scheduled.new_tenant, scheduled.token_rotated) == (False, False)
    assert (rotated.new_tenant, rotated.token_rotated) == (False, True)
    assert (tenant.new_tenant, tenant.token_rotated) == (True, False)
    with pytest.raises(dagster.Failure) as both:
        definitions._export_settings(tmp_path, definitions.ExportRunConfig(new_tenant=True, token_rotated=True))
    assert both.value.metadata["exit_code"].value == errors.EXIT_CONFIG_ERROR
    assert both.value.allow_retries is False
