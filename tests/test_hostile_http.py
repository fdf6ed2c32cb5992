"""The real exporter (`mo-export run`) against a hostile HTTP server: nothing unconfirmed is acknowledged.

For every way a server, a proxy or a wrong host can answer, the run ends with the right exit code and a
message that says what came back, the state records no acknowledgement it did not get, and a re-run
against the real sandbox delivers every row without ``--retry-rejected``.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest

from mo_export_dev.sandbox import SandboxConfig, running_sandbox
from tests.dbt_support import PROJECT_DIR
from tests.export_support import CliResult, Project, build_sample_project, run_cli, sandbox_rows
from tests.hostile_server import REDIRECT_TARGET, hostile_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120, func_only=True)]  # the dbt build is not counted

#: a token with a '/' and a '+', so JSON-escaped and URL-encoded echoes differ from the raw one
TOKEN = "pat/hostile-E2E+7c1d-5b"
STATE = "mo_export_state"
FAST = ["--max-attempts", "2", "--retry-budget", "20", "--concurrency", "1", "--max-rps", "1000"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A small sample (one request's worth of rows), built once per module by the real `dbt build`."""
    return build_sample_project(tmp_path_factory.mktemp("hostile_built"), orders=120, seed=19)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    folder = tmp_path_factory.mktemp("hostile_sandbox")
    with running_sandbox(SandboxConfig(token=TOKEN, store_path=folder / "s.sqlite", rate_limit_rps=0)) as handle:
        yield handle


@pytest.fixture
def project(built: Project, tmp_path: Path) -> Project:
    return built.copy_to(tmp_path / "project")


def export(project: Project, base_url: str, monkeypatch, capsys, *args: str) -> CliResult:
    return run_cli(["run", *FAST, *args], project.env(base_url, TOKEN), monkeypatch, capsys)


def count(project: Project, table: str) -> int:
    return project.query(f"select count(*) from {STATE}.{table}")[0][0]


def assert_rerun_against_the_sandbox_delivers_every_row(project: Project, sandbox, monkeypatch, capsys) -> None:
    rerun = export(project, sandbox.base_url, monkeypatch, capsys)
    assert rerun.exit_code == 0, rerun.stderr
    summary = orjson.loads((project.target_path / "export_results.json").read_bytes())
    expected = project.contract_rows()
    assert summary["rows"]["sent"] == summary["rows"]["acknowledged"] == len(expected)
    stored = sandbox_rows(sandbox)
    assert all(stored[key] == row for key, row in expected.items())


UNCONFIRMED = {
    # mode: fragments the message (stderr) must hold
    "html_200": ["HTTP 200 (text/html", "Welcome to nginx", "not the API's acknowledgement"],
    "invalid_json": ["HTTP 200 (application/json", "a body that is not JSON"],
    "empty_200": ["HTTP 200 (no content type, empty body)"],
    "202_no_body": ["HTTP 202 (no content type, empty body)"],
    "204_no_body": ["HTTP 204 (no content type, empty body)"],
    "json_list": ["a JSON array, not an object"],
    "accepted_short": ["'accepted' is"],
    "index_out_of_range": ["'failed'[0] has no integer index within the"],
    "index_minus_one": ["'failed'[0] has no integer index"],
    "index_float": ["'failed'[0] has no integer index"],
    "index_string": ["'failed'[0] has no integer index"],
    "index_true": ["'failed'[0] has no integer index"],
    "failed_dict": ["'failed' is a JSON object, not an array"],
    "failed_string": ["'failed' is a JSON string, not an array"],
    "failed_number": ["'failed' is a JSON number, not an array"],
    "failed_true": ["'failed' is a JSON boolean, not an array"],
    "index_twice": ["'failed' names row 1 twice"],
    "bogus_gzip_200": ["cannot be decoded"],
    "bogus_gzip_503": ["cannot be decoded"],
    "huge_body": ["HTTP 200 with a body over 16 MB"],
    "gzip_bomb_stacked": ["HTTP 200 with a body over 16 MB once decoded"],
    "failed_too_long": ["'failed' lists", "entries for", "rows sent"],
}


@pytest.mark.parametrize("mode", UNCONFIRMED, ids=UNCONFIRMED)
def test_an_unconfirmed_answer_is_retried_then_leaves_the_rows_pending(
    mode: str, project, sandbox, monkeypatch, capsys
) -> None:
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with hostile_server(mode) as server:
        result = export(project, server.base_url, monkeypatch, capsys)
        requests = server.requests
    assert result.exit_code == 2, result.stderr
    assert "giving up on a batch after 2 failed attempts" in result.stderr
    for fragment in [*UNCONFIRMED[mode], "stay pending"]:
        assert fragment in result.stderr, result.stderr
    assert sum(requests.values()) == 2  # retried like a 5xx, not bisected
    assert count(project, "deliveries") == 0 and count(project, "rejections") == 0
    if mode in ("huge_body", "gzip_bomb_stacked"):  # streamed up to the cap, never read whole (KiB)
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200 * 1024
    assert_rerun_against_the_sandbox_delivers_every_row(project, sandbox, monkeypatch, capsys)


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_redirect_stops_the_run_with_exit_3_naming_the_location(
    status: int, project, sandbox, monkeypatch, capsys
) -> None:
    with hostile_server(f"redirect_{status}") as server:
        result = export(project, server.base_url, monkeypatch, capsys)
        requests = server.requests
    assert result.exit_code == 3, result.stderr
    assert f"answered {status}, a redirect to {server.base_url}{REDIRECT_TARGET}" in result.stderr
    assert "PEAK_BASE_URL" in result.stderr
    assert REDIRECT_TARGET not in requests and sum(requests.values()) == 1  # not followed, not bisected
    assert count(project, "deliveries") == 0 and count(project, "rejections") == 0
    assert_rerun_against_the_sandbox_delivers_every_row(project, sandbox, monkeypatch, capsys)


def test_a_400_that_is_not_the_apis_error_rejects_no_row_and_the_fixed_url_gets_every_row(
    project, tmp_path, monkeypatch, capsys
) -> None:
    """A proxy answering 400 with its own page to every request says nothing about the rows: bisected to
    one row, that row is not recorded as rejected; the run stops (exit 3) and the same URL, once it
    reaches the API, gets every row without --retry-rejected."""
    with hostile_server("html_400") as server:
        result = export(project, server.base_url, monkeypatch, capsys)
        requests = sum(server.requests.values())
    assert result.exit_code == 3, result.stderr
    assert "HTTP 400 (text/html" in result.stderr and "plain HTTP request" in result.stderr
    assert "PEAK_BASE_URL" in result.stderr
    assert requests <= 10  # halved down to one row, then stopped
    assert count(project, "deliveries") == 0 and count(project, "rejections") == 0
    port = int(server.base_url.rsplit(":", 1)[1])
    config = SandboxConfig(token=TOKEN, port=port, store_path=tmp_path / "same_url.sqlite", rate_limit_rps=0)
    with running_sandbox(config) as same_url:
        assert same_url.base_url == server.base_url
        assert_rerun_against_the_sandbox_delivers_every_row(project, same_url, monkeypatch, capsys)


@pytest.mark.parametrize(
    ("mode", "fragment"),
    [("retry_after_86400", "the API asked to wait 86400 s"), ("retry_after_date", "the API asked to wait 604")],
)
def test_a_retry_after_beyond_the_budget_gives_up_at_once(
    mode: str, fragment: str, project, sandbox, monkeypatch, capsys
) -> None:
    with hostile_server(mode) as server:
        began = time.monotonic()
        result = export(project, server.base_url, monkeypatch, capsys, "--retry-budget", "5")
        elapsed = time.monotonic() - began
        requests = server.requests
    assert result.exit_code == 2, result.stderr
    assert "retry budget of 5 s" in result.stderr and fragment in result.stderr
    assert elapsed < 5 and sum(requests.values()) == 1
    assert count(project, "deliveries") == 0
    assert_rerun_against_the_sandbox_delivers_every_row(project, sandbox, monkeypatch, capsys)


@pytest.mark.parametrize("mode", ["retry_after_nan", "retry_after_negative"])
def test_an_unusable_retry_after_backs_off_rather_than_hammering(
    mode: str, project, sandbox, monkeypatch, capsys
) -> None:
    with hostile_server(mode) as server:
        began = time.monotonic()
        result = export(project, server.base_url, monkeypatch, capsys, "--retry-budget", "2.5", "--max-attempts", "3")
        elapsed = time.monotonic() - began
        requests = sum(server.requests.values())
    assert result.exit_code == 2, result.stderr
    assert "stay pending" in result.stderr
    assert 2 <= requests <= 4 and elapsed < 10  # a few backed-off attempts, not hundreds
    assert count(project, "deliveries") == 0
    assert_rerun_against_the_sandbox_delivers_every_row(project, sandbox, monkeypatch, capsys)


@pytest.mark.parametrize("mode", ["trickle_body", "trickle_headers", "endless_trickle"])
def test_timeout_bounds_the_whole_request_however_slowly_the_server_answers(
    mode: str, project, sandbox, monkeypatch, capsys
) -> None:
    with hostile_server(mode) as server:
        began = time.monotonic()
        result = export(project, server.base_url, monkeypatch, capsys, "--timeout", "1.5")
        elapsed = time.monotonic() - began
        requests = sum(server.requests.values())
    assert result.exit_code == 2, result.stderr
    assert "did not complete within --timeout (1.5 s)" in result.stderr
    assert requests == 2 and elapsed < 2 * 1.5 + 4  # two abandoned attempts and one backoff
    assert count(project, "deliveries") == 0
    assert_rerun_against_the_sandbox_delivers_every_row(project, sandbox, monkeypatch, capsys)


def _escaped_unicode(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" if c in "-aeiou" else c for c in text)


@pytest.mark.parametrize("mode", ["echo_raw", "echo_slash_escaped", "echo_unicode_escaped"])
def test_a_token_echoed_in_any_json_form_is_masked_in_the_rejections(mode: str, project, monkeypatch, capsys) -> None:
    with hostile_server(mode) as server:
        result = export(project, server.base_url, monkeypatch, capsys)
    assert result.exit_code == 1, result.stderr  # two rows rejected, the rest acknowledged
    rejections = project.query(f"select message, column_name from {STATE}.rejections order by order_number")
    assert rejections == [("bad row for ********", "********")] * 2
    texts = {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "results": (project.target_path / "export_results.json").read_text(),
        "state": str([project.query(f"select * from {STATE}.{t}") for t in ("runs", "rejections", "deliveries")]),
    }
    forms = {TOKEN, TOKEN.replace("/", "\\/"), _escaped_unicode(TOKEN), quote(TOKEN, safe="")}
    for where, text in texts.items():
        for form in forms:
            assert form not in text, f"{form!r} in {where}"


def test_sigterm_ends_a_run_stuck_on_an_endless_trickle_within_the_timeout(project) -> None:
    timeout = 3.0
    with hostile_server("endless_trickle") as server:
        env = {**os.environ, **project.env(server.base_url, TOKEN)}
        command = [sys.executable, "-m", "exporter", "run", "--timeout", str(timeout), "--max-attempts", "10",
                   "--retry-budget", "600", "--project-dir", str(PROJECT_DIR)]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not server.requests and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.05)
            assert process.poll() is None and server.requests, "the export never reached the server"
            time.sleep(0.5)  # inside the trickling response now
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=timeout + 10)
            ended = time.monotonic() - signalled
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(5)
    assert process.returncode == 2, stderr.decode()
    assert ended < timeout + 3, f"took {ended:.1f} s after SIGTERM"
    assert b"stopped by a signal" in stderr
    assert count(project, "deliveries") == 0


def results(project: Project) -> dict:
    return orjson.loads((project.target_path / "export_results.json").read_bytes())


@pytest.mark.parametrize("mode", ["empty_object", "error_unauthorized", "detail_not_found", "status_queued",
                                  "null_counts"])
def test_a_200_object_that_is_not_the_success_object_acknowledges_nothing_and_the_fixed_api_gets_every_row(
    mode: str, project, monkeypatch, capsys
) -> None:
    """Today each of these bodies acknowledged every row with exit 0, and a re-run sent nothing."""
    with hostile_server(mode) as server:
        failed = export(project, server.base_url, monkeypatch, capsys)
        first = results(project)
        server.set_mode("ok")  # the API is fixed, at the same URL
        rerun = export(project, server.base_url, monkeypatch, capsys)
        second = results(project)
    every_row = len(project.contract_rows())
    assert failed.exit_code == 2, failed.stderr
    assert first["rows"]["acknowledged"] == 0 and first["rows"]["to_send"] == every_row
    assert rerun.exit_code == 0, rerun.stderr
    assert second["rows"]["to_send"] == second["rows"]["acknowledged"] == every_row


def test_a_caching_proxy_replaying_the_first_answer_acknowledges_only_the_first_batch(
    project, monkeypatch, capsys
) -> None:
    """Today a proxy that replays the first success body (same requestId, same counts) had every batch
    recorded as acknowledged, exit 0. Only the batch the answer was for is; the rest stays pending and the
    API, once reached, gets exactly the rest."""
    with hostile_server("replay_first") as server:
        proxied = export(project, server.base_url, monkeypatch, capsys, "--batch-size", "30")
        first = results(project)
        server.set_mode("ok")
        rerun = export(project, server.base_url, monkeypatch, capsys, "--batch-size", "30")
        second = results(project)
    assert proxied.exit_code == 2, proxied.stderr
    assert "replayed answer: requestId" in proxied.stderr and "stay pending" in proxied.stderr
    every_row = len(project.contract_rows())
    assert first["rows"]["acknowledged"] == 30 and first["rows"]["to_send"] == every_row
    assert rerun.exit_code == 0, rerun.stderr
    assert second["rows"]["to_send"] == second["rows"]["acknowledged"] == every_row - 30
