"""`dbt docs generate` works, and the docs a reviewer reads are complete: every model states its grain,
every column of every model and of the contract is described and typed, the export is an exposure."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pytest

from exporter.ledger import ledger_tables
from tests import reference_contract as contract
from tests.dbt_support import run_dbt

#: the orders' ledger, the one models/marts/_export_state__sources.yml documents (schema mo_export_state)
TABLES = ledger_tables(contract.MANUFACTURING_ORDERS)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    folder = tmp_path_factory.mktemp("docs")
    duckdb_path = folder / "docs.duckdb"
    from mo_export_dev.sample_data import generate

    generate(duckdb_path, orders=200, seed=3)
    build = run_dbt(["build"], duckdb_path=duckdb_path, target_path=folder / "target",
                    vars_="{max_rejected_share: 1}")
    assert build.success, "\n".join(build.failures())
    generated = run_dbt(["docs", "generate"], duckdb_path=duckdb_path, target_path=folder / "target")
    assert generated.success, "\n".join(generated.failures())
    target: Path = folder / "target"
    assert (target / "index.html").exists()
    return orjson.loads((target / "manifest.json").read_bytes()), orjson.loads((target / "catalog.json").read_bytes())


def test_every_model_has_a_description_that_states_its_grain(docs) -> None:
    manifest, _ = docs
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert len(models) >= 11
    missing = [m["name"] for m in models if "one row per" not in m["description"].lower()]
    assert missing == []


def test_every_column_of_every_model_is_described(docs) -> None:
    manifest, catalog = docs
    undocumented = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        built_columns = catalog["nodes"][unique_id]["columns"].keys()
        for column in built_columns:
            described = node["columns"].get(column, {}).get("description", "").strip()
            if not described:
                undocumented.append(f"{node['name']}.{column}")
    assert undocumented == []


def test_contract_model_declares_every_api_attribute_with_type_and_description(docs) -> None:
    manifest, _ = docs
    node = manifest["nodes"]["model.mo_export.peak_manufacturing_orders"]
    assert node["config"]["contract"]["enforced"] is True
    # the declared types are ones DuckDB and Spark both accept (`string`, not `varchar`); what counts
    # for the exporter is the type DuckDB makes of each
    declared = {name: _duckdb_type_of(c.get("data_type") or "") for name, c in node["columns"].items()}
    assert declared == {a.name: a.duckdb_type for a in contract.ATTRIBUTES}
    assert all(node["columns"][a.name]["description"].strip() for a in contract.ATTRIBUTES)
    not_null = {name for name, c in node["columns"].items()
                if any(con["type"] == "not_null" for con in c.get("constraints", []))}
    assert not_null == {a.name for a in contract.ATTRIBUTES if a.required}


def _duckdb_type_of(declared: str) -> str:
    return str(duckdb.sql(f"select typeof(cast(null as {declared}))").fetchall()[0][0])


def test_the_export_is_an_exposure_on_the_contract_model(docs) -> None:
    manifest, _ = docs
    exposure = manifest["exposures"]["exposure.mo_export.peak_manufacturing_orders_export"]
    assert exposure["type"] == "application"
    assert exposure["depends_on"]["nodes"] == ["model.mo_export.peak_manufacturing_orders"]
    assert contract.DEFAULT_OBJECT_NAME in exposure["description"]


def test_the_overview_page_is_the_projects_own(docs) -> None:
    manifest, _ = docs
    overview = manifest["docs"]["doc.mo_export.__overview__"]["block_contents"]
    assert overview.startswith("# mo-export: manufacturing orders from the MES to Peak")
    for topic in ("## The flow", "## Reading the lineage", "peak_manufacturing_orders_rejected", "mo_export_state",
                  "outstanding_rejections", "docs/behaviour.md"):
        assert topic in overview
    assert "Welcome" not in overview


def test_the_exposure_owner_comes_from_the_owner_vars(docs) -> None:
    manifest, _ = docs
    owner = manifest["exposures"]["exposure.mo_export.peak_manufacturing_orders_export"]["owner"]
    assert owner == {"name": "mo-export data team", "email": "mo-export-owners@example.com"}


def test_the_export_state_tables_are_documented_sources_with_the_exporters_columns(docs) -> None:
    manifest, _ = docs
    sources = {n["name"]: n for n in manifest["sources"].values() if n["source_name"] == "mo_export_state"}
    declared = {name: list(node["columns"]) for name, node in sources.items()}

    # when exporter/ledger.py changes its tables, models/marts/_export_state__sources.yml must follow
    assert {name: declared.get(name) for name in TABLES} == {name: list(cols) for name, cols in TABLES.items()}
    assert declared["outstanding_rejections"] == list(TABLES["rejections"])
    assert set(declared) == {*TABLES, "delivered", "outstanding_rejections"}
    assert all(node["schema"] == "mo_export_state" and node["description"].strip() for node in sources.values())
    undescribed = [f"{name}.{col}" for name, node in sources.items()
                   for col, c in node["columns"].items() if not c["description"].strip()]
    assert undescribed == []


def test_the_documented_state_views_have_the_columns_the_exporter_creates(docs, tmp_path: Path) -> None:
    import duckdb

    from exporter.ledger import Ledger

    manifest, _ = docs
    declared = {n["name"]: list(n["columns"]) for n in manifest["sources"].values()
                if n["source_name"] == "mo_export_state"}
    columns = ", ".join(f"{name} {type_}" for name, type_ in contract.DUCKDB_TYPES.items())
    with duckdb.connect(str(tmp_path / "state.duckdb")) as con:
        con.execute(f"create table main.contract_model ({columns})")
        Ledger(con, "mo_export_state", '"main"."contract_model"', contract.MANUFACTURING_ORDERS).ensure()
        created = {view: [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = 'mo_export_state' "
            "and table_name = ? order by ordinal_position", [view]).fetchall()]
            for view in ("delivered", "outstanding_rejections")}

    assert {view: declared[view] for view in created} == created
