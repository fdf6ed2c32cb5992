"""Each object's contract is read from the dbt project (exporter/object_contracts.py): the project's models
against the tests' reference, what a wrong yml is told, and a third object added by a model and a yml alone."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from exporter.errors import BuildError, ConfigError
from exporter.object_contracts import chosen_objects, contract_for, load_contracts, one_object
from exporter.settings import load_settings
from tests.dbt_support import PROJECT_DIR, run_dbt
from tests.export_support import TOKEN, build_sample_project, run_cli
from tests.reference_contract import LOCATIONS, MANUFACTURING_ORDERS


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dbt's manifest of the project as it is (`dbt parse`, no warehouse needed)."""
    folder = tmp_path_factory.mktemp("parsed")
    run = run_dbt(["parse", "--quiet"], duckdb_path=folder / "p.duckdb", target_path=folder / "target")
    assert run.success, run.failures()
    return folder / "target"


def test_the_project_exports_locations_then_manufacturing_orders(parsed: Path) -> None:
    assert [c.model_name for c in load_contracts(parsed)] == ["peak_locations", "peak_manufacturing_orders"]


def test_the_orders_contract_read_from_dbt_is_the_resource_page(parsed: Path) -> None:
    assert contract_for(parsed, "peak_manufacturing_orders") == MANUFACTURING_ORDERS


def test_the_locations_contract_read_from_dbt_is_the_resource_page(parsed: Path) -> None:
    assert contract_for(parsed, "peak_locations") == LOCATIONS


def test_an_order_references_its_location_as_a_factory(parsed: Path) -> None:
    (reference,) = contract_for(parsed, "peak_manufacturing_orders").references
    assert (reference.column, reference.model, reference.parent_column, reference.require) == (
        "location_id", "peak_locations", "location_id", (("is_factory", True),))
    assert reference.describe() == "location_id (peak_locations.location_id, with is_factory = true)"


def test_a_model_without_meta_peak_is_not_an_object(parsed: Path) -> None:
    with pytest.raises(BuildError, match=r"peak_manufacturing_orders_rejected.*no meta\.peak"):
        contract_for(parsed, "peak_manufacturing_orders_rejected")


def test_one_object_is_the_orders_unless_object_names_another(parsed: Path) -> None:
    settings = load_settings({"target_path": parsed}, environ={"PEAK_API_KEY": TOKEN})
    contract, orders_settings, parents = one_object(settings)
    assert contract.model_name == "peak_manufacturing_orders"
    assert (orders_settings.state_schema, orders_settings.object_name) == (
        "mo_export_state", "INV_MANUFACTURING_ORDERS_OOTB")
    assert [(c.model_name, s.state_schema) for c, s in parents] == [
        ("peak_locations", "mo_export_state__peak_locations")]
    located = load_settings({"target_path": parsed, "object": "peak_locations"}, environ={"PEAK_API_KEY": TOKEN})
    contract, locations_settings, parents = one_object(located)
    assert (contract.model_name, locations_settings.object_name, parents) == (
        "peak_locations", "INV_LOCATIONS_OOTB", ())
    assert locations_settings.results_path.name == "export_results.peak_locations.json"


def test_an_unknown_object_is_refused_naming_the_objects(parsed: Path) -> None:
    settings = load_settings({"target_path": parsed, "object": "peak_products"}, environ={"PEAK_API_KEY": TOKEN})
    with pytest.raises(ConfigError, match=r"'peak_products'.*peak_locations, peak_manufacturing_orders"):
        chosen_objects(settings, load_contracts(parsed))


# ---- what a wrong yml is told ----------------------------------------------------------------------------------

def _manifest(tmp_path: Path, *nodes: dict[str, Any]) -> Path:
    target = tmp_path / "target"
    target.mkdir(parents=True)
    by_id = {f"model.mo_export.{n['name']}": {"resource_type": "model", "unique_id": f"model.mo_export.{n['name']}",
                                              **n} for n in nodes}
    (target / "manifest.json").write_bytes(orjson.dumps({"nodes": by_id}))
    return target


def _node(name: str, peak: dict[str, Any] | None, columns: dict[str, str] | None = None) -> dict[str, Any]:
    columns = columns or {"code": "string", "updated_at": "timestamp"}
    return {
        "name": name,
        "config": {"meta": {"peak": peak} if peak is not None else {}},
        "columns": {c: {"name": c, "data_type": t, "constraints": [{"type": "not_null"}]} for c, t in columns.items()},
    }


def _object(name: str, **peak: Any) -> dict[str, Any]:
    return _node(name, {"object_name": "INV_THINGS", "primary_key": ["code", "updated_at"], **peak})


@pytest.mark.parametrize(("peak", "message"), [
    ({"primary_key": ["code"]}, "meta.peak.object_name is missing"),
    ({"object_name": "X", "primary_key": ["code", "nope"]}, r"meta.peak.primary_key must list columns of the model"),
    ({"object_name": "X", "primary_key": ["code"], "version_column": "updated_at"},
     "meta.peak.version_column 'updated_at' is not a primary key column"),
    ({"object_name": "X", "primary_key": ["code"], "references": [{"column": "code"}]},
     r"meta.peak.references entry .* needs column, model and parent_column"),
])
def test_a_wrong_meta_peak_is_refused_naming_the_model_and_key(tmp_path: Path, peak: dict[str, Any],
                                                                message: str) -> None:
    target = _manifest(tmp_path, _node("things", peak))
    with pytest.raises(BuildError, match=f"model things: {message}"):
        load_contracts(target)


def test_a_column_type_the_api_has_not_is_refused(tmp_path: Path) -> None:
    node = _node("things", {"object_name": "X", "primary_key": ["code"]}, {"code": "string", "weight": "double"})
    with pytest.raises(BuildError, match="model things: column weight has data_type 'double'"):
        load_contracts(_manifest(tmp_path, node))


def test_a_reference_to_a_model_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    node = _object("things", references=[{"column": "code", "model": "plants", "parent_column": "code"}])
    with pytest.raises(BuildError, match="names the model 'plants', which is not an exported object"):
        load_contracts(_manifest(tmp_path, node))


def test_a_reference_to_a_column_the_parent_lacks_is_refused(tmp_path: Path) -> None:
    child = _object("things", references=[{"column": "code", "model": "parents", "parent_column": "code",
                                           "require": {"is_open": True}}])
    with pytest.raises(BuildError, match="names is_open, which parents does not hold"):
        load_contracts(_manifest(tmp_path, child, _object("parents")))


def test_references_in_a_cycle_are_refused(tmp_path: Path) -> None:
    a = _object("a_things", references=[{"column": "code", "model": "b_things", "parent_column": "code"}])
    b = _object("b_things", references=[{"column": "code", "model": "a_things", "parent_column": "code"}])
    with pytest.raises(BuildError, match="form a cycle"):
        load_contracts(_manifest(tmp_path, a, b))


def test_parents_come_before_their_children_whatever_their_names(tmp_path: Path) -> None:
    child = _object("a_children", references=[{"column": "code", "model": "z_parents", "parent_column": "code"}])
    assert [c.model_name for c in load_contracts(_manifest(tmp_path, child, _object("z_parents"),
                                                           _object("m_alone")))] == [
        "z_parents", "a_children", "m_alone"]


# ---- a third object: a model and a yml, no Python ---------------------------------------------------------------

_LINES_SQL = """\
with orders as (
    select * from {{ ref('peak_manufacturing_orders') }}
),

lines as (
    select source_id as line_id, location_id, max(updated_at) as updated_at
    from orders
    group by source_id, location_id
)

select line_id, location_id, updated_at from lines
"""

_LINES_YML = """\
version: 2

models:
  - name: peak_production_lines
    description: One row per production line and factory that runs orders (a test's third object).
    config:
      contract:
        enforced: true
      meta:
        peak:
          object_name: INV_PRODUCTION_LINES_TEST
          primary_key: [line_id, location_id, updated_at]
          version_column: updated_at
          references:
            - {column: location_id, model: peak_locations, parent_column: location_id, require: {is_factory: true}}
    columns:
      - name: line_id
        data_type: string
        description: The line (source_id of the orders).
        constraints: [{type: not_null}]
      - name: location_id
        data_type: string
        description: The factory the line is at.
        constraints: [{type: not_null}]
      - name: updated_at
        data_type: timestamp
        description: The latest updated_at of the line's orders.
        constraints: [{type: not_null}]
"""


def test_a_third_object_added_by_a_model_and_a_yml_is_exported_after_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    project_dir = tmp_path / "project"
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(PROJECT_DIR / name, _mkdir(project_dir) / name)
    for folder in ("models", "macros", "data-tests"):
        shutil.copytree(PROJECT_DIR / folder, project_dir / folder)
    (project_dir / "models" / "marts" / "peak_production_lines.sql").write_text(_LINES_SQL)
    (project_dir / "models" / "marts" / "peak_production_lines.yml").write_text(_LINES_YML)

    project = build_sample_project(tmp_path / "build", orders=300, seed=7, project_dir=project_dir)
    payloads = tmp_path / "payloads"
    env = {"MO_DUCKDB_PATH": str(project.duckdb_path), "MO_DBT_TARGET_PATH": str(project.target_path)}
    result = run_cli(["run", "--dry-run", "--payload-dir", str(payloads)], env, monkeypatch, capsys)
    assert result.exit_code == 0, result.stdout + result.stderr

    assert [c.model_name for c in load_contracts(project.target_path)] == [
        "peak_locations", "peak_manufacturing_orders", "peak_production_lines"]
    lines = project.query("select line_id, location_id, updated_at from main.peak_production_lines")
    sent = [row for body in sorted((payloads / "peak_production_lines").glob("*.json"))
            for row in orjson.loads(body.read_bytes())["data"]]
    assert len(sent) == len(lines) > 0
    assert set(sent[0]) == {"line_id", "location_id", "updated_at"}
    assert {(r["line_id"], r["location_id"]) for r in sent} == {(a, b) for a, b, _ in lines}
    assert "INV_PRODUCTION_LINES_TEST" in result.stdout
    # the three dry runs in the order a real run sends them
    assert result.stdout.index("main.peak_locations") < result.stdout.index("main.peak_manufacturing_orders") \
        < result.stdout.index("main.peak_production_lines")


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_a_present_reference_to_a_disabled_model_is_left_out_when_optional(tmp_path: Path) -> None:
    optional = _object("things", references=[{"column": "code", "model": "master", "parent_column": "code",
                                              "check": "present", "optional": True}])
    assert load_contracts(_manifest(tmp_path, optional))[0].references == ()


def test_a_present_reference_to_a_missing_model_is_refused_unless_optional(tmp_path: Path) -> None:
    required = _object("things", references=[{"column": "code", "model": "master", "parent_column": "code",
                                              "check": "present"}])
    with pytest.raises(BuildError, match="names the model 'master', which is not in the manifest"):
        load_contracts(_manifest(tmp_path, required))


def test_a_present_reference_is_checked_against_the_models_columns(tmp_path: Path) -> None:
    child = _object("things", references=[{"column": "code", "model": "master", "parent_column": "sku",
                                           "check": "present"}])
    with pytest.raises(BuildError, match="names sku, which master's yml does not declare"):
        load_contracts(_manifest(tmp_path, child, _node("master", None)))
    child = _object("things", references=[{"column": "code", "model": "master", "parent_column": "code",
                                           "check": "present"}])
    (contract,) = load_contracts(_manifest(tmp_path / "ok", child, _node("master", None)))
    assert [(r.model, r.check) for r in contract.references] == [("master", "present")]


def test_an_object_name_that_would_change_the_url_is_refused(tmp_path: Path) -> None:
    node = _node("things", {"object_name": "X/../other?dryRun=true", "primary_key": ["code"]})
    message = "meta.peak.object_name 'X/../other?dryRun=true' may hold only letters"
    with pytest.raises(BuildError, match=re.escape(message)):
        load_contracts(_manifest(tmp_path, node))


def test_a_column_named_like_the_exports_own_columns_is_refused(tmp_path: Path) -> None:
    node = _node("things", {"object_name": "X", "primary_key": ["code"]}, {"code": "string", "row_json": "string"})
    with pytest.raises(BuildError, match="column 'row_json': an exported object's columns"):
        load_contracts(_manifest(tmp_path, node))


def test_a_reference_on_a_nullable_column_is_refused(tmp_path: Path) -> None:
    child = _object("things", references=[{"column": "code", "model": "parents", "parent_column": "code"}])
    child["columns"]["code"]["constraints"] = []
    with pytest.raises(BuildError, match="the column code needs a not_null constraint"):
        load_contracts(_manifest(tmp_path, child, _object("parents")))


def test_a_required_value_of_the_wrong_type_is_refused_when_the_contract_loads(tmp_path: Path) -> None:
    parent = _node("parents", {"object_name": "P", "primary_key": ["code"]}, {"code": "string", "is_open": "boolean"})
    child = _object("things", references=[{"column": "code", "model": "parents", "parent_column": "code",
                                           "require": {"is_open": "yes"}}])
    with pytest.raises(BuildError, match=r"require is_open: 'yes' is not a boolean value"):
        load_contracts(_manifest(tmp_path, child, parent))
