"""Run the real dbt project in-process (dbtRunner) against a DuckDB file of the test's own.

Every invocation gets its own target and log paths, so tests (and engineers) running side by side never
share `target/`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dbt.cli.main import dbtRunner, dbtRunnerResult

PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DbtRun:
    result: dbtRunnerResult
    target_path: Path

    @property
    def success(self) -> bool:
        return bool(self.result.success)

    def failures(self) -> list[str]:
        """Names and messages of every node that did not pass (for assertion messages)."""
        out: list[str] = []
        for r in getattr(self.result.result, "results", None) or []:
            status = str(getattr(r, "status", ""))
            if status not in ("success", "pass"):
                out.append(f"{r.node.unique_id}: {status}: {getattr(r, 'message', '')}")
        if self.result.exception is not None:
            out.append(f"exception: {self.result.exception}")
        return out


@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_dbt(args: Sequence[str], *, duckdb_path: Path, target_path: Path, vars_: str | None = None,
            project_dir: Path = PROJECT_DIR) -> DbtRun:
    """Invoke `dbt <args>` on this repository's project (or a copy of it, ``project_dir``), writing artifacts
    under ``target_path``."""
    target_path.mkdir(parents=True, exist_ok=True)
    cli_args = [
        *args,
        "--project-dir", str(project_dir),
        "--profiles-dir", str(project_dir),
        "--target-path", str(target_path),
        "--log-path", str(target_path / "logs"),
    ]
    if vars_:
        cli_args += ["--vars", vars_]
    with _env(MO_DUCKDB_PATH=str(duckdb_path), DBT_SEND_ANONYMOUS_USAGE_STATS="false"):
        result = dbtRunner().invoke(cli_args)
    release_dbt_duckdb()
    return DbtRun(result=result, target_path=target_path)


def release_dbt_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process after dbtRunner returns.

    dbt-duckdb opens the file with the profile's configuration (memory limit, temp directory), and DuckDB
    refuses a second connection to an open file with another configuration; closed, the file can be opened
    by the test with its own settings, or by the next dbt invocation.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        if environment is not None:
            environment.close()
            DuckDBConnectionManager._ENV = None


def run_dbt_subprocess(
    args: Sequence[str], *, duckdb_path: Path, target_path: Path
) -> subprocess.CompletedProcess[str]:
    """`dbt <args>` in its own process, as an orchestrator runs it.

    dbt-duckdb keeps its DuckDB instance open for the life of the process that ran dbtRunner, so a test
    that rebuilds and then exports in the same process would meet a file it cannot reopen with the
    exporter's settings; a separate process, like production, releases it on exit.
    """
    command, env = dbt_command(args, duckdb_path=duckdb_path, target_path=target_path)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def dbt_command(args: Sequence[str], *, duckdb_path: Path, target_path: Path) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `dbt <args>` on this project, for a process of its own."""
    env = {**os.environ, "MO_DUCKDB_PATH": str(duckdb_path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [
        str(Path(sys.executable).with_name("dbt")), *args,
        "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(target_path), "--log-path", str(target_path / "logs"),
    ]
    return command, env
