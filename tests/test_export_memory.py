"""The export's memory is bounded by design: a second-day export over a 5,000,000-order history passes.

The history is made in SQL, not by exporting it (that would take minutes): a real `dbt build` of a small
sample gives the manifest, the build verdict and the contract table; the table is then refilled with five
million orders at seven factories (the Locations table refilled with those), and both objects' ledgers are
filled as a first export would have left them: every location, then every order, acknowledged at the sandbox
(so no order is held for its location). An extraction then changes 1 % of the orders (a new ``updated_at``).
The run that follows is the real CLI in a subprocess, with its default settings, against the sandbox over
127.0.0.1: the Locations have nothing to send, the orders send the change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import orjson
import pytest

from exporter.contract import DEFAULT_PATH_TEMPLATE, DEFAULT_SOLUTION_NAME, ObjectContract
from exporter.destination import Destination
from exporter.fingerprints import content_hash_sql, identity_hash_sql, key_hash_sql
from exporter.ledger import Ledger
from mo_export_dev.sandbox import SandboxConfig, running_sandbox
from tests import reference_contract as contract
from tests.dbt_support import PROJECT_DIR
from tests.export_support import TOKEN, Project, build_sample_project

pytestmark = pytest.mark.slow

HISTORY = 5_000_000
STATE_SCHEMA = "mo_export_state"
MODEL = "main.peak_manufacturing_orders"
#: the Locations' model and ledger (ExportSettings.for_object: the state schema suffixed with the model)
LOCATIONS_STATE_SCHEMA = f"{STATE_SCHEMA}__peak_locations"
LOCATIONS_MODEL = "main.peak_locations"
PLANTS = 7


def acknowledge_every_row(con: duckdb.DuckDBPyConnection, schema: str, model: str, obj: ObjectContract,
                          base_url: str) -> None:
    """Fill ``obj``'s ledger as a run that delivered every row of ``model`` to ``base_url`` leaves it: the
    destination registered, one acknowledged delivery per row, the acknowledged content of each."""
    state = Ledger(con, schema, model, obj)
    state.ensure()
    destination = Destination.of(
        base_url=base_url, path_template=DEFAULT_PATH_TEMPLATE, object_name=obj.object_name,
        solution_name=DEFAULT_SOLUTION_NAME, token=TOKEN,
    )
    state.use_destination(destination)
    destination_id = state.register_destination(destination)
    con.execute(
        f"""insert into {schema}.deliveries (destination_id, key_hash, content_hash, outcome, run_id, recorded_at)
        select ?, {key_hash_sql(obj)}, {content_hash_sql(obj)}, 'acknowledged', 'history', now() from {model}""",
        [destination_id],
    )
    con.execute(
        f"""insert into {schema}.acknowledged_content
        select ?, {identity_hash_sql(obj)}, {", ".join(obj.attribute_names)} from {model}""",
        [destination_id],
    )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    store = tmp_path_factory.mktemp("sandbox") / "sandbox.sqlite"
    with running_sandbox(SandboxConfig(token=TOKEN, store_path=store, rate_limit_rps=0)) as handle:
        yield handle


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, sandbox) -> Project:
    """A built project whose contract table holds 5 M orders at 7 factories, the factories and then the orders all
    acknowledged at the sandbox, 1 % of the orders changed since."""
    project = build_sample_project(tmp_path_factory.mktemp("built"), orders=200, seed=5)
    big = project.copy_to(tmp_path_factory.mktemp("history"))
    with duckdb.connect(str(big.duckdb_path)) as con:
        con.execute(f"delete from {MODEL}")  # keep the table dbt built (its constraints), refill it
        con.execute(
            f"""insert into {MODEL} ({", ".join(contract.ATTRIBUTE_NAMES)})
            select 'MO-' || lpad(i::varchar, 9, '0'), 'MAT-' || (i % 5000)::varchar,
                   'PLANT-' || (i % {PLANTS})::varchar,
                   'MES', timestamp '2025-01-01' + to_seconds(i % 1000000), 1 + i % 1000,
                   timestamp '2025-02-01' + to_seconds(i % 100000), null,
                   timestamp '2025-03-01' + to_seconds(i % 100000), null, null, 'RELEASED',
                   timestamp '2025-06-01' + to_seconds(i % 86400)
            from range({HISTORY}) as t(i)"""
        )
        # the orders' locations: the plants, each a factory (what an order's location_id must be acknowledged as)
        con.execute(f"delete from {LOCATIONS_MODEL}")
        con.execute(
            f"""insert into {LOCATIONS_MODEL} ({", ".join(contract.LOCATIONS.attribute_names)})
            select 'PLANT-' || i::varchar, 'Plant ' || i::varchar, 'DE', false, false, true,
                   timestamp '2025-01-01'
            from range({PLANTS}) as t(i)"""
        )
        # the first export, parents first: every location acknowledged, then every order
        acknowledge_every_row(con, LOCATIONS_STATE_SCHEMA, LOCATIONS_MODEL, contract.LOCATIONS, sandbox.base_url)
        acknowledge_every_row(con, STATE_SCHEMA, MODEL, contract.MANUFACTURING_ORDERS, sandbox.base_url)
        # the next extraction: 1 % of the orders move on (a new version, so a new key)
        con.execute(
            f"""update {MODEL} set status = 'COMPLETED', updated_at = updated_at + interval 1 day
                where order_number like '%00'"""
        )
        con.execute("checkpoint")
    return big


def _export(project: Project, sandbox, tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    copy = project.copy_to(tmp_path / "project")
    results = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "exporter", "run", "--results-path", str(results)],
        env={**os.environ, **copy.env(sandbox.base_url), "MO_EXPORT_MEMORY_LIMIT": "", **env},
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600,
    )
    return completed, results


def test_second_day_export_of_a_five_million_order_history_sends_the_change(history, sandbox, tmp_path) -> None:
    completed, results = _export(history, sandbox, tmp_path)

    assert completed.returncode == 0, completed.stderr[-2000:]
    summary = orjson.loads(results.read_bytes())
    changed = HISTORY // 100
    assert summary["rows"]["considered"] == HISTORY
    assert summary["rows"]["to_send"] == summary["rows"]["acknowledged"] == changed
    assert summary["rows"]["changed"] == changed and summary["rows"]["new"] == 0
    assert summary["rows"]["pending"] == 0 and summary["rows"]["held"] == 0
    locations = orjson.loads(results.with_name("results.peak_locations.json").read_bytes())
    assert locations["exit_code"] == 0
    assert (locations["rows"]["considered"], locations["rows"]["to_send"]) == (PLANTS, 0)
    stored = {tuple(r["key"]) for r in sandbox.rows()}
    assert len(stored) == changed and all(key[3].startswith("2025-06-02") for key in stored)


def test_running_out_of_memory_is_an_environment_fault_with_its_setting_named(history, sandbox, tmp_path) -> None:
    completed, _ = _export(history, sandbox, tmp_path, MO_EXPORT_MEMORY_LIMIT="2MB")

    assert completed.returncode == 2, completed.stderr[-2000:]
    assert "ran out of memory" in completed.stderr and "MO_EXPORT_MEMORY_LIMIT" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_an_unusable_memory_limit_is_refused_naming_the_setting(history, sandbox, tmp_path) -> None:
    completed, _ = _export(history, sandbox, tmp_path, MO_EXPORT_MEMORY_LIMIT="lots")

    assert completed.returncode == 3
    assert "MO_EXPORT_MEMORY_LIMIT" in completed.stderr and "'lots'" in completed.stderr
    shutil.rmtree(tmp_path / "project", ignore_errors=True)
