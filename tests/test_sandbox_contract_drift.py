"""The sandbox is a second reading of the API's resource page, not a copy of the exporter's: it imports nothing
of the exporter (nor of the rest of the development package, mo_export_dev.sample_data, which does), so when the
exporter's contract drifts the sandbox refuses what the exporter then sends."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import orjson
import pytest

from exporter import contract as exporter_contract
from exporter.dbt_artifacts import ModelRelation
from exporter.model import ContractModel, Selection
from mo_export_dev.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from mo_export_dev.sandbox import contract as sandbox_contract
from tests import reference_contract as reference

ROOT = Path(__file__).resolve().parents[1]
SANDBOX_DIR = ROOT / "mo_export_dev" / "sandbox"
TOKEN = "drift-token-1234"
ROWS = 40


def _is_outside_the_sandbox(name: str) -> bool:
    """``name`` is the exporter's or another part of the development package (which may import the exporter)."""
    if name == "exporter" or name.startswith("exporter."):
        return True
    return name.startswith("mo_export_dev.") and not (
        name == "mo_export_dev.sandbox" or name.startswith("mo_export_dev.sandbox.")
    )


def _exporter_imports(path: Path) -> list[str]:
    """The modules outside mo_export_dev.sandbox (the exporter's, the sample data's) that ``path`` imports,
    statically."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = "mo_export_dev.sandbox"  # every module checked sits directly in it
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from exporter import errors` imports exporter.errors; `from mo_export_dev import sandbox` is allowed
            packages = {"exporter", "mo_export_dev"}
            names = [f"{module}.{alias.name}" for alias in node.names] if module in packages else [module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in {"import_module", "__import__"} and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        for name in names:
            if _is_outside_the_sandbox(name):
                found.append(f"{path.name}:{node.lineno}: {name}")
    return found


def test_no_sandbox_module_imports_the_exporter() -> None:
    files = sorted(SANDBOX_DIR.rglob("*.py"))
    assert len(files) > 10
    offending = [line for path in files for line in _exporter_imports(path)]
    assert offending == [], "the sandbox must not import the exporter:\n" + "\n".join(offending)


def test_the_import_check_sees_an_import_of_the_exporters_contract(tmp_path: Path) -> None:
    # the check above, shown failing on the imports it is there to catch
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from exporter.contract import ATTRIBUTES\nimport exporter.settings\nfrom exporter import errors\n"
        "from .. import sample_data\nfrom mo_export_dev.sandbox import contract\nfrom . import store\n"
        "from mo_export_dev import sandbox\nimport mo_export_dev.sample_data.generator\n"
        "import importlib\nimportlib.import_module('exporter.client')\n"
    )
    found = _exporter_imports(planted)
    assert [line.rsplit(": ", 1)[1] for line in found] == [
        "exporter.contract", "exporter.settings", "exporter.errors", "mo_export_dev.sample_data",
        "mo_export_dev.sample_data.generator", "exporter.client",
    ]


def test_loading_every_sandbox_module_loads_nothing_of_the_exporter() -> None:
    # the same rule at run time, dynamic imports included: of the project, only the sandbox's own modules
    modules = sorted(p.stem for p in SANDBOX_DIR.glob("*.py") if p.stem not in {"__init__", "__main__"})
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module('mo_export_dev.sandbox.' + m)\n"
        "import mo_export_dev.sandbox as s\n"
        "[getattr(s, name) for name in s.__all__]\n"
        "print(sorted(m for m in sys.modules\n"
        "             if m.split('.')[0] in {'exporter', 'mo_export_dev'}\n"
        "             and m.split('.')[:2] != ['mo_export_dev', 'sandbox']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "['mo_export_dev']"


def test_both_readings_of_the_resource_page_agree_today() -> None:
    # independent code, the same facts: a change to one reading that the other does not share fails here
    # (and, for types, in the drift test below)
    assert [(c.name, c.type, c.required) for c in sandbox_contract.COLUMNS] == [
        (a.name, a.api_type, a.required) for a in reference.ATTRIBUTES
    ]
    assert sandbox_contract.PRIMARY_KEY == reference.PRIMARY_KEY
    assert sandbox_contract.OBJECT == exporter_contract.DEFAULT_OBJECT_NAME
    assert sandbox_contract.SOLUTION == exporter_contract.DEFAULT_SOLUTION_NAME
    assert sandbox_contract.ROWS_PER_REQUEST_PAGE == exporter_contract.DEFAULT_ROWS_PER_REQUEST
    assert sandbox_contract.ROWS_PER_REQUEST_MOST == exporter_contract.LARGEST_ROWS_PER_REQUEST
    assert sandbox_contract.BYTES_PER_REQUEST == exporter_contract.DEFAULT_MAX_BYTES
    assert sandbox_contract.REQUESTS_PER_SECOND == exporter_contract.DOCUMENTED_RATE_LIMIT_RPS
    assert exporter_contract.DEFAULT_PATH_TEMPLATE in sandbox_contract.INGEST_PATHS
    assert exporter_contract.ALTERNATE_PATH_TEMPLATE in sandbox_contract.INGEST_PATHS


# ---- drift: the exporter's contract says ordered_units is a string ----------------------------------------

def _drifted(obj: exporter_contract.ObjectContract, column: str, api_type: str) -> exporter_contract.ObjectContract:
    attributes = tuple(
        dataclasses.replace(a, api_type=api_type) if a.name == column else a for a in obj.attributes
    )
    return dataclasses.replace(obj, attributes=attributes)


def _model(obj: exporter_contract.ObjectContract) -> ContractModel:
    """A contract model table typed as ``obj`` says (what dbt would build from a model following it), opened
    by the exporter's model stage, whose own contract check it passes."""
    con = duckdb.connect()
    columns = ", ".join(f"{name} {duckdb_type}" for name, duckdb_type in obj.duckdb_types.items())
    con.execute(f"create table main.peak_manufacturing_orders ({columns})")
    units = "cast(100 + i as varchar)" if obj.attribute("ordered_units").api_type == "string" else "100 + i"
    con.execute(
        f"""insert into main.peak_manufacturing_orders by name
            select 'MO' || lpad(i::varchar, 6, '0') as order_number, 'P' || (i % 7) as product_id,
                'PLANT-1' as location_id, 'MES' as source_id, timestamp '2024-01-31 08:00:00' as ordered_at,
                {units} as ordered_units, timestamp '2024-02-29 06:00:00' as expected_start_date,
                null as actual_start_date, timestamp '2024-03-01 18:00:00' as expected_end_date,
                null as actual_end_date, null as produced_units, 'scheduled' as status,
                timestamp '2024-03-02 09:15:00' + to_seconds(i) as updated_at
            from range({ROWS}) as t(i)"""
    )
    relation = ModelRelation(unique_id="model.mo_export.peak_manufacturing_orders", database="memory",
                             schema="main", identifier="peak_manufacturing_orders", contract_enforced=True)
    model = ContractModel(con, relation, obj)
    model.check_contract()  # the exporter sees nothing wrong: the model follows its (drifted) contract
    return model


def _rendered_rows(model: ContractModel) -> list[bytes]:
    """The row payloads the exporter's model stage renders for sending."""
    return [row.encode() for batch in model.stream(Selection()) for row in batch.column("row_json").to_pylist()]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    config = SandboxConfig(token=TOKEN, rate_limit_rps=0, store_path=tmp_path_factory.mktemp("drift") / "s.sqlite")
    with running_sandbox(config) as handle:
        yield handle


def _post(sandbox: SandboxHandle, rows: list[bytes]) -> dict[str, object]:
    body = b'{"solutionName":"INV_OOTB","operationType":"UPSERT","data":[' + b",".join(rows) + b"]}"
    path = exporter_contract.DEFAULT_PATH_TEMPLATE.format(object_name=exporter_contract.DEFAULT_OBJECT_NAME)
    headers = {"Authorization": TOKEN, "Content-Type": "application/json"}
    response = httpx.post(f"{sandbox.base_url}{path}", content=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, object] = orjson.loads(response.content)
    return result


def test_rows_of_the_exporters_own_contract_are_accepted(sandbox: SandboxHandle) -> None:
    rows = _rendered_rows(_model(reference.MANUFACTURING_ORDERS))
    assert len(rows) == ROWS
    answer = _post(sandbox, rows)
    assert (answer["accepted"], answer["failed"]) == (ROWS, [])


def test_a_type_changed_in_the_exporters_contract_is_rejected_by_the_sandbox(sandbox: SandboxHandle) -> None:
    drifted = _drifted(reference.MANUFACTURING_ORDERS, "ordered_units", "string")
    rows = _rendered_rows(_model(drifted))
    assert orjson.loads(rows[0])["ordered_units"] == "100"  # the exporter now sends the units as text
    answer = _post(sandbox, rows)
    assert answer["accepted"] == 0
    failed = answer["failed"]
    assert isinstance(failed, list) and [f["index"] for f in failed] == list(range(ROWS))
    assert {(e["code"], e["category"], e["column"]) for f in failed for e in f["errors"]} == {
        ("DI_E_00005", "DATA_TYPE", "ordered_units")
    }
