"""The ledger's promises against a real build, the real CLI and real sandboxes on 127.0.0.1.

* acknowledgements belong to a destination: another API gets every row, and an older state is migrated;
* the build guard is about the DuckDB file's own latest build, whatever dbt command ran after it;
* values the API cannot take stop the run before anything is sent;
* a full disk, a read-only file or folder and JSON logs each end the way docs/operations.md says.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import orjson
import pytest

from exporter.ledger import SCHEMA_VERSION
from mo_export_dev.sandbox import SandboxConfig, running_sandbox
from tests.dbt_support import PROJECT_DIR, dbt_command, run_dbt_subprocess
from tests.export_support import (
    TOKEN,
    CliResult,
    Project,
    build_sample_project,
    order_stats,
    run_cli,
    sandbox_rows,
)

pytestmark = pytest.mark.slow

ORDERS = 1500
MODEL = "main.peak_manufacturing_orders"
MODEL_ID = "model.mo_export.peak_manufacturing_orders"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return build_sample_project(tmp_path_factory.mktemp("ledger_built"), orders=ORDERS, seed=17)


@pytest.fixture
def project(built: Project, tmp_path: Path) -> Project:
    return built.copy_to(tmp_path / "project")


@contextmanager
def sandbox_at(folder: Path, **settings: object) -> Iterator:
    config = SandboxConfig(**{"token": TOKEN, "store_path": folder / "store.sqlite", "rate_limit_rps": 0, **settings})
    with running_sandbox(config) as handle:
        yield handle


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator:
    with sandbox_at(tmp_path / "sandbox_a") as handle:
        yield handle


def export(project: Project, base_url: str, monkeypatch, capsys, *args: str, json_logs: bool = False) -> CliResult:
    prefix = ["--log-format", "json"] if json_logs else []
    return run_cli([*prefix, "run", "--no-progress", *args], project.env(base_url), monkeypatch, capsys)


def results(project: Project) -> dict:
    return orjson.loads((project.target_path / "export_results.json").read_bytes())


def execute(project: Project, *statements: str) -> None:
    with duckdb.connect(str(project.duckdb_path)) as con:
        for sql in statements:
            con.execute(sql)


# -- the destination ----------------------------------------------------------------------------------------
def test_a_second_destination_gets_every_row_and_the_first_nothing_more(
    project, sandbox, tmp_path, monkeypatch, capsys
) -> None:
    expected = project.contract_rows()
    assert export(project, sandbox.base_url, monkeypatch, capsys).exit_code == 0
    with sandbox_at(tmp_path / "sandbox_b") as other:
        switched = export(project, other.base_url, monkeypatch, capsys)
        assert switched.exit_code == 0, switched.stderr
        assert results(project)["rows"]["sent"] == len(expected)
        assert sandbox_rows(other) == expected
        assert results(project)["destination"] == f"{other.base_url}/api/v2/ingest/object/" \
            "INV_MANUFACTURING_ORDERS_OOTB (solution INV_OOTB)"
        status = orjson.loads(run_cli(["status", "--json"], project.env(other.base_url), monkeypatch, capsys).stdout)
        assert status["destination"].startswith(other.base_url) and status["pending"]["to_send"] == 0
        text = run_cli(["status"], project.env(other.base_url), monkeypatch, capsys).stdout
        assert f"destination: {other.base_url}/api/v2/ingest/object/" in text
        assert f"to {sandbox.base_url}/api/v2/ingest/object/" in text and f"to {other.base_url}/api/v2/" in text
    again = export(project, sandbox.base_url, monkeypatch, capsys)
    assert again.exit_code == 0 and results(project)["rows"]["sent"] == 0
    destinations = project.query("select destination_id, base_url from mo_export_state.destinations order by 1")
    assert [d[1] for d in destinations] == [sandbox.base_url, other.base_url]
    per_destination = project.query(
        "select destination_id, count(*) from mo_export_state.delivered group by 1 order by 1")
    assert per_destination == [(1, len(expected)), (2, len(expected))]
    runs = project.query("select destination_id, rows_sent from mo_export_state.runs order by started_at")
    assert runs == [(1, len(expected)), (2, len(expected)), (1, 0)]


def test_another_object_path_at_a_known_url_is_refused_until_named_a_new_tenant(
    project, sandbox, monkeypatch, capsys
) -> None:
    assert export(project, sandbox.base_url, monkeypatch, capsys).exit_code == 0
    # the same host, the newer guides' path (the sandbox serves both): probably the same tenant, so a first
    # run there (every row again) is refused until the user says which it is
    newer = "/api/v2/objects/{object_name}"
    refused = export(project, sandbox.base_url, monkeypatch, capsys, "--path-template", newer)
    assert refused.exit_code == 3
    assert "--new-tenant" in refused.stderr and "path /api/v2/ingest/object/" in refused.stderr
    requests = order_stats(sandbox)["requests"]
    other_path = export(project, sandbox.base_url, monkeypatch, capsys, "--path-template", newer, "--new-tenant")
    assert other_path.exit_code == 0, other_path.stderr
    assert order_stats(sandbox)["requests"] > requests
    assert results(project)["rows"]["sent"] == results(project)["rows"]["considered"] > 0
    assert project.query("select path from mo_export_state.destinations order by destination_id") == [
        ("/api/v2/ingest/object/INV_MANUFACTURING_ORDERS_OOTB",), ("/api/v2/objects/INV_MANUFACTURING_ORDERS_OOTB",)]


def test_another_tenant_at_the_same_url_is_another_destination_once_named(
    project, tmp_path, monkeypatch, capsys
) -> None:
    """Tenants of one cluster share the ingestion host: the token, not the URL, tells staging from production."""
    expected = project.contract_rows()
    staging_token, production_token = "pat-staging-tenant-1a2b3c", "pat-production-tenant-4d5e6f"
    with sandbox_at(tmp_path / "staging", token=staging_token) as staging:
        port = staging.base_url.rsplit(":", 1)[1]
        to_staging = run_cli(
            ["run", "--no-progress"], project.env(staging.base_url, staging_token), monkeypatch, capsys)
        assert to_staging.exit_code == 0, to_staging.stderr
    with sandbox_at(tmp_path / "production", token=production_token, port=int(port)) as production:
        assert production.base_url == staging.base_url
        unnamed = run_cli(
            ["run", "--no-progress"], project.env(production.base_url, production_token), monkeypatch, capsys)
        assert unnamed.exit_code == 3 and "another token" in unnamed.stderr and sandbox_rows(production) == {}
        to_production = run_cli(["run", "--no-progress", "--new-tenant"],
                                project.env(production.base_url, production_token), monkeypatch, capsys)
        assert to_production.exit_code == 0, to_production.stderr
        assert results(project)["rows"]["sent"] == len(expected)
        assert sandbox_rows(production) == expected
    fingerprints = project.query("select token_fingerprint from mo_export_state.destinations order by destination_id")
    assert len(fingerprints) == 2 and len({f[0] for f in fingerprints}) == 2
    assert all(staging_token not in f[0] and production_token not in f[0] for f in fingerprints)


def test_a_rotated_token_takes_over_the_destination_and_sends_nothing_again(
    project, tmp_path, monkeypatch, capsys
) -> None:
    old_token, new_token = "pat-old-token-0a1b2c3d", "pat-new-token-4e5f6a7b"
    with sandbox_at(tmp_path / "tenant", token=old_token) as tenant:
        first = run_cli(["run", "--no-progress"], project.env(tenant.base_url, old_token), monkeypatch, capsys)
        assert first.exit_code == 0, first.stderr
    with sandbox_at(tmp_path / "tenant", token=new_token, port=int(tenant.base_url.rsplit(":", 1)[1])) as tenant:
        # the scheduler's plain run with the new token is refused first: that must not block the rotation
        plain = run_cli(["run", "--no-progress"], project.env(tenant.base_url, new_token), monkeypatch, capsys)
        assert plain.exit_code == 3 and "--token-rotated" in plain.stderr
        rotated = run_cli(["run", "--no-progress", "--token-rotated"], project.env(tenant.base_url, new_token),
                          monkeypatch, capsys)
        assert rotated.exit_code == 0, rotated.stderr
        assert results(project)["rows"]["sent"] == 0 and "token rotated" in rotated.stderr
    assert project.query("select count(*) from mo_export_state.destinations") == [(1,)]


def test_a_doubled_slash_in_the_path_names_the_same_destination(project, sandbox, monkeypatch, capsys) -> None:
    assert export(project, sandbox.base_url, monkeypatch, capsys).exit_code == 0
    planned = run_cli(["plan", "--json", "--path-template", "//api/v2/ingest/object//{object_name}/"],
                      project.env(sandbox.base_url + "//"), monkeypatch, capsys)
    assert planned.exit_code == 0, planned.stderr
    plan = orjson.loads(planned.stdout)
    assert plan["counts"]["to_send"] == 0 and plan["guard"]["siblings"] == []
    assert plan["destination_label"].startswith(sandbox.base_url + "/api/v2/ingest/object/INV_")


def _downgrade_to_version_2(project: Project, interrupted_keys: int) -> None:
    """Turn the state into what the previous exporter wrote, with ``interrupted_keys`` events of a killed run."""
    execute(
        project,
        "drop view mo_export_state.outstanding_rejections",
        "drop view mo_export_state.delivered",
        "drop view mo_export_state.latest_delivery_events",
        "drop table mo_export_state.destinations",
        "drop table mo_export_state.acknowledged_content",
        "drop table mo_export_state.acknowledgements",
        "alter table mo_export_state.deliveries drop column destination_id",
        "alter table mo_export_state.rejections drop column destination_id",
        "alter table mo_export_state.runs drop column destination_id",
        "update mo_export_state.schema_version set version = 2",
        "insert into mo_export_state.runs (run_id, started_at, status, mode) "
        "values ('killed-run', now() - interval 1 hour, 'interrupted', 'incremental')",
        f"""update mo_export_state.deliveries set run_id = 'killed-run'
            where event_id in (select event_id from mo_export_state.deliveries order by event_id
                               limit {interrupted_keys})""",
    )


def test_a_version_2_state_is_migrated_and_only_rows_of_unknown_destination_are_sent_again(
    project, sandbox, tmp_path, monkeypatch, capsys
) -> None:
    assert SCHEMA_VERSION == 6
    assert export(project, sandbox.base_url, monkeypatch, capsys).exit_code == 0
    _downgrade_to_version_2(project, interrupted_keys=40)

    upgraded = export(project, sandbox.base_url, monkeypatch, capsys)
    assert upgraded.exit_code == 0, upgraded.stderr
    assert "damaged" not in upgraded.stderr and "migrated the export state" in upgraded.stderr
    # the finished run recorded its destination: its rows are acknowledged there; the killed run's are not
    assert results(project)["rows"]["sent"] == 40
    assert project.query("select max(version) from mo_export_state.schema_version") == [(SCHEMA_VERSION,)]
    assert project.query("select destination_id, status from mo_export_state.runs order by started_at") == [
        (0, "interrupted"), (1, "success"), (1, "success")]
    with sandbox_at(tmp_path / "sandbox_b") as other:
        assert export(project, other.base_url, monkeypatch, capsys).exit_code == 0
        assert sandbox_rows(other) == project.contract_rows()


def test_a_version_4_state_keeps_its_acknowledgements_for_the_token_that_sends_next(
    project, sandbox, monkeypatch, capsys
) -> None:
    assert export(project, sandbox.base_url, monkeypatch, capsys).exit_code == 0
    execute(project, "alter table mo_export_state.destinations drop column token_fingerprint",
            "drop table mo_export_state.acknowledgements",
            "update mo_export_state.schema_version set version = 4")

    upgraded = export(project, sandbox.base_url, monkeypatch, capsys)
    assert upgraded.exit_code == 0, upgraded.stderr
    assert "from version 4 to 5" in upgraded.stderr and "recorded before the state knew tokens" in upgraded.stderr
    assert results(project)["rows"]["sent"] == 0
    assert project.query("select count(*) from mo_export_state.destinations where token_fingerprint is null") == [(0,)]


# -- the build guard --------------------------------------------------------------------------------------
def dbt(project: Project, *args: str, target_path: Path | None = None, duckdb_path: Path | None = None) -> None:
    run = run_dbt_subprocess(list(args), duckdb_path=duckdb_path or project.duckdb_path,
                             target_path=target_path or project.target_path)
    assert run.returncode in (0, 1), run.stdout[-3000:]


FAIL_A_TEST = ("--vars", "{max_rejected_share: 0}")  # the sample data always holds some rejected orders


def test_a_failed_test_stays_failed_whatever_dbt_command_runs_after_it(project, sandbox, monkeypatch, capsys) -> None:
    dbt(project, "build", *FAIL_A_TEST)
    for command in (["docs", "generate"], ["compile"], ["parse"], ["ls"]):
        dbt(project, *command)
        result = export(project, sandbox.base_url, monkeypatch, capsys)
        assert result.exit_code == 3, (command, result.stderr)
        assert "assert_rejected_share_below_threshold" in result.stderr and "fail" in result.stderr
        assert "dbt build" in result.stderr
    assert order_stats(sandbox)["requests"] == 0


def test_a_model_rebuilt_without_its_tests_is_refused_until_they_pass(project, sandbox, monkeypatch, capsys) -> None:
    dbt(project, "run", "-s", "peak_manufacturing_orders")
    refused = export(project, sandbox.base_url, monkeypatch, capsys)
    assert refused.exit_code == 3
    assert "was not tested" in refused.stderr and "`dbt run -s peak_manufacturing_orders`" in refused.stderr
    assert order_stats(sandbox)["requests"] == 0
    dbt(project, "test", "-s", "peak_manufacturing_orders")
    tested = export(project, sandbox.base_url, monkeypatch, capsys)
    assert tested.exit_code == 0, tested.stderr
    assert sandbox_rows(sandbox) == project.contract_rows()


def test_a_good_build_followed_by_docs_generate_exports(project, sandbox, monkeypatch, capsys) -> None:
    dbt(project, "docs", "generate")
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert result.exit_code == 0, result.stderr
    assert sandbox_rows(sandbox) == project.contract_rows()


def test_another_duckdb_file_built_into_the_same_target_does_not_clear_the_guard(
    project, sandbox, built, tmp_path, monkeypatch, capsys
) -> None:
    dbt(project, "build", *FAIL_A_TEST)
    other = built.copy_to(tmp_path / "other")
    dbt(project, "build", duckdb_path=other.duckdb_path)  # passes, and rewrites the shared target/
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert result.exit_code == 3 and "did not pass" in result.stderr
    assert order_stats(sandbox)["requests"] == 0


def test_a_build_killed_after_it_rebuilt_the_model_is_refused_until_a_build_finishes(
    project, sandbox, monkeypatch, capsys
) -> None:
    """dbt records its results at the end of the run: a build stopped between the model and its tests (an
    orchestrator's cancel, a Ctrl-C, the OOM killer) leaves a rebuilt, untested table behind."""
    command, env = dbt_command(["build", "-s", "peak_manufacturing_orders+"], duckdb_path=project.duckdb_path,
                               target_path=project.target_path)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(300, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            # "OK created sql incremental model ..." (or "table" on a first build): the model is rebuilt
            if re.search(r" OK created sql \w+ model main\.peak_manufacturing_orders ", line):
                process.send_signal(signal.SIGTERM)
                break
        process.wait(timeout=60)
    finally:
        watchdog.cancel()
        process.kill()
    refused = export(project, sandbox.base_url, monkeypatch, capsys)
    assert refused.exit_code == 3, refused.stderr
    assert "did not finish" in refused.stderr and "dbt build" in refused.stderr
    assert order_stats(sandbox)["requests"] == 0
    dbt(project, "build", "-s", "peak_manufacturing_orders+")
    finished = export(project, sandbox.base_url, monkeypatch, capsys)
    assert finished.exit_code == 0, finished.stderr
    assert sandbox_rows(sandbox) == project.contract_rows()


def test_a_file_without_a_recorded_build_is_refused(project, sandbox, monkeypatch, capsys) -> None:
    execute(project, "drop schema mo_export_build cascade")
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert result.exit_code == 3 and "records no dbt build" in result.stderr and "dbt build" in result.stderr


# -- values -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("assignment", "problem"),
    [
        ("source_id = null", "source_id is null"),
        ("ordered_at = null", "ordered_at is null"),
        ("order_number = null", "order_number is null"),
        ("expected_end_date = 'infinity'", "expected_end_date is infinite"),
        ("updated_at = '-infinity'", "updated_at is infinite"),
        ("expected_end_date = timestamp '12345-01-01 00:00:00'", "expected_end_date is outside 0001-01-01..9999-12-31"),
        ("ordered_at = timestamp '0044-03-15 (BC) 00:00:00'", "ordered_at is outside 0001-01-01..9999-12-31"),
    ],
)
def test_values_the_api_cannot_take_refuse_the_run_and_nothing_is_sent(
    project, sandbox, monkeypatch, capsys, assignment: str, problem: str
) -> None:
    column = assignment.split()[0]
    # the contract model is built with NOT NULL constraints; an edit after the build can drop them
    execute(project, f"alter table {MODEL} alter column {column} drop not null",
            f"update {MODEL} set {assignment} "
            f"where order_number in (select order_number from {MODEL} order by 1 limit 4)")
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert result.exit_code == 3, result.stderr
    assert f"4 rows where {problem}" in result.stderr and "Nothing was sent" in result.stderr
    assert order_stats(sandbox)["requests"] == 0


def test_each_problem_is_counted_and_a_view_is_checked_too(project, sandbox, monkeypatch, capsys) -> None:
    execute(
        project,
        f"create table main.orders_copy as select * from {MODEL}",
        f"drop table {MODEL}",
        f"""create view {MODEL} as select * replace (
                case when row_number() over (order by order_number) <= 2 then null else source_id end as source_id,
                case when row_number() over (order by order_number) between 3 and 5
                     then timestamp '12345-06-01 00:00:00' else expected_end_date end as expected_end_date)
            from main.orders_copy""",
    )
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert result.exit_code == 3, result.stderr
    assert "2 rows where source_id is null" in result.stderr
    assert "3 rows where expected_end_date is outside" in result.stderr
    assert order_stats(sandbox)["requests"] == 0


# -- environment faults -----------------------------------------------------------------------------------
def _limit_file_size(limit: int) -> None:
    """In the child: files may not grow past ``limit`` bytes; a write beyond fails with EFBIG, not a signal."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_disk_full_during_the_export_exits_2_and_says_what_was_kept(project, tmp_path) -> None:
    """A full disk, for real and unprivileged: RLIMIT_FSIZE makes the kernel refuse any write past the
    limit with EFBIG, exactly where a full file system refuses with ENOSPC. The database file is
    checkpointed first so the write-ahead log starts empty; it then outgrows the limit while the export
    records acknowledgements."""
    execute(project, "checkpoint")
    with sandbox_at(tmp_path / "sandbox") as sandbox:
        env = {**os.environ, **project.env(sandbox.base_url)}
        command = [sys.executable, "-m", "exporter", "run", "--no-progress", "--batch-size", "25",
                   "--concurrency", "1", "--project-dir", str(PROJECT_DIR)]
        full = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300,
                              preexec_fn=lambda: _limit_file_size(48 * 1024), check=False)
        assert full.returncode == 2, full.stderr
        assert "no space left" in full.stderr and str(project.duckdb_path) in full.stderr
        assert "cannot rollback" not in full.stderr and "Traceback" not in full.stderr
        summary = results(project)
        assert summary["exit_code"] == 2 and "no space left" in summary["error"]
        recorded = project.query(
            "select count(*) from mo_export_state.deliveries where outcome = 'acknowledged'")[0][0]
        expected = project.contract_rows()
        assert f"{recorded:,} acknowledged rows were recorded" in full.stderr
        assert f"the other {len(expected) - recorded:,} rows" in full.stderr
        assert order_stats(sandbox)["rows_stored"] > 0

        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert rerun.returncode == 0, rerun.stderr
        assert sandbox_rows(sandbox) == expected
        assert orjson.loads((project.target_path / "export_results.json").read_bytes())["rows"]["sent"] == \
            len(expected) - recorded


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``chattr +i``: read-only even for root (tests run as root, whom file modes do not stop)."""
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available on this file system")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _leave_a_wal(project: Project) -> Path:
    con = duckdb.connect(str(project.duckdb_path))
    con.execute("pragma disable_checkpoint_on_shutdown")
    con.execute("create table main.scratch as select 1 as a")
    con.close()
    wal = project.duckdb_path.with_name(project.duckdb_path.name + ".wal")
    assert wal.exists()
    return wal


@pytest.mark.parametrize("which", ["file", "wal", "folder"])
def test_a_read_only_file_or_folder_exits_3_naming_it(project, sandbox, monkeypatch, capsys, which: str) -> None:
    target = {"file": lambda: project.duckdb_path, "wal": lambda: _leave_a_wal(project),
              "folder": lambda: project.duckdb_path.parent}[which]()
    with immutable(target):
        result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert result.exit_code == 3, result.stderr
    assert str(target) in result.stderr and "read-only" in result.stderr
    assert "lost its event sequence" not in result.stderr
    assert sandbox.stats()["requests"] == 0


def test_under_json_logs_every_stderr_line_is_a_json_object(project, sandbox, monkeypatch, capsys) -> None:
    unreachable = run_cli(["--log-format", "json", "run", "--no-progress", "--max-attempts", "1",
                           "--retry-budget", "1"], project.env("http://127.0.0.1:9"), monkeypatch, capsys)
    execute(project, f"update {MODEL} set updated_at = 'infinity' where order_number = "
                     f"(select min(order_number) from {MODEL})")
    refused = export(project, sandbox.base_url, monkeypatch, capsys, json_logs=True)
    usage = run_cli(["--log-format", "json", "run", "--batch-size", "many"], project.env(sandbox.base_url),
                    monkeypatch, capsys)
    for result, code in ((unreachable, 2), (refused, 3), (usage, 3)):
        assert result.exit_code == code, result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines, result
        assert all(isinstance(orjson.loads(line), dict) for line in lines), result.stderr
        last = orjson.loads(lines[-1])
        assert last["level"] == "error" and last["message"].startswith("error: ")
