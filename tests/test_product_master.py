"""The user's product master, when declared (var product_master_table), holds the orders of products it does
not know: real `dbt build`, the real CLI, real HTTP to the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import orjson
import pytest

from exporter.object_contracts import contract_for
from mo_export_dev.sample_data import generate
from mo_export_dev.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from tests.dbt_support import run_dbt
from tests.export_support import TOKEN, Project, run_cli, sandbox_rows

pytestmark = pytest.mark.slow

REASON = "its product_id (int_product_master.product_id) is not in int_product_master"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, str]:
    """Sample orders and a product master (raw.erp_products) that lacks the product with the fewest orders."""
    folder = tmp_path_factory.mktemp("product_master")
    duckdb_path = folder / "warehouse.duckdb"
    generate(duckdb_path, orders=600, seed=31)
    with duckdb.connect(str(duckdb_path)) as con:
        (missing,) = con.execute(
            """select trim(material_code) from raw.mes_production_orders
               where trim(material_code) in (select trim(material_code) from raw.mes_materials)
               group by 1 having count(distinct order_no) >= 5
               order by count(distinct order_no), 1 limit 1""").fetchone() or ("",)
        con.execute("""create table raw.erp_products as select distinct trim(material_code) as product_id
                       from raw.mes_materials where trim(material_code) <> ?""", [missing])
    run = run_dbt(["build", "--exclude-resource-type", "unit_test"], duckdb_path=duckdb_path,
                  target_path=folder / "target", vars_="{product_master_table: erp_products}")
    assert run.success, run.failures()
    return Project(duckdb_path, folder / "target"), missing


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(token=TOKEN, store_path=tmp_path / "sandbox.sqlite", rate_limit_rps=0)) as h:
        yield h


def test_a_declared_product_master_is_a_reference_checked_for_presence(built: tuple[Project, str]) -> None:
    project, _ = built
    references = contract_for(project.target_path, "peak_manufacturing_orders").references
    assert [(r.column, r.model, r.check) for r in references] == [
        ("location_id", "peak_locations", "acknowledged"), ("product_id", "int_product_master", "present")]


def test_orders_of_a_product_the_master_lacks_are_held_and_the_rest_sent(
    built: tuple[Project, str], tmp_path: Path, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project, missing = built
    project = project.copy_to(tmp_path / "project")
    orders = project.contract_rows()
    lacking = {k: v for k, v in orders.items() if v["product_id"] == missing}
    assert 0 < len(lacking) < len(orders)

    result = run_cli(["run"], project.env(sandbox.base_url), monkeypatch, capsys)
    assert result.exit_code == 0, result.stdout + result.stderr
    summary = orjson.loads((project.target_path / "export_results.json").read_bytes())
    assert summary["rows"]["held"] == len(lacking)
    assert summary["rows"]["held_by"] == {REASON: len(lacking)}
    assert summary["rows"]["sent"] == summary["rows"]["acknowledged"] == len(orders) - len(lacking)
    assert sandbox_rows(sandbox) == {k: v for k, v in orders.items() if k not in lacking}

    # once the master holds the product (and dbt rebuilt it), the next run sends exactly the held orders
    with duckdb.connect(str(project.duckdb_path)) as con:
        con.execute("insert into raw.erp_products values (?)", [missing])
    rebuilt = run_dbt(["build", "--exclude-resource-type", "unit_test"], duckdb_path=project.duckdb_path,
                      target_path=project.target_path, vars_="{product_master_table: erp_products}")
    assert rebuilt.success, rebuilt.failures()
    again = run_cli(["run"], project.env(sandbox.base_url), monkeypatch, capsys)
    assert again.exit_code == 0, again.stdout + again.stderr
    summary = orjson.loads((project.target_path / "export_results.json").read_bytes())
    assert (summary["rows"]["sent"], summary["rows"]["held"]) == (len(lacking), 0)
    assert sandbox_rows(sandbox) == orders
