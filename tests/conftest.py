"""Shared pytest fixtures. Keep each one generic and say what it gives and what it costs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.dbt_support import run_dbt
from tests.export_support import Project


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



@pytest.fixture(scope="session")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Project]:
    """``sample_build(orders=, seed=) -> Project``: sample data built by the real `dbt build`, once per session
    for each (orders, seed), so modules asking for the same data share one build (a few seconds each).

    Every caller gets the same files: export from a copy (``Project.copy_to(tmp_path / ...)``), never the build.
    """
    from tests.export_support import build_sample_project

    builds: dict[tuple[int, int], Project] = {}

    def build(*, orders: int, seed: int) -> Project:
        if (orders, seed) not in builds:
            folder = tmp_path_factory.mktemp(f"sample_build_{orders}_{seed}")
            builds[orders, seed] = build_sample_project(folder, orders=orders, seed=seed)
        return builds[orders, seed]

    return build
