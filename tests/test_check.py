"""`mo-export check` end to end: a real dbt-built DuckDB file, the real CLI, real HTTP to the sandbox."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from mo_export_dev.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from tests.dbt_support import run_dbt_subprocess
from tests.export_support import TOKEN, CliResult, Project, build_sample_project, run_cli
from tests.test_hostile_config import https_sandbox

pytestmark = pytest.mark.slow

MODEL = "main.peak_manufacturing_orders"
CHECKS = ["settings", "duckdb file", "dbt build", "model table", "destination", "token", "object", "sample row",
          "schema"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Sample data for 400 orders, built once per module by the real `dbt build`."""
    return build_sample_project(tmp_path_factory.mktemp("built"), orders=400, seed=23)


@pytest.fixture
def project(built: Project, tmp_path: Path) -> Project:
    return built.copy_to(tmp_path / "project")


@contextmanager
def sandbox_at(tmp_path: Path, **config: Any) -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(token=TOKEN, store_path=tmp_path / "sandbox.sqlite", rate_limit_rps=0,
                                       **config)) as handle:
        yield handle


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with sandbox_at(tmp_path) as handle:
        yield handle


def check(project: Project, base_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
          *args: str, token: str = TOKEN) -> tuple[CliResult, dict[str, dict[str, Any]]]:
    """Run `mo-export check --json`; return the result and the checks by name."""
    result = run_cli(["check", "--json", *args], project.env(base_url, token), monkeypatch, capsys)
    report = orjson.loads(result.stdout)
    assert report["exit_code"] == result.exit_code
    assert [c["name"] for c in report["checks"]] == CHECKS
    return result, {c["name"]: c for c in report["checks"]}


def statuses(checks: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: c["status"] for name, c in checks.items()}


def test_every_check_passes_against_the_sandbox_and_nothing_is_written(project, sandbox, monkeypatch,
                                                                       capsys) -> None:
    result, checks = check(project, sandbox.base_url, monkeypatch, capsys)
    assert result.exit_code == 0, result.stdout
    assert set(statuses(checks).values()) == {"ok"}
    assert "matches the contract" in checks["model table"]["detail"]
    assert "13 columns" in checks["schema"]["detail"]
    # one dryRun POST and the two schema reads; the store stays empty and the DuckDB file gets no state
    stats = sandbox.stats()
    assert stats["requests_by_status"] == {"200": 1}
    assert stats["rows_accepted"] == 1
    assert stats["schema_reads"] == {"200": 2}
    assert sandbox.rows() == [] and stats["rows_stored"] == 0
    assert project.query("select count(*) from information_schema.schemata where schema_name = 'mo_export_state'"
                         ) == [(0,)]


def test_text_output_has_one_line_per_check_and_a_summary(project, sandbox, monkeypatch, capsys) -> None:
    result = run_cli(["check"], project.env(sandbox.base_url), monkeypatch, capsys)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["ok"] * len(CHECKS)
    assert lines[-1] == f"{len(CHECKS)} ok, 0 failed, 0 skipped: exit code 0"


def test_wrong_token_fails_the_token_check_with_exit_3(project, sandbox, monkeypatch, capsys) -> None:
    wrong = "pat-wrong-SECRET-0000"
    result, checks = check(project, sandbox.base_url, monkeypatch, capsys, token=wrong)
    assert result.exit_code == 3
    assert statuses(checks)["destination"] == "ok"
    assert checks["token"]["status"] == "fail" and "answered 401 (invalid API token)" in checks["token"]["detail"]
    assert "PEAK_API_KEY" in checks["token"]["action"]
    assert [statuses(checks)[n] for n in ("object", "sample row", "schema")] == ["skip"] * 3
    assert wrong not in result.stdout + result.stderr


def test_unknown_object_fails_the_object_check_with_exit_3(project, sandbox, monkeypatch, capsys) -> None:
    result, checks = check(project, sandbox.base_url, monkeypatch, capsys, "--object-name", "INV_NOPE")
    assert result.exit_code == 3
    assert statuses(checks)["token"] == "ok"
    assert checks["object"]["status"] == "fail"
    assert "answered 404" in checks["object"]["detail"] and "unknown object 'INV_NOPE'" in checks["object"]["detail"]
    assert statuses(checks)["schema"] == "skip"


def test_failed_data_test_in_the_last_build_fails_the_build_check(project, sandbox, monkeypatch, capsys) -> None:
    project.query(f"update {MODEL} set status = 'lost' where order_number in "
                  f"(select order_number from {MODEL} order by order_number limit 2)")
    tested = run_dbt_subprocess(["test", "--select", "peak_manufacturing_orders"],
                                duckdb_path=project.duckdb_path, target_path=project.target_path)
    assert tested.returncode == 1, tested.stdout[-2000:]
    result, checks = check(project, sandbox.base_url, monkeypatch, capsys)
    assert result.exit_code == 3
    assert checks["dbt build"]["status"] == "fail"
    assert "accepted_values" in checks["dbt build"]["detail"]
    assert statuses(checks)["model table"] == "skip"
    # the destination is still checked as far as it can be without a model row
    assert statuses(checks)["destination"] == "ok"
    assert [statuses(checks)[n] for n in ("token", "object", "sample row")] == ["skip"] * 3
    assert sandbox.stats()["requests"] == 0


def test_a_model_row_the_api_refuses_fails_the_sample_row_check_with_exit_1(project, tmp_path, monkeypatch,
                                                                            capsys) -> None:
    # the exporter's value checks stop every value the contract rules out before a request is made, so the
    # refusal comes from a rule of the API's own (the sandbox refuses the model's order numbers)
    numbers = frozenset(str(n) for (n,) in project.query(f"select order_number from {MODEL}"))
    with sandbox_at(tmp_path, refused_order_numbers=numbers) as sandbox:
        result, checks = check(project, sandbox.base_url, monkeypatch, capsys)
        assert result.exit_code == 1
        assert checks["sample row"]["status"] == "fail"
        assert "DI_E_00012 (order_number)" in checks["sample row"]["detail"]
        assert statuses(checks)["object"] == statuses(checks)["schema"] == "ok"
        assert sandbox.rows() == []


def test_schema_mismatch_fails_the_schema_check(project, tmp_path, monkeypatch, capsys) -> None:
    with sandbox_at(tmp_path, schema_types=(("ordered_units", "string"),)) as drifted:
        result, checks = check(project, drifted.base_url, monkeypatch, capsys)
    assert result.exit_code == 3
    assert checks["schema"]["status"] == "fail"
    assert "ordered_units is string there, the contract sends integer" in checks["schema"]["detail"]
    assert statuses(checks)["sample row"] == "ok"


def test_absent_schema_endpoint_is_a_skip_not_a_failure(project, tmp_path, monkeypatch, capsys) -> None:
    with sandbox_at(tmp_path, schema_endpoint=False) as plain:
        result, checks = check(project, plain.base_url, monkeypatch, capsys)
        assert plain.stats()["schema_reads"] == {}
    assert result.exit_code == 0
    assert checks["schema"]["status"] == "skip"
    assert "offers no schema endpoint" in checks["schema"]["detail"] and "HTTP 404" in checks["schema"]["detail"]
    assert {s for n, s in statuses(checks).items() if n != "schema"} == {"ok"}


def test_unreachable_destination_exits_2(project, monkeypatch, capsys) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result, checks = check(project, f"http://127.0.0.1:{port}", monkeypatch, capsys, "--timeout", "2")
    assert result.exit_code == 2
    assert checks["destination"]["status"] == "fail" and "ConnectError" in checks["destination"]["detail"]
    assert [statuses(checks)[n] for n in CHECKS[5:]] == ["skip"] * 4
    assert [statuses(checks)[n] for n in CHECKS[:4]] == ["ok"] * 4


def test_invalid_settings_fail_first_and_nothing_is_contacted(project, sandbox, monkeypatch, capsys) -> None:
    result, checks = check(project, sandbox.base_url, monkeypatch, capsys, "--batch-size", "2001")
    assert result.exit_code == 3
    assert checks["settings"]["status"] == "fail" and "at most 2000 rows" in checks["settings"]["detail"]
    assert {statuses(checks)[n] for n in CHECKS[1:]} == {"skip"}
    assert sandbox.stats()["requests"] == 0 and sandbox.stats()["schema_reads"] == {}


def test_missing_duckdb_file_fails_its_check(project, sandbox, monkeypatch, capsys, tmp_path) -> None:
    result, checks = check(project, sandbox.base_url, monkeypatch, capsys, "--duckdb-path",
                           str(tmp_path / "nope.duckdb"))
    assert result.exit_code == 3
    assert checks["duckdb file"]["status"] == "fail" and "does not exist" in checks["duckdb file"]["detail"]
    assert not (tmp_path / "nope.duckdb").exists()
    assert statuses(checks)["destination"] == "ok"
    assert [statuses(checks)[n] for n in ("token", "object", "sample row")] == ["skip"] * 3
    assert statuses(checks)["schema"] == "ok"


def test_without_a_model_row_the_schema_read_still_tests_the_token(project, sandbox, monkeypatch, capsys,
                                                                  tmp_path) -> None:
    result, checks = check(project, sandbox.base_url, monkeypatch, capsys, "--duckdb-path",
                           str(tmp_path / "nope.duckdb"), token="pat-wrong-SECRET-0000")
    assert result.exit_code == 3
    assert checks["token"]["status"] == "fail" and "HTTP 401" in checks["token"]["detail"]
    assert [statuses(checks)[n] for n in ("object", "sample row", "schema")] == ["skip"] * 3
    assert sandbox.stats()["schema_reads"] == {"401": 1}


Answer = tuple[int, bytes, dict[str, str]]


@contextmanager
def answering(status: int, body: bytes, headers: dict[str, str], get: Answer | None = None) -> Iterator[str]:
    """A server on 127.0.0.1 that gives every request the same answer (not the ingestion API); GETs get
    ``get`` instead when it is given."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, answer: Answer) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            code, content, extra = answer
            self.send_response(code)
            for name, value in {**extra, "Content-Length": str(len(content))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(content)

        def do_POST(self) -> None:
            self._answer((status, body, headers))

        def do_GET(self) -> None:
            self._answer(get or (status, body, headers))

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize(
    ("status", "body", "headers", "failing", "exit_code", "fragment"),
    [
        pytest.param(302, b"", {"Location": "https://login.example.com/"}, "destination", 3,
                     "a redirect to https://login.example.com/", id="redirect"),
        pytest.param(200, b"<html>portal</html>", {"Content-Type": "text/html"}, "destination", 2,
                     "a body that is not JSON, not the API's acknowledgement", id="200-not-an-ack"),
        pytest.param(503, b'{"detail": "down"}', {}, "destination", 2, "HTTP 503", id="503"),
        pytest.param(200, b'{"failed": [], "accepted": true}', {}, "destination", 2,
                     "'accepted' is True for 1 rows sent", id="200-accepted-not-a-count"),
        pytest.param(200, b'{}', {"Content-Type": "application/json"}, "destination", 2,
                     "lacks 'requestId', 'accepted', 'failed'", id="200-empty-object"),
        pytest.param(200, b'{"requestId": "r-1", "accepted": 1}', {"Content-Type": "application/json"},
                     "destination", 2, "lacks 'failed'", id="200-lacking-failed"),
        pytest.param(200, b'{"error": "Unauthorized", "message": "invalid token"}', {}, "destination", 2,
                     "a body naming an error ('error')", id="200-error-object"),
        pytest.param(413, b"<html><h1>413 Request Entity Too Large</h1></html>", {"Content-Type": "text/html"},
                     "destination", 3, "not the ingestion API's error object", id="proxy-413-page-exits-3-as-run"),
        pytest.param(409, b'{"detail": "conflict"}', {}, "object", 3, "answered 409", id="409"),
    ],
)
def test_a_destination_that_is_not_the_api_fails_with_the_code_run_would_use(
    project, monkeypatch, capsys, status, body, headers, failing, exit_code, fragment
) -> None:
    with answering(status, body, headers) as base_url:
        result, checks = check(project, base_url, monkeypatch, capsys)
    assert result.exit_code == exit_code
    assert checks[failing]["status"] == "fail" and fragment in checks[failing]["detail"]
    assert checks["schema"]["status"] == "skip"


def test_a_schema_endpoint_that_redirects_fails_naming_the_location(project, monkeypatch, capsys) -> None:
    ack = b'{"requestId": "r-1", "accepted": 1, "failed": []}'
    moved = (302, b"", {"Location": "https://sso.example.com/login"})
    with answering(200, ack, {"Content-Type": "application/json"}, get=moved) as base_url:
        result, checks = check(project, base_url, monkeypatch, capsys)
    assert result.exit_code == 3
    assert {statuses(checks)[n] for n in CHECKS[:-1]} == {"ok"}
    assert checks["schema"]["status"] == "fail"
    assert "answered 302, a redirect to https://sso.example.com/login" in checks["schema"]["detail"]


def test_untrusted_tls_certificate_fails_the_destination_and_ca_bundle_fixes_it(project, tmp_path, monkeypatch,
                                                                               capsys) -> None:
    with https_sandbox(tmp_path / "tls") as server:
        untrusted, checks = check(project, server.base_url, monkeypatch, capsys)
        assert untrusted.exit_code == 3
        assert checks["destination"]["status"] == "fail"
        assert "TLS certificate of 127.0.0.1 is not trusted" in checks["destination"]["detail"]

        trusted, checks = check(project, server.base_url, monkeypatch, capsys, "--ca-bundle", str(server.cert_path))
        assert trusted.exit_code == 0, trusted.stdout
        assert set(statuses(checks).values()) == {"ok"}
        assert server.rows_stored() == 0
