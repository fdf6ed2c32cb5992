"""Helpers for end-to-end export tests: a built sample project copied per test, and the CLI in-process."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from exporter.cli import main
from tests.reference_contract import ATTRIBUTES, TIMESTAMP_FORMAT

TOKEN = "pat-e2e-SECRET-7f3a9c"


@dataclass(frozen=True)
class Project:
    """A DuckDB file built by `dbt build` and the dbt target directory that describes it."""

    duckdb_path: Path
    target_path: Path

    def copy_to(self, folder: Path) -> Project:
        folder.mkdir(parents=True, exist_ok=True)
        duckdb_path = folder / self.duckdb_path.name
        target_path = folder / "target"
        shutil.copy(self.duckdb_path, duckdb_path)
        wal = self.duckdb_path.with_name(self.duckdb_path.name + ".wal")
        if wal.exists():  # dbt may not have checkpointed yet: the WAL holds the newest tables
            shutil.copy(wal, duckdb_path.with_name(duckdb_path.name + ".wal"))
        shutil.copytree(self.target_path, target_path, ignore=shutil.ignore_patterns("logs"))
        return Project(duckdb_path, target_path)

    def env(self, base_url: str, token: str = TOKEN) -> dict[str, str]:
        return {
            "PEAK_API_KEY": token,
            "PEAK_BASE_URL": base_url,
            "MO_DUCKDB_PATH": str(self.duckdb_path),
            "MO_DBT_TARGET_PATH": str(self.target_path),
        }

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.duckdb_path)) as con:
            return con.execute(sql, params or []).fetchall()

    def contract_rows(self) -> dict[tuple[str, str, str, str], dict[str, Any]]:
        """The contract model rendered the way the API expects, keyed by the primary key (Python-side)."""
        names = [a.name for a in ATTRIBUTES]
        rows = self.query(f"select {', '.join(names)} from main.peak_manufacturing_orders")
        out = {}
        for row in rows:
            record = {
                a.name: (v.strftime(TIMESTAMP_FORMAT) if a.api_type == "timestamp" and hasattr(v, "strftime") else v)
                for a, v in zip(ATTRIBUTES, row, strict=True)
            }
            out[(record["product_id"], record["location_id"], record["order_number"], record["updated_at"])] = record
        return out


def build_sample_project(folder: Path, *, orders: int, seed: int, project_dir: Path | None = None) -> Project:
    """Generate ``orders`` sample orders into ``folder`` and `dbt build` them in-process (seconds), with this
    repository's dbt project or a copy of it (``project_dir``).

    dbt-duckdb keeps the file open in this process afterwards: tests export from ``copy_to`` copies.
    """
    from mo_export_dev.sample_data import generate
    from tests.dbt_support import PROJECT_DIR, run_dbt

    duckdb_path = folder / "warehouse.duckdb"
    generate(duckdb_path, orders=orders, seed=seed)
    # the unit tests check the models' logic on fixed inputs, not this data: they run in the modules about
    # the models (tests/test_dbt_models_match_reference.py, the demo, Spark), not in every sample build
    # (a third of a build's time). The exporter's build guard reads the data tests, which all run here.
    run = run_dbt(["build", "--exclude-resource-type", "unit_test"], duckdb_path=duckdb_path,
                  target_path=folder / "target", project_dir=project_dir or PROJECT_DIR)
    assert run.success, "\n".join(run.failures())
    return Project(duckdb_path, folder / "target")


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> CliResult:
    """Run `mo-export <args>` in this process with ``env`` set, returning exit code and output."""
    with monkeypatch.context() as m:
        for key, value in env.items():
            m.setenv(key, value)
        capsys.readouterr()
        try:
            main(args)
        except SystemExit as exc:
            code = int(exc.code or 0)
        else:  # pragma: no cover - main always exits
            code = 0
        captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def sandbox_rows(handle: Any) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    return {tuple(r["key"]): r["row"] for r in handle.rows()}


def a_plan(*, considered: int, to_send: int, unchanged: int = 0, full_refresh: bool = False) -> Any:
    """A :class:`exporter.decide.Plan` with these counts, for tests of what reads a plan (reports, Dagster)."""
    from exporter.change_guard import GuardVerdict
    from exporter.decide import Plan
    from exporter.destination import Destination
    from exporter.model import Selection

    return Plan(
        model="main.peak_manufacturing_orders",
        destination=Destination.of(base_url="https://service.peak.ai/ingestion-api",
                                   path_template="/api/v2/ingest/object/{object_name}",
                                   object_name="INV_MANUFACTURING_ORDERS_OOTB", solution_name="INV_OOTB"),
        destination_id=1, full_refresh=full_refresh, retry_rejected=False, considered=considered,
        to_send=to_send, unchanged=unchanged, skipped_rejected=0, new=to_send, changed=0, changed_unknown=0,
        resent_unchanged=0, acknowledged_orders=0, lost_orders=0,
        guard=GuardVerdict(0, to_send, to_send, 0, 0.5, 0.2, False), selection=Selection(),
    )


def a_summary(plan: Any, *, dry_run: bool = False, payload_dir: str | None = None, exit_code: int = 0,
              sent: int = 0, would_send: int = 0, rejected_by_code: dict[str, int] | None = None,
              failure: Any = None) -> Any:
    """A :class:`exporter.report.RunSummary` of a run that came to these counts."""
    from exporter.deliver import Counters, DeliveryResult
    from exporter.report import RunSummary
    from exporter.settings import load_settings

    counters = Counters(sent=sent, acknowledged=sent - sum((rejected_by_code or {}).values()),
                        would_send=would_send, batches=(max(sent, would_send) + 499) // 500)
    for code, n in (rejected_by_code or {}).items():
        counters.rejected_by_code[code] = n
        counters.rejected += n
    flags: dict[str, Any] = {"dry_run": dry_run, "payload_dir": payload_dir, "full_refresh": plan.full_refresh}
    settings = load_settings(flags, environ={"PEAK_API_KEY": TOKEN})
    return RunSummary.build(run_id="dry-run" if dry_run else "r1", plan=plan,
                            result=DeliveryResult(counters=counters, failure=failure), settings=settings,
                            started_at="2026-01-01T00:00:00+00:00", duration_seconds=1.0)


#: the manufacturing orders' object name; a run sends Locations (their parents) first
ORDERS_OBJECT = "INV_MANUFACTURING_ORDERS_OOTB"
#: the dbt model of Locations, for `run --object` (their ledger is ``mo_export_state__peak_locations``)
LOCATIONS_MODEL = "peak_locations"


def order_stats(handle: Any) -> dict[str, int]:
    """The sandbox's counts of the manufacturing orders alone (``requests``, ``rows_accepted``, ``rows_failed``,
    ``rows_stored``): its top-level counts include the Locations a run sends first."""
    counts: dict[str, int] = handle.stats()["objects"][ORDERS_OBJECT]
    return counts
