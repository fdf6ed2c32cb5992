"""The build verdict follows the build, not the clock (issue 14 item 3).

``mo_export_build.node_results.recorded_at`` is DuckDB's local wall-clock time of the process that ran
dbt. Builds under different time zones (here UTC+14 and UTC-11, 25 hours apart) sort wrongly by it; the
verdict orders invocations by their UTC start instead. Real `dbt build`s, each in a process of its own
with its own ``TZ``, on copies of one small sample project.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from exporter.build_verdict import (
    BUILT_STATUS,
    NodeResult,
    check_build_verdict,
    order_invocations,
    started_instant,
)
from exporter.dbt_artifacts import resolve_model
from exporter.errors import BuildError
from tests.dbt_support import dbt_command
from tests.export_support import Project, build_sample_project, run_cli

pytestmark = pytest.mark.slow  # five real `dbt build`s in the module fixture

EAST = "Pacific/Kiritimati"  # UTC+14
WEST = "Pacific/Pago_Pago"  # UTC-11
MODEL = "model.mo_export.peak_manufacturing_orders"
FAILING_TEST = "assert_rejected_share_below_threshold"
#: every rejected order is too many: the data test fails, the model itself builds
FAIL_VARS = "{max_rejected_share: 0}"


def dbt_in_zone(project: Project, zone: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`dbt <args>` in a process of its own whose local time zone is ``zone``."""
    command, env = dbt_command(args, duckdb_path=project.duckdb_path, target_path=project.target_path)
    return subprocess.run(command, env={**env, "TZ": zone}, capture_output=True, text=True, timeout=600,
                          check=False)


def build(project: Project, zone: str, *, passing: bool) -> None:
    result = dbt_in_zone(project, zone, "build", *([] if passing else ["--vars", FAIL_VARS]))
    assert (result.returncode == 0) is passing, result.stdout[-3000:]
    if not passing:
        assert FAILING_TEST in result.stdout


def verdict(project: Project) -> None:
    relation = resolve_model(project.target_path, "peak_manufacturing_orders")
    assert any(FAILING_TEST in t for t in relation.tests)
    with duckdb.connect(str(project.duckdb_path), read_only=True) as con:
        check_build_verdict(con, relation)


def invocations(project: Project) -> list[tuple[str, str, datetime]]:
    """(invocation, started_at, latest recorded_at) per invocation, oldest start first."""
    rows = project.query("""select invocation_id, any_value(started_at), max(recorded_at)
                            from mo_export_build.node_results group by 1""")
    return sorted(rows, key=lambda r: started_instant(r[1]))


@dataclass(frozen=True)
class Files:
    pass_east_then_fail_west: Project
    fail_east_then_pass_west: Project
    stopped_west_after_pass_east: Project


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    base = build_sample_project(tmp_path_factory.mktemp("base"), orders=300, seed=5)

    def stopped_west(project: Project) -> Project:
        """A build stopped after the model's rebuild: a real `dbt run` of the model under UTC-11, less the
        results dbt records only at the end (the post-hook's 'built' row is what a killed process leaves)."""
        run = dbt_in_zone(project, WEST, "run", "-s", "peak_manufacturing_orders")
        assert run.returncode == 0, run.stdout[-3000:]
        with duckdb.connect(str(project.duckdb_path)) as con:
            con.execute("delete from mo_export_build.node_results where command = 'run' and status <> ?",
                        [BUILT_STATUS])
        return project

    def pass_east_then_fail_west(pool: ThreadPoolExecutor) -> tuple[Project, Project]:
        project = base.copy_to(tmp_path_factory.mktemp("a"))
        build(project, EAST, passing=True)
        stopped = pool.submit(stopped_west, project.copy_to(tmp_path_factory.mktemp("c")))
        build(project, WEST, passing=False)
        return project, stopped.result()

    def fail_east_then_pass_west() -> Project:
        project = base.copy_to(tmp_path_factory.mktemp("b"))
        build(project, EAST, passing=False)
        build(project, WEST, passing=True)
        return project

    with ThreadPoolExecutor(3) as pool:  # one process per file: the files are copies of their own
        a = pool.submit(pass_east_then_fail_west, pool)
        b = pool.submit(fail_east_then_pass_west)
        (failed, stopped), reverse = a.result(), b.result()
    return Files(failed, reverse, stopped)


def test_a_failing_build_in_a_zone_behind_refuses_after_a_passing_one_ahead(files: Files) -> None:
    project = files.pass_east_then_fail_west
    # the failing build is the later one, and its wall clock reads 25 hours earlier: the trap is real
    *_, (_, east_start, east_clock), (_, west_start, west_clock) = invocations(project)
    assert started_instant(west_start) > started_instant(east_start)
    assert west_clock < east_clock
    with pytest.raises(BuildError) as refused:
        verdict(project)
    assert refused.value.exit_code == 3
    assert FAILING_TEST in str(refused.value)
    assert "did not pass" in str(refused.value)


def test_mo_export_run_refuses_that_file_with_exit_3_and_sends_nothing(
    files: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(["run", "--dry-run", "--no-progress", "--results-path", str(tmp_path / "results.json")],
                     files.pass_east_then_fail_west.env("http://127.0.0.1:9"), monkeypatch, capsys)

    assert result.exit_code == 3, result.stderr
    assert FAILING_TEST in result.stderr and "did not pass" in result.stderr


def test_a_passing_build_in_a_zone_behind_passes_after_a_failing_one_ahead(files: Files) -> None:
    verdict(files.fail_east_then_pass_west)


def test_a_stopped_build_in_a_zone_behind_is_refused(files: Files) -> None:
    project = files.stopped_west_after_pass_east
    statuses = project.query("""select status from mo_export_build.node_results
                                where command = 'run' and unique_id = ?""", [MODEL])
    assert statuses == [(BUILT_STATUS,)]
    with pytest.raises(BuildError, match="did not finish") as refused:
        verdict(project)
    assert refused.value.exit_code == 3


# -- the ordering rule on rows as dbt writes them -------------------------------------------------------------
def row(invocation: str, unique_id: str, status: str, started_at: str, recorded_at: datetime) -> NodeResult:
    return NodeResult(invocation, "build", "", unique_id, status, "", started_at, recorded_at)


def test_started_at_compares_as_an_instant_whatever_its_text() -> None:
    assert started_instant("2026-12-03T07:41:51+00:00") < started_instant("2026-12-03T07:41:51.000001+00:00")
    assert started_instant("2026-12-03T21:41:51+14:00") == started_instant("2026-12-03T07:41:51Z")
    assert started_instant("2026-12-03T07:41:51") == started_instant("2026-12-03T07:41:51+00:00")
    # 19:00 and 17:00 UTC: the text sorts the other way round
    assert started_instant("2026-12-03T08:00:00-11:00") > started_instant("2026-12-03T18:00:00+01:00")
    assert "2026-12-03T08:00:00-11:00" < "2026-12-03T18:00:00+01:00"


def test_within_an_invocation_the_final_result_beats_the_built_row_whatever_the_clock() -> None:
    fall_back = datetime(2026, 10, 25, 2, 30)  # the clock went back an hour between the two rows
    rows = [row("i1", MODEL, BUILT_STATUS, "2026-10-25T00:30:00+00:00", fall_back),
            row("i1", MODEL, "success", "2026-10-25T00:30:00+00:00", fall_back - timedelta(minutes=50))]
    (invocation,) = order_invocations(rows)
    assert invocation.result(MODEL).status == "success"


def test_an_unreadable_start_sorts_last_so_its_failure_cannot_hide() -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [row("later", MODEL, "success", "2026-12-03T07:00:00+00:00", now),
            row("odd", MODEL, "error", "", now - timedelta(days=1))]
    assert [i.invocation_id for i in order_invocations(rows)] == ["later", "odd"]
