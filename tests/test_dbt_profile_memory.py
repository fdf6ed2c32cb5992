"""The DuckDB profile bounds dbt's memory and spill directory from the environment, with documented defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dbt_support import run_dbt

pytestmark = pytest.mark.slow

QUERY = "select current_setting('memory_limit') as memory_limit, current_setting('temp_directory') as temp_directory"


def _settings(tmp_path: Path) -> tuple[str, str]:
    run = run_dbt(["show", "--inline", QUERY, "--quiet"], duckdb_path=tmp_path / "w.duckdb",
                  target_path=tmp_path / "target")
    assert run.success, "\n".join(run.failures())
    row = run.result.result.results[0].agate_table.rows[0]
    return str(row[0]), str(row[1])


def test_memory_limit_and_temp_directory_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MO_DUCKDB_MEMORY_LIMIT", "300MB")
    monkeypatch.setenv("MO_DUCKDB_TEMP_DIR", str(tmp_path / "spill"))
    memory_limit, temp_directory = _settings(tmp_path)
    assert memory_limit == "286.1 MiB"  # DuckDB shows 300 MB (10^6 bytes) in MiB
    assert temp_directory == str(tmp_path / "spill")


def test_defaults_are_two_gigabytes_and_the_files_own_tmp_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MO_DUCKDB_MEMORY_LIMIT", raising=False)
    monkeypatch.delenv("MO_DUCKDB_TEMP_DIR", raising=False)
    memory_limit, temp_directory = _settings(tmp_path)
    assert memory_limit == "1.8 GiB"
    assert temp_directory == str(tmp_path / "w.duckdb") + ".tmp"
