"""The export end to end: a real `dbt build` on generated data, the real CLI, real HTTP to the sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from exporter.deliver import ACK_GROUP_MAX_BATCHES, ACK_MAX_WAITING_BATCHES
from exporter.settings import ExportSettings
from mo_export_dev.sandbox import SandboxConfig, running_sandbox
from tests.dbt_support import PROJECT_DIR, run_dbt_subprocess
from tests.export_support import TOKEN, Project, build_sample_project, run_cli, sandbox_rows

pytestmark = pytest.mark.slow

ORDERS = 3000


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Sample data for 3,000 orders, built once per module by the real `dbt build`."""
    return build_sample_project(tmp_path_factory.mktemp("built"), orders=ORDERS, seed=11)


@pytest.fixture
def project(built: Project, tmp_path: Path) -> Project:
    return built.copy_to(tmp_path / "project")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator:
    with running_sandbox(SandboxConfig(token=TOKEN, store_path=tmp_path / "sandbox.sqlite", rate_limit_rps=0)) as h:
        yield h


def export(project: Project, sandbox, monkeypatch, capsys, *args: str, token: str = TOKEN, json_logs: bool = False,
           base_url: str | None = None):
    prefix = ["--log-format", "json"] if json_logs else []
    return run_cli([*prefix, "run", *args], project.env(base_url or sandbox.base_url, token), monkeypatch, capsys)


def test_full_export_matches_the_contract_model_row_for_row(project, sandbox, monkeypatch, capsys) -> None:
    result = export(project, sandbox, monkeypatch, capsys)
    assert result.exit_code == 0, result.stderr
    expected = project.contract_rows()
    assert len(expected) > ORDERS * 0.9
    assert sandbox_rows(sandbox) == expected
    summary = orjson.loads((project.target_path / "export_results.json").read_bytes())
    assert summary["rows"]["sent"] == summary["rows"]["acknowledged"] == len(expected)
    assert summary["rows"]["rejected"] == 0 and summary["exit_code"] == 0
    assert summary["http"]["requests"] == -(-len(expected) // 500)
    (delivered,) = project.query("select count(*) from mo_export_state.delivered")[0:1]
    assert delivered[0] == len(expected)
    runs = project.query("select status, exit_code, rows_acknowledged from mo_export_state.runs")
    assert runs == [("success", 0, len(expected))]
    assert f"acknowledged     {len(expected):>12,}" in result.stdout


def test_second_run_sends_nothing(project, sandbox, monkeypatch, capsys) -> None:
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    requests_before = sandbox.stats()["requests"]
    second = export(project, sandbox, monkeypatch, capsys)
    assert second.exit_code == 0
    summary = orjson.loads((project.target_path / "export_results.json").read_bytes())
    assert summary["rows"]["sent"] == 0
    assert summary["rows"]["unchanged"] == summary["rows"]["considered"] > 0
    assert sandbox.stats()["requests"] == requests_before


def test_full_refresh_resends_every_row(project, sandbox, monkeypatch, capsys) -> None:
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    assert export(project, sandbox, monkeypatch, capsys, "--full-refresh").exit_code == 0
    summary = orjson.loads((project.target_path / "export_results.json").read_bytes())
    assert summary["rows"]["sent"] == summary["rows"]["considered"]
    assert {r["write_count"] for r in sandbox.rows()} == {2}


def test_changed_raw_rows_and_rebuild_send_exactly_those(project, sandbox, monkeypatch, capsys, tmp_path) -> None:
    from mo_export_dev.sample_data import simulate_next_extraction

    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    before = project.contract_rows()
    changed_orders = set(simulate_next_extraction(project.duckdb_path, changed_orders=25, seed=5))
    rebuild = run_dbt_subprocess(["build"], duckdb_path=project.duckdb_path, target_path=project.target_path)
    assert rebuild.returncode == 0, rebuild.stdout[-3000:]
    after = project.contract_rows()
    new_or_changed = {k for k, row in after.items() if before.get(k) != row}
    assert {k[2] for k in new_or_changed} == changed_orders

    result = export(project, sandbox, monkeypatch, capsys)
    assert result.exit_code == 0, result.stderr
    summary = orjson.loads((project.target_path / "export_results.json").read_bytes())
    assert summary["rows"]["sent"] == len(new_or_changed)
    stored = sandbox_rows(sandbox)
    assert all(stored[k] == after[k] for k in after)


def test_rows_the_api_rejects_are_recorded_and_the_rest_delivered(project, tmp_path, monkeypatch, capsys) -> None:
    bad = [r[0] for r in project.query(
        "select order_number from main.peak_manufacturing_orders order by order_number limit 3")]
    # the API refuses rows for reasons of its own (a rule the exporter cannot check before sending)
    config = SandboxConfig(token=TOKEN, store_path=tmp_path / "s.sqlite", rate_limit_rps=0,
                           refused_order_numbers=frozenset(bad))
    with running_sandbox(config) as sandbox:
        result = export(project, sandbox, monkeypatch, capsys)
        stored = sandbox_rows(sandbox)
        assert result.exit_code == 1, result.stderr
        assert "DI_E_00012" in result.stdout
        expected = project.contract_rows()
        assert len(stored) == len(expected) - 3
        assert {k[2] for k in expected.keys() - stored.keys()} == set(bad)
        rejections = project.query(
            "select order_number, error_code, column_name, payload from mo_export_state.rejections order by 1")
        assert [(r[0], r[1], r[2]) for r in rejections] == [(b, "DI_E_00012", "order_number") for b in sorted(bad)]
        assert sorted(orjson.loads(r[3])["order_number"] for r in rejections) == sorted(bad)

        again = export(project, sandbox, monkeypatch, capsys)  # rejected and unchanged: not re-sent
        assert again.exit_code == 0
        assert orjson.loads((project.target_path / "export_results.json").read_bytes())["rows"]["sent"] == 0
        retried = export(project, sandbox, monkeypatch, capsys, "--retry-rejected")
        assert retried.exit_code == 1
        assert orjson.loads((project.target_path / "export_results.json").read_bytes())["rows"]["sent"] == 3


def test_a_whole_batch_413_is_bisected_down_to_the_offending_row(project, tmp_path, monkeypatch, capsys) -> None:
    (victim,) = project.query("select order_number from main.peak_manufacturing_orders order by 1 limit 1")[0]
    project.query("update main.peak_manufacturing_orders set source_id = repeat('L', 40000) where order_number = ?",
                  [victim])
    config = SandboxConfig(token=TOKEN, store_path=tmp_path / "s.sqlite", rate_limit_rps=0, max_bytes=30_000)
    with running_sandbox(config) as sandbox:
        result = export(project, sandbox, monkeypatch, capsys, "--batch-size", "50")
        stored = sandbox_rows(sandbox)
        stats = sandbox.stats()
    assert result.exit_code == 1, result.stderr
    expected = project.contract_rows()
    assert {k[2] for k in expected.keys() - stored.keys()} == {victim}
    assert len(stored) == len(expected) - 1
    # every piece holding the row is refused until it stands alone: 50 -> 25 -> 12|13 -> ... -> 1
    assert stats["requests_by_status"]["413"] in (6, 7)
    assert stats["requests"] == stats["requests_by_status"]["413"] + stats["requests_by_status"]["200"]
    assert project.query("select error_code, http_status from mo_export_state.rejections") == [("HTTP_413", 413)]


def test_429_with_retry_after_is_waited_out(project, tmp_path, monkeypatch, capsys) -> None:
    config = SandboxConfig(token=TOKEN, store_path=tmp_path / "s.sqlite", rate_limit_rps=2, rate_limit_burst=1)
    with running_sandbox(config) as sandbox:
        result = export(project, sandbox, monkeypatch, capsys, "--batch-size", "400", "--max-rps", "50")
        stored = sandbox_rows(sandbox)
    assert result.exit_code == 0, result.stderr
    summary = orjson.loads((project.target_path / "export_results.json").read_bytes())
    assert summary["http"]["throttled_waits"] > 0 and summary["http"]["responses"]["429"] > 0
    assert summary["http"]["retries"] == 0  # throttling is not a failure
    assert stored == project.contract_rows()


def test_5xx_and_dropped_connections_are_retried(project, tmp_path, monkeypatch, capsys) -> None:
    config = SandboxConfig(token=TOKEN, store_path=tmp_path / "s.sqlite", rate_limit_rps=0,
                           error_rate=0.3, drop_rate=0.2, fail_after_store_rate=0.1, seed=3)
    with running_sandbox(config) as sandbox:
        result = export(project, sandbox, monkeypatch, capsys, "--batch-size", "100", "--max-attempts", "30")
        stored = sandbox_rows(sandbox)
        faults = sandbox.stats()["faults"]
    assert result.exit_code == 0, result.stderr
    assert stored == project.contract_rows()
    summary = orjson.loads((project.target_path / "export_results.json").read_bytes())
    assert summary["http"]["retries"] >= sum(faults.values()) > 0


def test_401_stops_with_exit_code_3_and_the_token_appears_nowhere(project, sandbox, monkeypatch, capsys) -> None:
    wrong = "pat-WRONG-token-0042"
    result = export(project, sandbox, monkeypatch, capsys, token=wrong, json_logs=True)
    assert result.exit_code == 3
    assert "401" in result.stderr and "PEAK_API_KEY" in result.stderr
    # the first object, the Locations, meets the 401 and records it; the orders after it are not started
    results_file = (project.target_path / "export_results.peak_locations.json").read_text()
    state_dump = str(project.query("select * from mo_export_state__peak_locations.runs"))
    for text in (result.stdout, result.stderr, results_file, state_dump):
        assert wrong not in text and TOKEN not in text
    assert sandbox.stats()["rows_stored"] == 0
    assert project.query("select status, exit_code from mo_export_state__peak_locations.runs") == [
        ("configuration_error", 3)]
    assert "peak_manufacturing_orders not started" in result.stderr
    # the orders' results file says so, rather than being missing or a previous run's
    assert orjson.loads((project.target_path / "export_results.json").read_bytes()) == {
        "status": "not_started", "exit_code": 3, "model": "peak_manufacturing_orders",
        "error": "not started: peak_locations, which it references or which runs before it, ended with exit code 3; "
                 "re-run to send it"}


def test_api_dry_run_validates_remotely_and_changes_nothing(project, sandbox, monkeypatch, capsys) -> None:
    result = export(project, sandbox, monkeypatch, capsys, "--api-dry-run")
    assert result.exit_code == 0, result.stderr
    assert sandbox.stats()["rows_stored"] == 0 and sandbox.stats()["rows_accepted"] > 0
    assert project.query("select count(*) from mo_export_state.deliveries") == [(0,)]
    real = export(project, sandbox, monkeypatch, capsys)
    assert orjson.loads((project.target_path / "export_results.json").read_bytes())["rows"]["sent"] > 0
    assert real.exit_code == 0


def test_dry_run_writes_the_payloads_and_sends_nothing(project, sandbox, monkeypatch, capsys, tmp_path) -> None:
    out = tmp_path / "payloads"
    result = export(project, sandbox, monkeypatch, capsys, "--dry-run", "--payload-dir", str(out))
    assert result.exit_code == 0, result.stderr
    bodies = [orjson.loads(p.read_bytes()) for p in sorted(out.glob("batch-*.json"))]
    sent_rows = {(r["product_id"], r["location_id"], r["order_number"], r["updated_at"]): r
                 for b in bodies for r in b["data"]}
    assert sent_rows == project.contract_rows()
    assert all(b["solutionName"] == "INV_OOTB" and b["operationType"] == "UPSERT" for b in bodies)
    assert all(len(b["data"]) <= 500 for b in bodies)
    assert sandbox.stats()["requests"] == 0


def test_dry_run_after_a_run_writes_nothing_and_says_full_refresh_writes_every_payload(
    project, sandbox, monkeypatch, capsys, tmp_path
) -> None:
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    out = tmp_path / "payloads"

    quiet = export(project, sandbox, monkeypatch, capsys, "--dry-run", "--payload-dir", str(out))
    full = export(project, sandbox, monkeypatch, capsys, "--dry-run", "--full-refresh", "--payload-dir", str(out))

    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stdout.startswith("dry run: nothing was sent and the export state was not changed")
    assert "nothing to send or write: add --full-refresh" in quiet.stdout
    assert "still pending" not in quiet.stdout and "requests" not in quiet.stdout
    assert full.exit_code == 0, full.stderr
    rows = len(project.contract_rows())
    assert f"rows a run would send {rows:>12,}" in full.stdout
    assert len(list(out.glob("batch-*.json"))) == -(-rows // 500)
    assert "--full-refresh" not in full.stdout


def test_status_shows_runs_pending_and_rejections(project, sandbox, monkeypatch, capsys) -> None:
    before = run_cli(["status"], project.env(sandbox.base_url), monkeypatch, capsys)
    assert before.exit_code == 0 and "no export has run yet" in before.stdout
    export(project, sandbox, monkeypatch, capsys)
    after = run_cli(["status", "--json"], project.env(sandbox.base_url), monkeypatch, capsys)
    status = orjson.loads(after.stdout)
    assert status["pending"]["to_send"] == 0 and status["runs"][0]["status"] == "success"


def test_sigkill_mid_run_then_rerun_stores_every_row_exactly_once(project, tmp_path) -> None:
    config = SandboxConfig(token=TOKEN, store_path=tmp_path / "s.sqlite", rate_limit_rps=0, latency_ms=60)
    with running_sandbox(config) as sandbox:
        env = {**os.environ, **project.env(sandbox.base_url)}
        command = [sys.executable, "-m", "exporter", "run", "--batch-size", "50", "--concurrency", "2",
                   "--project-dir", str(PROJECT_DIR)]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while sandbox.stats()["rows_stored"] < 600 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert process.poll() is None, "the export finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        stored_at_kill = sandbox.stats()["rows_stored"]
        expected = project.contract_rows()
        assert 0 < stored_at_kill < len(expected)

        rerun = subprocess.run(command, env=env, capture_output=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr.decode()
        stored = sandbox_rows(sandbox)
        writes = {tuple(r["key"]): r["write_count"] for r in sandbox.rows()}
    assert stored == expected  # every row, current content, nothing extra
    # only rows in flight (2 batches) or acknowledged but not yet committed (the group being written and
    # the batches waiting for it) were sent twice
    in_the_window = 2 + ACK_GROUP_MAX_BATCHES + ACK_MAX_WAITING_BATCHES
    assert sum(1 for n in writes.values() if n > 1) <= in_the_window * 50
    runs = project.query("select status from mo_export_state.runs order by started_at")
    assert runs == [("interrupted",), ("success",)]
    assert project.query("select count(*) from mo_export_state.delivered") == [(len(expected),)]


def test_an_unexpected_error_exits_70_without_traceback_and_the_run_is_recorded_failed(
    project, sandbox, monkeypatch, capsys
) -> None:
    import exporter.pipeline

    real_deliver = exporter.pipeline.deliver

    def broken(rows: object, to_send: int, settings: ExportSettings, **kwargs: object) -> object:
        if settings.model_name != "peak_manufacturing_orders":  # the Locations go first, and go through
            return real_deliver(rows, to_send, settings, **kwargs)
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(exporter.pipeline, "deliver", broken)
    result = export(project, sandbox, monkeypatch, capsys)
    assert result.exit_code == 70
    assert "internal error (RuntimeError): simulated bug" in result.stderr
    assert "Traceback" not in result.stderr
    assert project.query("select status, exit_code from mo_export_state.runs") == [("failed", 70)]


def test_a_row_too_large_for_any_request_is_recorded_rejected_and_never_sent(
    project, sandbox, monkeypatch, capsys
) -> None:
    (victim,) = project.query("select order_number from main.peak_manufacturing_orders order by 1 limit 1")[0]
    project.query("update main.peak_manufacturing_orders set source_id = repeat('L', 3000) where order_number = ?",
                  [victim])
    result = export(project, sandbox, monkeypatch, capsys, "--max-bytes", "2000")
    assert result.exit_code == 1, result.stderr
    expected = project.contract_rows()
    stored = sandbox_rows(sandbox)
    assert {k[2] for k in expected.keys() - stored.keys()} == {victim} and len(stored) == len(expected) - 1
    summary = orjson.loads((project.target_path / "export_results.json").read_bytes())
    assert summary["rows"]["refused_before_sending"] == 1
    assert summary["rows"]["rejected_by_code"] == {"ROW_TOO_LARGE": 1}
    assert summary["rows"]["sent"] == len(expected) - 1 and summary["rows"]["pending"] == 0
    assert project.query("select order_number, error_code from mo_export_state.rejections") == [
        (victim, "ROW_TOO_LARGE")]


def test_batch_size_2000_fills_requests_of_2000_rows(project, sandbox, monkeypatch, capsys) -> None:
    result = export(project, sandbox, monkeypatch, capsys, "--batch-size", "2000")
    assert result.exit_code == 0, result.stderr
    expected = project.contract_rows()
    assert len(expected) > 2000
    assert sandbox_rows(sandbox) == expected
    summary = orjson.loads((project.target_path / "export_results.json").read_bytes())
    assert summary["http"]["requests"] == -(-len(expected) // 2000)
    assert summary["rows"]["acknowledged"] == len(expected)


#: the Locations' ingest path: a run sends the Locations (the orders' parents) first
LOCATIONS_PATH = "/api/v2/ingest/object/INV_LOCATIONS_OOTB"


class _RefuseEveryRequest(BaseHTTPRequestHandler):
    """Answers every POST of the orders with the API's error object for a request it refuses as a whole; the
    Locations, sent first, are taken as the API takes them (so the orders are not held for their locations)."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?", 1)[0] == LOCATIONS_PATH:
            rows = len(orjson.loads(body)["data"])
            self.server.location_posts += 1  # type: ignore[attr-defined]
            answer = orjson.dumps({"requestId": f"locations-{self.server.location_posts}",  # type: ignore[attr-defined]
                                   "accepted": rows, "failed": []})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        self.server.posts += 1  # type: ignore[attr-defined]
        # a trace id per answer, as gateways add: the refusal is the same whatever its number
        body = b'{"detail": "solutionName INV_OOTB is not known to this tenant (trace %d)"}' % self.server.posts
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _refusing_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefuseEveryRequest)
    server.posts = 0  # type: ignore[attr-defined]
    server.location_posts = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_refused_one_row_request_rejects_no_row(project, sandbox, monkeypatch, capsys) -> None:
    """The last batch of a run often holds one row: refused alone while nothing else passed, it is the
    request that is refused, and the row stays pending."""
    to_send = len(project.contract_rows())
    batch_size = next(size for size in range(2000, 1, -1) if to_send % size == 1)  # the last batch: one row
    with _refusing_server() as server:
        refused = export(project, sandbox, monkeypatch, capsys, "--concurrency", "2", "--batch-size",
                         str(batch_size), base_url=f"http://127.0.0.1:{server.server_address[1]}")
    assert refused.exit_code == 3, refused.stderr
    assert project.query("select count(*) from mo_export_state.rejections") == [(0,)]
    assert project.query("select count(*) from mo_export_state.deliveries") == [(0,)]


def test_a_413_for_every_request_keeps_halving_until_requests_fit(project, tmp_path, monkeypatch, capsys) -> None:
    config = SandboxConfig(token=TOKEN, store_path=tmp_path / "s.sqlite", rate_limit_rps=0, max_bytes=25_000)
    with running_sandbox(config) as sandbox:
        result = export(project, sandbox, monkeypatch, capsys)
        stored = sandbox_rows(sandbox)
    assert result.exit_code == 0, result.stderr
    assert stored == project.contract_rows()


def test_a_400_that_both_halves_repeat_refuses_the_request_not_its_rows(project, sandbox, monkeypatch, capsys) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefuseEveryRequest)
    server.posts = 0  # type: ignore[attr-defined]
    server.location_posts = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        refused = export(project, sandbox, monkeypatch, capsys, "--concurrency", "1", "--max-attempts", "1",
                         base_url=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert refused.exit_code == 3, refused.stderr
    assert "refused the request as a whole" in refused.stderr and "is not known to this tenant" in refused.stderr
    assert server.posts == 3  # the batch and its two halves: no descent to single rows  # type: ignore[attr-defined]
    summary = orjson.loads((project.target_path / "export_results.json").read_bytes())
    assert summary["rows"]["rejected"] == 0 and summary["rows"]["pending"] == summary["rows"]["to_send"] > 0
    assert project.query("select count(*) from mo_export_state.rejections") == [(0,)]
    assert project.query("select count(*) from mo_export_state.deliveries") == [(0,)]

    # against the API that takes them, every row goes: nothing was recorded as rejected
    fixed = export(project, sandbox, monkeypatch, capsys)
    assert fixed.exit_code == 0, fixed.stderr
    assert sandbox_rows(sandbox) == project.contract_rows()


def test_repeated_sigterms_end_with_exit_2_and_every_answered_request_recorded(project, tmp_path) -> None:
    config = SandboxConfig(token=TOKEN, store_path=tmp_path / "s.sqlite", rate_limit_rps=0, latency_ms=300)
    with running_sandbox(config) as sandbox:
        env = {**os.environ, **project.env(sandbox.base_url)}
        command = [sys.executable, "-m", "exporter", "run", "--batch-size", "50", "--concurrency", "2",
                   "--project-dir", str(PROJECT_DIR), "--no-progress"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while sandbox.stats()["rows_stored"] < 200 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        assert process.poll() is None, "the export finished before it could be stopped"
        for _ in range(3):  # any number of signals is a request to stop, never a kill
            process.send_signal(signal.SIGTERM)
            time.sleep(0.2)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 2, stderr.decode()[-2000:]
        stored = set(sandbox_rows(sandbox))
        # the requests in flight at the signal finished: whatever the API stored is recorded as acknowledged
        delivered = set(project.query(
            "select product_id, location_id, order_number, strftime(updated_at, '%Y-%m-%d %H:%M:%S') "
            "from mo_export_state.delivered"))
        assert stored == delivered and 0 < len(stored) < len(project.contract_rows())
        assert project.query("select status, exit_code from mo_export_state.runs") == [("delivery_failed", 2)]

        rerun = subprocess.run(command, env=env, capture_output=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr.decode()
        assert sandbox_rows(sandbox) == project.contract_rows()
        assert all(r["write_count"] == 1 for r in sandbox.rows())  # nothing answered was sent twice
