"""Shared pytest fixtures. Keep each one generic and say what it gives and what it costs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.dbt_support import run_dbt
from tests.export_support import Project


def _module_rank(item: pytest.Item) -> int:
    return 0 if item.get_closest_marker("spark") else 1 if item.get_closest_marker("slow") else 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the Spark module first, then the other ``slow`` modules, then the rest; each module's tests stay
    together and in file order.

    With ``-n 2 --dist loadfile`` (addopts) every module runs whole on one worker, handed out in this order:
    the longest first, so neither worker is left with a minutes-long module at the end. Tests do not depend on
    the order (each module builds or copies what it uses).
    """
    rank: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        module = item.nodeid.split("::", 1)[0]
        rank[module] = min(rank.get(module, 2), _module_rank(item))
        first_seen.setdefault(module, index)
    items.sort(key=lambda item: (rank[m := item.nodeid.split("::", 1)[0]], first_seen[m]))


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
