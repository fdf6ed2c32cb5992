"""Shared pytest fixtures. Keep each one generic and say what it gives and what it costs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.dbt_support import run_dbt


@pytest.fixture(scope="session")
def compile_inline(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """``compile_inline(sql) -> compiled SQL``: render a Jinja/SQL snippet with this project's macros.

    Runs `dbt compile --inline` on the real project (about 3 s a call: it parses the project), against an
    empty scratch DuckDB file. Compile once per session and evaluate the result many times in DuckDB.
    """
    workdir = tmp_path_factory.mktemp("compile_inline")
    calls = 0

    def compile_sql(sql: str) -> str:
        nonlocal calls
        calls += 1
        run = run_dbt(
            ["compile", "--inline", sql, "--quiet"],
            duckdb_path=workdir / "compile.duckdb",
            target_path=workdir / f"target_{calls}",
        )
        assert run.success, f"dbt compile --inline {sql!r} failed:\n" + "\n".join(run.failures())
        return str(run.result.result.results[0].node.compiled_code)

    return compile_sql

