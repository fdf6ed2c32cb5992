"""Hostile or broken configuration: every case stops with a message that names the problem and what to do,
the documented exit code (docs/operations.md, exporter/errors.py) and no traceback, and sends nothing it should not.

One small project (300 orders) is built by the real `dbt build` once per module; each test exports from a
copy of it with the real CLI, over real HTTP to the sandbox (or to a TLS server, or a closed port).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson
import pytest
import uvicorn

from exporter.ledger import SCHEMA_VERSION
from exporter.settings import redacted_url
from mo_export_dev.sandbox import SandboxConfig, create_app, running_sandbox
from tests.dbt_support import PROJECT_DIR
from tests.export_support import (
    ORDERS_OBJECT,
    TOKEN,
    CliResult,
    Project,
    build_sample_project,
    order_stats,
    run_cli,
)

pytestmark = pytest.mark.slow

ORDERS = 300
READONLY_TOKEN = "pat-readonly-4411"
MODEL = "main.peak_manufacturing_orders"
STATE = "mo_export_state"
#: a run sends Locations first (the orders' parents), each object with its own ledger and results file
LOCATIONS_STATE = "mo_export_state__peak_locations"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return build_sample_project(tmp_path_factory.mktemp("hostile_built"), orders=ORDERS, seed=11)


@pytest.fixture
def project(built: Project, tmp_path: Path) -> Project:
    return built.copy_to(tmp_path / "project")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator:
    config = SandboxConfig(token=TOKEN, readonly_tokens=frozenset({READONLY_TOKEN}),
                           store_path=tmp_path / "sandbox.sqlite", rate_limit_rps=0)
    with running_sandbox(config) as handle:
        yield handle


def export(project: Project, base_url: str, monkeypatch, capsys, *args: str, token: str | None = TOKEN,
           env: dict[str, str] | None = None) -> CliResult:
    """`mo-export -vv run ...` in this process: debug logging on, so a stray traceback would show."""
    full_env = {**project.env(base_url, token or ""), **(env or {})}
    if token is None:
        del full_env["PEAK_API_KEY"]
        monkeypatch.delenv("PEAK_API_KEY", raising=False)
    return run_cli(["-vv", "run", "--no-progress", *args], full_env, monkeypatch, capsys)


def assert_refused(result: CliResult, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in stderr:\n{result.stderr}"


def execute(project: Project, *statements: str) -> None:
    with duckdb.connect(str(project.duckdb_path)) as con:
        for sql in statements:
            con.execute(sql)


def state_exists(project: Project, schema: str = STATE) -> bool:
    return project.query("select count(*) from information_schema.schemata where schema_name = ?",
                         [schema]) == [(1,)]


def results(project: Project, name: str = "export_results.json") -> dict:
    return orjson.loads((project.target_path / name).read_bytes())


def locations_results(project: Project) -> dict:
    """The summary of a run's first object, the Locations (their own results file)."""
    return results(project, "export_results.peak_locations.json")


# -- tokens and the API's answers -------------------------------------------------------------------------------
def test_missing_token_names_the_variable_and_touches_nothing(project, sandbox, monkeypatch, capsys) -> None:
    result = export(project, sandbox.base_url, monkeypatch, capsys, token=None)
    assert_refused(result, 3, "no API token", "PEAK_API_KEY", "--dry-run")
    assert not state_exists(project) and sandbox.stats()["requests"] == 0


@pytest.mark.parametrize("token", ["", "   "])
def test_empty_token_is_the_same_as_none(project, sandbox, monkeypatch, capsys, token: str) -> None:
    result = export(project, sandbox.base_url, monkeypatch, capsys, env={"PEAK_API_KEY": token})
    assert_refused(result, 3, "no API token", "PEAK_API_KEY")
    assert sandbox.stats()["requests"] == 0


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        ("pat-line\nbreak-9", "line break"),
        ("pat-carriage\rreturn-9", "line break"),
        ("pät-umlaut-9", "non-ASCII"),
        ("pat with space", "a space"),
        (f"Bearer {TOKEN}", "starts with 'Bearer '"),
    ],
)
def test_token_that_cannot_be_a_header_is_refused_before_sending(
    project, sandbox, monkeypatch, capsys, token: str, fragment: str
) -> None:
    result = export(project, sandbox.base_url, monkeypatch, capsys, token=token)
    assert_refused(result, 3, "PEAK_API_KEY", fragment)
    assert token not in result.stderr + result.stdout
    assert sandbox.stats()["requests"] == 0 and not state_exists(project)


def test_401_stops_at_once_with_exit_3(project, sandbox, monkeypatch, capsys) -> None:
    result = export(project, sandbox.base_url, monkeypatch, capsys, token="pat-wrong-0042")
    assert_refused(result, 3, "answered 401", "invalid API token", "PEAK_API_KEY")
    assert sandbox.stats()["requests_by_status"] == {"401": sandbox.stats()["requests"]}
    assert sandbox.stats()["rows_stored"] == 0
    # the run's first object (Locations) met the 401 and recorded it; the orders were not started
    assert project.query(f"select status, exit_code from {LOCATIONS_STATE}.runs") == [("configuration_error", 3)]
    assert project.query(f"select count(*) from {LOCATIONS_STATE}.deliveries") == [(0,)]
    assert not state_exists(project) and order_stats(sandbox)["requests"] == 0


def test_403_read_only_token_says_it_lacks_write_access(project, sandbox, monkeypatch, capsys) -> None:
    result = export(project, sandbox.base_url, monkeypatch, capsys, token=READONLY_TOKEN)
    assert_refused(result, 3, "answered 403", "read-only", "write access", "'INV_OOTB'")
    assert sandbox.stats()["rows_stored"] == 0
    assert locations_results(project)["exit_code"] == 3  # the run's first object met the 403


def test_404_unknown_object_names_object_url_and_template(project, sandbox, monkeypatch, capsys) -> None:
    result = export(project, sandbox.base_url, monkeypatch, capsys, "--object-name", "INV_NO_SUCH_OBJECT")
    assert_refused(result, 3, "answered 404", "/api/v2/ingest/object/INV_NO_SUCH_OBJECT", "object name",
                   "PEAK_BASE_URL", "path template")
    assert results(project)["exit_code"] == 3
    assert sandbox.rows() == []  # no order stored (the Locations, under their own name, were)


# -- addresses, transport and TLS -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("base_url", "fragment"),
    [
        ("not a url", "must be an absolute http(s) URL"),
        ("ftp://127.0.0.1/ingest", "must be an absolute http(s) URL"),
        ("https://", "must be an absolute http(s) URL"),
        ("http://[::1:80", "is malformed"),
        ("https://ingestion.peak.ai:99999", "is malformed"),
        ("https://user:pw@ingestion.peak.ai", "must not carry"),
        ("https://ingestion.peak.ai/?tenant=x", "must not carry"),
    ],
)
def test_malformed_base_url_is_refused_naming_the_setting(project, monkeypatch, capsys, base_url, fragment) -> None:
    result = export(project, base_url, monkeypatch, capsys)
    assert_refused(result, 3, fragment, repr(redacted_url(base_url)))  # a password in the URL is never shown
    assert ":pw@" not in result.stdout + result.stderr
    assert not state_exists(project)


def test_path_template_with_an_unknown_placeholder_is_a_setting_error(project, sandbox, monkeypatch, capsys) -> None:
    result = export(project, sandbox.base_url, monkeypatch, capsys, "--path-template", "/v2/{tenant}/{object_name}")
    assert_refused(result, 3, "path template", "PEAK_PATH_TEMPLATE", "{object_name}")


def test_plain_http_to_a_remote_host_is_refused_before_any_connection(project, monkeypatch, capsys) -> None:
    connections: list[object] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo
    monkeypatch.setattr(socket.socket, "connect", lambda s, a: connections.append(a) or real_connect(s, a))
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: connections.append(a) or real_getaddrinfo(*a, **k))
    result = export(project, "http://ingestion.example.com", monkeypatch, capsys)
    assert_refused(result, 3, "plain http to a non-loopback host", "--allow-insecure-http", "https")
    assert connections == [] and not state_exists(project)


_RESERVED_PORTS: list[socket.socket] = []


def closed_port() -> int:
    """A port on 127.0.0.1 that refuses connections: bound but never listening, and kept bound for the rest of
    the session so no other process on this shared machine can start listening on it meanwhile."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _RESERVED_PORTS.append(s)
    return int(s.getsockname()[1])


def test_connection_refused_gives_up_after_the_attempts_with_exit_2(project, monkeypatch, capsys) -> None:
    base_url = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    result = export(project, base_url, monkeypatch, capsys, "--max-attempts", "3", "--retry-budget", "10")
    assert time.monotonic() - started < 30  # 3 attempts, backoff 0.5 s then 1 s at most
    assert_refused(result, 2, "after 3 failed attempts", "ConnectError", base_url, "PEAK_BASE_URL", "re-run")
    summary = locations_results(project)  # the run's first object; the orders were not started
    assert summary["status"] == "delivery_failed" and summary["http"]["requests"] == 3
    assert summary["rows"]["sent"] == 0 and summary["rows"]["pending"] == summary["rows"]["to_send"] > 0
    assert project.query(f"select status, exit_code from {LOCATIONS_STATE}.runs") == [("delivery_failed", 2)]
    assert not state_exists(project)


def test_retry_budget_bounds_a_refused_connection_too(project, monkeypatch, capsys) -> None:
    result = export(project, f"http://127.0.0.1:{closed_port()}", monkeypatch, capsys,
                    "--max-attempts", "100", "--retry-budget", "1")
    assert_refused(result, 2, "retry budget of 1 s")


@dataclass(frozen=True)
class TlsServer:
    base_url: str
    cert_path: Path
    app_state: object

    def rows_stored(self, object_name: str | None = None) -> int:
        """Rows stored, of every object or of ``object_name``."""
        store = self.app_state.store  # type: ignore[attr-defined]
        return int(store.count() if object_name is None else store.count_by_object().get(object_name, 0))


def make_self_signed_cert(folder: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl binary to make a self-signed certificate")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


@contextmanager
def https_sandbox(folder: Path) -> Iterator[TlsServer]:
    """The sandbox app behind uvicorn with a self-signed certificate on 127.0.0.1."""
    cert, key = make_self_signed_cert(folder)
    app = create_app(SandboxConfig(token=TOKEN, store_path=folder / "tls.sqlite", rate_limit_rps=0))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, ssl_certfile=str(cert), ssl_keyfile=str(key), log_config=None,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the TLS server did not start"
        time.sleep(0.01)
    try:
        yield TlsServer(f"https://127.0.0.1:{port}", cert, app.state.sandbox)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def test_untrusted_tls_certificate_is_a_configuration_error_and_ca_bundle_fixes_it(
    project, tmp_path, monkeypatch, capsys
) -> None:
    with https_sandbox(tmp_path / "tls") as server:
        untrusted = export(project, server.base_url, monkeypatch, capsys, "--max-attempts", "3")
        assert_refused(untrusted, 3, "TLS certificate of 127.0.0.1 is not trusted", "--ca-bundle", "MO_CA_BUNDLE")
        assert server.rows_stored() == 0
        # the run's first object (Locations) met the certificate; the orders were not started
        assert locations_results(project)["http"]["requests"] == 1  # not retried: retrying cannot help

        trusted = export(project, server.base_url, monkeypatch, capsys, "--ca-bundle", str(server.cert_path))
        assert trusted.exit_code == 0, trusted.stderr
        assert server.rows_stored(ORDERS_OBJECT) == results(project)["rows"]["acknowledged"] \
            == len(project.contract_rows())


def test_ca_bundle_without_a_certificate_is_refused_up_front(project, sandbox, monkeypatch, capsys, tmp_path) -> None:
    bundle = tmp_path / "not-a-cert.pem"
    bundle.write_text("-----BEGIN NOTHING-----\n")
    result = export(project, sandbox.base_url, monkeypatch, capsys, env={"MO_CA_BUNDLE": str(bundle)})
    assert_refused(result, 3, f"CA bundle {bundle}", "no usable PEM certificate", "MO_CA_BUNDLE")
    missing = export(project, sandbox.base_url, monkeypatch, capsys, "--ca-bundle", str(tmp_path / "nope.pem"))
    assert_refused(missing, 3, "is not a readable file")


# -- numeric and file settings ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["--batch-size", "2001"], {}, "--batch-size (MO_BATCH_SIZE) must be between 1 and 2000, got 2001: the "
                                       "ingestion API takes at most 2000 rows per request"),
        ([], {"MO_BATCH_SIZE": "5000"}, "at most 2000 rows per request (the resource page says 500, the default"),
        ([], {"MO_BATCH_SIZE": "lots"}, "--batch-size (MO_BATCH_SIZE) must be a whole number, got 'lots'"),
        (["--timeout", "0"], {}, "--timeout (MO_TIMEOUT_SECONDS) must be between"),
        ([], {"MO_RETRY_BUDGET_SECONDS": "nan"}, "--retry-budget (MO_RETRY_BUDGET_SECONDS) must be between"),
        (["--concurrency", "0"], {}, "--concurrency (MO_CONCURRENCY) must be between 1 and 64"),
        ([], {"MO_ALLOW_INSECURE_HTTP": "perhaps"}, "--allow-insecure-http (MO_ALLOW_INSECURE_HTTP) must be true"),
    ],
)
def test_out_of_range_settings_name_flag_and_variable(project, sandbox, monkeypatch, capsys, args, env,
                                                      fragment) -> None:
    result = export(project, sandbox.base_url, monkeypatch, capsys, *args, env=env)
    assert_refused(result, 3, fragment)
    assert sandbox.stats()["requests"] == 0


def test_payload_dir_without_dry_run_is_refused(project, sandbox, monkeypatch, capsys, tmp_path) -> None:
    result = export(project, sandbox.base_url, monkeypatch, capsys, "--payload-dir", str(tmp_path / "out"))
    assert_refused(result, 3, "--payload-dir", "add --dry-run")
    assert not (tmp_path / "out").exists() and sandbox.stats()["requests"] == 0


def test_results_path_that_cannot_be_written_is_refused_before_sending(
    project, sandbox, monkeypatch, capsys, tmp_path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = export(project, sandbox.base_url, monkeypatch, capsys, "--results-path", str(blocker / "r.json"))
    assert_refused(result, 3, "--results-path", "cannot be written", "not a writable directory")
    assert sandbox.stats()["requests"] == 0 and not state_exists(project)


# -- the dbt build and the DuckDB file --------------------------------------------------------------------------
def test_no_dbt_build_yet(project, sandbox, monkeypatch, capsys) -> None:
    (project.target_path / "manifest.json").unlink()
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert_refused(result, 3, "no dbt manifest", str(project.target_path / "manifest.json"), "run `dbt build`",
                   "MO_DBT_TARGET_PATH")


def test_manifest_that_is_not_json(project, sandbox, monkeypatch, capsys) -> None:
    (project.target_path / "manifest.json").write_text('{"nodes": {')
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert_refused(result, 3, "is not valid JSON", "run `dbt build` again")


def test_manifest_but_no_table_in_the_duckdb_file(project, sandbox, monkeypatch, capsys) -> None:
    execute(project, f"drop table {MODEL}")
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert_refused(result, 3, "table main.peak_manufacturing_orders does not exist in this DuckDB file",
                   "same MO_DUCKDB_PATH")
    assert order_stats(sandbox)["requests"] == 0


def test_failed_last_dbt_build_stops_the_export(project, sandbox, monkeypatch, capsys) -> None:
    model_id = "model.mo_export.peak_manufacturing_orders"
    # a later build whose verdict, recorded in the file by the on-run-end hook, is an error for the model
    execute(project, f"""insert into mo_export_build.node_results
                         select 'later-build', 'build', '', unique_id, resource_type, 'error',
                                'Runtime Error: contract violated', started_at, recorded_at + interval 1 minute
                         from mo_export_build.node_results where unique_id = '{model_id}'""")
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert_refused(result, 3, f"the latest build of {model_id} in this DuckDB file", "ended 'error'",
                   "contract violated", "dbt build")
    assert order_stats(sandbox)["requests"] == 0


@pytest.mark.parametrize(
    ("alteration", "problem"),
    [
        ("alter table {m} rename column source_id to source_system", "column source_id is missing; "
                                                                     "unexpected column source_system"),
        ("alter table {m} drop column status", "column status is missing"),
        ("alter table {m} alter column ordered_units type varchar", "column ordered_units is VARCHAR, the "
                                                                    "contract needs BIGINT"),
        ("alter table {m} alter column updated_at type date", "column updated_at is DATE, the contract needs "
                                                              "TIMESTAMP"),
    ],
)
def test_model_no_longer_matching_the_contract_sends_nothing(project, sandbox, monkeypatch, capsys,
                                                             alteration: str, problem: str) -> None:
    execute(project, alteration.format(m=MODEL))
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert_refused(result, 3, "no longer matches the INV_MANUFACTURING_ORDERS_OOTB contract", problem,
                   "nothing was sent", "run `dbt build`")
    assert order_stats(sandbox)["requests"] == 0


def test_duplicate_primary_keys_send_nothing(project, sandbox, monkeypatch, capsys) -> None:
    execute(project, f"insert into {MODEL} select * from {MODEL} order by order_number limit 2")
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert_refused(result, 3, "holds 2 rows whose primary key", "nothing was sent")
    assert order_stats(sandbox)["requests"] == 0


def test_fractional_seconds_in_the_model_send_nothing(project, sandbox, monkeypatch, capsys) -> None:
    execute(project, f"update {MODEL} set actual_start_date = timestamp '2025-01-01 08:00:00.5' "
                     f"where order_number in (select order_number from {MODEL} order by 1 limit 3)")
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert_refused(result, 3, "holds 3 rows with fractional seconds", "whole seconds", "nothing was sent")
    assert order_stats(sandbox)["requests"] == 0


def test_garbage_bytes_instead_of_a_duckdb_file(project, sandbox, monkeypatch, capsys) -> None:
    wal = project.duckdb_path.with_name(project.duckdb_path.name + ".wal")
    wal.unlink(missing_ok=True)
    project.duckdb_path.write_bytes(b"PK\x03\x04 this is a zip, not a database " * 200)
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert_refused(result, 3, f"cannot open DuckDB file {project.duckdb_path}", "not a valid DuckDB database",
                   "MO_DUCKDB_PATH")
    assert sandbox.stats()["requests"] == 0


def test_missing_duckdb_file(project, sandbox, monkeypatch, capsys, tmp_path) -> None:
    missing = tmp_path / "nowhere.duckdb"
    result = export(project, sandbox.base_url, monkeypatch, capsys, env={"MO_DUCKDB_PATH": str(missing)})
    assert_refused(result, 3, f"DuckDB file {missing} does not exist", "MO_DUCKDB_PATH")
    assert not missing.exists()  # the exporter never creates an empty warehouse


@contextmanager
def holding_duckdb_file(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that opens ``path`` read-write and keeps it open (the way `dbt build` does)."""
    code = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('holding', flush=True); time.sleep(120)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        yield holder
    finally:
        holder.kill()
        holder.wait(10)


@pytest.mark.parametrize("mode", [["run"], ["run", "--dry-run"], ["status"]])
def test_duckdb_file_held_by_another_process(project, sandbox, monkeypatch, capsys, mode: list[str]) -> None:
    with holding_duckdb_file(project.duckdb_path) as holder:
        args = ["-vv", *mode] + (["--no-progress"] if mode[0] == "run" else [])
        result = run_cli(args, project.env(sandbox.base_url), monkeypatch, capsys)
        # transient: exit 2, like an unreachable API; the re-run after the other process ends succeeds
        assert_refused(result, 2, f"DuckDB file {project.duckdb_path} is in use by another process",
                       f"PID {holder.pid}", "wait for `dbt build` or the other export to finish")
    assert sandbox.stats()["requests"] == 0


def test_second_export_while_one_is_running(project, tmp_path, monkeypatch, capsys) -> None:
    config = SandboxConfig(token=TOKEN, store_path=tmp_path / "slow.sqlite", rate_limit_rps=0, latency_ms=150)
    with running_sandbox(config) as slow:
        env = {**os.environ, **project.env(slow.base_url)}
        command = [sys.executable, "-m", "exporter", "run", "--no-progress", "--batch-size", "10",
                   "--concurrency", "1", "--project-dir", str(PROJECT_DIR)]
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while order_stats(slow)["requests"] < 2 and first.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert first.poll() is None, "the first export ended before the second could start"

            second = export(project, slow.base_url, monkeypatch, capsys)
            assert_refused(second, 2, "is in use by another process", "the other export to finish, then re-run")
            assert first.poll() is None  # the second one did not disturb the first

            first.send_signal(signal.SIGTERM)  # documented: stops after the batches in flight, exit 2
            _, first_err = first.communicate(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(10)
        assert first.returncode == 2, first_err
        assert "Traceback" not in first_err and "SIGTERM" in first_err
        stored_by_first = order_stats(slow)["rows_stored"]

        rerun = export(project, slow.base_url, monkeypatch, capsys)  # then the file is free again
        assert rerun.exit_code == 0, rerun.stderr
        assert order_stats(slow)["rows_stored"] == len(project.contract_rows()) > stored_by_first
    runs = project.query(f"select status, exit_code from {STATE}.runs order by started_at")
    assert runs == [("delivery_failed", 2), ("success", 0)]


# -- the state schema -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (f"alter table {STATE}.runs drop column summary", f"{STATE}.runs.summary should be VARCHAR, is missing"),
        (f"alter table {STATE}.deliveries alter column content_hash type varchar",
         f"{STATE}.deliveries.content_hash should be UBIGINT, is VARCHAR"),
        (f"drop table {STATE}.rejections", f"table {STATE}.rejections is missing"),
        (f"update {STATE}.schema_version set version = 99",
         f"schema version is 99, this exporter needs {SCHEMA_VERSION}"),
        (f"delete from {STATE}.schema_version", "schema version is None"),
    ],
)
def test_damaged_state_schema_stops_before_sending(project, sandbox, monkeypatch, capsys, damage, problem) -> None:
    assert export(project, sandbox.base_url, monkeypatch, capsys).exit_code == 0
    execute(project, damage)
    requests_before = order_stats(sandbox)["requests"]
    result = export(project, sandbox.base_url, monkeypatch, capsys, "--full-refresh")
    assert_refused(result, 3, f"the export state schema '{STATE}' is damaged or from another version", problem,
                   f"drop schema {STATE} cascade", "re-sends every row")
    assert order_stats(sandbox)["requests"] == requests_before


def test_missing_state_schema_starts_afresh_and_resends_everything(project, sandbox, monkeypatch, capsys) -> None:
    assert export(project, sandbox.base_url, monkeypatch, capsys).exit_code == 0
    expected = len(project.contract_rows())
    execute(project, f"drop schema {STATE} cascade")
    result = export(project, sandbox.base_url, monkeypatch, capsys)
    assert result.exit_code == 0, result.stderr
    summary = results(project)
    assert summary["rows"]["sent"] == summary["rows"]["considered"] == expected
    assert summary["rows"]["unchanged"] == 0
    assert {r["write_count"] for r in sandbox.rows()} == {2}  # every row went out a second time
    assert project.query(f"select count(*) from {STATE}.delivered") == [(expected,)]
    assert project.query(f"select status from {STATE}.runs") == [("success",)]
